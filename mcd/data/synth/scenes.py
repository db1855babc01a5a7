"""Latent scenes: one per video. A scene holds the setting, the instruments (type, position, visibility, the
seconds in which each sounds, loudness, rhythm) and an optional voiceover; every feature and every answer is a
function of it."""
from __future__ import annotations

import numpy as np

from mcd.data.annotations import INSTRUMENTS
from mcd.data.synth.profiles import SynthProfile

SETTINGS = ("indoor", "outdoor")
LR = ("left", "middle", "right")   # where a visible instrument stands (also the <LR> values of the templates)
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
FAMILY_OF = {inst: f for f, members in enumerate(FAMILIES.values()) for inst in members}
INSTRUMENT_INDEX = {name: i for i, name in enumerate(INSTRUMENTS)}


def sample_scene(rng: np.random.Generator, p: SynthProfile, video_id: str) -> dict:
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
