"""The study: named profiles that fix the data and the training budget, experiment builders the notebooks call,
seed aggregation, paper-vs-ours tables, and ``run_study`` (papermill every notebook, then build the book).

Notebooks stay thin: they ask ``experiment(...)`` for a config and ``runs(...)`` for finished runs (read back
when a run with the same resolved config exists, trained otherwise), then show a table and a figure.
"""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from mcd.config import ExperimentConfig, load_config
from mcd.evaluate import SCORE_COLUMNS
from mcd.runs import Run, get_or_train

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = ["datasets", "table2_fusion"]  # executed in this order; later issues append theirs


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


def data_root(profile: str) -> Path:
    return REPO / "data" / f"synthavqa-{STUDY_PROFILES[profile].synth}"


def experiment(profile: str, name: str, model: str = "mcd", *, seed: int | None = None,
               overrides: list[str] | None = None, dim_keys: tuple[str, ...] | None = None) -> ExperimentConfig:
    """A config for ``model`` under ``profile``: SynthAVQA of that profile unless ``overrides`` point the data
    elsewhere (e.g. ``data.root=/path/to/features``)."""
    p = STUDY_PROFILES[profile]
    from mcd.data.synth import PROFILES
    base = [f"name={name}", f"data.seconds={PROFILES[p.synth].seconds}", f"out_dir={REPO / 'runs' / profile}", f"model.name={model}",
            f"data.root={data_root(profile)}", f"data.synth_profile={p.synth}",
            f"train.epochs={p.epochs}", f"train.batch_size={p.batch_size}", f"train.lr_step={p.lr_step}",
            f"train.seed={seed if seed is not None else p.seeds[0]}"]
    from mcd.models.registry import config_key
    key = config_key(model)
    for k in dim_keys or ("dim",):
        base.append(f"model.{key}.{k}={p.dim}")
    if model == "mlp":
        base.append(f"model.mlp.hidden={p.dim}")
    return load_config(None, base + list(p.extra) + list(overrides or []))


def runs(cfgs: list[ExperimentConfig], *, desc: str = "runs") -> list[Run]:
    """Finished runs for ``cfgs``, training the missing ones (one progress bar over all of them)."""
    out = []
    for cfg in tqdm(cfgs, desc=desc):
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
    flat = runs([c for cs in cfgs.values() for c in cs], desc=desc)
    it = iter(flat)
    return {label: [next(it) for _ in cs] for label, cs in cfgs.items()}


def variant_table(results: dict[str, list[Run]], split: str = "test") -> SeedTable:
    """mean ± sd over seeds of each variant's scores."""
    return mean_sd({label: [scores_of(r, split) for r in rs] for label, rs in results.items()})


def scores_of(run: Run, split: str = "test") -> dict:
    return {k: run.scores[split][k] for k in SCORE_COLUMNS}


@dataclass
class SeedTable:
    """Scores over seeds: ``mean`` and ``sd`` per row and column, ``text`` as 'mean ± sd' for display."""

    mean: pd.DataFrame
    sd: pd.DataFrame
    seeds: dict[str, int]

    @property
    def text(self) -> pd.DataFrame:
        return self.mean.round(2).astype(str) + " ± " + self.sd.round(2).astype(str)

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
    """How a number's data is named in every table: SynthAVQA is never passed off as Music-AVQA."""
    if any(o.startswith("data.root=") for o in overrides or []):
        return "Music-AVQA features given by the user"
    from mcd.data.synth import SYNTH_VERSION
    return f"SynthAVQA v{SYNTH_VERSION} '{STUDY_PROFILES[profile].synth}' profile, test split"


# --------------------------------------------------------------------------------------------- the whole study
def run_study(profile: str = "default", *, build_book: bool = True, notebooks: list[str] | None = None) -> None:
    """Execute each notebook with papermill into ``book/generated/`` and build the Jupyter Book with -W."""
    import papermill

    out_dir = REPO / "book" / "generated"
    out_dir.mkdir(parents=True, exist_ok=True)
    for nb in notebooks or NOTEBOOKS:
        print(f"== executing notebooks/{nb}.ipynb (profile {profile})", flush=True)
        papermill.execute_notebook(str(REPO / "notebooks" / f"{nb}.ipynb"), str(out_dir / f"{nb}.ipynb"),
                                   parameters={"profile": profile}, cwd=str(REPO / "notebooks"),
                                   progress_bar=False, log_output=False)
    if build_book:
        cmd = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(REPO), "-W", "-n", "--keep-going"]
        print("== building the book:", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True, cwd=REPO)
        print(f"== book: {REPO / '_build' / 'html' / 'index.html'}")
