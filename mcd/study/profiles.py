"""The study's profiles: the data each chapter reads and the training budget, and how the data are named.

A profile fixes the SynthAVQA profile, the width D, the epochs and the seeds. Each seed reads its own draw of the
data set (the generator's seed is the run's seed), so that the chapters' intervals cover data draws as well as
initialisations and questions (``mcd.stats.pooled_comparison``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class StudyProfile:
    """Data plus training budget. ``paper`` is the paper's recipe; the others shrink it for a CPU. ``keep``: the
    runs of this profile are kept in the repository (``results/<profile>/``) and read back from there."""

    synth: str                 # SynthAVQA profile
    epochs: int
    dim: int                   # model width D (the paper: 512)
    seeds: tuple[int, ...]
    batch_size: int = 64
    lr_step: int = 8
    # the library of float32 CPU matmuls (mcd.cpu_matmul): oneDNN, about twice MKL's rate at the study's shapes on
    # the study's AMD machine; float32 either way (a probe falls back to MKL where oneDNN would round to bfloat16)
    cpu_matmul: str = "onednn"
    description: str = ""
    extra: tuple[str, ...] = field(default_factory=tuple)
    keep: bool = False


STUDY_PROFILES = {
    "tiny": StudyProfile("tiny", epochs=2, dim=32, seeds=(1, 2, 3), batch_size=32, lr_step=8,
                         description="CI smoke profile: checks that every cell runs; its numbers mean nothing"),
    # 10 epochs, the learning rate x0.1 after 8: in the 12-epoch study, stopping after 10 would have kept the same
    # checkpoint in 101 of 138 runs and lost 0.15 points of best val on average (the curve runs' test: unchanged),
    # for a sixth of the study's time (scripts/epoch_budget.py; implementation notes, "Training").
    "default": StudyProfile("default", epochs=10, dim=128, seeds=(1, 2, 3), keep=True,
                            description="the book's profile: SynthAVQA default on a 2-core CPU, D = 128, 10 epochs"),
    "paper": StudyProfile("music_avqa", epochs=30, dim=512, seeds=(1, 2, 3), keep=True,
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


def results_dir(profile: str) -> Path:
    """The kept results of ``profile``: ``results/<profile>/`` in the repository."""
    return REPO / "results" / profile


def uses_synth(overrides: list[str] | None = None) -> bool:
    """True unless ``overrides`` point the data elsewhere (the same test ``data_label`` makes)."""
    return not any(o.startswith("data.root=") for o in overrides or [])


def data_label(profile: str, overrides: list[str] | None = None) -> str:
    """How a number's data is named in every table: SynthAVQA is never passed off as Music-AVQA, and its version
    and its draws (one per seed) are named."""
    if not uses_synth(overrides):
        return "Music-AVQA features given by the user"
    from mcd.data.synth import SYNTH_VERSION
    return f"SynthAVQA v{SYNTH_VERSION} '{STUDY_PROFILES[profile].synth}' profile, one draw per seed, test split"
