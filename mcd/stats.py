"""Paired comparisons of two models answering the same questions.

Two models tested on one test set are not two independent samples: most questions are answered right (or wrong)
by both, and only the questions where they disagree say which model is better. Both tests below work on those
pairs, from the per-question prediction tables a run writes (``Run.predictions(split)``: ``question_id`` and
``correct`` per question):

- ``mcnemar_exact``: McNemar's exact test. Of the n discordant questions, ``b`` are answered right by A only and
  ``c`` by B only; under "A and B are equally accurate" b ~ Binomial(b + c, 1/2). Two-sided exact p-value.
- ``paired_bootstrap``: the accuracy difference A - B with a percentile interval, resampling questions with
  replacement (both models' answers to a question travel together). The p-value is the share of resampled
  differences at least as far from the observed one as the observed one is from 0 (the bootstrap distribution
  shifted to the null of no difference), with the usual +1 correction.

``compare_predictions`` joins two tables on ``question_id`` (refusing question sets that differ) and runs both;
``compare_runs`` does so seed by seed for two lists of runs.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import binomtest


@dataclass(frozen=True)
class McNemarResult:
    b: int            # right by A only
    c: int            # right by B only
    n: int            # questions compared
    pvalue: float     # two-sided exact


@dataclass(frozen=True)
class BootstrapResult:
    diff: float       # accuracy of A minus accuracy of B, in points (%)
    low: float        # lower end of the interval, points
    high: float       # upper end, points
    pvalue: float     # two-sided, H0: no difference
    n: int            # questions compared
    n_boot: int
    level: float = 0.95


def _as_bool(x, name: str) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {a.shape}")
    if a.dtype != bool:
        if not np.isin(a, (0, 1)).all():
            raise ValueError(f"{name} must hold booleans (or 0/1), got values {np.unique(a)[:5]}")
        a = a.astype(bool)
    return a


def _pair(a_correct, b_correct) -> tuple[np.ndarray, np.ndarray]:
    a, b = _as_bool(a_correct, "a_correct"), _as_bool(b_correct, "b_correct")
    if len(a) != len(b):
        raise ValueError(f"paired tests need one answer of each model per question: {len(a)} vs {len(b)}")
    if len(a) == 0:
        raise ValueError("no questions to compare")
    return a, b


def discordant(a_correct, b_correct) -> tuple[int, int]:
    """(b, c): questions answered right by A only, and by B only."""
    a, b = _pair(a_correct, b_correct)
    return int((a & ~b).sum()), int((~a & b).sum())


def mcnemar_exact(a_correct, b_correct) -> McNemarResult:
    """McNemar's exact test on paired correctness vectors (same questions, same order)."""
    a, _ = _pair(a_correct, b_correct)
    b, c = discordant(a_correct, b_correct)
    p = 1.0 if b + c == 0 else float(binomtest(b, b + c, 0.5, alternative="two-sided").pvalue)
    return McNemarResult(b=b, c=c, n=len(a), pvalue=min(1.0, p))


def paired_bootstrap(a_correct, b_correct, *, n_boot: int = 10_000, seed: int = 0,
                     level: float = 0.95) -> BootstrapResult:
    """Paired bootstrap over questions of the accuracy difference A - B (points).

    Resampling n questions with replacement changes the difference only through how many of the drawn questions
    are "right by A only" (+1) and "right by B only" (-1); their counts are Multinomial(n, (b/n, c/n, rest)).
    Drawing those counts is therefore the same distribution as drawing n indices, at a cost independent of n.
    """
    a, bb = _pair(a_correct, b_correct)
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    n = len(a)
    b, c = discordant(a, bb)
    diff = 100.0 * (b - c) / n
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n, [b / n, c / n, 1.0 - (b + c) / n], size=n_boot)
    boot = 100.0 * (counts[:, 0] - counts[:, 1]) / n
    alpha = 1.0 - level
    low, high = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
    # Distances are compared on integer counts, so that ties (e.g. identical models) are exact.
    far = np.abs((counts[:, 0] - counts[:, 1]) - (b - c)) >= abs(b - c)
    p = (1 + int(far.sum())) / (1 + n_boot)
    return BootstrapResult(diff=float(diff), low=float(low), high=float(high), pvalue=float(p), n=n,
                           n_boot=n_boot, level=level)


def paired_correct(pred_a: pd.DataFrame, pred_b: pd.DataFrame, *, key: str = "question_id") -> pd.DataFrame:
    """Join two prediction tables on ``key``: one row per question with ``correct_a`` and ``correct_b`` (and
    ``type``/``modality`` when the tables carry them). A ValueError when a table repeats a question or the two
    question sets differ, since a paired test is then meaningless."""
    for name, p in (("A", pred_a), ("B", pred_b)):
        missing = {key, "correct"} - set(p.columns)
        if missing:
            raise ValueError(f"prediction table {name} lacks column(s) {sorted(missing)}")
        dup = p[key].duplicated()
        if dup.any():
            raise ValueError(f"prediction table {name} holds question(s) twice, e.g. {p.loc[dup, key].iloc[:5].tolist()}")
    ka, kb = set(pred_a[key]), set(pred_b[key])
    if ka != kb:
        raise ValueError(f"the two prediction tables hold different questions: {len(ka - kb)} only in A "
                         f"(e.g. {sorted(ka - kb)[:5]}), {len(kb - ka)} only in B (e.g. {sorted(kb - ka)[:5]})")
    extra = [c for c in ("type", "modality") if c in pred_a.columns]
    left = pred_a[[key, *extra, "correct"]].rename(columns={"correct": "correct_a"})
    right = pred_b[[key, "correct"]].rename(columns={"correct": "correct_b"})
    return left.merge(right, on=key, how="inner", validate="one_to_one").sort_values(key, ignore_index=True)


def compare_predictions(pred_a: pd.DataFrame, pred_b: pd.DataFrame, *, n_boot: int = 10_000, seed: int = 0,
                        level: float = 0.95) -> dict:
    """Accuracies, McNemar's exact test and the paired bootstrap of A against B on the same questions."""
    j = paired_correct(pred_a, pred_b)
    a, b = j["correct_a"].to_numpy(bool), j["correct_b"].to_numpy(bool)
    mc = mcnemar_exact(a, b)
    bs = paired_bootstrap(a, b, n_boot=n_boot, seed=seed, level=level)
    return {"n": mc.n, "acc_a": 100.0 * a.mean(), "acc_b": 100.0 * b.mean(), "diff": bs.diff,
            "ci_low": bs.low, "ci_high": bs.high, "p_bootstrap": bs.pvalue,
            "a_only": mc.b, "b_only": mc.c, "p_mcnemar": mc.pvalue}


def compare_runs(runs_a: list, runs_b: list, *, split: str = "test", n_boot: int = 10_000, seed: int = 0,
                 level: float = 0.95, modality: str | None = None, question_type: str | None = None) -> pd.DataFrame:
    """One row per pair (runs_a[i], runs_b[i]) — the same seed of two models — comparing their ``split``
    predictions (only the questions of ``modality``, e.g. "Visual", and of ``question_type``, e.g. "V-Loc", when
    given). The seed column is read from each run's config; two different seeds are shown as 'a vs b'."""
    if len(runs_a) != len(runs_b):
        raise ValueError(f"pair the runs seed by seed: {len(runs_a)} vs {len(runs_b)} runs")
    rows = []
    for i, (ra, rb) in enumerate(zip(runs_a, runs_b)):
        sa, sb = ra.seed, rb.seed
        row = {"seed": sa if sa == sb else f"{sa} vs {sb}"}
        pa, pb = ra.predictions(split), rb.predictions(split)
        for column, value in (("modality", modality), ("type", question_type)):
            if value is not None:
                pa, pb = _only(pa, column, value, "A"), _only(pb, column, value, "B")
        row.update(compare_predictions(pa, pb, n_boot=n_boot, seed=seed + i, level=level))
        rows.append(row)
    return pd.DataFrame(rows)


def _only(pred: pd.DataFrame, column: str, value: str, name: str) -> pd.DataFrame:
    if column not in pred.columns:
        raise ValueError(f"prediction table {name} has no {column!r} column to select {value!r} from")
    kept = pred[pred[column] == value]
    if kept.empty:
        raise ValueError(f"prediction table {name} has no {value!r} questions "
                         f"({column} values: {sorted(pred[column].unique())})")
    return kept


__all__ = ["McNemarResult", "BootstrapResult", "discordant", "mcnemar_exact", "paired_bootstrap", "paired_correct",
           "compare_predictions", "compare_runs"]
