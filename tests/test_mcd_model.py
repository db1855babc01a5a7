"""The MCD model (mcd/models/mcd.py): shapes, losses per switch, no dead layers, every ablation variant trains a
step, the Top-k clue selection, the orientation of W^cross, equivariance, determinism, and that the head sees f^_q
alone unless late fusion is asked for. Small dims (D=32, T=8, B=6) so that the file runs in seconds on a CPU."""
from __future__ import annotations

import contextlib
import dataclasses
import math
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from mcd.models.base import InputDims, ModelOutput
from mcd.models.fast import keep_mask
import mcd.models.mcd as mcd_module
from mcd.models.mcd import (ATTENTION_VARIANTS, LATE_FUSION_VARIANTS, LEF_VARIANTS, LOSS_VARIANTS, MCD,
                            TEXT_VARIANTS, Aggregator, AssociationBlock, MCDConfig, MultiHeadAttention, info_nce)

B, T, L, D = 6, 8, 14, 32
DIMS = InputDims(audio_dim=16, visual_dim=24, seconds=T, vocab_size=30, num_answers=7, num_qtypes=9,
                 question_len=L)
MC_DIMS = dataclasses.replace(DIMS, num_options=4)
PATCH_DIMS = dataclasses.replace(DIMS, patch_dim=12, num_patches=5)


def cfg(**kw) -> MCDConfig:
    return MCDConfig(**{"dim": D, "heads": 4, "ffn_dim": 48, **kw})


def make_batch(dims: InputDims = DIMS, seed: int = 0, b: int = B) -> dict:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([5, 9, 14, 7, 3, 11] * 4)[:b]
    question = torch.randint(1, dims.vocab_size, (b, L), generator=g)
    question[torch.arange(L)[None, :] >= lengths[:, None]] = 0
    keyword_mask = torch.zeros(b, L, dtype=torch.bool)
    keyword_mask[:, 1] = True
    keyword_mask[1::2, 2] = True
    keyword_mask[0] = False                                   # one question without keywords
    batch = {
        "audio": torch.randn(b, T, dims.audio_dim, generator=g),
        "visual": torch.randn(b, T, dims.visual_dim, generator=g),
        "question": question,
        "keyword_mask": keyword_mask,
        "qtype": torch.arange(b) % dims.num_qtypes,
        "label": torch.randint(0, dims.num_options or dims.num_answers, (b,), generator=g),
        "video": torch.arange(b),
    }
    if dims.patch_dim is not None:
        batch["patches"] = torch.randn(b, T, dims.num_patches, dims.patch_dim, generator=g)
    if dims.num_options is not None:
        opts = torch.randint(1, dims.vocab_size, (b, dims.num_options, 3), generator=g)
        opts[:, :, 2] = 0                                     # padded option tokens
        opts[0, 1, 1] = 0
        batch["options"] = opts
    return batch


def total_loss(out: ModelOutput, batch: dict) -> torch.Tensor:
    return F.cross_entropy(out.logits, batch["label"]) + sum(out.losses.values())


def train_step(model, batch) -> tuple[ModelOutput, torch.Tensor]:
    """One Adam step; returns the output and the loss. Gradients are left in place for inspection."""
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    opt.zero_grad()
    out = model(batch)
    loss = total_loss(out, batch)
    loss.backward()
    grads = {n: p.grad.clone() if p.grad is not None else None for n, p in model.named_parameters()}
    opt.step()
    return out, loss, grads


def dead(grads: dict) -> list[str]:
    return [n for n, g in grads.items() if g is None or not torch.isfinite(g).all() or g.abs().sum() == 0]


def check_variant(c: MCDConfig, dims: InputDims = DIMS):
    torch.manual_seed(0)
    model = MCD(c, dims)
    batch = make_batch(dims)
    out, loss, grads = train_step(model, batch)
    assert torch.isfinite(loss), c
    n_out = dims.num_options or dims.num_answers
    assert out.logits.shape == (B, n_out)
    assert dead(grads) == [], f"parameters without gradient (dead layers) under {c}: {dead(grads)}"
    for k, v in out.losses.items():
        assert v.dim() == 0 and torch.isfinite(v), k
    # the step changed the parameters and the model still runs
    assert torch.isfinite(model(batch).logits).all()
    return out


# ----------------------------------------------------------------------------------------------------------------
# shapes, losses
# ----------------------------------------------------------------------------------------------------------------

def test_shapes_losses_and_clues():
    torch.manual_seed(0)
    model = MCD(cfg(), DIMS).train()
    out = model(make_batch())
    assert out.logits.shape == (B, DIMS.num_answers)
    assert set(out.losses) == {"distill_v", "distill_a", "contrast_av"}
    for v in out.losses.values():
        assert v.dim() == 0 and torch.isfinite(v) and v > 0
    for key in ("clues_v", "clues_a"):
        idx = out.extras[key]
        assert idx.shape == (B, T // 2) and idx.dtype == torch.long
        assert ((idx >= 0) & (idx < T)).all()
        assert all(len(set(row.tolist())) == T // 2 for row in idx), "Top-k/2 must pick distinct seconds"
        assert (idx.diff(dim=1) > 0).all()                    # reported in time order


def test_losses_weighted_as_eq14():
    torch.manual_seed(0)
    base = MCD(cfg(), DIMS).train()
    torch.manual_seed(0)
    scaled = MCD(cfg(lambda_av=0.5, lambda_distill=2.0), DIMS).train()
    batch = make_batch()
    torch.manual_seed(1)
    a = base(batch).losses
    torch.manual_seed(1)
    b = scaled(batch).losses
    torch.testing.assert_close(b["contrast_av"], a["contrast_av"] * 5)
    torch.testing.assert_close(b["distill_v"], a["distill_v"] * 2)
    torch.testing.assert_close(b["distill_a"], a["distill_a"] * 2)


@pytest.mark.parametrize("name", list(LOSS_VARIANTS))
def test_loss_switches(name):
    out = check_variant(cfg(**LOSS_VARIANTS[name]))
    expected = {"distill_v", "distill_a", "contrast_av"}
    expected -= {"MCD w/o L_c^qv": {"distill_v"}, "MCD w/o L_c^qa": {"distill_a"},
                 "MCD w/o L_c^av": {"contrast_av"}, "MCD": set()}[name]
    assert set(out.losses) == expected


def test_losses_absent_in_eval_and_without_cross_features():
    torch.manual_seed(0)
    model = MCD(cfg(), DIMS).eval()
    assert model(make_batch()).losses == {}
    model = MCD(cfg(eval_losses=True), DIMS).eval()
    assert set(model(make_batch()).losses) == {"distill_v", "distill_a", "contrast_av"}
    # Eq. 12-13 need both cross-features: without one of the two queries the contrast is absent
    for name in ("Bidirectional A-query", "Bidirectional V-query", "Self-attention A+V", "w/o attention"):
        out = MCD(cfg(**ATTENTION_VARIANTS[name]), DIMS).train()(make_batch())
        assert set(out.losses) == {"distill_v", "distill_a"}, name
    none = MCD(cfg(loss_distill_v=False, loss_distill_a=False, loss_contrast_av=False), DIMS)
    assert none.sa is None and none.train()(make_batch()).losses == {}


def test_info_nce():
    x = torch.randn(5, 8)
    perfect = info_nce(x, x * 3.0, tau=0.01)                   # cosine: scale does not matter
    assert perfect < 1e-3
    shuffled = info_nce(x, x.roll(1, 0), tau=0.01)
    assert shuffled > 1.0
    uniform = info_nce(torch.ones(4, 3), torch.ones(4, 3), tau=0.1)
    torch.testing.assert_close(uniform, torch.log(torch.tensor(4.0)))


def test_info_nce_leaves_same_video_pairs_out_of_the_negatives():
    """mask_same_video: for anchor i the candidates are its positive and the samples of the other videos."""
    torch.manual_seed(0)
    anchor, positive = torch.randn(B, 8), torch.randn(B, 8)
    video = torch.tensor([0, 1, 0, 2, 0, 1])
    a, p = F.normalize(anchor, dim=-1), F.normalize(positive, dim=-1)
    terms = []
    for i in range(B):
        keep = (video != video[i]) | (torch.arange(B) == i)
        logits = a[i] @ p[keep].t() / 0.1
        terms.append(logits.logsumexp(0) - logits[int(keep[:i].sum())])
    torch.testing.assert_close(info_nce(anchor, positive, 0.1, video=video), torch.stack(terms).mean())
    torch.testing.assert_close(info_nce(anchor, positive, 0.1, symmetric=True, video=video),
                               0.5 * (info_nce(anchor, positive, 0.1, video=video)
                                      + info_nce(positive, anchor, 0.1, video=video)))
    # questions about one video have identical audio-visual features: perfect alignment costs nothing only when
    # the copy is not counted as a negative (unmasked, each of the two copies ties with its positive: log 2)
    x = torch.randn(3, 8)[[0, 1, 0, 2]]
    assert info_nce(x, x, tau=0.01, video=torch.tensor([0, 1, 0, 2])) < 1e-3
    torch.testing.assert_close(info_nce(x, x, tau=0.01), torch.log(torch.tensor(2.0)) / 2, atol=1e-3, rtol=0)


def test_mcd_masks_same_video_pairs_and_asks_for_the_video():
    batch = make_batch()
    shared = dict(batch, video=torch.tensor([0, 1, 0, 2, 3, 1]))

    def losses(b, **kw):
        torch.manual_seed(0)
        return MCD(cfg(eval_losses=True, **kw), DIMS).eval()(b).losses

    masked, unmasked = losses(batch), losses(batch, mask_same_video=False)
    for k in masked:                                            # every sample its own video: nothing to mask
        torch.testing.assert_close(masked[k], unmasked[k])
    for k, v in losses(shared).items():                         # shared videos: fewer negatives, another loss
        assert not torch.allclose(v, masked[k]), k
    no_video = {k: v for k, v in batch.items() if k != "video"}
    with pytest.raises(ValueError, match=r"batch\['video'\]"):
        MCD(cfg(), DIMS).train()(no_video)
    assert set(MCD(cfg(mask_same_video=False), DIMS).train()(no_video).losses) == set(masked)
    MCD(cfg(), DIMS).eval()(no_video)                           # inference needs no video


# ----------------------------------------------------------------------------------------------------------------
# every parameter is used; every ablation variant trains a step
# ----------------------------------------------------------------------------------------------------------------

def test_full_model_no_dead_layers():
    check_variant(cfg())
    check_variant(cfg(attn_out_proj=True))


@pytest.mark.parametrize("name", list(ATTENTION_VARIANTS))
def test_attention_variants(name):
    check_variant(cfg(**ATTENTION_VARIANTS[name]))


def test_attention_variant_table():
    assert len(ATTENTION_VARIANTS) == 10
    full = MCDConfig()
    assert all(getattr(full, k) == v for k, v in ATTENTION_VARIANTS["Bidirectional both"].items())
    for name, kw in ATTENTION_VARIANTS.items():
        assert {"self_audio", "self_visual", "a_query", "v_query"} <= set(kw), name
        MCDConfig(**kw)                                       # every row is a valid config
    # A-query = the audio global query attends over the visual sequence: the VISUAL branch gets the cross term
    block = AssociationBlock(cfg(**ATTENTION_VARIANTS["Cross-attention A-query"]))
    assert block.visual.cross_attn is not None and block.audio.cross_attn is None
    assert block.audio.self_attn is None and block.visual.self_attn is None
    block = AssociationBlock(cfg(**ATTENTION_VARIANTS["Bidirectional V-query"]))
    assert block.audio.cross_attn is not None and block.visual.cross_attn is None


def test_without_attention_identity_blocks_are_empty():
    assert ATTENTION_VARIANTS["w/o attention"]["no_attention_branch"] == "identity"
    c = cfg(**ATTENTION_VARIANTS["w/o attention"])
    check_variant(c)
    check_variant(cfg(**(ATTENTION_VARIANTS["w/o attention"] | {"no_attention_branch": "ffn"})))
    block = AssociationBlock(c).eval()
    assert sum(p.numel() for p in block.parameters()) == 0
    f_a, f_v = torch.randn(B, T, D), torch.randn(B, T, D)
    hat_a, hat_v, ca, cv = block(f_a, f_v)
    assert torch.equal(hat_a, f_a) and torch.equal(hat_v, f_v) and ca is None and cv is None


@pytest.mark.parametrize("name", list(LEF_VARIANTS))
def test_lef_variants(name):
    check_variant(cfg(**LEF_VARIANTS[name]))


@pytest.mark.parametrize("n", [1, 2, 3])
def test_num_blocks(n):
    model = MCD(cfg(num_blocks=n), DIMS)
    assert len(model.mcm.blocks) == n
    check_variant(cfg(num_blocks=n))


@pytest.mark.parametrize("name", list(TEXT_VARIANTS))
def test_text_variants(name):
    c = cfg(**TEXT_VARIANTS[name])
    check_variant(c)
    model = MCD(c, DIMS)
    assert (model.mcm.text_objects is not None) == c.text_objects
    assert model.encoders.question.bidirectional == (c.text_encoder == "bilstm")


@pytest.mark.parametrize("name", list(LATE_FUSION_VARIANTS))
def test_late_fusion_variants(name):
    check_variant(cfg(**LATE_FUSION_VARIANTS[name]))


@pytest.mark.parametrize("text_objects", [True, False])
def test_multiple_choice(text_objects):
    out = check_variant(cfg(text_objects=text_objects), MC_DIMS)
    assert out.logits.shape == (B, MC_DIMS.num_options)


@pytest.mark.parametrize("kw", [{"cross_weights": "diag"}, {"clue_reduce": "mean"}, {"global_av": "blocks"},
                                {"project_question": True, "symmetric_nce": True}, {"contrast_normalize": False},
                                {"topk_ratio": 0.25}, {"num_blocks": 0}, {"heads": 1, "ffn_dim": 32}])
def test_other_options(kw):
    check_variant(cfg(**kw))


def test_patch_features_are_avg_pooled():
    torch.manual_seed(0)
    model = MCD(cfg(), PATCH_DIMS).eval()
    batch = make_batch(PATCH_DIMS)
    out = model(batch)
    # only the spatial mean of the patches matters
    shifted = dict(batch, patches=batch["patches"] + torch.tensor([1.0, -1.0, 2.0, -2.0, 0.0])[None, None, :, None])
    torch.testing.assert_close(model(shifted).logits, out.logits)
    check_variant(cfg(), PATCH_DIMS)


# ----------------------------------------------------------------------------------------------------------------
# equations checked on hand-set weights
# ----------------------------------------------------------------------------------------------------------------

def test_aggregator_topk_and_clue_storing():
    """Uniform attention (W^Q = 0) and W^V = I: h_i = ReLU(f_i), the score is its channel mean, and the Top-k/2
    frames with the largest scores are stored as f^ = sum_i (f_q + h_i * f_q)."""
    d, k = 4, 8
    agg = Aggregator(MCDConfig(dim=d, heads=1, attn_dropout=0.0)).eval()
    with torch.no_grad():
        agg.text_query_av.q.weight.zero_()
        agg.text_query_av.v.weight.copy_(torch.eye(d))
    f = -torch.rand(2, k, d)                                   # all negative: h = 0 ...
    f[0, [1, 4, 6, 7]] = torch.tensor([1.0, 4.0, 2.0, 3.0])[:, None]  # ... except these seconds
    f[1, [0, 2, 3, 5]] = torch.tensor([5.0, 1.0, 2.0, 3.0])[:, None]
    f_q = torch.randn(2, d)
    tok = torch.randn(2, 5, d)
    f_hat, idx = agg(f, f_q, tok, torch.ones(2, 5, dtype=torch.bool))
    assert idx.tolist() == [[1, 4, 6, 7], [0, 2, 3, 5]]
    h = torch.relu(f)
    expected = torch.stack([(f_q[b] + h[b, idx[b]] * f_q[b]).sum(0) for b in range(2)])
    torch.testing.assert_close(f_hat, expected)


def test_cross_weights_mix_channels_convexly():
    """outer: f_cross = f x W^cross with W^cross column-stochastic: a sequence whose channels are all equal is
    unchanged."""
    block = AssociationBlock(cfg(attn_dropout=0.0, cross_weights="outer")).eval()
    c = torch.randn(B, T, 1)
    f = c.expand(B, T, D).contiguous()
    g = torch.randn(B, 1, D)
    torch.testing.assert_close(block.audio.cross_feature(g, f), f)
    # and it does depend on the other modality's global query when channels differ
    f = torch.randn(B, T, D)
    assert not torch.allclose(block.audio.cross_feature(g, f), block.audio.cross_feature(-3 * g, f))


def test_association_block_residual_eq4():
    """Eq. 4: f^ = f + BN(f_x2y) + BN(FFN(f + BN(f_x2y))); with the FFN's last layer and its BN zeroed the
    update is f + BN(f_x2y), and f_x2y = phi_self + f x W^cross."""
    block = AssociationBlock(cfg(attn_dropout=0.0)).eval()
    br = block.audio
    with torch.no_grad():
        br.bn_ffn.weight.zero_()
        br.bn_ffn.bias.zero_()
    f_a, f_v = torch.randn(B, T, D), torch.randn(B, T, D)
    hat_a, _, cross_a, _ = block(f_a, f_v)
    x = br.self_attn(f_a, f_a, f_a) + br.cross_feature(f_v.mean(1, keepdim=True), f_a)
    torch.testing.assert_close(cross_a, br.cross_feature(f_v.mean(1, keepdim=True), f_a))
    torch.testing.assert_close(hat_a, f_a + br.bn_att(x.transpose(1, 2)).transpose(1, 2))


# ----------------------------------------------------------------------------------------------------------------
# the fast training paths compute the textbook functions
# ----------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("out_proj", [False, True])
def test_single_query_attention_reassociated(out_proj):
    """A single query's attention is computed as (q W^K) k^T and (a v) W^V^T, in training and in eval: without
    dropout it is the textbook result of Eq. 1 (``textbook_attention``: keys and values projected), and its
    gradients too."""
    torch.manual_seed(0)
    mha = MultiHeadAttention(D, 4, dropout=0.0, out_proj=out_proj)
    query, key = torch.randn(B, 1, D), torch.randn(B, L, D)
    mask = torch.arange(L)[None, :] < torch.tensor([5, 9, 14, 7, 3, 11])[:, None]

    def run(train: bool, textbook: bool = False):
        mha.train(train)
        mha.zero_grad()
        with mcd_module.textbook_attention(mha) if textbook else contextlib.nullcontext():
            assert mha._reassociated(1) is not textbook
            out = mha(query, key, key, key_mask=mask)
            qd, att = mha.global_weights(query, key, mask)
            pooled = mha.pool_values(att, key)
        (out.square().sum() + qd.sum() + pooled.sum()).backward()
        return out, qd, att, pooled, {n: p.grad.clone() for n, p in mha.named_parameters()}

    ref = run(False, textbook=True)
    assert mha._reassociated(1)                                                    # the context leaves it as it was
    for ours in (run(True), run(False), run(True, textbook=True)):
        for a, b in zip(ours[:4], ref[:4]):
            torch.testing.assert_close(a, b)
        assert (ours[2][~mask[:, None, None, :].expand_as(ours[2])] == 0).all()    # padding keeps no weight
        for n in ref[4]:
            torch.testing.assert_close(ours[4][n], ref[4][n], msg=n)


def test_mcd_answers_in_eval_are_those_of_the_textbook_attention():
    """The whole model in eval mode (as ``predict`` runs it): the reassociated single-query attention gives the
    logits of Eq. 1 as written to float rounding (rtol 1e-5, atol 1e-5 on logits of order 1), and the same
    answers."""
    torch.manual_seed(0)
    model = MCD(cfg(), DIMS).eval()
    batch = make_batch(seed=1, b=16)
    with torch.inference_mode():
        ours = model(batch).logits
        with mcd_module.textbook_attention(model):
            ref = model(batch).logits
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    assert torch.equal(ours.argmax(-1), ref.argmax(-1))


def test_single_query_attention_dropout_masks_the_textbook_weights():
    """The training path draws one dropout mask (``mcd.models.fast.keep_mask``) on the [B, h, 1, Lk] attention
    probabilities: with the same seed, the textbook attention (softmax(Q K^T / sqrt(d)) of the projected keys)
    times that mask, then V, gives the same output."""
    torch.manual_seed(0)
    mha = MultiHeadAttention(D, 4, dropout=0.3).train()
    query, key = torch.randn(B, 1, D), torch.randn(B, T, D)
    torch.manual_seed(5)
    out = mha(query, key, key)
    q, k, v = (mha._split(lin(x)) for lin, x in ((mha.q, query), (mha.k, key), (mha.v, key)))
    weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(D // 4), dim=-1)
    torch.manual_seed(5)
    ref = mha._merge((weights * keep_mask(weights.shape, 0.3)) @ v)
    torch.testing.assert_close(out, ref)


def test_cross_mix_gradients():
    """f x W^cross: the custom backward is the gradient of f @ softmax(q^T r, -1)^T (gradcheck in float64), and
    in float32 it matches autograd through the plain formula."""
    torch.manual_seed(0)
    f, q, r = (torch.randn(3, 5, 6, dtype=torch.float64, requires_grad=True),
               torch.randn(3, 1, 6, dtype=torch.float64, requires_grad=True),
               torch.randn(3, 1, 6, dtype=torch.float64, requires_grad=True))
    assert torch.autograd.gradcheck(mcd_module._CrossMix.apply, (f, q, r))

    f, q, r = (torch.randn(B, T, D, requires_grad=True), torch.randn(B, 1, D, requires_grad=True),
               torch.randn(B, 1, D, requires_grad=True))
    g = torch.randn(B, T, D)

    def run(fn):
        out = fn(f, q, r)
        grads = torch.autograd.grad(out, (f, q, r), g)
        return out, *grads

    plain = run(lambda f, q, r: f @ torch.softmax(q.transpose(1, 2) @ r, dim=-1).transpose(1, 2))
    for a, b in zip(plain, run(mcd_module._CrossMix.apply)):
        torch.testing.assert_close(b, a)


def test_batchnorm_on_flattened_sequence():
    """BN of a [B, T, D] sequence run on its [B*T, D] view: the output and the running statistics of BatchNorm1d
    on [B, D, T] (statistics over batch and time)."""
    x = torch.randn(B, T, D) * 3 + 1
    bn_a, bn_b = torch.nn.BatchNorm1d(D).train(), torch.nn.BatchNorm1d(D).train()
    torch.testing.assert_close(mcd_module._bn_seq(bn_a, x), bn_b(x.transpose(1, 2)).transpose(1, 2))
    torch.testing.assert_close(bn_a.running_mean, bn_b.running_mean)
    torch.testing.assert_close(bn_a.running_var, bn_b.running_var)


def test_lef_eq10():
    torch.manual_seed(0)
    for mode, expect in (("dot", lambda t, v, a: t * (t + v + a)), ("add", lambda t, v, a: t + v + a)):
        model = MCD(cfg(lef_mode=mode), DIMS).eval()
        lef = model.mcm.lef
        t, v, a = torch.randn(3, B, D).unbind(0)
        torch.testing.assert_close(lef(t, v, a), lef.fc(expect(t, v, a)))
    lef = MCD(cfg(lef_text=False), DIMS).eval().mcm.lef
    torch.testing.assert_close(lef(None, v, a), lef.fc(v + a))    # w/o f~_t: F_v + F_a (no dot product possible)
    lef = MCD(cfg(lef_visual=False), DIMS).eval().mcm.lef
    torch.testing.assert_close(lef(t, v, a), lef.fc(t * (t + a)))


# ----------------------------------------------------------------------------------------------------------------
# the head sees f^_q alone (no decision-level fusion) unless late fusion is asked for
# ----------------------------------------------------------------------------------------------------------------

def _logits_with_fixed_fq(model, batch, fixed):
    def hook(module, args, out):
        return dataclasses.replace(out, fq_hat=fixed)
    handle = model.mcm.register_forward_hook(hook)
    try:
        return model(batch).logits
    finally:
        handle.remove()


@pytest.mark.parametrize("late", ["none", "concat", "add"])
def test_head_sees_only_fq_hat(late):
    torch.manual_seed(0)
    model = MCD(cfg(late_fusion=late), DIMS).eval()
    batch = make_batch()
    other = dict(batch, audio=torch.randn_like(batch["audio"]) * 3, visual=torch.randn_like(batch["visual"]) * 3)
    # control: audio-visual features do reach the logits through the MCM
    assert not torch.allclose(model(batch).logits, model(other).logits)
    fixed = torch.randn(B, D)
    a, b = _logits_with_fixed_fq(model, batch, fixed), _logits_with_fixed_fq(model, other, fixed)
    if late == "none":
        torch.testing.assert_close(a, b)                      # no path from F_a / F_v to the head but f^_q
        torch.testing.assert_close(a, model.head(fixed))
    else:
        assert not torch.allclose(a, b)                       # Fig. 4(b): the head also sees F_a, F_v


# ----------------------------------------------------------------------------------------------------------------
# equivariance and determinism
# ----------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dims", [DIMS, MC_DIMS], ids=["classes", "multiple-choice"])
def test_batch_order_equivariance(dims):
    torch.manual_seed(0)
    model = MCD(cfg(), dims)
    batch = make_batch(dims)
    train_step(model, batch)                                  # non-trivial BN running statistics
    model.eval()
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    out = model(batch)
    out_p = model({k: v[perm] for k, v in batch.items()})
    torch.testing.assert_close(out_p.logits, out.logits[perm])
    assert torch.equal(out_p.extras["clues_v"], out.extras["clues_v"][perm])
    assert torch.equal(out_p.extras["clues_a"], out.extras["clues_a"][perm])
    if dims.num_options:                                      # permuting the options permutes their scores
        op = torch.tensor([2, 0, 3, 1])
        out_o = model(dict(batch, options=batch["options"][:, op]))
        torch.testing.assert_close(out_o.logits, out.logits[:, op])


def test_determinism_with_fixed_seed():
    def run():
        torch.manual_seed(123)
        model = MCD(cfg(), DIMS)
        batch = make_batch()
        out, loss, _ = train_step(model, batch)
        torch.manual_seed(7)
        return out, loss, model.train()(batch)

    (o1, l1, a1), (o2, l2, a2) = run(), run()
    assert torch.equal(o1.logits, o2.logits) and torch.equal(l1, l2)
    assert torch.equal(a1.logits, a2.logits)
    for k in a1.losses:
        assert torch.equal(a1.losses[k], a2.losses[k])

    def build(seed):
        torch.manual_seed(seed)
        return MCD(cfg(), DIMS).eval()(make_batch()).logits

    assert torch.equal(build(3), build(3))
    assert not torch.equal(build(3), build(4))                # control: the seed does decide the weights


# ----------------------------------------------------------------------------------------------------------------
# config
# ----------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kw", [{"lef_mode": "mul"}, {"late_fusion": "sum"}, {"late_fusion_modalities": "q"},
                                {"text_encoder": "gru"}, {"dim": 30, "heads": 4}, {"topk_ratio": 0.0},
                                {"cross_weights": "full"}, {"tau": 0.0},
                                {"lef_visual": False, "lef_audio": False, "lef_text": False},
                                {"lef_visual": False, "lef_audio": False, "text_objects": False}])
def test_config_rejects_bad_values(kw):
    with pytest.raises(ValueError):
        MCDConfig(**kw)


def test_config_loads_from_overrides():
    from mcd.config import load_config
    c = load_config(None, ["model.name=mcd", "model.mcd.num_blocks=3", "model.mcd.lef_mode=add",
                           "model.mcd.self_audio=false"])
    assert isinstance(c.model.mcd, MCDConfig)
    assert (c.model.mcd.num_blocks, c.model.mcd.lef_mode, c.model.mcd.self_audio) == (3, "add", False)
    with pytest.raises(ValueError):
        load_config(None, ["model.mcd.lef_mode=mul"])


def test_no_device_hardcoding():
    src = (Path(__file__).resolve().parents[1] / "mcd/models/mcd.py").read_text()
    assert not re.search(r"\.cuda\(|device=['\"]cuda", src)
