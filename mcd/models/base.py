"""The contract every model in the package follows, so that one trainer and one evaluator serve them all.

A model is an ``nn.Module`` built as ``Model(config, dims)`` and called as ``model(batch)``.
``batch`` is a dict of tensors (all on the model's device):

- ``audio``        float [B, T, Ca]     per-second audio features (VGGish: Ca = 128)
- ``visual``       float [B, T, Cv]     per-second frame features (Cv read from the files)
- ``patches``      float [B, T, P, Cp]  per-second patch features; present only when the data config asks for them
- ``question``     long  [B, L]         question token ids, 0 = <pad>, L = 14
- ``keyword_mask`` bool  [B, L]         True at tokens filled in from ``templ_values`` (the question's keywords)
- ``qtype``        long  [B]            question type index 0..8 (the order of ``QUESTION_TYPES``)
- ``options``      long  [B, K, Lo]     answer options' tokens; present only for multiple-choice data (AVQA)
- ``label``        long  [B]            the answer index (or the correct option); the trainer's, never read by models
- ``video``        long  [B]            each sample's video (its row in the split's feature tensors): samples with the
                                        same value are questions about the same video, with identical audio-visual
                                        features. MCD reads it to keep them out of each other's InfoNCE negatives
                                        (``MCDConfig.mask_same_video``); the other models ignore it

It returns a ``ModelOutput``: answer logits and the auxiliary losses, already weighted, that the trainer adds to
the answer cross-entropy.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass(frozen=True)
class InputDims:
    """Shapes a model needs to know at construction, read from the data, never hard-coded."""

    audio_dim: int = 128
    visual_dim: int = 512
    patch_dim: int | None = None
    num_patches: int | None = None
    seconds: int = 60
    vocab_size: int = 100
    num_answers: int = 42
    num_qtypes: int = 9
    question_len: int = 14
    num_options: int | None = None  # multiple choice: K candidates scored instead of num_answers classes


@dataclass
class ModelOutput:
    logits: torch.Tensor                                         # [B, num_answers] (or [B, K] for multiple choice)
    losses: dict[str, torch.Tensor] = field(default_factory=dict)  # weighted auxiliary losses (scalars)
    extras: dict[str, torch.Tensor] = field(default_factory=dict)  # e.g. selected clue indices, for analysis
