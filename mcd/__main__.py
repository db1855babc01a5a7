import sys

from mcd.cli import main

sys.exit(main())
