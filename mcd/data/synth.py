"""SynthAVQA: a generated audio-visual QA data set that speaks Music-AVQA's language exactly.

Every video has a latent scene (setting, instruments with position, visibility, sounding seconds, loudness and
rhythm, an optional voiceover). Features are rendered from the scene and the 33 real question templates are
filled in from it, with the answer computed from the scene, so that an oracle reading ``scenes.json`` scores
100% and a model has to read the modality that each question type needs:

- audio ``feats/vggish`` [T, 128] carries what sounds when (instrument audio signatures scaled by loudness and
  modulated second by second by rhythmicity, a voiceover, noise); it has no notion of position or visibility;
- vision ``feats/patches`` [T, P, C] (and ``feats/frames`` [T, C], their mean) carries who is where (visual
  signatures on the patch columns of the instrument's position), the setting (background), and a weaker
  "being played" cue in the seconds an instrument sounds; off-screen instruments are absent from it.

Audio properties are linked to what is seen through the instrument type only, so questions that compare audio
properties are asked only where the type is heard from a single instrument (off-screen instruments are never of
a type that is also on screen). The layout is the official release's: ``json_update/avqa-{split}.json`` and
``feats/{set}/{video_id}.npy``; ``evidence.json``, ``scenes.json`` and the card ``synthavqa.json`` lie beside them.

Multiple-choice view (``generate(..., multiple_choice=True)``): the SAME questions are also written in the AVQA
format of Yang et al. as ``{train,val,test}_qa.json`` beside ``json_update/`` (read with ``data.format=avqa``):
4 options per question (the answer and 3 distractors from the template's answer family, see ``MC_FAMILIES``),
the answer's position balanced per split by the seed, and each template given one of AVQA's 8 question types
(``AVQA_TYPE_OF``: an emulation, music scenes have no "why" or "used for"). The default files are unchanged.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import itertools
import json
import math
import os
import shutil
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
import pandas as pd

from mcd.data.annotations import (ANSWERS, INSTRUMENTS, MODALITIES, NUMBER_WORDS, QUESTION_TYPES, TYPE_NAMES,
                                  load_records, parse_record, read_json_list)
from mcd.data.priors import majority_answers

SYNTH_VERSION = "1.0"
SPLITS = ("train", "val", "test")
ANNOTATION_DIR = "json_update"
CARD_NAME = "synthavqa.json"
# Placeholder values of the templates; <LR> is also where a visible instrument stands.
LR = ("left", "middle", "right")
LL = ("loudest", "lowest")
TH = ("first", "second", "third", "fourth", "fifth")
FL = ("first", "last")
BA = ("before", "after")
LRER = ("leftest", "rightest")


# ----------------------------------------------------------------------------------------------------- profiles

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
    layout: float = 0.5          # how much an instrument's look depends on where it is (see _Signatures.layout)
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


PROFILES: dict[str, SynthProfile] = {
    "tiny": SynthProfile("tiny", videos=60, seconds=10, channels=32, patches=4, max_instruments=4),
    "default": SynthProfile("default", videos=1200, seconds=20, channels=128, patches=9),
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


# ------------------------------------------------------------------------------------------------ latent scenes

SETTINGS = ("indoor", "outdoor")
# Instruments of a family share part of their signatures (``confusability``): a violin is easier to mistake
# for a cello than for a drum.
FAMILIES = {
    "bowed": ("cello", "erhu", "violin"),
    "plucked": ("acoustic_guitar", "banjo", "electric_bass", "guzheng", "pipa", "ukulele"),
    "wind": ("bagpipe", "bassoon", "clarinet", "flute", "saxophone", "suona"),
    "brass": ("trumpet", "tuba"),
    "keys": ("accordion", "piano"),
    "percussion": ("congas", "drum", "xylophone"),
}
_FAMILY_OF = {inst: f for f, members in enumerate(FAMILIES.values()) for inst in members}
_INSTRUMENT_INDEX = {name: i for i, name in enumerate(INSTRUMENTS)}


def _sample_scene(rng: np.random.Generator, p: SynthProfile, video_id: str) -> dict:
    """One latent scene. Visible instruments are listed left to right; two may share a position (stacked one
    above the other). Off-screen instruments always sound and are never of a type that is on screen."""
    T = p.seconds
    k = int(rng.integers(1, p.max_instruments + 1))
    n_off = int(k >= 2 and rng.random() < 0.3)
    n_vis = min(k - n_off, 2 * len(LR))
    if n_vis <= len(LR) and rng.random() < 0.85:
        positions = sorted(int(x) for x in rng.choice(len(LR), n_vis, replace=False))
    else:  # six slots, two per position
        positions = sorted(int(s) // 2 for s in rng.choice(2 * len(LR), n_vis, replace=False))
    types: list[str] = []
    for _ in range(n_vis):
        if types and rng.random() < 0.25:  # repeats make counting and "which violin" questions possible
            types.append(types[int(rng.integers(len(types)))])
        else:
            types.append(INSTRUMENTS[int(rng.integers(len(INSTRUMENTS)))])
    unseen = [x for x in INSTRUMENTS if x not in types]
    off_types = [unseen[int(i)] for i in rng.choice(len(unseen), n_off, replace=False)]

    def instrument(kind: str, position: str | None, sounds: bool) -> dict:
        onset = offset = None
        if sounds:  # ensembles often start together at 0; otherwise an entry in the first half
            onset = 0 if rng.random() < 0.35 else int(rng.integers(1, T // 2 + 1))
            offset = T if rng.random() < 0.5 else int(rng.integers(onset + max(2, T // 5), T + 1))
        return {"type": kind, "visible": position is not None, "position": position, "onset": onset,
                "offset": offset, "loudness": round(float(rng.uniform(0.5, 1.5)), 2),
                "rhythm": round(float(rng.uniform(0.0, 0.9)), 2), "beat": int(rng.integers(2))}

    instruments = [instrument(t, LR[pos], rng.random() < 0.8) for t, pos in zip(types, positions)]
    instruments += [instrument(t, None, True) for t in off_types]
    setting = SETTINGS[int(rng.integers(2))]
    voiceover = None
    if rng.random() < 0.5:
        on = int(rng.integers(0, T // 2 + 1))
        voiceover = {"onset": on, "offset": int(rng.integers(on + 2, T + 1))}
    return {"video_id": video_id, "seconds": T, "setting": setting, "voiceover": voiceover,
            "instruments": instruments}


# ----------------------------------------------------------------------------------------------------- features

class _Signatures:
    """The fixed random vectors of one data set (a function of the seed and the profile's widths)."""

    def __init__(self, p: SynthProfile, seed: int):
        rng = np.random.default_rng([seed, 14])
        family = np.array([_FAMILY_OF[x] for x in INSTRUMENTS])
        a, b = math.sqrt(1 - p.confusability), math.sqrt(p.confusability)

        def mixed(dim: int) -> np.ndarray:
            own = rng.standard_normal((len(INSTRUMENTS), dim))
            shared = rng.standard_normal((len(FAMILIES), dim))
            return a * own + b * shared[family]

        self.audio = mixed(p.audio_dim)
        self.visual = mixed(p.channels)
        self.play = mixed(p.channels)
        self.voice = rng.standard_normal(p.audio_dim)
        self.background = rng.standard_normal((len(SETTINGS), p.channels))
        # What is seen in a patch is scaled entry-wise by 1 + layout x (a vector of its grid column), as a CNN's
        # features depend on where a thing is: the mean over patches then still tells "violin on the left" from
        # "violin on the right" (weakly, as global features do), while the patches say it plainly.
        g = math.isqrt(p.patches)
        columns = 1 + p.layout * rng.standard_normal((g, p.channels))
        self.layout = np.tile(columns, (g, 1))                                  # [P, C], row-major grid
        # Extra backbones: a fixed projection of the noise-free frame, seeded by the set's name so that adding a
        # set never changes the others.
        self.projection = {
            name: np.random.default_rng([seed, 15, zlib.crc32(name.encode())]).standard_normal((p.channels, width))
            / math.sqrt(p.channels)
            for name, (width, _) in p.visual_sets.items() if name != "frames"}


def _footprints(scene: dict, g: int) -> np.ndarray:
    """[P, visible] fraction of each patch (row-major grid) that each visible instrument covers: its third of
    the width and the lower two thirds of the height (the upper one of the two when it shares its position),
    so that the background, which tells the setting, always shows at the top."""
    edges = np.arange(g + 1) / g

    def cover(lo: float, hi: float) -> np.ndarray:
        return np.clip(np.minimum(edges[1:], hi) - np.maximum(edges[:-1], lo), 0, None) * g

    visible = [x for x in scene["instruments"] if x["visible"]]
    per_position = Counter(x["position"] for x in visible)
    seen: Counter = Counter()
    cols = []
    for x in visible:
        k, n = LR.index(x["position"]), per_position[x["position"]]
        slot = seen[x["position"]]
        seen[x["position"]] += 1
        rows = cover(1 / 3 + 2 / 3 * slot / n, 1 / 3 + 2 / 3 * (slot + 1) / n)
        cols.append(np.outer(rows, cover(k / 3, (k + 1) / 3)).ravel())
    return np.stack(cols, axis=1) if cols else np.zeros((g * g, 0))


def _render(scene: dict, sig: _Signatures, p: SynthProfile, rng: np.random.Generator,
            extra: bool) -> dict[str, np.ndarray]:
    """All feature sets of one video, vectorised over seconds, patches and instruments."""
    T, P, C = p.seconds, p.patches, p.channels
    inst = scene["instruments"]
    kinds = np.array([_INSTRUMENT_INDEX[x["type"]] for x in inst], dtype=int)
    t = np.arange(T)[:, None]
    on = np.array([T if x["onset"] is None else x["onset"] for x in inst])
    off = np.array([T if x["offset"] is None else x["offset"] for x in inst])
    sounds = ((t >= on) & (t < off)).astype(np.float64)                       # [T, n]
    loud = np.array([x["loudness"] for x in inst])
    rhythm = np.array([x["rhythm"] for x in inst])
    beat = np.array([x["beat"] for x in inst])
    # Rhythm alternates the amplitude around the loudness from one second to the next (mean = loudness).
    pulse = np.where((t + beat) % 2 == 0, 1.0, -1.0)
    amplitude = sounds * loud * (1 + rhythm * pulse)
    timbre = sig.audio[kinds] + 0.2 * rng.standard_normal((len(inst), p.audio_dim))  # each player sounds a bit apart
    audio = amplitude @ timbre
    if scene["voiceover"]:
        vo = scene["voiceover"]
        speaking = ((t[:, 0] >= vo["onset"]) & (t[:, 0] < vo["offset"])) * rng.uniform(0.5, 1.0, T)  # speech is bursty
        audio += speaking[:, None] * sig.voice
    audio += p.noise * rng.standard_normal((T, p.audio_dim))

    vis = np.array([i for i, x in enumerate(inst) if x["visible"]], dtype=int)
    cover = _footprints(scene, math.isqrt(P))                                  # [P, v]
    looks = sig.visual[kinds[vis]] + 0.3 * rng.standard_normal((len(vis), C))
    background = sig.background[SETTINGS.index(scene["setting"])] + 0.5 * rng.standard_normal(C)
    still = (1 - cover.sum(1))[:, None] * background + sig.layout * (cover @ looks)   # [P, C]: instruments hide it
    playing = p.play_cue * sounds[:, vis]                                      # [T, v]
    motion = sig.layout * ((playing[:, None, :] * cover[None]) @ sig.play[kinds[vis]])   # [T, P, C]
    patches = (still[None] + motion + p.noise * rng.standard_normal((T, P, C), dtype=np.float32)).astype(np.float32)
    feats = {"vggish": audio.astype(np.float32), "patches": patches, "frames": patches.mean(axis=1)}
    if extra:
        # The noise-free frame is weights [T, 1 + v] @ basis [1 + v, C]; projecting the small basis is cheap.
        weights = np.concatenate([np.ones((T, 1)), playing], axis=1)
        placed = (cover[:, :, None] * sig.layout[:, None, :]).mean(0)                     # [v, C]
        basis = np.concatenate([still.mean(0)[None], placed * sig.play[kinds[vis]]])
        for name, proj in sig.projection.items():
            width, mult = p.visual_sets[name]
            # Noise scaled like the frames' (the mean of P noisy patches), times the set's multiplier.
            noise = p.noise * mult / math.sqrt(P) * rng.standard_normal((T, width))
            feats[name] = (weights @ (basis @ proj) + noise).astype(np.float32)
    return feats


# ------------------------------------------------------------------------------------- templates and answers

SIDES = ("left", "right")  # "the instrument on the <LR> of X" only makes sense to the left or the right
# Margins below which an audio comparison is not asked (the generator skips it; the oracle refuses it).
LOUDNESS_MARGIN = 0.25
RHYTHM_MARGIN = 0.25


class _Answer(NamedTuple):
    answer: str
    relevant: tuple[int, ...]                 # instruments whose properties decide the answer
    seconds: tuple[int, ...] | None = None    # evidence seconds, when not the relevant instruments' sounding ones
    positions: tuple[str, ...] | None = None


class _View:
    """Read-only look-ups over one scene, shared by the answer functions (the oracle) and the generator."""

    def __init__(self, scene: dict, absent: tuple[str, ...] = ()):
        self.T = scene["seconds"]
        self.setting = scene["setting"]
        self.voiceover = scene["voiceover"]
        self.inst = scene["instruments"]
        ids = range(len(self.inst))
        self.sounding = [i for i in ids if self.inst[i]["onset"] is not None]
        self.visible = [i for i in ids if self.inst[i]["visible"]]
        self.vis_sounding = [i for i in self.visible if self.inst[i]["onset"] is not None]
        self.heard = Counter(self.inst[i]["type"] for i in self.sounding)
        # Candidate <Object> values: the scene's types, plus a few absent ones for "no" and "zero" answers.
        self.objects = sorted({x["type"] for x in self.inst}, key=_INSTRUMENT_INDEX.get) + list(absent)
        self.visible_types = sorted({self.inst[i]["type"] for i in self.visible}, key=_INSTRUMENT_INDEX.get)

    def kind(self, i: int) -> str:
        return self.inst[i]["type"]

    def of(self, obj: str, among: list[int]) -> list[int]:
        return [i for i in among if self.inst[i]["type"] == obj]

    def at(self, pos: str) -> list[int]:
        return [i for i in self.visible if self.inst[i]["position"] == pos]

    def solo(self, i: int) -> bool:
        """i sounds and is the only instrument of its type that sounds, so its audio can be told apart."""
        return self.inst[i]["onset"] is not None and self.heard[self.kind(i)] == 1

    def onset(self, i: int) -> int:
        return self.inst[i]["onset"]

    def one_kind(self, group: list[int]) -> str | None:
        kinds = {self.kind(i) for i in group}
        return kinds.pop() if len(kinds) == 1 else None

    def extreme(self, among: list[int], fl: str) -> list[int]:
        """The instruments that come in first (or last) among ``among``."""
        if not among:
            return []
        target = (min if fl == "first" else max)(self.onset(i) for i in among)
        return [i for i in among if self.onset(i) == target]

    def entry_groups(self, among: list[int]) -> list[list[int]]:
        """``among`` grouped by onset, in order of entry."""
        return [[i for i in among if self.onset(i) == o] for o in sorted({self.onset(i) for i in among})]

    def neighbour(self, i: int, side: str) -> list[int]:
        """The visible instruments at the nearest occupied position on ``side`` of instrument i."""
        k = LR.index(self.inst[i]["position"])
        order = range(k - 1, -1, -1) if side == "left" else range(k + 1, len(LR))
        for j in order:
            if group := self.at(LR[j]):
                return group
        return []

    def compare(self, a: int, b: int, key: str) -> str | None:
        """yes/no for "a has more <key> than b", or None where the audio cannot tell them apart."""
        if not (self.solo(a) and self.solo(b)):
            return None
        if key == "duration":
            va, vb = (self.inst[i]["offset"] - self.onset(i) for i in (a, b))
            margin = max(2, self.T // 10)
        else:
            va, vb = self.inst[a][key], self.inst[b][key]
            margin = LOUDNESS_MARGIN if key == "loudness" else RHYTHM_MARGIN
        if abs(va - vb) < margin:
            return None
        return "yes" if va > vb else "no"


def _yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def _number(n: int) -> str:
    return NUMBER_WORDS[n] if n <= 10 else NUMBER_WORDS[-1]


def _single(v: _View, obj: str, among: list[int]) -> int | None:
    found = v.of(obj, among)
    return found[0] if len(found) == 1 else None


# One function per template: (view, templ_values) -> _Answer, or None where the question is not well posed.

def _a_is_there(v, vals):
    rel = v.of(vals[0], v.sounding)
    return _Answer(_yes_no(bool(rel)), tuple(rel))


def _a_are_there(v, vals):
    if vals[0] == vals[1]:
        return None
    a, b = v.of(vals[0], v.sounding), v.of(vals[1], v.sounding)
    return _Answer(_yes_no(bool(a) and bool(b)), tuple(a + b))


def _a_how_many(v, vals):
    return _Answer(_number(len(v.sounding)), tuple(v.sounding))


def _a_compare(key):
    def answer(v, vals):
        a, b = _single(v, vals[0], v.sounding), _single(v, vals[1], v.sounding)
        if a is None or b is None or a == b:
            return None
        ans = v.compare(a, b, key)
        return ans and _Answer(ans, (a, b))
    return answer


def _v_is_there(v, vals):
    rel = v.of(vals[0], v.visible)
    return _Answer(_yes_no(bool(rel)), tuple(rel))


def _v_are_there(v, vals):
    if vals[0] == vals[1]:
        return None
    a, b = v.of(vals[0], v.visible), v.of(vals[1], v.visible)
    return _Answer(_yes_no(bool(a) and bool(b)), tuple(a + b))


def _v_how_many(v, vals):
    rel = v.of(vals[0], v.visible)
    return _Answer(_number(len(rel)), tuple(rel))


def _v_how_many_types(v, vals):
    return _Answer(_number(len(v.visible_types)), tuple(v.visible))


def _v_beside(v, vals):
    side, obj = vals
    i = _single(v, obj, v.visible)
    if i is None:
        return None
    group = v.neighbour(i, side)
    kind = v.one_kind(group)
    return kind and _Answer(kind, (i, *group))


def _v_extreme_side(v, vals):
    occupied = [pos for pos in LR if v.at(pos)]
    if len(occupied) < 2:
        return None
    group = v.at(occupied[0] if vals[0] == "leftest" else occupied[-1])
    kind = v.one_kind(group)
    return kind and _Answer(kind, tuple(group))


def _v_what_kind(v, vals):
    if len(v.visible_types) != 1:
        return None
    return _Answer(v.visible_types[0], tuple(v.visible))


def _v_where(v, vals):
    return _Answer(v.setting, (), seconds=tuple(range(v.T)), positions=LR)


def _av_always(v, vals):
    i = _single(v, vals[0], v.visible)
    if i is None:
        return None
    x = v.inst[i]
    return _Answer(_yes_no(x["onset"] == 0 and x["offset"] == v.T), (i,))


def _av_voiceover(v, vals):
    vo = v.voiceover
    seconds = tuple(range(vo["onset"], vo["offset"])) if vo else tuple(range(v.T))
    return _Answer(_yes_no(vo is not None), (), seconds=seconds, positions=())


def _av_from_video(v, vals):
    if not v.sounding:
        return None
    unseen = [i for i in v.sounding if not v.inst[i]["visible"]]
    return _Answer(_yes_no(not unseen), tuple(unseen or v.sounding))


def _av_how_many_sounding(v, vals):
    return _Answer(_number(len(v.vis_sounding)), tuple(v.vis_sounding))


def _av_how_many_silent(v, vals):
    """Read as "did not sound at all, from beginning to end"."""
    silent = [i for i in v.visible if v.onset(i) is None]
    return _Answer(_number(len(silent)), tuple(v.visible))


def _av_how_many_sounding_obj(v, vals):
    rel = v.of(vals[0], v.vis_sounding)
    return _Answer(_number(len(rel)), tuple(rel))


def _av_how_many_sounding_types(v, vals):
    return _Answer(_number(len({v.kind(i) for i in v.vis_sounding})), tuple(v.vis_sounding))


def _av_fl_from(v, vals):
    """First / last by onset, as in every temporal template; an off-screen first sound comes from no position."""
    fl, pos = vals
    first = v.extreme(v.sounding, fl)  # off-screen instruments count: their sound is not from any position
    there = v.at(pos)
    if len(first) != 1 or len(there) > 1:
        return None
    return _Answer(_yes_no(first == there), (*first, *there))


def _av_beside_fl(v, vals):
    """Read as "the instrument to the <LR> of the first / last instrument to come in" (like "on the <LR> of")."""
    side, fl = vals
    first = v.extreme(v.vis_sounding, fl)
    if len(first) != 1:
        return None
    group = v.neighbour(first[0], side)
    kind = v.one_kind(group)
    return kind and _Answer(kind, (*first, *group))


def _av_where_ll(v, vals):
    """"lowest" is read as the quietest, the counterpart of "loudest"."""
    if len(v.vis_sounding) < 2:
        return None
    ranked = sorted(v.vis_sounding, key=lambda i: v.inst[i]["loudness"], reverse=vals[0] == "loudest")
    top, runner = ranked[0], ranked[1]
    if not v.solo(top) or abs(v.inst[top]["loudness"] - v.inst[runner]["loudness"]) < LOUDNESS_MARGIN:
        return None
    return _Answer(v.inst[top]["position"], (top,))


def _av_same_time(v, vals):
    i = _single(v, vals[0], v.vis_sounding)
    if i is None or not v.solo(i):
        return None
    a, b = v.inst[i]["onset"], v.inst[i]["offset"]
    overlapping = [j for j in v.vis_sounding if v.kind(j) != vals[0]
                   and min(b, v.inst[j]["offset"]) - max(a, v.onset(j)) >= 1]
    kind = v.one_kind(overlapping)
    return kind and _Answer(kind, (i, *overlapping))


def _av_compare_named(key):
    def answer(v, vals):
        obj_a, pos_a, obj_b, pos_b = vals
        at_a, at_b = v.at(pos_a), v.at(pos_b)
        if pos_a == pos_b or len(at_a) != 1 or len(at_b) != 1:
            return None
        a, b = at_a[0], at_b[0]
        if v.kind(a) != obj_a or v.kind(b) != obj_b:
            return None
        ans = v.compare(a, b, key)
        return ans and _Answer(ans, (a, b))
    return answer


def _av_compare_at(key):
    def answer(v, vals):
        at_a, at_b = v.at(vals[0]), v.at(vals[1])
        if vals[0] == vals[1] or len(at_a) != 1 or len(at_b) != 1:
            return None
        ans = v.compare(at_a[0], at_b[0], key)
        return ans and _Answer(ans, (at_a[0], at_b[0]))
    return answer


def _av_th_comes_in(v, vals):
    """The <TH> entry among the instruments in the video (an off-screen entry does not count)."""
    groups = v.entry_groups(v.vis_sounding)
    k = TH.index(vals[0])
    if k >= len(groups):
        return None
    kind = v.one_kind(groups[k])
    return kind and _Answer(kind, tuple(groups[k]))


def _av_which_obj_fl(v, vals):
    """Of two or more sounding <Object>s, the position of the one that comes in first / last, or
    "simultaneously" when they all come in together."""
    obj, fl = vals
    rel = v.of(obj, v.vis_sounding)
    if len(rel) < 2:
        return None
    if len({v.onset(i) for i in rel}) == 1:
        return _Answer("simultaneously", tuple(rel))
    first = v.extreme(rel, fl)
    return _Answer(v.inst[first[0]]["position"], tuple(rel)) if len(first) == 1 else None


def _av_before_after(v, vals):
    ba, obj = vals
    i = _single(v, obj, v.vis_sounding)
    if i is None:
        return None
    groups = v.entry_groups(v.vis_sounding)
    k = next(n for n, g in enumerate(groups) if i in g) + (1 if ba == "after" else -1)
    if not 0 <= k < len(groups):
        return None
    kind = v.one_kind(groups[k])
    return kind and _Answer(kind, (i, *groups[k]))


def _av_where_fl(v, vals):
    first = v.extreme(v.vis_sounding, vals[0])
    return _Answer(v.inst[first[0]]["position"], tuple(first)) if len(first) == 1 else None


# Candidate templ_values of each template for one scene (the answer functions weed out the ill-posed ones).

def _none(v):
    return [()]


def _objects(v):
    return [(o,) for o in v.objects]


def _object_pairs(v):
    return list(itertools.permutations(v.objects, 2))


def _heard_pairs(v):
    return list(itertools.permutations([o for o in v.objects if v.heard[o] == 1], 2))


def _visible_objects(v):
    return [(o,) for o in v.visible_types]


def _placed_pairs(v):
    placed = [(v.kind(i), v.inst[i]["position"]) for i in v.vis_sounding]
    return [(*a, *b) for a, b in itertools.permutations(placed, 2)]


def _product(*domains):
    return lambda v: list(itertools.product(*domains))


class _Template(NamedTuple):
    qtype: tuple[str, str]
    text: str
    answer: Callable
    values: Callable


_A_COUNT, _A_COMP = QUESTION_TYPES[0], QUESTION_TYPES[1]
_V_COUNT, _V_LOC = QUESTION_TYPES[2], QUESTION_TYPES[3]
_AV_EXIST, _AV_COUNT, _AV_LOC, _AV_COMP, _AV_TEMP = QUESTION_TYPES[4:]

# The 33 Music-AVQA templates, with their exact text (trailing spaces and the full-width question mark included).
_TEMPLATES: list[_Template] = [
    _Template(_A_COUNT, "Is there a <Object> sound?", _a_is_there, _objects),
    _Template(_A_COUNT, "Are there <Object> and <Object> sound? ", _a_are_there, _object_pairs),
    _Template(_A_COUNT, "How many musical instruments were heard throughout the video?", _a_how_many, _none),
    _Template(_A_COMP, "Is the <Object> louder than the <Object>?", _a_compare("loudness"), _heard_pairs),
    _Template(_A_COMP, "Is the <Object> more rhythmic than the <Object>?", _a_compare("rhythm"), _heard_pairs),
    _Template(_A_COMP, "Is the <Object> playing longer than the <Object>?", _a_compare("duration"), _heard_pairs),
    _Template(_V_COUNT, "Is there a <Object> in the entire video?", _v_is_there, _objects),
    _Template(_V_COUNT, "Are there <Object> and <Object> instruments in the video?", _v_are_there, _object_pairs),
    _Template(_V_COUNT, "How many <Object> are in the entire video?", _v_how_many, _objects),
    _Template(_V_COUNT, "How many types of musical instruments appeared in the entire video?", _v_how_many_types,
              _none),
    _Template(_V_LOC, "What is the instrument on the <LR> of <Object>?", _v_beside,
              lambda v: list(itertools.product(SIDES, v.visible_types))),
    _Template(_V_LOC, "What kind of instrument is the <LRer> instrument? ", _v_extreme_side, _product(LRER)),
    _Template(_V_LOC, "What kind of musical instrument is it?", _v_what_kind, _none),
    _Template(_V_LOC, "Where is the performance?", _v_where, _none),
    _Template(_AV_EXIST, "Is the <Object> in the video always playing?", _av_always, _visible_objects),
    _Template(_AV_EXIST, "Is there a voiceover?", _av_voiceover, _none),
    _Template(_AV_EXIST, "Is this sound from the instrument in the video?", _av_from_video, _none),
    _Template(_AV_COUNT, "How many instruments are sounding in the video?", _av_how_many_sounding, _none),
    _Template(_AV_COUNT, "How many instruments in the video did not sound from beginning to end?",
              _av_how_many_silent, _none),
    _Template(_AV_COUNT, "How many sounding <Object> in the video？", _av_how_many_sounding_obj, _objects),
    _Template(_AV_COUNT, "How many types of musical instruments sound in the video?", _av_how_many_sounding_types,
              _none),
    _Template(_AV_LOC, "Is the <FL> sound coming from the <LR> instrument?", _av_fl_from, _product(FL, LR)),
    _Template(_AV_LOC, "What is the <LR> instrument of the <FL> sounding instrument?", _av_beside_fl,
              _product(SIDES, FL)),
    _Template(_AV_LOC, "Where is the <LL> instrument?", _av_where_ll, _product(LL)),
    _Template(_AV_LOC, "Which is the musical instrument that sounds at the same time as the <Object>?",
              _av_same_time, _visible_objects),
    _Template(_AV_COMP, "Is the <Object> on the <LR> louder than the <Object> on the <LR>?",
              _av_compare_named("loudness"), _placed_pairs),
    _Template(_AV_COMP, "Is the <Object> on the <LR> more rhythmic than the <Object> on the <LR>?",
              _av_compare_named("rhythm"), _placed_pairs),
    _Template(_AV_COMP, "Is the instrument on the <LR> louder than the instrument on the <LR>?",
              _av_compare_at("loudness"), lambda v: list(itertools.permutations(LR, 2))),
    _Template(_AV_COMP, "Is the instrument on the <LR> more rhythmic than the instrument on the <LR>?",
              _av_compare_at("rhythm"), lambda v: list(itertools.permutations(LR, 2))),
    _Template(_AV_TEMP, "What is the <TH> instrument that comes in?", _av_th_comes_in, _product(TH)),
    _Template(_AV_TEMP, "Which <Object> makes the sound <FL>?", _av_which_obj_fl,
              lambda v: list(itertools.product(v.visible_types, FL))),
    _Template(_AV_TEMP, "Which instrument makes sounds <BA> the <Object>?", _av_before_after,
              lambda v: list(itertools.product(BA, v.visible_types))),
    _Template(_AV_TEMP, "Where is the <FL> sounding instrument?", _av_where_fl, _product(FL)),
]
TEMPLATES: list[tuple[tuple[str, str], str]] = [(t.qtype, t.text) for t in _TEMPLATES]
_BY_KEY = {(t.qtype, t.text): t for t in _TEMPLATES}


def _answer(scene: dict, record: dict) -> tuple[_Template, _Answer]:
    rec = parse_record(record)
    tpl = _BY_KEY.get((QUESTION_TYPES[rec.qtype], rec.question))
    if tpl is None:
        raise ValueError(f"not a Music-AVQA template: {rec.question!r} ({rec.type_name})")
    ans = tpl.answer(_View(scene), list(rec.templ_values))
    if ans is None:
        raise ValueError(f"question {rec.question!r} {list(rec.templ_values)} is not well posed for video "
                         f"{scene['video_id']}")
    return tpl, ans


def oracle_answer(scene: dict, record: dict) -> str:
    """The answer of an official-format record, computed from the video's latent scene."""
    return _answer(scene, record)[1].answer


def _evidence(v: _View, tpl: _Template, ans: _Answer) -> dict:
    """Seconds and positions holding the evidence: visual questions look at the whole video, the others at the
    seconds in which the relevant instruments sound (the whole video when none does)."""
    seconds = ans.seconds
    if seconds is None:
        heard = sorted({s for i in ans.relevant if v.onset(i) is not None
                        for s in range(v.onset(i), v.inst[i]["offset"])})
        seconds = tuple(range(v.T)) if tpl.qtype[0] == "Visual" or not heard else heard
    positions = ans.positions
    if positions is None:
        placed = {v.inst[i]["position"] for i in ans.relevant if v.inst[i]["visible"]}
        positions = tuple(p for p in LR if p in placed)
    return {"seconds": list(seconds), "positions": list(positions)}


# ------------------------------------------------------------------------------------------------- questions

def _ask(scenes: list[dict], p: SynthProfile, seed: int) -> list[tuple[int, _Template, tuple, _Answer]]:
    """Choose about ``qa_per_video`` questions per video, balancing templates and the answers within each.

    Per template the least-used answer that the scene allows is asked (so yes/no is about 50/50 wherever both
    are possible), and templates whose questions or whose answer for this scene are already frequent wait
    (score = mean of the template's count and |answers seen| x this answer's count). Only the scenes are read.
    """
    rng = np.random.default_rng([seed, 12])
    asked = np.zeros(len(_TEMPLATES))
    answered = [Counter() for _ in _TEMPLATES]
    seen: list[set] = [set() for _ in _TEMPLATES]
    out = []
    for video, scene in enumerate(scenes):
        present = {x["type"] for x in scene["instruments"]}
        absent = [x for x in INSTRUMENTS if x not in present]
        v = _View(scene, tuple(absent[int(i)] for i in sorted(rng.choice(len(absent), 2, replace=False))))
        choices = {}
        for k, tpl in enumerate(_TEMPLATES):
            by_answer = defaultdict(list)
            for values in tpl.values(v):
                ans = tpl.answer(v, list(values))
                if ans is not None:
                    by_answer[ans.answer].append((values, ans))
            if not by_answer:
                continue
            seen[k].update(by_answer)
            answers = sorted(by_answer)
            best = min((answers[i] for i in rng.permutation(len(answers))), key=lambda a: answered[k][a])
            score = 0.5 * asked[k] + 0.5 * len(seen[k]) * answered[k][best] + rng.random()
            choices[k] = (score, by_answer[best])
        n_questions = int(p.qa_per_video) + int(rng.random() < p.qa_per_video % 1)
        for k in sorted(choices, key=lambda k: choices[k][0])[:n_questions]:
            options = choices[k][1]
            values, ans = options[int(rng.integers(len(options)))]
            asked[k] += 1
            answered[k][ans.answer] += 1
            out.append((video, _TEMPLATES[k], values, ans))
    return out


# ------------------------------------------------------------------------------------------------- writing

class _Writer:
    """Writes files under a folder and hashes (relative path, bytes) in the order written."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.hash = hashlib.sha256()

    def write(self, rel: str, data: bytes) -> None:
        path = self.folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.hash.update(rel.encode() + b"\0" + data)

    def npy(self, rel: str, array: np.ndarray) -> None:
        buf = io.BytesIO()
        np.save(buf, array)
        self.write(rel, buf.getvalue())

    def json(self, rel: str, obj) -> None:
        self.write(rel, json.dumps(obj).encode())


def _split_of(p: SynthProfile, seed: int) -> list[str]:
    order = np.random.default_rng([seed, 13]).permutation(p.videos)
    n_train = round(p.split[0] * p.videos)
    n_val = round(p.split[1] * p.videos)
    split = [""] * p.videos
    for rank, video in enumerate(order):
        split[int(video)] = "train" if rank < n_train else "val" if rank < n_train + n_val else "test"
    return split


def _write(folder: Path, p: SynthProfile, seed: int, extra: bool, progress: bool) -> dict:
    from tqdm import tqdm

    w = _Writer(folder)
    ids = [f"s{v:07d}" for v in range(p.videos)]
    scenes = [_sample_scene(np.random.default_rng([seed, 10, v]), p, ids[v]) for v in range(p.videos)]
    sig = _Signatures(p, seed)
    for v in tqdm(range(p.videos), desc="SynthAVQA features", disable=not progress):
        feats = _render(scenes[v], sig, p, np.random.default_rng([seed, 11, v]), extra)
        for name, array in feats.items():
            w.npy(f"feats/{name}/{ids[v]}.npy", array)

    split = _split_of(p, seed)
    records = {s: [] for s in SPLITS}
    evidence = {}
    for qid, (video, tpl, values, ans) in enumerate(_ask(scenes, p, seed)):
        records[split[video]].append({
            "video_id": ids[video], "question_id": qid, "type": json.dumps(list(tpl.qtype)),
            "question_content": tpl.text, "templ_values": json.dumps(list(values)), "question_deleted": 0,
            "anser": ans.answer})
        evidence[str(qid)] = _evidence(_View(scenes[video]), tpl, ans)
    for s in SPLITS:
        w.json(f"{ANNOTATION_DIR}/avqa-{s}.json", records[s])
    w.json("evidence.json", evidence)
    w.json("scenes.json", {scene["video_id"]: scene for scene in scenes})

    written = {"vggish": (p.audio_dim, 1.0), "patches": (p.channels, 1.0), **p.visual_sets}
    if not extra:
        written = {n: written[n] for n in ("vggish", "frames", "patches")}
    card = {
        "name": "SynthAVQA", "version": SYNTH_VERSION, "profile": p.name, "seed": seed,
        "profile_fields": dataclasses.asdict(p), "extra_visual_sets": extra,
        "feature_sets": {n: {"width": w, "noise": m} for n, (w, m) in written.items()},
        "counts": {s: {"videos": split.count(s), "questions": len(records[s])} for s in SPLITS},
        "content_hash": w.hash.hexdigest(),
    }
    text = json.dumps(card, indent=1)
    (folder / CARD_NAME).write_text(text)
    return json.loads(text)  # the same object that read_card gives later (lists, not tuples)


# ----------------------------------------------------------------------------- multiple-choice (AVQA-format) view

# Each template's AVQA question type (an emulation: the nearest of the 8 in meaning; "Why" and "Used For" have no
# counterpart in music scenes and take the sound-cause and instrument-identity templates) and its answer family,
# from which the distractors are drawn. In the order of _TEMPLATES.
_AVQA_VIEW: list[tuple[str, str]] = [
    ("Come From", "yes/no"),      # Is there a <Object> sound?
    ("Come From", "yes/no"),      # Are there <Object> and <Object> sound?
    ("Come From", "count"),       # How many musical instruments were heard throughout the video?
    ("Which", "yes/no"),          # Is the <Object> louder than the <Object>?
    ("Which", "yes/no"),          # Is the <Object> more rhythmic than the <Object>?
    ("When", "yes/no"),           # Is the <Object> playing longer than the <Object>?
    ("Which", "yes/no"),          # Is there a <Object> in the entire video?
    ("Which", "yes/no"),          # Are there <Object> and <Object> instruments in the video?
    ("Which", "count"),           # How many <Object> are in the entire video?
    ("Happening", "count"),       # How many types of musical instruments appeared in the entire video?
    ("Which", "instrument"),      # What is the instrument on the <LR> of <Object>?
    ("Used For", "instrument"),   # What kind of instrument is the <LRer> instrument?
    ("Used For", "instrument"),   # What kind of musical instrument is it?
    ("Where", "setting"),         # Where is the performance?
    ("When", "yes/no"),           # Is the <Object> in the video always playing?
    ("Why", "yes/no"),            # Is there a voiceover?
    ("Why", "yes/no"),            # Is this sound from the instrument in the video?
    ("Happening", "count"),       # How many instruments are sounding in the video?
    ("Happening", "count"),       # How many instruments in the video did not sound from beginning to end?
    ("Happening", "count"),       # How many sounding <Object> in the video?
    ("Come From", "count"),       # How many types of musical instruments sound in the video?
    ("Come From", "yes/no"),      # Is the <FL> sound coming from the <LR> instrument?
    ("Which", "instrument"),      # What is the <LR> instrument of the <FL> sounding instrument?
    ("Where", "position"),        # Where is the <LL> instrument?
    ("When", "instrument"),       # Which is the musical instrument that sounds at the same time as the <Object>?
    ("Which", "yes/no"),          # Is the <Object> on the <LR> louder than the <Object> on the <LR>?
    ("Which", "yes/no"),          # Is the <Object> on the <LR> more rhythmic than the <Object> on the <LR>?
    ("Which", "yes/no"),          # Is the instrument on the <LR> louder than the instrument on the <LR>?
    ("Which", "yes/no"),          # Is the instrument on the <LR> more rhythmic than the instrument on the <LR>?
    ("Before Next", "instrument"),  # What is the <TH> instrument that comes in?
    ("When", "position"),         # Which <Object> makes the sound <FL>? (a position, or "simultaneously")
    ("Before Next", "instrument"),  # Which instrument makes sounds <BA> the <Object>?
    ("Where", "position"),        # Where is the <FL> sounding instrument?
]
AVQA_TYPE_OF: dict[tuple[tuple[str, str], str], str] = {
    (t.qtype, t.text): view[0] for t, view in zip(_TEMPLATES, _AVQA_VIEW)}
# The answers plausible for a template. A family of fewer than 4 answers is completed from the other Music-AVQA
# answers, which a question-only model can rule out (chance stays 1/2 on yes/no, 1/2 on indoor/outdoor).
MC_FAMILIES: dict[str, tuple[str, ...]] = {
    "yes/no": ("yes", "no"),
    "count": tuple(NUMBER_WORDS),
    "instrument": tuple(INSTRUMENTS),
    "setting": SETTINGS,
    "position": (*LR, "simultaneously"),
}
MC_FAMILY_OF: dict[tuple[tuple[str, str], str], str] = {
    (t.qtype, t.text): view[1] for t, view in zip(_TEMPLATES, _AVQA_VIEW)}
# question_relation of the view, from the Music-AVQA modality (AVQA files hold "View" and "Both"; "Sound" is assumed).
AVQA_RELATION = {"Audio": "Sound", "Visual": "View", "Audio-Visual": "Both"}
NUM_OPTIONS = 4


def _options(answer: str, family: str, seed: int, qid: int) -> list[str]:
    """The 3 distractors of one question, drawn by (seed, question id) alone."""
    rng = np.random.default_rng([seed, 16, qid])
    members = MC_FAMILIES[family]
    if answer not in members:
        raise ValueError(f"answer {answer!r} is not in the {family!r} family {members}")
    others = [a for a in members if a != answer]
    picked = [others[int(i)] for i in rng.choice(len(others), min(NUM_OPTIONS - 1, len(others)), replace=False)]
    if len(picked) < NUM_OPTIONS - 1:
        pool = [a for a in ANSWERS if a not in members]
        picked += [pool[int(i)] for i in rng.choice(len(pool), NUM_OPTIONS - 1 - len(picked), replace=False)]
    return picked


def avqa_view(records: dict[str, list[dict]], seed: int) -> dict[str, list[dict]]:
    """Music-AVQA-format records per split -> the same questions as AVQA-format records.

    Within each split the answer takes the 4 positions in turn, in a seeded order per block of 4 questions, so
    every position holds the answer for a quarter of the questions (to within one)."""
    out = {}
    for s_index, split in enumerate(SPLITS):
        rows = []
        for i, raw in enumerate(records[split]):
            rec = parse_record(raw)
            key = (QUESTION_TYPES[rec.qtype], rec.question)
            if i % NUM_OPTIONS == 0:
                slots = np.random.default_rng([seed, 17, s_index, i // NUM_OPTIONS]).permutation(NUM_OPTIONS)
            slot = int(slots[i % NUM_OPTIONS])
            options = _options(rec.answer, MC_FAMILY_OF[key], seed, int(rec.question_id))
            options.insert(slot, rec.answer)
            rows.append({"id": rec.question_id, "video_name": rec.video_id, "video_id": int(rec.video_id[1:]),
                         "question_text": rec.text, "multi_choice": options, "answer": slot,
                         "question_relation": AVQA_RELATION[rec.modality], "question_type": AVQA_TYPE_OF[key]})
        out[split] = rows
    return out


def _write_avqa(folder: Path, seed: int) -> dict:
    """Write the AVQA-format view of the data set in ``folder`` beside its Music-AVQA files; returns the card's
    ``avqa`` entry. Each file is written under a temporary name and renamed into place."""
    from mcd.data.avqa import SPLIT_FILES
    records = {s: read_json_list(folder / ANNOTATION_DIR / f"avqa-{s}.json") for s in SPLITS}
    h = hashlib.sha256()
    view = avqa_view(records, seed)
    for s in SPLITS:
        data = json.dumps(view[s]).encode()
        tmp = folder / f"{SPLIT_FILES[s]}.tmp-{os.getpid()}"
        tmp.write_bytes(data)
        os.replace(tmp, folder / SPLIT_FILES[s])
        h.update(SPLIT_FILES[s].encode() + b"\0" + data)
    return {"files": [SPLIT_FILES[s] for s in SPLITS], "options": NUM_OPTIONS,
            "type_mapping": "emulation (synth.AVQA_TYPE_OF)", "content_hash": h.hexdigest()}


def _write_card(folder: Path, card: dict) -> dict:
    text = json.dumps(card, indent=1)
    tmp = folder / f"{CARD_NAME}.tmp-{os.getpid()}"
    tmp.write_text(text)
    os.replace(tmp, folder / CARD_NAME)
    return json.loads(text)


def _has_avqa(root: Path, card: dict) -> bool:
    entry = card.get("avqa")
    return bool(entry) and all((Path(root) / f).exists() for f in entry["files"])


def read_card(root: Path) -> dict | None:
    path = Path(root) / CARD_NAME
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def generate(root, profile: str | SynthProfile = "default", seed: int = 0, *, extra_visual_sets: bool = False,
             progress: bool = True, overrides: dict | None = None, multiple_choice: bool = False) -> dict:
    """Generate SynthAVQA into ``root`` (replacing an earlier SynthAVQA there) and return its card.
    ``multiple_choice`` also writes the AVQA-format view (``{split}_qa.json``; the card's ``avqa`` entry).

    The data set is written into a sibling ``<root>.tmp-<pid>`` folder and renamed into place when complete, so
    a half-written data set is never mistaken for a finished one. A ``root`` holding anything but SynthAVQA
    (for example the real release) is never overwritten.
    """
    p = resolve_profile(profile, overrides)
    root = Path(root)
    if root.exists() and (not root.is_dir() or (any(root.iterdir()) and read_card(root) is None)):
        raise FileExistsError(f"{root} exists and is not a SynthAVQA data set; refusing to overwrite it")
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = root.with_name(f"{root.name}.tmp-{os.getpid()}")
    old = root.with_name(f"{root.name}.old-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        card = _write(tmp, p, seed, extra_visual_sets, progress)
        if multiple_choice:
            card = _write_card(tmp, {**card, "avqa": _write_avqa(tmp, seed)})
        if root.exists():
            os.replace(root, old)
        os.replace(tmp, root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return card


def ensure(root, profile: str | SynthProfile = "default", seed: int = 0, **kw) -> dict:
    """The card of the SynthAVQA data set in ``root``, generating it only when ``root`` does not already hold
    a finished one of this version, profile (fields included) and seed (with the extra sets, if asked). With
    ``multiple_choice=True`` a finished one that lacks the AVQA-format view gets it added in place."""
    p = resolve_profile(profile, kw.get("overrides"))
    card = read_card(root)
    if (card and card.get("version") == SYNTH_VERSION and card.get("profile") == p.name and card.get("seed") == seed
            and card.get("profile_fields") == json.loads(json.dumps(dataclasses.asdict(p)))
            and (card.get("extra_visual_sets") or not kw.get("extra_visual_sets"))):
        if kw.get("multiple_choice") and not _has_avqa(root, card):
            card = _write_card(Path(root), {**card, "avqa": _write_avqa(Path(root), seed)})
        return card
    return generate(root, p, seed, **{k: v for k, v in kw.items() if k != "overrides"})


# -------------------------------------------------------------------------------------------- data card tables

def _records(root: Path, split: str) -> list:
    return load_records(Path(root) / ANNOTATION_DIR / f"avqa-{split}.json")


def _accuracy_table(records: list, correct: list[bool]) -> pd.DataFrame:
    """Accuracy (%) per question type, per modality and overall, pooled over questions (micro averages)."""
    frame = pd.DataFrame({"type": [r.type_name for r in records], "modality": [r.modality for r in records],
                          "correct": np.asarray(correct, dtype=float)})
    rows = {}
    for name in TYPE_NAMES:
        rows[name] = frame.loc[frame["type"] == name, "correct"]
    for name in MODALITIES:
        rows[name] = frame.loc[frame["modality"] == name, "correct"]
    rows["Overall"] = frame["correct"]
    return pd.DataFrame({"n": {k: len(c) for k, c in rows.items()},
                         "accuracy": {k: 100 * c.mean() if len(c) else float("nan") for k, c in rows.items()}})


def question_prior_accuracy(root) -> pd.DataFrame:
    """Test accuracy of answering each (type, template) with its most frequent train answer (ties: alphabetical):
    how much the question alone gives away."""
    test = _records(root, "test")
    predicted = majority_answers(_records(root, "train"), test, by="template")
    return _accuracy_table(test, [p == r.answer for p, r in zip(predicted, test)])


def oracle_accuracy(root, split: str = "test") -> pd.DataFrame:
    """Accuracy of the oracle that reads the latent scenes (100% unless the generator and the answers disagree)."""
    root = Path(root)
    scenes = json.loads((root / "scenes.json").read_text())
    raw = read_json_list(root / ANNOTATION_DIR / f"avqa-{split}.json")
    records = [parse_record(r) for r in raw]
    return _accuracy_table(records, [oracle_answer(scenes[r["video_id"]], r) == r["anser"] for r in raw])


def card_tables(root) -> dict[str, pd.DataFrame]:
    """The data card's tables: questions per type and split, per template and split, and answers per type."""
    per_split = {s: _records(root, s) for s in SPLITS}
    rows = [(s, r.type_name, r.question, r.answer) for s, recs in per_split.items() for r in recs]
    frame = pd.DataFrame(rows, columns=["split", "type", "template", "answer"])
    counts = frame.pivot_table(index="type", columns="split", values="answer", aggfunc="size", fill_value=0)
    counts = counts.reindex(index=TYPE_NAMES, columns=list(SPLITS), fill_value=0)
    counts.loc["Total"] = counts.sum()
    templates = frame.pivot_table(index=["type", "template"], columns="split", values="answer", aggfunc="size",
                                  fill_value=0).reindex(columns=list(SPLITS), fill_value=0)
    answers = frame.pivot_table(index="type", columns="answer", values="split", aggfunc="size", fill_value=0)
    answers = answers.reindex(index=TYPE_NAMES, fill_value=0)
    return {"counts": counts, "templates": templates, "answers": answers}
