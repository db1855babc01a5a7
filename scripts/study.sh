#!/usr/bin/env bash
# The whole study on the embedded default data (SynthAVQA, generated on first use) and the book.
# Usage: bash scripts/study.sh [--profile tiny|default|paper]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/mcd study "$@"
