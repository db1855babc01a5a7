"""PSTP-Net (Li, Hou and Hu, ACM MM 2023): progressive spatio-temporal perception.

Re-implemented from the paper's description (``/work/shared/notes/peer_models.md``); where the public code differs
(it computes most modules and then discards them) we follow the paper, and ``book/notes/peer_decisions.md`` lists
every difference and choice. The question comes from our LSTM encoder (``QuestionEncoder``): CLIP text weights are
not available here.

1. Temporal Segment Selection: the T seconds are cut into S = T // segment_seconds segments of L = T // S seconds
   (12 x 5 s at T = 60); each segment's mean audio and mean frame feature -> tanh -> FC gives a segment token; the
   question attends over the S tokens and the top-k segments (k = 2) by attention weight are kept (k*L seconds).
2. Spatial Region Selection: in each kept second the question attends over the P patches; the top-m (m = 20)
   patches by attention weight are kept.
3. Audio-guided Visual Attention: the audio of each kept second attends over that second's m kept patches.
4. Question-guided reasoning: the kept audio, the kept frames, the question-attended region and the audio-guided
   visual feature of every kept second, the question-attended segment summary and the question's word tokens go
   through a small transformer encoder; its (padding-masked) mean, multiplied element-wise with the question
   vector -> tanh -> FC gives the answer logits.

Selection is ``torch.topk`` + ``gather`` over whole batches; the kept indices are sorted in time / patch order and
returned in ``ModelOutput.extras`` (``segments`` [B, k], ``seconds`` [B, k*L], ``patches`` [B, k*L, m]), with
the attention weights they were chosen by (``segment_weights`` [B, S], ``patch_weights`` [B, k*L, P]).
The attended outputs of the selection attentions enter the reasoning tokens, so every layer gets a gradient.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mcd.models.base import InputDims, ModelOutput
from mcd.models.fast import Dropout, mha_self
from mcd.models.layers import QueryAttention, QuestionEncoder, check_patch_dims, require_patches


@dataclass
class PSTPConfig:
    dim: int = 512               # D, the width of every token (the paper: 512)
    heads: int = 4               # heads of the three selection / guidance attentions
    segment_seconds: int = 5     # temporal segment length: S = T // segment_seconds segments (12 at T = 60)
    top_k: int = 2               # segments kept (clamped to S)
    top_m: int = 20              # patches kept per kept second (the authors' reply; the public config says 25)
    reason_layers: int = 1       # transformer layers of the question-guided reasoning
    reason_heads: int = 1        # their heads (the public code: 1)
    dropout: float = 0.1


def segment_plan(seconds: int, segment_seconds: int, top_k: int) -> tuple[int, int, int]:
    """(segments S, seconds per segment L, kept k) for a clip of ``seconds``: S = max(1, T // segment_seconds),
    L = T // S (the last T - S*L < S seconds fall outside every segment), k = min(top_k, S)."""
    if segment_seconds < 1 or top_k < 1:
        raise ValueError(f"segment_seconds and top_k must be >= 1, got {segment_seconds} and {top_k}")
    s = max(1, seconds // segment_seconds)
    return s, seconds // s, min(top_k, s)


class ReasoningLayer(nn.Module):
    """Post-norm transformer encoder layer: self-attention and a D -> D -> D FFN, each residual + layer norm."""

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.drop = Dropout(dropout)
        self.norm1 = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), Dropout(dropout), nn.Linear(dim, dim),
                                 Dropout(dropout))
        self.norm2 = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x + self.drop(mha_self(self.attn, x, pad)))      # self.attn(x, x, x, pad), cheaper on CPU
        return self.norm2(x + self.ffn(x))


def _gather_rows(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """x [B, N, *rest], idx [B, K] -> [B, K, *rest]."""
    view = idx.view(*idx.shape, *([1] * (x.dim() - 2))).expand(*idx.shape, *x.shape[2:])
    return x.gather(1, view)


class PSTPNet(nn.Module):
    def __init__(self, cfg: PSTPConfig, dims: InputDims):
        super().__init__()
        check_patch_dims(dims, "PSTP-Net")
        d = cfg.dim
        for name, h in (("heads", cfg.heads), ("reason_heads", cfg.reason_heads)):
            if d % h:
                raise ValueError(f"PSTPConfig.dim ({d}) must be divisible by {name} ({h})")
        if cfg.top_m < 1 or cfg.reason_layers < 1:
            raise ValueError(f"PSTPConfig.top_m and reason_layers must be >= 1, got {cfg.top_m}, "
                             f"{cfg.reason_layers}")
        self.cfg, self.dims = cfg, dims
        self.segments, self.seg_len, self.k = segment_plan(dims.seconds, cfg.segment_seconds, cfg.top_k)
        self.m = min(cfg.top_m, dims.num_patches)

        self.question = QuestionEncoder(dims.vocab_size, d)
        self.fc_a = nn.Linear(dims.audio_dim, d)
        self.fc_v = nn.Linear(dims.visual_dim, d)
        self.fc_p = nn.Linear(dims.patch_dim, d)
        self.seg_fc = nn.Linear(2 * d, d)
        self.temporal = QueryAttention(d, cfg.heads, cfg.dropout)       # question over segments
        self.spatial = QueryAttention(d, cfg.heads, cfg.dropout)        # question over a second's patches
        self.av_attn = QueryAttention(d, cfg.heads, cfg.dropout)        # audio over the kept patches
        self.reason = nn.ModuleList(ReasoningLayer(d, cfg.reason_heads, cfg.dropout)
                                    for _ in range(cfg.reason_layers))
        self.answer = nn.Linear(d, dims.num_answers)

    def forward(self, batch: dict) -> ModelOutput:
        patches = require_patches(batch, self.dims, "PSTP-Net")                # [B, T, P, Cp] (raw)
        B, _, P, _ = patches.shape
        S, L, k, m = self.segments, self.seg_len, self.k, self.m
        tokens = batch["question"]
        q, words = self.question(tokens)                                       # [B, D], [B, Lq, D]
        a = self.fc_a(batch["audio"])                                          # [B, T, D]
        v = self.fc_v(batch["visual"])                                         # [B, T, D]

        # 1. Temporal Segment Selection
        a_seg = a[:, : S * L].unflatten(1, (S, L)).mean(2)                     # [B, S, D]
        v_seg = v[:, : S * L].unflatten(1, (S, L)).mean(2)
        seg_tok = self.seg_fc(torch.tanh(torch.cat([a_seg, v_seg], dim=-1)))
        seg_ctx, seg_w = self.temporal(q.unsqueeze(1), seg_tok)                # [B, 1, D], [B, 1, S]
        seg_idx = seg_w.squeeze(1).topk(k, dim=-1).indices.sort(dim=-1).values  # [B, k], in time order
        sec_idx = (seg_idx.unsqueeze(-1) * L + torch.arange(L, device=seg_idx.device)).flatten(1)  # [B, kL]
        a_k, v_k = _gather_rows(a, sec_idx), _gather_rows(v, sec_idx)          # [B, kL, D]
        # Projecting only the kept seconds' patches equals projecting all and then gathering (fc_p is per patch).
        p_k = self.fc_p(_gather_rows(patches, sec_idx))                        # [B, kL, P, D]

        # 2. Spatial Region Selection (every kept second of every sample in one batched attention)
        p_flat = p_k.flatten(0, 1)                                             # [n, P, D]
        q_rep = q.repeat_interleave(k * L, dim=0).unsqueeze(1)                 # [n, 1, D]
        region, patch_w = self.spatial(q_rep, p_flat)                          # [n, 1, D], [n, 1, P]
        patch_idx = patch_w.squeeze(1).topk(m, dim=-1).indices.sort(dim=-1).values  # [n, m]
        p_m = _gather_rows(p_flat, patch_idx)                                  # [n, m, D]

        # 3. Audio-guided Visual Attention
        guided, _ = self.av_attn(a_k.flatten(0, 1).unsqueeze(1), p_m)          # [n, 1, D]

        # 4. Question-guided reasoning
        d = q.size(-1)
        x = torch.cat([a_k, v_k, region.view(B, k * L, d), guided.view(B, k * L, d), seg_ctx, words], dim=1)
        pad = torch.cat([torch.zeros(B, x.size(1) - tokens.size(1), dtype=torch.bool, device=x.device),
                         tokens == 0], dim=1)                                  # True at question padding
        for layer in self.reason:
            x = layer(x, pad)
        keep = (~pad).unsqueeze(-1).to(x.dtype)
        pooled = (x * keep).sum(1) / keep.sum(1)
        logits = self.answer(torch.tanh(pooled * q))
        extras = {"segments": seg_idx, "seconds": sec_idx, "patches": patch_idx.view(B, k * L, m),
                  "segment_weights": seg_w.squeeze(1).detach(), "patch_weights": patch_w.view(B, k * L, P).detach()}
        return ModelOutput(logits, {}, extras)
