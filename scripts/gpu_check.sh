#!/usr/bin/env bash
# The GPU check: a few minutes on one H100/H200. Run it on every GPU machine you get, and keep its JSON.
#  (a) generates the tiny SynthAVQA profile, trains MCD (the paper's width, D = 512) for one epoch on CUDA in fp32 and
#      in bf16 (train.precision=bf16: autocast), same seed, and compares the epoch's mean training loss:
#      |bf16 - fp32| / fp32 <= TOL (default 0.05). bf16 keeps 8 significant bits, so the two runs drift apart a
#      little over an epoch; a broken bf16 path (a dtype clash, NaN, no learning) misses by far more;
#  (b) runs `mcd bench` on CUDA at the default study's shape and the paper's (D = 512, T = 60, the paper's batch),
#      fp32 and bf16;
#  (c) writes ${OUT:-gpu_check_out}/gpu_check.json (environment, losses, bench rows) and prints a short table.
# Exits 1 with one line when CUDA is absent, and 1 when the losses differ by more than TOL.
# Usage: bash scripts/gpu_check.sh        environment: OUT, TOL, PYTHON (default .venv/bin/python, else python3)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=$(command -v python3)
OUT=${OUT:-gpu_check_out}
TOL=${TOL:-0.05}
BATCH=16   # more optimizer steps in the one epoch of the tiny profile than the recipe's 64

cuda=$("$PY" -c "import torch; print(torch.cuda.is_available())" 2>/dev/null || echo "torch does not import")
if [ "$cuda" != "True" ]; then
  echo "gpu_check: CUDA is not available here (torch.cuda.is_available(): $cuda); run it on a GPU machine" >&2
  exit 1
fi

start=$(date +%s)
mkdir -p "$OUT"
tiny_seconds=$("$PY" -c "from mcd.data.synth import PROFILES; print(PROFILES['tiny'].seconds)")
echo "(a) SynthAVQA tiny, MCD one epoch on CUDA, fp32 and bf16"
"$PY" -m mcd data synth --root "$OUT/data" --profile tiny > "$OUT/synth.log"
for precision in fp32 bf16; do
  "$PY" -m mcd train --restart --out "$OUT/runs/$precision" name="gpu_check-$precision" \
    data.root="$OUT/data" data.synth_profile=tiny data.seconds="$tiny_seconds" \
    train.epochs=1 train.batch_size="$BATCH" train.device=cuda train.precision="$precision" train.progress=false \
    > "$OUT/train_$precision.log"
done
echo "(b) mcd bench on CUDA"
for precision in fp32 bf16; do
  "$PY" -m mcd bench --device cuda --precision "$precision" --steps 10 --json > "$OUT/bench_$precision.json"
done

echo "(c) summary"
"$PY" - "$OUT" "$TOL" "$BATCH" "$start" <<'EOF'
import json
import math
import sys
import time
from pathlib import Path

import pandas as pd

from mcd.io import atomic_write_json
from mcd.provenance import environment_info

out, tol, batch, start = Path(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
runs = {p: out / "runs" / p for p in ("fp32", "bf16")}
loss = {p: float(pd.read_csv(run / "metrics.csv")["train_loss"].iloc[-1]) for p, run in runs.items()}
env = {p: json.loads((run / "env.json").read_text()) for p, run in runs.items()}
trained_in = {p: e["precision"] for p, e in env.items()}
rel = abs(loss["bf16"] - loss["fp32"]) / abs(loss["fp32"])
ok = math.isfinite(rel) and rel <= tol and trained_in == {"fp32": "fp32", "bf16": "bf16"}
keep = ["model", "shape", "D", "T", "batch_size", "train_samples_per_s", "infer_samples_per_s",
        "train_fraction_of_matmul", "train_fraction_of_matmul_min", "train_fraction_of_matmul_max",
        "infer_fraction_of_matmul", "matmul_flops_per_s"]
bench = [{"precision": p, **{k: r[k] for k in keep}}
         for p in ("fp32", "bf16") for r in json.loads((out / f"bench_{p}.json").read_text())["rows"]]
summary = {
    "environment": environment_info(seed=env["bf16"]["seed"]),
    "train": {"data": "SynthAVQA tiny", "model": "mcd (defaults)", "epochs": 1, "batch_size": batch,
              "train_loss": loss, "trained_in": trained_in, "relative_difference": rel, "tolerance": tol,
              "ok": ok},
    "bench": bench,
    "wall_s": time.time() - start,
}
atomic_write_json(out / "gpu_check.json", summary)

print(f"gpu_check on {summary['environment']['cuda']} (torch {summary['environment']['torch']}), "
      f"{summary['wall_s']:.0f} s")
print(f"one epoch of MCD on SynthAVQA tiny: train loss fp32 {loss['fp32']:.4f}, bf16 {loss['bf16']:.4f}; "
      f"relative difference {rel:.4f} (tolerance {tol}): {'ok' if ok else 'FAILED'}")
table = pd.DataFrame(bench)
view = pd.DataFrame({
    "precision": table["precision"], "model": table["model"], "shape": table["shape"], "D": table["D"],
    "T": table["T"], "batch": table["batch_size"],
    "train samples/s": table["train_samples_per_s"].map("{:.0f}".format),
    "infer samples/s": table["infer_samples_per_s"].map("{:.0f}".format),
    "train / matmul": table.apply(lambda r: f"{r['train_fraction_of_matmul']:.2f} "
                                            f"[{r['train_fraction_of_matmul_min']:.2f}-"
                                            f"{r['train_fraction_of_matmul_max']:.2f}]", axis=1),
    "matmul TFLOP/s": (table["matmul_flops_per_s"] / 1e12).map("{:.1f}".format)})
print(view.to_string(index=False))
print(f"written: {out / 'gpu_check.json'}")
sys.exit(0 if ok else 1)
EOF
