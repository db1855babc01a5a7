"""Using a finished run: evaluate its best checkpoint on a split, or answer one video's questions.

The vocabularies come from the run folder (built on its train split), never rebuilt from the evaluation data.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import torch

from mcd.config import ExperimentConfig, from_dict, merge, parse_overrides
from mcd.data.annotations import QUESTION_TYPES, TYPE_NAMES, Vocab, parse_record
from mcd.data.datasets import read_with_origin, input_dims, load_features, load_split, make_split
from mcd.evaluate import predict, score
from mcd.models.registry import build_model
from mcd.io import atomic_write_csv
from mcd.runs import Run


def load_run(run_dir: Path, overrides: list[str] | None = None):
    """(config, vocab, run) of a run folder; ``overrides`` may point the data elsewhere."""
    run = Run(Path(run_dir))
    if not (run.path / "best.pt").exists():
        raise FileNotFoundError(f"{run.path} has no best.pt: the run has not finished an epoch")
    cfg = from_dict(ExperimentConfig, merge(run.config, parse_overrides(overrides)))
    return cfg, Vocab.load(run.path / "vocab.json"), run


def load_model(cfg, vocab, run, split) -> torch.nn.Module:
    model = build_model(cfg.model, input_dims(split, vocab))
    model.load_state_dict(torch.load(run.path / "best.pt", map_location="cpu", weights_only=False)["model"])
    return model.eval()


def evaluate_run(run_dir: Path, split: str = "test", overrides=None, out=None, *, progress: bool = True) -> dict:
    cfg, vocab, run = load_run(run_dir, overrides)
    data = load_split(cfg.data, split, vocab, progress=progress)
    pred = predict(load_model(cfg, vocab, run, data), data, vocab)
    if out:
        atomic_write_csv(Path(out), pred)
    return {"split": split, "files": [str(f) for f in data.files], **score(pred)}


def answer_video(run_dir: Path, video_id: str, overrides=None, *, question=None, qtype=None, values=()) -> pd.DataFrame:
    """Answer the questions about ``video_id`` found in the run's annotation files (or one given question),
    reading only that video's feature files."""
    cfg, vocab, run = load_run(run_dir, overrides)
    if question is not None:
        names = {"/".join(t): t for t in QUESTION_TYPES} | dict(zip(TYPE_NAMES, QUESTION_TYPES))
        if qtype not in names:
            raise ValueError(f"--type must be one of {sorted(names)}, got {qtype!r}")
        raw = {"video_id": video_id, "question_id": -1, "type": json.dumps(list(names[qtype])),
               "question_content": question, "templ_values": json.dumps(list(values)), "anser": ""}
        records, origin, labelled = [parse_record(raw)], [("<command line>", 0)], False
    else:
        records, origin = [], []
        for s in ("train", "val", "test"):
            _, recs, orig = read_with_origin(cfg.data, s)
            keep = [i for i, r in enumerate(recs) if r.video_id == video_id]
            records += [recs[i] for i in keep]
            origin += [orig[i] for i in keep]
        labelled = True
        if not records:
            raise ValueError(f"video {video_id!r} has no questions under {cfg.data.ann_root()}")
    features = load_features(cfg.data, [video_id], progress=False)
    data = make_split("answer", [], records, origin, vocab, [video_id], features, cfg.data.multiple_choice,
                      labelled=labelled)
    table = predict(load_model(cfg, vocab, run, data), data, vocab)
    table.insert(0, "question", [r.text for r in records])
    return table[["question", "type", "answer", "predicted", "correct"]] if labelled else table[["question", "type",
                                                                                                 "predicted"]]
