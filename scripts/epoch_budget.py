"""What a shorter training budget would keep of a study's kept runs. A measurement command, not a test.

    python scripts/epoch_budget.py                              # results/default of this checkout, budgets 9 and 10
    python scripts/epoch_budget.py /tmp/old/results/default --budgets 8 10   # kept results of another commit

Every kept run of a study trains the same permutation of batches each epoch whatever the budget (the order depends
on the seed and the epoch only) and the learning rate schedule steps at the same epochs, so training E epochs of a
run's budget gives exactly its first E epochs. Selection keeps the best-on-val epoch, so with E epochs a run keeps
the best val epoch among its first E. This prints, per model and for all runs, how many runs would keep another
checkpoint, how much best val accuracy they would lose (points), and, for the runs that scored test after every
epoch (Fig. 5's), the mean test accuracy of the checkpoint each budget keeps.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parents[1]


def kept_at(metrics: pd.DataFrame, epochs: int) -> pd.Series:
    """The row of the checkpoint a run of ``epochs`` epochs keeps (the first best val epoch, as the trainer keeps)."""
    first = metrics[metrics["epoch"] <= epochs]
    return first.loc[first["val_acc"].idxmax()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", nargs="?", type=Path, default=HERE / "results" / "default")
    ap.add_argument("--budgets", nargs="+", type=int, default=[9, 10], help="epochs (each below the runs' own)")
    args = ap.parse_args()
    rows = []
    for run in sorted((args.results / "runs").iterdir()):
        metrics = pd.read_csv(run / "metrics.csv")
        if int(metrics["epoch"].max()) <= max(args.budgets):
            continue                      # a run with a budget of its own (the real questions' LSTM: 5 epochs)
        full = kept_at(metrics, int(metrics["epoch"].max()))
        for e in args.budgets:
            kept = kept_at(metrics, e)
            rows.append({"model": run.name.rsplit("-", 1)[0], "budget": e, "of": int(metrics["epoch"].max()),
                         "other checkpoint": kept["epoch"] != full["epoch"],
                         "val lost": full["val_acc"] - kept["val_acc"],
                         "test (curves)": kept["test_acc"], "test full (curves)": full["test_acc"]})
    df = pd.DataFrame(rows)
    both = pd.concat([df, df.assign(model="all")])
    table = both.groupby(["budget", "model"]).agg(
        runs=("val lost", "size"), other_checkpoint=("other checkpoint", "sum"),
        val_lost_mean=("val lost", "mean"), val_lost_max=("val lost", "max"),
        curve_runs=("test (curves)", "count"), test_mean=("test (curves)", "mean"),
        test_full_budget_mean=("test full (curves)", "mean"))
    print(f"kept runs of {args.results} trained {', '.join(map(str, sorted(df['of'].unique())))} epochs; best-on-val checkpoint of the "
          f"first E epochs against that of the whole budget (accuracy points)")
    print(table.round(2).to_string())


if __name__ == "__main__":
    main()
