"""Comparisons the chapters make between models: MCD against the Table II floor column by column, same-seed
differences, fit against generalisation, the W^cross diagnostics of the Table VII chapter, and the data checks
(false negatives per batch, the extra visual sets of Table IV). Every function reads finished runs.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from mcd.runs import Run
from mcd.study.experiments import experiment
from mcd.study.profiles import STUDY_PROFILES, data_root, uses_synth
from mcd.study.tables import scores_of
from mcd.study.verdicts import Comparison, column_subset, interval_text, judge_part


def versus_floor(model_runs: list[Run], floor: dict[str, list[Run]], *, split: str = "test",
                 columns=("Audio", "Visual", "Audio-Visual", "overall"), n_boot: int = 10_000) -> pd.DataFrame:
    """Per column: the model against the best baseline of ``floor`` (by the mean over seeds) on ``split``.

    ``margin`` is the difference of the seed means; ``95 % interval`` and ``model better`` say whether the model is
    better than that baseline by the book's one rule (``mcd.study.verdicts``: the interval of
    ``stats.pooled_comparison``, over seeds, data draws and questions). ``seeds ahead`` and ``p McNemar, per
    seed`` describe the seeds one by one (McNemar's exact test on each same-seed pair's questions of the column);
    they are descriptions, not the verdict. The best baseline is picked on the same test questions, which favours
    it: a "holds" is conservative, a "does not hold" less so. A column is "overall", a question modality, or a
    question type (for per-type margins, pass a ``floor`` of one baseline). Runs are paired seed by seed, in the
    order given."""
    from mcd import stats

    def per_seed(rs: list[Run]) -> pd.DataFrame:
        return pd.DataFrame([scores_of(r, split) for r in rs])[list(columns)].astype(float)

    own, theirs_all = per_seed(model_runs), {k: per_seed(rs) for k, rs in floor.items()}
    rows = []
    for col in columns:
        if own[col].isna().all():   # the split has no question of this column (a small profile): nothing to test
            rows.append({"column": col, "best baseline": "–", "model": np.nan, "baseline": np.nan, "margin": np.nan,
                         "95 % interval": "–", "model better": "–", "seeds ahead": "–",
                         "p McNemar, per seed": "–"})
            continue
        best = max(theirs_all, key=lambda k: theirs_all[k][col].mean())
        pair = {"model": model_runs, "baseline": floor[best]}
        verdict = judge_part(Comparison("model", "baseline", "better", col), pair, split=split, n_boot=n_boot)
        tests = stats.compare_runs(model_runs, floor[best], split=split, n_boot=n_boot, **column_subset(col))
        theirs = theirs_all[best][col]
        rows.append({"column": col, "best baseline": best, "model": own[col].mean(), "baseline": theirs.mean(),
                     "margin": verdict["ours"],
                     "95 % interval": interval_text(verdict["low"], verdict["high"]),
                     "model better": verdict["status"],
                     "seeds ahead": f"{int((own[col].values > theirs.values).sum())}/{len(own)}",
                     "p McNemar, per seed": ", ".join(f"{x:.2f}" for x in tests["p_mcnemar"])})
    return pd.DataFrame(rows).set_index("column")


def paired_differences(runs_a: list[Run], runs_b: list[Run], *, splits=("test", "val"),
                       columns=("Audio", "Visual", "Audio-Visual", "overall")) -> pd.DataFrame:
    """Tidy same-seed differences, A minus B: one row per split, seed and column (for bars with their spread)."""
    if len(runs_a) != len(runs_b):
        raise ValueError(f"pair the runs seed by seed: {len(runs_a)} vs {len(runs_b)} runs")

    def diff(a: Run, b: Run, split: str, c: str) -> float:   # NaN where the split has no question of c
        x, y = scores_of(a, split)[c], scores_of(b, split)[c]
        return np.nan if x is None or y is None else x - y

    return pd.DataFrame([{"split": split, "seed": a.seed, "column": c, "difference": diff(a, b, split, c)}
                         for split in splits for a, b in zip(runs_a, runs_b) for c in columns])


def accuracy_by_split(results: dict[str, list[Run]], *, splits=("train", "val", "test"),
                      columns=("Audio", "Visual", "Audio-Visual", "overall")) -> pd.DataFrame:
    """Mean over seeds of each model's accuracy on every split, the best checkpoint on each (the one the test
    numbers come from; the trainer scores train too). A model that fits its train questions but not the held-out
    ones generalises poorly; one that cannot fit them lacks the capacity, or has a bug, on those questions."""
    rows = []
    for label, rs in results.items():
        for split in splits:
            scores = [scores_of(r, split) for r in rs]
            rows.append({"model": label, "split": split,
                         **pd.DataFrame(scores)[list(columns)].astype(float).mean().to_dict()})
    return pd.DataFrame(rows).set_index(["model", "split"])


def cross_weight_measurements(results: dict[str, list[Run]], *, split: str = "val", batch_size: int = 64,
                              seed: int = 0) -> pd.DataFrame:
    """``mcd.models.diagnostics.cross_weight_diagnostics`` of every MCD run, at initialisation (the weights its seed
    draws, as the trainer draws them) and trained (its best checkpoint), on one batch of ``split``: the first
    ``batch_size`` questions of a ``seed``-ed permutation. One row per (variant, seed, state). The trainer keeps
    these numbers beside the run (``diagnostics.json``, the default batch); they are read from there, and computed
    from the checkpoint only for another batch or a run without them."""
    import torch

    from mcd.data.datasets import batches, input_dims, load_split
    from mcd.inference import load_model, load_run
    from mcd.models.diagnostics import cross_weight_diagnostics
    from mcd.models.registry import build_model
    rows = []
    for label, rs in results.items():
        for run in rs:
            kept = run.diagnostics
            if kept and (kept["split"], kept["batch_size"], kept["seed"]) == (split, batch_size, seed):
                rows += [{"variant": label, "seed": run.seed, "state": state, **kept[key]}
                         for state, key in (("initialisation", "initialisation"), ("trained", "trained"))]
                continue
            cfg, vocab, _ = load_run(run.path)
            data = load_split(cfg.data, split, vocab, progress=False)
            batch = data.batch(next(batches(len(data), batch_size, shuffle=True, seed=seed)))
            torch.manual_seed(cfg.train.seed)
            initial = build_model(cfg.model, input_dims(data, vocab))
            for state, model in (("initialisation", initial), ("trained", load_model(cfg, vocab, run, data))):
                rows.append({"variant": label, "seed": run.seed, "state": state,
                             **cross_weight_diagnostics(model, batch)})
    return pd.DataFrame(rows)


def same_video_pairs_per_batch(profile: str, *, overrides: list[str] | None = None, epochs: int = 1) -> float:
    """The mean number of pairs of questions about the same video in a training batch of ``profile`` (the false
    negatives of Eq. 11 and 13 without ``mask_same_video``), over the trainer's batches of the first ``epochs``."""
    from mcd.data.datasets import batches, build_vocab, load_split
    from mcd.models.diagnostics import same_video_pairs
    cfg = experiment(profile, "mcd", overrides=overrides)
    split = load_split(cfg.data, "train", build_vocab(cfg.data), progress=False)
    counts = [same_video_pairs(split.video_index[idx]) for epoch in range(epochs)
              for idx in batches(len(split), cfg.train.batch_size, shuffle=True,
                                 seed=cfg.train.seed * 100_003 + epoch)]
    return float(np.mean(counts))


def ensure_extra_visual_sets(profile: str, overrides: list[str] | None = None, seeds=None) -> dict | None:
    """Make sure the SynthAVQA draw of every seed (the profile's unless ``seeds``) holds the extra frame-level
    sets that emulate other backbones (``resnet18``, ``clip_b32``, ``swinv2``), adding them in place where a draw
    lacks them. Returns the first draw's card (the sets are the same in every draw), or None when ``overrides``
    point at other data."""
    if not uses_synth(overrides):
        return None
    cards = [add_extra_visual_sets(data_root(profile, s), STUDY_PROFILES[profile].synth, s)
             for s in seeds or STUDY_PROFILES[profile].seeds]
    return cards[0]


def add_extra_visual_sets(root, synth_profile: str, seed: int = 0) -> dict:
    """The card of the SynthAVQA data set in ``root`` with the extra visual sets: generated with them when missing
    or stale; otherwise they are added without removing or rewriting any file already there, since other
    processes (notebooks run in parallel) may be reading it (``synth.ensure``)."""
    from mcd.data import synth
    return synth.ensure(root, synth_profile, seed, extra_visual_sets=True, progress=False)
