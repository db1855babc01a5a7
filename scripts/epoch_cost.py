"""Seconds per training epoch of each model of the study, on the study's own data. A measurement command, not a test.

    python scripts/epoch_cost.py                          # this checkout: MCD, PSTP-Net, AVST, MLP, Q-only
    python scripts/epoch_cost.py --against /tmp/old       # also an older checkout (e.g. `git archive` of a commit),
                                                          # alternated with this one: before / after
    python scripts/epoch_cost.py --models mcd pstp --repeats 3

Each measurement trains one epoch with the trainer (``mcd.train.train``) of the model's config in the default study
profile (``mcd.study.model_configs``, seed 1: the config every chapter trains) on one thread, in a fresh process
and a temporary run folder, and reads the epoch's seconds from its ``metrics.csv`` (the training steps and the val
evaluation, what each of a run's epochs costs) and the run's from ``scores.json`` (that epoch plus reading the
data, building the model and the final evaluation of train, val and test). The data are the default profile's
SynthAVQA draw for seed 1 (``--root``; generate it first with
``python -m mcd data synth --profile default --root data/synthavqa2.0-default-s1 --seed 1``).

The machine may be shared: each figure is the minimum over ``--repeats``, the runs of the two checkouts alternate,
and the load average is printed with the table. Ratios: ``after / before`` (the two checkouts, each model) and
``/ MCD`` (each model's epoch over MCD's, this checkout).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
MODELS = ("mcd", "pstp", "avst", "mlp", "qonly")


def measure(model: str, root: str) -> dict:
    """One epoch of ``model`` with the trainer of the checkout this process imports ``mcd`` from."""
    import pandas as pd

    from mcd.study import model_configs
    from mcd.train import train

    cfg = model_configs("default", model, seeds=[1])[0]
    cfg.data.root = root
    cfg.train.epochs, cfg.train.threads, cfg.train.progress, cfg.train.device = 1, 1, False, "cpu"
    with tempfile.TemporaryDirectory() as tmp:
        cfg.out_dir = tmp
        out = train(cfg, out=Path(tmp) / "run")
        epoch = float(pd.read_csv(out / "metrics.csv")["seconds"].iloc[0])
        run = float(json.loads((out / "scores.json").read_text())["seconds"])
    return {"model": model, "epoch_s": epoch, "run_s": run}


def run_worker(checkout: Path, model: str, root: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(checkout), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", model, "--root", root],
                          cwd=checkout, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{checkout}: {model} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    ap.add_argument("--against", type=Path, help="an older checkout to time beside this one (before / after)")
    ap.add_argument("--repeats", type=int, default=2, help="runs per model and checkout; the minimum is reported")
    ap.add_argument("--root", default=str(HERE / "data" / "synthavqa2.0-default-s1"),
                    help="the default profile's SynthAVQA draw (seed 1)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(measure(args.worker, args.root)))
        return
    if not (Path(args.root) / "synthavqa.json").exists():
        raise SystemExit(f"{args.root} holds no SynthAVQA draw; generate it first (see this script's docstring)")
    import pandas as pd

    checkouts = {"after": HERE} | ({"before": args.against.resolve()} if args.against else {})
    best: dict[tuple[str, str], dict] = {}
    loads = []
    for model in args.models:
        for _ in range(args.repeats):
            for label, checkout in checkouts.items():
                loads.append(os.getloadavg()[0])
                r = run_worker(checkout, model, args.root)
                key = (label, model)
                if key not in best or r["epoch_s"] < best[key]["epoch_s"]:
                    best[key] = {**best.get(key, {}), "epoch_s": r["epoch_s"]}
                best[key]["run_s"] = min(r["run_s"], best[key].get("run_s", float("inf")))
    rows = []
    for model in args.models:
        row = {"model": model}
        for label in checkouts:
            row[f"epoch s ({label})"] = best[(label, model)]["epoch_s"]
            row[f"1-epoch run s ({label})"] = best[(label, model)]["run_s"]
        row["epoch / MCD"] = best[("after", model)]["epoch_s"] / best[("after", "mcd")]["epoch_s"] \
            if ("after", "mcd") in best else float("nan")
        if args.against:
            row["epoch after / before"] = row["epoch s (after)"] / row["epoch s (before)"]
            row["run after / before"] = row["1-epoch run s (after)"] / row["1-epoch run s (before)"]
        rows.append(row)
    table = pd.DataFrame(rows).set_index("model")
    print(f"one training epoch (steps + val evaluation) and a 1-epoch run (+ data, final train/val/test "
          f"evaluation), 1 thread, minimum of {args.repeats}; load average while measuring "
          f"{min(loads):.2f}-{max(loads):.2f}")
    print(table.to_string(float_format=lambda x: f"{x:.2f}"))


if __name__ == "__main__":
    main()
