"""The study: named profiles that fix the data and the training budget, experiment builders the notebooks call,
seed aggregation, paper-vs-ours tables, and ``run_study`` (papermill every notebook, then build the book).

Notebooks stay thin: they ask ``experiment(...)`` for a config and ``runs(...)`` for finished runs (read back
when a run with the same resolved config exists, trained otherwise), then show a table and a figure.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from mcd.config import ExperimentConfig, load_config
from mcd.data.annotations import MODALITIES
from mcd.evaluate import SCORE_COLUMNS
from mcd.runs import Run, get_or_train

REPO = Path(__file__).resolve().parents[1]
# Executed in this order: the chapters behind the headline claims first, the long ablations last.
NOTEBOOKS = ["table2_fusion", "table3_sota", "fig5_late_fusion", "datasets", "real_questions", "table8_efficiency",
             "table5_avqa", "table10_losses", "table9_lef", "table6_text_encoder", "table4_backbones", "table7_attention"]


@dataclass(frozen=True)
class StudyProfile:
    """Data plus training budget. ``paper`` is the paper's recipe; the others shrink it for a CPU."""

    synth: str                 # SynthAVQA profile
    epochs: int
    dim: int                   # model width D (the paper: 512)
    seeds: tuple[int, ...]
    batch_size: int = 64
    lr_step: int = 8
    description: str = ""
    extra: tuple[str, ...] = field(default_factory=tuple)


STUDY_PROFILES = {
    "tiny": StudyProfile("tiny", epochs=2, dim=32, seeds=(1, 2, 3), batch_size=32, lr_step=8,
                         description="CI smoke profile: checks that every cell runs; its numbers mean nothing"),
    "default": StudyProfile("default", epochs=16, dim=128, seeds=(1, 2, 3),
                            description="the book's profile: SynthAVQA default on a 2-core CPU, D = 128, 16 epochs"),
    "paper": StudyProfile("music_avqa", epochs=30, dim=512, seeds=(1, 2, 3),
                          description="the paper's recipe (D = 512, 30 epochs) on Music-AVQA-sized SynthAVQA; "
                                      "for a GPU"),
}


def current_profile(default: str = "default") -> str:
    """The profile a notebook runs under: its parameter, else $MCD_PROFILE (CI sets tiny)."""
    return os.environ.get("MCD_PROFILE", default)


def data_root(profile: str, seed: int) -> Path:
    """Where the study keeps the SynthAVQA draw of ``seed`` for ``profile``: one data set per seed (the generator
    seed is the run's seed), named with the generator's version so that runs on another version never share it."""
    from mcd.data.synth import SYNTH_VERSION
    return REPO / "data" / f"synthavqa{SYNTH_VERSION}-{STUDY_PROFILES[profile].synth}-s{seed}"


def experiment(profile: str, name: str, model: str = "mcd", *, seed: int | None = None,
               overrides: list[str] | None = None, dim_keys: tuple[str, ...] | None = None) -> ExperimentConfig:
    """A config for ``model`` under ``profile``. The data are SynthAVQA of that profile, drawn with the run's seed
    (``data.synth_seed`` = ``train.seed``, in its own folder, ``data_root``): the data draw is a random factor like
    the initialisation, and every model of one seed sees the same draw. ``overrides`` that point the data
    elsewhere (e.g. ``data.root=/path/to/features``) replace it."""
    p = STUDY_PROFILES[profile]
    from mcd.data.synth import PROFILES
    seed = seed if seed is not None else p.seeds[0]
    data = [f"data.root={data_root(profile, seed)}", f"data.synth_profile={p.synth}", f"data.synth_seed={seed}"]
    base = [f"name={name}", f"data.seconds={PROFILES[p.synth].seconds}", f"out_dir={REPO / 'runs' / profile}",
            f"model.name={model}", *(data if uses_synth(overrides) else []),
            f"train.epochs={p.epochs}", f"train.batch_size={p.batch_size}", f"train.lr_step={p.lr_step}",
            f"train.seed={seed}",
            "train.progress=false"]  # notebooks show one bar over runs, not one per epoch
    from mcd.models.registry import config_key
    key = config_key(model)
    for k in dim_keys or ("dim",):
        base.append(f"model.{key}.{k}={p.dim}")
    if model == "mlp":
        base.append(f"model.mlp.hidden={p.dim}")
    return load_config(None, base + list(p.extra) + list(overrides or []))


def runs(cfgs: list[ExperimentConfig], *, desc: str = "runs") -> list[Run]:
    """Finished runs for ``cfgs``, training the missing ones (one progress bar over all of them). The SynthAVQA
    draw each config reads is generated first where it is missing (``synth.ensure_for``)."""
    from mcd.data.synth import ensure_for
    out = []
    for cfg in tqdm(cfgs, desc=desc):
        ensure_for(cfg.data, progress=False)
        out.append(get_or_train(cfg))
    return out


def field_overrides(section: str, fields: dict) -> list[str]:
    """{"num_blocks": 3, "self_audio": False} -> ["model.mcd.num_blocks=3", "model.mcd.self_audio=false"]."""
    import yaml
    return [f"{section}.{k}={yaml.safe_dump(v, default_flow_style=True).strip().removesuffix('...').strip()}"
            for k, v in fields.items()]


def run_variants(profile: str, variants: dict[str, dict], *, model: str = "mcd", seeds=None, overrides=(),
                 desc: str = "variants") -> dict[str, list[Run]]:
    """Train (or read back) every variant over ``seeds``. All runs of one model share the run name, so the same
    config asked for by two chapters (the full model is a row of several tables) is trained once."""
    from mcd.models.registry import config_key
    seeds = list(seeds or STUDY_PROFILES[profile].seeds)
    section = f"model.{config_key(model)}"
    cfgs = {label: [experiment(profile, model, model, seed=s,
                               overrides=field_overrides(section, fields) + list(overrides)) for s in seeds]
            for label, fields in variants.items()}
    return run_groups(cfgs, desc=desc)


def variant_table(results: dict[str, list[Run]], split: str = "test", columns=SCORE_COLUMNS) -> SeedTable:
    """mean ± sd over seeds of each variant's scores."""
    return mean_sd({label: [scores_of(r, split) for r in rs] for label, rs in results.items()}, columns)


def scores_of(run: Run, split: str = "test") -> dict:
    """A run's scores on ``split`` (every accuracy key of its taxonomy; the question count left out)."""
    return {k: v for k, v in run.scores[split].items() if k != "n"}


@dataclass
class SeedTable:
    """Scores over seeds: ``mean`` and ``sd`` per row and column, ``text`` as 'mean ± sd' for display."""

    mean: pd.DataFrame
    sd: pd.DataFrame
    seeds: dict[str, int]

    @property
    def text(self) -> pd.DataFrame:
        def fmt(m, s) -> str:
            if pd.isna(m):
                return "–"
            return f"{m:.2f}" if pd.isna(s) else f"{m:.2f} ± {s:.2f}"   # one seed: no sd
        return pd.DataFrame({c: [fmt(m, s) for m, s in zip(self.mean[c], self.sd[c])] for c in self.mean.columns},
                            index=self.mean.index)

    def _repr_html_(self) -> str:
        return self.text._repr_html_()


def mean_sd(rows: dict[str, list[dict]], columns=SCORE_COLUMNS) -> SeedTable:
    """{label: [score dict per seed]} -> mean and sample sd over seeds (sd is NaN for a single seed)."""
    frames = {k: pd.DataFrame(v)[list(columns)].astype(float) for k, v in rows.items()}
    mean = pd.DataFrame({k: f.mean() for k, f in frames.items()}).T
    sd = pd.DataFrame({k: f.std(ddof=1) for k, f in frames.items()}).T
    return SeedTable(mean, sd, {k: len(v) for k, v in rows.items()})


def side_by_side(paper: pd.DataFrame, ours: pd.DataFrame, columns: list[str], *, paper_data: str,
                 ours_data: str) -> pd.DataFrame:
    """Paper and ours per row, with the data each was measured on named in the column header."""
    p = paper[columns].copy()
    p.columns = pd.MultiIndex.from_product([[f"paper ({paper_data})"], columns])
    o = ours[columns].copy()
    o.columns = pd.MultiIndex.from_product([[f"ours ({ours_data})"], columns])
    return pd.concat([p, o], axis=1)


def data_label(profile: str, overrides: list[str] | None = None) -> str:
    """How a number's data is named in every table: SynthAVQA is never passed off as Music-AVQA, and its version
    and its draws (one per seed) are named."""
    if not uses_synth(overrides):
        return "Music-AVQA features given by the user"
    from mcd.data.synth import SYNTH_VERSION
    return f"SynthAVQA v{SYNTH_VERSION} '{STUDY_PROFILES[profile].synth}' profile, one draw per seed, test split"


# --------------------------------------------------------------------------------------------- the whole study
def run_study(profile: str = "default", *, build_book: bool = True, notebooks: list[str] | None = None,
              jobs: int = 1) -> None:
    """Execute each notebook with papermill into ``book/generated/`` and build the Jupyter Book with -W.

    ``jobs`` > 1 executes that many notebooks at once, each with an equal share of the CPU threads; runs two
    notebooks share are trained once (``get_or_train`` locks a run while it trains)."""
    from concurrent.futures import ThreadPoolExecutor

    import papermill

    out_dir = REPO / "book" / "generated"
    out_dir.mkdir(parents=True, exist_ok=True)
    if jobs > 1:  # kernels inherit the environment: split the cores between them
        threads = str(max(1, (os.cpu_count() or 1) // jobs))
        os.environ.update(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)

    def execute(nb: str) -> str:
        t0 = time.time()
        papermill.execute_notebook(str(REPO / "notebooks" / f"{nb}.ipynb"), str(out_dir / f"{nb}.ipynb"),
                                   parameters={"profile": profile}, cwd=str(REPO / "notebooks"),
                                   progress_bar=False, log_output=False)
        return f"== executed notebooks/{nb}.ipynb (profile {profile}) in {time.time() - t0:.0f} s"

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for line in pool.map(execute, notebooks or NOTEBOOKS):
            print(line, flush=True)
    if build_book:
        cmd = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(REPO), "-W", "-n", "--keep-going"]
        print("== building the book:", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True, cwd=REPO)
        print(f"== book: {REPO / '_build' / 'html' / 'index.html'}")


# ------------------------------------------------------------------------------------- helpers of the ablations
def paper_rows_as_variants(paper: pd.DataFrame, variants: dict[str, dict], switches: list[str], *,
                           translate: dict[str, dict] | None = None) -> pd.DataFrame:
    """The paper's ablation table indexed by our variant labels, matched on ``switches`` (columns of the paper's
    CSV that are also ``MCDConfig`` fields; 0/1 read as booleans, ``translate`` maps the paper's strings to our
    values, e.g. ``{"text_encoder": {"Bi-LSTM": "bilstm"}}``). Every paper row must match exactly one variant."""
    from mcd.models.mcd import MCDConfig
    translate = translate or {}
    configs = {label: MCDConfig(**fields) for label, fields in variants.items()}
    labels = []
    for _, row in paper.iterrows():
        want = {}
        for s in switches:
            v = row[s]
            want[s] = translate[s].get(v, v) if s in translate else (bool(v) if isinstance(v, (int, float)) else v)
        hits = [label for label, c in configs.items() if all(getattr(c, s) == v for s, v in want.items())]
        if len(hits) != 1:
            raise ValueError(f"paper row {dict(row)} matches {len(hits)} variants ({hits}), not one")
        labels.append(hits[0])
    out = paper.copy()
    out.index = labels
    return out


def paper_vs_ours_long(paper: pd.DataFrame, ours: SeedTable, columns: list[str], *, paper_data: str,
                       ours_data: str, x: str = "variant") -> pd.DataFrame:
    """Tidy rows (``x``, score, accuracy, sd, source) of the paper's table and our mean ± sd, for the figures.
    The source names the data each number was measured on; paper rows have no sd."""
    n = max(ours.seeds.values())
    parts = []
    for col in columns:
        if col in paper.columns:
            parts.append(pd.DataFrame({x: paper.index, "score": col, "accuracy": paper[col].values,
                                       "sd": float("nan"), "source": f"paper ({paper_data})"}))
        parts.append(pd.DataFrame({x: ours.mean.index, "score": col, "accuracy": ours.mean[col].values,
                                   "sd": ours.sd[col].values,
                                   "source": f"ours ({ours_data}), mean ± sd over {n} seeds"}))
    return pd.concat(parts, ignore_index=True)


def contrast(table: SeedTable, a: str, b: str, column: str = "overall") -> dict:
    """Row ``a`` minus row ``b`` in ``column``: the difference of the means, its standard error over seeds,
    the difference in units of the pooled sd, and ``clear`` (more than two standard errors from 0)."""
    import math
    diff = float(table.mean.loc[a, column] - table.mean.loc[b, column])
    sa, sb = float(table.sd.loc[a, column]), float(table.sd.loc[b, column])
    na, nb = table.seeds[a], table.seeds[b]
    se = math.sqrt(sa ** 2 / na + sb ** 2 / nb) if na > 1 and nb > 1 else float("nan")
    pooled = math.sqrt((sa ** 2 + sb ** 2) / 2) if na > 1 and nb > 1 else float("nan")
    in_sd = diff / pooled if pooled > 0 else float("nan")
    clear = bool(se > 0 and abs(diff) > 2 * se)
    return {"a": a, "b": b, "column": column, "diff": diff, "se": se, "pooled_sd": pooled, "in_sd": in_sd,
            "clear": clear}


def contrast_text(c: dict) -> str:
    """One sentence for a :func:`contrast`."""
    import math
    if not math.isnan(c["in_sd"]):
        size = f"{c['in_sd']:+.1f} pooled sd"
    else:
        size = "no spread over seeds" if c["pooled_sd"] == 0 else "no sd (one seed)"
    call = ("more than two standard errors from zero" if c["clear"]
            else "within two standard errors of zero, i.e. not distinguishable from seed noise")
    return (f"{c['a']} minus {c['b']} ({c['column']}): {c['diff']:+.2f} points = {size}; "
            f"standard error {c['se']:.2f}, {call}")


def best_row(table: SeedTable, column: str = "overall") -> tuple[str, dict | None]:
    """The row with the highest mean in ``column`` and its :func:`contrast` with the runner-up."""
    order = table.mean[column].sort_values(ascending=False).index
    return order[0], (contrast(table, order[0], order[1], column) if len(order) > 1 else None)


def versus_floor(model_runs: list[Run], floor: dict[str, list[Run]], *, split: str = "test",
                 columns=("Audio", "Visual", "Audio-Visual", "overall"), n_boot: int = 10_000) -> pd.DataFrame:
    """Per column: the model against the best baseline of ``floor`` (by the mean over seeds) on ``split``.

    ``margin`` is the difference of the seed means; ``margin se`` its standard error over seeds (the sd of the
    same-seed differences over the square root of their count: the seed-to-seed noise, which McNemar's test
    does not see); ``95% CI`` and ``p`` (seeds × questions) come from ``stats.pooled_comparison``, which
    resamples seeds and questions at once, so they carry both noises; ``seeds ahead`` counts the seeds where the
    model scores higher than the same seed of that baseline; ``p (McNemar, per seed)`` tests each same-seed pair
    on the column's questions (all questions for "overall"). A column is "overall", a question modality, or a
    question type (for per-type margins, pass a ``floor`` of one baseline). Runs are paired seed by seed, in the
    order given."""
    from mcd import stats

    def per_seed(rs: list[Run]) -> pd.DataFrame:
        return pd.DataFrame([scores_of(r, split) for r in rs])[list(columns)].astype(float)

    own, theirs_all = per_seed(model_runs), {k: per_seed(rs) for k, rs in floor.items()}
    rows = []
    for col in columns:
        if own[col].isna().all():   # the split has no question of this column (a small profile): nothing to test
            rows.append({"column": col, "best baseline": None, "model": np.nan, "baseline": np.nan, "margin": np.nan,
                         "margin se": np.nan, "95% CI (seeds × questions)": "–", "p (seeds × questions)": np.nan,
                         "seeds ahead": "–", "p (McNemar, per seed)": "–"})
            continue
        best = max(theirs_all, key=lambda k: theirs_all[k][col].mean())
        subset = {} if col == "overall" else {"modality": col} if col in MODALITIES else {"question_type": col}
        tests = stats.compare_runs(model_runs, floor[best], split=split, n_boot=n_boot, **subset)
        pooled = stats.pooled_comparison(model_runs, floor[best], split=split, n_boot=n_boot, **subset)
        theirs = theirs_all[best][col]
        diff = own[col].values - theirs.values
        rows.append({"column": col, "best baseline": best, "model": own[col].mean(), "baseline": theirs.mean(),
                     "margin": diff.mean(),
                     "margin se": diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else float("nan"),
                     "95% CI (seeds × questions)": f"[{pooled.low:.2f}, {pooled.high:.2f}]",
                     "p (seeds × questions)": pooled.pvalue,
                     "seeds ahead": f"{int((own[col].values > theirs.values).sum())}/{len(own)}",
                     "p (McNemar, per seed)": ", ".join(f"{x:.2f}" for x in tests["p_mcnemar"])})
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
    numbers come from). The train split is scored here (runs store val and test only). A model that fits its
    train questions but not the held-out ones generalises poorly; one that cannot fit them lacks the capacity,
    or has a bug, on those questions."""
    from mcd.inference import evaluate_run
    rows = []
    for label, rs in results.items():
        for split in splits:
            scores = [scores_of(r, split) if split != "train" else evaluate_run(r.path, "train", progress=False)
                      for r in rs]
            rows.append({"model": label, "split": split,
                         **pd.DataFrame(scores)[list(columns)].astype(float).mean().to_dict()})
    return pd.DataFrame(rows).set_index(["model", "split"])


def cross_weight_measurements(results: dict[str, list[Run]], *, split: str = "val", batch_size: int = 64,
                              seed: int = 0) -> pd.DataFrame:
    """``mcd.models.diagnostics.cross_weight_diagnostics`` of every MCD run, at initialisation (the weights its seed
    draws, as the trainer draws them) and trained (its best checkpoint), on one batch of ``split``: the first
    ``batch_size`` questions of a ``seed``-ed permutation. One row per (variant, seed, state)."""
    import torch

    from mcd.data.datasets import batches, input_dims, load_split
    from mcd.inference import load_model, load_run
    from mcd.models.diagnostics import cross_weight_diagnostics
    from mcd.models.registry import build_model
    rows = []
    for label, rs in results.items():
        for run in rs:
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


# ------------------------------------------------------------------------------------------ peers and curves
PEERS = {"avst": "AVST", "pstp": "PSTP-Net"}   # our model name -> the paper's
PEER_LR = ("own", "mcd")


def peer_recipe(model: str) -> ExperimentConfig:
    """A peer's own recipe, ``configs/{model}.yaml`` (its public code's optimiser, inputs and sampling)."""
    if model not in PEERS:
        raise ValueError(f"{model!r} is not a peer; peers: {sorted(PEERS)}")
    return load_config(REPO / "configs" / f"{model}.yaml")


def peer_experiment(profile: str, model: str, *, seed: int | None = None, overrides: list[str] | None = None,
                    lr: str = "own") -> ExperimentConfig:
    """A peer (``avst``, ``pstp``) under ``profile``: the profile's data, width, epochs, batch size and lr step,
    as every model of the study gets; from the peer's own config (``peer_recipe``) its input feature sets, its
    time steps per clip (AVST: 10, i.e. every 6th of 60 s, every 2nd of SynthAVQA default's 20 s) and, with
    ``lr='own'``, its learning rate (``lr='mcd'`` keeps MCD's). ``overrides`` come last and win."""
    if lr not in PEER_LR:
        raise ValueError(f"lr must be one of {PEER_LR}, got {lr!r}")
    own = peer_recipe(model)
    recipe = [f"data.visual_feats={_yaml_scalar(own.data.visual_feats)}",
              f"data.patch_feats={_yaml_scalar(own.data.patch_feats)}"]
    if lr == "own":
        recipe.append(f"train.lr={own.train.lr}")
    user = list(overrides or [])
    cfg = experiment(profile, model, model, seed=seed, overrides=recipe + user)
    if not any(o.split("=", 1)[0].strip() == "data.stride" for o in user):
        steps = len(range(0, own.data.seconds, own.data.stride))
        stride = max(1, cfg.data.seconds // steps)
        cfg = experiment(profile, model, model, seed=seed, overrides=recipe + [f"data.stride={stride}"] + user)
    return cfg


def _yaml_scalar(v) -> str:
    return "null" if v is None else str(v)


def model_configs(profile: str, model: str, *, seeds=None, overrides=(), peer_lr: str = "own") -> list[ExperimentConfig]:
    """One config per seed for any model of the study, built the way every chapter builds it (so that the same
    model is one set of runs across chapters): MCD and the Table II baselines by ``experiment``, the peers by
    ``peer_experiment``."""
    seeds = list(seeds or STUDY_PROFILES[profile].seeds)
    if model in PEERS:
        return [peer_experiment(profile, model, seed=s, overrides=list(overrides), lr=peer_lr) for s in seeds]
    return [experiment(profile, model, model, seed=s, overrides=list(overrides)) for s in seeds]


def model_runs(profile: str, models: dict[str, str], *, seeds=None, overrides=(), peer_lr: str = "own",
               desc: str = "models") -> dict[str, list[Run]]:
    """{label: model name} -> {label: runs over seeds}, trained (or read back) under one progress bar."""
    return run_groups({label: model_configs(profile, m, seeds=seeds, overrides=overrides, peer_lr=peer_lr)
                       for label, m in models.items()}, desc=desc)


def uses_synth(overrides: list[str] | None = None) -> bool:
    """True unless ``overrides`` point the data elsewhere (the same test ``data_label`` makes)."""
    return not any(o.startswith("data.root=") for o in overrides or [])


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


def curves(results: dict[str, list[Run]]) -> pd.DataFrame:
    """Tidy per-epoch accuracies: one row per (label, seed, epoch, split) with ``accuracy``, from metrics.csv."""
    frames = []
    for label, rs in results.items():
        for r in rs:
            m = r.metrics[["epoch", "val_acc", "test_acc"]].rename(columns={"val_acc": "val", "test_acc": "test"})
            m = m.melt(id_vars="epoch", var_name="split", value_name="accuracy")
            m.insert(0, "seed", r.seed)
            m.insert(0, "variant", label)
            frames.append(m)
    return pd.concat(frames, ignore_index=True)


def curve_summary(results: dict[str, list[Run]]) -> pd.DataFrame:
    """Per run: the best-val epoch (first maximum, as the trainer keeps it) and the test accuracy there; the
    last epoch's val and test and their gap (val - test); the test change from the best-val epoch to the last
    (negative: test fell after the checkpoint was chosen); the gap's change over the same epochs; and the
    number of test questions, for the binomial resolution of one test accuracy."""
    rows = []
    for label, rs in results.items():
        for r in rs:
            m = r.metrics
            best = int(m["val_acc"].idxmax())
            last = len(m) - 1
            gap_best = m.loc[best, "val_acc"] - m.loc[best, "test_acc"]
            gap_last = m.loc[last, "val_acc"] - m.loc[last, "test_acc"]
            rows.append({
                "variant": label, "seed": r.seed, "epochs": int(m.loc[last, "epoch"]),
                "best_val_epoch": int(m.loc[best, "epoch"]), "val_at_best": m.loc[best, "val_acc"],
                "test_at_best_val": m.loc[best, "test_acc"], "max_test": m["test_acc"].max(),
                "final_val": m.loc[last, "val_acc"], "final_test": m.loc[last, "test_acc"],
                "final_gap": gap_last, "gap_change": gap_last - gap_best,
                "test_after_best": m.loc[last, "test_acc"] - m.loc[best, "test_acc"],
                "n_test": int(r.scores["test"]["n"]),
            })
    return pd.DataFrame(rows)


def scores_long(results: dict[str, list[Run]], split: str = "test", columns=SCORE_COLUMNS) -> pd.DataFrame:
    """One row per (label, seed, score column) with ``accuracy``: the per-seed data behind a SeedTable, for
    figures that draw the spread over seeds themselves."""
    rows = [{"label": label, "seed": r.seed, "column": c, "accuracy": scores_of(r, split)[c]}
            for label, rs in results.items() for r in rs for c in columns]
    return pd.DataFrame(rows)


def contrasts(table: SeedTable, pairs: list[tuple[str, str]], columns=("overall",), *,
              paper: pd.DataFrame | None = None) -> pd.DataFrame:
    """One :func:`contrast` per (a, b) pair and column; with ``paper`` (indexed by the same labels) also the
    paper's difference ``paper_diff`` for the same pair, NaN where the paper has no such number."""
    rows = []
    for a, b in pairs:
        for col in columns:
            r = contrast(table, a, b, col)
            if paper is not None:
                ok = col in paper.columns and a in paper.index and b in paper.index
                r["paper_diff"] = float(paper.loc[a, col] - paper.loc[b, col]) if ok else float("nan")
            rows.append(r)
    return pd.DataFrame(rows)


def run_groups(cfgs: dict, *, desc: str = "runs") -> dict:
    """{key: [config per seed]} -> {key: [Run per seed]}, trained (or read back) under one progress bar; a
    config that appears under several keys is trained once."""
    flat = runs([c for cs in cfgs.values() for c in cs], desc=desc)
    it = iter(flat)
    return {key: [next(it) for _ in cs] for key, cs in cfgs.items()}
