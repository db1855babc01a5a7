"""Small layers shared by several models."""
from __future__ import annotations

import torch
from torch import nn


class QuestionEncoder(nn.Module):
    """Word embedding -> (Bi-)LSTM with hidden size D (paper Sec. IV-A: "embedded by LSTM").

    Returns the sentence vector read at each question's last real token (padding never enters it) and the
    per-token outputs [B, L, D]. A Bi-LSTM's two directions are concatenated and projected back to D.
    """

    def __init__(self, vocab_size: int, dim: int, bidirectional: bool = False):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.lstm = nn.LSTM(dim, dim, batch_first=True, bidirectional=bidirectional)
        self.merge = nn.Linear(2 * dim, dim) if bidirectional else nn.Identity()
        self.bidirectional = bidirectional

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out, _ = self.lstm(self.embed(tokens))                      # [B, L, D or 2D]
        last = (tokens != 0).sum(1).clamp(min=1) - 1                # index of the last real token
        fwd = out.gather(1, last.view(-1, 1, 1).expand(-1, 1, out.size(-1))).squeeze(1)
        if self.bidirectional:
            d = out.size(-1) // 2
            sentence = torch.cat([fwd[:, :d], out[:, 0, d:]], dim=-1)  # forward at the end, backward at the start
        else:
            sentence = fwd
        return self.merge(sentence), self.merge(out)


def temporal_mean(x: torch.Tensor) -> torch.Tensor:
    """Dimension Compression (DC): [B, T, D] -> [B, D], the paper's global temporal summary."""
    return x.mean(dim=1)
