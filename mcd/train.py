"""The trainer, one for every model: config -> data -> model -> epochs -> best-on-val checkpoint -> test scores.

Read it top to bottom: ``train`` locks the run folder (one writer at a time) and checks that a run it resumes
was trained with the same config; ``_train`` sets up (seed, device, processes, data, model, optimiser), resumes if
the run folder holds a ``last.pt`` (loaded as tensors and plain values only, never code), then runs epochs; each
epoch trains, evaluates val (and test, for the curves of Fig. 5; selection never looks at test), appends a row to
``metrics.csv`` and saves ``last.pt``, and ``best.pt`` when val improved. At the end the best weights are
evaluated once on val and test, and DONE is written last.

Several GPUs (or CPU processes with gloo): launch with ``torchrun --nproc_per_node=N -m mcd train ...``.
``train.batch_size`` is the global batch: each step, every rank takes batch_size / N samples of the epoch's
permutation, and together they take the samples one process would (when N divides the split; otherwise the
last step repeats a few samples, as DistributedSampler does). DDP averages the gradients, MCD's InfoNCE
gathers its negatives from every rank, and on CUDA ``train.sync_bn`` computes the BatchNorm statistics over the
global batch, so N processes train the model one process trains (to float rounding; ``tests/test_distributed.py``).
Losses and accuracies are summed across ranks; only rank 0 writes files.
"""
from __future__ import annotations

import dataclasses
import math
import os
import random
import time
import warnings
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
import torch.nn.functional as F
from tqdm.auto import tqdm

from mcd.config import ConfigError, ExperimentConfig, config_diff, from_dict, load_yaml, save_config
from mcd.cpu_matmul import cpu_matmul
from mcd.data.annotations import Vocab
from mcd.data.datasets import batches, build_vocab, input_dims, load_split
from mcd.errors import RunError, TrainingError
from mcd.evaluate import eval_batch_size, predict, score
from mcd.models.diagnostics import run_diagnostics
from mcd.models.registry import build_model
from mcd.io import (atomic_torch_save, atomic_write_csv, atomic_write_json, atomic_write_text, load_checkpoint,
                    run_lock)
from mcd.provenance import environment_info


# ----------------------------------------------------------------------------------------------- set-up helpers
def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError):
        raise TrainingError(f"train.device={name!r} is not a device (auto, cpu, cuda or cuda:N)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise TrainingError(f"train.device={name!r} but CUDA is not available on this machine")
    return dev


def init_distributed(device: torch.device) -> tuple[int, int, torch.device]:
    """(rank, world size, device) — world 1 unless launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, device
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    rank = dist.get_rank()
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank)))
        torch.cuda.set_device(device)
    return rank, world, device


def all_sum(values: list[float], world: int, device) -> list[float]:
    if world == 1:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def per_rank_batch(batch_size: int, world: int) -> int:
    """Each rank's share of the global batch ``train.batch_size``."""
    if batch_size % world:
        raise TrainingError(f"train.batch_size={batch_size} is the global batch; it must be a multiple of the "
                            f"number of processes ({world})")
    return batch_size // world


def adam(params, lr: float, betas=(0.9, 0.999), weight_decay: float = 0.0) -> torch.optim.Adam:
    """The trainer's Adam: ``fused=True``, one kernel that updates every parameter in one pass (CPU and CUDA),
    the same update as the for-each and per-parameter implementations to float rounding
    (``tests/test_speed_equivalence.py``)."""
    return torch.optim.Adam(params, lr=lr, betas=tuple(betas), weight_decay=weight_decay, fused=True)


def unwrap(model):
    model = getattr(model, "module", model)          # DistributedDataParallel
    return getattr(model, "_orig_mod", model)        # torch.compile


@torch.inference_mode()
def accuracy_sums(model, split, device, autocast_dtype, batch_size, rank, world) -> tuple[float, float]:
    """(correct, count) on this rank's share of ``split``; summed across ranks by the caller. Under
    ``inference_mode``: no autograd bookkeeping at all (``no_grad`` still versions and tracks views)."""
    model.eval()
    correct = count = 0.0
    for idx in batches(len(split), batch_size, shuffle=False, rank=rank, world=world):
        b = split.batch(idx, device)
        with autocast(device, autocast_dtype):
            logits = model(b).logits
        correct += (logits.argmax(-1) == b["label"]).sum().item()
        count += len(idx)
    model.train()
    return correct, count


def autocast(device: torch.device, dtype):
    return torch.autocast(device_type=device.type, dtype=dtype) if dtype is not None else nullcontext()


# ------------------------------------------------------------------------------------------------- the run folder
# What a run writes (``mcd.runs``); DONE is written last and removed first.
RUN_FILES = ("config.yaml", "env.json", "vocab.json", "metrics.csv", "last.pt", "best.pt", "predictions_val.csv",
             "predictions_test.csv", "scores.json", "forced_resume.json")


def prepare_run_folder(cfg: ExperimentConfig, out: Path, *, resume: bool, force_resume: bool) -> None:
    """Make ``out`` ready to be trained into (called with its lock held). A folder that is not a run folder is
    refused; resuming a run trained with another config is refused, naming the keys that differ, unless
    ``force_resume`` (then the new config is saved and the change recorded in ``forced_resume.json``); a folder not
    resumed is emptied of the results of an earlier run. DONE goes first: the folder is not finished until
    ``finish`` writes it again."""
    foreign = sorted(p.name for p in out.iterdir() if not p.name.startswith(".") and p.name not in (*RUN_FILES,
                                                                                                      "DONE"))
    if foreign and not (out / "config.yaml").exists():
        raise RunError(out, f"not a run folder (it holds {', '.join(foreign[:5])}{', ...' if len(foreign) > 5 else ''}"
                            f" and no config.yaml); train into a new or empty folder")
    resuming = resume and (out / "last.pt").exists()
    if resuming:
        for name in ("config.yaml", "vocab.json", "metrics.csv"):
            if not (out / name).exists():
                raise RunError(out, f"holds last.pt but no {name}: it cannot be resumed; --restart trains anew")
        try:
            saved = from_dict(ExperimentConfig, load_yaml(out / "config.yaml")).identity()
        except ConfigError as e:
            if not force_resume:
                raise RunError(out, f"its saved config cannot be read ({e}); --force-resume continues it with this "
                                    f"config, --restart trains anew") from None
            saved = {}
        diff = config_diff(saved, cfg.identity())
        if diff and not force_resume:
            shown = "; ".join(f"{k}: {a!r} -> {b!r}" for k, a, b in ((k, *v) for k, v in diff.items()))
            raise RunError(out, f"was trained with another config ({shown}). Resume it with the same config, "
                                f"--force-resume to continue it with this one knowingly, or --restart to train anew")
        if diff:
            warnings.warn(f"{out}: resumed with a different config ({', '.join(diff)}), as --force-resume asked",
                          stacklevel=3)
            record = {"changed": {k: list(v) for k, v in diff.items()}, "at": time.strftime("%Y-%m-%d %H:%M:%S")}
            atomic_write_json(out / "forced_resume.json", record)
            save_config(cfg, out / "config.yaml")
    (out / "DONE").unlink(missing_ok=True)
    if not resuming:
        for name in RUN_FILES:
            (out / name).unlink(missing_ok=True)


# ------------------------------------------------------------------------------------------------------ training
def train(cfg: ExperimentConfig, *, out: Path | None = None, resume: bool = True,
          force_resume: bool = False) -> Path:
    """Train ``cfg`` into ``out`` (default: its run folder) and return the folder.

    One writer per run folder: the folder's lock is held while it trains, and a second process asking for it gets
    a ``RunBusyError`` at once (``mcd.runs.get_or_train`` waits instead). ``resume`` continues from ``last.pt``
    when the folder holds one trained with the same config (``force_resume``: with another)."""
    out = Path(out or cfg.run_dir())
    writer = int(os.environ.get("RANK", "0")) == 0      # torchrun: rank 0 alone locks and writes
    with run_lock(out) if writer else nullcontext():
        if writer:
            prepare_run_folder(cfg, out, resume=resume, force_resume=force_resume)
        with cpu_matmul(cfg.train.cpu_matmul) as route:   # the float32 matmul library, restored afterwards
            return _train(cfg, out, resume, route)


def _train(cfg: ExperimentConfig, out: Path, resume: bool, matmul_route: str) -> Path:
    started = time.time()
    t = cfg.train
    device = pick_device(t.device)
    rank, world, device = init_distributed(device)
    rank_batch = per_rank_batch(t.batch_size, world)
    if t.threads:
        torch.set_num_threads(t.threads)
    if t.precision not in ("fp32", "bf16"):
        raise TrainingError(f"train.precision must be fp32 or bf16, got {t.precision!r}")
    amp = torch.bfloat16 if t.precision == "bf16" and device.type == "cuda" else None
    if t.precision == "bf16" and amp is None and rank == 0:   # said aloud, so a CPU run is not taken for bf16
        warnings.warn(f"train.precision=bf16 applies on CUDA only; this run on {device.type} trains in fp32",
                      stacklevel=2)
    seed_everything(t.seed)

    # Data: the vocabulary comes from train and is saved with the run, then reloaded (never rebuilt) on resume.
    vocab_path = out / "vocab.json"
    resuming = resume and (out / "last.pt").exists()
    vocab = Vocab.load(vocab_path) if resuming else build_vocab(cfg.data)
    show = t.progress and rank == 0
    splits = {s: load_split(cfg.data, s, vocab, progress=show) for s in ("train", "val", "test")}
    dims = input_dims(splits["train"], vocab)

    # Model and optimiser. Seeded again so the initialisation does not depend on how much data code drew.
    torch.manual_seed(t.seed)
    model = build_model(cfg.model, dims).to(device)
    opt = adam(model.parameters(), lr=t.lr, betas=tuple(t.betas), weight_decay=t.weight_decay)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=t.lr_step, gamma=t.lr_gamma)
    start_epoch, best_val, rows = 0, -1.0, []
    if resuming:
        state = load_checkpoint(out / "last.pt")
        try:
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            sched.load_state_dict(state["scheduler"])
            torch.set_rng_state(state["rng"])
            start_epoch, best_val = int(state["epoch"]) + 1, float(state["best_val"])
        except (KeyError, RuntimeError, ValueError, TypeError) as e:
            raise RunError(out / "last.pt", f"does not fit this model and optimiser "
                                            f"({' '.join(str(e).split())[:300] or repr(e)})") from None
        try:
            rows = pd.read_csv(out / "metrics.csv").to_dict("records")[:start_epoch]
        except (OSError, ValueError) as e:
            raise RunError(out / "metrics.csv", f"cannot be read to resume ({e})") from None
    elif rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        save_config(cfg, out / "config.yaml")
        vocab.save(vocab_path)
        from mcd.data.synth import read_card
        card = read_card(cfg.data.root) if cfg.data.synth_profile else None
        atomic_write_json(out / "env.json", {**environment_info(t.seed), "world_size": world,
                                             "synthavqa": card and card.get("version"),
                                             "device": str(device),
                                             "precision": "bf16" if amp is not None else "fp32",
                                             "cpu_matmul": matmul_route,
                                             "input_dims": dims.__dict__})
    if world > 1:
        if t.sync_bn and device.type == "cuda":
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)   # BN statistics over the global batch
        elif t.sync_bn and rank == 0 and any(isinstance(m, torch.nn.BatchNorm1d) for m in model.modules()):
            # torch's SyncBatchNorm has no CPU kernels
            warnings.warn("train.sync_bn applies on CUDA only; on CPU every process normalises with its own "
                          "BatchNorm statistics", stacklevel=2)
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda"
                                                          else None)
    net = torch.compile(model) if t.compile else model

    train_split = splits["train"]
    for epoch in range(start_epoch, t.epochs):
        net.train()
        t0 = time.time()
        loss_sum = correct = seen = 0.0
        # The order depends on (seed, epoch) only, so a resumed run sees the same batches.
        steps = batches(len(train_split), rank_batch, shuffle=True, seed=t.seed * 100_003 + epoch,
                        rank=rank, world=world)
        bar = tqdm(steps, total=math.ceil(len(train_split) / world / rank_batch), disable=not show, leave=False,
                   desc=f"{cfg.name} epoch {epoch + 1}/{t.epochs}")
        for step, idx in enumerate(bar):
            b = train_split.batch(idx, device)
            with autocast(device, amp):
                output = net(b)
                answer_loss = F.cross_entropy(output.logits.float(), b["label"])
                loss = answer_loss + sum(output.losses.values())
            if not torch.isfinite(loss):
                parts = {"answer": answer_loss.item(), **{k: v.item() for k, v in output.losses.items()}}
                qids = [train_split.records[i].question_id for i in idx[:5].tolist()]
                raise TrainingError(f"{cfg.name}: non-finite loss at epoch {epoch + 1}, step {step + 1} "
                                    f"(loss terms {parts}; first question ids of the batch {qids}). "
                                    f"Run folder: {out}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if t.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), t.grad_clip)
            opt.step()
            loss_sum += loss.item() * len(idx)
            correct += (output.logits.argmax(-1) == b["label"]).sum().item()
            seen += len(idx)
            if step % 10 == 0:
                bar.set_postfix(loss=f"{loss.item():.3f}")
        lr = opt.param_groups[0]["lr"]
        sched.step()

        loss_sum, correct, seen = all_sum([loss_sum, correct, seen], world, device)
        acc = {}
        for s in ("val", "test") if t.eval_test_each_epoch else ("val",):
            c, n = all_sum(list(accuracy_sums(net, splits[s], device, amp, eval_batch_size(device), rank, world)),
                           world, device)
            acc[s] = 100.0 * c / n
        row = {"epoch": epoch + 1, "lr": lr,
               "train_loss": loss_sum / seen, "train_acc": 100.0 * correct / seen, "val_acc": acc["val"],
               "test_acc": acc.get("test", float("nan")), "seconds": time.time() - t0}
        rows.append(row)
        if rank == 0:
            if show:
                tqdm.write(f"{cfg.name} epoch {epoch + 1}: loss {row['train_loss']:.4f} "
                           f"val {row['val_acc']:.2f} test {row['test_acc']:.2f}")
            if acc["val"] > best_val or t.select == "last":
                best_val = acc["val"]
                atomic_torch_save({"model": unwrap(model).state_dict(), "epoch": epoch + 1}, out / "best.pt")
            atomic_write_csv(out / "metrics.csv", pd.DataFrame(rows))
            atomic_torch_save({"model": unwrap(model).state_dict(), "optimizer": opt.state_dict(),
                               "scheduler": sched.state_dict(), "rng": torch.get_rng_state(), "epoch": epoch,
                               "best_val": best_val}, out / "last.pt")
        if world > 1:
            dist.barrier()

    if rank == 0:
        finish(cfg, unwrap(model), splits, vocab, dims, out, device, amp, started=started)
    if world > 1:
        dist.barrier()
    return out


def finish(cfg, model, splits, vocab, dims, out: Path, device, amp, *, started: float) -> None:
    """Evaluate the best-on-val weights once: per-question predictions on val and test, scores on val, test and,
    with ``train.score_train``, train (whether a model fits what it fails to generalise), the
    model's own diagnostics, the wall time; then DONE."""
    best = load_checkpoint(out / "best.pt")
    model.load_state_dict(best["model"])
    scores = {"best_epoch": best["epoch"], "annotation_version": cfg.data.version,
              "data_root": str(cfg.data.annotation_root or cfg.data.root)}
    for s in ("train", "val", "test") if cfg.train.score_train else ("val", "test"):
        pred = predict(model, splits[s], vocab, device=device, autocast_dtype=amp, stride=cfg.data.stride)
        if s != "train":
            atomic_write_csv(out / f"predictions_{s}.csv", pred)
        scores[s] = score(pred)
        scores[f"{s}_files"] = [str(f) for f in splits[s].files]
    for name, file in cfg.data.extra_test_files.items():        # more test sets (e.g. MUSIC-AVQA v2.0's)
        extra = load_split(dataclasses.replace(cfg.data, test_file=str(file)), "test", vocab, progress=False)
        pred = predict(model, extra, vocab, device=device, autocast_dtype=amp, stride=cfg.data.stride)
        atomic_write_csv(out / f"predictions_{name}.csv", pred)
        scores[name] = score(pred)
        scores[f"{name}_files"] = [str(f) for f in extra.files]
    diagnostics = run_diagnostics(cfg, model, splits["val"], dims, device)
    if diagnostics:
        atomic_write_json(out / "diagnostics.json", diagnostics)
    scores["seconds"] = time.time() - started      # training and this evaluation, this process (resumed: since)
    atomic_write_json(out / "scores.json", scores)
    atomic_write_text(out / "DONE", f"finished; best epoch {best['epoch']}\n")
