"""How the kept runs of a study moved between two versions of the code, run by run. A measurement command, not a
test.

    git worktree add /tmp/old <commit> && python scripts/compare_kept.py /tmp/old/results/default \
        --ignore train.cpu_matmul        # new: results/default of this checkout

Each run of NEW is paired with the run of OLD whose config is the same apart from the ``--ignore`` keys (a change
that alters a run's identity, such as the float32 matmul library, gives every run a new folder). Per model and for
all runs this prints: the pairs, how many score the same on test, the mean difference of test accuracy (new - old,
points) with Student's t interval over the pairs (``mcd.stats.t_over_seeds``), the SD of the differences, and, for
scale, the SD over seeds of OLD's test accuracy within one config (what a different seed moves a run by).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from mcd.config import ExperimentConfig, from_dict, load_yaml
from mcd.stats import t_over_seeds

HERE = Path(__file__).resolve().parents[1]
SEED_KEYS = ("train.seed", "data.synth_seed", "data.root")


def _drop(identity: dict, keys) -> dict:
    """``identity`` without the ``section.name`` keys given (a copy)."""
    identity = {section: dict(v) if isinstance(v, dict) else v for section, v in identity.items()}
    for key in keys:
        section, _, name = key.partition(".")
        identity.get(section, {}).pop(name, None)
    return identity


def runs_of(results: Path, ignore) -> pd.DataFrame:
    rows = []
    for run in sorted((results / "runs").iterdir()):
        if not (run / "scores.json").exists():
            continue
        identity = _drop(from_dict(ExperimentConfig, load_yaml(run / "config.yaml")).identity(), ignore)
        scores = json.loads((run / "scores.json").read_text())
        rows.append({"run": run.name, "model": run.name.rsplit("-", 1)[0], "test": scores["test"]["overall"],
                     "key": json.dumps(identity, sort_keys=True, default=str),
                     "config": json.dumps(_drop(identity, SEED_KEYS), sort_keys=True, default=str)})
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("old", type=Path, help="the other version's results/<profile> folder")
    ap.add_argument("new", nargs="?", type=Path, default=HERE / "results" / "default")
    ap.add_argument("--ignore", nargs="*", default=["train.cpu_matmul"], help="config keys that may differ")
    args = ap.parse_args()
    old, new = runs_of(args.old, args.ignore), runs_of(args.new, args.ignore)
    pairs = new.merge(old, on="key", suffixes=("_new", "_old"))
    print(f"{len(pairs)} pairs ({len(new)} runs new, {len(old)} old; differing keys allowed: {args.ignore})")
    if pairs.empty:
        return
    pairs["diff"] = pairs["test_new"] - pairs["test_old"]
    seed_sd = old.groupby("config")["test"].std(ddof=1).rename("seed_sd")
    pairs = pairs.join(seed_sd, on="config_old")
    rows = []
    for model, g in [*pairs.groupby("model_new"), ("all", pairs)]:
        row = {"model": model, "pairs": len(g), "same test": int((g["diff"] == 0).sum()),
               "diff mean": g["diff"].mean(), "diff SD": g["diff"].std(ddof=1),
               "seed SD (old)": g["seed_sd"].mean()}
        if len(g) >= 2:
            t = t_over_seeds(g["diff"].to_numpy())
            row |= {"95% low": t.low, "95% high": t.high}
        rows.append(row)
    print(pd.DataFrame(rows).set_index("model").round(2).to_string())


if __name__ == "__main__":
    main()
