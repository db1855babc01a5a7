"""The kept results: every run the study uses, kept in the repository without checkpoints.

    results/<profile>/runs/<name>-<config hash>/
      config.yaml  env.json  vocab.json  metrics.csv  scores.json  [diagnostics.json]  DONE
      predictions_val.csv.gz  predictions_test.csv.gz     (one row per question; gzip written without a time
      [predictions_<extra test set>.csv.gz]                 stamp, so the same predictions give the same bytes)

A kept run is a run folder that ``mcd.runs.Run`` reads like any other; it lacks ``best.pt`` and ``last.pt``.
``keep`` adds a finished run to the bundle in one rename, so a bundle never holds half a run. ``verify`` retrains
kept runs from scratch and says, per run, whether the scores and the predictions came out identical.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd

KEPT_FILES = ("config.yaml", "env.json", "vocab.json", "metrics.csv", "scores.json")
OPTIONAL_FILES = ("diagnostics.json",)
GZIP = {"method": "gzip", "mtime": 0}     # reproducible bytes


def is_kept(path: Path) -> bool:
    return (Path(path) / "DONE").exists() and all((Path(path) / f).exists() for f in KEPT_FILES)


def keep(run_path: Path, target: Path, *, relative_to: Path | None = None) -> Path:
    """Copy a finished run folder to ``target`` (no checkpoints, predictions compressed), in one rename.

    Absolute paths in the kept text files are written relative to the folder ``relative_to`` (the repository:
    ``data/...``, and ``../shared/...`` beside it), so that the kept results name no machine's folders."""
    run_path, target = Path(run_path), Path(target)
    if not (run_path / "DONE").exists():
        raise ValueError(f"{run_path} is not a finished run (no DONE); only finished runs are kept")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        for name in KEPT_FILES + OPTIONAL_FILES:
            if (run_path / name).exists():
                text = (run_path / name).read_text(encoding="utf-8")
                if relative_to is not None:
                    base = Path(relative_to).resolve()
                    text = text.replace(f"{base}/", "").replace(f"{base.parent}/", "../")
                (tmp / name).write_text(text, encoding="utf-8")
        for split in prediction_names(run_path):
            pred = read_predictions(run_path, split)
            pred.to_csv(tmp / f"predictions_{split}.csv.gz", index=False, compression=GZIP)
        shutil.copyfile(run_path / "DONE", tmp / "DONE")      # last: a kept run is complete
        if target.exists():
            old = target.parent / f".{target.name}.old-{os.getpid()}"
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def prediction_names(run_path: Path) -> list[str]:
    """The splits (val, test, and any extra test set) a run folder or a kept run has predictions for."""
    names = {p.name.removeprefix("predictions_").removesuffix(".gz").removesuffix(".csv")
             for p in Path(run_path).glob("predictions_*.csv*")}
    return sorted(names)


def prediction_file(run_path: Path, split: str) -> Path:
    """The file of a run's per-question predictions on ``split``: ``.csv`` in a run folder, ``.csv.gz`` when kept."""
    run_path = Path(run_path)
    for name in (f"predictions_{split}.csv", f"predictions_{split}.csv.gz"):
        if (run_path / name).exists():
            return run_path / name
    raise FileNotFoundError(f"{run_path} has no predictions for the {split} split")


def read_predictions(run_path: Path, split: str) -> pd.DataFrame:
    """A run's per-question predictions on ``split``, from a run folder or a kept run."""
    return pd.read_csv(prediction_file(run_path, split), dtype={"video_id": str})


def compare_runs(kept: Path, fresh: Path) -> dict:
    """How a retrained run compares with its kept copy: identical scores and predictions, or how far apart."""
    out: dict = {"run": Path(kept).name}
    a, b = json.loads((Path(kept) / "scores.json").read_text()), json.loads((Path(fresh) / "scores.json").read_text())
    diffs = []
    names = prediction_names(kept)
    for split in names:
        for key, value in a.get(split, {}).items():
            other = b.get(split, {}).get(key)
            if isinstance(value, (int, float)) and isinstance(other, (int, float)):
                diffs.append(abs(value - other))
            elif value != other:
                diffs.append(float("inf"))
    out["scores identical"] = bool(diffs) and max(diffs) == 0.0
    out["largest score difference (points)"] = max(diffs) if diffs else float("nan")
    changed = 0
    for split in names:
        pa, pb = read_predictions(kept, split), read_predictions(fresh, split)
        if len(pa) != len(pb) or list(pa["question_id"]) != list(pb["question_id"]):
            changed = -1
            break
        changed += int((pa["predicted"].astype(str) != pb["predicted"].astype(str)).sum())
    out["predictions identical"] = changed == 0
    out["predictions that differ"] = changed if changed >= 0 else "different questions"
    return out
