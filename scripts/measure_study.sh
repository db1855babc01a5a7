#!/usr/bin/env bash
# Measure the whole study cold on this machine: no local runs and no generated data (removed first), every run
# retrained (--recompute) and kept, every chapter executed, the book built. Prints the wall time of each phase, the
# runs trained and the cost of one run by model; mcd study also records them in results/<profile>/study_timings.json.
# Usage: bash scripts/measure_study.sh [profile]     (default: default; takes about an hour on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${1:-default}
bash scripts/setup.sh
rm -rf "runs/$profile" data/synthavqa*-"$(.venv/bin/python -c "from mcd.study import STUDY_PROFILES as P; print(P['$profile'].synth)")"-s*
echo "== $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
start=$(date +%s)
.venv/bin/mcd study --profile "$profile" --recompute
end=$(date +%s)
echo "== the whole '$profile' study, cold: $((end - start)) s of wall time ($(( (end - start) / 60 )) min)"
