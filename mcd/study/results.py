"""Finished runs for the chapters: read from the kept results, trained where missing, and kept when finished.

A profile that keeps its results (``StudyProfile.keep``: the book's) reads a run from ``results/<profile>/runs/``
when one with the same *portable identity* is there: the run's config identity with the data named by what they
are (SynthAVQA's version, profile and seed; or the annotation files' content) instead of where they lie, so that a
fresh clone anywhere finds them. A run trained here is added to the kept results when it finishes (one rename).

``train_plan`` trains many runs at once, each in its own process on one thread, the longest first; ``verify``
retrains kept runs from scratch and compares them with what was kept.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from mcd import bundle
from mcd.config import ExperimentConfig, from_dict
from mcd.runs import Run, get_or_train
from mcd.study.profiles import REPO, STUDY_PROFILES, results_dir

# Relative cost of one training sample, per model, at the same width and length (measured with the study's
# default profile; only used to train the longest runs first, so it need not be exact).
MODEL_COST = {"mcd": 1.0, "pstp": 1.5, "avst": 0.5, "mlp": 0.05, "qonly": 0.05}


# ---------------------------------------------------------------------------------------------- kept results
def data_fingerprint(cfg: ExperimentConfig) -> dict:
    """What the data of ``cfg`` are, independent of where they lie: SynthAVQA's version, profile and seed, or the
    sha256 of each annotation file read (features are not fingerprinted: runs on a user's features are not kept)."""
    from mcd.data.layout import split_files
    if cfg.data.synth_profile:
        from mcd.data.synth import SYNTH_VERSION
        return {"synthavqa": SYNTH_VERSION, "profile": cfg.data.synth_profile, "seed": cfg.data.synth_seed}
    files = {}
    for split in ("train", "val", "test"):
        for f in split_files(cfg.data, split):
            files[f"{split}:{f.name}"] = hashlib.sha256(f.read_bytes()).hexdigest()
    for name, f in cfg.data.extra_test_files.items():
        files[f"extra {name}"] = hashlib.sha256((cfg.data.ann_root() / f).read_bytes()).hexdigest()
    return {"annotations": files}


def portable_identity(cfg: ExperimentConfig) -> dict:
    d = cfg.identity()
    for key in ("root", "annotation_root", "cache_dir", "extra_test_files"):
        d["data"].pop(key, None)
    d["data"]["extra_test_sets"] = sorted(cfg.data.extra_test_files)
    d["data"]["fingerprint"] = data_fingerprint(cfg)
    return d


def kept_dir(cfg: ExperimentConfig) -> Path | None:
    """Where ``cfg``'s run is kept, or None when it is not kept: its profile keeps no results, or it reads features
    that are not SynthAVQA (a user's own)."""
    out = Path(cfg.out_dir)
    profile = out.name if out.parent == REPO / "runs" else None
    if profile not in STUDY_PROFILES or not STUDY_PROFILES[profile].keep:
        return None
    reads_features = any((cfg.data.audio_feats, cfg.data.visual_feats, cfg.data.patch_feats))
    if reads_features and not cfg.data.synth_profile:
        return None
    digest = hashlib.sha1(json.dumps(portable_identity(cfg), sort_keys=True).encode()).hexdigest()[:10]
    return results_dir(profile) / "runs" / f"{cfg.name}-{digest}"


def _usable(path: Path, cfg: ExperimentConfig) -> bool:
    return bundle.is_kept(path) and Run(path).provides(cfg)


def finished_run(cfg: ExperimentConfig, *, retrain: bool = False) -> Run:
    """The finished run of ``cfg``: kept, or trained (its SynthAVQA draw generated first if missing) and kept."""
    kept = kept_dir(cfg)
    if kept is not None and not retrain and _usable(kept, cfg):
        return Run(kept)
    return _train_and_keep(cfg, kept, retrain)


def _train_and_keep(cfg: ExperimentConfig, kept: Path | None, retrain: bool) -> Run:
    from mcd.data.synth import ensure_for
    ensure_for(cfg.data, progress=False)
    run = get_or_train(cfg, retrain=retrain)
    if kept is None:
        return run
    bundle.keep(run.path, kept, relative_to=REPO)
    return Run(kept)


def runs(cfgs: list[ExperimentConfig], *, desc: str = "runs") -> list[Run]:
    """Finished runs for ``cfgs``, training the missing ones (one progress bar over all of them)."""
    return [finished_run(cfg) for cfg in tqdm(cfgs, desc=desc)]


def run_groups(cfgs: dict, *, desc: str = "runs") -> dict:
    """{key: [config per seed]} -> {key: [Run per seed]}, trained (or read back) under one progress bar; a
    config that appears under several keys is trained once."""
    flat = runs([c for cs in cfgs.values() for c in cs], desc=desc)
    it = iter(flat)
    return {key: [next(it) for _ in cs] for key, cs in cfgs.items()}


def run_variants(profile: str, variants: dict[str, dict], *, model: str = "mcd", seeds=None, overrides=(),
                 desc: str = "variants") -> dict[str, list[Run]]:
    """Train (or read back) every variant of ``model`` over ``seeds`` (``experiments.variant_configs``)."""
    from mcd.study.experiments import variant_configs
    return run_groups(variant_configs(profile, variants, model=model, seeds=seeds, overrides=overrides), desc=desc)


def model_runs(profile: str, models: dict[str, str], *, seeds=None, overrides=(), peer_lr: str = "own",
               desc: str = "models") -> dict[str, list[Run]]:
    """{label: model name} -> {label: runs over seeds}, trained (or read back) under one progress bar."""
    from mcd.study.experiments import model_configs
    return run_groups({label: model_configs(profile, m, seeds=seeds, overrides=overrides, peer_lr=peer_lr)
                       for label, m in models.items()}, desc=desc)


# ------------------------------------------------------------------------------------------- training a plan
def estimated_cost(cfg: ExperimentConfig) -> float:
    """A relative estimate of a run's training time: epochs x steps x per-sample cost x width and length."""
    m = cfg.model_key()
    dim = getattr(getattr(cfg.model, m), "dim", 128)
    steps = len(range(0, cfg.data.seconds, cfg.data.stride))
    return cfg.train.epochs * MODEL_COST.get(cfg.model.name, 1.0) * (dim / 128) ** 2 * max(steps, 1)


def _train_in_worker(cfg_dict: dict, kept: str | None, retrain: bool) -> tuple[str, float]:
    """One run in a worker process, on one thread (the plan runs one per core); where it is kept is decided by
    the process that made the plan."""
    import torch
    torch.set_num_threads(1)
    cfg = from_dict(ExperimentConfig, cfg_dict)
    t0 = time.time()
    _train_and_keep(cfg, Path(kept) if kept else None, retrain)
    return cfg.run_dir().name, time.time() - t0


def missing(plan: list[ExperimentConfig]) -> list[ExperimentConfig]:
    """The configs of ``plan`` that have no usable finished run, kept or local."""
    out = []
    for cfg in plan:
        kept = kept_dir(cfg)
        if kept is not None and _usable(kept, cfg):
            continue
        local = Run(cfg.run_dir())
        if kept is None and local.finished and local.provides(cfg):
            continue
        out.append(cfg)
    return out


def _ensure_draws(cfgs: list[ExperimentConfig]) -> None:
    """Generate the SynthAVQA draws ``cfgs`` read, once each, in this process (before the workers start)."""
    from mcd.data.synth import ensure_for
    seen = set()
    for cfg in cfgs:
        key = json.dumps({k: getattr(cfg.data, k) for k in ("root", "synth_profile", "synth_seed", "format",
                                                          "visual_feats")}, default=str)
        if key not in seen:
            seen.add(key)
            ensure_for(cfg.data, progress=False)


@contextlib.contextmanager
def _one_thread_workers(jobs: int):
    """A pool of ``jobs`` spawned worker processes that each start on one thread (the environment they inherit)."""
    import multiprocessing
    env = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        with ProcessPoolExecutor(max_workers=max(1, jobs), mp_context=multiprocessing.get_context("spawn")) as pool:
            yield pool
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def train_plan(plan: list[ExperimentConfig], *, jobs: int = 2, retrain: bool = False) -> pd.DataFrame:
    """Train every config of ``plan`` that has no finished run (all of them with ``retrain``), ``jobs`` at a
    time in worker processes of one thread each, the longest (by ``estimated_cost``) first, so that the last
    ones to finish are short. The data draws are generated first, in this process. Returns one row per run
    trained: its folder and wall seconds. A run that fails is reported and the others go on; the first failure is
    raised at the end."""
    todo = list(plan) if retrain else missing(plan)
    _ensure_draws(todo)
    todo.sort(key=estimated_cost, reverse=True)
    rows, failures = [], []
    if not todo:
        return pd.DataFrame(columns=["run", "seconds"])
    with _one_thread_workers(jobs) as pool:
        futures = {pool.submit(_train_in_worker, cfg.to_dict(prune=False),
                               str(kept_dir(cfg)) if kept_dir(cfg) else None, retrain): cfg for cfg in todo}
        for fut in tqdm(as_completed(futures), total=len(futures), desc=f"training {len(todo)} runs"):
            cfg = futures[fut]
            try:
                rows.append(dict(zip(("run", "seconds"), fut.result())))
            except Exception as e:  # noqa: BLE001 - reported, then raised after the others finish
                failures.append((cfg.run_dir().name, e))
                tqdm.write(f"FAILED {cfg.run_dir().name}: {e}")
    if failures:
        raise RuntimeError(f"{len(failures)} run(s) failed, first {failures[0][0]}: {failures[0][1]}") \
            from failures[0][1]
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------------- verifying
def _kept_threads(path: Path) -> int:
    """The CPU threads a kept run was trained on (``env.json``), one when it does not say."""
    try:
        return int(json.loads((Path(path) / "env.json").read_text()).get("cpu_threads") or 1)
    except (OSError, ValueError, TypeError):
        return 1


def _verify_in_worker(cfg_dict: dict, kept: str, threads: int) -> dict:
    """Retrain one kept run from scratch in a temporary folder, on ``threads`` threads, and compare."""
    import torch

    from mcd.train import train
    torch.set_num_threads(threads)
    cfg = from_dict(ExperimentConfig, cfg_dict)
    with tempfile.TemporaryDirectory(prefix="mcd-verify-") as tmp:
        t0 = time.time()
        fresh = train(cfg, out=Path(tmp) / cfg.run_dir().name, resume=False)
        row = bundle.compare_runs(Path(kept), fresh)
        row["threads"] = threads
        row["seconds"] = round(time.time() - t0, 1)
    return row


def verify(plan: list[ExperimentConfig], *, count: int | None = None, names: list[str] | None = None,
           seed: int = 0, jobs: int = 2) -> pd.DataFrame:
    """Retrain kept runs of ``plan`` from scratch, each in a temporary folder, and compare each with what was
    kept: whether the scores and the per-question predictions are identical, and how far apart they are if not.
    The runs are the ``names`` given (kept folder names or their prefix), else ``count`` drawn with ``seed``."""
    import random
    kept = [(cfg, kept_dir(cfg)) for cfg in plan]
    kept = [(cfg, path) for cfg, path in kept if path is not None and bundle.is_kept(path)]
    if names:
        if any(not n.strip() for n in names):
            raise ValueError("an empty run name would match every kept run; name the runs (or use --verify K)")
        chosen = [(c, p) for c, p in kept if any(p.name == n or p.name.startswith(n) for n in names)]
        if not chosen:
            raise ValueError(f"no kept run matches {names}; kept runs: {[p.name for _, p in kept][:10]}...")
    else:
        chosen = random.Random(seed).sample(kept, min(count or 1, len(kept)))
    _ensure_draws([cfg for cfg, _ in chosen])
    rows = []
    # Each retrains as the kept run was trained: in a fresh process on the kept run's number of threads (the
    # study's workers use one). Threads change the order of floating-point sums, so a retrain on another number of
    # threads is not expected to come out identical.
    with _one_thread_workers(jobs) as pool:
        futures = [pool.submit(_verify_in_worker, cfg.to_dict(prune=False), str(path), _kept_threads(path))
                   for cfg, path in chosen]
        for fut in tqdm(futures, desc=f"verifying {len(futures)} kept runs"):
            rows.append(fut.result())
    return pd.DataFrame(rows)
