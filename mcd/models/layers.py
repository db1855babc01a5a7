"""Small layers shared by several models."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from mcd.models.base import InputDims
from mcd.models.fast import Dropout, mha_query


class QuestionEncoder(nn.Module):
    """Word embedding -> (Bi-)LSTM with hidden size D (paper Sec. IV-A: "embedded by LSTM").

    No output depends on padding: padding is the token 0 after a question's last real token, the forward state
    that summarises a question is the one at its last real token, and the Bi-LSTM's backward direction starts
    there. Returns the sentence vector (the final hidden state of each direction, concatenated) and the per-token
    outputs [B, L, D], exactly 0 at padding. A Bi-LSTM's two directions are projected back to D. So the same
    question padded to any length gives the same embeddings. An all-padding question is read as one pad token
    (whose embedding is 0).

    How: a one-directional LSTM runs over the padded batch and its sentence vector is its output at the last real
    token; the outputs after it, which read padding, are dropped (zeroed). That is the packed LSTM's function
    (``tests/test_speed_equivalence.py`` checks outputs and gradients against ``pack_padded_sequence``), for less
    on CPU, where a packed sequence cannot use the fused (oneDNN) kernel and runs step by step. The
    Bi-LSTM must not read padding before its backward pass starts, so it stays packed.
    """

    def __init__(self, vocab_size: int, dim: int, bidirectional: bool = False):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.lstm = nn.LSTM(dim, dim, batch_first=True, bidirectional=bidirectional)
        self.merge = nn.Linear(2 * dim, dim) if bidirectional else nn.Identity()
        self.bidirectional = bidirectional

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        real = tokens != 0
        lengths = real.sum(1).clamp(min=1)
        words = self.embed(tokens)
        if self.bidirectional:
            packed = pack_padded_sequence(words, lengths.cpu(), batch_first=True, enforce_sorted=False)
            out, (h_n, _) = self.lstm(packed)
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=tokens.size(1))   # [B, L, 2D]
            sentence = torch.cat(list(h_n), dim=-1)         # forward state at the end + backward at the start
        else:
            out, _ = self.lstm(words)                                                         # [B, L, D]
            sentence = out[torch.arange(out.size(0), device=out.device), lengths - 1]         # at the last token
        per_token = self.merge(out) * real.unsqueeze(-1).to(out.dtype)
        return self.merge(sentence), per_token


def temporal_mean(x: torch.Tensor) -> torch.Tensor:
    """Dimension Compression (DC): [B, T, D] -> [B, D], the paper's global temporal summary."""
    return x.mean(dim=1)


def require_patches(batch: dict, dims: InputDims, model: str) -> torch.Tensor:
    """``batch["patches"]`` checked against ``dims``; a clear ValueError when it is missing or misshapen."""
    if "patches" not in batch:
        raise ValueError(f"{model} needs patch features: batch['patches'] [B, T, P, C] is missing; set "
                         f"data.patch_feats to a feats/ folder of [T, P, C] arrays")
    p = batch["patches"]
    want = (dims.seconds, dims.num_patches, dims.patch_dim)
    if p.dim() != 4 or tuple(p.shape[1:]) != want:
        raise ValueError(f"{model}: batch['patches'] has shape {tuple(p.shape)}, expected [B, T, P, C] = "
                         f"[B, {want[0]}, {want[1]}, {want[2]}] from the model's InputDims")
    return p


def check_patch_dims(dims: InputDims, model: str) -> None:
    if dims.patch_dim is None or dims.num_patches is None:
        raise ValueError(f"{model} needs patch features (InputDims.patch_dim and num_patches are None); set "
                         f"data.patch_feats to a feats/ folder of [T, P, C] arrays")


class QueryAttention(nn.Module):
    """Multi-head attention of a few queries over keys/values, then a residual FFN with layer norm:
    ``x = MHA(q, kv); x = LN(x + FFN(x))`` (AVST's temporal grounding, PSTP-Net's selection modules).

    Returns the output [N, Lq, D] and the attention weights averaged over heads [N, Lq, Lk]. In training the
    attention is ``mcd.models.fast.mha_query`` (the same function, keys and values never projected).
    """

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.ffn = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), Dropout(dropout), nn.Linear(dim, dim),
                                 Dropout(dropout))
        self.norm = nn.LayerNorm(dim)

    def forward(self, query: torch.Tensor, kv: torch.Tensor, key_padding_mask: torch.Tensor | None = None):
        x, w = mha_query(self.attn, query, kv, key_padding_mask)
        return self.norm(x + self.ffn(x)), w
