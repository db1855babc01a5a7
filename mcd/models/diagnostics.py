"""Is W^cross degenerate? Measurements of MCD's association blocks and of the Eq. 13 contrast on one batch.

    stats = cross_weight_diagnostics(model, batch)    # a flat dict of numbers: one row of a table

The model runs in eval mode (no dropout, BatchNorm on its running statistics) without gradients; every number is
pooled over the N blocks, the two branches (audio, visual) and the samples of the batch.

- ``row_entropy``: only for the softmax reading (``cross_weights: outer``), where column i of W^cross is the
  distribution softmax_j(q_i r_j) over the D input channels j. Its entropy divided by log D: 1 = uniform (output
  channel i is the plain mean of the input channels, whatever i), 0 = one-hot. Mean over the D distributions of each
  matrix; ``row_entropy_min`` is the smallest one seen. ``max_weight_x_d``: the largest weight times D (1 = uniform).
  NaN for the readings without a softmax (``projected``, ``diag``).
- ``effective_rank``: of each sample's f_cross [T, D], exp of the entropy of its singular values normalised to sum
  1 (Roy and Vetterli, 2007): 1 for a rank-one matrix, min(T, D) for equal singular values (``rank_bound``).
  ``top_share``: the share of the largest singular value in the energy, s_1^2 / sum_k s_k^2 (1 = rank one). A
  degenerate W^cross that copies one per-frame value to every channel makes f_cross rank one.
- ``cos_*``: the cosines of Eq. 13, cos(m_v^(i), m_a^(k)) for all pairs i, k of the batch, with m_v, m_a from
  Eq. 12: sd, min, 5/50/95% quantiles, max, mean |cos| (``cos_abs_mean``) and the share of pairs with |cos| > 0.9
  (``cos_abs_over_0.9``). If m_v and m_a collapse onto +-c 1, every cosine is +-1 and InfoNCE cannot tell the
  pairs apart.

``same_video_pairs`` counts the pairs of a batch that ask about the same video (the false negatives of Eq. 11 and
Eq. 13 without ``mask_same_video``).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from mcd.models.layers import temporal_mean
from mcd.models.mcd import MCD, audio_visual_means

QUANTILES = {"cos_q05": 0.05, "cos_q50": 0.5, "cos_q95": 0.95}


def run_diagnostics(cfg, model, split, dims, device="cpu", *, batch_size: int = 64, seed: int = 0) -> dict:
    """What the trainer keeps beside an MCD run (``diagnostics.json``): ``cross_weight_diagnostics`` on one batch of
    ``split`` (the first ``batch_size`` questions of a ``seed``-ed permutation), at initialisation (the weights the
    run's seed draws, as the trainer draws them) and trained (``model``). {} for other models and for MCD without
    cross-attention."""
    if not isinstance(model, MCD) or not (model.cfg.a_query or model.cfg.v_query) or not model.cfg.num_blocks:
        return {}
    from mcd.data.datasets import batches
    from mcd.models.registry import build_model
    batch = split.batch(next(batches(len(split), batch_size, shuffle=True, seed=seed)), device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.train.seed)
        initial = build_model(cfg.model, dims).to(device)
    return {"split": split.name, "batch_size": batch_size, "seed": seed,
            "initialisation": cross_weight_diagnostics(initial, batch),
            "trained": cross_weight_diagnostics(model, batch)}


def normalised_entropy(p: torch.Tensor) -> torch.Tensor:
    """Entropy of the distributions along the last axis, divided by log of its length: [..., n] -> [...]."""
    return -(p * p.clamp_min(1e-30).log()).sum(-1) / math.log(p.size(-1))


def effective_rank(x: torch.Tensor) -> torch.Tensor:
    """exp(entropy of the normalised singular values) of each matrix of x [..., m, n] -> [...]."""
    s = torch.linalg.svdvals(x.double())
    p = s / s.sum(-1, keepdim=True).clamp_min(1e-300)
    return torch.exp(-(p * p.clamp_min(1e-300).log()).sum(-1)).to(x.dtype)


def top_share(x: torch.Tensor) -> torch.Tensor:
    """s_1^2 / sum_k s_k^2 of each matrix of x [..., m, n] -> [...]: the energy in the best rank-one approximation."""
    s2 = torch.linalg.svdvals(x.double()).square()
    return (s2[..., 0] / s2.sum(-1).clamp_min(1e-300)).to(x.dtype)


def cosine_spread(m_v: torch.Tensor, m_a: torch.Tensor) -> dict[str, float]:
    """Statistics of cos(m_v^(i), m_a^(k)) over all pairs i, k (the similarities inside Eq. 13's InfoNCE)."""
    cos = (F.normalize(m_v.double(), dim=-1) @ F.normalize(m_a.double(), dim=-1).t()).flatten()
    out = {"cos_sd": cos.std().item(), "cos_min": cos.min().item()}
    out |= {k: torch.quantile(cos, q).item() for k, q in QUANTILES.items()}
    out |= {"cos_max": cos.max().item(), "cos_abs_mean": cos.abs().mean().item(),
            "cos_abs_over_0.9": (cos.abs() > 0.9).double().mean().item()}
    return out


@torch.no_grad()
def cross_weight_diagnostics(model: MCD, batch: dict) -> dict[str, float]:
    """The measurements of the module docstring for ``batch`` through ``model`` (restored to its mode after)."""
    softmax_rows, crosses = [], {"audio": [], "visual": []}

    def measure(block, inputs):
        f_a, f_v = inputs
        F_a, F_v = temporal_mean(f_a).unsqueeze(1), temporal_mean(f_v).unsqueeze(1)
        for name, branch, f, g in (("audio", block.audio, f_a, F_v), ("visual", block.visual, f_v, F_a)):
            if branch.cross_attn is None:
                continue
            crosses[name].append(branch.cross_feature(g, f))
            if branch.cross_weights == "outer":
                q, r = branch.cross_attention(g, f)
                softmax_rows.append(torch.softmax(q.transpose(1, 2) @ r, dim=-1))     # [B, D(i), D(j)]

    was_training = model.training
    handles = [block.register_forward_pre_hook(measure) for block in model.mcm.blocks]
    try:
        model.eval()(batch)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)

    out = {"row_entropy": math.nan, "row_entropy_min": math.nan, "max_weight_x_d": math.nan}
    if softmax_rows:
        w = torch.cat(softmax_rows)
        h = normalised_entropy(w.double())
        out |= {"row_entropy": h.mean().item(), "row_entropy_min": h.min().item(),
                "max_weight_x_d": (w.amax() * w.size(-1)).item()}
    every = crosses["audio"] + crosses["visual"]
    if not every:
        raise ValueError("the model has no cross-attention (a_query and v_query both off): nothing to measure")
    f_cross = torch.cat(every)                                                       # [n*B, T, D]
    out |= {"effective_rank": effective_rank(f_cross).mean().item(),
            "rank_bound": float(min(f_cross.shape[1:])),
            "top_share": top_share(f_cross).mean().item()}
    if crosses["audio"] and crosses["visual"]:
        out |= cosine_spread(*audio_visual_means(crosses["visual"], crosses["audio"]))
    return out


def same_video_pairs(video: torch.Tensor) -> int:
    """The number of unordered pairs i < k of a batch with video[i] == video[k]."""
    counts = torch.unique(video, return_counts=True)[1]
    return int((counts * (counts - 1) // 2).sum())
