"""Cheaper forms of a few standard operations for the training step on CPU, each the function it stands in for.

Why this file: at the study's shapes (D = 128, T = 20, batch 64, one thread per run) a training step spends as much
time around its matmuls as in them. Drawing dropout masks (``bernoulli_``, one Mersenne-Twister draw per element),
the masked-softmax and layout copies of PyTorch's general attention code, and the key/value projections that
``nn.MultiheadAttention`` computes for a single query cost more than the model's arithmetic. The models call these
functions instead; each keeps the function of the standard operation, and ``tests/test_speed_equivalence.py``
checks every one against the straightforward code (outputs and gradients, with the tolerance each test states).
Off CPU they call the standard operation, except ``mha_query``, which is the same reassociation on every device
(as ``mcd.models.mcd.MultiHeadAttention`` does for its global queries), in training only.

- ``dropout`` / ``Dropout``: inverted dropout with the mask drawn from 16 random bits per element (a quarter of a
  64-bit draw) instead of ``bernoulli_``. Elements are kept independently with probability q, the keep rate 1 - p
  rounded to a multiple of 2^-16 (so within 2^-17 of it), and scaled by 1 / q, so the expectation is exact. A different draw from the same distribution up to that rounding: a run's numbers are
  not those of ``torch.nn.functional.dropout``, but the same seed gives the same numbers.
- ``attention``: softmax(q k^T / sqrt(d)) v with dropout on the weights (``scaled_dot_product_attention`` without a
  mask), on CPU as plain batched matmuls and softmax.
- ``mha_query``: ``nn.MultiheadAttention`` with a few queries over many keys (the query attentions of AVST and
  PSTP-Net), in training: the products are reassociated so that the keys and values are never projected.
- ``mha_self``: ``nn.MultiheadAttention`` self-attention without weights (PSTP-Net's reasoning layer), in training
  on CPU: one projection, no layout copies, no batch-first transposes.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

MASK_BITS = 16
_LEVELS = 1 << MASK_BITS


def keep_levels(p: float) -> int:
    """How many of the 2^16 equally likely 16-bit values keep an element: round((1 - p) 2^16)."""
    return round((1.0 - p) * _LEVELS)


def keep_mask(shape, p: float, *, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A CPU dropout mask of ``shape``: each element independently 1 / q with probability q = keep_levels(p) / 2^16,
    else 0 (so its mean is exactly 1). Each element reads its own 16 bits of 64-bit draws from torch's default
    generator, which is all the randomness it uses: seeded by ``torch.manual_seed`` and saved with
    ``torch.get_rng_state`` like the rest."""
    keep = keep_levels(p)
    n = math.prod(shape)
    words = torch.empty(-(-n // 4), dtype=torch.int64).random_(-2 ** 63, None)   # every bit uniform
    bits = words.view(torch.int16)[:n].view(shape)                                # uniform on [-2^15, 2^15)
    return (bits < keep - _LEVELS // 2).to(dtype).mul_(_LEVELS / keep)


def dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """``F.dropout(x, p, training)``, with the mask of ``keep_mask`` on CPU."""
    if not training or p == 0.0:
        return x
    if x.device.type != "cpu" or not 0 < keep_levels(p) < _LEVELS:
        return F.dropout(x, p, True)
    return x * keep_mask(x.shape, p, dtype=x.dtype)


class Dropout(nn.Dropout):
    """``nn.Dropout`` (the same ``p``, no state) drawing its mask with ``keep_mask`` on CPU."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training)


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, dropout_p: float = 0.0,
              training: bool = False) -> torch.Tensor:
    """``F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p if training else 0)`` over [..., L, d] heads,
    no mask. On CPU: bmm, softmax, ``dropout``, bmm. (In training SDPA takes its general math backend, which adds a
    masked-row check to its softmax and copies its inputs; in eval its fused kernel is slower at short sequences.)"""
    if q.device.type != "cpu":
        return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p if training else 0.0)
    weights = torch.softmax((q @ k.transpose(-1, -2)) * q.size(-1) ** -0.5, dim=-1)
    return dropout(weights, dropout_p, training) @ v


def _supported(mha: nn.MultiheadAttention) -> bool:
    return (mha.batch_first and mha._qkv_same_embed_dim and mha.bias_k is None and not mha.add_zero_attn)


def mha_query(mha: nn.MultiheadAttention, query: torch.Tensor, kv: torch.Tensor,
              key_padding_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``mha(query, kv, kv, key_padding_mask=key_padding_mask)`` (need_weights, weights averaged over heads) for a
    batch-first ``mha`` in training mode: the output [N, Lq, E] and the weights [N, Lq, Lk] (after dropout, as
    ``nn.MultiheadAttention`` returns them in training). Eval mode: ``mha`` itself.

    The keys and values are never projected. Per head, with q the scaled projected query and x_j the inputs:
    q . (W_k x_j + b_k) = (W_k^T q) . x_j + q . b_k, whose last term is the same for every key and so leaves the
    softmax unchanged; and sum_j a_j (W_v x_j + b_v) = W_v (sum_j a_j x_j) + b_v sum_j a_j (a after dropout). Per
    query that is about 2 E^2 + 2 h Lk E multiply-adds instead of 2 Lk E^2 (PSTP-Net's patch attentions: Lk = the
    patches of a second). The same function to float rounding."""
    if not (mha.training and _supported(mha)):
        return mha(query, kv, kv, key_padding_mask=key_padding_mask, need_weights=True)
    E, h = mha.embed_dim, mha.num_heads
    d = E // h
    n, lq, lk = query.size(0), query.size(1), kv.size(1)
    w_q, w_k, w_v = mha.in_proj_weight.chunk(3)
    b_q, _, b_v = mha.in_proj_bias.chunk(3) if mha.in_proj_bias is not None else (None, None, None)
    q = F.linear(query, w_q, b_q) * d ** -0.5                                   # [N, Lq, E], as MHA scales it
    heads_first = q.reshape(n * lq, h, d).transpose(0, 1)                        # [h, N Lq, d]
    u = (heads_first @ w_k.view(h, d, E)).transpose(0, 1).reshape(n, lq * h, E)  # W_k^T q per head
    scores = (u @ kv.transpose(1, 2)).view(n, lq, h, lk)
    if key_padding_mask is not None:
        scores = scores.masked_fill(key_padding_mask[:, None, None, :], float("-inf"))
    weights = dropout(torch.softmax(scores, dim=-1), mha.dropout, True)          # [N, Lq, h, Lk]
    pooled = (weights.view(n, lq * h, lk) @ kv).view(n * lq, h, E).transpose(0, 1)   # sum_j a_j x_j  [h, N Lq, E]
    out = (pooled @ w_v.view(h, d, E).transpose(1, 2)).transpose(0, 1).reshape(n, lq, h, d)
    if b_v is not None:
        out = out + weights.sum(-1, keepdim=True) * b_v.view(h, d)
    return mha.out_proj(out.flatten(-2)), weights.mean(2)


def mha_self(mha: nn.MultiheadAttention, x: torch.Tensor,
             key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
    """``mha(x, x, x, key_padding_mask=key_padding_mask, need_weights=False)[0]`` for a batch-first ``mha``; in
    training on CPU one projection [N, L, 3E], heads as strided views, bmm, softmax, ``dropout``, bmm. Every query
    must have a key that is not padding (a fully masked row gives NaN here, 0 in ``mha``)."""
    if not (mha.training and x.device.type == "cpu" and _supported(mha)):
        return mha(x, x, x, key_padding_mask=key_padding_mask, need_weights=False)[0]
    E, h = mha.embed_dim, mha.num_heads
    d = E // h
    n, length = x.size(0), x.size(1)
    qkv = F.linear(x, mha.in_proj_weight, mha.in_proj_bias)                     # [N, L, 3E]
    if h == 1:
        q, k, v = qkv.split(E, dim=-1)                                          # strided views, no copy
    else:
        q, k, v = qkv.view(n, length, 3, h, d).permute(2, 0, 3, 1, 4).flatten(1, 2)   # [N h, L, d] each
    scores = (q @ k.transpose(-1, -2)) * d ** -0.5                              # [N h, L, L]
    if key_padding_mask is not None:
        scores = scores.view(n, h, length, length).masked_fill(key_padding_mask[:, None, None, :], float("-inf"))
        scores = scores.view(n * h, length, length)
    out = dropout(torch.softmax(scores, dim=-1), mha.dropout, True) @ v         # [N h, L, d]
    if h > 1:
        out = out.view(n, h, length, d).transpose(1, 2).flatten(-2)
    return mha.out_proj(out)
