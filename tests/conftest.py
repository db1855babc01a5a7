"""Shared fixtures: a small hand-made data set in the official layout, independent of the SynthAVQA generator,
so that the data layer and the trainer are tested against the format itself."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mcd.config import load_config

TEMPLATES = [
    ('["Audio", "Counting"]', "Is there a <Object> sound?", ["violin"], ["yes", "no"]),
    ('["Visual", "Location"]', "Where is the performance?", [], ["indoor", "outdoor"]),
    ('["Audio-Visual", "Counting"]', "How many sounding <Object> in the video？", ["piano"], ["one", "two"]),
    ('["Audio-Visual", "Existential"]', "Is there a voiceover?", [], ["yes", "no"]),
]


def write_toy(root: Path, videos: int = 12, seconds: int = 6, width: int = 8, seed: int = 0) -> Path:
    """Records whose answers depend on the features, so that a model can learn them."""
    rng = np.random.default_rng(seed)
    (root / "feats" / "vggish").mkdir(parents=True)
    (root / "feats" / "frames").mkdir(parents=True)
    (root / "feats" / "patches").mkdir(parents=True)
    (root / "json_update").mkdir(parents=True)
    qid = 0
    splits = {"train": [], "val": [], "test": []}
    for v in range(videos):
        vid = f"v{v:04d}"
        bit = v % 2
        audio = rng.normal(size=(seconds, 128)).astype(np.float32) + bit
        patches = rng.normal(size=(seconds, 4, width)).astype(np.float32) - bit
        np.save(root / "feats" / "vggish" / f"{vid}.npy", audio)
        np.save(root / "feats" / "patches" / f"{vid}.npy", patches)
        np.save(root / "feats" / "frames" / f"{vid}.npy", patches.mean(1))
        split = "train" if v < videos * 2 // 3 else ("val" if v < videos * 5 // 6 else "test")
        for typ, q, values, answers in TEMPLATES:
            splits[split].append({"video_id": vid, "question_id": qid, "type": typ, "question_content": q,
                                  "templ_values": json.dumps(values), "question_deleted": 0,
                                  "anser": answers[bit]})
            qid += 1
    for s, recs in splits.items():
        (root / "json_update" / f"avqa-{s}.json").write_text(json.dumps(recs))
    return root


@pytest.fixture
def toy_root(tmp_path) -> Path:
    return write_toy(tmp_path / "toy")


@pytest.fixture
def toy_cfg(toy_root, tmp_path):
    def make(*overrides, **sections):
        base = [f"data.root={toy_root}", "data.synth_profile=null", "data.seconds=6", f"out_dir={tmp_path/'runs'}",
                "train.epochs=2", "train.batch_size=8", "train.progress=false", "model.name=mlp",
                "model.mlp.dim=16", "model.mlp.hidden=16"]
        return load_config(None, base + list(overrides), **sections)
    return make


@pytest.fixture
def real_music_avqa() -> Path:
    """The real annotation files beside the checkout (CI has them); skipped where they are absent."""
    import os
    root = Path(os.environ.get("MCD_MUSIC_AVQA", Path(__file__).resolve().parents[2] / "shared/data/music_avqa"))
    if not (root / "json_update" / "avqa-test.json").exists():
        pytest.skip(f"real Music-AVQA annotations not found at {root}")
    return root
