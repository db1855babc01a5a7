#!/usr/bin/env bash
# The tests: the package's unit tests, then every notebook executed on the tiny profile (pytest --nbval-lax).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export MCD_PROFILE=tiny
.venv/bin/python -m pytest tests notebooks --nbval-lax -q -p no:cacheprovider "$@"
