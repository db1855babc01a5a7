"""The trainer: determinism, resume after an interruption, a clear stop on NaN, the files a run leaves, the
distributed path (gloo, 2 processes), and the eval / answer commands on a finished run."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest
import torch

import mcd.train
from mcd.cli import main
from mcd.errors import TrainingError
from mcd.models.base import ModelOutput
from mcd.runs import Run
from mcd.train import train


def test_a_run_leaves_everything_beside_its_results(toy_cfg):
    out = train(toy_cfg())
    run = Run(out)
    assert run.finished
    assert run.env["precision"] == "fp32"
    assert run.env["seed"] == 1 and run.env["torch"] == torch.__version__ and run.env["git_commit"]
    assert run.config["model"] == {"name": "mlp", "mlp": {"modalities": "qav", "dim": 16, "hidden": 16,
                                                         "dropout": 0.1}}
    assert list(run.metrics.columns) == ["epoch", "lr", "train_loss", "train_acc", "val_acc", "test_acc", "seconds"]
    pred = run.predictions("test")
    assert len(pred) == 8 and set(pred["type"]) == {"A-Count", "V-Loc", "AV-Count", "AV-Exist"}
    assert run.scores["test"]["overall"] == pytest.approx(100 * pred["correct"].mean())
    assert run.scores["annotation_version"] == "json_update"


def test_bf16_off_cuda_trains_in_fp32_and_says_so(toy_cfg):
    if torch.cuda.is_available():
        pytest.skip("on CUDA bf16 applies")
    with pytest.warns(UserWarning, match="bf16 applies on CUDA only"):
        run = Run(train(toy_cfg("train.precision=bf16", "train.epochs=1")))
    assert run.env["precision"] == "fp32"


def test_the_matmul_library_is_part_of_a_run_and_of_its_record(toy_cfg, tmp_path):
    """``train.cpu_matmul``: mkl (torch's route) leaves a run's identity as it was before the switch existed;
    onednn is another run (its numbers differ by float32 rounding), trains to the same seed-determined numbers
    twice, records the route it took in env.json and leaves torch's setting as it found it."""
    mkl, onednn = toy_cfg("train.epochs=2"), toy_cfg("train.epochs=2", "train.cpu_matmul=onednn")
    assert "cpu_matmul" not in mkl.identity()["train"] and onednn.identity()["train"]["cpu_matmul"] == "onednn"
    assert mkl.hash() != onednn.hash()
    before = torch.backends.mkldnn.matmul.fp32_precision
    a, b = (Run(train(onednn, out=tmp_path / name)) for name in ("a", "b"))
    assert torch.backends.mkldnn.matmul.fp32_precision == before
    pd.testing.assert_frame_equal(a.metrics.drop(columns="seconds"), b.metrics.drop(columns="seconds"))
    from mcd.cpu_matmul import onednn_keeps_fp32
    assert a.env["cpu_matmul"] == ("onednn" if onednn_keeps_fp32() else "mkl")
    with pytest.raises(Exception, match="cpu_matmul"):
        toy_cfg("train.cpu_matmul=blas")


def test_learns_the_toy_task(toy_cfg):
    run = Run(train(toy_cfg("train.epochs=15", "train.lr=0.01")))
    assert run.scores["test"]["overall"] == 100.0
    assert run.metrics["train_loss"].iloc[-1] < run.metrics["train_loss"].iloc[0]


def test_same_seed_same_metrics_other_seed_other_metrics(toy_cfg, tmp_path):
    a = Run(train(toy_cfg("train.epochs=3"), out=tmp_path / "a")).metrics.drop(columns="seconds")
    b = Run(train(toy_cfg("train.epochs=3"), out=tmp_path / "b")).metrics.drop(columns="seconds")
    c = Run(train(toy_cfg("train.epochs=3", "train.seed=2"), out=tmp_path / "c")).metrics.drop(columns="seconds")
    pd.testing.assert_frame_equal(a, b)
    assert not a["train_loss"].equals(c["train_loss"])


def test_resume_loses_at_most_the_epoch_in_progress(toy_cfg, tmp_path, monkeypatch):
    cfg = toy_cfg("train.epochs=4", "model.mlp.dropout=0.5")
    full = Run(train(cfg, out=tmp_path / "full")).metrics.drop(columns="seconds")
    calls = {"n": 0}
    real = mcd.train.accuracy_sums

    def interrupt(*a, **k):  # killed while evaluating epoch 3 (one call per epoch: val)
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(mcd.train, "accuracy_sums", interrupt)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, out=tmp_path / "cut")
    assert len(pd.read_csv(tmp_path / "cut" / "metrics.csv")) == 2 and not Run(tmp_path / "cut").finished
    monkeypatch.setattr(mcd.train, "accuracy_sums", real)
    resumed = Run(train(cfg, out=tmp_path / "cut")).metrics.drop(columns="seconds")
    pd.testing.assert_frame_equal(full, resumed)


def test_nan_loss_stops_with_a_message_that_says_where(toy_cfg, monkeypatch):
    class Broken(torch.nn.Module):
        def __init__(self, *a):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, batch):
            return ModelOutput(self.w * float("nan") + torch.zeros(len(batch["label"]), 8))

    monkeypatch.setattr(mcd.train, "build_model", lambda cfg, dims: Broken())
    with pytest.raises(TrainingError, match=r"non-finite loss at epoch 1, step 1 .*question ids"):
        train(toy_cfg())


def test_eval_and_answer_commands(toy_cfg, capsys):
    out = train(toy_cfg("train.epochs=15", "train.lr=0.01"))
    assert main(["eval", str(out), "--split", "val"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["overall"] == 100.0 and scores["split"] == "val"
    assert main(["answer", str(out), "--video", "v0011"]) == 0
    text = capsys.readouterr().out
    assert "Is there a violin sound?" in text and "True" in text
    assert main(["answer", str(out), "--video", "v0011", "--question", "Where is the performance?",
                 "--type", "V-Loc"]) == 0
    assert "outdoor" in capsys.readouterr().out  # v0011 is an "outdoor" video of the toy set
    assert main(["answer", str(out), "--video", "nope"]) == 2


def test_distributed_two_processes_gloo(toy_root, tmp_path):
    """torchrun with 2 CPU processes: each rank trains on its share, metrics are reduced, rank 0 writes."""
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29531", "-m", "mcd",
           "train", "--out", str(out), f"data.root={toy_root}", "data.synth_profile=null", "data.seconds=6",
           "train.epochs=2", "train.batch_size=8", "train.progress=false", "model.name=mlp", "model.mlp.dim=16",
           "model.mlp.hidden=16", "train.device=cpu"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = Run(out)
    assert run.finished and run.env["world_size"] == 2
    assert len(run.metrics) == 2 and len(run.predictions("test")) == 8


@pytest.mark.parametrize("name", ["mcd", "qonly", "mlp", "real_qonly"])
def test_shipped_configs_load(name):
    from pathlib import Path

    from mcd.config import load_config
    cfg = load_config(Path(__file__).parents[1] / "configs" / f"{name}.yaml", ["train.epochs=1"])
    assert cfg.train.epochs == 1 and cfg.train.lr == 1e-3


def test_bad_override_is_a_clear_error():
    from mcd.config import ConfigError, load_config
    with pytest.raises(ConfigError, match="unknown key"):
        load_config(None, ["train.epoch=3"])
    with pytest.raises(ConfigError, match="expected an integer"):
        load_config(None, ["train.epochs=three"])
