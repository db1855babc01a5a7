"""Every speed-up of the training step computes what the straightforward code computes.

Each test keeps the straightforward form here (not in the package) and checks the optimised one against it:
outputs and gradients equal within the stated tolerance where only float rounding differs (outputs in float32:
``torch.testing.assert_close``'s defaults, rtol 1.3e-6 and atol 1e-5, unless a test says otherwise; gradients:
``assert_same_grads``), and, for the
dropout masks, which are a different draw from the same distribution, the distribution itself (keep rate, scale,
independence) within binomial error.
"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import mcd.models.fast as fast
from mcd.models.base import InputDims
from mcd.models.fast import Dropout, attention, dropout, keep_levels, keep_mask, mha_query, mha_self
from mcd.models.layers import QuestionEncoder


def grads(module: nn.Module, *inputs: torch.Tensor) -> dict[str, torch.Tensor]:
    out = {n: p.grad.clone() for n, p in module.named_parameters() if p.grad is not None}
    out.update({f"input{i}": x.grad.clone() for i, x in enumerate(inputs) if x.grad is not None})
    return out


def assert_same_grads(ours: dict, ref: dict, scale_tol: float = 1e-6) -> None:
    """Each gradient tensor elementwise within rtol 1e-5 and ``scale_tol`` times the tensor's largest reference
    gradient (sums of many products: their rounding error scales with the largest terms, not with each entry)."""
    assert ours.keys() == ref.keys()
    for name in ref:
        atol = scale_tol * max(ref[name].abs().max().item(), 1.0)
        torch.testing.assert_close(ours[name], ref[name], msg=name, rtol=1e-5, atol=atol)


# ------------------------------------------------------------------------------------------------ dropout masks
N_DRAWS = 1 << 22      # elements per statistical test; 5 standard errors of a rate is then about 1e-3


def within(observed: float, expected: float, var: float, n: int, sigmas: float = 5.0) -> bool:
    return abs(observed - expected) <= sigmas * math.sqrt(var / n)


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5])
def test_keep_mask_keeps_at_the_dropout_rate_and_scales_to_mean_one(p):
    """Kept elements are exactly 1/q, the others exactly 0, with q = keep_levels(p) / 2^16 within 2^-17 of the
    keep rate 1 - p of ``F.dropout``; the observed keep rate is q within 5 standard errors, and the mask's
    expectation q * (1/q) is 1, as for ``F.dropout``."""
    q = keep_levels(p) / 2 ** 16
    assert abs(q - (1 - p)) <= 2 ** -17
    torch.manual_seed(0)
    mask = keep_mask((N_DRAWS,), p)
    values = set(mask.unique().tolist())
    assert values == {0.0, float(torch.tensor(1 / q, dtype=torch.float32))}
    kept = (mask > 0).double()
    assert within(kept.mean().item(), q, q * (1 - q), N_DRAWS)
    assert within(mask.double().mean().item(), 1.0, (1 - q) / q, N_DRAWS)


def test_keep_mask_elements_are_independent():
    """Neighbours in every layout the mask is built from (the 4 16-bit draws of one 64-bit word, across words, at
    strides of a row) are kept independently: P(both kept) = q^2 within 5 standard errors, and each of the 4
    positions in a word keeps at rate q."""
    p, q = 0.3, keep_levels(0.3) / 2 ** 16
    torch.manual_seed(1)
    kept = (keep_mask((N_DRAWS,), p) > 0).double()
    for lag in (1, 2, 3, 4, 5, 8, 128):
        both = (kept[:-lag] * kept[lag:]).mean().item()
        assert within(both, q * q, q * q * (1 - q * q), N_DRAWS), lag
    for position in range(4):
        assert within(kept[position::4].mean().item(), q, q * (1 - q), N_DRAWS // 4), position


def test_keep_mask_follows_torchs_generator():
    """The same seed gives the same mask; the generator state saved with a checkpoint restores it; consecutive
    masks differ."""
    torch.manual_seed(3)
    a, b = keep_mask((64, 20, 128), 0.1), keep_mask((64, 20, 128), 0.1)
    torch.manual_seed(3)
    state = torch.get_rng_state()
    assert torch.equal(keep_mask((64, 20, 128), 0.1), a)
    torch.set_rng_state(state)
    assert torch.equal(keep_mask((64, 20, 128), 0.1), a)
    assert not torch.equal(a, b)


def test_dropout_is_x_times_the_mask_with_its_gradient():
    """``dropout`` (and ``Dropout``) in training: x * mask for the mask drawn under the same seed, gradient
    grad * mask; identity in eval or at p = 0; off CPU, ``F.dropout`` (checked by the same call path here)."""
    x = torch.randn(8, 5, 16, requires_grad=True)
    torch.manual_seed(4)
    out = Dropout(0.2).train()(x)
    out.backward(torch.ones_like(out))
    torch.manual_seed(4)
    mask = keep_mask(x.shape, 0.2)
    torch.testing.assert_close(out, x * mask, rtol=0, atol=0)
    torch.testing.assert_close(x.grad, mask, rtol=0, atol=0)
    assert dropout(x, 0.2, training=False) is x and dropout(x, 0.0) is x
    assert Dropout(0.2).eval()(x) is x


# ---------------------------------------------------------------------------------------------------- attention
def textbook_attention(q, k, v, mask=None):
    """softmax(q k^T / sqrt(d)) (times a dropout mask) v, in float64."""
    w = torch.softmax(q.double() @ k.double().transpose(-1, -2) / math.sqrt(q.size(-1)), dim=-1)
    return ((w if mask is None else w * mask.double()) @ v.double()).float()


def test_attention_equals_sdpa_without_dropout():
    torch.manual_seed(0)
    q, k, v = (torch.randn(6, 4, 20, 8, requires_grad=True) for _ in range(3))
    g = torch.randn(6, 4, 20, 8)
    for training in (False, True):
        out = attention(q, k, v, 0.0, training)
        out.backward(g)
        ours = [out] + [x.grad.clone() for x in (q, k, v)]
        for x in (q, k, v):
            x.grad = None
        ref = F.scaled_dot_product_attention(q, k, v)
        ref.backward(g)
        for a, b in zip(ours, [ref] + [x.grad for x in (q, k, v)]):
            torch.testing.assert_close(a, b)
        for x in (q, k, v):
            x.grad = None


def test_attention_dropout_masks_the_softmax_weights():
    """In training the weights are dropped with the mask ``keep_mask`` draws under the same seed."""
    torch.manual_seed(0)
    q, k, v = (torch.randn(6, 4, 20, 8) for _ in range(3))
    torch.manual_seed(9)
    out = attention(q, k, v, 0.1, training=True)
    torch.manual_seed(9)
    torch.testing.assert_close(out, textbook_attention(q, k, v, keep_mask((6, 4, 20, 20), 0.1)))


# ------------------------------------------------------------------------------------- nn.MultiheadAttention forms
def _mha(heads: int, dropout_p: float = 0.0, bias: bool = True) -> nn.MultiheadAttention:
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(16, heads, dropout=dropout_p, bias=bias, batch_first=True)
    with torch.no_grad():   # non-zero biases, so that the bias terms of the reassociation are exercised
        if bias:
            mha.in_proj_bias.normal_()
            mha.out_proj.bias.normal_()
    return mha.train()


@pytest.mark.parametrize("heads,lq,masked,bias", [(4, 1, False, True), (4, 1, True, True), (2, 3, True, True),
                                                  (1, 1, False, False)])
def test_mha_query_equals_multihead_attention(heads, lq, masked, bias):
    """Reassociated query attention (training, no dropout) = ``nn.MultiheadAttention`` with need_weights: output,
    head-averaged weights and every gradient (parameters and inputs)."""
    mha = _mha(heads, bias=bias)
    torch.manual_seed(1)
    query, kv = torch.randn(10, lq, 16, requires_grad=True), torch.randn(10, 9, 16, requires_grad=True)
    pad = (torch.arange(9)[None, :] >= torch.tensor([9, 3, 5, 9, 1, 7, 9, 2, 8, 4])[:, None]) if masked else None

    def run(fn):
        mha.zero_grad()
        query.grad = kv.grad = None
        out, w = fn()
        (out.square().sum() + (w * torch.arange(9.0)).sum()).backward()
        return out, w, grads(mha, query, kv)

    ours = run(lambda: mha_query(mha, query, kv, pad))
    ref = run(lambda: mha(query, kv, kv, key_padding_mask=pad, need_weights=True))
    torch.testing.assert_close(ours[0], ref[0])
    torch.testing.assert_close(ours[1], ref[1])
    assert_same_grads(ours[2], ref[2])
    if masked:
        assert (ours[1][pad[:, None, :].expand_as(ours[1])] == 0).all()


def test_mha_query_dropout_masks_the_weights_per_head():
    """In training with dropout: the textbook MHA weights per head times the mask drawn under the same seed
    ([N, Lq, h, Lk], one draw), then V and the output projection; the returned weights are the dropped ones
    averaged over heads, as ``nn.MultiheadAttention`` returns them in training."""
    h, d = 4, 4
    mha = _mha(h, dropout_p=0.3)
    torch.manual_seed(1)
    query, kv = torch.randn(10, 1, 16), torch.randn(10, 9, 16)
    torch.manual_seed(2)
    out, w = mha_query(mha, query, kv)
    w_q, w_k, w_v = mha.in_proj_weight.chunk(3)
    b_q, b_k, b_v = mha.in_proj_bias.chunk(3)
    split = lambda x: x.unflatten(-1, (h, d)).transpose(1, 2)        # noqa: E731  [N, h, L, d]
    q, k, v = split(F.linear(query, w_q, b_q)), split(F.linear(kv, w_k, b_k)), split(F.linear(kv, w_v, b_v))
    weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d), dim=-1)         # [N, h, 1, Lk]
    torch.manual_seed(2)
    dropped = weights * keep_mask((10, 1, h, 9), 0.3).transpose(1, 2)
    ref = mha.out_proj((dropped @ v).transpose(1, 2).flatten(-2))
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(w, dropped.mean(1))


def test_mha_query_is_multihead_attention_in_eval():
    mha = _mha(4).eval()
    query, kv = torch.randn(3, 1, 16), torch.randn(3, 9, 16)
    with torch.no_grad():
        ours, ref = mha_query(mha, query, kv), mha(query, kv, kv, need_weights=True)
    torch.testing.assert_close(ours[0], ref[0], rtol=0, atol=0)
    torch.testing.assert_close(ours[1], ref[1], rtol=0, atol=0)


@pytest.mark.parametrize("heads", [1, 2])
def test_mha_self_equals_multihead_attention(heads):
    """Self-attention (training, no dropout, question padding masked) = ``nn.MultiheadAttention`` without
    weights: output and every gradient."""
    mha = _mha(heads)
    torch.manual_seed(1)
    x = torch.randn(5, 12, 16, requires_grad=True)
    pad = torch.arange(12)[None, :] >= torch.tensor([12, 8, 10, 9, 11])[:, None]

    def run(fn):
        mha.zero_grad()
        x.grad = None
        out = fn()
        out.square().sum().backward()
        return out, grads(mha, x)

    ours = run(lambda: mha_self(mha, x, pad))
    ref = run(lambda: mha(x, x, x, key_padding_mask=pad, need_weights=False)[0])
    torch.testing.assert_close(ours[0], ref[0])
    assert_same_grads(ours[1], ref[1])


def test_mha_self_dropout_masks_the_weights():
    mha = _mha(1, dropout_p=0.3)
    x = torch.randn(5, 12, 16)
    torch.manual_seed(6)
    out = mha_self(mha, x)
    q, k, v = F.linear(x, mha.in_proj_weight, mha.in_proj_bias).chunk(3, dim=-1)
    torch.manual_seed(6)
    ref = mha.out_proj(textbook_attention(q, k, v, keep_mask((5, 12, 12), 0.3)))
    torch.testing.assert_close(out, ref)


# ------------------------------------------------------------------------------------------- question encoder
def packed_question_encoder(enc: QuestionEncoder, tokens: torch.Tensor):
    """The straightforward (packed) one-directional encoder: the LSTM reads only each question's real tokens."""
    real = tokens != 0
    lengths = real.sum(1).clamp(min=1)
    packed = pack_padded_sequence(enc.embed(tokens), lengths, batch_first=True, enforce_sorted=False)
    out, (h_n, _) = enc.lstm(packed)
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=tokens.size(1))
    return h_n[0], out * real.unsqueeze(-1).to(out.dtype)


def test_padded_lstm_equals_the_packed_lstm():
    """The one-directional encoder runs the LSTM over the padding and reads its output at the last real token:
    the sentence vector, the per-token outputs (0 at padding) and every gradient equal the packed LSTM's
    (an all-padding question included)."""
    torch.manual_seed(0)
    enc = QuestionEncoder(30, 16)
    tokens = torch.randint(1, 30, (7, 14))
    lengths = torch.tensor([14, 1, 5, 9, 0, 3, 12])
    tokens[torch.arange(14)[None, :] >= lengths[:, None]] = 0

    def run(fn):
        enc.zero_grad()
        sentence, per_token = fn()
        (sentence.square().sum() + (per_token * torch.linspace(-1, 1, 16)).sum()).backward()
        return sentence, per_token, grads(enc)

    ours = run(lambda: enc(tokens))
    ref = run(lambda: packed_question_encoder(enc, tokens))
    torch.testing.assert_close(ours[0], ref[0])
    torch.testing.assert_close(ours[1], ref[1])
    assert (ours[1][tokens == 0] == 0).all()
    assert_same_grads(ours[2], ref[2])


# ---------------------------------------------------------------------------------------------------- optimiser
def test_fused_adam_equals_foreach_adam():
    """The trainer's fused Adam (``mcd.train.adam``) takes the steps of the for-each Adam the trainer used
    before, with weight decay, to float rounding (rtol 1e-5 and atol 1e-6 after 5 steps)."""
    from mcd.train import adam

    torch.manual_seed(0)
    start = [torch.randn(33, 17), torch.randn(17), torch.randn(4, 4, 3)]
    params = {name: [p.clone().requires_grad_() for p in start] for name in ("fused", "foreach")}
    opts = {"fused": adam(params["fused"], lr=1e-3, betas=(0.9, 0.999), weight_decay=1e-4),
            "foreach": torch.optim.Adam(params["foreach"], lr=1e-3, betas=(0.9, 0.999), weight_decay=1e-4,
                                        foreach=True)}
    for step in range(5):
        g = [torch.randn_like(p) for p in start]
        for name, opt in opts.items():
            for p, gi in zip(params[name], g):
                p.grad = gi.clone()
            opt.step()
    for a, b in zip(params["fused"], params["foreach"]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------------- whole models, fast vs plain
class Straightforward:
    """Replaces every function of ``mcd.models.fast`` by the standard torch call it stands for."""

    @staticmethod
    def dropout(x, p, training=True):
        return F.dropout(x, p, training)

    @staticmethod
    def attention(q, k, v, dropout_p=0.0, training=False):
        return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p if training else 0.0)

    @staticmethod
    def mha_query(mha, query, kv, key_padding_mask=None):
        return mha(query, kv, kv, key_padding_mask=key_padding_mask, need_weights=True)

    @staticmethod
    def mha_self(mha, x, key_padding_mask=None):
        return mha(x, x, x, key_padding_mask=key_padding_mask, need_weights=False)[0]


DIMS = InputDims(audio_dim=12, visual_dim=20, patch_dim=8, num_patches=6, seconds=10, vocab_size=30,
                 num_answers=7)


def _models():
    from mcd.models.avst import AVST, AVSTConfig
    from mcd.models.baselines import MLPConfig, ModalityMLP, QOnlyConfig, QOnlyLSTM
    from mcd.models.mcd import MCD, MCDConfig
    from mcd.models.pstp import PSTPConfig, PSTPNet
    return {
        "mcd": lambda: MCD(MCDConfig(dim=16, heads=4, dropout=0.0, attn_dropout=0.0), DIMS),
        "avst": lambda: AVST(AVSTConfig(dim=16, heads=4, dropout=0.0, match_hidden=[8]), DIMS),
        "pstp": lambda: PSTPNet(PSTPConfig(dim=16, heads=4, top_m=3, reason_heads=2, dropout=0.0), DIMS),
        "mlp": lambda: ModalityMLP(MLPConfig(dim=16, hidden=16, dropout=0.0), DIMS),
        "qonly": lambda: QOnlyLSTM(QOnlyConfig(dim=16, dropout=0.0), DIMS),
    }


@pytest.mark.parametrize("name", ["mcd", "avst", "pstp", "mlp", "qonly"])
def test_each_model_trains_as_with_the_straightforward_operations(name, monkeypatch):
    """A training step's loss and every gradient (dropout 0, so that no mask is drawn) are those of the same model
    built on the standard operations (``Straightforward``) and the packed LSTM."""
    from mcd.profile import training_loss, make_dummy_batch

    batch = make_dummy_batch(DIMS, 6, patches=True, seed=2)
    build = _models()[name]

    def step():
        torch.manual_seed(0)
        model = build().train()
        loss = training_loss(model(batch), batch)
        loss.backward()
        return loss, grads(model)

    ours = step()
    for fn in ("dropout", "attention", "mha_query", "mha_self"):
        for module in ("mcd.models.mcd", "mcd.models.layers", "mcd.models.pstp", "mcd.models.baselines"):
            monkeypatch.setattr(f"{module}.{fn}", getattr(Straightforward, fn), raising=False)
    monkeypatch.setattr(fast, "dropout", Straightforward.dropout)              # what Dropout modules call
    monkeypatch.setattr(QuestionEncoder, "forward", lambda enc, tokens: packed_question_encoder(enc, tokens))
    ref = step()
    torch.testing.assert_close(ours[0], ref[0])
    assert_same_grads(ours[1], ref[1])


# --------------------------------------------------------------------------------------------------- evaluation
@pytest.mark.parametrize("name", ["mcd", "avst", "pstp", "mlp", "qonly"])
def test_evaluation_answers_do_not_depend_on_the_batch(name):
    """The evaluation batch (``mcd.evaluate.eval_batch_size``: 128 on CPU, it was 256) changes no answer: each
    question's logits in eval mode, under ``inference_mode`` (as ``predict`` runs), are those of the questions
    evaluated all at once, in batches of 4 and alone, to float rounding."""
    from mcd.profile import make_dummy_batch

    torch.manual_seed(0)
    model = _models()[name]().eval()
    batch = make_dummy_batch(DIMS, 12, patches=True, seed=3)
    with torch.inference_mode():
        whole = model(batch).logits
        for size in (4, 1):
            parts = [model({k: v[i:i + size] for k, v in batch.items()}).logits for i in range(0, 12, size)]
            torch.testing.assert_close(torch.cat(parts), whole)


# ------------------------------------------------------------------------------------- the float32 matmul library
def _onednn_or_skip():
    from mcd.cpu_matmul import onednn_keeps_fp32
    if not onednn_keeps_fp32():
        pytest.skip("oneDNN would not compute float32 matmuls in float32 on this CPU: the onednn route is not taken")


@pytest.mark.parametrize("name", ["mcd", "avst", "pstp", "mlp", "qonly"])
def test_each_model_trains_on_onednn_as_on_mkl(name):
    """``train.cpu_matmul=onednn`` (the study's route): a training step's loss and every gradient are those of the
    same model with its matmuls on MKL, to float32 rounding (another order of summation): the loss within
    ``assert_close``'s defaults, the gradients within ``assert_same_grads``' bounds; and the route was taken (the
    setting torch reads says so inside, and is restored after)."""
    from mcd.cpu_matmul import cpu_matmul
    from mcd.profile import make_dummy_batch, training_loss

    _onednn_or_skip()
    batch = make_dummy_batch(DIMS, 6, patches=True, seed=2)
    build = _models()[name]

    def step(route):
        before = torch.backends.mkldnn.matmul.fp32_precision
        with cpu_matmul(route) as taken:
            assert taken == route
            torch.manual_seed(0)
            model = build().train()
            loss = training_loss(model(batch), batch)
            loss.backward()
            inside = torch.backends.mkldnn.matmul.fp32_precision
        assert torch.backends.mkldnn.matmul.fp32_precision == before
        return loss, grads(model), inside

    ours, ref = step("onednn"), step("mkl")
    assert (ours[2], ref[2]) == ("bf16", "ieee")          # torch's switch to oneDNN, and its default route
    torch.testing.assert_close(ours[0], ref[0])
    assert_same_grads(ours[1], ref[1])


def test_onednn_products_are_float32_products():
    """Matmuls, linears and batched matmuls of the study's shapes on the onednn route err from the float64 product
    as float32 arithmetic does (relative to the result's scale, below ``PROBE_TOLERANCE`` = 1e-5), and the probe's
    measure tells bfloat16 inputs apart: rounding the inputs to bfloat16 errs by more than 10x that bound."""
    from mcd.cpu_matmul import PROBE_TOLERANCE, cpu_matmul, relative_error

    g = torch.Generator().manual_seed(1)
    x, w = torch.randn(1280, 128, generator=g), torch.randn(128, 128, generator=g)
    a, b = torch.randn(256, 20, 32, generator=g), torch.randn(256, 32, 20, generator=g)
    bf = relative_error(x.bfloat16().float() @ w.bfloat16().float(), x, w)
    assert bf > 10 * PROBE_TOLERANCE
    _onednn_or_skip()
    with cpu_matmul("onednn"):
        products = [(x @ w, x, w), (F.linear(x, w), x, w.t()), (a @ b, a, b), (x.t() @ x, x.t(), x)]
        errors = [relative_error(out, p, q) for out, p, q in products]
    assert max(errors) < PROBE_TOLERANCE, errors


def test_onednn_route_falls_back_to_mkl_where_it_would_round(monkeypatch):
    """Where the probe says oneDNN would not compute in float32, the onednn route runs on MKL, says so in a
    warning, and yields the route taken (which the run records in env.json)."""
    import mcd.cpu_matmul as cm

    monkeypatch.setattr(cm, "onednn_keeps_fp32", lambda: False)
    with pytest.warns(UserWarning, match="run on MKL"):
        with cm.cpu_matmul("onednn") as taken:
            assert taken == "mkl"
            assert torch.backends.mkldnn.matmul.fp32_precision == "ieee"
    with pytest.raises(ValueError, match="cpu_matmul"):
        with cm.cpu_matmul("openblas"):
            pass


def test_aggregator_differentiates_the_chosen_clues_only_as_the_whole_graph_does():
    """The aggregator scores every frame without a graph and forms h again, with its graph, for the Top-k/2 clues
    alone. Its output, chosen clues and every gradient equal those of the straightforward form (h of every frame
    with its graph, then gathered), to float rounding; in eval, under ``inference_mode``, it gathers h directly."""
    from mcd.models.mcd import Aggregator, MCDConfig

    def straightforward(agg, f, f_q, f_tok, tok_mask):
        k = f.size(1)
        F_j = f.mean(1, keepdim=True)
        f_bar = f_q + agg.av_query_text(F_j, f_tok, f_tok, key_mask=tok_mask).squeeze(1)
        tq = agg.text_query_av
        _, att = tq.global_weights(f_bar.unsqueeze(1), f)
        v = tq.v(f).unflatten(-1, (tq.heads, tq.head_dim))
        h = torch.relu(k * (att.squeeze(2).transpose(1, 2).unsqueeze(-1) * v).flatten(-2))
        idx = h.mean(-1).topk(agg.num_clues(k), dim=1).indices.sort(dim=1).values
        h_sel = h.gather(1, idx.unsqueeze(-1).expand(-1, -1, h.size(-1)))
        q = f_q.unsqueeze(1)
        return (q + h_sel * q).sum(1), idx

    torch.manual_seed(0)
    agg = Aggregator(MCDConfig(dim=16, heads=4, attn_dropout=0.0)).train()
    inputs = [torch.randn(6, 10, 16), torch.randn(6, 16), torch.randn(6, 7, 16)]
    mask = torch.ones(6, 7, dtype=torch.bool)
    mask[:, 5:] = False
    results = []
    for form in (agg, lambda *x: straightforward(agg, *x)):
        agg.zero_grad(set_to_none=True)
        xs = [x.clone().requires_grad_() for x in inputs]
        out, idx = form(*xs, mask)
        (out * torch.linspace(-1, 1, 16)).sum().backward()
        results.append((out, idx, grads(agg, *xs)))
    (ours, our_idx, our_grads), (ref, ref_idx, ref_grads) = results
    assert torch.equal(our_idx, ref_idx)
    torch.testing.assert_close(ours, ref)
    assert_same_grads(our_grads, ref_grads)
    with torch.inference_mode():
        out, idx = agg.eval()(*inputs, mask)
        ref, ref_idx = straightforward(agg, *inputs, mask)
    assert torch.equal(idx, ref_idx)
    torch.testing.assert_close(out, ref)
