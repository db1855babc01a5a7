"""Several processes train the model one process trains: MCD's loss and every gradient of one training step agree
between 1 process at batch B and 2 processes (gloo, CPU) at B/2 each, split as the trainer splits its global batch.

What makes them agree: DDP averages the gradients; MCD's InfoNCE (Eq. 11, 13) gathers its negatives, and the
videos it masks, from every rank with gradient; BatchNorm takes its statistics over the global batch. On CUDA the
trainer gets the last from torch's SyncBatchNorm (``train.sync_bn``), which has no CPU kernels, so here every
BatchNorm is replaced by ``GlobalBatchNorm1d``, the same statistics from a differentiable all_reduce. Dropout is 0
(two processes draw other masks than one). Same-video pairs sit on different ranks, so the mask is tested across
ranks. The control: with per-rank negatives (the gather switched off) the two losses differ.

Tolerance: the two computations take their float32 sums in another order (another batch split, the gathered rows
in another order, the variance as E[x^2] - E[x]^2). Measured on these configs: the losses agree to a few 1e-7
relative, and the largest gradient difference is about a tenth of what the test allows, 1e-5 + 1e-4 |g|. With
per-rank negatives the gradients miss it by about 1e4 times.
"""
from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch import nn

import mcd.models.contrastive as contrastive
from mcd.data.datasets import batches
from mcd.models.base import InputDims
from mcd.models.mcd import MCD, MCDConfig
from mcd.train import per_rank_batch

B, T, L, D = 8, 6, 14, 32
DIMS = InputDims(audio_dim=16, visual_dim=24, seconds=T, vocab_size=30, num_answers=7, question_len=L)
CONFIGS = {
    "default": MCDConfig(dim=D, heads=4, dropout=0.0, attn_dropout=0.0),
    "symmetric, Theta on f^_q, outer": MCDConfig(dim=D, heads=4, dropout=0.0, attn_dropout=0.0, symmetric_nce=True,
                                                 project_question=True, cross_weights="outer"),
}


class GlobalBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm1d with training statistics over every rank's batch (nn.SyncBatchNorm's, for CPU tensors)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or not dist.is_initialized():
            return super().forward(x)
        import torch.distributed.nn.functional as dist_nn
        stats = dist_nn.all_reduce(torch.cat([x.sum(0), x.square().sum(0), x.new_tensor([x.size(0)])]))
        n, c = stats[-1], x.size(1)
        mean = stats[:c] / n
        var = stats[c:2 * c] / n - mean.square()
        with torch.no_grad():
            self.running_mean.lerp_(mean, self.momentum)
            self.running_var.lerp_(var * n / (n - 1), self.momentum)
        return (x - mean) / torch.sqrt(var + self.eps) * self.weight + self.bias


def make_batch() -> dict:
    """B questions about B/2 videos; the two questions of a video (rows 2v and 2v + 1: on different ranks, as the
    trainer strides a batch over 2 ranks) see identical features."""
    g = torch.Generator().manual_seed(0)
    video = torch.arange(B) // 2
    question = torch.randint(1, DIMS.vocab_size, (B, L), generator=g)
    question[:, 10:] = 0
    return {"audio": torch.randn(B // 2, T, DIMS.audio_dim, generator=g)[video],
            "visual": torch.randn(B // 2, T, DIMS.visual_dim, generator=g)[video],
            "question": question, "keyword_mask": question == 3, "qtype": torch.arange(B) % DIMS.num_qtypes,
            "label": torch.randint(0, DIMS.num_answers, (B,), generator=g), "video": video}


def one_step(rank: int, world: int) -> dict:
    """Loss parts (averaged over ranks) and gradients (averaged by DDP) of one training step, per config."""
    out = {}
    for name, cfg in CONFIGS.items():
        torch.manual_seed(0)
        model = MCD(cfg, DIMS).train()
        for module in list(model.modules()):
            for child_name, child in module.named_children():
                if type(child) is nn.BatchNorm1d:
                    swapped = GlobalBatchNorm1d(child.num_features)
                    swapped.load_state_dict(child.state_dict())
                    setattr(module, child_name, swapped)
        net = nn.parallel.DistributedDataParallel(model) if world > 1 else model
        idx = next(batches(B, per_rank_batch(B, world), shuffle=False, rank=rank, world=world))
        batch = {k: v[idx] for k, v in make_batch().items()}
        assert world == 1 or len(set(batch["video"].tolist())) == len(idx)   # every pair spans the two ranks
        output = net(batch)
        parts = {"answer": F.cross_entropy(output.logits, batch["label"]), **output.losses}
        sum(parts.values()).backward()
        values = torch.stack([v.detach() for v in parts.values()])
        if world > 1:
            dist.all_reduce(values)
            values /= world
        out[name] = {"parts": dict(zip(parts, values.tolist())),
                     "grads": {n: p.grad.clone() for n, p in model.named_parameters()}}
    return out


def _worker(rank: int, world: int, init_file: str, result_file: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        gathered = one_step(rank, world)
        group = contrastive.process_group
        contrastive.process_group = lambda: (0, 1)     # the control: each rank's InfoNCE sees its own samples only
        per_rank = one_step(rank, world)
        contrastive.process_group = group
        if rank == 0:
            torch.save((gathered, per_rank), result_file)
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """(1 process, 2 processes, 2 processes with per-rank negatives)."""
    tmp = tmp_path_factory.mktemp("ddp")
    mp.spawn(_worker, args=(2, str(tmp / "init"), str(tmp / "two.pt")), nprocs=2, join=True)
    return one_step(0, 1), *torch.load(tmp / "two.pt")


@pytest.mark.parametrize("name", CONFIGS)
def test_two_processes_take_the_step_of_one(runs, name):
    one, two, _ = runs
    assert set(one[name]["parts"]) == {"answer", "distill_v", "distill_a", "contrast_av"}
    for part, value in one[name]["parts"].items():
        assert two[name]["parts"][part] == pytest.approx(value, rel=1e-5), part
    for n, g in one[name]["grads"].items():
        torch.testing.assert_close(two[name]["grads"][n], g, rtol=1e-4, atol=1e-5, msg=n)


@pytest.mark.parametrize("name", CONFIGS)
def test_per_rank_negatives_would_differ(runs, name):
    one, _, per_rank = runs
    for part in ("distill_v", "distill_a", "contrast_av"):
        assert per_rank[name]["parts"][part] != pytest.approx(one[name]["parts"][part], rel=1e-2), part
    assert per_rank[name]["parts"]["answer"] == pytest.approx(one[name]["parts"]["answer"], rel=1e-4)


def test_the_global_batch_is_split_evenly():
    assert per_rank_batch(64, 2) == 32 and per_rank_batch(64, 1) == 64
    from mcd.errors import TrainingError
    with pytest.raises(TrainingError, match="multiple of the number of processes"):
        per_rank_batch(64, 3)
    # the ranks' batches of a step are, together, the one process's batch of that step
    one = list(batches(100, 10, shuffle=True, seed=4))
    split = [list(batches(100, 5, shuffle=True, seed=4, rank=r, world=2)) for r in range(2)]
    for s, idx in enumerate(one):
        assert sorted(torch.cat([split[0][s], split[1][s]]).tolist()) == sorted(idx.tolist())

