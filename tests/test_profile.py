"""mcd.profile: our thop-convention counter against thop itself, the flop counter, parameter counts, bench."""
from __future__ import annotations

import copy
import math
import warnings

import pytest
import torch
from torch import nn

from mcd.models.base import InputDims, ModelOutput
from mcd.models.baselines import MLPConfig, ModalityMLP, QOnlyConfig, QOnlyLSTM
from mcd.profile import (bench, make_dummy_batch, param_counts, profile_table, thop_style_count,
                         torch_flops)

DIMS = InputDims(audio_dim=16, visual_dim=64, patch_dim=12, num_patches=5, seconds=6, vocab_size=30,
                 num_answers=7, question_len=14)


def thop_profile(model, batch):
    """thop.profile on a copy (it leaves total_ops/total_params buffers behind); the batch dict is the one
    positional input, so thop's ``model(*inputs)`` is ``model(batch)``."""
    thop = pytest.importorskip("thop")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        macs, params = thop.profile(copy.deepcopy(model), inputs=(batch,), verbose=False)
    return macs, params


class Reference(nn.Module):
    """Every kind of module the paper's models use, plus the corners of thop's convention."""

    def __init__(self, d: InputDims = DIMS, dim: int = 32):
        super().__init__()
        self.embed = nn.Embedding(d.vocab_size, dim, padding_idx=0)                    # not hooked: 0
        self.lstm = nn.LSTM(dim, dim, batch_first=True)
        self.bilstm = nn.LSTM(dim, dim // 2, num_layers=2, bidirectional=True)          # time-major
        self.gru = nn.GRU(d.audio_dim, dim, batch_first=True)
        self.audio = nn.Linear(d.audio_dim, dim)
        self.visual = nn.Sequential(nn.Linear(d.visual_dim, dim), nn.ReLU(), nn.Dropout(0.1))
        self.conv = nn.Conv1d(dim, dim, kernel_size=3, padding=1, groups=2)
        self.bn = nn.BatchNorm1d(dim)
        self.ln = nn.LayerNorm(dim)
        self.ln_plain = nn.LayerNorm(dim, elementwise_affine=False)
        self.attn = nn.MultiheadAttention(dim, 4, batch_first=True)                    # not hooked: 0
        self.pool = nn.AdaptiveAvgPool1d(4)                                              # 6 -> 4: fractional kernel
        self.softmax = nn.Softmax(dim=-1)
        self.query = nn.Parameter(torch.randn(1, 1, dim))                                # bare parameter: 0
        self.frozen = nn.Linear(dim, dim)
        self.frozen.requires_grad_(False)                                                # still counted by thop
        self.unused = nn.Linear(dim, 1000)                                               # never runs: 0
        self.blocks = nn.ModuleList([nn.Linear(dim, dim), nn.GELU()])
        self.head = nn.Linear(dim * 2 + 4, d.num_answers)

    def forward(self, batch: dict) -> ModelOutput:
        q = self.embed(batch["question"])
        q, _ = self.lstm(q)
        q2, _ = self.bilstm(q.transpose(0, 1))
        q = q + q2.transpose(0, 1)
        g, _ = self.gru(batch["audio"])
        a = torch.relu(self.audio(batch["audio"])) + g
        v = self.visual(batch["visual"])
        v = self.conv(v.transpose(1, 2))                     # [B, D, T]
        pooled = self.pool(v)                               # [B, D, 4]
        v = self.bn(v).transpose(1, 2)
        x = self.ln(a + v)
        x = self.ln_plain(x)
        x = self.frozen(x)
        x = self.frozen(x)                                  # a hooked module run twice: MACs x2, params x1
        for blk in self.blocks:
            x = blk(x)
        att, _ = self.attn(self.query.expand(x.size(0), -1, -1), x, x)
        qa = torch.softmax(q @ x.transpose(1, 2), dim=-1) @ x  # functional matmuls: 0 for thop
        w = self.softmax(pooled.mean(1))
        h = torch.cat([att.squeeze(1), qa.mean(1), w], dim=-1)
        return ModelOutput(self.head(h), {"aux": 0.1 * h.pow(2).mean()})


class SharedSimple(nn.Module):
    """A Linear reachable from two parents: thop registers its hooks twice and walks it twice."""

    def __init__(self):
        super().__init__()
        lin = nn.Linear(DIMS.audio_dim, DIMS.audio_dim)
        self.a = nn.Sequential(lin, nn.ReLU())
        self.b = nn.Sequential(lin)
        self.head = nn.Linear(DIMS.audio_dim, DIMS.num_answers)

    def forward(self, batch):
        return ModelOutput(self.head(self.b(self.a(batch["audio"])).mean(1)))


def test_reference_module_matches_thop_exactly():
    model = Reference()
    batch = make_dummy_batch(DIMS, 1)
    macs, params = thop_style_count(model, batch)
    t_macs, t_params = thop_profile(model, batch)
    assert (macs, params) == (t_macs, t_params)
    assert macs > 0 and params > 0
    # the convention's corners: MHA, Embedding, the bare Parameter, the unused Linear count no params
    pc = param_counts(model)
    excluded = (sum(p.numel() for p in model.attn.parameters()) + model.embed.weight.numel()
                + model.query.numel() + sum(p.numel() for p in model.unused.parameters()))
    assert params == pc["all"] - excluded
    # and the state of the model is untouched: no buffers left behind, training flag restored
    assert model.training
    assert not any("total_ops" in n or "total_params" in n for n, _ in model.named_buffers())


def test_batch_scaling_and_by_module():
    model = Reference()
    m1, p1, per = thop_style_count(model, make_dummy_batch(DIMS, 1), by_module=True)
    m3, p3 = thop_style_count(model, make_dummy_batch(DIMS, 3))
    assert m3 == 3 * m1 and p3 == p1
    assert sum(v[0] for v in per.values()) == m1 and sum(v[1] for v in per.values()) == p1
    assert "attn.out_proj" not in per and "embed" not in per and "unused" not in per
    # LSTM: 4H(I+H) + 16H per step, and all its parameters (both bias vectors)
    h, steps = 32, DIMS.question_len
    assert per["lstm"] == ((4 * h * (h + h) + 16 * h) * steps, 4 * h * (h + h) + 8 * h)
    # LayerNorm with affine counts 4 per element, without 2
    assert per["ln"][0] == 4 * DIMS.seconds * h and per["ln_plain"][0] == 2 * DIMS.seconds * h
    # a Linear run twice: MACs twice, params once
    assert per["frozen"] == (2 * DIMS.seconds * h * h, h * h + h)


def test_shared_module_matches_thop():
    model = SharedSimple()
    batch = make_dummy_batch(DIMS, 1)
    assert thop_style_count(model, batch) == thop_profile(model, batch)


@pytest.mark.parametrize("make", [
    lambda: QOnlyLSTM(QOnlyConfig(dim=32), DIMS),
    lambda: QOnlyLSTM(QOnlyConfig(dim=32, bidirectional=True), DIMS),
    lambda: ModalityMLP(MLPConfig(modalities="qav", dim=32, hidden=48), DIMS),
    lambda: ModalityMLP(MLPConfig(modalities="av", dim=32, hidden=48), DIMS),
], ids=["qonly", "qonly-bi", "mlp-qav", "mlp-av"])
def test_baselines_match_thop(make):
    model = make()
    batch = make_dummy_batch(DIMS, 1)
    ours = thop_style_count(model, batch)
    assert ours == thop_profile(model, batch)
    assert ours[1] <= param_counts(model)["all"]


def test_torch_flops_counts_matmuls():
    model = Reference()
    batch = make_dummy_batch(DIMS, 2)
    macs, _ = thop_style_count(model, batch)
    fwd = torch_flops(model, batch)
    assert fwd > macs  # 2 per multiply-add, plus MHA and the functional matmuls thop misses
    # an LSTM is counted through its decomposition (the oneDNN kernel alone would count 0)
    lstm = nn.LSTM(8, 16, batch_first=True)

    class Wrap(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = lstm

        def forward(self, b):
            return ModelOutput(self.lstm(b["audio"][..., :8])[0][:, -1])

    assert torch_flops(Wrap(), batch) == 2 * 2 * DIMS.seconds * 4 * 16 * (8 + 16)
    # forward + backward is more than the forward; grads and the training flag are left alone
    model.eval()
    both = torch_flops(model, batch, backward=True)
    assert fwd < both < 4 * fwd
    assert not model.training
    assert all(p.grad is None for p in model.parameters())


def test_torch_flops_sees_attention_fast_path():
    """In eval mode under no_grad nn.MultiheadAttention runs one fused kernel the flop counter has no formula for."""
    d, t, b = 64, DIMS.seconds, 2

    class SelfAttn(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = nn.MultiheadAttention(d, 4, batch_first=True)
            self.enc = nn.TransformerEncoderLayer(d, 4, 128, batch_first=True)

        def forward(self, batch):
            x = batch["visual"]
            x = self.attn(x, x, x, need_weights=False)[0]
            return ModelOutput(self.enc(x).mean(1))

    model = SelfAttn()
    mha = 2 * (b * t * d * d * 4 + 2 * b * t * t * d)   # in/out projections + QK^T and AV
    ffn = 2 * b * t * d * 128 * 2
    assert torch_flops(model, make_dummy_batch(DIMS, b)) == 2 * mha + ffn
    assert torch.backends.mha.get_fastpath_enabled()      # restored


def test_param_counts_trainable_excludes_frozen():
    model = Reference()
    pc = param_counts(model)
    assert pc["all"] == sum(p.numel() for p in model.parameters())
    assert pc["all"] - pc["trainable"] == sum(p.numel() for p in model.frozen.parameters())


def test_profile_table_with_paper_numbers():
    entries = [("qonly", QOnlyLSTM(QOnlyConfig(dim=32), DIMS), None),
               ("mlp", ModalityMLP(MLPConfig(dim=32, hidden=48), DIMS), make_dummy_batch(DIMS, 2))]
    df = profile_table(entries, lambda name: make_dummy_batch(DIMS, 1), paper={"mlp": (0.01, 0.001)})
    assert list(df.index) == ["qonly", "mlp"]
    assert df.loc["mlp", "batch_size"] == 2
    macs, params = thop_style_count(entries[1][1], entries[1][2])
    assert df.loc["mlp", "thop_GMACs_per_sample"] == pytest.approx(macs / 2 / 1e9)
    assert df.loc["mlp", "thop_params_over_paper"] == pytest.approx(params / 1e6 / 0.01)
    assert math.isnan(df.loc["qonly", "paper_params_M"])
    assert (df["torch_GFLOPs_per_sample"] > df["thop_GMACs_per_sample"]).all()


def test_bench_reports_ratios():
    model = ModalityMLP(MLPConfig(dim=32, hidden=48), DIMS)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    r = bench(model, lambda b: make_dummy_batch(DIMS, b), batch_size=4, steps=2, warmup=1)
    for k in ("infer_samples_per_s", "train_samples_per_s", "matmul_flops_per_s", "infer_flops_per_s",
              "train_flops_per_s"):
        assert r[k] > 0, k
    assert r["train_flops_per_step"] > r["infer_flops_per_step"] > 0
    # a fraction of the matmul's rate; generous bounds (timings are noisy), nothing on absolute speed
    assert 0 < r["infer_fraction_of_matmul"] < 100 and 0 < r["train_fraction_of_matmul"] < 100
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # the model is not trained
    with pytest.raises(ValueError):
        bench(model, lambda b: make_dummy_batch(DIMS, b), batch_size=2, steps=1, warmup=0, precision="bf16")


def test_make_dummy_batch_shapes():
    b = make_dummy_batch(DIMS, 5, patches=True, seed=3)
    assert b["audio"].shape == (5, 6, 16) and b["visual"].shape == (5, 6, 64)
    assert b["patches"].shape == (5, 6, 5, 12)
    assert b["question"].shape == (5, 14) and b["question"].dtype == torch.long
    assert b["keyword_mask"].dtype == torch.bool and b["keyword_mask"].shape == (5, 14)
    real = b["question"] != 0
    assert real[:, :3].all() and (real.int().diff(dim=1) <= 0).all()  # tokens first, then padding
    assert not (b["keyword_mask"] & ~real).any() and b["keyword_mask"].any(1).all()
    assert ((0 <= b["qtype"]) & (b["qtype"] < 9)).all()
    assert ((0 <= b["label"]) & (b["label"] < DIMS.num_answers)).all()
    assert "options" not in b
    assert torch.equal(make_dummy_batch(DIMS, 5, patches=True, seed=3)["question"], b["question"])
    mc = make_dummy_batch(DIMS, 3, options=4)
    assert mc["options"].shape == (3, 4, 4) and (mc["label"] < 4).all()
    with pytest.raises(ValueError):
        make_dummy_batch(InputDims(), 2, patches=True)
