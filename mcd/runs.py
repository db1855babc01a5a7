"""Where results live. A run folder holds everything needed to trust and reuse its numbers:

    runs/{name}-{config hash}/
      config.yaml     the resolved config            env.json     seed, versions, git commit, machine
      vocab.json      vocabularies built on train     metrics.csv  one row per epoch (loss, val/test accuracy)
      last.pt         full state, to resume           best.pt      best-on-val weights
      predictions_{val,test}.csv   one row per question     scores.json  per-type and micro-averaged accuracy
      DONE            written last: the run finished

Every file is written atomically (temporary file, then rename), so an interrupted run never leaves a half file;
DONE is removed when training into the folder starts. One process at a time writes into a folder (its ``.lock``,
``mcd.io.run_lock``). A finished run with the same resolved config is read back, not retrained (``get_or_train``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mcd.errors import RunBusyError
from mcd.io import run_lock


@dataclass
class Run:
    """A finished run folder, read back."""

    path: Path

    @property
    def finished(self) -> bool:
        return (self.path / "DONE").exists()

    @property
    def config(self) -> dict:
        """The saved config (plain YAML; a ConfigError naming the file if it is not)."""
        from mcd.config import load_yaml
        return load_yaml(self.path / "config.yaml")

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
        """Per-question predictions on ``split`` (a run folder's CSV, or a kept run's compressed one)."""
        from mcd.bundle import read_predictions
        return read_predictions(self.path, split)

    @property
    def has_test_curves(self) -> bool:
        """Whether test was scored after every epoch (``train.eval_test_each_epoch``: the curves of Fig. 5)."""
        return bool(self.metrics["test_acc"].notna().all())

    @property
    def has_train_scores(self) -> bool:
        """Whether the best weights were scored on the train split (``train.score_train``)."""
        return "train" in self.scores

    def provides(self, cfg) -> bool:
        """Whether this finished run holds every output ``cfg`` asks for beyond its numbers: the per-epoch test
        curves (``train.eval_test_each_epoch``) and the train split's scores (``train.score_train``)."""
        return ((not cfg.train.eval_test_each_epoch or self.has_test_curves)
                and (not cfg.train.score_train or self.has_train_scores))

    @property
    def diagnostics(self) -> dict | None:
        """What the trainer measured on the model beside its scores (``diagnostics.json``), if anything."""
        path = self.path / "diagnostics.json"
        return json.loads(path.read_text()) if path.exists() else None

    @property
    def env(self) -> dict:
        return json.loads((self.path / "env.json").read_text())


def get_or_train(cfg, *, retrain: bool = False) -> Run:
    """Return the finished run for ``cfg``; train it first if none exists (resuming a partial one; ``retrain``:
    training it anew, as a run that lacks the test curves or train scores ``cfg`` asks for is).

    Processes that ask for the same run (notebooks executed in parallel share runs) are serialised by the run
    folder's lock: the one that gets it trains; the others wait for the lock, then read the finished run instead
    of training it again."""
    from mcd.train import train
    run = Run(cfg.run_dir())
    if run.finished and not run.provides(cfg):
        retrain = True          # asked for test curves (Fig. 5) or train scores that this run did not record
    while retrain or not run.finished:
        try:
            train(cfg, out=run.path, resume=not retrain)
            break
        except RunBusyError:
            with run_lock(run.path, wait=True):  # another process trains it: wait for it, then look again
                pass
            retrain = False
    return run
