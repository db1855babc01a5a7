"""Using a finished run: evaluate its best checkpoint on a split, or answer one video's questions.

The vocabularies come from the run folder (built on its train split), never rebuilt from the evaluation data.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from mcd.config import ExperimentConfig, from_dict, merge, parse_overrides
from mcd.data.annotations import Vocab, parse_question
from mcd.data.datasets import read_with_origin, input_dims, load_features, load_split, make_split
from mcd.data.schema import RecordError
from mcd.errors import RunError
from mcd.evaluate import predict, score
from mcd.models.registry import build_model
from mcd.io import atomic_write_csv, load_checkpoint, name_problem
from mcd.runs import Run

# The command-line flag of each field of a question asked with ``mcd answer --question``.
CLI_FLAGS = {"video_id": "--video", "type": "--type", "question_content": "--question", "templ_values": "--values"}


def _flag(field: str | None) -> str:
    """A schema field as the flag that gave it: ``templ_values[1]`` -> ``--values[1]``."""
    name, bracket, rest = (field or "").partition("[")
    return CLI_FLAGS.get(name, name or "--question") + bracket + rest


def load_run(run_dir: Path, overrides: list[str] | None = None):
    """(config, vocab, run) of a run folder; ``overrides`` may point the data elsewhere. A folder that is not a run
    (or lacks what evaluation needs) is a RunError naming it."""
    run = Run(Path(run_dir))
    if not run.path.is_dir():
        raise RunError(run.path, "no such run folder")
    for name, why in (("config.yaml", "not a run folder"), ("vocab.json", "not a run folder"),
                      ("best.pt", "the run has not finished an epoch")):
        if not (run.path / name).is_file():
            raise RunError(run.path, f"has no {name}: {why}")
    cfg = from_dict(ExperimentConfig, merge(run.config, parse_overrides(overrides)))
    return cfg, Vocab.load(run.path / "vocab.json"), run


def load_model(cfg, vocab, run, split) -> torch.nn.Module:
    """The run's best weights (a checkpoint of tensors only, ``mcd.io.load_checkpoint``) in its model."""
    model = build_model(cfg.model, input_dims(split, vocab))
    state = load_checkpoint(run.path / "best.pt")
    try:
        model.load_state_dict(state["model"])
    except (KeyError, RuntimeError, TypeError) as e:
        raise RunError(run.path / "best.pt", f"does not fit the run's model "
                                             f"({' '.join(str(e).split())[:300] or repr(e)})") from None
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
    problem = name_problem(video_id, suffix=".npy")
    if problem:
        raise ValueError(f"--video {video_id!r} is not a video id: it {problem}")
    cfg, vocab, run = load_run(run_dir, overrides)
    if question is not None:
        try:
            record = parse_question(video_id, qtype, question, values)
        except RecordError as e:
            raise ValueError("; ".join(f"{_flag(f)}: {m}" for f, m in e.problems)) from None
        records, origin, labelled = [record], [("<command line>", 0)], False
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
