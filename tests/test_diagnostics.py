"""mcd/models/diagnostics.py: the measurements on matrices whose answer is known, and the default reading of W^cross
not degenerate at initialisation (the softmax reading ``outer`` is, as the control)."""
from __future__ import annotations

import math

import pytest
import torch

from mcd.models.base import InputDims
from mcd.models.diagnostics import (cosine_spread, cross_weight_diagnostics, effective_rank, normalised_entropy,
                                    same_video_pairs, top_share)
from mcd.models.mcd import CROSS_WEIGHT_VARIANTS, MCD, MCDConfig

B, T, L, D = 24, 8, 14, 32
DIMS = InputDims(audio_dim=16, visual_dim=24, seconds=T, vocab_size=30, num_answers=7, question_len=L)


def make_batch(seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    question = torch.randint(1, DIMS.vocab_size, (B, L), generator=g)
    question[:, 9:] = 0
    return {"audio": torch.randn(B, T, DIMS.audio_dim, generator=g),
            "visual": torch.randn(B, T, DIMS.visual_dim, generator=g), "question": question,
            "keyword_mask": torch.zeros(B, L, dtype=torch.bool), "qtype": torch.arange(B) % DIMS.num_qtypes,
            "video": torch.arange(B)}


def test_measures_on_known_matrices():
    n = 5
    assert normalised_entropy(torch.full((n,), 1.0 / n)).item() == pytest.approx(1.0)
    assert normalised_entropy(torch.eye(n)[0]).item() == pytest.approx(0.0, abs=1e-12)
    rank_one = torch.randn(7, 1) @ torch.randn(1, n)
    assert effective_rank(rank_one).item() == pytest.approx(1.0, abs=1e-5)
    assert top_share(rank_one).item() == pytest.approx(1.0, abs=1e-6)
    assert effective_rank(torch.eye(n)).item() == pytest.approx(n)
    assert top_share(3 * torch.eye(n)).item() == pytest.approx(1.0 / n)
    # batched: one value per matrix
    assert effective_rank(torch.stack([rank_one, rank_one])).shape == (2,)


def test_cosine_spread():
    c = torch.randn(6, 1)
    collapsed = cosine_spread(c * torch.ones(6, 4), c.abs() * torch.ones(6, 4))   # m_j = +-c 1
    assert collapsed["cos_abs_mean"] == pytest.approx(1.0) and collapsed["cos_abs_over_0.9"] == 1.0
    assert collapsed["cos_min"] == pytest.approx(-1.0) or collapsed["cos_max"] == pytest.approx(1.0)
    torch.manual_seed(0)
    spread = cosine_spread(torch.randn(64, 256), torch.randn(64, 256))
    assert spread["cos_abs_mean"] < 0.1 and spread["cos_abs_over_0.9"] == 0.0
    assert spread["cos_min"] <= spread["cos_q05"] <= spread["cos_q50"] <= spread["cos_q95"] <= spread["cos_max"]
    assert spread["cos_sd"] == pytest.approx(1 / math.sqrt(256), rel=0.1)   # random directions: sd 1/sqrt(D)


def test_same_video_pairs():
    assert same_video_pairs(torch.tensor([0, 1, 0, 2, 0, 1])) == 4          # three of video 0, two of video 1
    assert same_video_pairs(torch.arange(10)) == 0


def test_diagnostics_read_the_models_own_cross_features():
    """The f_cross measured are those the model's forward computes (the MCM's cross-features)."""
    torch.manual_seed(0)
    model = MCD(MCDConfig(dim=D, heads=4), DIMS).eval()
    batch = make_batch()
    seen = {}
    handle = model.mcm.register_forward_hook(lambda m, args, out: seen.setdefault("out", out))
    stats = cross_weight_diagnostics(model, batch)
    handle.remove()
    crosses = torch.cat(seen["out"].cross_a + seen["out"].cross_v)
    assert stats["effective_rank"] == pytest.approx(effective_rank(crosses).mean().item(), rel=1e-5)
    assert math.isnan(stats["row_entropy"])                                    # no softmax in this reading
    model.train()
    cross_weight_diagnostics(model, batch)
    assert model.training                                                      # the mode is restored


# Degenerate, at initialisation, means any of the following. f_cross rank one: the best rank-one approximation
# holds more than 90% of its energy (top_share > 0.9) or its effective rank is below 1.5 (a rank-one matrix gives 1,
# T frames of independent channels up to T = 8). The Eq. 13 cosines near +-1: mean |cos| > 0.5 (directions in
# D = 32 drawn at random give about sqrt(2 / (pi D)) = 0.14; m_v, m_a collapsed onto +-c 1 give 1). A softmax
# W^cross whose columns are uniform: row entropy / log D > 0.99. Measured here: projected and diag about
# 0.44 / 6.5 / 0.13; outer about 0.9996 / 1.1 / 0.96-1.0, with row entropy 0.9999.
def degenerate(stats: dict) -> list[str]:
    reasons = [f"top_share {stats['top_share']:.4f} > 0.9"] if stats["top_share"] > 0.9 else []
    if stats["effective_rank"] < 1.5:
        reasons.append(f"effective_rank {stats['effective_rank']:.3f} < 1.5")
    if stats["cos_abs_mean"] > 0.5:
        reasons.append(f"cos_abs_mean {stats['cos_abs_mean']:.3f} > 0.5")
    if not math.isnan(stats["row_entropy"]) and stats["row_entropy"] > 0.99:
        reasons.append(f"row_entropy {stats['row_entropy']:.5f} > 0.99")
    return reasons


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_default_reading_is_not_degenerate_at_initialisation(seed):
    torch.manual_seed(seed)
    default = cross_weight_diagnostics(MCD(MCDConfig(dim=D, heads=4), DIMS), make_batch(seed))
    assert degenerate(default) == [], degenerate(default)


@pytest.mark.parametrize("reading", list(CROSS_WEIGHT_VARIANTS))
def test_which_readings_are_degenerate(reading):
    """The control: the softmax reading (outer) is degenerate by every measure; projected and diag by none."""
    torch.manual_seed(0)
    stats = cross_weight_diagnostics(MCD(MCDConfig(dim=D, heads=4, **CROSS_WEIGHT_VARIANTS[reading]), DIMS),
                                     make_batch())
    if reading == "outer":
        assert len(degenerate(stats)) == 4, degenerate(stats)
    else:
        assert degenerate(stats) == [], degenerate(stats)
