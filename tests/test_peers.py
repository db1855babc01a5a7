"""The two peer models (AVST, PSTP-Net) at small sizes: the contract, the auxiliary task, the selections."""
from __future__ import annotations

import inspect

import pytest
import torch
import torch.nn.functional as F

from mcd.config import load_config
from mcd.models import avst as avst_mod
from mcd.models import pstp as pstp_mod
from mcd.models.avst import AVST, AVSTConfig
from mcd.models.base import InputDims
from mcd.models.pstp import PSTPConfig, PSTPNet, segment_plan
from mcd.models.registry import build_model


def dims_for(seconds=10, patches=6, patch_dim=32) -> InputDims:
    return InputDims(audio_dim=12, visual_dim=20, patch_dim=patch_dim, num_patches=patches, seconds=seconds,
                     vocab_size=30, num_answers=7)


def avst_cfg(**kw) -> AVSTConfig:
    return AVSTConfig(**{"dim": 32, "heads": 4, "match_hidden": [16, 8], **kw})


def pstp_cfg(**kw) -> PSTPConfig:
    return PSTPConfig(**{"dim": 32, "heads": 4, "segment_seconds": 5, "top_k": 2, "top_m": 3, "reason_heads": 2, **kw})


def make_batch(dims: InputDims, B: int = 6, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    T = dims.seconds
    q = torch.randint(1, dims.vocab_size, (B, 14), generator=g)
    lengths = torch.randint(4, 15, (B,), generator=g)
    q[torch.arange(14).expand(B, -1) >= lengths.unsqueeze(1)] = 0
    return {
        "audio": torch.randn(B, T, dims.audio_dim, generator=g),
        "visual": torch.randn(B, T, dims.visual_dim, generator=g),
        "patches": torch.randn(B, T, dims.num_patches, dims.patch_dim, generator=g),
        "question": q,
        "keyword_mask": torch.zeros(B, 14, dtype=torch.bool),
        "qtype": torch.zeros(B, dtype=torch.long),
    }


MODELS = {
    "avst": lambda dims, **kw: AVST(avst_cfg(**kw), dims),
    "pstp": lambda dims, **kw: PSTPNet(pstp_cfg(**kw), dims),
}


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("train", [True, False])
def test_shapes_and_finite(name, train):
    dims = dims_for()
    model = MODELS[name](dims).train(train)
    out = model(make_batch(dims))
    assert out.logits.shape == (6, dims.num_answers)
    assert torch.isfinite(out.logits).all()
    for k, v in out.losses.items():
        assert v.dim() == 0 and torch.isfinite(v), k


@pytest.mark.parametrize("name,kw,patch_dim", [("avst", {}, 32), ("avst", {}, 24), ("pstp", {}, 32),
                                               ("pstp", {"reason_layers": 2}, 24)])
def test_every_parameter_gets_a_gradient(name, kw, patch_dim):
    dims = dims_for(patch_dim=patch_dim)
    model = MODELS[name](dims, **kw).train()
    batch = make_batch(dims)
    out = model(batch)
    loss = F.cross_entropy(out.logits, torch.arange(6) % dims.num_answers) + sum(out.losses.values())
    loss.backward()
    dead = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not dead, f"parameters without gradient: {dead}"


def test_avst_match_loss_train_only_and_weighted():
    dims = dims_for()
    model = MODELS["avst"](dims)
    batch = make_batch(dims)
    assert set(model.train()(batch).losses) == {"match"}
    assert model.eval()(batch).losses == {}
    no_task = MODELS["avst"](dims, match_weight=0.0).train()
    assert no_task.match_head is None and no_task(batch).losses == {}


def _reference_match_loss(model: AVST, batch: dict) -> torch.Tensor:
    """Per sample and second, by hand: the negative grounds sample i's audio in sample i-1's patches."""
    B, T = batch["audio"].shape[:2]
    a = model.audio(batch["audio"])
    patches = model.patch_proj(batch["patches"])
    logits, labels = [], []
    for i in range(B):
        for t in range(T):
            for j, label in ((i, 1), ((i - 1) % B, 0)):
                pn = F.normalize(patches[j, t], dim=-1)
                w = (pn @ F.normalize(a[i, t], dim=-1)).softmax(-1)
                v = F.relu(model.ground_fc(torch.cat([patches[j, t].mean(0), w @ pn])))
                logits.append(model.match_head(torch.cat([a[i, t], v])))
                labels.append(label)
    return 0.5 * F.cross_entropy(torch.stack(logits), torch.tensor(labels))


@pytest.mark.parametrize("patch_dim", [32, 24])
def test_avst_match_loss_uses_another_video_at_the_same_second(patch_dim):
    dims = dims_for(patch_dim=patch_dim)
    model = MODELS["avst"](dims).train()
    batch = make_batch(dims, B=4)
    got = model(batch).losses["match"]
    assert torch.allclose(got, _reference_match_loss(model, batch), atol=1e-5)


def test_avst_match_loss_skips_same_video_neighbours():
    dims = dims_for()
    model = MODELS["avst"](dims).train()
    batch = make_batch(dims, B=4)
    for k in ("audio", "visual", "patches"):      # four questions about one video: no true negative
        batch[k] = batch[k][:1].expand_as(batch[k]).clone()
    loss = model(batch).losses["match"]
    assert loss.item() == 0.0
    loss.backward()                                # still part of the graph
    single = model(make_batch(dims, B=1)).losses["match"]
    assert single.item() == 0.0


def test_pstp_selects_exactly_k_segments_and_m_patches():
    dims = dims_for(seconds=10, patches=6)
    model = MODELS["pstp"](dims).eval()
    out = model(make_batch(dims))
    seg, sec, pat, w = (out.extras[k] for k in ("segments", "seconds", "patches", "segment_weights"))
    S, L, k = segment_plan(10, 5, 2)
    assert (S, L, k) == (2, 5, 2)
    assert seg.shape == (6, 2) and sec.shape == (6, 10) and pat.shape == (6, 10, 3)
    for row in seg:
        assert len(set(row.tolist())) == k and row.tolist() == sorted(row.tolist())
    assert torch.equal(sec, (seg.unsqueeze(-1) * L + torch.arange(L)).flatten(1))
    assert ((pat >= 0) & (pat < 6)).all()
    assert all(len(set(r.tolist())) == 3 and r.tolist() == sorted(r.tolist()) for r in pat.flatten(0, 1))
    # the kept segments are the k with the largest question attention
    assert torch.equal(seg, w.topk(k, dim=-1).indices.sort(dim=-1).values)


def test_pstp_selection_is_real_with_more_segments():
    """T = 20: 4 segments, keep 2; patches outside the kept seconds cannot change the answer."""
    dims = dims_for(seconds=20, patches=6)
    model = MODELS["pstp"](dims).eval()
    batch = make_batch(dims)
    out = model(batch)
    seg, w = out.extras["segments"], out.extras["segment_weights"]
    assert seg.shape == (6, 2) and w.shape == (6, 4)
    assert torch.equal(seg, w.topk(2, dim=-1).indices.sort(dim=-1).values)   # the most attended segments
    assert len({tuple(r) for r in seg.tolist()}) > 1                         # chosen per sample
    pat, pw = out.extras["patches"], out.extras["patch_weights"]
    assert pat.shape == (6, 10, 3) and pw.shape == (6, 10, 6)
    assert torch.equal(pat, pw.topk(3, dim=-1).indices.sort(dim=-1).values)  # the most attended patches
    assert len({tuple(r) for r in pat.flatten(0, 1).tolist()}) > 1
    kept = torch.zeros(6, 20, dtype=torch.bool)
    kept.scatter_(1, out.extras["seconds"], True)
    assert (kept.sum(1) == 10).all()
    other = dict(batch)
    other["patches"] = torch.where(kept[:, :, None, None], batch["patches"], torch.randn_like(batch["patches"]))
    with torch.no_grad():
        assert torch.allclose(model(other).logits, out.logits, atol=1e-6)
        other["patches"] = batch["patches"] + kept[:, :, None, None] * torch.randn_like(batch["patches"])
        assert not torch.allclose(model(other).logits, out.logits, atol=1e-4)


def test_pstp_clamps_k_and_m():
    dims = dims_for(seconds=10, patches=4)
    model = MODELS["pstp"](dims, top_k=5, top_m=50).eval()
    out = model(make_batch(dims))
    assert out.extras["segments"].shape == (6, 2)         # 2 segments exist
    assert out.extras["patches"].shape == (6, 10, 4)      # 4 patches exist


@pytest.mark.parametrize("seconds,plan", [(13, (2, 6, 2)), (3, (1, 3, 1)), (60, (12, 5, 2)), (7, (1, 7, 1))])
def test_segment_plan(seconds, plan):
    assert segment_plan(seconds, 5, 2) == plan


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("seconds", [13, 3])
def test_t_not_divisible_by_segment_length(name, seconds):
    dims = dims_for(seconds=seconds)
    model = MODELS[name](dims).train()
    out = model(make_batch(dims))
    (out.logits.sum() + sum(out.losses.values())).backward()
    assert out.logits.shape == (6, 7) and torch.isfinite(out.logits).all()
    if name == "pstp":
        S, L, k = segment_plan(seconds, 5, 2)
        assert out.extras["seconds"].shape == (6, k * L)
        assert int(out.extras["seconds"].max()) < S * L


@pytest.mark.parametrize("name", MODELS)
def test_batch_order_equivariance_in_eval(name):
    dims = dims_for()
    model = MODELS[name](dims).eval()
    batch = make_batch(dims, B=7)
    perm = torch.tensor([3, 0, 6, 1, 5, 2, 4])
    with torch.no_grad():
        out = model(batch)
        out_p = model({k: v[perm] for k, v in batch.items()})
    assert torch.allclose(out_p.logits, out.logits[perm], atol=1e-5)
    for k, v in out.extras.items():
        assert torch.allclose(out_p.extras[k].float(), v[perm].float(), atol=1e-6), k


@pytest.mark.parametrize("name", MODELS)
def test_missing_patches_is_a_clear_error(name):
    dims = dims_for()
    model = MODELS[name](dims)
    batch = make_batch(dims)
    del batch["patches"]
    with pytest.raises(ValueError, match="patch"):
        model(batch)
    wrong = make_batch(dims_for(patches=5))
    with pytest.raises(ValueError, match="shape"):
        model(wrong)
    with pytest.raises(ValueError, match="patch"):
        MODELS[name](InputDims(audio_dim=12, visual_dim=20, seconds=10, vocab_size=30, num_answers=7))


def test_built_from_config_and_registry():
    cfg = load_config(None, ["model.name=pstp", "model.pstp.dim=32", "model.pstp.top_m=3",
                             "model.pstp.reason_heads=2"])
    assert isinstance(build_model(cfg.model, dims_for()), PSTPNet)
    cfg = load_config(None, ["model.name=avst", "model.avst.dim=32", "model.avst.match_hidden=[16]"])
    model = build_model(cfg.model, dims_for())
    assert isinstance(model, AVST) and model.match_head[0].out_features == 16


def test_no_device_hard_coding():
    for mod in (avst_mod, pstp_mod):
        assert ".cuda(" not in inspect.getsource(mod)
