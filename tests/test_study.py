"""Seed aggregation as the chapters show it."""
import json
import math

import pytest

from mcd.study import field_overrides, mean_sd


def test_mean_sd_over_seeds():
    t = mean_sd({"one": [{"overall": 50.0}], "two": [{"overall": 50.0}, {"overall": 52.0}]}, columns=["overall"])
    assert t.text.loc["one", "overall"] == "50.00"            # a single seed has no sd, and says so
    assert t.text.loc["two", "overall"] == "51.00 ± 1.41"
    assert t.mean.loc["two", "overall"] == 51.0 and math.isclose(t.sd.loc["two", "overall"], 2 ** 0.5)
    assert t.seeds == {"one": 1, "two": 2}


def test_field_overrides_are_yaml_scalars():
    assert field_overrides("model.mcd", {"num_blocks": 3, "self_audio": False, "lef_mode": "add"}) == [
        "model.mcd.num_blocks=3", "model.mcd.self_audio=false", "model.mcd.lef_mode=add"]


def _fake_run(path, seed, correct, modality, types=None):
    """A run folder with config, per-question predictions and the scores those predictions give."""
    import pandas as pd

    from mcd.io import atomic_write_csv, atomic_write_json, atomic_write_text
    from mcd.runs import Run
    pred = pd.DataFrame({"question_id": range(len(correct)), "modality": modality, "correct": correct})
    acc = {m: 100.0 * pred.loc[pred.modality == m, "correct"].mean() for m in ("Audio", "Visual", "Audio-Visual")}
    if types is not None:
        pred["type"] = types
        acc |= {t: 100.0 * pred.loc[pred.type == t, "correct"].mean() for t in set(types)}
    atomic_write_text(path / "config.yaml", f"train:\n  seed: {seed}\n")
    atomic_write_csv(path / "predictions_test.csv", pred)
    atomic_write_json(path / "scores.json", {"test": acc | {"overall": 100.0 * pred.correct.mean(), "n": len(pred)}})
    return Run(path)


def test_versus_floor_picks_the_best_baseline_per_column(tmp_path):
    from mcd.study import versus_floor
    modality = ["Audio"] * 4 + ["Visual"] * 4 + ["Audio-Visual"] * 4
    model = [1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0]           # Audio 100, Visual 50, AV 75
    audio_mlp = [1, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]       # Audio 50, Visual 0, AV 25
    visual_mlp = [0, 0, 0, 0, 1, 1, 1, 0, 1, 1, 0, 0]      # Audio 0, Visual 75, AV 50
    runs = {name: [_fake_run(tmp_path / f"{name}{s}", s, c, modality) for s in (1, 2)]
            for name, c in (("model", model), ("qa", audio_mlp), ("qv", visual_mlp))}
    t = versus_floor(runs.pop("model"), runs, n_boot=100)
    assert t.loc["Audio", "best baseline"] == "qa" and t.loc["Visual", "best baseline"] == "qv"
    assert t.loc["Audio", "margin"] == 50.0 and t.loc["Visual", "margin"] == -25.0
    assert t.loc["Audio-Visual", "margin"] == 25.0
    assert t.loc["Visual", "seeds ahead"] == "0/2" and t.loc["Audio", "seeds ahead"] == "2/2"
    # Visual: the model is right on 2 of the 4, the MLP on 3: the pair disagrees on 1 + 2 questions
    assert t.loc["Visual", "p McNemar, per seed"] == "1.00, 1.00"


def test_versus_floor_states_the_verdict_by_the_one_rule(tmp_path):
    from mcd.study import verdicts, versus_floor
    modality = ["Audio"] * 4
    model = {1: [1, 1, 1, 1], 2: [1, 1, 0, 0]}            # 100 then 50
    model_runs = [_fake_run(tmp_path / f"m{s}", s, c, modality) for s, c in model.items()]
    floor = {"qa": [_fake_run(tmp_path / f"qa{s}", s, [1, 1, 0, 0], modality) for s in (1, 2)]}   # 50, 50
    t = versus_floor(model_runs, floor, columns=("Audio",), n_boot=100)
    assert t.loc["Audio", "margin"] == 25.0                # same-seed differences 50 and 0
    row = verdicts.judge_part(verdicts.Comparison("m", "qa", column="Audio"), {"m": model_runs, "qa": floor["qa"]},
                              n_boot=100)
    assert t.loc["Audio", "95 % interval"] == verdicts.interval_text(row["low"], row["high"])
    assert t.loc["Audio", "model better"] == row["status"] == verdicts.UNDECIDED
    assert "margin se" not in t.columns                   # the seed-sd rule is gone


def test_versus_floor_by_question_type(tmp_path):
    """A question type as a column: the margin and McNemar's test see that type's questions only."""
    from mcd.study import paired_differences, versus_floor
    modality, types = ["Visual"] * 6, ["V-Loc"] * 3 + ["V-Count"] * 3
    model = [0, 0, 0, 1, 1, 1]                              # V-Loc 0, V-Count 100
    mlp = [1, 1, 0, 0, 0, 1]                                # V-Loc 66.7, V-Count 33.3
    model_runs = [_fake_run(tmp_path / "m", 1, model, modality, types)]
    t = versus_floor(model_runs, {"qv": [_fake_run(tmp_path / "qv", 1, mlp, modality, types)]},
                     columns=("V-Loc", "V-Count", "Visual"), n_boot=100)
    assert t.loc["V-Loc", "margin"] == pytest.approx(-200 / 3)
    assert t.loc["V-Count", "margin"] == pytest.approx(200 / 3)
    assert t.loc["Visual", "margin"] == 0.0
    # V-Loc: the MLP alone is right on 2 questions; V-Count: the model alone on 2 -> McNemar p = 0.5 each
    assert t.loc["V-Loc", "p McNemar, per seed"] == "0.50" and t.loc["V-Count", "p McNemar, per seed"] == "0.50"
    # a type with no question in the split (scores.json holds None for it) is a row of NaN, not an error
    from mcd.runs import Run
    qv = [Run(tmp_path / "qv")]
    for run in model_runs + qv:
        scores = run.scores
        scores["test"]["AV-Loc"] = None
        (run.path / "scores.json").write_text(json.dumps(scores))
    t = versus_floor(model_runs, {"qv": qv}, columns=("V-Loc", "AV-Loc"), n_boot=100)
    assert math.isnan(t.loc["AV-Loc", "margin"]) and t.loc["AV-Loc", "p McNemar, per seed"] == "–"
    d = paired_differences(model_runs, qv, splits=("test",), columns=("V-Loc", "AV-Loc"))
    assert math.isnan(d.set_index("column").loc["AV-Loc", "difference"])


def test_paired_differences_pairs_seed_by_seed(tmp_path):
    from mcd.study import paired_differences
    modality = ["Audio"] * 2 + ["Visual"] * 2
    a = [_fake_run(tmp_path / f"a{s}", s, c, modality) for s, c in ((1, [1, 1, 1, 0]), (2, [1, 0, 0, 0]))]
    b = [_fake_run(tmp_path / f"b{s}", s, c, modality) for s, c in ((1, [1, 0, 1, 1]), (2, [1, 0, 1, 0]))]
    d = paired_differences(a, b, splits=("test",), columns=("Audio", "Visual"))
    assert d.set_index(["seed", "column"])["difference"].to_dict() == {
        (1, "Audio"): 50.0, (1, "Visual"): -50.0, (2, "Audio"): 0.0, (2, "Visual"): -50.0}
    with pytest.raises(ValueError, match="seed by seed"):
        paired_differences(a, b[:1])


def test_accuracy_by_split_scores_train_with_the_best_checkpoint(toy_cfg):
    """The train row is computed from best.pt (no stored file has it); val and test rows are the stored scores."""
    from mcd.inference import evaluate_run
    from mcd.runs import get_or_train
    from mcd.study import accuracy_by_split
    run = get_or_train(toy_cfg("model.mlp.modalities=qv"))
    t = accuracy_by_split({"Q+V": [run]}, columns=("overall",))
    assert list(t.index) == [("Q+V", "train"), ("Q+V", "val"), ("Q+V", "test")]
    assert t.loc[("Q+V", "test"), "overall"] == run.scores["test"]["overall"]
    assert t.loc[("Q+V", "train"), "overall"] == evaluate_run(run.path, "train")["overall"]
    assert 0.0 <= t.loc[("Q+V", "train"), "overall"] <= 100.0
