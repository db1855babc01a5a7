"""Where results live. A run folder holds everything needed to trust and reuse its numbers:

    runs/{name}-{config hash}/
      config.yaml     the resolved config            env.json     seed, versions, git commit, machine
      vocab.json      vocabularies built on train     metrics.csv  one row per epoch (loss, val/test accuracy)
      last.pt         full state, to resume           best.pt      best-on-val weights
      predictions_{val,test}.csv   one row per question     scores.json  per-type and micro-averaged accuracy
      DONE            written last: the run finished

Every file is written atomically (temporary file, then rename), so an interrupted run never leaves a half file.
A finished run with the same resolved config is read back, not retrained (``get_or_train``).
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd


def _atomic(path: Path, write) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_write_text(path, text: str) -> None:
    def w(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
    _atomic(path, w)


def atomic_write_json(path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=1, default=str))


def atomic_write_csv(path, df: pd.DataFrame) -> None:
    _atomic(path, lambda tmp: df.to_csv(tmp, index=False))


def atomic_torch_save(obj, path) -> None:
    import torch
    _atomic(path, lambda tmp: torch.save(obj, tmp))


def git_commit() -> str:
    """The commit of the code that produced a result, marked '-dirty' if the tree had uncommitted changes."""
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True,
                             timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return (sha + ("-dirty" if dirty else "")) if sha else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def environment_info(seed: int | None = None) -> dict:
    import numpy
    import torch

    import mcd
    info = {
        "seed": seed,
        "mcd": mcd.__version__,
        "git_commit": git_commit(),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        "cpu_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    try:
        from mcd.data.synth import SYNTH_VERSION
        info["synthavqa"] = SYNTH_VERSION
    except ImportError:
        pass
    return info


def run_dir(cfg) -> Path:
    return Path(cfg.out_dir) / f"{cfg.name}-{cfg.hash()}"


@dataclass
class Run:
    """A finished run folder, read back."""

    path: Path

    @property
    def finished(self) -> bool:
        return (self.path / "DONE").exists()

    @property
    def config(self) -> dict:
        import yaml
        return yaml.safe_load((self.path / "config.yaml").read_text())

    @property
    def seed(self) -> int:
        return self.config["train"]["seed"]

    @property
    def metrics(self) -> pd.DataFrame:
        return pd.read_csv(self.path / "metrics.csv")

    @property
    def scores(self) -> dict:
        return json.loads((self.path / "scores.json").read_text())

    def predictions(self, split: str = "test") -> pd.DataFrame:
        return pd.read_csv(self.path / f"predictions_{split}.csv", dtype={"video_id": str})

    @property
    def env(self) -> dict:
        return json.loads((self.path / "env.json").read_text())


def get_or_train(cfg, *, retrain: bool = False) -> Run:
    """Return the finished run for ``cfg``; train it first if none exists (resuming a partial one).

    A lock file serialises processes that ask for the same run (notebooks executed in parallel share runs):
    the second one waits, then reads the finished run instead of training it again."""
    import fcntl

    from mcd.train import train
    run = Run(run_dir(cfg))
    if run.finished and not retrain:
        return run
    run.path.mkdir(parents=True, exist_ok=True)
    with open(run.path / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if retrain or not run.finished:
                train(cfg, out=run.path)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return run
