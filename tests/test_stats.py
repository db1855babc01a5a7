"""Paired comparisons (mcd.stats): known exact p-values, the identical-model case, the refusal of unpaired data,
and the bootstrap shortcut checked against plain index resampling."""
from __future__ import annotations

import dataclasses
import math
from math import comb

import numpy as np
import pandas as pd
import pytest

from mcd import stats
from mcd.io import atomic_write_csv, atomic_write_text
from mcd.runs import Run


def correctness(both: int, a_only: int, b_only: int, neither: int, seed: int = 0):
    """Paired correctness vectors with the given cell counts, shuffled."""
    a = np.array([1] * both + [1] * a_only + [0] * b_only + [0] * neither, dtype=bool)
    b = np.array([1] * both + [0] * a_only + [1] * b_only + [0] * neither, dtype=bool)
    order = np.random.default_rng(seed).permutation(len(a))
    return a[order], b[order]


def predictions(ids, correct, types=None) -> pd.DataFrame:
    return pd.DataFrame({"question_id": ids, "type": types or ["A-Count"] * len(ids), "correct": correct})


# ------------------------------------------------------------------------------------------------------ McNemar
def test_mcnemar_known_discordant_counts():
    a, b = correctness(both=50, a_only=1, b_only=9, neither=40)
    r = stats.mcnemar_exact(a, b)
    assert (r.b, r.c, r.n) == (1, 9, 100)
    # P(X <= 1) for X ~ Bin(10, 1/2) = 11/1024, doubled.
    assert r.pvalue == pytest.approx(22 / 1024, rel=1e-12)


def test_mcnemar_matches_hand_binomial_and_is_symmetric():
    a, b = correctness(both=10, a_only=3, b_only=12, neither=5, seed=3)
    expected = 2 * sum(comb(15, k) for k in range(0, 4)) / 2 ** 15
    assert stats.mcnemar_exact(a, b).pvalue == pytest.approx(expected, rel=1e-12)
    assert stats.mcnemar_exact(b, a).pvalue == pytest.approx(expected, rel=1e-12)


def test_mcnemar_identical_and_balanced_give_one():
    a, _ = correctness(both=30, a_only=0, b_only=0, neither=20)
    r = stats.mcnemar_exact(a, a.copy())
    assert (r.b, r.c, r.pvalue) == (0, 0, 1.0)
    a, b = correctness(both=30, a_only=7, b_only=7, neither=20)
    assert stats.mcnemar_exact(a, b).pvalue == pytest.approx(1.0)


def test_mcnemar_rejects_bad_input():
    with pytest.raises(ValueError):
        stats.mcnemar_exact([True, False], [True])
    with pytest.raises(ValueError):
        stats.mcnemar_exact([0, 2], [1, 1])
    with pytest.raises(ValueError):
        stats.mcnemar_exact([], [])


# ---------------------------------------------------------------------------------------------------- bootstrap
def test_bootstrap_identical_predictions():
    a, _ = correctness(both=60, a_only=0, b_only=0, neither=40)
    r = stats.paired_bootstrap(a, a.copy(), n_boot=2000, seed=1)
    assert r.diff == 0.0 and r.low == 0.0 and r.high == 0.0
    assert r.pvalue == 1.0


def test_bootstrap_clear_difference():
    a, b = correctness(both=400, a_only=120, b_only=20, neither=460)
    r = stats.paired_bootstrap(a, b, n_boot=5000, seed=0)
    assert r.diff == pytest.approx(100 * (120 - 20) / 1000)
    assert 0 < r.low < r.diff < r.high
    assert r.pvalue < 0.001
    assert r.pvalue >= 1 / 5001  # never 0


def test_bootstrap_no_evidence_when_balanced():
    a, b = correctness(both=400, a_only=30, b_only=30, neither=540)
    r = stats.paired_bootstrap(a, b, n_boot=4000, seed=0)
    assert r.diff == 0.0
    assert r.low < 0 < r.high
    assert r.pvalue > 0.5


def test_bootstrap_is_seeded():
    a, b = correctness(both=200, a_only=25, b_only=15, neither=160)
    r1 = stats.paired_bootstrap(a, b, n_boot=3000, seed=7)
    r2 = stats.paired_bootstrap(a, b, n_boot=3000, seed=7)
    r3 = stats.paired_bootstrap(a, b, n_boot=3000, seed=8)
    assert r1 == r2
    assert (r1.low, r1.high, r1.pvalue) != (r3.low, r3.high, r3.pvalue)


def test_bootstrap_shortcut_equals_index_resampling():
    """The multinomial shortcut must give the distribution of resampling question indices."""
    a, b = correctness(both=300, a_only=40, b_only=25, neither=135, seed=2)
    r = stats.paired_bootstrap(a, b, n_boot=20_000, seed=0)
    rng = np.random.default_rng(123)
    d = a.astype(float) - b.astype(float)
    idx = rng.integers(0, len(d), size=(20_000, len(d)))
    naive = 100 * d[idx].mean(axis=1)
    lo, hi = np.quantile(naive, [0.025, 0.975])
    assert r.low == pytest.approx(lo, abs=0.6)
    assert r.high == pytest.approx(hi, abs=0.6)
    naive_p = (1 + (np.abs(naive - r.diff) >= abs(r.diff) - 1e-9).sum()) / (1 + len(naive))
    assert r.pvalue == pytest.approx(naive_p, abs=0.01)


# ------------------------------------------------------------------------------------------- prediction tables
def test_compare_predictions_joins_on_question_id():
    a, b = correctness(both=20, a_only=6, b_only=1, neither=3)
    ids = list(range(100, 130))
    pa = predictions(ids, a)
    pb = predictions(ids, b).sample(frac=1.0, random_state=0)  # another order: the join must pair them
    out = stats.compare_predictions(pa, pb, n_boot=1000)
    assert (out["n"], out["a_only"], out["b_only"]) == (30, 6, 1)
    assert out["acc_a"] == pytest.approx(100 * 26 / 30)
    assert out["acc_b"] == pytest.approx(100 * 21 / 30)
    assert out["diff"] == pytest.approx(out["acc_a"] - out["acc_b"])
    assert out["p_mcnemar"] == pytest.approx(stats.mcnemar_exact(a, b).pvalue)


def test_compare_predictions_refuses_mismatched_questions():
    a, b = correctness(both=5, a_only=1, b_only=1, neither=3)
    with pytest.raises(ValueError, match="different questions"):
        stats.compare_predictions(predictions(list(range(10)), a), predictions(list(range(1, 11)), b))
    with pytest.raises(ValueError, match="different questions"):
        stats.compare_predictions(predictions(list(range(10)), a), predictions(list(range(9)), b[:9]))
    with pytest.raises(ValueError, match="twice"):
        stats.compare_predictions(predictions([0, 0, 1], a[:3]), predictions([0, 1, 2], b[:3]))


def test_compare_runs_pairs_seed_by_seed(tmp_path):
    def fake_run(name, seed, correct):
        path = tmp_path / name
        atomic_write_text(path / "config.yaml", f"train:\n  seed: {seed}\n")
        atomic_write_csv(path / "predictions_test.csv", predictions(list(range(len(correct))), correct))
        return Run(path)

    a, b = correctness(both=10, a_only=4, b_only=0, neither=6)
    ra = [fake_run("a1", 1, a), fake_run("a2", 2, a)]
    rb = [fake_run("b1", 1, b), fake_run("b2", 2, a)]
    table = stats.compare_runs(ra, rb, n_boot=500)
    assert table["seed"].tolist() == [1, 2]
    assert table["a_only"].tolist() == [4, 0]
    assert table.loc[1, "p_mcnemar"] == 1.0 and table.loc[1, "p_bootstrap"] == 1.0
    with pytest.raises(ValueError):
        stats.compare_runs(ra, rb[:1])


def test_compare_runs_restricted_to_one_modality_or_type(tmp_path):
    """modality="Visual" compares only the Visual questions: the Audio disagreements must not count. The same
    for question_type="V-Loc"."""
    # 10 Audio questions where only A is right, 6 Visual questions where only B is right
    a = np.array([1] * 10 + [0] * 6, dtype=bool)
    pred_a = predictions(list(range(16)), a)
    pred_b = predictions(list(range(16)), ~a)
    for p in (pred_a, pred_b):
        p["modality"] = ["Audio"] * 10 + ["Visual"] * 6
        p["type"] = ["A-Count"] * 10 + ["V-Loc"] * 2 + ["V-Count"] * 4

    def fake_run(name, pred):
        atomic_write_text(tmp_path / name / "config.yaml", "train:\n  seed: 1\n")
        atomic_write_csv(tmp_path / name / "predictions_test.csv", pred)
        return Run(tmp_path / name)

    ra, rb = [fake_run("a", pred_a)], [fake_run("b", pred_b)]
    visual = stats.compare_runs(ra, rb, n_boot=200, modality="Visual")
    assert (visual.loc[0, "n"], visual.loc[0, "a_only"], visual.loc[0, "b_only"]) == (6, 0, 6)
    assert visual.loc[0, "diff"] == pytest.approx(-100.0)
    assert stats.compare_runs(ra, rb, n_boot=200, modality="Audio").loc[0, "a_only"] == 10
    with pytest.raises(ValueError, match="no 'Audio-Visual' questions"):
        stats.compare_runs(ra, rb, n_boot=200, modality="Audio-Visual")
    v_loc = stats.compare_runs(ra, rb, n_boot=200, question_type="V-Loc")
    assert (v_loc.loc[0, "n"], v_loc.loc[0, "b_only"]) == (2, 2)
    with pytest.raises(ValueError, match="no 'AV-Loc' questions"):
        stats.compare_runs(ra, rb, n_boot=200, question_type="AV-Loc")


# ------------------------------------------------------------------------------------ seeds and questions at once
def test_two_level_bootstrap_of_identical_models_is_no_difference():
    a, _ = correctness(both=30, a_only=10, b_only=0, neither=20)
    r = stats.two_level_bootstrap(np.stack([a, a]), np.stack([a, a]), n_boot=500)
    assert (r.diff, r.low, r.high, r.pvalue) == (0.0, 0.0, 0.0, 1.0)


def test_two_level_bootstrap_with_one_seed_is_the_question_bootstrap():
    a, b = correctness(both=300, a_only=40, b_only=20, neither=140)
    two = stats.two_level_bootstrap(a[None], b[None], n_boot=20_000, seed=1)
    one = stats.paired_bootstrap(a, b, n_boot=20_000, seed=2)
    assert two.diff == one.diff == 100.0 * 20 / 500
    assert two.low == pytest.approx(one.low, abs=0.4) and two.high == pytest.approx(one.high, abs=0.4)


def test_two_level_bootstrap_counts_the_seed_noise():
    """Seed 1 is 10 points ahead, seed 2 is 50 ahead, on 1,000 questions: the question noise alone is about
    +-2 points, so an interval that spans most of 10..50 can only come from resampling the seeds."""
    a1, b1 = correctness(both=400, a_only=100, b_only=0, neither=500, seed=1)
    a2, b2 = correctness(both=400, a_only=500, b_only=0, neither=100, seed=2)
    r = stats.two_level_bootstrap(np.stack([a1, a2]), np.stack([b1, b2]), n_boot=4_000)
    assert r.diff == pytest.approx(30.0)
    assert r.low < 15 and r.high > 45
    assert r.pvalue < 0.01                                     # both seeds are far ahead
    with pytest.raises(ValueError, match="one shape"):
        stats.two_level_bootstrap(np.stack([a1, a2]), b1)


def _fake_run(tmp_path, name, seed, ids, correct, data_seed=None):
    data = "" if data_seed is None else f"data:\n  root: data/s{data_seed}\n  synth_seed: {data_seed}\n"
    atomic_write_text(tmp_path / name / "config.yaml", f"train:\n  seed: {seed}\n{data}")
    atomic_write_csv(tmp_path / name / "predictions_test.csv", predictions(ids, correct))
    return Run(tmp_path / name)


def test_pooled_comparison_pairs_seeds_on_one_data_set(tmp_path):
    a, b = correctness(both=10, a_only=6, b_only=2, neither=2)
    ids = list(range(20))
    ra = [_fake_run(tmp_path, "a1", 1, ids, a), _fake_run(tmp_path, "a2", 2, ids[::-1], a[::-1])]   # order is free
    rb = [_fake_run(tmp_path, "b1", 1, ids, b), _fake_run(tmp_path, "b2", 2, ids, b)]
    r = stats.pooled_comparison(ra, rb, n_boot=300)
    assert r.diff == pytest.approx(20.0) and r.n == 20 and r.method == stats.CROSSED and r.seeds == 2
    with pytest.raises(ValueError, match="different questions"):   # within a pair the questions must agree
        stats.pooled_comparison([ra[0]], [_fake_run(tmp_path, "b3", 1, list(range(1, 21)), b)], n_boot=10)


def test_pooled_comparison_with_a_data_draw_per_seed(tmp_path):
    """Each seed read its own draw (other questions, other sizes): the mean over seeds of each seed's difference,
    with Student's t interval over the seeds' differences (1 degree of freedom with 2 seeds)."""
    a1, b1 = correctness(both=30, a_only=12, b_only=4, neither=14, seed=1)      # 60 questions: +13.33 points
    a2, b2 = correctness(both=20, a_only=3, b_only=5, neither=12, seed=2)       # 40 questions: -5 points
    ra = [_fake_run(tmp_path, "a1", 1, list(range(60)), a1, data_seed=1),
          _fake_run(tmp_path, "a2", 2, list(range(40)), a2, data_seed=2)]
    rb = [_fake_run(tmp_path, "b1", 1, list(range(60)), b1, data_seed=1),
          _fake_run(tmp_path, "b2", 2, list(range(40)), b2, data_seed=2)]
    r = stats.pooled_comparison(ra, rb, n_boot=2000)
    assert r.method == stats.SEEDS_T and r.seeds == 2 and r.n == 100
    diffs = [100 * 8 / 60, -100 * 2 / 40]
    assert r.diff == pytest.approx(np.mean(diffs))
    half = 12.706204736 * np.std(diffs, ddof=1) / np.sqrt(2)                   # t(0.975, 1 df)
    assert (r.low, r.high) == pytest.approx((r.diff - half, r.diff + half))
    # one seed: no spread over seeds to measure, the question bootstrap of that seed
    one = stats.pooled_comparison(ra[:1], rb[:1], n_boot=2000, seed=3)
    assert one == dataclasses.replace(stats.paired_bootstrap(a1, b1, n_boot=2000, seed=3), method="questions")
    # Same question ids but another draw: still nested (ids are not questions across draws).
    same_ids = [_fake_run(tmp_path, "c1", 1, list(range(40)), a2, data_seed=1),
                _fake_run(tmp_path, "c2", 2, list(range(40)), a2, data_seed=2)]
    other = [_fake_run(tmp_path, "d1", 1, list(range(40)), b2, data_seed=1),
             _fake_run(tmp_path, "d2", 2, list(range(40)), b2, data_seed=2)]
    assert stats.pooled_comparison(same_ids, other, n_boot=100).method == stats.SEEDS_T
    with pytest.raises(ValueError, match="read different data"):
        stats.pooled_comparison([ra[0]], [_fake_run(tmp_path, "e1", 1, list(range(60)), b1, data_seed=9)], n_boot=10)


def test_hierarchical_bootstrap_of_identical_models_is_no_difference():
    a1, _ = correctness(both=30, a_only=10, b_only=0, neither=20, seed=1)
    a2, _ = correctness(both=10, a_only=5, b_only=0, neither=25, seed=2)
    r = stats.hierarchical_bootstrap([a1, a2], [a1.copy(), a2.copy()], n_boot=500)
    assert (r.diff, r.low, r.high, r.pvalue) == (0.0, 0.0, 0.0, 1.0)


def test_hierarchical_bootstrap_with_one_seed_is_the_question_bootstrap():
    a, b = correctness(both=300, a_only=40, b_only=20, neither=140)
    nested = stats.hierarchical_bootstrap([a], [b], n_boot=5_000, seed=4)
    assert nested == dataclasses.replace(stats.paired_bootstrap(a, b, n_boot=5_000, seed=4), method="questions")


def test_hierarchical_bootstrap_counts_the_seed_noise():
    """Seed 1 is 10 points ahead on its 1,000 questions, seed 2 is 50 ahead on its 800: the question noise alone
    is about +-2 points, so an interval spanning most of 10..50 can only come from resampling the seeds."""
    a1, b1 = correctness(both=400, a_only=100, b_only=0, neither=500, seed=1)
    a2, b2 = correctness(both=300, a_only=400, b_only=0, neither=100, seed=2)
    r = stats.hierarchical_bootstrap([a1, a2], [b1, b2], n_boot=4_000)
    assert r.diff == pytest.approx(30.0)
    assert r.low < 15 and r.high > 45
    alone = stats.hierarchical_bootstrap([a1], [b1], n_boot=4_000)
    assert alone.high - alone.low < 5
    with pytest.raises(ValueError, match="same number"):
        stats.hierarchical_bootstrap([a1, a2], [b1])
    with pytest.raises(ValueError, match="one answer of each model"):
        stats.hierarchical_bootstrap([a1], [b2])


def test_hierarchical_bootstrap_keeps_its_level_under_the_null():
    """Two equally good models, 3 seeds, each seed with its own 250-350 questions of varied difficulty and a
    seed effect on each model (sd 2 points of skill): over 1,000 simulated studies the test rejects "no
    difference" at p < 0.05 in 2.5 % to 7.5 % of them (about 3 binomial sd around the nominal 5 %)."""
    rng = np.random.default_rng(0)
    p = []
    for k in range(1000):
        a, b = [], []
        for q in rng.integers(250, 351, size=3):
            difficulty = rng.uniform(0.05, 0.95, q)
            a.append(rng.random(q) < np.clip(difficulty + rng.normal(0, 0.02), 0, 1))
            b.append(rng.random(q) < np.clip(difficulty + rng.normal(0, 0.02), 0, 1))
        p.append(stats.hierarchical_bootstrap(a, b, n_boot=500, seed=k).pvalue)
    assert 0.025 <= np.mean(np.array(p) < 0.05) <= 0.075


# -------------------------------------------------------------------------------------------------------- power
def _t_power(delta: float, se: float, seeds: int = 3) -> float:
    """Power of the two-sided t test on ``seeds`` normal values whose mean has standard error ``se``."""
    from scipy.stats import nct, t
    crit, ncp = t.ppf(0.975, seeds - 1), delta / se
    return float(nct.sf(crit, seeds - 1, ncp) + nct.cdf(-crit, seeds - 1, ncp))


def test_power_simulation_follows_the_t_test_over_seeds():
    """No difference: rejections near the level; a difference: the power of a t test on 3 seeds (noncentral t,
    the seeds' sd being the seed-and-draw sd and the question sd together); the detectable difference shrinks with
    more questions and grows with the seed-and-draw noise."""
    size = stats.rejection_rate(0.0, 2000, 0.3, 0.5, n_sim=300, n_boot=400)
    assert 0.02 <= size <= 0.09
    se = np.sqrt((0.5 ** 2 + 1e4 * 0.3 / 2000) / 3)
    assert stats.rejection_rate(5.0, 2000, 0.3, 0.5, n_sim=200) == pytest.approx(_t_power(5.0, se), abs=0.08)
    small = stats.minimum_detectable_difference(4000, 0.3, 0.0, n_sim=150, n_boot=300, tol=0.1)
    large = stats.minimum_detectable_difference(1000, 0.3, 0.0, n_sim=150, n_boot=300, tol=0.1)
    noisy = stats.minimum_detectable_difference(4000, 0.3, 2.0, n_sim=150, n_boot=300, tol=0.1)
    assert small < large and small < noisy
    # Without seed noise: 80 % power of the t test at 5.65 standard errors of the mean over 3 seeds
    se = 100 * np.sqrt(0.3 / 4000 / 3)
    assert _t_power(5.65 * se, se) == pytest.approx(0.8, abs=0.01)
    assert small == pytest.approx(5.65 * se, rel=0.15)


def test_t_over_seeds_keeps_its_level_where_the_seed_bootstrap_does_not():
    """Under the null, 3 seeds on draws of their own: the chapters' test (t over seeds) rejects at about 5 % whether
    the seeds add no noise of their own or 4 times the question noise; the nested bootstrap rejects far more
    often once the seeds' noise dominates (3 resampled seeds underestimate the spread between seeds)."""
    question_sd = 100 * np.sqrt(0.25 / 3600)
    for spread in (0.0, 4.0):
        assert 0.025 <= stats.rejection_rate(0.0, 3600, 0.25, spread * question_sd, n_sim=600) <= 0.08
    rng, boot_hits = np.random.default_rng(0), 0
    for i in range(200):
        d = 4 * question_sd * rng.standard_normal(3) / 100
        cells = [(3600, *rng.multinomial(3600, [(0.25 + x) / 2, (0.25 - x) / 2, 0.75])[:2]) for x in d]
        boot_hits += stats.hierarchical_bootstrap_counts(cells, n_boot=300, seed=i).pvalue < 0.05
    assert boot_hits / 200 > 0.12


def test_t_over_seeds():
    r = stats.t_over_seeds([1.0, 2.0, 3.0], questions=30)
    assert (r.diff, r.seeds, r.n, r.method) == (2.0, 3, 30, stats.SEEDS_T)
    assert (r.low, r.high) == pytest.approx((2.0 - 4.302652730 / np.sqrt(3), 2.0 + 4.302652730 / np.sqrt(3)))
    assert r.pvalue == pytest.approx(0.0741799, rel=1e-5)            # scipy.stats.ttest_1samp([1, 2, 3], 0)
    assert stats.t_over_seeds([0.0, 0.0]).pvalue == 1.0 and stats.t_over_seeds([1.0, 1.0]).low == 1.0
    with pytest.raises(ValueError, match="two seeds"):
        stats.t_over_seeds([1.0])
    with pytest.raises(ValueError, match="finite"):
        stats.t_over_seeds([1.0, float("nan")])


def test_comparison_inputs_from_runs(tmp_path):
    a1, b1 = correctness(both=30, a_only=12, b_only=4, neither=14, seed=1)
    a2, b2 = correctness(both=20, a_only=3, b_only=5, neither=12, seed=2)
    runs_a = [_fake_run(tmp_path, "a1", 1, list(range(60)), a1, 1), _fake_run(tmp_path, "a2", 2, list(range(40)), a2, 2)]
    runs_b = [_fake_run(tmp_path, "b1", 1, list(range(60)), b1, 1), _fake_run(tmp_path, "b2", 2, list(range(40)), b2, 2)]
    x = stats.comparison_inputs(runs_a, runs_b, columns=("overall",)).loc["overall"]
    assert (x["seeds"], x["questions"]) == (2, 50)
    assert x["discordant"] == pytest.approx((16 / 60 + 8 / 40) / 2)
    assert x["difference"] == pytest.approx((100 * 8 / 60 - 100 * 2 / 40) / 2)
    q_var = np.mean([1e4 * (16 / 60 - (8 / 60) ** 2) / 60, 1e4 * (8 / 40 - (2 / 40) ** 2) / 40])
    excess = np.var([100 * 8 / 60, -100 * 2 / 40], ddof=1) - q_var
    assert x["seed-and-draw sd"] == pytest.approx(np.sqrt(max(excess, 0)))
    assert x["question sd"] == pytest.approx(np.sqrt(q_var))
    inputs = stats.comparison_inputs(runs_a, runs_b)
    table = stats.power_table(inputs, {"overall": 3000, "Audio": 3000}, n_sim=40, n_boot=100)
    assert list(table.index) == ["overall"]          # the fake runs hold no Audio questions: left out
    row = table.loc["overall"]
    assert row["seed-and-draw sd, = question sd (points)"] >= row["seed-and-draw sd, measured (points)"]
    assert 0 <= row["size, measured"] <= 1
    # the two seeds differ by 18 points: 3 seeds would need a difference beyond what 23 % discordant allows
    assert math.isnan(row["minimum detectable difference, measured (points)"])
    calm = stats.power_table(inputs.assign(**{"seed-and-draw sd": 0.0}), {"overall": 3000}, n_sim=40, n_boot=100)
    assert 0 < calm.loc["overall", "minimum detectable difference, measured (points)"] < 23


def test_two_level_bootstrap_keeps_its_level_under_the_null():
    """Two equally good models, 3 seeds with a seed effect, 300 questions of varied difficulty: the test rejects
    "no difference" at about the nominal 5 % (a question-only bootstrap of the seed means rejects far more
    often here, since it ignores the seeds)."""
    rng = np.random.default_rng(0)

    def model(difficulty):   # one model's answers over 3 seeds: each seed shifts its skill a little
        return np.stack([rng.random(len(difficulty)) < np.clip(difficulty + rng.normal(0, 0.03), 0, 1)
                         for _ in range(3)])

    p = []
    for k in range(200):
        difficulty = rng.uniform(0.05, 0.95, 300)
        p.append(stats.two_level_bootstrap(model(difficulty), model(difficulty), n_boot=500, seed=k).pvalue)
    assert np.mean(np.array(p) < 0.05) <= 0.08
