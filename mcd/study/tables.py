"""Tables of the chapters: scores over seeds (mean ± sd), the paper beside ours, tidy frames for the figures, and the
per-epoch curves of Fig. 5. Every function reads finished runs (``mcd.runs.Run``); none trains.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from mcd.evaluate import SCORE_COLUMNS
from mcd.runs import Run


def scores_of(run: Run, split: str = "test") -> dict:
    """A run's scores on ``split`` (every accuracy key of its taxonomy; the question count left out)."""
    return {k: v for k, v in run.scores[split].items() if k != "n"}


@dataclass
class SeedTable:
    """Scores over seeds: ``mean`` and ``sd`` per row and column, ``text`` as 'mean ± sd' for display."""

    mean: pd.DataFrame
    sd: pd.DataFrame
    seeds: dict[str, int]

    @property
    def text(self) -> pd.DataFrame:
        def fmt(m, s) -> str:
            if pd.isna(m):
                return "–"
            return f"{m:.2f}" if pd.isna(s) else f"{m:.2f} ± {s:.2f}"   # one seed: no sd
        return pd.DataFrame({c: [fmt(m, s) for m, s in zip(self.mean[c], self.sd[c])] for c in self.mean.columns},
                            index=self.mean.index)

    def _repr_html_(self) -> str:
        return self.text._repr_html_()


def mean_sd(rows: dict[str, list[dict]], columns=SCORE_COLUMNS) -> SeedTable:
    """{label: [score dict per seed]} -> mean and sample sd over seeds (sd is NaN for a single seed)."""
    frames = {k: pd.DataFrame(v)[list(columns)].astype(float) for k, v in rows.items()}
    mean = pd.DataFrame({k: f.mean() for k, f in frames.items()}).T
    sd = pd.DataFrame({k: f.std(ddof=1) for k, f in frames.items()}).T
    return SeedTable(mean, sd, {k: len(v) for k, v in rows.items()})


def variant_table(results: dict[str, list[Run]], split: str = "test", columns=SCORE_COLUMNS) -> SeedTable:
    """mean ± sd over seeds of each variant's scores."""
    return mean_sd({label: [scores_of(r, split) for r in rs] for label, rs in results.items()}, columns)


def side_by_side(paper: pd.DataFrame, ours: pd.DataFrame, columns: list[str], *, paper_data: str,
                 ours_data: str) -> pd.DataFrame:
    """Paper and ours per row, with the data each was measured on named in the column header."""
    p = paper[columns].copy()
    p.columns = pd.MultiIndex.from_product([[f"paper ({paper_data})"], columns])
    o = ours[columns].copy()
    o.columns = pd.MultiIndex.from_product([[f"ours ({ours_data})"], columns])
    return pd.concat([p, o], axis=1)


def paper_rows_as_variants(paper: pd.DataFrame, variants: dict[str, dict], switches: list[str], *,
                           translate: dict[str, dict] | None = None) -> pd.DataFrame:
    """The paper's ablation table indexed by our variant labels, matched on ``switches`` (columns of the paper's
    CSV that are also ``MCDConfig`` fields; 0/1 read as booleans, ``translate`` maps the paper's strings to our
    values, e.g. ``{"text_encoder": {"Bi-LSTM": "bilstm"}}``). Every paper row must match exactly one variant."""
    from mcd.models.mcd import MCDConfig
    translate = translate or {}
    configs = {label: MCDConfig(**fields) for label, fields in variants.items()}
    labels = []
    for _, row in paper.iterrows():
        want = {}
        for s in switches:
            v = row[s]
            want[s] = translate[s].get(v, v) if s in translate else (bool(v) if isinstance(v, (int, float)) else v)
        hits = [label for label, c in configs.items() if all(getattr(c, s) == v for s, v in want.items())]
        if len(hits) != 1:
            raise ValueError(f"paper row {dict(row)} matches {len(hits)} variants ({hits}), not one")
        labels.append(hits[0])
    out = paper.copy()
    out.index = labels
    return out


def paper_vs_ours_long(paper: pd.DataFrame, ours: SeedTable, columns: list[str], *, paper_data: str,
                       ours_data: str, x: str = "variant") -> pd.DataFrame:
    """Tidy rows (``x``, score, accuracy, sd, source) of the paper's table and our mean ± sd, for the figures.
    The source names the data each number was measured on; paper rows have no sd."""
    n = max(ours.seeds.values())
    parts = []
    for col in columns:
        if col in paper.columns:
            parts.append(pd.DataFrame({x: paper.index, "score": col, "accuracy": paper[col].values,
                                       "sd": float("nan"), "source": f"paper ({paper_data})"}))
        parts.append(pd.DataFrame({x: ours.mean.index, "score": col, "accuracy": ours.mean[col].values,
                                   "sd": ours.sd[col].values,
                                   "source": f"ours ({ours_data}), mean ± sd over {n} seeds"}))
    return pd.concat(parts, ignore_index=True)


def scores_long(results: dict[str, list[Run]], split: str = "test", columns=SCORE_COLUMNS) -> pd.DataFrame:
    """One row per (label, seed, score column) with ``accuracy``: the per-seed data behind a SeedTable, for
    figures that draw the spread over seeds themselves."""
    rows = [{"label": label, "seed": r.seed, "column": c, "accuracy": scores_of(r, split)[c]}
            for label, rs in results.items() for r in rs for c in columns]
    return pd.DataFrame(rows)


def curves(results: dict[str, list[Run]]) -> pd.DataFrame:
    """Tidy per-epoch accuracies: one row per (label, seed, epoch, split) with ``accuracy``, from metrics.csv."""
    frames = []
    for label, rs in results.items():
        for r in rs:
            m = r.metrics[["epoch", "val_acc", "test_acc"]].rename(columns={"val_acc": "val", "test_acc": "test"})
            m = m.melt(id_vars="epoch", var_name="split", value_name="accuracy")
            m.insert(0, "seed", r.seed)
            m.insert(0, "variant", label)
            frames.append(m)
    return pd.concat(frames, ignore_index=True)


def curve_summary(results: dict[str, list[Run]]) -> pd.DataFrame:
    """Per run: the best-val epoch (first maximum, as the trainer keeps it) and the test accuracy there; the
    last epoch's val and test and their gap (val - test); the test change from the best-val epoch to the last
    (negative: test fell after the checkpoint was chosen); the gap's change over the same epochs; and the
    number of test questions, for the binomial resolution of one test accuracy."""
    rows = []
    for label, rs in results.items():
        for r in rs:
            m = r.metrics
            best = int(m["val_acc"].idxmax())
            last = len(m) - 1
            gap_best = m.loc[best, "val_acc"] - m.loc[best, "test_acc"]
            gap_last = m.loc[last, "val_acc"] - m.loc[last, "test_acc"]
            rows.append({
                "variant": label, "seed": r.seed, "epochs": int(m.loc[last, "epoch"]),
                "best_val_epoch": int(m.loc[best, "epoch"]), "val_at_best": m.loc[best, "val_acc"],
                "test_at_best_val": m.loc[best, "test_acc"], "max_test": m["test_acc"].max(),
                "final_val": m.loc[last, "val_acc"], "final_test": m.loc[last, "test_acc"],
                "final_gap": gap_last, "gap_change": gap_last - gap_best,
                "test_after_best": m.loc[last, "test_acc"] - m.loc[best, "test_acc"],
                "n_test": int(r.scores["test"]["n"]),
            })
    return pd.DataFrame(rows)
