"""Writing SynthAVQA in the official release's layout, atomically, and finding a finished one again.

``json_update/avqa-{split}.json`` and ``feats/{set}/{video_id}.npy`` as in the release; ``evidence.json`` (the
seconds and positions that hold each question's evidence), ``scenes.json`` (the latent scenes, for the oracle)
and the card ``synthavqa.json`` (version, profile, seed, counts, the answer target, a content hash) beside them;
``{split}_qa.json`` when the multiple-choice view is asked for (``multiple_choice.py``).
"""
from __future__ import annotations

import dataclasses
import fcntl
import filecmp
import hashlib
import io
import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from mcd.data.layout import split_files
from mcd.data.synth.choose import ask, type_name
from mcd.data.synth.multiple_choice import ANNOTATION_DIR, write_avqa
from mcd.data.synth.profiles import SPLITS, SYNTH_VERSION, SynthProfile, resolve_profile
from mcd.data.synth.questions import QUESTION_TEMPLATES, View, evidence
from mcd.data.synth.render import Signatures, render
from mcd.data.synth.scenes import sample_scene

CARD_NAME = "synthavqa.json"


class Writer:
    """Writes files under a folder and hashes (relative path, bytes) in the order written."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.hash = hashlib.sha256()

    def write(self, rel: str, data: bytes) -> None:
        path = self.folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.hash.update(rel.encode() + b"\0" + data)

    def npy(self, rel: str, array: np.ndarray) -> None:
        buf = io.BytesIO()
        np.save(buf, array)
        self.write(rel, buf.getvalue())

    def json(self, rel: str, obj) -> None:
        self.write(rel, json.dumps(obj).encode())


def split_of(p: SynthProfile, seed: int) -> list[str]:
    """The split of every video: a seeded permutation cut at the profile's fractions."""
    order = np.random.default_rng([seed, 13]).permutation(p.videos)
    n_train = round(p.split[0] * p.videos)
    n_val = round(p.split[1] * p.videos)
    split = [""] * p.videos
    for rank, video in enumerate(order):
        split[int(video)] = "train" if rank < n_train else "val" if rank < n_train + n_val else "test"
    return split


def video_ids(p: SynthProfile) -> list[str]:
    return [f"s{v:07d}" for v in range(p.videos)]


def scenes_of(p: SynthProfile, seed: int) -> list[dict]:
    """The latent scene of every video (each from its own seeded stream)."""
    return [sample_scene(np.random.default_rng([seed, 10, v]), p, vid) for v, vid in enumerate(video_ids(p))]


def _write(folder: Path, p: SynthProfile, seed: int, extra: bool, progress: bool) -> dict:
    from tqdm import tqdm

    w = Writer(folder)
    ids = video_ids(p)
    scenes = scenes_of(p, seed)
    sig = Signatures(p, seed)
    for v in tqdm(range(p.videos), desc="SynthAVQA features", disable=not progress):
        feats = render(scenes[v], sig, p, np.random.default_rng([seed, 11, v]), extra)
        for name, array in feats.items():
            w.npy(f"feats/{name}/{ids[v]}.npy", array)

    split = split_of(p, seed)
    records = {s: [] for s in SPLITS}
    evidence_of = {}
    questions, target = ask(scenes, split, p, seed)
    for qid, (video, tpl, values, ans) in enumerate(questions):
        records[split[video]].append({
            "video_id": ids[video], "question_id": qid, "type": json.dumps(list(tpl.qtype)),
            "question_content": tpl.text, "templ_values": json.dumps(list(values)), "question_deleted": 0,
            "anser": ans.answer})
        evidence_of[str(qid)] = evidence(View(scenes[video]), tpl, ans)
    for s in SPLITS:
        w.json(f"{ANNOTATION_DIR}/avqa-{s}.json", records[s])
    w.json("evidence.json", evidence_of)
    w.json("scenes.json", {scene["video_id"]: scene for scene in scenes})

    written = {"vggish": (p.audio_dim, 1.0), "patches": (p.channels, 1.0), **p.visual_sets}
    if not extra:
        written = {n: written[n] for n in ("vggish", "frames", "patches")}
    card = {
        "name": "SynthAVQA", "version": SYNTH_VERSION, "profile": p.name, "seed": seed,
        "profile_fields": dataclasses.asdict(p), "extra_visual_sets": extra,
        "feature_sets": {n: {"width": w, "noise": m} for n, (w, m) in written.items()},
        "counts": {s: {"videos": split.count(s), "questions": len(records[s])} for s in SPLITS},
        # The (template, answer) shares the questions were chosen to follow (answers no scene gives dropped).
        "answer_target": [[type_name(QUESTION_TEMPLATES[k]), QUESTION_TEMPLATES[k].text, a, share]
                          for (k, a), share in sorted(target.items())],
        "content_hash": w.hash.hexdigest(),
    }
    return write_card(folder, card)


def write_card(folder: Path, card: dict) -> dict:
    """Write the card under a temporary name and rename it into place; returns what ``read_card`` will give."""
    text = json.dumps(card, indent=1)
    tmp = folder / f"{CARD_NAME}.tmp-{os.getpid()}"
    tmp.write_text(text)
    os.replace(tmp, folder / CARD_NAME)
    return json.loads(text)  # lists, not tuples


def read_card(root) -> dict | None:
    path = Path(root) / CARD_NAME
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def generate(root, profile: str | SynthProfile = "default", seed: int = 0, *, extra_visual_sets: bool = False,
             progress: bool = True, overrides: dict | None = None, multiple_choice: bool = False) -> dict:
    """Generate SynthAVQA into ``root`` (replacing an earlier SynthAVQA there) and return its card.
    ``multiple_choice`` also writes the AVQA-format view (``{split}_qa.json``; the card's ``avqa`` entry).

    The data set is written into a sibling ``<root>.tmp-<pid>`` folder and renamed into place when complete, so
    a half-written data set is never mistaken for a finished one. A ``root`` holding anything but SynthAVQA
    (for example the real release) is never overwritten.
    """
    p = resolve_profile(profile, overrides)
    root = Path(root)
    if root.exists() and (not root.is_dir() or (any(root.iterdir()) and read_card(root) is None)):
        raise FileExistsError(f"{root} exists and is not a SynthAVQA data set; refusing to overwrite it")
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = root.with_name(f"{root.name}.tmp-{os.getpid()}")
    old = root.with_name(f"{root.name}.old-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        card = _write(tmp, p, seed, extra_visual_sets, progress)
        if multiple_choice:
            card = write_card(tmp, {**card, "avqa": write_avqa(tmp, seed)})
        if root.exists():
            os.replace(root, old)
        os.replace(tmp, root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return card


@contextmanager
def _locked(root: Path):
    """Hold an exclusive lock on ``root`` (a file beside it) so that processes asking for the same data set at
    once (notebooks run in parallel, the ranks of a torchrun) generate it once and never replace it under a
    reader."""
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.with_name(f".{root.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _is_current(card: dict | None, p: SynthProfile, seed: int) -> bool:
    return bool(card) and card.get("version") == SYNTH_VERSION and card.get("profile") == p.name \
        and card.get("seed") == seed \
        and card.get("profile_fields") == json.loads(json.dumps(dataclasses.asdict(p)))


def ensure(root, profile: str | SynthProfile = "default", seed: int = 0, *, extra_visual_sets: bool = False,
           multiple_choice: bool = False, progress: bool = True, overrides: dict | None = None) -> dict:
    """The card of the SynthAVQA data set in ``root``, generating it only when ``root`` does not already hold a
    finished one of this version, profile (fields included) and seed. A finished one that lacks what is asked
    for (the extra visual sets, the multiple-choice view) gets it added in place, no existing file rewritten."""
    p = resolve_profile(profile, overrides)
    root = Path(root)
    with _locked(root):
        card = read_card(root)
        if not _is_current(card, p, seed):
            return generate(root, p, seed, extra_visual_sets=extra_visual_sets, progress=progress,
                            multiple_choice=multiple_choice)
        if extra_visual_sets and not card.get("extra_visual_sets"):
            card = _add_extra_visual_sets(root, p, seed, card)
        if multiple_choice and not _has_avqa(root, card):
            card = write_card(root, {**card, "avqa": write_avqa(root, seed)})
        return card


def _has_avqa(root: Path, card: dict) -> bool:
    entry = card.get("avqa")
    return bool(entry) and all((root / f).exists() for f in entry["files"])


def _add_extra_visual_sets(root: Path, p: SynthProfile, seed: int, card: dict) -> dict:
    """Add the extra visual sets to the finished data set in ``root`` without removing or rewriting any file
    there, since other processes may be reading it. The data set is generated with the extra sets into a sibling
    folder; its annotations and scenes are those of ``root`` (the extra sets draw from their own random stream),
    which is checked, then the new feature folders are moved in and the card replaced, each by one rename."""
    tmp = root.with_name(f"{root.name}.extra-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        new = generate(tmp, p, seed, extra_visual_sets=True, progress=False)
        same = [f"{ANNOTATION_DIR}/avqa-{s}.json" for s in SPLITS] + ["scenes.json", "evidence.json"]
        differ = [f for f in same if not filecmp.cmp(root / f, tmp / f, shallow=False)]
        if differ:
            raise RuntimeError(f"{root}: regenerating with the extra visual sets changed {differ}; the data set "
                               f"does not match its card (seed {seed}, profile {p.name})")
        for name in sorted(set(new["feature_sets"]) - set(card["feature_sets"])):
            if not (root / "feats" / name).exists():
                os.replace(tmp / "feats" / name, root / "feats" / name)
        if card.get("avqa"):
            new["avqa"] = card["avqa"]
        return write_card(root, new)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def ensure_for(data_cfg, progress: bool = True) -> dict | None:
    """Make the SynthAVQA data set a ``DataConfig`` reads (generated from ``synth_profile`` and ``synth_seed``
    into ``root``, with the extra visual sets and the multiple-choice view if the config reads them). Nothing is
    done, and None returned, when ``synth_profile`` is unset or ``root`` holds annotations that SynthAVQA did not
    write (the data are the user's)."""
    if not data_cfg.synth_profile:
        return None
    if read_card(data_cfg.root) is None and split_files(data_cfg, "train")[0].exists():
        return None   # annotations that SynthAVQA did not write: never replaced
    extra = data_cfg.visual_feats not in (None, "frames")
    return ensure(Path(data_cfg.root), data_cfg.synth_profile, data_cfg.synth_seed, extra_visual_sets=extra,
                  progress=progress, multiple_choice=data_cfg.format == "avqa")


def bench_report(profile: str | SynthProfile = "default", seed: int = 0, repeats: int = 1):
    """Seconds to generate ``profile`` into a temporary folder (best of ``repeats``), beside the same profile with
    v1's frame pooling and uniform answers (``frame_position=0``, ``answer_prior='uniform'``), timed in the same
    process: the ratio says what 2.0's position-dependent pooling and answer priors cost."""
    import tempfile
    import time

    import pandas as pd

    p = resolve_profile(profile)
    variants = {f"SynthAVQA {SYNTH_VERSION} '{p.name}'": p,
                "same, v1 pooling and uniform answers": dataclasses.replace(p, frame_position=0.0,
                                                                            answer_prior="uniform")}
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, variant in variants.items():
            best = float("inf")
            for r in range(repeats):
                t0 = time.perf_counter()
                card = generate(Path(tmp) / f"{len(rows)}-{r}", variant, seed, progress=False)
                best = min(best, time.perf_counter() - t0)
            rows[label] = {"videos": variant.videos, "questions": sum(c["questions"] for c in card["counts"].values()),
                           "seconds": best}
    table = pd.DataFrame(rows).T
    table["ratio"] = table["seconds"] / table["seconds"].iloc[1]
    return table
