"""SynthAVQA: format, determinism, the oracle, the answer priors, position in frames, and the atomic write."""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import threading
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mcd.config import DataConfig
from mcd.data import synth
from mcd.data.annotations import ANSWERS, INSTRUMENTS, MAX_QUESTION_LEN, QUESTION_TYPES, parse_record
from mcd.data.synth import answer_priors, choose, render, write

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


def test_feature_shapes_and_frames_pool_the_patches(tiny):
    p = synth.PROFILES["tiny"]
    sig = render.Signatures(p, 0)
    vids = sorted({r["video_id"] for recs in raw_records(tiny).values() for r in recs})
    for vid in vids[:10]:
        audio = np.load(tiny / "feats" / "vggish" / f"{vid}.npy")
        frames = np.load(tiny / "feats" / "frames" / f"{vid}.npy")
        patches = np.load(tiny / "feats" / "patches" / f"{vid}.npy")
        assert audio.shape == (p.seconds, 128) and audio.dtype == np.float32
        assert frames.shape == (p.seconds, p.channels) and frames.dtype == np.float32
        assert patches.shape == (p.seconds, p.patches, p.channels) and patches.dtype == np.float32
        np.testing.assert_allclose(frames, synth.pool_frames(patches, sig), rtol=0, atol=1e-5)
        assert np.abs(frames - patches.mean(axis=1)).max() > 0.1   # 2.0's frames are not v1's plain mean
    assert not (tiny / "feats" / "resnet18").exists()  # extra sets only on request


def test_v1_pooling_is_the_patch_mean():
    p = synth.resolve_profile("tiny", {"frame_position": 0.0})
    patches = np.random.default_rng(0).standard_normal((p.seconds, p.patches, p.channels)).astype(np.float32)
    np.testing.assert_allclose(synth.pool_frames(patches, render.Signatures(p, 0)), patches.mean(1), atol=1e-6)


def _moved(scene: dict) -> dict:
    """The scene with its visible instruments mirrored left <-> right (the middle stays)."""
    out = copy.deepcopy(scene)
    mirror = {"left": "right", "right": "left", "middle": "middle"}
    for x in out["instruments"]:
        if x["visible"]:
            x["position"] = mirror[x["position"]]
    return out


@pytest.mark.parametrize("frame_position", [0.0, 1.0])
def test_frames_change_when_an_instrument_moves(frame_position):
    """The same scene, noise and signatures, with the instruments moved from left to right: the frames change
    (a global embedding is not invariant to where things stand), and 2.0's pooling makes them change more than
    v1's plain mean (frame_position = 0), whose only position cue is the per-column layout of the patches."""
    p = synth.resolve_profile("default", {"frame_position": frame_position})
    sig = render.Signatures(p, 0)
    scene = {"video_id": "x", "seconds": p.seconds, "setting": "indoor", "voiceover": None, "instruments": [
        {"type": "violin", "visible": True, "position": "left", "onset": 0, "offset": p.seconds, "loudness": 1.0,
         "rhythm": 0.2, "beat": 0}]}
    def frames(s, noise):
        q = synth.resolve_profile(p, {"noise": noise})
        return render.render(s, sig, q, np.random.default_rng(1), extra=False)["frames"]
    change = np.linalg.norm(frames(scene, 0.0) - frames(_moved(scene), 0.0)) / np.linalg.norm(frames(scene, 0.0))
    noise = np.linalg.norm(frames(scene, 1.0) - frames(scene, 0.0)) / np.linalg.norm(frames(scene, 0.0))
    assert change > 0.05
    if frame_position:
        v1 = synth.resolve_profile("default", {"frame_position": 0.0})
        sig1 = render.Signatures(v1, 0)
        f1 = [render.render(s, sig1, v1, np.random.default_rng(1), extra=False)["frames"] for s in (scene, _moved(scene))]
        assert np.linalg.norm(f1[0] - f1[1]) < np.linalg.norm(frames(scene, 1.0) - frames(_moved(scene), 1.0))
    assert noise > 0   # the noise was really switched off above


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


@pytest.fixture(scope="module")
def many_questions():
    """The questions of 1,000 scenes (no features rendered): (answers per template, target, real train + val)."""
    p = synth.resolve_profile("tiny", {"videos": 1000, "max_instruments": 5})
    scenes = write.scenes_of(p, 0)
    questions, target = choose.ask(scenes, write.split_of(p, 0), p, 0)
    asked: dict = defaultdict(Counter)
    for _, tpl, _, ans in questions:
        asked[(choose.type_name(tpl), tpl.text)][ans.answer] += 1
    return asked, target, answer_priors.target_counts()


def _tv(a: dict, b: dict) -> float:
    na, nb = sum(a.values()), sum(b.values())
    return 0.5 * sum(abs(a.get(k, 0) / na - b.get(k, 0) / nb) for k in set(a) | set(b))


def test_answers_follow_the_real_distribution_of_each_template(many_questions):
    """Every template's answers follow the shipped real train + val distribution: the total variation distance
    is at most 0.07 plus the real share of answers no scene gives, for each template asked 150 times or more,
    and at most 0.02 averaged over all questions. (On the default profile: see the data card.)"""
    asked, _, real = many_questions
    assert set(asked) == set(real)
    total = sum(sum(c.values()) for c in asked.values())
    mean_tv = 0.0
    for key, counts in asked.items():
        reachable = {a for a in counts}
        unreachable = sum(n for a, n in real[key].items() if a not in reachable) / sum(real[key].values())
        tv = _tv(counts, real[key])
        mean_tv += tv * sum(counts.values()) / total
        if sum(counts.values()) >= 150:
            assert tv <= 0.07 + unreachable, (key, tv, counts, real[key])
        assert set(counts) <= set(real[key]), key   # never an answer the real template does not have
    assert mean_tv <= 0.02


def test_template_mix_and_unreachable_answers(many_questions):
    """The target drops only answers that no scene gives (e.g. "more than ten") and keeps each template's real
    share; the real counts that it drops are a small part of any template."""
    asked, target, real = many_questions
    assert sum(target.values()) == pytest.approx(1.0)
    for (k, a), share in target.items():
        tpl = synth.questions.QUESTION_TEMPLATES[k]
        assert a in real[(choose.type_name(tpl), tpl.text)] and share > 0
    for key, counts in real.items():
        kept = {a for (k, a) in target if (choose.type_name(synth.questions.QUESTION_TEMPLATES[k]),
                                            synth.questions.QUESTION_TEMPLATES[k].text) == key}
        assert sum(n for a, n in counts.items() if a not in kept) / sum(counts.values()) < 0.06, key


def test_uniform_answer_prior_balances_answers(tmp_path):
    """answer_prior="uniform" gives v1's balance: no answer dominates a template, the question-only prior is weak."""
    root = tmp_path / "u"
    synth.generate(root, "tiny", 0, progress=False, overrides={"videos": 300, "answer_prior": "uniform"})
    by_template: dict[str, Counter] = defaultdict(Counter)
    for recs in raw_records(root).values():
        for r in recs:
            by_template[r["question_content"]][r["anser"]] += 1
    for question, answers in by_template.items():
        if sum(answers.values()) >= 20:
            share = max(answers.values()) / sum(answers.values())
            assert share < (0.7 if set(answers) <= {"yes", "no"} else 0.6), (question, answers)
    assert synth.question_prior_accuracy(root).loc["Overall", "accuracy"] < 45


def test_priors_table_rebuilds_from_the_real_files(tmp_path):
    """The shipped table is what the script makes of the real annotation files (skipped without them)."""
    from mcd.real_data import annotation_root
    try:
        root = annotation_root()
    except FileNotFoundError:
        pytest.skip("the real Music-AVQA annotations are not on this machine")
    if not all((root / rel).exists() for rel in answer_priors.SOURCES.values()):
        pytest.skip("some of the real annotation files the table counts are missing")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    try:
        import build_answer_priors
    finally:
        sys.path.pop(0)
    out = build_answer_priors.main(["--annotations", str(root), "--out", str(tmp_path / "t.csv")])
    pd.testing.assert_frame_equal(answer_priors.read_table(out), answer_priors.read_table())
    built = [h for h in answer_priors.header(out) if not h.startswith("built:")]
    assert built == [h for h in answer_priors.header() if not h.startswith("built:")]
    assert any("git_blob=dcda27ddfd5de55e8e5723b5ffe5b40d35efeabc" in h for h in built)  # PROVENANCE.md's val blob


def test_card_compares_priors_and_distributions(mid):
    d = synth.distribution_distances(mid)
    assert len(d) == 33 and (d["TV to target"] <= d["TV to real"] + d["real share unreachable"] + 1e-9).all()
    dist = synth.answer_distributions(mid)
    sums = dist.groupby(["type", "template"])[["Music-AVQA", "SynthAVQA", "target"]].sum()
    np.testing.assert_allclose(sums.to_numpy(), 1.0)
    priors = synth.question_priors(mid)
    summary = priors["summary"]
    real_test, _, synth_test = synth.card.PRIOR_SOURCES
    assert summary.loc["Overall", (real_test, "n")] == sum(answer_priors.read_table()["test"])
    # The count-table prior equals the record-level one (mcd.data.priors) on the generated set.
    assert summary.loc["Overall", (synth_test, "accuracy")] == pytest.approx(
        synth.question_prior_accuracy(mid).loc["Overall", "accuracy"])


def test_position_probes_read_patches_best(mid):
    probes = synth.position_probes(mid)
    assert list(probes.index) == list(synth.card.PROBE_SETS.values())
    acc = probes["accuracy (%)"]
    assert acc["patches"] > probes["chance (%)"]["patches"] + 10
    assert (probes["test instances"] > 50).all()


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

    monkeypatch.setattr(write, "render", boom)
    assert synth.ensure(root, "tiny", 0, progress=False, overrides={"videos": 6}) == card  # no regeneration
    with pytest.raises(RuntimeError):
        synth.generate(root, "tiny", 1, progress=False, overrides={"videos": 6})
    assert files(root) == before  # the finished data set survives a failed regeneration
    # No half-written folder left behind (the lock file that serialises generation stays beside the data set).
    assert sorted(p.name for p in tmp_path.iterdir()) == [".data.lock", "data"]
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


def test_ensure_for_a_config(tmp_path):
    """The command line and the study generate what a config reads: nothing for data SynthAVQA did not write,
    the draw of ``synth_seed`` otherwise, with the extra sets and the multiple-choice view when the config reads
    them (added in place to a finished draw)."""
    user = tmp_path / "user"
    (user / "json_update").mkdir(parents=True)
    (user / "json_update" / "avqa-train.json").write_text("[]")
    assert synth.ensure_for(DataConfig(root=str(user), synth_profile="tiny")) is None
    assert synth.ensure_for(DataConfig(root=str(tmp_path / "x"), synth_profile=None)) is None
    root = tmp_path / "draw"
    cfg = DataConfig(root=str(root), synth_profile="tiny", synth_seed=3, seconds=10)
    card = synth.ensure_for(cfg, progress=False)
    assert card["seed"] == 3 and card["version"] == synth.SYNTH_VERSION and not card["extra_visual_sets"]
    frames = (root / "feats" / "frames" / "s0000000.npy").stat().st_ino
    extra = synth.ensure_for(DataConfig(root=str(root), synth_profile="tiny", synth_seed=3, visual_feats="clip_b32"),
                             progress=False)
    mc = synth.ensure_for(DataConfig(root=str(root), synth_profile="tiny", synth_seed=3, format="avqa"),
                          progress=False)
    assert extra["extra_visual_sets"] and mc["extra_visual_sets"] and mc["avqa"]
    assert (root / "feats" / "frames" / "s0000000.npy").stat().st_ino == frames   # nothing rewritten
    ref = synth.generate(tmp_path / "ref", "tiny", 3, progress=False, extra_visual_sets=True, multiple_choice=True)
    assert mc == ref   # the same data set as generating it all at once


def test_ensure_generates_once_when_asked_at_once(tmp_path, monkeypatch):
    """Two processes (here threads, each with its own lock handle) asking for one draw: one generates it."""
    calls = []
    real = write._write

    def counted(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(write, "_write", counted)
    cards = []
    threads = [threading.Thread(target=lambda: cards.append(synth.ensure(tmp_path / "d", "tiny", 0, progress=False,
                                                                         overrides={"videos": 8})))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(cards) == 2 and cards[0] == cards[1]


def test_version_is_two():
    assert synth.SYNTH_VERSION == "2.0"
