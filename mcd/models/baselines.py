"""The floor: a question-only LSTM and the modality MLPs of the paper's Table II.

Table II concatenates the question, audio and visual embeddings of the basic encoders and classifies them with
an MLP. ``MLPConfig.modalities`` picks the inputs (any of "q", "a", "v"), so one class covers all six rows.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mcd.models.base import InputDims, ModelOutput
from mcd.models.layers import QuestionEncoder


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
        self.question = QuestionEncoder(dims.vocab_size, cfg.dim, cfg.bidirectional)
        self.head = nn.Sequential(nn.Tanh(), nn.Dropout(cfg.dropout), nn.Linear(cfg.dim, dims.num_answers))

    def forward(self, batch: dict) -> ModelOutput:
        q, _ = self.question(batch["question"])
        return ModelOutput(self.head(q))


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
        self.mlp = nn.Sequential(
            nn.Linear(cfg.dim * len(self.mods), cfg.hidden), nn.ReLU(), nn.Dropout(cfg.dropout),
            nn.Linear(cfg.hidden, dims.num_answers),
        )

    def forward(self, batch: dict) -> ModelOutput:
        parts = []
        if self.question is not None:
            parts.append(torch.tanh(self.question(batch["question"])[0]))
        if self.audio is not None:
            parts.append(torch.relu(self.audio(batch["audio"])).mean(1))
        if self.visual is not None:
            parts.append(torch.relu(self.visual(batch["visual"])).mean(1))
        return ModelOutput(self.mlp(torch.cat(parts, dim=-1)))
