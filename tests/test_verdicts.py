"""The one verdict rule (mcd.study.verdicts): for each shape of claim (a comparison, a claim of several comparisons,
a level, a quantity per seed) a case that holds, one that does not and one that cannot be decided, on fake run
folders, each seed on its own data draw."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mcd import stats
from mcd.io import atomic_write_csv, atomic_write_json, atomic_write_text
from mcd.runs import Run
from mcd.study import verdicts
from mcd.study.verdicts import FAILS, HOLDS, UNDECIDED, Claim, Comparison, Level

MODALITY = {"A-Count": "Audio", "V-Loc": "Visual", "AV-Exist": "Audio-Visual"}


def fake_run(path, seed: int, correct, types=None, *, synth: bool = True) -> Run:
    """A run folder: config (seed, and the SynthAVQA draw of that seed unless ``synth`` is off), per-question test
    predictions and the scores they give (None for a column without questions, as the evaluator writes)."""
    correct = np.asarray(correct, dtype=bool)
    types = list(types) if types is not None else ["A-Count"] * len(correct)
    pred = pd.DataFrame({"question_id": range(len(correct)), "type": types,
                         "modality": [MODALITY[t] for t in types], "correct": correct})
    data = (f"data:\n  root: data/s{seed}\n  synth_profile: tiny\n  synth_seed: {seed}\n" if synth
            else "data:\n  root: data/real\n  version: json_update\n  synth_profile: null\n")
    atomic_write_text(path / "config.yaml", f"train:\n  seed: {seed}\n{data}")
    atomic_write_csv(path / "predictions_test.csv", pred)

    def acc(mask):
        return 100.0 * pred.loc[mask, "correct"].mean() if mask.any() else None
    scores = {c: acc(pred["modality"] == c) for c in ("Audio", "Visual", "Audio-Visual")}
    scores |= {t: acc(pred["type"] == t) for t in MODALITY} | {"overall": acc(pred["correct"].notna()),
                                                               "n": len(pred)}
    atomic_write_json(path / "scores.json", {"test": scores})
    return Run(path)


def pair(tmp_path, name: str, margins, questions: int = 400, types=None, seed: int = 0):
    """Runs A and B over len(margins) seeds, each seed its own draw of ``questions`` questions, A answering
    ``margins[s]`` more of them right than B (B right on half; A differs from B on a fifth plus the margin)."""
    rng = np.random.default_rng(seed)
    runs_a, runs_b = [], []
    for s, m in enumerate(margins, start=1):
        b = rng.random(questions) < 0.5
        a = b.copy()
        wrong, right = np.flatnonzero(~b), np.flatnonzero(b)
        swap = questions // 10
        a[rng.choice(wrong, swap + max(m, 0), replace=False)] = True          # A right where B is wrong
        a[rng.choice(right, swap + max(-m, 0), replace=False)] = False        # A wrong where B is right
        runs_a.append(fake_run(tmp_path / f"{name}-a{s}", s, a, types))
        runs_b.append(fake_run(tmp_path / f"{name}-b{s}", s, b, types))
    return runs_a, runs_b


# ------------------------------------------------------------------------------------------------------ the rule
def test_decide_on_every_region():
    better, worse, same = (verdicts.REGIONS[k] for k in ("better", "worse", "no different"))
    assert verdicts.decide(0.1, 3.0, better) == HOLDS
    assert verdicts.decide(-0.5, 3.0, better) == UNDECIDED
    assert verdicts.decide(-3.0, 0.0, better) == FAILS                  # at or below 0: the opposite
    assert verdicts.decide(0.0, 2.0, better) == UNDECIDED               # touching 0 is not "above"
    assert verdicts.decide(-3.0, -0.1, worse) == HOLDS and verdicts.decide(0.2, 1.0, worse) == FAILS
    assert verdicts.decide(0.0, 0.0, same) == HOLDS                     # identical models only
    assert verdicts.decide(-1.0, 1.0, same) == UNDECIDED and verdicts.decide(0.5, 1.0, same) == FAILS
    band = Level("a", paper=51.24, tolerance=2.0).region
    assert verdicts.decide(50.0, 52.0, band) == HOLDS
    assert verdicts.decide(48.0, 50.0, band) == UNDECIDED
    assert verdicts.decide(54.0, 56.0, band) == FAILS
    assert verdicts.decide(math.nan, 1.0, better) == UNDECIDED


def test_combine_all_hold_any_opposite():
    assert verdicts.combine([HOLDS, HOLDS]) == HOLDS
    assert verdicts.combine([HOLDS, UNDECIDED]) == UNDECIDED
    assert verdicts.combine([HOLDS, UNDECIDED, FAILS]) == FAILS
    with pytest.raises(ValueError):
        verdicts.combine([])
    with pytest.raises(ValueError):
        verdicts.combine(["holds", "maybe"])


# ---------------------------------------------------------------------------------------------- one comparison
def test_comparison_holds_fails_or_cannot_be_decided(tmp_path):
    runs = {}
    runs["up_a"], runs["up_b"] = pair(tmp_path, "up", [40, 36, 44])           # about +10 points in every seed
    runs["down_a"], runs["down_b"] = pair(tmp_path, "down", [-40, -30, -36])
    runs["mixed_a"], runs["mixed_b"] = pair(tmp_path, "mixed", [40, -32, 12])  # the seeds disagree
    rows = verdicts.judge([Comparison("up_a", "up_b"), Comparison("down_a", "down_b"),
                           Comparison("mixed_a", "mixed_b")], runs, n_boot=200)
    assert rows["status"].tolist() == [HOLDS, FAILS, UNDECIDED]
    assert rows["interval over"].tolist() == ["3 seeds (t, 2 df)"] * 3
    # the interval is stats.pooled_comparison's: t over the three seeds' differences
    mixed = stats.t_over_seeds([100 * 40 / 400, -100 * 32 / 400, 100 * 12 / 400])
    assert (rows.loc[2, "ours"], rows.loc[2, "low"], rows.loc[2, "high"]) == pytest.approx(
        (mixed.diff, mixed.low, mixed.high))
    # the same runs, claimed the other way
    worse = verdicts.judge([Comparison("up_a", "up_b", "worse"), Comparison("down_a", "down_b", "worse")], runs)
    assert worse["status"].tolist() == [FAILS, HOLDS]


def test_comparison_on_a_column_uses_its_questions_only(tmp_path):
    """A leads on the Audio questions only: better overall and on Audio, not on Visual; a column without questions
    cannot be decided."""
    types = ["A-Count"] * 200 + ["V-Loc"] * 200
    runs_a, runs_b = [], []
    for s in (1, 2, 3):
        b = np.zeros(400, dtype=bool)
        b[::2] = True
        a = b.copy()
        a[1:200:2][: 30 + s] = True                 # A right on 31-33 more Audio questions
        runs_a.append(fake_run(tmp_path / f"a{s}", s, a, types))
        runs_b.append(fake_run(tmp_path / f"b{s}", s, b, types))
    runs = {"A": runs_a, "B": runs_b}
    rows = verdicts.judge([Comparison("A", "B"), Comparison("A", "B", column="Audio"),
                           Comparison("A", "B", column="Visual"), Comparison("A", "B", column="A-Count"),
                           Comparison("A", "B", column="Audio-Visual")], runs).set_index("column")
    assert rows.loc["Audio", "ours"] == pytest.approx(100 * 32 / 200)
    assert rows.loc["A-Count", "ours"] == rows.loc["Audio", "ours"]
    assert rows.loc["overall", "status"] == HOLDS and rows.loc["Audio", "status"] == HOLDS
    assert rows.loc["Visual", "ours"] == 0.0 and rows.loc["Visual", "status"] == FAILS    # [0, 0]: not better
    assert rows.loc["Audio-Visual", "status"] == UNDECIDED
    assert "no Audio-Visual questions" in rows.loc["Audio-Visual", "interval over"]
    missing = verdicts.judge_part(Comparison("A", "C"), runs)
    assert missing["status"] == UNDECIDED and "no runs for C" in missing["interval over"]


def test_one_seed_is_judged_on_its_questions_and_says_so(tmp_path):
    a, b = pair(tmp_path, "one", [60], questions=600)
    row = verdicts.judge_part(Comparison("A", "B"), {"A": a, "B": b}, n_boot=2000)
    assert row["interval over"] == "questions (one seed)" and row["status"] == HOLDS


# ------------------------------------------------------------------------------------ claims of several parts
def test_claim_of_several_comparisons(tmp_path):
    margins = {"x": [40, 36, 44], "y": [32, 40, 36], "z": [-44, -36, -40], "u": [40, -32, 12]}
    runs, part = {}, {}
    for k, m in margins.items():
        runs[("t", f"{k} A")], runs[("t", f"{k} B")] = pair(tmp_path, k, m)
        part[k] = Comparison(("t", f"{k} A"), ("t", f"{k} B"), name=f"{k}: A - B")

    def judged(*names):
        return verdicts.judge_claim(Claim("C0", "each part helps", "Table 0", tuple(part[n] for n in names)),
                                    runs, n_boot=200)

    assert judged("x", "y").status == HOLDS
    assert judged("x", "u").status == UNDECIDED
    v = judged("x", "u", "z")
    assert v.status == FAILS and v.decisive["comparison"] == "z: A - B"
    from mcd.data.synth import SYNTH_VERSION
    assert v.data == f"SynthAVQA v{SYNTH_VERSION} 'tiny' test, a draw per seed (seeds 1, 2, 3)"
    assert verdicts.summary(v).startswith("does not hold: 1 of 3 parts hold, 1 do not")
    table = verdicts.claims_frame([v, judged("x", "y")], "tiny")
    assert table["status"].tolist() == [FAILS, HOLDS] and table.loc[1, "parts holding"] == "2 of 2"


def test_claim_parts_of_one_chapter_are_keyed_by_its_labels(tmp_path):
    claim = Claim("C0", "s", "x", (Comparison(("fig", "v"), ("fig", "none"), "worse"),
                                    Comparison(("table", "Q+A+V"), ("table", "Q+V"), "worse")))
    (only,) = claim.in_chapter("fig")
    assert (only.a, only.b, only.direction) == ("v", "none", "worse")
    assert claim.in_chapter("other") == ()
    with pytest.raises(ValueError, match="no part in chapter"):
        verdicts.judge_claim(claim, {}, chapter="other")


# ------------------------------------------------------------------------------------------------------ a level
def test_level_claim_holds_fails_or_cannot_be_decided(tmp_path):
    """One run on the real questions: the question bootstrap of its accuracy against 51.24 +- 2 points."""
    rng = np.random.default_rng(0)

    def run(name, accuracy, questions):
        correct = np.zeros(questions, dtype=bool)
        correct[rng.choice(questions, int(round(accuracy * questions)), replace=False)] = True
        return [fake_run(tmp_path / name, 1, correct, synth=False)]

    runs = {"near": run("near", 0.51, 9000), "far": run("far", 0.60, 9000), "few": run("few", 0.495, 150)}
    rows = verdicts.judge([Level(k, paper=51.24) for k in runs], runs, n_boot=4000)
    assert rows["status"].tolist() == [HOLDS, FAILS, UNDECIDED]
    assert rows["interval over"].tolist() == ["questions (one seed)"] * 3
    assert rows.loc[0, "ours"] == pytest.approx(51.0)
    # the question bootstrap of one accuracy: about +-1.96 binomial standard errors
    se = 100 * np.sqrt(0.51 * 0.49 / 9000)
    assert rows.loc[0, "high"] - rows.loc[0, "low"] == pytest.approx(2 * 1.96 * se, rel=0.1)
    assert verdicts.measured_on(runs["near"]) == "Music-AVQA json_update test, real questions (seed 1)"


# ------------------------------------------------------------------------------------------ a quantity per seed
def test_values_per_seed_use_the_t_over_seeds():
    assert verdicts.judge_values("gap", [2.0, 2.5, 3.0])["status"] == HOLDS
    assert verdicts.judge_values("gap", [-2.0, -2.5, -3.0])["status"] == FAILS
    assert verdicts.judge_values("gap", [2.0, -1.0, 0.5])["status"] == UNDECIDED
    one = verdicts.judge_values("gap", [2.0])
    assert one["status"] == UNDECIDED and one["ours"] == 2.0 and one["interval over"] == "needs two seeds or more"


# ----------------------------------------------------------------------------------------------- the paper's claims
def test_paper_claims_name_the_chapters_runs_and_the_papers_numbers():
    from mcd.paper import paper_table
    from mcd.study import chapters
    claims = verdicts.paper_claims()
    assert list(claims) == [f"C{i}" for i in range(1, 9)]
    c6 = {p.label: p.paper for p in claims["C6"].parts}
    t8 = paper_table("VIII").set_index("method")["overall"]
    assert c6["N=2 - N=1"] == pytest.approx(t8["MCD AB N=2"] - t8["MCD AB N=1"])
    assert claims["C8"].parts[0].paper == paper_table("II").query("question == 1 and audio == 0 and visual == 0")[
        "overall"].item()
    assert all(p.paper is None for p in claims["C1"].parts[2:])       # Fig. 5 gives curves, no number
    # every run a claim names is one a chapter declares, and the claims page reads exactly those
    named = {k for c in claims.values() for k in c.runs_named()}
    declared = chapters.claims("tiny")
    assert set(declared) <= named
    assert named - set(declared) <= {("real_questions", "learned Q-only LSTM")}   # absent without the annotations


def test_tables_are_tidy():
    rows = pd.DataFrame([verdicts.judge_values("x", [1.5, 2.0, 2.5]), verdicts.judge_values("y", [1.0])])
    shown = verdicts.parts_frame(rows)
    assert shown.loc[1, "95 % interval"] == "–" and shown.loc[1, "paper (Music-AVQA)"] == "–"
    assert shown.loc[0, "ours"] == "+2.00" and shown.loc[0, "95 % interval"].startswith("[")
    html = verdicts.styled(shown).to_html()
    assert verdicts.STATUS_COLOURS[HOLDS].split(": ")[1] in html
