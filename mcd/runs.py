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
from dataclasses import dataclass
from pathlib import Path

import pandas as pd


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
    run = Run(cfg.run_dir())
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
