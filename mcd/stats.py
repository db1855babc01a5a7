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

Both see one seed's question noise only. Over several seeds, the margin of the seed means has more sources of
noise: the seeds (training randomness), the questions, and, where each seed has its own draw of the data set
(the study's SynthAVQA: the generator seed follows the run's seed), the draws. ``pooled_comparison`` gives the
interval that fits two lists of runs paired seed by seed (each pair on the same questions):

- every seed answered the same questions (one data set): ``two_level_bootstrap`` resamples seeds and questions,
  crossed (the "pigeonhole" bootstrap of Owen, 2007), since the question noise is shared by all seeds and does
  not average out over them. It counts the seed-by-question noise more than once, so it errs wide: in a
  simulation with no seed effect (3 seeds, 300 questions) its interval was about 40 % wider than the true spread,
  and about right with a seed effect. Read its "no difference" as "not told apart", not as "equal".
- each seed answered its own questions (a data draw per seed): the seeds' differences are independent, and each
  already carries its own question noise (and its draw's), so their spread over seeds measures all the noise of
  their mean. ``t_over_seeds`` gives the mean over seeds of each seed's accuracy difference with Student's t
  interval on S - 1 degrees of freedom (exact for normal differences, whatever the share of seed, draw and
  question noise). With one seed there is no spread over seeds to measure: the question bootstrap
  (``hierarchical_bootstrap`` of that seed), which covers the questions only.

  Why not a bootstrap at the seed level too: ``hierarchical_bootstrap`` (seeds resampled, then questions within
  each) draws from the S seeds it has, so with the study's 3 seeds its seed level sees only (S-1)/S of their
  variance and no uncertainty about it (2 degrees of freedom). Under the null (3 seeds, 3,600 questions each,
  25 % discordant; ``rejection_rate``, 1,000 simulated studies) it rejected at p < 0.05 in 1.2 %, 2.6 %, 6.7 %,
  15.0 % and 23.8 % of the studies for a seed-and-draw sd of 0, 0.5, 1, 2 and 4 times one seed's question sd;
  inflating its seed-level deviations by sqrt(S / (S - 1)) gave 1.3 %, 2.1 %, 5.2 %, 11.8 % and 18.7 %. The t
  interval rejects at about the nominal 5 % at every spread (5.0 %, 5.3 %, 4.6 %, 4.6 %, 5.7 %). Its price is
  its 2 degrees of freedom (t = 4.30 instead of about 2): the smallest difference it detects with 80 % power is
  2.7, 3.8, 6.1 and 11.3 points at a spread of 0, 1, 2 and 4 question sds (one question sd is 0.83 points
  here), against the bootstrap's 1.7, 2.0, 2.9 and 4.9, which beyond a spread of 1 come from rejecting too
  often. The data card's power table gives them at the spread measured on the study's runs. (Measured with
  ``rejection_rate(0.0, 3600, 0.25, k * 0.833, n_sim=1000, n_boot=1000)`` and ``minimum_detectable_difference(
  3600, 0.25, k * 0.833, n_sim=1000, n_boot=1000, tol=0.02)``, k the spread in question sds, each on the
  bootstrap's code and on this one's.)

``comparison_inputs``, ``rejection_rate``, ``minimum_detectable_difference`` and ``power_table`` simulate that
test (``nested_comparison``) to find the smallest difference a study of a few seeds can detect (the data card's
power table).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import binomtest
from scipy.stats import t as student_t


CROSSED = "seeds x questions, crossed (one data set)"
NESTED = "seeds, then questions within each (a data draw per seed)"
SEEDS_T = "t over seeds, each seed on its own draw and questions"


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
    n: int            # questions compared (summed over seeds where each seed has its own)
    n_boot: int
    level: float = 0.95
    seeds: int = 1
    method: str = "questions"


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
                           n_boot=n_boot, level=level, seeds=n_seeds, method=CROSSED)


def hierarchical_bootstrap(a_correct: list, b_correct: list, *, n_boot: int = 10_000, seed: int = 0,
                           level: float = 0.95) -> BootstrapResult:
    """The mean over S seeds of each seed's accuracy difference A - B (points), where each seed answered its own
    questions (``a_correct[s]`` and ``b_correct[s]``: the same Q_s questions of seed s, answered by A and by B;
    Q_s may differ between seeds). One bootstrap draw resamples S seeds with replacement, then, for each seed
    drawn, its Q_s questions with replacement (independently each time a seed is drawn), and averages the drawn
    seeds' differences. Within a seed only the counts of "right by A only" and "right by B only" among the drawn
    questions matter, so they are drawn as multinomial counts (as in ``paired_bootstrap``). With one seed it is
    ``paired_bootstrap`` (the same draws for the same ``seed``). The p-value is computed as in
    ``paired_bootstrap``. With a few seeds its seed level is too narrow (module docstring): ``pooled_comparison``
    uses it for one seed only, and ``t_over_seeds`` for more."""
    if len(a_correct) != len(b_correct) or not len(a_correct):
        raise ValueError(f"need the same number (>= 1) of seeds for A and B, got {len(a_correct)} and {len(b_correct)}")
    cells = [(len(a), *discordant(a, b)) for a, b in (_pair(a, b) for a, b in zip(a_correct, b_correct))]
    return hierarchical_bootstrap_counts(cells, n_boot=n_boot, seed=seed, level=level)


def hierarchical_bootstrap_counts(cells: list[tuple[int, int, int]], *, n_boot: int = 10_000, seed=0,
                                  level: float = 0.95) -> BootstrapResult:
    """``hierarchical_bootstrap`` from each seed's (questions, right by A only, right by B only)."""
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if not cells or any(q < 1 or b < 0 or c < 0 or b + c > q for q, b, c in cells):
        raise ValueError(f"each seed needs questions >= 1 and 0 <= b, c with b + c <= questions, got {cells}")
    n_seeds = len(cells)
    observed = float(np.mean([100.0 * (b - c) / q for q, b, c in cells]))
    rng = np.random.default_rng(seed)
    # Which seed fills each of the S slots of every draw (with one seed there is nothing to draw).
    picks = np.zeros((n_boot, 1), dtype=int) if n_seeds == 1 else rng.integers(0, n_seeds, size=(n_boot, n_seeds))
    slots = np.empty(picks.shape)
    for s, (q, b, c) in enumerate(cells):
        here = picks == s
        counts = rng.multinomial(q, [b / q, c / q, 1.0 - (b + c) / q], size=int(here.sum()))
        slots[here] = 100.0 * (counts[:, 0] - counts[:, 1]) / q
    boot = slots.mean(axis=1)
    alpha = 1.0 - level
    low, high = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
    # A difference of counts is at least 100 / Q points, so the tolerance only makes exact ties count as "far".
    far = np.abs(boot - observed) >= abs(observed) - 1e-9
    p = (1 + int(far.sum())) / (1 + n_boot)
    return BootstrapResult(diff=observed, low=float(low), high=float(high), pvalue=float(p),
                           n=sum(q for q, _, _ in cells), n_boot=n_boot, level=level, seeds=n_seeds,
                           method=NESTED if n_seeds > 1 else "questions")


def t_over_seeds(values, *, level: float = 0.95, questions: int = 0) -> BootstrapResult:
    """The mean of per-seed values (points; e.g. each seed's accuracy difference A - B on its own draw) with
    Student's t interval on S - 1 degrees of freedom and the two-sided p-value of "mean 0". Valid when the seeds'
    values are independent, as they are when each seed has its own data draw: each value then carries its seed's,
    its draw's and its questions' noise, and their spread over seeds measures all three. ``questions``: the
    questions behind the values (summed over seeds), for the record. Needs two seeds or more."""
    v = np.asarray(values, dtype=float)
    if v.ndim != 1 or len(v) < 2 or not np.isfinite(v).all():
        raise ValueError(f"need finite values of two seeds or more, got {v.tolist()}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    n_seeds, mean = len(v), float(v.mean())
    se = float(v.std(ddof=1)) / np.sqrt(n_seeds)
    half = float(student_t.ppf(0.5 + level / 2, n_seeds - 1)) * se
    if se > 0:
        p = float(2 * student_t.sf(abs(mean) / se, n_seeds - 1))
    else:                                     # every seed the same value: no spread to test against
        p = 1.0 if mean == 0 else 0.0
    return BootstrapResult(diff=mean, low=mean - half, high=mean + half, pvalue=p, n=questions, n_boot=0,
                           level=level, seeds=n_seeds, method=SEEDS_T)


def nested_comparison(cells: list[tuple[int, int, int]], *, n_boot: int = 10_000, seed=0,
                      level: float = 0.95) -> BootstrapResult:
    """The mean over seeds of each seed's accuracy difference A - B, each seed on its own questions, from each
    seed's (questions, right by A only, right by B only): ``t_over_seeds`` of the seeds' differences for two seeds
    or more, the question bootstrap (``hierarchical_bootstrap_counts``) for one."""
    if len(cells) == 1:
        return hierarchical_bootstrap_counts(cells, n_boot=n_boot, seed=seed, level=level)
    if not cells or any(q < 1 or b < 0 or c < 0 or b + c > q for q, b, c in cells):
        raise ValueError(f"each seed needs questions >= 1 and 0 <= b, c with b + c <= questions, got {cells}")
    return t_over_seeds([100.0 * (b - c) / q for q, b, c in cells], level=level,
                        questions=sum(q for q, _, _ in cells))


def pooled_comparison(runs_a: list, runs_b: list, *, split: str = "test", n_boot: int = 10_000, seed: int = 0,
                      level: float = 0.95, modality: str | None = None,
                      question_type: str | None = None) -> BootstrapResult:
    """The difference of mean accuracies of two lists of runs paired seed by seed (the subset of questions as in
    ``compare_runs``), with an interval over seeds and questions: ``two_level_bootstrap`` (crossed) when every
    pair answered the same questions of the same data, ``nested_comparison`` when the seeds read different data
    (a draw per seed) or answered different questions (t over seeds; one seed: its question bootstrap). Within a
    pair the two runs must have read the same data and answered the same questions."""
    if not runs_a:
        raise ValueError("no runs to pool")
    rows_a, rows_b, questions, data = [], [], [], []
    for ra, rb, pa, pb in _paired_runs(runs_a, runs_b, split, modality, question_type):
        if _data_of(ra) != _data_of(rb):
            raise ValueError(f"{ra.path} and {rb.path} are one seed's pair but read different data "
                             f"({_data_of(ra)} vs {_data_of(rb)}): pair runs on the same data")
        j = paired_correct(pa, pb)                            # sorted by question_id
        questions.append(j["question_id"].tolist())
        data.append(_data_of(ra))
        rows_a.append(j["correct_a"].to_numpy(bool))
        rows_b.append(j["correct_b"].to_numpy(bool))
    return _pooled(rows_a, rows_b, questions, data, n_boot=n_boot, seed=seed, level=level)


def pooled_accuracy(runs: list, *, split: str = "test", n_boot: int = 10_000, seed: int = 0, level: float = 0.95,
                    modality: str | None = None, question_type: str | None = None) -> BootstrapResult:
    """The mean accuracy of ``runs`` (points; the subset of questions as in ``compare_runs``) with the interval
    that ``pooled_comparison`` gives for their difference to a model that answers nothing right, so the same
    resampling: the questions for one run, seeds and questions crossed for seeds on one data set, t over seeds
    for a draw per seed."""
    if not runs:
        raise ValueError("no runs to pool")
    rows, questions, data = [], [], []
    for run in runs:
        pred = run.predictions(split)
        for column, value in (("modality", modality), ("type", question_type)):
            if value is not None:
                pred = _only(pred, column, value, str(run.path))
        j = paired_correct(pred, pred)                        # sorted by question_id, each question once
        questions.append(j["question_id"].tolist())
        data.append(_data_of(run))
        rows.append(j["correct_a"].to_numpy(bool))
    return _pooled(rows, [np.zeros_like(r) for r in rows], questions, data, n_boot=n_boot, seed=seed, level=level)


def _pooled(rows_a, rows_b, questions, data, *, n_boot, seed, level) -> BootstrapResult:
    """Crossed when every seed answered the same questions of the same data, else nested (``pooled_comparison``)."""
    if len(rows_a) > 1 and all(q == questions[0] for q in questions) and all(d == data[0] for d in data):
        return two_level_bootstrap(np.stack(rows_a), np.stack(rows_b), n_boot=n_boot, seed=seed, level=level)
    cells = [(len(a), *discordant(a, b)) for a, b in zip(rows_a, rows_b)]
    return nested_comparison(cells, n_boot=n_boot, seed=seed, level=level)


def _data_of(run) -> tuple | None:
    """What identifies the data a run read (its config's data root, annotation files and SynthAVQA draw), or None
    when its config does not say."""
    data = run.config.get("data")
    if not data:
        return None
    keys = ("root", "annotation_root", "version", "format", "test_file", "val_file", "synth_profile", "synth_seed")
    return tuple(str(data.get(k)) for k in keys)


# -------------------------------------------------------------------------------------------------------- power
POWER_COLUMNS = ("overall", "Audio", "Visual", "Audio-Visual")


def seed_cells(runs_a: list, runs_b: list, *, split: str = "test", modality: str | None = None,
               question_type: str | None = None) -> list[tuple[int, int, int]]:
    """(questions, right by A only, right by B only) of each same-seed pair."""
    cells = []
    for _, _, pa, pb in _paired_runs(runs_a, runs_b, split, modality, question_type):
        j = paired_correct(pa, pb)
        cells.append((len(j), *discordant(j["correct_a"].to_numpy(bool), j["correct_b"].to_numpy(bool))))
    return cells


def comparison_inputs(runs_a: list, runs_b: list, *, split: str = "test", columns=POWER_COLUMNS) -> pd.DataFrame:
    """What a power simulation needs to know of a comparison, measured on two lists of runs paired by seed, per
    column ("overall" or a modality): the seeds, the mean questions per seed, the share of questions the two models
    answer differently (``discordant``), the mean difference (points), the sd of one seed's difference due to its
    questions alone (``question sd``, from the multinomial of its cells), and the sd of the seeds' differences
    beyond that (``seed-and-draw sd``: the training seed and, with a draw per seed, the data draw; the square
    root of the excess of the variance over seeds above the mean question variance, 0 when there is none;
    estimated from seeds - 1 degrees of freedom)."""
    rows = {}
    for col in columns:
        try:
            cells = seed_cells(runs_a, runs_b, split=split, modality=None if col == "overall" else col)
        except ValueError:   # a seed with no question of this modality (a tiny profile): nothing to measure
            rows[col] = dict.fromkeys(["seeds", "questions", "discordant", "difference", "question sd",
                                       "seed-and-draw sd"], float("nan"))
            continue
        q, b, c = (np.array(x, dtype=float) for x in zip(*cells))
        diffs = 100.0 * (b - c) / q
        question_var = 100.0 ** 2 * ((b + c) / q - ((b - c) / q) ** 2) / q
        excess = diffs.var(ddof=1) - question_var.mean() if len(cells) > 1 else float("nan")
        rows[col] = {"seeds": len(cells), "questions": q.mean(), "discordant": float(np.mean((b + c) / q)),
                     "difference": diffs.mean(), "question sd": float(np.sqrt(question_var.mean())),
                     "seed-and-draw sd": float(np.sqrt(max(excess, 0.0))) if len(cells) > 1 else float("nan")}
    return pd.DataFrame(rows).T


def rejection_rate(delta: float, questions: int, discordant_share: float, seed_sd: float, *, seeds: int = 3,
                   n_sim: int = 400, n_boot: int = 1000, alpha: float = 0.05, seed: int = 0) -> float:
    """Share of simulated studies in which ``nested_comparison`` (the chapters' test) finds A better than B at
    level ``alpha``
    (for ``delta`` = 0: finds any difference, i.e. the test's size). The simulation: each of ``seeds`` seeds has
    its own ``questions`` questions; its true difference is ``delta`` plus a seed-and-draw effect drawn from
    N(0, ``seed_sd``^2) (points); a ``discordant_share`` of its questions is answered differently by the two
    models, split between "A only" and "B only" so that their difference is the seed's; the counts are drawn as
    a multinomial. Simulation i draws from its own seeded stream, so that rates at different ``delta`` share
    their random numbers (a smooth curve for ``minimum_detectable_difference``)."""
    hits = 0
    for i in range(n_sim):
        rng = np.random.default_rng([seed, i])
        d = (delta + seed_sd * rng.standard_normal(seeds)) / 100.0
        cells = []
        for ds in np.clip(d, -discordant_share, discordant_share):
            pb, pc = (discordant_share + ds) / 2, (discordant_share - ds) / 2
            b, c, _ = rng.multinomial(questions, [pb, pc, 1.0 - pb - pc])
            cells.append((questions, int(b), int(c)))
        r = nested_comparison(cells, n_boot=n_boot, seed=[seed, i, 1])
        hits += r.pvalue < alpha and (delta == 0 or np.sign(r.diff) == np.sign(delta))
    return hits / n_sim


def minimum_detectable_difference(questions: int, discordant_share: float, seed_sd: float, *, seeds: int = 3,
                                  power: float = 0.8, alpha: float = 0.05, n_sim: int = 400, n_boot: int = 1000,
                                  seed: int = 0, tol: float = 0.05) -> float:
    """The smallest true difference (points) that ``nested_comparison`` detects with probability ``power``
    at level ``alpha`` in the simulation of ``rejection_rate``, by bisection to within ``tol`` points."""
    # Start from the normal approximation of the seed means' sd, doubled until the power is reached.
    se = np.sqrt((seed_sd ** 2 + 100.0 ** 2 * discordant_share / questions) / seeds)
    low, high = 0.0, max(2.8 * se, tol)
    while rejection_rate(high, questions, discordant_share, seed_sd, seeds=seeds, n_sim=n_sim, n_boot=n_boot,
                         alpha=alpha, seed=seed) < power:
        low, high = high, 2 * high
        if high > 100 * discordant_share:
            return float("nan")   # not reachable: the models do not disagree on enough questions
    while high - low > tol:
        mid = (low + high) / 2
        rate = rejection_rate(mid, questions, discordant_share, seed_sd, seeds=seeds, n_sim=n_sim, n_boot=n_boot,
                              alpha=alpha, seed=seed)
        low, high = (mid, high) if rate < power else (low, mid)
    return high


def power_table(inputs: pd.DataFrame, questions, *, seeds: int = 3, power: float = 0.8, alpha: float = 0.05,
                n_sim: int = 400, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Per column of ``inputs`` (``comparison_inputs``): the smallest paired difference ``seeds`` seeds detect with
    ``power`` at level ``alpha`` on ``questions[column]`` test questions per seed, and the test's size (its
    rejection rate with no difference) under the same assumptions. The seed-and-draw spread is estimated from few
    seeds, so the same two numbers are also given for a spread as large as one seed's question noise (where the
    measured one is smaller). Columns whose inputs are unknown are left out."""
    rows = {}
    for col, x in inputs.iterrows():
        if col not in questions or pd.isna(questions[col]) or pd.isna(x[["discordant", "seed-and-draw sd"]]).any():
            continue
        q, share, sd = int(round(questions[col])), float(x["discordant"]), float(x["seed-and-draw sd"])
        question_sd = 100.0 * np.sqrt(share / q)
        row = {"test questions per seed": q, "discordant share (assumed)": share,
               "question sd of one seed (points)": question_sd}
        for label, spread in (("measured", sd), ("= question sd", max(sd, question_sd))):
            kw = dict(seeds=seeds, alpha=alpha, n_sim=n_sim, n_boot=n_boot, seed=seed)
            row[f"seed-and-draw sd, {label} (points)"] = spread
            row[f"size, {label}"] = rejection_rate(0.0, q, share, spread, **kw)
            row[f"minimum detectable difference, {label} (points)"] = minimum_detectable_difference(
                q, share, spread, power=power, **kw)
        rows[col] = row
    return pd.DataFrame.from_dict(rows, orient="index")   # one row per column; the question counts stay integers


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
           "compare_predictions", "compare_runs", "two_level_bootstrap", "hierarchical_bootstrap",
           "hierarchical_bootstrap_counts", "t_over_seeds", "nested_comparison", "pooled_comparison", "pooled_accuracy",
           "seed_cells", "comparison_inputs", "rejection_rate", "minimum_detectable_difference", "power_table"]
