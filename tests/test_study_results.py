"""Kept results: a run kept without checkpoints reads like any run, is found again from another checkout, and is
retrained identically; the study's plan holds each run once."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import mcd.study.profiles as profiles
import mcd.study.results as results
from mcd import bundle
from mcd.runs import Run
from mcd.study import chapters


@pytest.fixture
def kept_repo(tmp_path, monkeypatch):
    """A repository root in tmp_path whose 'tiny' profile keeps its results."""
    repo = tmp_path / "repo"
    monkeypatch.setattr(profiles, "REPO", repo)
    monkeypatch.setattr(results, "REPO", repo)
    monkeypatch.setitem(profiles.STUDY_PROFILES, "tiny",
                        profiles.STUDY_PROFILES["tiny"].__class__(**{**profiles.STUDY_PROFILES["tiny"].__dict__,
                                                                     "keep": True}))
    return repo


def _qonly(toy_cfg, repo: Path, root: Path, *extra):
    """A question-only config (no features: it can be kept) writing into the repo's runs/tiny."""
    return toy_cfg(f"data.root={root}", "data.audio_feats=null", "data.visual_feats=null", "model.name=qonly",
                   "model.qonly.dim=16", f"out_dir={repo / 'runs' / 'tiny'}", "name=qonly", *extra)


def test_kept_run_reads_like_a_run_and_names_no_machine_folder(toy_cfg, toy_root, kept_repo):
    cfg = _qonly(toy_cfg, kept_repo, toy_root)
    run = results.finished_run(cfg)
    assert run.path.parent == kept_repo / "results" / "tiny" / "runs" and bundle.is_kept(run.path)
    assert not (run.path / "best.pt").exists() and not (run.path / "last.pt").exists()
    local = Run(cfg.run_dir())
    assert run.predictions("test").equals(local.predictions("test"))
    assert run.scores["test"] == local.scores["test"] and "train" in run.scores
    assert str(kept_repo) not in (run.path / "config.yaml").read_text()
    # kept twice: the same bytes (gzip without a time stamp)
    again = bundle.keep(local.path, kept_repo / "again", relative_to=kept_repo)
    for name in ("predictions_test.csv.gz", "scores.json", "metrics.csv"):
        assert (again / name).read_bytes() == (run.path / name).read_bytes()


def test_a_kept_run_is_read_not_retrained(toy_cfg, toy_root, kept_repo, monkeypatch):
    cfg = _qonly(toy_cfg, kept_repo, toy_root)
    first = results.finished_run(cfg)
    shutil.rmtree(cfg.run_dir())                      # a fresh clone: no local runs, only the kept results

    def refuse(*a, **k):
        raise AssertionError("trained although kept")
    monkeypatch.setattr(results, "get_or_train", refuse)
    assert results.finished_run(cfg).path == first.path
    assert results.missing([cfg]) == []


def test_portable_identity_ignores_where_the_data_lie_not_what_they_are(toy_cfg, toy_root, tmp_path, kept_repo):
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(toy_root, elsewhere)
    a, b = _qonly(toy_cfg, kept_repo, toy_root), _qonly(toy_cfg, kept_repo, elsewhere)
    assert a.run_dir() != b.run_dir() and results.kept_dir(a) == results.kept_dir(b)
    records = json.loads((elsewhere / "json_update" / "avqa-test.json").read_text())
    records[0]["anser"] = "no" if records[0]["anser"] == "yes" else "yes"
    (elsewhere / "json_update" / "avqa-test.json").write_text(json.dumps(records))
    assert results.kept_dir(a) != results.kept_dir(b)          # other annotations: another run
    synth_a = toy_cfg("data.synth_profile=tiny", "data.synth_seed=1", f"data.root={tmp_path / 'x'}",
                      f"out_dir={kept_repo / 'runs' / 'tiny'}")
    synth_b = toy_cfg("data.synth_profile=tiny", "data.synth_seed=1", f"data.root={tmp_path / 'y'}",
                      f"out_dir={kept_repo / 'runs' / 'tiny'}")
    synth_c = toy_cfg("data.synth_profile=tiny", "data.synth_seed=2", f"data.root={tmp_path / 'x'}",
                      f"out_dir={kept_repo / 'runs' / 'tiny'}")
    assert results.kept_dir(synth_a) == results.kept_dir(synth_b) != results.kept_dir(synth_c)


def test_only_the_books_runs_are_kept(toy_cfg, toy_root, kept_repo):
    assert results.kept_dir(toy_cfg()) is None                                        # not under runs/<profile>
    assert results.kept_dir(toy_cfg(f"out_dir={kept_repo / 'runs' / 'tiny'}")) is None   # a user's features
    assert results.kept_dir(_qonly(toy_cfg, kept_repo, toy_root)) is not None
    profiles.STUDY_PROFILES["tiny"] = profiles.STUDY_PROFILES["tiny"].__class__(
        **{**profiles.STUDY_PROFILES["tiny"].__dict__, "keep": False})
    assert results.kept_dir(_qonly(toy_cfg, kept_repo, toy_root)) is None           # a profile that keeps nothing


def test_curves_requested_of_a_kept_run_without_them_retrain_it(toy_cfg, toy_root, kept_repo):
    plain = _qonly(toy_cfg, kept_repo, toy_root)
    run = results.finished_run(plain)
    assert not run.has_test_curves
    curved = _qonly(toy_cfg, kept_repo, toy_root, "train.eval_test_each_epoch=true")
    assert results.kept_dir(curved) == results.kept_dir(plain) and results.missing([curved]) == [curved]
    again = results.finished_run(curved)
    assert again.has_test_curves and again.scores["test"] == run.scores["test"]   # the same numbers, plus curves


def test_train_scores_are_written_only_when_asked_and_asking_a_kept_run_for_them_retrains_it(toy_cfg, toy_root,
                                                                                            kept_repo):
    plain = _qonly(toy_cfg, kept_repo, toy_root, "train.score_train=false")
    run = results.finished_run(plain)
    assert not run.has_train_scores and {"val", "test"} <= set(run.scores)
    fit = _qonly(toy_cfg, kept_repo, toy_root, "train.score_train=true")
    assert fit.run_dir() == plain.run_dir() and results.missing([fit]) == [fit]
    again = results.finished_run(fit)
    assert again.has_train_scores and again.scores["test"] == run.scores["test"]   # the same numbers, plus train


def test_verify_retrains_identically(toy_cfg, toy_root, kept_repo):
    cfg = _qonly(toy_cfg, kept_repo, toy_root)
    results.finished_run(cfg)
    table = results.verify([cfg], count=1)
    assert table.loc[0, "scores identical"] and table.loc[0, "predictions identical"]
    kept = results.kept_dir(cfg)
    scores = json.loads((kept / "scores.json").read_text())
    scores["test"]["overall"] += 1.0                                                   # a tampered copy
    (kept / "scores.json").write_text(json.dumps(scores))
    bad = results.verify([cfg], names=[kept.name])
    assert not bad.loc[0, "scores identical"] and bad.loc[0, "largest score difference (points)"] == 1.0


def test_train_plan_trains_in_parallel_and_leaves_nothing_missing(toy_cfg, toy_root, kept_repo):
    cfgs = [_qonly(toy_cfg, kept_repo, toy_root, f"train.seed={s}") for s in (1, 2)]
    trained = results.train_plan(cfgs, jobs=2)
    assert sorted(trained["run"]) == sorted(c.run_dir().name for c in cfgs)
    assert results.missing(cfgs) == [] and results.train_plan(cfgs, jobs=2).empty


def test_the_plan_holds_each_run_once_and_the_curves_fig5_needs():
    plan = chapters.study_plan("tiny", ["table2_fusion", "fig5_late_fusion", "table10_losses", "table3_sota"])
    folders = [c.run_dir() for c in plan]
    assert len(folders) == len(set(folders))
    full = chapters.table2_fusion("tiny")["MCD"]
    planned = {c.run_dir(): c for c in plan}
    assert all(planned[c.run_dir()].train.eval_test_each_epoch for c in full)      # Fig. 5 draws its curves
    assert {c.run_dir() for c in chapters.table10_losses("tiny")["MCD"]} == {c.run_dir() for c in full}
    # Table II's fit table reads train scores: its runs (the full MCD among them) score train, the others do not
    assert all(planned[c.run_dir()].train.score_train for c in full)
    assert not any(planned[c.run_dir()].train.score_train for c in chapters.fig5_late_fusion("tiny")["concat a"])
    costs = sorted(plan, key=results.estimated_cost, reverse=True)
    assert costs[0].model.name in ("mcd", "pstp") and costs[-1].model.name in ("mlp", "qonly")
