"""Fig. 6 as a measurement: AVST's most attended steps, precision and recall of selected seconds against known
evidence, the exact random reference, and the nested bootstrap (checked against mcd.stats')."""
from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from mcd import grounding as gr
from mcd import stats
from mcd.errors import DataError
from mcd.models.avst import AVST, AVSTConfig
from mcd.models.base import InputDims
from mcd.models.mcd import Aggregator, MCDConfig


# ------------------------------------------------------------------------------------------- AVST's selection
@pytest.mark.parametrize("seconds", [10, 7, 1])
def test_avst_reports_its_most_attended_steps_as_many_as_mcd_keeps(seconds):
    torch.manual_seed(0)
    dims = InputDims(audio_dim=12, visual_dim=20, patch_dim=16, num_patches=4, seconds=seconds, vocab_size=30,
                     num_answers=7)
    model = AVST(AVSTConfig(dim=16, heads=4, match_hidden=[8]), dims).eval()
    weights = {}
    for name in ("temporal_v", "temporal_a"):
        getattr(model, name).register_forward_hook(lambda m, i, o, name=name: weights.__setitem__(name, o[1]))
    g = torch.Generator().manual_seed(1)
    batch = {"audio": torch.randn(5, seconds, 12, generator=g), "visual": torch.randn(5, seconds, 20, generator=g),
             "patches": torch.randn(5, seconds, 4, 16, generator=g),
             "question": torch.randint(1, 30, (5, 14), generator=g)}
    out = model(batch)
    k = Aggregator(MCDConfig(dim=16, heads=4)).num_clues(seconds)            # MCD's Top-k/2 size rule
    for key, name in (("clues_v", "temporal_v"), ("clues_a", "temporal_a")):
        idx = out.extras[key]
        assert idx.shape == (5, k)
        assert torch.equal(idx, idx.sort(dim=1).values)                      # in time order
        w = weights[name].squeeze(1)                                         # [B, T], averaged over heads
        assert torch.allclose(w.sum(1), torch.ones(5))
        top = w.gather(1, idx)
        rest = w.masked_fill(torch.zeros_like(w, dtype=torch.bool).scatter(1, idx, True), -1.0)
        assert (top.min(1).values >= rest.max(1).values).all()               # none left out weighs more
    assert set(out.extras) == {"clues_v", "clues_a"} and out.losses == {}


def test_avst_prediction_tables_carry_the_selected_seconds_at_its_stride(toy_cfg, toy_root):
    from mcd.runs import get_or_train
    cfg = toy_cfg("model.name=avst", "model.avst.dim=16", "model.avst.match_hidden=[8]", "data.patch_feats=patches",
                  "data.stride=2")
    pred = get_or_train(cfg).predictions("test")
    for column in ("clues_v", "clues_a"):
        picked = [gr.selected_seconds(c) for c in pred[column]]
        assert all(len(p) == 1 and p[0] in (0, 2, 4) for p in picked)      # 3 steps of 6 s -> 1 clue, even seconds
    evidence = {str(q): [2, 3] for q in pred["question_id"]}
    scores = gr.selection_scores(pred, evidence, column="clues_v", grid=gr.time_grid(6, 2))
    hit = np.array([p == (2,) for p in map(gr.selected_seconds, pred["clues_v"])])
    assert (scores["evidence"] == 1).all()                                   # only second 2 is on the grid
    assert np.array_equal(scores["precision"].to_numpy(), hit.astype(float))


# ---------------------------------------------------------------------------------------- reading evidence
def test_read_evidence_and_its_errors(tmp_path):
    path = tmp_path / "evidence.json"
    path.write_text(json.dumps({"7": {"seconds": [4, 2, 2], "positions": ["left"]}, "9": {"seconds": []}}))
    assert gr.read_evidence(path) == {"7": (2, 4), "9": ()}
    path.write_text(json.dumps({"7": {"seconds": [1]}, "8": {"seconds": [1, -2]}}))
    with pytest.raises(DataError, match=r"record 1 \(question_id 8\).*seconds"):
        gr.read_evidence(path)
    path.write_text(json.dumps({"7": {"positions": []}}))
    with pytest.raises(DataError, match=r"record 0 .*seconds"):
        gr.read_evidence(path)
    path.write_text("[1, 2]")
    with pytest.raises(DataError, match="must map question ids"):
        gr.read_evidence(path)


# --------------------------------------------------------------------------------------------- per question
def _pred(rows) -> pd.DataFrame:
    """A prediction table: (question id, video, type, clues) per row."""
    return pd.DataFrame([{"question_id": q, "video_id": v, "type": t, "template": f"tpl {t}", "answer": "yes",
                          "predicted": "yes", "correct": True, "clues_v": c} for q, v, t, c in rows])


def test_precision_and_recall_of_hand_made_selections():
    pred = _pred([(1, "a", "A-Count", "2 3 8 9 0"),      # evidence 2-5: hits 2, 2/5 picked, 2/4 found
                  (2, "a", "A-Count", "4"),              # evidence {4}: hits 1 -> 1 and 1 (set as an int below)
                  (3, "b", "V-Loc", "0 1 2 3 4"),        # evidence the whole video: not informative
                  (4, "b", "A-Comp", "0 1 2 3 4")])      # evidence empty: not informative
    pred["clues_v"] = pred["clues_v"].astype(object)
    pred.loc[1, "clues_v"] = 4
    evidence = {"1": (2, 3, 4, 5), "2": (4,), "3": tuple(range(10)), "4": ()}
    s = gr.selection_scores(pred, evidence, column="clues_v", grid=range(10))
    assert s["hits"].tolist() == [2, 1, 5, 0] and s["evidence"].tolist() == [4, 1, 10, 0]
    assert s["informative"].tolist() == [True, True, False, False]
    assert s["precision"].iloc[:2].tolist() == [0.4, 1.0] and s["recall"].iloc[:2].tolist() == [0.5, 1.0]
    assert s["precision"].iloc[2:].isna().all() and s["recall"].iloc[2:].isna().all()


def test_a_coarser_grid_scores_recall_on_the_seconds_it_sees():
    pred = _pred([(1, "a", "A-Count", "0 2 4"), (2, "a", "A-Count", "0 2 4")])
    evidence = {"1": (1, 2, 3), "2": (1, 3)}                  # on the even grid: {2}, and nothing
    s = gr.selection_scores(pred, evidence, column="clues_v", grid=gr.time_grid(10, 2))
    assert s.loc[0, ["hits", "evidence"]].tolist() == [1, 1]
    assert s.loc[0, "precision"] == pytest.approx(1 / 3) and s.loc[0, "recall"] == 1.0
    assert not s.loc[1, "informative"]                        # no evidence second on the grid


def test_bad_selections_name_the_table_row_and_field():
    evidence = {"1": (2,), "2": (2,)}
    with pytest.raises(DataError, match=r"run-x, record 1 \(question_id 2\).*clues_v"):
        gr.selection_scores(_pred([(1, "a", "A-Count", "2"), (2, "a", "A-Count", "1 3")]), evidence,
                            column="clues_v", grid=range(0, 10, 2), source="run-x")        # 1, 3 are off the grid
    with pytest.raises(DataError, match=r"record 0 .*clues_v"):
        gr.selection_scores(_pred([(1, "a", "A-Count", "2 2")]), evidence, column="clues_v", grid=range(10))
    with pytest.raises(DataError, match=r"record 0 .*clues_v"):
        gr.selection_scores(_pred([(1, "a", "A-Count", float("nan"))]), evidence, column="clues_v",
                            grid=range(10))
    with pytest.raises(DataError, match="no 'clues_a' column.*retrained"):
        gr.selection_scores(_pred([(1, "a", "A-Count", "2")]), evidence, column="clues_a", grid=range(10))
    with pytest.raises(DataError, match=r"record 0 \(question_id 5\).*no entry in the evidence"):
        gr.selection_scores(_pred([(5, "a", "A-Count", "2")]), evidence, column="clues_v", grid=range(10))


@pytest.mark.parametrize("evidence,stride", [((1, 4), 1), ((0, 1, 2, 5), 1), ((3,), 1), ((0, 1, 2, 3, 5, 7), 2)])
def test_random_reference_is_the_exact_expectation_over_every_selection(evidence, stride):
    grid = gr.time_grid(8, stride)
    size = len(grid) // 2
    pred = _pred([(1, "a", "A-Count", "")])
    ref = gr.chance_scores(pred, {"1": evidence}, size=size, grid=grid)
    e = set(evidence) & set(grid)
    subsets = list(itertools.combinations(grid, size))            # every selection, equally likely
    precision = np.mean([len(e & set(s)) / size for s in subsets])
    recall = np.mean([len(e & set(s)) / len(e) for s in subsets])
    rnd = ref[gr.RANDOM].iloc[0]
    assert rnd["precision"] == pytest.approx(precision, abs=1e-12) == pytest.approx(len(e) / len(grid))
    assert rnd["recall"] == pytest.approx(recall, abs=1e-12) == pytest.approx(size / len(grid))
    best = max(len(e & set(s)) for s in subsets)
    assert ref[gr.BEST].iloc[0]["hits"] == best
    assert ref[gr.BEST].iloc[0]["precision"] == best / size and ref[gr.BEST].iloc[0]["recall"] == best / len(e)


# ------------------------------------------------------------------------------------------- runs and tables
@dataclass
class FakeRun:
    """What grounding reads of a run: its path, config and prediction tables."""
    path: Path
    table: pd.DataFrame
    seconds: int = 10
    stride: int = 1
    seed: int = 1

    @property
    def config(self) -> dict:
        return {"data": {"root": f"data/s{self.seed}", "synth_profile": "tiny", "synth_seed": self.seed,
                         "seconds": self.seconds, "stride": self.stride}}

    def predictions(self, split: str = "test") -> pd.DataFrame:
        return self.table


def _two_seeds():
    """Seed 1: q1 (evidence 0-3, picked 0 1 8 9: P 1/2, R 1/2), q2 (evidence {5}, picked 5 6 7 8: P 1/4, R 1),
    q3 visual (whole video). Seed 2: q10 (evidence 0-7, picked 0-3: P 1, R 1/2). Model B picks 6-9 everywhere."""
    a1 = _pred([(1, "a", "A-Count", "0 1 8 9"), (2, "a", "AV-Loc", "5 6 7 8"), (3, "b", "V-Loc", "0 1 2 3")])
    a2 = _pred([(10, "c", "A-Count", "0 1 2 3")])
    b1, b2 = a1.assign(clues_v="6 7 8 9"), a2.assign(clues_v="6 7 8 9")
    evidence = [{"1": (0, 1, 2, 3), "2": (5,), "3": tuple(range(10))}, {"10": tuple(range(8))}]
    runs_a = [FakeRun(Path("a1"), a1, seed=1), FakeRun(Path("a2"), a2, seed=2)]
    runs_b = [FakeRun(Path("b1"), b1, seed=1), FakeRun(Path("b2"), b2, seed=2)]
    return [gr.Selector("A", runs_a, "clues_v"), gr.Selector("B", runs_b, "clues_v")], evidence


def test_summary_values_are_the_mean_over_seeds_of_each_seeds_measure():
    selectors, evidence = _two_seeds()
    scores = gr.grounding_scores(selectors, evidence)
    assert list(dict.fromkeys(scores["selector"])) == ["A", "B", gr.RANDOM, gr.BEST]
    table = gr.summarise(scores, n_boot=200).set_index(["type", "selector", "measure"])["value"]
    # all scored questions: seed 1 has q1 and q2, seed 2 has q10
    assert table[(gr.ALL, "A", "precision")] == pytest.approx(100 * ((0.5 + 0.25) / 2 + 1.0) / 2)
    assert table[(gr.ALL, "A", "recall")] == pytest.approx(100 * ((0.5 + 1.0) / 2 + 0.5) / 2)
    assert table[(gr.ALL, "A", "pooled recall")] == pytest.approx(100 * ((2 + 1) / (4 + 1) + 4 / 8) / 2)
    assert table[(gr.ALL, "A", "pooled precision")] == pytest.approx(table[(gr.ALL, "A", "precision")])
    # random: |E| / T and m / T, exactly
    assert table[(gr.ALL, gr.RANDOM, "precision")] == pytest.approx(100 * ((0.4 + 0.1) / 2 + 0.8) / 2)
    assert table[(gr.ALL, gr.RANDOM, "recall")] == pytest.approx(40.0)
    # per type: A-Count has q1 (seed 1) and q10 (seed 2); AV-Loc only seed 1's q2
    assert table[("A-Count", "A", "precision")] == pytest.approx(100 * (0.5 + 1.0) / 2)
    assert table[("AV-Loc", "B", "recall")] == pytest.approx(0.0)
    assert "V-Loc" not in table.index.get_level_values("type")              # never informative


def test_paired_differences_are_the_differences_of_the_summaries():
    selectors, evidence = _two_seeds()
    scores = gr.grounding_scores(selectors, evidence)
    summary = gr.summarise(scores, n_boot=300, seed=3).set_index(["type", "selector", "measure"])["value"]
    diffs = gr.differences(scores, [("A", gr.RANDOM), ("A", "B")], n_boot=300, seed=3)
    d = diffs.set_index(["type", "comparison", "measure"])
    for t in (gr.ALL, "A-Count"):
        for other in (gr.RANDOM, "B"):
            for m in ("precision", "recall"):
                assert d.loc[(t, f"A - {other}", m), "value"] == pytest.approx(summary[(t, "A", m)]
                                                                               - summary[(t, other, m)])
                assert d.loc[(t, f"A - {other}", m), "low"] <= d.loc[(t, f"A - {other}", m), "high"]
    wide = gr.interval_table(diffs, "precision", by="comparison")
    assert list(wide.columns) == ["questions", "A - random", "A - B"] and wide.index[-1] == gr.ALL
    assert wide.loc[gr.ALL, "questions"] == 3


def test_scored_questions_are_informative_for_every_selector():
    pred = _pred([(1, "a", "A-Count", "0 1 2 3 4"), (2, "a", "A-Count", "0 1 2 3 4")])
    coarse = pred.assign(clues_v="0 2 4")
    evidence = [{"1": (1,), "2": (1, 2)}]                     # q1 has no evidence on the even grid
    sels = [gr.Selector("fine", [FakeRun(Path("f"), pred)], "clues_v"),
            gr.Selector("coarse", [FakeRun(Path("c"), coarse, stride=2)], "clues_v")]
    scores = gr.grounding_scores(sels, evidence)
    assert set(gr.scored(scores)["question_id"]) == {2}
    assert gr.coverage(scores, "fine").loc["A-Count", "informative"] == 2
    assert gr.coverage(scores, "coarse").loc["A-Count", "informative"] == 1


def test_runs_of_one_seed_must_share_their_draw_and_questions():
    selectors, evidence = _two_seeds()
    other = FakeRun(Path("b2"), selectors[1].runs[1].table, seed=7)
    with pytest.raises(ValueError, match="read different data"):
        gr.grounding_scores([selectors[0], gr.Selector("B", [selectors[1].runs[0], other], "clues_v")], evidence)
    fewer = FakeRun(Path("b1"), selectors[1].runs[0].table.iloc[:2], seed=1)
    with pytest.raises(ValueError, match="different test questions"):
        gr.grounding_scores([selectors[0], gr.Selector("B", [fewer, selectors[1].runs[1]], "clues_v")], evidence)


def test_same_selection_and_seeded_examples():
    rows = [(q, v, "A-Count", "0 1 2 3 4" if v != "c" else f"{q % 5} 6 7 8 9")
            for q, v in [(1, "a"), (2, "a"), (3, "a"), (4, "b"), (5, "b"), (6, "c"), (7, "c"), (8, "d")]]
    pred = _pred(rows)
    evidence = [{str(q): (0, 1) for q, *_ in rows}]
    scores = gr.grounding_scores([gr.Selector("A", [FakeRun(Path("a"), pred)], "clues_v")], evidence)
    same = gr.same_selection(scores)
    assert same.loc["A", "question pairs"] == 3 + 1 + 1                     # videos a, b, c (d has one question)
    assert same.loc["A", "same seconds (%)"] == pytest.approx(100 * 4 / 5)
    ex = gr.example_questions(scores, videos=2, per_video=2, seed=5)
    assert ex["video_id"].nunique() == 2 and "d" not in set(ex["video_id"])  # d has one scored question only
    assert ex.groupby("video_id")["question_id"].nunique().max() <= 2
    assert ex.equals(gr.example_questions(scores, videos=2, per_video=2, seed=5))
    draws = {tuple(gr.example_questions(scores, videos=2, per_video=2, seed=s)["question_id"].unique())
             for s in range(20)}
    assert len(draws) > 1                                                   # the seed decides, not a fixed pick


# ------------------------------------------------------------------------------------------------ bootstrap
def test_nested_bootstrap_agrees_with_the_studys_hierarchical_bootstrap():
    rng = np.random.default_rng(0)
    a = [rng.random(n) < p for n, p in ((300, 0.6), (250, 0.55), (320, 0.65))]
    b = [rng.random(len(x)) < 0.5 for x in a]
    ours = gr.mean_interval([100.0 * (x.astype(int) - y.astype(int)) for x, y in zip(a, b)], n_boot=6000, seed=1)
    theirs = stats.hierarchical_bootstrap(a, b, n_boot=6000, seed=2)
    assert ours.value == pytest.approx(theirs.diff)
    assert ours.low == pytest.approx(theirs.low, abs=1.0) and ours.high == pytest.approx(theirs.high, abs=1.0)
    assert ours.seeds == 3 and ours.questions == 870


def test_nested_bootstrap_spreads_by_questions_and_by_seeds():
    rng = np.random.default_rng(4)
    x = rng.normal(50.0, 10.0, size=400)
    one = gr.mean_interval([x], n_boot=4000, seed=0)                      # one seed: questions only
    half = 1.96 * x.std() / np.sqrt(len(x))
    assert one.value == pytest.approx(x.mean())
    assert (one.high - one.low) / 2 == pytest.approx(half, rel=0.1)
    flat = gr.mean_interval([np.full(30, 7.0)], n_boot=500)               # no spread: a point
    assert flat.low == flat.high == flat.value == 7.0
    seeds = gr.mean_interval([np.full(20, v) for v in (0.0, 10.0, 20.0)], n_boot=4000, seed=0)
    assert seeds.value == 10.0 and 0.0 <= seeds.low < 5.0 and 15.0 < seeds.high <= 20.0   # seeds resampled
    again = gr.mean_interval([x], n_boot=4000, seed=0)
    assert (again.low, again.high) == (one.low, one.high)                  # seeded
    with pytest.raises(ValueError, match="at least one question"):
        gr.mean_interval([x, np.array([])])


# -------------------------------------------------------------------------------------------------- chapter
def test_the_chapter_reads_table3s_runs_and_is_in_the_book():
    from mcd.study import NOTEBOOKS, REPO, chapters
    mine, table3 = chapters.fig6_grounding("tiny"), chapters.table3_sota("tiny")
    assert list(mine) == ["MCD", "AVST"]
    assert all([c.hash() for c in mine[k]] == [c.hash() for c in table3[k]] for k in mine)
    with_me = {c.run_dir() for c in chapters.study_plan("tiny", ["table3_sota", "fig6_grounding"])}
    assert with_me == {c.run_dir() for c in chapters.study_plan("tiny", ["table3_sota"])}   # nothing new to train
    assert "fig6_grounding" in NOTEBOOKS and "fig6_grounding" in chapters.CHAPTERS
    assert "book/generated/fig6_grounding" in (REPO / "_toc.yml").read_text()
    nb = json.loads((REPO / "notebooks" / "fig6_grounding.ipynb").read_text())
    params = [c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", [])]
    assert len(params) == 1 and "profile = None" in "".join(params[0]["source"])


def test_interval_table_layout():
    t = pd.DataFrame([{"type": ty, "selector": sel, "measure": "precision", "value": v, "low": v - 1, "high": v + 1,
                       "questions": q} for ty, q in (("all", 5), ("B-type", 2), ("A-type", 3))
                      for sel, v in (("x", -0.01), ("y", 12.345))])
    wide = gr.interval_table(t, "precision", columns=["y", "x"])
    assert list(wide.index) == ["A-type", "B-type", "all"] and list(wide.columns) == ["questions", "y", "x"]
    assert wide.loc["all", "x"] == "0.0 [-1.0,\u00a01.0]" and wide.loc["A-type", "y"] == "12.3 [11.3,\u00a013.3]"
    assert wide["questions"].tolist() == [3, 2, 5]
