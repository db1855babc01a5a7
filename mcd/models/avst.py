"""AVST (Li et al., CVPR 2022): spatio-temporal grounding for audio-visual question answering.

Re-implemented from the paper's description (``/work/shared/notes/peer_models.md``), not copied from the public
code; where the two differ we follow the paper and ``book/notes/peer_decisions.md`` says what differs.

Per second t of the T sampled seconds:

- audio ``a_t``: FC(Ca -> D), ReLU, FC(D -> D);
- spatial grounding: the L2-normalised ``a_t`` attends (dot product, softmax) over the L2-normalised patch vectors
  of second t; the attended vector is concatenated with the frame vector (the patches' average) -> FC(2D -> D) ->
  ReLU gives the grounded visual feature ``v_t``;
- audio-visual matching (training only): [a_t; v_t] -> FC D*2-512-256-128-2 classifies matched pairs against a
  negative whose visual side comes from another video of the batch at the same second (the batch rolled by one);
  its cross-entropy, weighted by ``match_weight`` (0.5), is returned as ``losses["match"]``.

Then the question vector q (LSTM -> tanh -> FC) queries the T grounded visual features and, separately, the T audio
features (multi-head attention, 4 heads, each followed by a residual FFN and layer norm); the two answers are
concatenated -> tanh -> FC(2D -> D), multiplied element-wise with q -> tanh -> FC(D -> answers).

For the grounding chapter (``mcd.grounding``) the model also reports the time steps each temporal attention
weighs most (its weights averaged over heads): ``extras["clues_v"]`` and ``extras["clues_a"]`` [B, k/2], in time
order, as many as MCD keeps clues (Top-k/2 of k steps, ``CLUE_RATIO``). They change nothing it computes.

The public code also builds a ResNet-18 that its forward never runs; it is not built here.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from mcd.models.base import InputDims, ModelOutput
from mcd.models.layers import QueryAttention, QuestionEncoder, check_patch_dims, require_patches

# Share of the time steps reported as the most attended: MCD's Top-k/2 (``MCDConfig.topk_ratio``'s default), so
# that the two models' selections are the same size.
CLUE_RATIO = 0.5


@dataclass
class AVSTConfig:
    dim: int = 512                  # D: audio, grounded visual, question and fusion width (the paper: 512)
    heads: int = 4                  # heads of the two question-query temporal attentions
    dropout: float = 0.1            # in the temporal attentions and their FFNs (as the public code)
    match_weight: float = 0.5       # weight of the audio-visual matching cross-entropy; 0 drops the task and its head
    match_hidden: list[int] = field(default_factory=lambda: [512, 256, 128])  # matching MLP: 2D -> ... -> 2


class AVST(nn.Module):
    def __init__(self, cfg: AVSTConfig, dims: InputDims):
        super().__init__()
        check_patch_dims(dims, "AVST")
        d = cfg.dim
        if d % cfg.heads:
            raise ValueError(f"AVSTConfig.dim ({d}) must be divisible by heads ({cfg.heads})")
        if cfg.match_weight < 0:
            raise ValueError(f"AVSTConfig.match_weight must be >= 0, got {cfg.match_weight}")
        self.cfg, self.dims = cfg, dims
        self.question = QuestionEncoder(dims.vocab_size, d)
        self.q_fc = nn.Linear(d, d)
        self.audio = nn.Sequential(nn.Linear(dims.audio_dim, d), nn.ReLU(), nn.Linear(d, d))
        # The audio-patch dot product needs patches of width D: the paper's are (512 = 512); other widths are
        # projected first (a layer the paper does not have, built only when it is needed).
        self.patch_proj = nn.Linear(dims.patch_dim, d) if dims.patch_dim != d else nn.Identity()
        self.ground_fc = nn.Linear(2 * d, d)
        if cfg.match_weight > 0:
            widths = [2 * d, *cfg.match_hidden]
            layers: list[nn.Module] = []
            for a, b in zip(widths[:-1], widths[1:]):
                layers += [nn.Linear(a, b), nn.ReLU()]
            self.match_head = nn.Sequential(*layers, nn.Linear(widths[-1], 2))
        else:
            self.match_head = None
        self.temporal_v = QueryAttention(d, cfg.heads, cfg.dropout)
        self.temporal_a = QueryAttention(d, cfg.heads, cfg.dropout)
        self.fusion = nn.Linear(2 * d, d)
        self.answer = nn.Linear(d, dims.num_answers)

    def ground(self, patches_n: torch.Tensor, frame: torch.Tensor, audio_n: torch.Tensor) -> torch.Tensor:
        """Spatial grounding. patches_n [B, T, P, D] (L2-normalised), frame [B, T, D] (patch average),
        audio_n [B, T, Q, D] (Q L2-normalised audio queries per second) -> grounded visual [B, T, Q, D]."""
        att = torch.einsum("btpd,btqd->btqp", patches_n, audio_n).softmax(dim=-1)
        attended = torch.einsum("btqp,btpd->btqd", att, patches_n)
        frame = frame.unsqueeze(2).expand_as(attended)
        return F.relu(self.ground_fc(torch.cat([frame, attended], dim=-1)))

    def forward(self, batch: dict) -> ModelOutput:
        patches = self.patch_proj(require_patches(batch, self.dims, "AVST"))   # [B, T, P, D]
        q = self.q_fc(torch.tanh(self.question(batch["question"])[0]))         # [B, D]
        a = self.audio(batch["audio"])                                         # [B, T, D]
        frame = patches.mean(dim=2)                                            # [B, T, D]
        patches_n = F.normalize(patches, dim=-1)
        a_n = F.normalize(a, dim=-1)
        match = self.training and self.match_head is not None
        # In training a second query per second grounds the audio of sample i in the patches of sample i-1: the
        # audio is rolled by -1 against the unrolled patches and the result rolled back by +1 (no patch copy).
        queries = torch.stack([a_n, a_n.roll(-1, dims=0)], dim=2) if match else a_n.unsqueeze(2)
        grounded = self.ground(patches_n, frame, queries)                      # [B, T, Q, D]
        v = grounded[:, :, 0]                                                  # [B, T, D]

        losses = {}
        if match:
            v_neg = grounded[:, :, 1].roll(1, dims=0)                          # audio i, frames of sample i-1
            losses["match"] = self.cfg.match_weight * self.match_loss(a, v, v_neg, frame)

        v_t, w_v = self.temporal_v(q.unsqueeze(1), v)                          # [B, 1, D], [B, 1, T]
        a_t, w_a = self.temporal_a(q.unsqueeze(1), a)
        fused = self.fusion(torch.tanh(torch.cat([a_t.squeeze(1), v_t.squeeze(1)], dim=-1)))
        logits = self.answer(torch.tanh(fused * q))
        return ModelOutput(logits, losses, {"clues_v": most_attended(w_v), "clues_a": most_attended(w_a)})

    def match_loss(self, a, v_pos, v_neg, frame) -> torch.Tensor:
        """Cross-entropy of matched (label 1) against mismatched (label 0) audio-visual pairs, every second.

        A sample whose neighbour in the batch shows the same video (several questions share a video; a batch of
        one) has no true negative; its pairs are left out. With none left the loss is an exact 0 that keeps the
        graph (so that the trainer's sum and backward still work)."""
        B, T, _ = a.shape
        same = (frame == frame.roll(1, dims=0)).flatten(1).all(dim=1)          # [B]
        pairs = torch.cat([torch.cat([a, v_pos], -1), torch.cat([a, v_neg], -1)], dim=0)  # [2B, T, 2D]
        logits = self.match_head(pairs).flatten(0, 1)                          # [2B*T, 2]
        labels = (torch.arange(2 * B * T, device=a.device) < B * T).long()       # 1 = matched, 0 = negative
        keep = (~same).repeat(2).repeat_interleave(T).to(logits.dtype)         # [2B*T]
        ce = F.cross_entropy(logits, labels, reduction="none")
        return (ce * keep).sum() / keep.sum().clamp(min=1.0)


def most_attended(weights: torch.Tensor) -> torch.Tensor:
    """[B, 1, T] attention weights (averaged over heads) -> the max(1, int(T * CLUE_RATIO)) most weighted steps,
    in time order, [B, k/2] (the size rule of MCD's ``Aggregator.num_clues``)."""
    w = weights.detach().squeeze(1)
    k = max(1, int(w.size(1) * CLUE_RATIO))
    return w.topk(k, dim=1).indices.sort(dim=1).values
