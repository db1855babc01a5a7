"""InfoNCE, the loss of MCD's Eq. 11 and Eq. 13, over a batch that may hold several questions about one video and
may be split over several processes.

    loss = info_nce(anchor, positive, tau, video=batch["video"], gather=model.training)
"""
from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F


def process_group() -> tuple[int, int]:
    """(rank, world size) of torch.distributed's default group; (0, 1) outside torch.distributed."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _all_ranks(x: torch.Tensor) -> torch.Tensor:
    """Every rank's x concatenated along the batch, in rank order. Float tensors keep their gradient: the backward
    of torch.distributed.nn's all_gather sums every rank's gradient into the rank that owns the rows."""
    import torch.distributed.nn.functional as dist_nn    # only under torch.distributed (not in every build)
    if x.is_floating_point():
        return torch.cat(dist_nn.all_gather(x), dim=0)
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x)
    return torch.cat(parts, dim=0)


def info_nce(anchor: torch.Tensor, positive: torch.Tensor, tau: float, normalize: bool = True,
             symmetric: bool = False, video: torch.Tensor | None = None, gather: bool = False) -> torch.Tensor:
    """InfoNCE, -log p(i | i), averaged over the anchors: the positive of anchor i is positive[i], its negatives are
    the other samples' positives.

    ``video`` [B] (each sample's video): the other samples of anchor i's video (other questions about it, whose
    audio-visual features are identical to i's) are no negatives; they leave the denominator (``mask_same_video``).
    ``gather``, under torch.distributed: the positives (and, for ``symmetric``, the anchors) and videos of every rank
    are gathered, with gradient, so the negatives come from the global batch. Each rank averages over its own
    anchors and DDP averages the ranks' gradients, so the loss and the gradients are those of one process holding
    the global batch. Every rank must hold the same number of samples (the trainer's batches do).
    """
    if normalize:
        anchor, positive = F.normalize(anchor, dim=-1), F.normalize(positive, dim=-1)
    rank, world = process_group() if gather else (0, 1)
    everyone = _all_ranks if world > 1 else (lambda x: x)
    b = anchor.size(0)
    target = torch.arange(b, device=anchor.device) + rank * b          # where each anchor's positive sits
    same = None
    if video is not None:
        same = video[:, None] == everyone(video)[None, :]               # [b, B_global]
        same[torch.arange(b, device=anchor.device), target] = False     # the positive stays

    def nce(a: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        logits = a @ candidates.t() / tau
        if same is not None:
            logits = logits.masked_fill(same, float("-inf"))
        return F.cross_entropy(logits, target)

    loss = nce(anchor, everyone(positive))
    if symmetric:
        loss = 0.5 * (loss + nce(positive, everyone(anchor)))
    return loss
