"""SynthAVQA: format, determinism, the oracle, answer balance and the atomic write."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from mcd.data import synth
from mcd.data.annotations import ANSWERS, INSTRUMENTS, MAX_QUESTION_LEN, QUESTION_TYPES, parse_record

PLACEHOLDERS = {"<Object>": set(INSTRUMENTS), "<LR>": set(synth.LR), "<LL>": set(synth.LL), "<TH>": set(synth.TH),
                "<FL>": set(synth.FL), "<BA>": set(synth.BA), "<LRer>": set(synth.LRER)}


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def raw_records(root: Path) -> dict[str, list[dict]]:
    return {s: json.loads((root / "json_update" / f"avqa-{s}.json").read_text()) for s in synth.SPLITS}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synth") / "tiny"
    synth.generate(root, "tiny", 0, progress=False)
    return root


@pytest.fixture(scope="module")
def mid(tmp_path_factory) -> Path:
    """Large enough for every template and for answer shares to mean something."""
    root = tmp_path_factory.mktemp("synth") / "mid"
    synth.generate(root, "tiny", 0, progress=False, overrides={"videos": 400})
    return root


def test_templates_are_the_real_ones():
    assert len(synth.TEMPLATES) == 33 and len(set(synth.TEMPLATES)) == 33
    assert {t for t, _ in synth.TEMPLATES} == set(QUESTION_TYPES)
    texts = {q for _, q in synth.TEMPLATES}
    for quirk in ("Are there <Object> and <Object> sound? ", "How many sounding <Object> in the video？",
                  "What kind of instrument is the <LRer> instrument? "):
        assert quirk in texts


def test_same_seed_same_bytes_other_seed_differs(tiny, tmp_path):
    again = tmp_path / "again"
    card = synth.generate(again, "tiny", 0, progress=False)
    assert files(again) == files(tiny)
    other = synth.generate(tmp_path / "other", "tiny", 1, progress=False)
    assert other["content_hash"] != card["content_hash"]
    assert files(tmp_path / "other")["json_update/avqa-test.json"] != files(tiny)["json_update/avqa-test.json"]


def test_same_bytes_in_another_process(tiny, tmp_path):
    """String hashing differs between processes; the data set must not."""
    code = (f"from mcd.data import synth; "
            f"print(synth.generate({str(tmp_path / 'p')!r}, 'tiny', 0, progress=False)['content_hash'])")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONHASHSEED": "123"},
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == json.loads((tiny / "synthavqa.json").read_text())["content_hash"]


def test_records_are_official_and_parse(tiny):
    card = json.loads((tiny / "synthavqa.json").read_text())
    ids = set()
    for split, recs in raw_records(tiny).items():
        assert len(recs) == card["counts"][split]["questions"] > 0
        for raw in recs:
            assert list(raw) == ["video_id", "question_id", "type", "question_content", "templ_values",
                                 "question_deleted", "anser"]
            assert isinstance(raw["type"], str) and isinstance(raw["templ_values"], str)
            assert isinstance(raw["question_id"], int) and raw["question_deleted"] == 0
            rec = parse_record(raw)
            assert len(rec.tokens) <= MAX_QUESTION_LEN
            assert rec.answer in ANSWERS
            holders = [w for w in raw["question_content"].split() if "<" in w]
            for holder, value in zip(holders, rec.templ_values):
                assert value in PLACEHOLDERS[holder.rstrip("?？")], (holder, value)
            ids.add(raw["question_id"])
    assert len(ids) == sum(c["questions"] for c in card["counts"].values())


def test_every_template_is_asked(mid):
    asked = {(tuple(json.loads(r["type"])), r["question_content"]) for recs in raw_records(mid).values() for r in recs}
    assert asked == set(synth.TEMPLATES)


def test_feature_shapes_and_frames_are_patch_means(tiny):
    p = synth.PROFILES["tiny"]
    vids = sorted({r["video_id"] for recs in raw_records(tiny).values() for r in recs})
    for vid in vids[:10]:
        audio = np.load(tiny / "feats" / "vggish" / f"{vid}.npy")
        frames = np.load(tiny / "feats" / "frames" / f"{vid}.npy")
        patches = np.load(tiny / "feats" / "patches" / f"{vid}.npy")
        assert audio.shape == (p.seconds, 128) and audio.dtype == np.float32
        assert frames.shape == (p.seconds, p.channels) and frames.dtype == np.float32
        assert patches.shape == (p.seconds, p.patches, p.channels) and patches.dtype == np.float32
        np.testing.assert_allclose(frames, patches.mean(axis=1), rtol=0, atol=1e-6)
    assert not (tiny / "feats" / "resnet18").exists()  # extra sets only on request


def test_extra_visual_sets(tmp_path):
    p = synth.resolve_profile("tiny", {"videos": 4})
    card = synth.generate(tmp_path / "x", p, 0, progress=False, extra_visual_sets=True)
    widths = {name: w for name, (w, _) in p.visual_sets.items()}
    assert set(widths) == {"frames", "resnet18", "clip_b32", "swinv2"} and len(set(widths.values())) == 3
    for name, width in widths.items():
        assert card["feature_sets"][name]["width"] == width
        arr = np.load(tmp_path / "x" / "feats" / name / "s0000000.npy")
        assert arr.shape == (p.seconds, width) and arr.dtype == np.float32
    # The extra sets come from the same scene: the default sets are unchanged by asking for them.
    plain = tmp_path / "plain"
    synth.generate(plain, p, 0, progress=False)
    for name in ("vggish", "frames", "patches"):
        assert files(plain / "feats" / name) == files(tmp_path / "x" / "feats" / name)


def test_oracle_answers_everything(tiny):
    for split in synth.SPLITS:
        table = synth.oracle_accuracy(tiny, split)
        assert table.loc["Overall", "accuracy"] == 100.0
    scenes = json.loads((tiny / "scenes.json").read_text())
    raw = raw_records(tiny)["train"][0]
    with pytest.raises(ValueError, match="not a Music-AVQA template"):
        synth.oracle_answer(scenes[raw["video_id"]], {**raw, "question_content": "Is this a question?",
                                                      "templ_values": "[]"})


def test_evidence_covers_every_question(tiny):
    evidence = json.loads((tiny / "evidence.json").read_text())
    T = synth.PROFILES["tiny"].seconds
    qids = {str(r["question_id"]) for recs in raw_records(tiny).values() for r in recs}
    assert set(evidence) == qids
    for ev in evidence.values():
        assert ev["seconds"] and all(0 <= s < T for s in ev["seconds"])
        assert set(ev["positions"]) <= set(synth.LR)


def test_question_prior_is_weak_and_answers_balanced(mid):
    prior = synth.question_prior_accuracy(mid)
    assert prior.loc["Overall", "accuracy"] < 50
    by_template: dict[str, Counter] = {}
    for recs in raw_records(mid).values():
        for r in recs:
            by_template.setdefault(r["question_content"], Counter())[r["anser"]] += 1
    for question, answers in by_template.items():
        share = max(answers.values()) / sum(answers.values())
        limit = 0.75 if set(answers) <= {"yes", "no"} else 0.6
        assert share < limit, (question, answers)


def test_card_tables(tiny):
    tables = synth.card_tables(tiny)
    card = json.loads((tiny / "synthavqa.json").read_text())
    assert list(tables["counts"].columns) == list(synth.SPLITS)
    assert tables["counts"].loc["Total"].to_dict() == {s: card["counts"][s]["questions"] for s in synth.SPLITS}
    assert tables["answers"].to_numpy().sum() == tables["templates"].to_numpy().sum()


def test_splits_are_video_disjoint(tiny):
    videos = {s: {r["video_id"] for r in recs} for s, recs in raw_records(tiny).items()}
    assert not (videos["train"] & videos["val"] or videos["train"] & videos["test"] or videos["val"] & videos["test"])
    card = json.loads((tiny / "synthavqa.json").read_text())
    assert [card["counts"][s]["videos"] for s in synth.SPLITS] == [42, 6, 12]


def test_ensure_reuses_and_generate_is_atomic(tmp_path, monkeypatch):
    root = tmp_path / "data"
    card = synth.ensure(root, "tiny", 0, progress=False, overrides={"videos": 6})
    before = files(root)

    def boom(*a, **k):
        raise RuntimeError("interrupted")

    monkeypatch.setattr(synth, "_render", boom)
    assert synth.ensure(root, "tiny", 0, progress=False, overrides={"videos": 6}) == card  # no regeneration
    with pytest.raises(RuntimeError):
        synth.generate(root, "tiny", 1, progress=False, overrides={"videos": 6})
    assert files(root) == before  # the finished data set survives a failed regeneration
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]  # no half-written folder left behind
    monkeypatch.undo()
    assert synth.ensure(root, "tiny", 1, progress=False, overrides={"videos": 6})["seed"] == 1


def test_generate_never_overwrites_other_data(tmp_path):
    real = tmp_path / "music_avqa"
    (real / "json_update").mkdir(parents=True)
    with pytest.raises(FileExistsError):
        synth.generate(real, "tiny", 0, progress=False)
    assert (real / "json_update").is_dir()


def test_profiles_validate():
    assert set(synth.PROFILES) == {"tiny", "default", "music_avqa"}
    with pytest.raises(ValueError, match="unknown SynthAVQA profile fields"):
        synth.resolve_profile("tiny", {"vidoes": 3})
    with pytest.raises(ValueError, match="square"):
        synth.resolve_profile("tiny", {"patches": 8})
