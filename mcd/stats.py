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

Both see one seed's question noise only. Over several seeds, the margin of the seed means has two sources of
noise: the seeds (training randomness) and the questions (every seed answers the same test set, so that noise
does not average out over seeds). ``two_level_bootstrap`` resamples both, seeds and questions, crossed (the
"pigeonhole" bootstrap of Owen, 2007); ``pooled_comparison`` runs it on two lists of runs paired seed by seed.
It counts the seed-by-question noise more than once, so it errs wide: in a simulation with no seed effect (3
seeds, 300 questions) its interval was about 40 % wider than the true spread, and about right with a seed
effect. Read its "no difference" as "not told apart", not as "equal".
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
    rows = []
    for i, (ra, rb, pa, pb) in enumerate(_paired_runs(runs_a, runs_b, split, modality, question_type)):
        sa, sb = ra.seed, rb.seed
        row = {"seed": sa if sa == sb else f"{sa} vs {sb}"}
        row.update(compare_predictions(pa, pb, n_boot=n_boot, seed=seed + i, level=level))
        rows.append(row)
    return pd.DataFrame(rows)


def two_level_bootstrap(a_correct, b_correct, *, n_boot: int = 10_000, seed: int = 0,
                        level: float = 0.95) -> BootstrapResult:
    """The difference of mean accuracies A - B (points) over S seeds answering the same Q questions, with an
    interval that resamples seeds and questions at once: one draw weights seed s by its count among S seeds
    drawn with replacement and question q by its count among Q drawn (the same draw for every seed, since the
    seeds share the questions). ``a_correct`` and ``b_correct`` are [S, Q], row s the same seed of A and B,
    columns the same questions. The p-value is computed as in ``paired_bootstrap``."""
    a, b = np.asarray(a_correct), np.asarray(b_correct)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"need two [seeds, questions] arrays of one shape, got {a.shape} and {b.shape}")
    if a.size == 0:
        raise ValueError("no questions to compare")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    d = np.stack([_as_bool(x, "a_correct row").astype(np.int64) - _as_bool(y, "b_correct row")
                  for x, y in zip(a, b)])                     # [S, Q] in {-1, 0, 1}
    n_seeds, n_q = d.shape
    rng = np.random.default_rng(seed)
    sums = []
    for start in range(0, n_boot, 2_000):                     # chunks bound the [draws, Q] weight matrix
        k = min(2_000, n_boot - start)
        wq = rng.multinomial(n_q, np.full(n_q, 1.0 / n_q), size=k)             # [k, Q]
        ws = rng.multinomial(n_seeds, np.full(n_seeds, 1.0 / n_seeds), size=k)  # [k, S]
        sums.append(((wq @ d.T) * ws).sum(axis=1))            # integer weighted sums of the differences
    boot_sum, observed = np.concatenate(sums), int(d.sum())
    scale = 100.0 / (n_seeds * n_q)
    alpha = 1.0 - level
    low, high = np.quantile(boot_sum * scale, [alpha / 2, 1 - alpha / 2])
    far = np.abs(boot_sum - observed) >= abs(observed)        # integers: ties are exact
    p = (1 + int(far.sum())) / (1 + n_boot)
    return BootstrapResult(diff=observed * scale, low=float(low), high=float(high), pvalue=float(p), n=n_q,
                           n_boot=n_boot, level=level)


def pooled_comparison(runs_a: list, runs_b: list, *, split: str = "test", n_boot: int = 10_000, seed: int = 0,
                      level: float = 0.95, modality: str | None = None,
                      question_type: str | None = None) -> BootstrapResult:
    """``two_level_bootstrap`` of two lists of runs paired seed by seed (the subset of questions as in
    ``compare_runs``). Every seed must have answered the same questions."""
    if not runs_a:
        raise ValueError("no runs to pool")
    rows_a, rows_b, questions = [], [], None
    for ra, rb, pa, pb in _paired_runs(runs_a, runs_b, split, modality, question_type):
        j = paired_correct(pa, pb)                            # sorted by question_id
        if questions is None:
            questions = j["question_id"].tolist()
        elif j["question_id"].tolist() != questions:
            raise ValueError(f"{ra.path} and the first run answered different {split} questions: pool only "
                             f"seeds of one data set")
        rows_a.append(j["correct_a"].to_numpy(bool))
        rows_b.append(j["correct_b"].to_numpy(bool))
    return two_level_bootstrap(np.stack(rows_a), np.stack(rows_b), n_boot=n_boot, seed=seed, level=level)


def _paired_runs(runs_a: list, runs_b: list, split: str, modality, question_type):
    """(run A, run B, A's predictions, B's predictions) per same-seed pair, cut to the questions asked for."""
    if len(runs_a) != len(runs_b):
        raise ValueError(f"pair the runs seed by seed: {len(runs_a)} vs {len(runs_b)} runs")
    for ra, rb in zip(runs_a, runs_b):
        pa, pb = ra.predictions(split), rb.predictions(split)
        for column, value in (("modality", modality), ("type", question_type)):
            if value is not None:
                pa, pb = _only(pa, column, value, "A"), _only(pb, column, value, "B")
        yield ra, rb, pa, pb


def _only(pred: pd.DataFrame, column: str, value: str, name: str) -> pd.DataFrame:
    if column not in pred.columns:
        raise ValueError(f"prediction table {name} has no {column!r} column to select {value!r} from")
    kept = pred[pred[column] == value]
    if kept.empty:
        raise ValueError(f"prediction table {name} has no {value!r} questions "
                         f"({column} values: {sorted(pred[column].unique())})")
    return kept


__all__ = ["McNemarResult", "BootstrapResult", "discordant", "mcnemar_exact", "paired_bootstrap", "paired_correct",
           "compare_predictions", "compare_runs", "two_level_bootstrap", "pooled_comparison"]
