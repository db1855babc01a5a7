"""The real Music-AVQA annotations: statistics (Table I, per-type counts, answers, the two versions) and the
question-only baselines, which need no features and so run on the real questions here.

The annotations are read from a path, never copied into the project: ``$MCD_MUSIC_AVQA``, else
``../shared/data/music_avqa`` beside the checkout, else ``data/music_avqa`` (what ``mcd data download`` writes).
"""
from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pandas as pd

from mcd.data.annotations import TYPE_NAMES, Record, load_records
from mcd.evaluate import majority_baseline, score, type_counts

REPO = Path(__file__).resolve().parents[1]
PARTIAL_TRAIN = "partial_train_reconstruction/avqa-train_partial_20580.json"


def annotation_root(path=None) -> Path:
    candidates = [path, os.environ.get("MCD_MUSIC_AVQA"), REPO.parent / "shared" / "data" / "music_avqa",
                  REPO / "data" / "music_avqa"]
    for c in candidates:
        if c and (Path(c) / "json_update" / "avqa-test.json").exists():
            return Path(c)
    raise FileNotFoundError("Music-AVQA annotations not found; run `mcd data download --dest data/music_avqa` "
                            "or set MCD_MUSIC_AVQA")


def splits(root: Path) -> dict[str, list[Record]]:
    """Every annotation file present, by name (e.g. 'json_update/test', 'partial train')."""
    out = {}
    for version in ("json_update", "json"):
        for split in ("train", "val", "test"):
            f = root / version / f"avqa-{split}.json"
            if f.exists():
                out[f"{version}/{split}"] = load_records(f)
    if (root / PARTIAL_TRAIN).exists():
        out["partial train"] = load_records(root / PARTIAL_TRAIN)
    return out


def split_table(parts: dict[str, list[Record]]) -> pd.DataFrame:
    """QA, videos, answers, templates and per-type counts of each file."""
    rows = {}
    for name, recs in parts.items():
        rows[name] = {"QA": len(recs), "videos": len({r.video_id for r in recs}),
                      "answers": len({r.answer for r in recs}), "templates": len({r.question for r in recs}),
                      **type_counts(recs).to_dict()}
    return pd.DataFrame.from_dict(rows, orient="index")


def table1_ours(parts: dict[str, list[Record]]) -> dict:
    """What the files here add up to, for Table I's Music-AVQA row (the full train file is missing)."""
    use = [p for p in ("partial train", "json_update/val", "json_update/test") if p in parts]
    recs = [r for p in use for r in parts[p]]
    return {"videos": len({r.video_id for r in recs}), "qa_pairs": len(recs),
            "question_types": len({r.qtype for r in recs}), "files": " + ".join(use)}


def duplicate_keys(recs: list[Record]) -> int:
    """(video, question) keys that appear more than once (the original json/ release has some)."""
    c = Counter((r.video_id, r.question_id) for r in recs)
    return sum(1 for v in c.values() if v > 1)


def answer_shares(recs: list[Record], top: int = 12) -> pd.DataFrame:
    """Per type, the share (%) of its most frequent answers: how much a question-only prior can get."""
    rows = []
    for t in TYPE_NAMES:
        c = Counter(r.answer for r in recs if r.type_name == t)
        n = sum(c.values())
        rows += [{"type": t, "answer": a, "share": 100.0 * k / n} for a, k in c.most_common(top)]
    return pd.DataFrame(rows)


def prior_baselines(train: list[Record], test: list[Record]) -> dict[str, dict]:
    """Majority answer per type and per template, scored like a model."""
    return {f"majority per {by}": score(majority_baseline(train, test, by)) for by in ("type", "template")}


def qonly_config(profile: str, root: Path, seed: int = 1, overrides=None):
    """The learned question-only LSTM on the real questions: train = partial reconstruction + json_update val
    (so the last epoch is kept: no held-out val is left), test = json_update test. No features are read."""
    from mcd.study import STUDY_PROFILES, experiment
    p = STUDY_PROFILES[profile]
    return experiment(profile, "real-qonly", "qonly", seed=seed, overrides=[
        f"data.root={root}", "data.synth_profile=null", "data.audio_feats=null", "data.visual_feats=null",
        f"data.train_files=[{PARTIAL_TRAIN}, json_update/avqa-val.json]", "data.version=json_update",
        "train.select=last", f"model.qonly.dim={512 if profile != 'tiny' else p.dim}",
        f"train.epochs={5 if profile != 'tiny' else 1}", *(overrides or [])])
