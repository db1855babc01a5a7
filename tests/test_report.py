"""The reproducibility report's computed parts: what could not be reproduced, and the measured compute."""
from __future__ import annotations

import json

import mcd.study.report as report
from mcd.paper import paper_table


def test_not_reproduced_lists_every_paper_row_no_chapter_runs():
    table = report.not_reproduced()
    others = [m for m in paper_table("III")["method"] if m not in ("MCD", "AVST", "PSTP-Net")]
    assert all(f"Table III, {m}" in table.index for m in others) and "Table III, MCD" not in table.index
    assert "Table IV, LAVisH" in table.index and "Table IV, MCD" not in table.index
    assert len([w for w in table.index if w.startswith("Table V,")]) == len(paper_table("V"))
    assert {"Table VIII, the FLOPs column", "Table X, the AVQA column"} <= set(table.index)
    assert table["why"].str.len().min() > 20


def test_study_timings_read_from_the_kept_record(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "results_dir", lambda profile: tmp_path)
    assert report.study_timings("default") is None
    (tmp_path / "study_timings.json").write_text(json.dumps({"recompute": {
        "runs": 140, "runs trained": 140, "train seconds": 3000, "chapters seconds": 120, "book seconds": 60,
        "total seconds": 3180, "jobs": 2, "cpu_count": 2, "date": "2026-12-02",
        "machine": {"platform": "Linux", "python": "3.11", "torch": "2.13.0", "cuda": None, "git_commit": "x"}}}))
    t = report.study_timings("default")
    assert t.loc["recompute", "total (min)"] == 53.0 and t.loc["recompute", "runs trained"] == 140
    assert report.hardware("default").loc["cores", "value"] == 2
    assert "float32 CPU matmuls (kept runs)" not in report.hardware("default").index      # no kept runs here
    for name, env in (("a", {"cpu_matmul": "onednn"}), ("b", {}), ("c", {"cpu_matmul": "onednn"})):
        (tmp_path / "runs" / name).mkdir(parents=True)
        (tmp_path / "runs" / name / "env.json").write_text(json.dumps(env))
    assert report.hardware("default").loc["float32 CPU matmuls (kept runs)", "value"] == "mkl, onednn"
    assert report.timing_notes("default") == {}
    record = json.loads((tmp_path / "study_timings.json").read_text())
    record["recompute"]["note"] = "measured in two commands"
    (tmp_path / "study_timings.json").write_text(json.dumps(record))
    assert report.timing_notes("default") == {"recompute": "measured in two commands"}
    assert report.recorded_cost_by_model("default") is None
    record["recompute"]["cost by model"] = [{"model": "mcd", "runs": 2, "mean": 90.0, "total": 180.0}]
    (tmp_path / "study_timings.json").write_text(json.dumps(record))
    costs = report.recorded_cost_by_model("default")
    assert costs.loc["mcd"].tolist() == [2, 90.0, 3.0]


def test_cost_by_model_counts_each_run_once():
    class R:
        def __init__(self, path, model, seconds):
            self.path, self.config, self.scores = path, {"model": {"name": model}}, {"seconds": seconds}
    a, b = R("a", "mcd", 60.0), R("b", "mlp", 6.0)
    table = report.cost_by_model({"x": [a, b], "y": [a]})
    assert table.loc["mcd", "runs"] == 1 and table.loc["mcd", "mean (s)"] == 60.0 and table.loc["mlp", "total (min)"] == 0.1
