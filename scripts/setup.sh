#!/usr/bin/env bash
# Create .venv (if missing) and install the package with its pinned dependencies. Sourced by study.sh and test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
# torch first, pinned: an unpinned torch would pull the newest CUDA build (several GB).
.venv/bin/python -m pip install -q --disable-pip-version-check "torch==2.13.0"
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[book,test]"
