"""The AVQA (Yang et al.) path: the release format and its bad inputs, the question-type taxonomies, the data check,
SynthAVQA's multiple-choice view, the baselines in multiple-choice mode, and training end to end."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from mcd.config import ConfigError, DataConfig, load_config
from mcd.data import synth
from mcd.data.annotations import (AVQA_TYPES, TAXONOMIES, TYPE_NAMES, Record, load_records, parse_record,
                                  taxonomy_of)
from mcd.data.avqa import load_avqa_records, parse_avqa_record
from mcd.data.check import check
from mcd.data.datasets import build_vocab, input_dims, load_split
from mcd.data.layout import split_files
from mcd.errors import DataError
from mcd.evaluate import AVQA_SCORE_COLUMNS, SCORE_COLUMNS, prediction_table, score, score_columns, scores_frame
from mcd.models.base import InputDims
from mcd.models.baselines import MLPConfig, ModalityMLP, QOnlyConfig, QOnlyLSTM
from mcd.runs import Run
from mcd.train import train

from conftest import write_toy

EXAMPLE = {"id": 183, "video_name": "-HG3Omg_89c_000030", "video_id": 341,
           "question_text": "What happened in the video?",
           "multi_choice": ["motorboat", "Yacht consignment", "Sailboat set sail", "Consignment car"],
           "answer": 1, "question_relation": "View", "question_type": "Happening"}


def rec(**kw):
    r = dict(EXAMPLE, id=7)
    r.update(kw)
    return {k: v for k, v in r.items() if v is not ...}


# A small hand-made data set in the AVQA layout: the answer (and so the option chosen) depends on the features.
TOY_QUESTIONS = [
    ("Happening", "What happened in the video?", ["A car passed by", "Rain fell"], "View"),
    ("Come From", "Where does the sound come from?", ["The engine", "The crowd"], "Sound"),
    ("Which", "Which object makes the loudest sound?", ["The dog", "The drum"], "Both"),
]


def write_avqa_toy(root: Path, videos: int = 12, seconds: int = 6, width: int = 8) -> Path:
    rng = np.random.default_rng(0)
    for d in ("vggish", "frames"):
        (root / "feats" / d).mkdir(parents=True)
    splits = {"train": [], "val": [], "test": []}
    qid = 0
    for v in range(videos):
        name = f"yt{v:03d}_000030"
        bit = v % 2
        np.save(root / "feats" / "vggish" / f"{name}.npy", rng.normal(size=(seconds, 128)).astype(np.float32) + bit)
        np.save(root / "feats" / "frames" / f"{name}.npy", rng.normal(size=(seconds, width)).astype(np.float32) - bit)
        split = "train" if v < videos * 2 // 3 else ("val" if v < videos * 5 // 6 else "test")
        for qtype, question, answers, relation in TOY_QUESTIONS:
            options = [answers[bit], answers[1 - bit], "Nothing at all", "A bird sang"]
            slot = qid % 4
            options[0], options[slot] = options[slot], options[0]
            splits[split].append({"id": qid, "video_name": name, "video_id": v, "question_text": question,
                                  "multi_choice": options, "answer": slot, "question_relation": relation,
                                  "question_type": qtype})
            qid += 1
    for s, recs in splits.items():
        (root / f"{s}_qa.json").write_text(json.dumps(recs))
    return root


@pytest.fixture
def avqa_root(tmp_path) -> Path:
    return write_avqa_toy(tmp_path / "avqa")


def avqa_cfg(root, **kw) -> DataConfig:
    return DataConfig(root=str(root), format="avqa", seconds=6, synth_profile=None, **kw)


# ------------------------------------------------------------------------------------------------ the format

def test_parse_the_release_record():
    r = parse_avqa_record(EXAMPLE)
    assert (r.video_id, r.question_id, r.taxonomy, r.type_name, r.qtype) == (
        "-HG3Omg_89c_000030", 183, "avqa", "Happening", 2)
    assert r.options == ("motorboat", "yacht consignment", "sailboat set sail", "consignment car")
    assert r.answer == "yacht consignment" and r.options.index(r.answer) == 1
    assert r.tokens == ("what", "happened", "in", "the", "video") and r.keyword_pos == ()
    assert (r.relation, r.modality, r.question) == ("View", "View", "What happened in the video?")


def test_optional_fields_and_a_string_answer_index():
    r = parse_avqa_record(rec(answer="3", id=..., video_id=..., question_relation=...))
    assert r.answer == "consignment car" and r.question_id == -1 and r.relation == ""
    assert parse_avqa_record(rec(question_text="Is the car, parked here?")).tokens == (
        "is", "the", "car", ",", "parked", "here")


@pytest.mark.parametrize("bad, message", [
    ({"question_type": ...}, r"field question_type: missing"),
    ({"video_name": ..., "answer": ...}, r"field video_name: missing"),
    ({"answer": 4}, "field answer: expected less than or equal to 3; got the integer 4"),
    ({"answer": -1}, "field answer: expected greater than or equal to 0"),
    ({"answer": True}, "field answer: expected a valid integer; got true"),
    ({"answer": "first"}, "field answer: expected a valid integer; got the string 'first'"),
    ({"multi_choice": ["a", "b", "c"]}, "field multi_choice: list should have at least 4 items, not 3"),
    ({"multi_choice": ["a", "b", "c", "d", "e"]}, "field multi_choice: list should have at most 4 items, not 5"),
    ({"multi_choice": "a, b, c, d"}, "field multi_choice: expected a valid list"),
    ({"multi_choice": ["a", None, "c", "d"]}, r"field multi_choice\[1\]: expected a valid string; got null"),
    ({"multi_choice": ["a", "  ", "c", "d"]}, r"field multi_choice\[1\]: is blank"),
    ({"multi_choice": ["a", "?!", "c", "d"]}, r"field multi_choice\[1\]: has no words"),
    ({"multi_choice": ["Car", "car", "c", "d"]}, "options are not distinct"),
    ({"question_type": "How Many"}, "field question_type: expected 'Which', .* got the string 'How Many'"),
    ({"question_text": ""}, "field question_text: string should have at least 1 character"),
    ({"video_name": "../x"}, "field video_name: is not a video id: it holds a path separator"),
    ({"video_name": "x" * 252}, "field video_name: is not a video id: it is 256 bytes long with '.npy'"),
    ({"question_relation": 3}, "field question_relation: expected a valid string; got the integer 3"),
    ({"note": "extra"}, "field note: unknown key"),
])
def test_bad_records_name_file_and_record(tmp_path, bad, message):
    path = tmp_path / "train_qa.json"
    path.write_text(json.dumps([rec(), rec(**bad)]))
    with pytest.raises(DataError, match=message) as e:
        load_avqa_records(path)
    assert e.value.path == path and e.value.record == 1 and "question_id 7" in str(e.value)
    assert str(e.value).startswith(f"{path}, record 1 (question_id 7): ")


def test_malformed_files(tmp_path):
    (tmp_path / "a.json").write_text('[{"id": 1, "video_name": ')
    with pytest.raises(DataError, match=r"a.json: not valid JSON \(line 1") as e:
        load_avqa_records(tmp_path / "a.json")
    assert e.value.record is None
    (tmp_path / "b.json").write_text(json.dumps({"questions": []}))
    with pytest.raises(DataError, match="b.json: expected a JSON list of records"):
        load_avqa_records(tmp_path / "b.json")
    (tmp_path / "c.json").write_text(json.dumps([rec(), ["not", "a", "record"]]))
    with pytest.raises(DataError, match="c.json, record 1: record is a list, not an object"):
        load_avqa_records(tmp_path / "c.json")
    with pytest.raises(DataError, match="annotation file not found"):
        load_avqa_records(tmp_path / "missing.json")


def test_the_wrong_format_says_so(tmp_path):
    music = {"video_id": "v1", "question_id": 3, "type": '["Audio", "Counting"]',
             "question_content": "Is there a <Object> sound?", "templ_values": '["violin"]', "anser": "yes"}
    (tmp_path / "m.json").write_text(json.dumps([music]))
    with pytest.raises(DataError, match="looks like a Music-AVQA record: set data.format=music_avqa"):
        load_avqa_records(tmp_path / "m.json")
    (tmp_path / "a.json").write_text(json.dumps([rec()]))
    with pytest.raises(DataError, match="looks like an AVQA .* record: set data.format=avqa"):
        load_records(tmp_path / "a.json")


# ------------------------------------------------------------------------------------------------ taxonomies

def test_records_carry_their_taxonomy():
    m = parse_record({"video_id": "v1", "type": '["Visual", "Location"]', "question_content": "Where is the "
                      "performance?", "templ_values": "[]", "anser": "indoor"})
    assert (m.taxonomy, m.type_name, m.modality) == ("music_avqa", "V-Loc", "Visual")
    assert [len(t) for t in TAXONOMIES.values()] == [9, 8] and list(TAXONOMIES["avqa"].names) == AVQA_TYPES
    assert taxonomy_of(["A-Count", "AV-Temp"]).name == "music_avqa" and taxonomy_of([]).name == "music_avqa"
    assert taxonomy_of(["Why", "Used For"]).name == "avqa"
    with pytest.raises(ValueError, match="no single taxonomy"):
        taxonomy_of(["Why", "A-Count"])


def _avqa_table(correct_by_type: dict[str, list[bool]]) -> pd.DataFrame:
    records, predicted = [], []
    for t, flags in correct_by_type.items():
        for ok in flags:
            r = Record("v", len(records), AVQA_TYPES.index(t), "q?", (), "a", ("q",), (), ("a", "b", "c", "d"),
                       "avqa", "Both")
            records.append(r)
            predicted.append("a" if ok else "b")
    return prediction_table(records, predicted)


def test_score_follows_the_taxonomy_of_the_predictions():
    pred = _avqa_table({"Which": [True, False], "Why": [True], "When": [False, False, True, True]})
    s = score(pred)
    assert list(s) == [*AVQA_TYPES, "average", "overall", "n"] == [*AVQA_SCORE_COLUMNS, "n"]
    assert (s["Which"], s["Why"], s["When"], s["Where"]) == (50.0, 100.0, 50.0, None)
    assert s["average"] == pytest.approx(200 / 3) and s["overall"] == pytest.approx(400 / 7) and s["n"] == 7
    assert "Audio" not in s and set(pred["modality"]) == {"Both"}
    assert list(scores_frame({"x": s}).columns) == AVQA_SCORE_COLUMNS == score_columns("avqa")
    # Music-AVQA tables score exactly as before.
    music = prediction_table([parse_record({"video_id": "v", "type": '["Audio", "Counting"]', "question_content":
                                            "Is there a <Object> sound?", "templ_values": '["cello"]',
                                            "anser": "yes"})], ["yes"])
    m = score(music)
    assert list(m) == [*SCORE_COLUMNS, "n"] and m["A-Count"] == m["Audio"] == m["overall"] == 100.0
    assert m["V-Loc"] is None and score_columns() == SCORE_COLUMNS == [*TYPE_NAMES, "Audio", "Visual",
                                                                       "Audio-Visual", "overall"]


# ------------------------------------------------------------------------------------------------ config and splits

def test_data_config_format():
    d = DataConfig(format="avqa")
    assert d.multiple_choice and [p.name for s in ("train", "val", "test") for p in split_files(d, s)] == [
        "train_qa.json", "val_qa.json", "test_qa.json"]
    kept = DataConfig(format="avqa", test_file="val_qa.json", annotation_root="/ann")
    assert split_files(kept, "test") == [Path("/ann/val_qa.json")]
    assert DataConfig().format == "music_avqa" and not DataConfig().multiple_choice
    with pytest.raises(ConfigError, match="data.format must be one of"):
        load_config(None, ["data.format=avqa2"])
    cfg = load_config(None, ["data.format=avqa"])
    assert cfg.data.multiple_choice and [p.name for p in split_files(cfg.data, "train")] == ["train_qa.json"]
    assert cfg.hash() != load_config(None).hash()


def test_load_split_reads_the_avqa_layout(avqa_root):
    cfg = avqa_cfg(avqa_root)
    vocab = build_vocab(cfg)
    split = load_split(cfg, "test", vocab, progress=False)
    assert split.options.shape == (6, 4, 8) and split.qtype.tolist() == [2, 1, 0] * 2
    for r, label in zip(split.records, split.label.tolist()):
        assert r.options[label] == r.answer and r.taxonomy == "avqa"
    dims = input_dims(split, vocab)
    assert (dims.num_qtypes, dims.num_options, dims.audio_dim, dims.visual_dim) == (8, 4, 128, 8)
    assert "yacht" not in vocab.word_index and {"engine", "crowd", "drum"} <= set(vocab.word_index)


def test_format_mismatches_are_clear(avqa_root, tmp_path):
    music = write_toy(tmp_path / "toy")
    with pytest.raises(DataError, match="multiple_choice is set but the record has no options .*data.format=avqa"):
        cfg = DataConfig(root=str(music), seconds=6, synth_profile=None, multiple_choice=True)
        load_split(cfg, "test", build_vocab(cfg), progress=False)
    with pytest.raises(DataError, match="train_qa.json: annotation file not found"):
        build_vocab(avqa_cfg(music))
    with pytest.raises(DataError, match="data.format=avqa"):
        build_vocab(DataConfig(root=str(avqa_root), train_files=["train_qa.json"], synth_profile=None))


def test_check_lists_every_problem_of_an_avqa_root(avqa_root):
    test = json.loads((avqa_root / "test_qa.json").read_text())
    test[0]["question_type"] = "How Many"                                      # unknown type
    test[1]["answer"] = 7                                                      # out of range
    test[2]["question_text"] = " ".join(["very"] * 20) + " long question?"     # cut when encoded: a warning
    (avqa_root / "test_qa.json").write_text(json.dumps(test))
    val = json.loads((avqa_root / "val_qa.json").read_text())
    val[1]["multi_choice"] = val[1]["multi_choice"][:3]                        # 3 options
    del val[2]["video_name"]                                                   # missing key
    (avqa_root / "val_qa.json").write_text(json.dumps(val))
    (avqa_root / "feats" / "frames" / "yt011_000030.npy").unlink()             # a test video without features
    report = check(avqa_cfg(avqa_root))
    text = "\n".join(report.lines())
    for needle in ["test_qa.json, record 0 (question_id 30): field question_type: expected 'Which'",
                   "test_qa.json, record 1 (question_id 31): field answer: expected less than or equal to 3",
                   "val_qa.json, record 1 (question_id 25): field multi_choice: list should have at least 4 items",
                   "val_qa.json, record 2 (question_id 26): field video_name: missing",
                   "video yt011_000030 is in the annotations but has no visual features",
                   "test_qa.json, record 2 (question_id 32): question has 22 tokens; only the first 14"]:
        assert needle in text, (needle, text)
    assert len(report.errors) == 5 and len(report.warnings) == 1 and not report.ok
    assert report.counts == {"train": 24, "val": 4, "test": 4}


def test_check_passes_a_clean_avqa_root(avqa_root):
    report = check(avqa_cfg(avqa_root))
    assert report.ok and not report.warnings and report.counts == {"train": 24, "val": 6, "test": 6}


# ------------------------------------------------------------------------------------------------ SynthAVQA MC view

@pytest.fixture(scope="module")
def tiny_mc(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synth") / "tiny-mc"
    synth.generate(root, "tiny", 0, progress=False, multiple_choice=True)
    return root


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_type_mapping_covers_every_template():
    assert len(synth.AVQA_TYPE_OF) == 33 and set(synth.AVQA_TYPE_OF) == set(synth.TEMPLATES)
    assert set(synth.AVQA_TYPE_OF.values()) == set(AVQA_TYPES)
    assert set(synth.MC_FAMILY_OF.values()) == set(synth.MC_FAMILIES)


def test_mc_view_holds_the_same_questions_with_four_options(tiny_mc):
    for s in synth.SPLITS:
        music = json.loads((tiny_mc / "json_update" / f"avqa-{s}.json").read_text())
        view = json.loads((tiny_mc / f"{s}_qa.json").read_text())
        assert len(view) == len(music) > 0
        for m, a in zip(music, view):
            r = parse_record(m)
            assert (a["id"], a["video_name"], a["question_text"]) == (m["question_id"], m["video_id"], r.text)
            opts = a["multi_choice"]
            assert len(opts) == 4 == len(set(opts)) and opts[a["answer"]] == m["anser"]
            key = (tuple(json.loads(m["type"])), m["question_content"])
            assert a["question_type"] == synth.AVQA_TYPE_OF[key]
            assert m["anser"] in synth.MC_FAMILIES[synth.MC_FAMILY_OF[key]]
            assert a["question_relation"] == {"Audio": "Sound", "Visual": "View", "Audio-Visual": "Both"}[r.modality]
        positions = Counter(a["answer"] for a in view)
        assert set(positions) <= {0, 1, 2, 3} and max(positions.values()) - min(positions.get(k, 0)
                                                                                 for k in range(4)) <= 1
        records = load_avqa_records(tiny_mc / f"{s}_qa.json")            # and the AVQA reader takes them
        assert all(r.answer == r.options[a["answer"]] for r, a in zip(records, view))


def test_mc_view_is_deterministic_and_leaves_the_default_files_alone(tiny_mc, tmp_path):
    again = tmp_path / "again"
    card = synth.generate(again, "tiny", 0, progress=False, multiple_choice=True)
    assert _files(again) == _files(tiny_mc)
    plain = tmp_path / "plain"
    plain_card = synth.generate(plain, "tiny", 0, progress=False)
    mc_files = _files(again)
    for name, data in _files(plain).items():                             # every default file, byte for byte
        if name != synth.CARD_NAME:
            assert mc_files[name] == data, name
    assert {k: v for k, v in card.items() if k != "avqa"} == plain_card and "avqa" not in plain_card
    assert set(mc_files) - set(_files(plain)) == {"train_qa.json", "val_qa.json", "test_qa.json"}
    other = synth.generate(tmp_path / "other", "tiny", 1, progress=False, multiple_choice=True)
    assert other["avqa"]["content_hash"] != card["avqa"]["content_hash"]
    # ensure() adds the view to a finished data set in place, and then reuses it.
    added = synth.ensure(plain, "tiny", 0, progress=False, multiple_choice=True)
    assert added == card and _files(plain) == mc_files
    assert synth.ensure(plain, "tiny", 0, progress=False, multiple_choice=True) == card


# ------------------------------------------------------------------------------------------------ baselines

@pytest.mark.parametrize("make", [
    lambda d: QOnlyLSTM(QOnlyConfig(dim=16), d),
    lambda d: ModalityMLP(MLPConfig(modalities="qav", dim=16, hidden=16), d),
    lambda d: ModalityMLP(MLPConfig(modalities="av", dim=16, hidden=16), d),
])
def test_baselines_score_the_options(make):
    dims = InputDims(audio_dim=12, visual_dim=10, seconds=5, vocab_size=30, num_answers=3, num_options=4,
                     num_qtypes=8)
    g = torch.Generator().manual_seed(0)
    batch = {"audio": torch.randn(3, 5, 12, generator=g), "visual": torch.randn(3, 5, 10, generator=g),
             "question": torch.randint(1, 30, (3, 14), generator=g), "qtype": torch.tensor([0, 7, 3]),
             "options": torch.randint(0, 30, (3, 4, 8), generator=g)}
    model = make(dims).eval()
    logits = model(batch).logits
    assert logits.shape == (3, 4) and torch.isfinite(logits).all()
    perm = torch.tensor([2, 0, 3, 1])
    torch.testing.assert_close(model(dict(batch, options=batch["options"][:, perm])).logits, logits[:, perm])
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2])).backward()
    assert open_ended_unchanged(make)


def open_ended_unchanged(make) -> bool:
    dims = InputDims(audio_dim=12, visual_dim=10, seconds=5, vocab_size=30, num_answers=7)
    model = make(dims)
    batch = {"audio": torch.randn(2, 5, 12), "visual": torch.randn(2, 5, 10),
             "question": torch.randint(1, 30, (2, 14))}
    return model(batch).logits.shape == (2, 7) and not any("option" in n for n, _ in model.named_parameters())


# ------------------------------------------------------------------------------------------------ end to end

@pytest.mark.parametrize("model", [
    ["model.name=mcd", "model.mcd.dim=16", "model.mcd.heads=2", "model.mcd.ffn_dim=16"],
    ["model.name=qonly", "model.qonly.dim=16", "data.audio_feats=null", "data.visual_feats=null"],
])
def test_train_on_synth_mc_end_to_end(tmp_path, model):
    # A fresh root: tiny SynthAVQA is generated with its AVQA view (as `mcd train` and the study do), then the
    # trainer reads it in the AVQA format.
    cfg = load_config(None, [f"data.root={tmp_path / 'synth'}", "data.format=avqa", "data.synth_profile=tiny",
                             "data.seconds=10", f"out_dir={tmp_path / 'runs'}", "train.epochs=2",
                             "train.batch_size=32", "train.progress=false", *model])
    synth.ensure_for(cfg.data, progress=False)
    run = Run(train(cfg))
    assert run.finished and len(run.metrics) == 2
    assert run.env["input_dims"]["num_qtypes"] == 8 and run.env["input_dims"]["num_options"] == 4
    pred = run.predictions("test")
    test = json.loads((tmp_path / "synth" / "test_qa.json").read_text())
    assert len(pred) == len(test) and set(pred["type"]) <= set(AVQA_TYPES) and len(set(pred["type"])) >= 5
    assert pred["type"].tolist() == [r["question_type"] for r in test]
    assert pred["answer"].tolist() == [r["multi_choice"][r["answer"]] for r in test]
    for _, row in pred.iterrows():
        assert row["predicted"] in next(r["multi_choice"] for r in test if r["id"] == row["question_id"])
    scores = run.scores["test"]
    assert list(scores) == [*AVQA_SCORE_COLUMNS, "n"]
    present = [scores[t] for t in AVQA_TYPES if scores[t] is not None]
    assert scores["average"] == pytest.approx(sum(present) / len(present))
    assert scores["overall"] == pytest.approx(100 * pred["correct"].mean())
    assert run.config["data"]["format"] == "avqa" and run.config["data"]["multiple_choice"] is True


def test_data_check_command_reads_the_avqa_format(tmp_path, capsys):
    """`mcd data check --format avqa` on SynthAVQA's multiple-choice view: clean, then one planted problem."""
    import json

    from mcd.cli import main
    from mcd.data import synth
    root = tmp_path / "s"
    synth.generate(root, "tiny", 0, multiple_choice=True, progress=False)
    args = ["data", "check", str(root), "--format", "avqa", "--seconds", "10"]
    assert main(args) == 0
    recs = json.loads((root / "val_qa.json").read_text())
    recs[1]["answer"] = 7
    (root / "val_qa.json").write_text(json.dumps(recs))
    assert main(args) == 1
    assert "val_qa.json, record 1" in capsys.readouterr().out
