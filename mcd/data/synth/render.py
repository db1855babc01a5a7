"""Features rendered from a latent scene, in the official release's shapes: audio ``vggish`` [T, 128], visual
``patches`` [T, P, C] and ``frames`` [T, C], and optionally frame-level sets that emulate other backbones.

- Audio carries what sounds when (instrument audio signatures scaled by loudness and modulated second by second by
  rhythmicity, a voiceover, noise); it has no notion of position or visibility.
- Patches carry who is where: a visible instrument covers the patches of its position with its visual signature,
  a weaker "being played" component in the seconds it sounds, and the setting's background shows around it.
- Frames pool the patches the way a global image embedding does, position included (``pool_frames``): each patch
  passes a fixed position-dependent linear map before the mean, so a frame tells, less precisely than the patches,
  where an instrument stands (v1's frames were the plain mean; ``frame_position=0`` gives it back).
"""
from __future__ import annotations

import math
import zlib
from collections import Counter

import numpy as np

from mcd.data.annotations import INSTRUMENTS
from mcd.data.synth.profiles import SynthProfile
from mcd.data.synth.scenes import FAMILIES, FAMILY_OF, INSTRUMENT_INDEX, LR, SETTINGS


class Signatures:
    """The fixed random vectors and maps of one data set (a function of the seed and the profile's widths)."""

    def __init__(self, p: SynthProfile, seed: int):
        rng = np.random.default_rng([seed, 14])
        family = np.array([FAMILY_OF[x] for x in INSTRUMENTS])
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
        # features depend on where a thing is.
        g = math.isqrt(p.patches)
        columns = 1 + p.layout * rng.standard_normal((g, p.channels))
        self.layout = np.tile(columns, (g, 1))                                  # [P, C], row-major grid
        # The frame's pooling: patch p enters the frame through I + frame_position x R_p, R_p a fixed Gaussian map
        # with entries of variance 1 / C (so it keeps a vector's scale). Stacked as [P * C, C] for one product.
        maps = np.random.default_rng([seed, 18]).standard_normal((p.patches, p.channels, p.channels))
        maps = np.eye(p.channels) + p.frame_position * maps / math.sqrt(p.channels)
        self.pooling = (maps.reshape(p.patches * p.channels, p.channels) / p.patches).astype(np.float32)
        # Extra backbones: a fixed projection of the noise-free frame, seeded by the set's name so that adding a
        # set never changes the others.
        self.projection = {
            name: np.random.default_rng([seed, 15, zlib.crc32(name.encode())]).standard_normal((p.channels, width))
            / math.sqrt(p.channels)
            for name, (width, _) in p.visual_sets.items() if name != "frames"}


def pool_frames(patches: np.ndarray, sig: Signatures) -> np.ndarray:
    """[T, P, C] patches -> [T, C] frames: the mean over patches of each patch through its position's map."""
    T, P, C = patches.shape
    return patches.reshape(T, P * C) @ sig.pooling


def footprints(scene: dict, g: int) -> np.ndarray:
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


def render(scene: dict, sig: Signatures, p: SynthProfile, rng: np.random.Generator,
           extra: bool) -> dict[str, np.ndarray]:
    """All feature sets of one video, vectorised over seconds, patches and instruments."""
    T, P, C = p.seconds, p.patches, p.channels
    inst = scene["instruments"]
    kinds = np.array([INSTRUMENT_INDEX[x["type"]] for x in inst], dtype=int)
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
    cover = footprints(scene, math.isqrt(P))                                   # [P, v]
    looks = sig.visual[kinds[vis]] + 0.3 * rng.standard_normal((len(vis), C))
    background = sig.background[SETTINGS.index(scene["setting"])] + 0.5 * rng.standard_normal(C)
    still = (1 - cover.sum(1))[:, None] * background + sig.layout * (cover @ looks)   # [P, C]: instruments hide it
    playing = p.play_cue * sounds[:, vis]                                      # [T, v]
    motion = sig.layout * ((playing[:, None, :] * cover[None]) @ sig.play[kinds[vis]])   # [T, P, C]
    clean = (still[None] + motion).astype(np.float32)
    patches = clean + p.noise * rng.standard_normal((T, P, C), dtype=np.float32)
    feats = {"vggish": audio.astype(np.float32), "patches": patches, "frames": pool_frames(patches, sig)}
    if extra:
        frame = pool_frames(clean, sig)                                        # the noise-free frame
        for name, proj in sig.projection.items():
            width, mult = p.visual_sets[name]
            # Noise scaled like the frames' (the pooling of P noisy patches), times the set's multiplier.
            noise = p.noise * mult * math.sqrt((1 + p.frame_position ** 2) / P) * rng.standard_normal((T, width))
            feats[name] = (frame @ proj + noise).astype(np.float32)
    return feats
