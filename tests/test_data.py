"""The data layer: tokenization as the protocol says, and a clear error for every kind of bad input."""
from __future__ import annotations

import json

import numpy as np
import pytest

from mcd.cli import main
from mcd.config import DataConfig
from mcd.data.annotations import Vocab, load_records, parse_record, tokenize
from mcd.data.check import check
from mcd.data.datasets import build_vocab, load_split
from mcd.data.features import fit_seconds, load_feature_set
from mcd.errors import DataError


def rec(**kw):
    r = {"video_id": "v1", "question_id": 7, "type": '["Audio", "Counting"]',
         "question_content": "Is there a <Object> sound?", "templ_values": '["violin"]', "question_deleted": 0,
         "anser": "yes"}
    r.update(kw)
    return r


@pytest.mark.parametrize("question, values, tokens", [
    ("Is there a <Object> sound?", ["violin"], ["Is", "there", "a", "violin", "sound"]),
    ("Are there <Object> and <Object> sound? ", ["piano", "flute"], ["Are", "there", "piano", "and", "flute", "sound"]),
    ("How many sounding <Object> in the video？", ["cello"], ["How", "many", "sounding", "cello", "in", "the", "video"]),
    ("Which <Object> makes the sound <FL>?", ["violin", "first"], ["Which", "violin", "makes", "the", "sound", "first"]),
])
def test_tokenize_follows_the_protocol(question, values, tokens):
    got, keywords = tokenize(question, values)
    assert got == tokens
    assert [got[i] for i in keywords] == values


def test_parse_record_keeps_type_and_keywords():
    r = parse_record(rec())
    assert (r.modality, r.type_name, r.tokens[3], r.keyword_pos) == ("Audio", "A-Count", "violin", (3,))


@pytest.mark.parametrize("bad, message", [
    ({"type": '["Audio", "Counting"'}, "not valid JSON"),
    ({"type": '["Audio", "Dancing"]'}, "unknown question type"),
    ({"templ_values": "violin"}, "not valid JSON"),
    ({"templ_values": "[]"}, "holds 0 value.s. but question_content has 1 <placeholder>"),
    ({"templ_values": '["violin", 3]'}, r"field templ_values\[1\]: expected a valid string; got the integer 3"),
    ({"question_content": ["Is", "there"]}, "field question_content: expected a valid string; got a list"),
    ({"anser": "theremin"}, "field anser: 'theremin' is not one of the data set's 42 answers"),
    ({"video_id": "../../x"}, "field video_id: is not a video id: it holds a path separator"),
])
def test_bad_records_are_named(tmp_path, bad, message):
    path = tmp_path / "a.json"
    path.write_text(json.dumps([rec(), rec(**bad)]))
    with pytest.raises(DataError, match=message) as e:
        load_records(path)
    assert e.value.record == 1 and e.value.path == path and "question_id 7" in str(e.value)


def test_missing_key_and_malformed_file(tmp_path):
    r = rec()
    del r["anser"]
    (tmp_path / "a.json").write_text(json.dumps([r]))
    with pytest.raises(DataError, match="field anser: missing"):
        load_records(tmp_path / "a.json")
    (tmp_path / "b.json").write_text('[{"video_id": ')
    with pytest.raises(DataError, match=r"b.json: not valid JSON \(line 1"):
        load_records(tmp_path / "b.json")


def test_vocab_order_and_roundtrip(tmp_path):
    recs = [parse_record(rec(anser="no")), parse_record(rec(templ_values='["piano"]'))]
    v = Vocab.build(recs)
    assert v.words[:4] == ["<pad>", "<unk>", "Is", "there"] and v.answers == ["no", "yes"]
    v.save(tmp_path / "v.json")
    w = Vocab.load(tmp_path / "v.json")
    assert w.words == v.words and w.answers == v.answers
    assert w.encode_question(["Is", "banjo"]) == [2, 1] + [0] * 12


def test_padding_repeats_the_last_second_and_stride():
    x = np.arange(4, dtype=np.float32).reshape(4, 1)
    assert fit_seconds(x, 6, 1)[:, 0].tolist() == [0, 1, 2, 3, 3, 3]
    assert fit_seconds(x, 6, 2)[:, 0].tolist() == [0, 2, 3]


@pytest.mark.parametrize("array, message", [
    (np.zeros((6, 128), np.int64), "floating-point"),
    (np.zeros((6,), np.float32), "2-d array"),
    (np.full((6, 128), np.nan, np.float32), "NaN or Inf"),
    (np.zeros((6, 64), np.float32), r"feature width \(64,\) differs from \(128,\), the width of 2 of the 3"),
    (np.full((6, 128), 1e300, np.float64), "NaN or Inf as float32"),
])
def test_bad_feature_files_are_named(toy_root, array, message):
    np.save(toy_root / "feats" / "vggish" / "v0001.npy", array)
    with pytest.raises(DataError, match=message) as e:
        load_feature_set(toy_root, "vggish", ["v0000", "v0001", "v0002"], ndim=2, seconds=6)
    assert "v0001.npy" in str(e.value)


def test_the_file_of_the_wrong_width_is_blamed_even_when_it_comes_first(toy_root):
    """The expected width is the majority's, not the first file's (which used to blame every right file)."""
    np.save(toy_root / "feats" / "vggish" / "v0000.npy", np.zeros((6, 64), np.float32))
    found = []
    assert load_feature_set(toy_root, "vggish", [f"v{i:04d}" for i in range(4)], ndim=2, seconds=6,
                            errors=found) is None
    [err] = found
    assert err.video_id == "v0000" and "the width of 3 of the 4 readable videos (the majority)" in err.reason


def test_features_load_once_into_one_array(toy_root):
    arr = load_feature_set(toy_root, "patches", ["v0000", "v0001"], ndim=3, seconds=10, stride=2)
    assert arr.shape == (2, 5, 4, 8) and arr.dtype == np.float32 and arr.flags["C_CONTIGUOUS"]


def test_the_answer_set_is_the_data_sets_not_trains(toy_root):
    """An answer outside Music-AVQA's 42 is an error wherever it is (train included: it used to become a class);
    an answer of the 42 that train lacks is scored as wrong (label -1), with a warning from the check."""
    train_path = toy_root / "json_update" / "avqa-train.json"
    train_recs = json.loads(train_path.read_text())
    train_recs[2]["anser"] = "theremin"
    train_path.write_text(json.dumps(train_recs))
    cfg = DataConfig(root=str(toy_root), seconds=6, synth_profile=None)
    with pytest.raises(DataError, match="field anser: 'theremin' is not one of the data set's 42 answers") as e:
        build_vocab(cfg)
    assert e.value.record == 2 and e.value.path == train_path
    # For data of one's own, data.allow_new_answers: the answer loads (a class), and the check warns.
    own = DataConfig(root=str(toy_root), seconds=6, synth_profile=None, allow_new_answers=True)
    assert "theremin" in build_vocab(own).answers
    report = check(own)
    assert report.ok and any("'theremin' is not one of Music-AVQA's answers" in str(w) for w in report.warnings)
    train_recs[2]["anser"] = "one"
    train_path.write_text(json.dumps(train_recs))
    test_path = toy_root / "json_update" / "avqa-test.json"
    test_recs = json.loads(test_path.read_text())
    test_recs[0]["anser"] = "banjo"                     # one of the 42, never in train
    test_path.write_text(json.dumps(test_recs))
    split = load_split(cfg, "test", build_vocab(cfg), progress=False)
    assert split.label[0].item() == -1 and (split.label[1:] >= 0).all()
    [warning] = check(cfg).warnings
    assert "answer 'banjo' (1 test question(s), the first here) never appears in train" in str(warning)


def test_missing_video_features_name_the_record(toy_root):
    (toy_root / "feats" / "frames" / "v0011.npy").unlink()
    cfg = DataConfig(root=str(toy_root), seconds=6, synth_profile=None)
    with pytest.raises(DataError, match="feature file missing"):
        load_split(cfg, "test", build_vocab(cfg))
    report = check(cfg)
    [err] = report.errors
    assert "video v0011 is in the annotations but has no visual features" in str(err)
    assert "avqa-test.json, record" in str(err)


def test_check_lists_every_problem_in_one_pass(toy_root, capsys):
    ann = toy_root / "json_update"
    test = json.loads((ann / "avqa-test.json").read_text())
    test[0]["anser"] = "theremin"                       # outside the vocabulary
    test[1]["type"] = '["Audio", "Dancing"]'            # unknown type
    test.append(dict(test[2], anser="no" if test[2]["anser"] == "yes" else "yes"))  # a question id given twice
    (ann / "avqa-test.json").write_text(json.dumps(test))
    val = json.loads((ann / "avqa-val.json").read_text())
    val[0]["templ_values"] = "[oops"                    # malformed JSON string
    (ann / "avqa-val.json").write_text(json.dumps(val))
    np.save(toy_root / "feats" / "vggish" / "v0003.npy", np.full((6, 128), np.inf, np.float32))
    (toy_root / "feats" / "frames" / "v0005.npy").unlink()
    report = check(DataConfig(root=str(toy_root), seconds=6, synth_profile=None))
    text = "\n".join(report.lines())
    for needle in ["theremin", "Dancing", "not valid JSON", "v0003.npy (video v0003): contains NaN or Inf",
                   "video v0005 is in the annotations but has no visual features",
                   "record 8 (question_id 42): field question_id: question_id 42 is also at"]:
        assert needle in text, needle
    assert len(report.errors) == 6 and not report.warnings
    assert main(["data", "check", str(toy_root), "--seconds", "6"]) == 1
    assert "6 error(s), 0 warning(s)" in capsys.readouterr().out


def test_an_empty_train_split_is_one_line(toy_root):
    (toy_root / "json_update" / "avqa-train.json").write_text("[]")
    report = check(DataConfig(root=str(toy_root), seconds=6, synth_profile=None))
    [err] = report.errors
    assert str(err).endswith("avqa-train.json: split 'train' has no records") and not report.warnings


def test_check_passes_clean_data(toy_root):
    report = check(DataConfig(root=str(toy_root), seconds=6, synth_profile=None, patch_feats="patches"))
    assert report.ok and report.counts == {"train": 32, "val": 8, "test": 8}


def test_real_annotations_parse(real_music_avqa):
    """The real files read without error, with the protocol's counts (json_update: 9,129 test, 4,568 val)."""
    for version, n_test, n_val in [("json_update", 9129, 4568), ("json", 9185, 4595)]:
        assert len(load_records(real_music_avqa / version / "avqa-test.json")) == n_test
        assert len(load_records(real_music_avqa / version / "avqa-val.json")) == n_val
    recs = load_records(real_music_avqa / "json_update" / "avqa-test.json")
    assert max(len(r.tokens) for r in recs) <= 14 and len({r.question for r in recs}) == 33


def test_every_real_file_passes_the_schema(real_music_avqa):
    """The schema is strict, not wrong: every real annotation file here (both releases, the partial train file and
    MUSIC-AVQA v2.0's two test sets, with their extra keys and '#' in some video ids) reads without an error."""
    files = sorted(real_music_avqa.rglob("*.json")) + sorted((real_music_avqa.parent / "music_avqa_v2").rglob("*.json"))
    assert len(files) >= 10
    for f in files:
        errors = []
        assert load_records(f, collect=errors) and not errors, (f, errors[:3])


def test_download_verifies_blob_ids(tmp_path, real_music_avqa):
    from mcd.data.download import FILES, download
    repo = tmp_path / "repo" / "data" / "json_update"
    repo.mkdir(parents=True)
    (repo / "avqa-val.json").write_bytes((real_music_avqa / "json_update" / "avqa-val.json").read_bytes())
    files = {"data/json_update/avqa-val.json": FILES["data/json_update/avqa-val.json"]}
    [got] = download(tmp_path / "dest", base_url=(tmp_path / "repo").as_uri(), files=files)
    assert got == tmp_path / "dest" / "json_update" / "avqa-val.json" and len(load_records(got)) == 4568
    (repo / "avqa-val.json").write_text("[]")  # a changed upstream file is refused, nothing written
    with pytest.raises(ValueError, match="does not match git blob"):
        download(tmp_path / "other", base_url=(tmp_path / "repo").as_uri(), files=files)
    assert not (tmp_path / "other" / "json_update" / "avqa-val.json").exists()
