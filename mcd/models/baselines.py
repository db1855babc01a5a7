"""The floor: a question-only LSTM and the modality MLPs of the paper's Table II.

Table II concatenates the question, audio and visual embeddings of the basic encoders and classifies them with
an MLP. ``MLPConfig.modalities`` picks the inputs (any of "q", "a", "v"), so one class covers all six rows.

Multiple choice (``dims.num_options`` set, AVQA): the last layer maps to D instead of the answer classes, and each
option scores by the dot product of that vector with the option's mean word embedding (scaled by 1/sqrt(D)), so
the logits are [B, K], as MCD's.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from mcd.models.base import InputDims, ModelOutput
from mcd.models.fast import Dropout
from mcd.models.layers import QuestionEncoder


def option_embeddings(embed: nn.Embedding, options: torch.Tensor) -> torch.Tensor:
    """[B, K, Lo] option tokens -> [B, K, D]: the mean embedding of each option's real (non-pad) tokens."""
    real = (options != 0).unsqueeze(-1).to(embed.weight.dtype)
    return (embed(options) * real).sum(2) / real.sum(2).clamp(min=1.0)


def score_options(z: torch.Tensor, embed: nn.Embedding, options: torch.Tensor) -> torch.Tensor:
    """[B, D] fused vector, [B, K, Lo] options -> [B, K] logits."""
    return (z.unsqueeze(1) * option_embeddings(embed, options)).sum(-1) / math.sqrt(z.size(-1))


@dataclass
class QOnlyConfig:
    dim: int = 512
    bidirectional: bool = False
    dropout: float = 0.1


@dataclass
class MLPConfig:
    modalities: str = "qav"   # any of q, a, v (Table II rows: q, a, v, qa, qv, qav)
    dim: int = 512
    hidden: int = 512
    dropout: float = 0.1


class QOnlyLSTM(nn.Module):
    """Answers from the question alone: LSTM sentence vector -> tanh -> FC (Table II, row Q)."""

    def __init__(self, cfg: QOnlyConfig, dims: InputDims):
        super().__init__()
        self.multiple_choice = dims.num_options is not None
        self.question = QuestionEncoder(dims.vocab_size, cfg.dim, cfg.bidirectional)
        n_out = cfg.dim if self.multiple_choice else dims.num_answers
        self.head = nn.Sequential(nn.Tanh(), Dropout(cfg.dropout), nn.Linear(cfg.dim, n_out))

    def forward(self, batch: dict) -> ModelOutput:
        q, _ = self.question(batch["question"])
        z = self.head(q)
        if self.multiple_choice:                      # the options share the question's word embedding
            return ModelOutput(score_options(z, self.question.embed, batch["options"]))
        return ModelOutput(z)


class ModalityMLP(nn.Module):
    """Concatenate the chosen modality embeddings and classify with an MLP (Table II).

    Audio and visual are projected to D per second and mean-pooled over time (the basic encoders of Sec. III-A).
    """

    def __init__(self, cfg: MLPConfig, dims: InputDims):
        super().__init__()
        mods = cfg.modalities.lower()
        if not mods or set(mods) - set("qav"):
            raise ValueError(f"MLPConfig.modalities must be a non-empty subset of 'qav', got {cfg.modalities!r}")
        self.mods = [m for m in "qav" if m in mods]
        self.question = QuestionEncoder(dims.vocab_size, cfg.dim) if "q" in self.mods else None
        self.audio = nn.Linear(dims.audio_dim, cfg.dim) if "a" in self.mods else None
        self.visual = nn.Linear(dims.visual_dim, cfg.dim) if "v" in self.mods else None
        self.multiple_choice = dims.num_options is not None
        # Options are embedded with the question's word embedding, or their own when the question is not an input.
        self.option_embed = (nn.Embedding(dims.vocab_size, cfg.dim, padding_idx=0)
                             if self.multiple_choice and self.question is None else None)
        self.mlp = nn.Sequential(
            nn.Linear(cfg.dim * len(self.mods), cfg.hidden), nn.ReLU(), Dropout(cfg.dropout),
            nn.Linear(cfg.hidden, cfg.dim if self.multiple_choice else dims.num_answers),
        )

    def forward(self, batch: dict) -> ModelOutput:
        parts = []
        if self.question is not None:
            parts.append(torch.tanh(self.question(batch["question"])[0]))
        if self.audio is not None:
            parts.append(torch.relu(self.audio(batch["audio"])).mean(1))
        if self.visual is not None:
            parts.append(torch.relu(self.visual(batch["visual"])).mean(1))
        z = self.mlp(torch.cat(parts, dim=-1))
        if self.multiple_choice:
            embed = self.question.embed if self.question is not None else self.option_embed
            return ModelOutput(score_options(z, embed, batch["options"]))
        return ModelOutput(z)
