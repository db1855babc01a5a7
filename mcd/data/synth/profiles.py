"""The knobs of a SynthAVQA variant and the named profiles (tiny for tests and CI, default for the book on a CPU,
music_avqa for a GPU)."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

SYNTH_VERSION = "2.0"
SPLITS = ("train", "val", "test")
# Where each template's answers come from: the real Music-AVQA train + val distribution (the shipped table of
# counts, ``answer_priors.csv``), or uniform over the answers a scene can give (v1's balance).
ANSWER_PRIORS = ("music_avqa", "uniform")


@dataclass(frozen=True)
class SynthProfile:
    """The knobs of one SynthAVQA variant. ``extra_sets`` holds (name, width multiplier of C, noise multiplier)
    for frame-level sets that emulate other backbones: the same latent frames through another fixed projection."""

    name: str
    videos: int
    seconds: int                 # T: one feature vector per second
    channels: int                # C: width of the "frames" and "patches" sets
    patches: int                 # P: a square number, the patches form a sqrt(P) x sqrt(P) grid
    audio_dim: int = 128
    noise: float = 1.0           # std of the per-entry noise; signatures have unit-variance entries
    confusability: float = 0.5   # share of variance that similar instruments' signatures have in common
    max_instruments: int = 5     # per scene, visible and off-screen together
    qa_per_video: float = 5.0    # mean; a fractional part gives some videos one question more
    split: tuple[float, float, float] = (0.7, 0.1, 0.2)   # train / val / test fractions of the videos
    play_cue: float = 0.5        # strength of the visual "being played" component
    layout: float = 0.5          # how much an instrument's look depends on where it is (see render.Signatures)
    frame_position: float = 1.0  # strength of the position-dependent map each patch passes before pooling (0: v1)
    answer_prior: str = "music_avqa"   # see ANSWER_PRIORS
    extra_sets: tuple[tuple[str, float, float], ...] = (
        ("resnet18", 0.5, 1.6), ("clip_b32", 1.0, 1.2), ("swinv2", 2.0, 0.8))

    @property
    def visual_sets(self) -> dict[str, tuple[int, float]]:
        """Frame-level visual sets: name -> (width C, noise multiplier). "frames" is the default set."""
        sets = {"frames": (self.channels, 1.0)}
        sets.update({name: (max(1, round(self.channels * width)), mult) for name, width, mult in self.extra_sets})
        return sets

    def validate(self) -> None:
        if math.isqrt(self.patches) ** 2 != self.patches:
            raise ValueError(f"patches must be a square number, got {self.patches}")
        if abs(sum(self.split) - 1) > 1e-9 or min(self.split) < 0:
            raise ValueError(f"split fractions must be >= 0 and sum to 1, got {self.split}")
        if self.seconds < 6:
            raise ValueError(f"seconds must be at least 6, got {self.seconds}")
        if not 1 <= self.max_instruments <= 8:
            raise ValueError(f"max_instruments must be in 1..8, got {self.max_instruments}")
        if self.videos < 1 or self.qa_per_video <= 0:
            raise ValueError("videos and qa_per_video must be positive")
        if self.answer_prior not in ANSWER_PRIORS:
            raise ValueError(f"answer_prior must be one of {ANSWER_PRIORS}, got {self.answer_prior!r}")
        if self.frame_position < 0:
            raise ValueError(f"frame_position must be >= 0, got {self.frame_position}")


PROFILES: dict[str, SynthProfile] = {
    "tiny": SynthProfile("tiny", videos=60, seconds=10, channels=32, patches=4, max_instruments=4),
    # Train about 4,200 questions as in v1, val about 600, and a test split of at least 3,600 questions (v1: 1,200),
    # so that 3 seeds can tell apart differences of the size the chapters discuss (the data card's power table).
    "default": SynthProfile("default", videos=1700, seconds=20, channels=128, patches=9, split=(0.5, 0.07, 0.43)),
    # Music-AVQA's size: 9,288 videos, about 45,900 QA, CLIP-like [60, 49, 512] patches (about 56 GB on disk).
    "music_avqa": SynthProfile("music_avqa", videos=9288, seconds=60, channels=512, patches=49, qa_per_video=4.94),
}


def resolve_profile(profile: str | SynthProfile, overrides: dict | None = None) -> SynthProfile:
    if isinstance(profile, str):
        if profile not in PROFILES:
            raise ValueError(f"unknown SynthAVQA profile {profile!r}; choose one of {sorted(PROFILES)}")
        profile = PROFILES[profile]
    if overrides:
        known = {f.name for f in dataclasses.fields(SynthProfile)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ValueError(f"unknown SynthAVQA profile fields {unknown}; known: {sorted(known)}")
        overrides = {k: tuple(map(tuple, v)) if k == "extra_sets" else tuple(v) if k == "split" else v
                     for k, v in overrides.items()}
        profile = dataclasses.replace(profile, **overrides)
    profile.validate()
    return profile
