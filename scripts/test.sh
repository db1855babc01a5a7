#!/usr/bin/env bash
# The tests: the package's unit tests, then every notebook executed on the tiny profile (pytest --nbval-lax).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export MCD_PROFILE=tiny
# The tiny models are too small to gain from a second thread; one thread each is faster and steadier.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
.venv/bin/python -m pytest tests notebooks --nbval-lax -q -p no:cacheprovider "$@"
