"""Model size, operation counts and throughput, in the conventions the paper's Table VIII used and in ours.

Two operation counts are reported, always named:

- **thop-style** (:func:`thop_style_count`): our own re-implementation of ``thop`` 0.1.1 ``profile`` (the tool the
  MCD paper's Table VIII numbers come from, see ``music_avqa_protocol.md``). It counts multiply-accumulates (MACs)
  of the leaf modules whose type is *exactly* one thop knows (Linear, LSTM, Conv, BatchNorm, LayerNorm, ...), and
  "params" as the parameters of those modules that actually ran. Everything else (``nn.MultiheadAttention``,
  ``nn.Embedding``, functional matmuls and einsums, bare ``nn.Parameter`` s) counts zero. The paper calls these
  MACs "FLOPs".
- **torch** (:func:`torch_flops`): ``torch.utils.flop_counter.FlopCounterMode``: 2 FLOPs per multiply-add of every
  matmul / conv / attention kernel the model runs, whatever module (or none) it came from. Elementwise ops,
  norms and softmax are not counted. This is the larger, more honest number.

thop itself is not imported here (it is a test-time cross-check only: ``tests/test_profile.py`` checks that the
two agree exactly).

Throughput (:func:`bench`) is reported as samples/s and, more usefully, as the achieved FLOP/s as a fraction of a
dense matmul of comparable size timed in the same process, so that numbers from different machines compare.
"""
from __future__ import annotations

import copy
import math
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.nn.utils.rnn import PackedSequence

from mcd.models.base import InputDims

__all__ = [
    "param_counts",
    "thop_style_count",
    "thop_hooked_types",
    "torch_flops",
    "profile_table",
    "bench",
    "make_dummy_batch",
    "batch_size_of",
]


# ----------------------------------------------------------------------------------------------------------------
# Parameter counts
# ----------------------------------------------------------------------------------------------------------------

def param_counts(model: nn.Module) -> dict[str, int]:
    """All parameters of ``model`` and those with ``requires_grad`` (each shared tensor counted once).

    This is what a reader means by "parameters"; thop's "params" (:func:`thop_style_count`) is a different thing.
    """
    params = list(model.parameters())  # deduplicated by identity
    return {
        "all": sum(p.numel() for p in params),
        "trainable": sum(p.numel() for p in params if p.requires_grad),
    }


# ----------------------------------------------------------------------------------------------------------------
# thop 0.1.1 convention
# ----------------------------------------------------------------------------------------------------------------
# Each rule is (module, positional inputs, output) -> MACs of one call, written to give exactly the numbers of the
# corresponding hook in thop/vision/basic_hooks.py, thop/vision/calc_func.py and thop/rnn_hooks.py
# (thop==0.1.1.post2209072238). thop accumulates in float64; every per-call contribution is an integer, so the
# integer sums here are the same numbers (exact below 2**53).

def _first(x: tuple, m: nn.Module):
    if not x:
        raise ValueError(f"{type(m).__name__} was called with keyword arguments only; thop's hook reads the "
                         "first positional input and fails on such a call too")
    return x[0]


def _zero(m, x, y) -> int:
    return 0


def _conv(m, x, y) -> int:
    # thop calculate_conv2d_flops: prod(output shape) * (input.shape[1] // groups) * prod(kernel spatial); no bias.
    inp = _first(x, m)
    return math.prod(y.shape) * (inp.shape[1] // m.groups) * math.prod(m.weight.shape[2:])


def _norm(m, x, y) -> int:
    # thop count_normalization: 2 per input element, doubled when the norm has an affine transform
    # (BatchNorm.affine / LayerNorm.elementwise_affine), although the comment says "bn is fused in inference".
    n = 2 * _first(x, m).numel()
    if getattr(m, "affine", False) or getattr(m, "elementwise_affine", False):
        n *= 2
    return n


def _prelu(m, x, y) -> int:
    # thop count_prelu: one per element, only in eval mode (profile always runs in eval mode).
    return 0 if m.training else _first(x, m).numel()


def _softmax(m, x, y) -> int:
    inp = _first(x, m)
    if m.dim is None:
        raise ValueError("nn.Softmax(dim=None): thop's hook indexes x.size()[None] and fails; give the dim")
    nfeatures = inp.size()[m.dim]
    batch = inp.numel() // nfeatures
    return batch * (nfeatures + (nfeatures - 1) + nfeatures)  # exp, add, div


def _avgpool(m, x, y) -> int:
    return y.numel()


def _adaptive_avgpool(m, x, y) -> int:
    # thop: kernel = in_spatial / out_spatial in float64 (a fraction when not divisible), (prod(kernel) + 1) * numel.
    kernel = torch.tensor([*_first(x, m).shape[2:]], dtype=torch.float64) / torch.tensor(
        [*y.shape[2:]], dtype=torch.float64)
    return int((torch.prod(kernel) + 1) * y.numel())


_UPSAMPLE_FACTOR = {"nearest": 1, "linear": 5, "bilinear": 11, "bicubic": 224 + 35}


def _upsample(m, x, y) -> int:
    # thop counts 0 for any other mode, trilinear included (it only logs a warning).
    f = _UPSAMPLE_FACTOR.get(m.mode)
    return 0 if f is None else y.nelement() * f


def _linear(m, x, y) -> int:
    # thop count_linear: in_features per output element; the bias add is not counted.
    return m.in_features * y.numel()


def _rnn_cell_ops(i: int, h: int, bias: bool) -> int:
    ops = h * (i + h) + h
    return ops + (2 * h if bias else 0)


def _gru_cell_ops(i: int, h: int, bias: bool) -> int:
    state = (h + i) * h + h + (2 * h if bias else 0)
    ops = 2 * state
    ops += (h + i) * h + h + (2 * h if bias else 0)
    return ops + h + 3 * h


def _lstm_cell_ops(i: int, h: int, bias: bool) -> int:
    # 4 gates of (i + h) * h multiply-adds + h + 2h for the two biases, then 3h (c') + h (h'): 4h(i+h) + 16h.
    state = (i + h) * h + h + (2 * h if bias else 0)
    return 4 * state + 3 * h + h


def _cell(fn):
    def rule(m, x, y) -> int:
        return int(fn(m.input_size, m.hidden_size, m.bias) * _first(x, m).size(0))
    return rule


def _rnn(fn):
    """thop count_rnn / count_gru / count_lstm: cell ops x layers x directions x steps x batch.

    The batch and step counts are read from the input's shape as thop does (``batch_first`` decides which is which;
    an unbatched 2-D input is misread, as in thop); ``proj_size`` is ignored, as in thop.
    """
    def rule(m, x, y) -> int:
        inp = _first(x, m)
        if isinstance(inp, PackedSequence):
            batch, steps = int(torch.max(inp.batch_sizes)), inp.batch_sizes.size(0)
        elif m.batch_first:
            batch, steps = inp.size(0), inp.size(1)
        else:
            batch, steps = inp.size(1), inp.size(0)
        dirs = 2 if m.bidirectional else 1
        ops = fn(m.input_size, m.hidden_size, m.bias) * dirs
        for _ in range(m.num_layers - 1):
            ops += fn(m.hidden_size * dirs, m.hidden_size, m.bias) * dirs
        return int(ops * steps * batch)
    return rule


def thop_hooked_types() -> dict[type, Callable[[nn.Module, tuple, Any], int]]:
    """thop 0.1.1 ``register_hooks``: exact module type -> MAC rule (same keys, same formulas)."""
    rules: dict[type, Callable] = {
        nn.ZeroPad2d: _zero,
        nn.Conv1d: _conv, nn.Conv2d: _conv, nn.Conv3d: _conv,
        nn.ConvTranspose1d: _conv, nn.ConvTranspose2d: _conv, nn.ConvTranspose3d: _conv,
        nn.BatchNorm1d: _norm, nn.BatchNorm2d: _norm, nn.BatchNorm3d: _norm,
        nn.LayerNorm: _norm,
        nn.InstanceNorm1d: _norm, nn.InstanceNorm2d: _norm, nn.InstanceNorm3d: _norm,
        nn.PReLU: _prelu,
        nn.Softmax: _softmax,
        nn.ReLU: _zero, nn.ReLU6: _zero,
        nn.LeakyReLU: _zero,  # thop count_relu -> calculate_relu_flops -> 0
        nn.MaxPool1d: _zero, nn.MaxPool2d: _zero, nn.MaxPool3d: _zero,
        nn.AdaptiveMaxPool1d: _zero, nn.AdaptiveMaxPool2d: _zero, nn.AdaptiveMaxPool3d: _zero,
        nn.AvgPool1d: _avgpool, nn.AvgPool2d: _avgpool, nn.AvgPool3d: _avgpool,
        nn.AdaptiveAvgPool1d: _adaptive_avgpool, nn.AdaptiveAvgPool2d: _adaptive_avgpool,
        nn.AdaptiveAvgPool3d: _adaptive_avgpool,
        nn.Linear: _linear,
        nn.Dropout: _zero,
        nn.Upsample: _upsample, nn.UpsamplingBilinear2d: _upsample, nn.UpsamplingNearest2d: _upsample,
        nn.RNNCell: _cell(_rnn_cell_ops), nn.GRUCell: _cell(_gru_cell_ops), nn.LSTMCell: _cell(_lstm_cell_ops),
        nn.RNN: _rnn(_rnn_cell_ops), nn.GRU: _rnn(_gru_cell_ops), nn.LSTM: _rnn(_lstm_cell_ops),
        nn.Sequential: _zero,
        nn.PixelShuffle: _zero,
        nn.SyncBatchNorm: _norm,
    }
    return rules


def thop_style_count(model: nn.Module, batch: dict, *, by_module: bool = False):
    """(MACs, params) of one forward of ``model(batch)`` counted exactly as ``thop.profile`` 0.1.1 counts them.

    Count at batch size 1 to reproduce the paper's Table VIII (both numbers are per call; MACs scale with the
    batch, params do not). Returns Python ints; with ``by_module`` also a dict ``{qualified name: (macs, params)}``
    of the hooked modules that contributed.

    The convention, replicated from ``thop/profile.py`` (``profile``, not ``profile_origin``):

    - The model runs once in **eval mode** under ``torch.no_grad`` (its training flag is restored afterwards).
    - A forward hook is registered on every module whose ``type`` is *exactly* a key of thop's ``register_hooks``
      (:func:`thop_hooked_types`); subclasses do not match. So ``nn.MultiheadAttention`` (not a key) and its
      ``out_proj`` (a ``NonDynamicallyQuantizableLinear``, a subclass of ``nn.Linear``) count 0 MACs and 0 params,
      as do ``nn.Embedding``, ``nn.Identity``, ``nn.GELU``/``nn.Tanh``/``nn.Sigmoid`` (not keys), every functional
      op (``torch.matmul``, ``einsum``, ``F.softmax``, attention written by hand) and bare ``nn.Parameter`` s
      (e.g. learned queries, positional tables, MHA's ``in_proj_weight``).
    - A hooked module's "params" is set (not added) to ``sum(p.numel() for p in m.parameters())`` each time it
      runs: all of its parameters, **frozen ones included**, counted once however often it runs; a hooked module
      that never runs counts 0 params. Its MACs add up over calls (a Linear applied twice counts twice).
    - Totals are a depth-first walk over ``named_children``: a hooked module other than ``nn.Sequential`` /
      ``nn.ModuleList`` contributes its own (MACs, params) and is not descended into; anything else is descended
      into and adds its own MACs (0 unless hooked). The root's own params are never counted (thop starts the walk
      with 0), so profiling a bare ``nn.Linear`` gives params 0.
    - A module shared by two parents is walked under each, and ``Module.apply`` (which thop uses to register the
      hooks) visits it once per parent, so its hooks are registered twice: with k parents its MACs count k*k times
      per call and its params k times. Replicated, not endorsed.
    - thop's per-type formulas (see the rule functions): Linear ``in_features x out.numel()`` (no bias);
      Conv ``out.numel() x Cin/groups x prod(kernel)`` (no bias); BatchNorm/LayerNorm/InstanceNorm ``2 x numel``,
      doubled when affine (so 4 per element for a default BN or LayerNorm); LSTM ``4H(I+H) + 16H`` per step,
      direction and layer, i.e. the two bias adds and the gate products counted as MACs; ReLU, Dropout, max
      pooling, Sequential 0.

    Unlike thop this adds no ``total_ops``/``total_params`` buffers to the model (thop leaves them on every
    non-hooked module, changing ``state_dict``), and it removes its hooks even if the forward raises.
    """
    rules = thop_hooked_types()
    ops: dict[nn.Module, int] = {}
    params: dict[nn.Module, int] = {}
    hooked: set[nn.Module] = set()
    handles = []

    def make_hook(rule):
        def hook(m, x, y):
            ops[m] += rule(m, x, y)
            params[m] = sum(p.numel() for p in m.parameters())  # thop count_parameters assigns, never adds
        return hook

    def add_hooks(m: nn.Module):
        ops[m] = 0       # thop re-registers zeroed buffers each visit (before the forward, so no effect)
        params[m] = 0
        rule = rules.get(type(m))
        if rule is not None:
            handles.append(m.register_forward_hook(make_hook(rule)))
            hooked.add(m)

    was_training = model.training
    try:
        model.eval()
        model.apply(add_hooks)  # the same traversal thop uses (a shared module is visited once per parent)
        with torch.no_grad():
            model(batch)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()

    contributions: dict[str, tuple[int, int]] = {}

    def dfs(module: nn.Module, prefix: str) -> tuple[int, int]:
        total_ops, total_params = ops[module], 0
        for name, child in module.named_children():
            qual = f"{prefix}.{name}" if prefix else name
            if child in hooked and not isinstance(child, (nn.Sequential, nn.ModuleList)):
                c_ops, c_params = ops[child], params[child]
                if c_ops or c_params:
                    contributions[qual] = (c_ops, c_params)
            else:
                c_ops, c_params = dfs(child, qual)
            total_ops += c_ops
            total_params += c_params
        return total_ops, total_params

    macs, n_params = dfs(model, "")
    return (macs, n_params, contributions) if by_module else (macs, n_params)


# ----------------------------------------------------------------------------------------------------------------
# torch.utils.flop_counter convention
# ----------------------------------------------------------------------------------------------------------------

def _training_loss(out, batch: dict) -> torch.Tensor:
    """The trainer's objective as far as cost goes: answer cross-entropy plus the model's weighted aux losses."""
    loss = F.cross_entropy(out.logits.float(), batch["label"])
    for v in out.losses.values():
        loss = loss + v.float()
    return loss


class _Decomposed:
    """Turn off the fused kernels the flop counter cannot see, while counting.

    ``FlopCounterMode`` has no formula for ``aten.mkldnn_rnn_layer`` (what ``nn.LSTM`` runs on CPU),
    ``aten._cudnn_rnn``, ``aten._native_multi_head_attention`` (the "fast path" that ``nn.MultiheadAttention``
    and ``nn.TransformerEncoderLayer`` take in eval mode under ``no_grad``) or
    ``aten._scaled_dot_product_flash_attention_for_cpu`` (CPU SDPA), so with them on an LSTM or an attention layer
    counts 0 FLOPs. With them off (and SDPA forced to its math backend) the same computation runs as
    ``addmm``/``mm``/``bmm`` calls that are counted, e.g. ``2 x B x T x 4H(I+H)`` per LSTM direction and layer
    (forward). Only counting is affected; :func:`bench` times the fused kernels.
    """

    def __enter__(self):
        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore")  # the mkldnn flags context warns about TF32 on builds without Intel GPUs
        self._mk = torch.backends.mkldnn.flags(enabled=False)
        self._cu = torch.backends.cudnn.flags(enabled=False)
        self._mk.__enter__()
        self._cu.__enter__()
        self._mha = torch.backends.mha.get_fastpath_enabled()
        torch.backends.mha.set_fastpath_enabled(False)
        self._sdpa = sdpa_kernel([SDPBackend.MATH])
        self._sdpa.__enter__()
        return self

    def __exit__(self, *exc):
        self._sdpa.__exit__(*exc)
        torch.backends.mha.set_fastpath_enabled(self._mha)
        self._cu.__exit__(*exc)
        self._mk.__exit__(*exc)
        self._w.__exit__(*exc)
        return False


class _GlobalOnly:
    """Stands in for ``FlopCounterMode``'s ``ModuleTracker``, which only serves the per-module breakdown.

    The tracker's forward pre-hooks fail (``AssertionError: Expected gradient function to be set``) when a module
    receives a view of a parameter made under ``torch.no_grad`` (e.g. ``self.query.expand(B, -1, -1)`` passed to
    ``nn.MultiheadAttention``), which learned-query models do; the total needs no module attribution.
    """

    parents = {"Global"}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _flop_counter():
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    if hasattr(counter, "mod_tracker"):
        counter.mod_tracker = _GlobalOnly()
    return counter


def torch_flops(model: nn.Module, batch: dict, *, backward: bool = False) -> int:
    """FLOPs of one call of ``model(batch)`` by ``torch.utils.flop_counter.FlopCounterMode`` (whole batch).

    2 FLOPs per multiply-add of every matmul (``mm``, ``addmm``, ``bmm``, ``baddbmm``), convolution and fused
    attention kernel, wherever it comes from (modules thop does not hook, functional matmuls, einsums included);
    elementwise ops, norms, softmax and reductions count 0. RNN and fast-path attention kernels are counted
    through their decomposition (see :class:`_Decomposed`).

    ``backward=False``: one forward in eval mode under ``torch.no_grad`` (the inference cost, the same setting
    as :func:`thop_style_count`). ``backward=True``: forward in train mode plus the backward of the training loss
    (cross-entropy on ``batch['label']`` plus ``ModelOutput.losses``), i.e. the FLOPs of one training step except
    the optimizer's elementwise update. The model's ``.grad`` s, training flag and the RNG state are left as they
    were.
    """
    was_training = model.training
    params = [p for p in model.parameters()]
    old_grads = [p.grad for p in params]
    devices = [batch[k].device for k in batch if torch.is_tensor(batch[k]) and batch[k].is_cuda]
    try:
        with torch.random.fork_rng(devices=devices[:1]), _Decomposed():
            counter = _flop_counter()
            if backward:
                model.train()
                for p in params:
                    p.grad = None
                with counter:
                    _training_loss(model(batch), batch).backward()
            else:
                model.eval()
                with torch.no_grad(), counter:
                    model(batch)
    finally:
        model.train(was_training)
        for p, g in zip(params, old_grads):
            p.grad = g
    return int(counter.get_total_flops())


# ----------------------------------------------------------------------------------------------------------------
# Table
# ----------------------------------------------------------------------------------------------------------------

def batch_size_of(batch: dict) -> int:
    """B of a batch dict: the leading dim of ``question`` (or of the first tensor)."""
    if "question" in batch:
        return int(batch["question"].shape[0])
    for v in batch.values():
        if torch.is_tensor(v):
            return int(v.shape[0])
    raise ValueError("batch holds no tensor")


def _paper_pair(v) -> tuple[float, float]:
    if isinstance(v, Mapping):
        p = v.get("params_m", v.get("training_params_m"))
        f = v.get("flops_g")
        return float(p), float(f)
    p, f = v
    return float(p), float(f)


def profile_table(
    entries: Iterable[tuple],
    batch_maker: Callable[[str], dict] | None = None,
    *,
    paper: Mapping[str, Any] | None = None,
):
    """One row per model: its parameters and operation counts in both conventions, beside the paper's numbers.

    ``entries``: ``(name, model, batch)`` rows; ``batch`` may be ``None`` (or the row just ``(name, model)``),
    then ``batch_maker(name)`` makes it. Use batch size 1 for the paper's convention; the per-sample columns
    divide by the batch size (exact for the thop convention, which is linear in the batch).

    ``paper``: optional ``{name: (params_M, flops_G)}`` (or ``{name: {"params_m"|"training_params_m": ..,
    "flops_g": ..}}``), the paper's Table VIII numbers, supplied by the caller (``mcd/paper_numbers``); names
    missing from it get NaN.

    Columns: ``params_all_M``, ``params_trainable_M`` (:func:`param_counts`), ``thop_params_M``,
    ``thop_GMACs_per_sample`` (:func:`thop_style_count`, the paper's "FLOPs"), ``torch_GFLOPs_per_sample``
    (:func:`torch_flops`, forward), ``batch_size``; with ``paper``: ``paper_params_M``, ``paper_GFLOPs`` and the
    ratios ``thop_params_over_paper``, ``trainable_params_over_paper``, ``thop_GMACs_over_paper``,
    ``torch_GFLOPs_over_paper``.
    """
    import pandas as pd

    rows = []
    for entry in entries:
        name, model = entry[0], entry[1]
        batch = entry[2] if len(entry) > 2 else None
        if batch is None:
            if batch_maker is None:
                raise ValueError(f"no batch for {name!r} and no batch_maker")
            batch = batch_maker(name)
        b = batch_size_of(batch)
        pc = param_counts(model)
        macs, tparams = thop_style_count(model, batch)
        flops = torch_flops(model, batch)
        row = {
            "name": name,
            "params_all_M": pc["all"] / 1e6,
            "params_trainable_M": pc["trainable"] / 1e6,
            "thop_params_M": tparams / 1e6,
            "thop_GMACs_per_sample": macs / b / 1e9,
            "torch_GFLOPs_per_sample": flops / b / 1e9,
            "batch_size": b,
        }
        if paper is not None:
            pp, pf = _paper_pair(paper[name]) if name in paper else (math.nan, math.nan)
            row.update({
                "paper_params_M": pp,
                "paper_GFLOPs": pf,
                "thop_params_over_paper": row["thop_params_M"] / pp,
                "trainable_params_over_paper": row["params_trainable_M"] / pp,
                "thop_GMACs_over_paper": row["thop_GMACs_per_sample"] / pf,
                "torch_GFLOPs_over_paper": row["torch_GFLOPs_per_sample"] / pf,
            })
        rows.append(row)
    return pd.DataFrame(rows).set_index("name")


# ----------------------------------------------------------------------------------------------------------------
# Throughput
# ----------------------------------------------------------------------------------------------------------------

def _to(batch: dict, device) -> dict:
    return {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time(fn: Callable[[], Any], steps: int, warmup: int, device: torch.device) -> float:
    """Seconds per call of ``fn`` averaged over ``steps`` calls after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    _sync(device)
    return (time.perf_counter() - t0) / steps


def _tokens(batch: dict, b: int) -> int:
    """Rows of the reference matmul: B x T of the per-second features (B x 16 if there are none)."""
    for key in ("audio", "visual", "patches"):
        v = batch.get(key)
        if torch.is_tensor(v) and v.dim() >= 3:
            return int(v.shape[0] * v.shape[1])
    return b * 16


def bench(
    model: nn.Module,
    batch_maker: Callable[[int], dict],
    *,
    batch_size: int,
    steps: int,
    warmup: int,
    train: bool = True,
    device: str | torch.device = "cpu",
    precision: str = "fp32",
    lr: float = 1e-3,
    ref_dim: int = 512,
) -> dict:
    """Training and inference throughput of ``model`` at ``batch_size``, and its efficiency against a dense matmul.

    ``batch_maker(batch_size)`` gives one batch dict (e.g. ``lambda b: make_dummy_batch(dims, b)``); it is moved
    to ``device`` once and reused for every step, so data loading is not measured. ``model`` is not modified:
    a deep copy is moved to ``device`` and trained. ``precision``: ``"fp32"`` or ``"bf16"`` (autocast, CUDA only).

    Measured, all in this one process and run:

    - inference: ``model(batch)`` in eval mode under ``torch.inference_mode``;
    - training (``train=True``): forward, the training loss (answer cross-entropy + ``ModelOutput.losses``),
      backward and an ``Adam`` step, in train mode;
    - a reference: ``[B*T, ref_dim] @ [ref_dim, ref_dim]`` repeated ``reps`` times per step, ``reps`` chosen so
      that its FLOPs per step match the model's forward FLOPs, in the same dtype.

    FLOPs per step come from :func:`torch_flops`: the forward (eval) for inference and forward + backward
    measured by the flop counter (not the 3x-forward estimate) for training; the Adam update is not counted.
    The fractions ``*_fraction_of_matmul`` are achieved FLOP/s over the reference matmul's FLOP/s; a model made
    of big matmuls approaches 1, one dominated by small or elementwise ops stays far below. CUDA is synchronized
    around every timed region. Only ratios measured in one run should be compared across machines.
    """
    device = torch.device(device)
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"precision must be 'fp32' or 'bf16', got {precision!r}")
    bf16 = precision == "bf16"
    if bf16 and device.type != "cuda":
        raise ValueError("bf16 autocast is supported on CUDA only")
    if steps < 1 or warmup < 0:
        raise ValueError("steps must be >= 1 and warmup >= 0")

    work = copy.deepcopy(model).to(device)
    batch = _to(batch_maker(batch_size), device)
    b = batch_size_of(batch)

    def autocast():
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16)

    infer_flops = torch_flops(work, batch)
    out: dict[str, Any] = {
        "device": str(device),
        "precision": precision,
        "threads": torch.get_num_threads(),
        "batch_size": b,
        "steps": steps,
        "warmup": warmup,
        "infer_flops_per_step": infer_flops,
    }

    # inference
    work.eval()

    def infer_step():
        with torch.inference_mode(), autocast():
            work(batch)

    t_inf = _time(infer_step, steps, warmup, device)
    out.update({"infer_step_s": t_inf, "infer_samples_per_s": b / t_inf, "infer_flops_per_s": infer_flops / t_inf})

    # training
    if train:
        train_flops = torch_flops(work, batch, backward=True)
        work.train()
        opt = torch.optim.Adam([p for p in work.parameters() if p.requires_grad], lr=lr)

        def train_step():
            opt.zero_grad(set_to_none=True)
            with autocast():
                loss = _training_loss(work(batch), batch)
            loss.backward()
            opt.step()

        t_tr = _time(train_step, steps, warmup, device)
        out.update({
            "train_flops_per_step": train_flops,
            "train_flops_source": "flop counter, forward + backward (Adam update not counted)",
            "train_step_s": t_tr,
            "train_samples_per_s": b / t_tr,
            "train_flops_per_s": train_flops / t_tr,
            "train_over_infer_step_time": t_tr / t_inf,
        })

    # reference dense matmul of comparable size
    m_rows, k = _tokens(batch, b), ref_dim
    per_mm = 2 * m_rows * k * k
    reps = max(1, round(infer_flops / per_mm))
    dtype = torch.bfloat16 if bf16 else torch.float32
    gen = torch.Generator(device="cpu").manual_seed(0)
    a = torch.randn(m_rows, k, generator=gen).to(device=device, dtype=dtype)
    w = (torch.randn(k, k, generator=gen) / math.sqrt(k)).to(device=device, dtype=dtype)
    c = torch.empty(m_rows, k, device=device, dtype=dtype)

    def mm_step():
        with torch.inference_mode():
            for _ in range(reps):
                torch.matmul(a, w, out=c)

    t_mm = _time(mm_step, steps, warmup, device)
    mm_rate = reps * per_mm / t_mm
    out.update({
        "matmul_shape": (m_rows, k, k),
        "matmul_reps": reps,
        "matmul_flops_per_s": mm_rate,
        "infer_fraction_of_matmul": out["infer_flops_per_s"] / mm_rate,
    })
    if train:
        out["train_fraction_of_matmul"] = out["train_flops_per_s"] / mm_rate
    del work
    return out


# ----------------------------------------------------------------------------------------------------------------
# Dummy batches
# ----------------------------------------------------------------------------------------------------------------

def make_dummy_batch(
    dims: InputDims,
    batch_size: int,
    *,
    patches: bool = False,
    options: int | bool | None = None,
    seed: int = 0,
    option_len: int = 4,
) -> dict[str, torch.Tensor]:
    """A random but valid batch dict (see ``mcd.models.base``), on CPU, reproducible from ``seed``.

    Questions have 3..L real tokens (ids 1..vocab_size-1) then padding 0; ``keyword_mask`` marks one or two real
    tokens (never padding). ``patches=True`` adds ``patches`` [B, T, P, Cp] (``dims`` must give patch_dim and
    num_patches). ``options``: the number K of multiple-choice candidates, each ``option_len`` tokens; ``None``
    uses ``dims.num_options`` (no options when that is None too), ``False`` none, ``True`` ``dims.num_options``
    (or 4). ``label`` indexes the answers, or the options when there are options.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    if dims.vocab_size < 2:
        raise ValueError("vocab_size must be >= 2 (0 is <pad>)")
    g = torch.Generator().manual_seed(seed)
    b, t, length = batch_size, dims.seconds, dims.question_len
    batch: dict[str, torch.Tensor] = {
        "audio": torch.randn(b, t, dims.audio_dim, generator=g),
        "visual": torch.randn(b, t, dims.visual_dim, generator=g),
    }
    if patches:
        if dims.patch_dim is None or dims.num_patches is None:
            raise ValueError("patches=True needs dims.patch_dim and dims.num_patches")
        batch["patches"] = torch.randn(b, t, dims.num_patches, dims.patch_dim, generator=g)

    lo = min(3, length)
    lengths = torch.randint(lo, length + 1, (b,), generator=g)
    pos = torch.arange(length).unsqueeze(0)
    real = pos < lengths.unsqueeze(1)
    question = torch.randint(1, dims.vocab_size, (b, length), generator=g) * real
    # one or two keyword positions among the real tokens
    keyword = torch.zeros(b, length, dtype=torch.bool)
    for i in range(b):
        n = int(lengths[i])
        k = int(torch.randint(1, min(2, n) + 1, (1,), generator=g))
        keyword[i, torch.randperm(n, generator=g)[:k]] = True
    batch.update({
        "question": question.long(),
        "keyword_mask": keyword,
        "qtype": torch.randint(0, dims.num_qtypes, (b,), generator=g),
        "video": torch.arange(b),                                  # every sample its own (random) video
    })

    if options is None:
        n_opt = dims.num_options
    elif options is True:
        n_opt = dims.num_options or 4
    elif options is False:
        n_opt = None
    else:
        n_opt = int(options)
    if n_opt:
        batch["options"] = torch.randint(1, dims.vocab_size, (b, n_opt, option_len), generator=g)
        batch["label"] = torch.randint(0, n_opt, (b,), generator=g)
    else:
        batch["label"] = torch.randint(0, dims.num_answers, (b,), generator=g)
    return batch


# ----------------------------------------------------------------------------------------------------------------
# The Table VIII report and the bench command
# ----------------------------------------------------------------------------------------------------------------

# The shapes each model was counted at in the papers: Music-AVQA, VGGish audio, 60 s (AVST keeps every 6th),
# ResNet-18 14x14 patches for AVST, CLIP ViT-B/32 frames and 7x7 patches for the others, 93 words, 42 answers.
PAPER_SHAPES = {
    "avst": InputDims(audio_dim=128, visual_dim=512, patch_dim=512, num_patches=196, seconds=10, vocab_size=93),
    "pstp": InputDims(audio_dim=128, visual_dim=512, patch_dim=512, num_patches=49, seconds=60, vocab_size=93),
    "default": InputDims(audio_dim=128, visual_dim=512, seconds=60, vocab_size=93),
}
# Our row name -> the paper's Table VIII row.
PAPER_ROWS = {"AVST": "AVST", "PSTP-Net": "PSTP-Net", "MCD N=1": "MCD AB N=1", "MCD N=2": "MCD AB N=2",
              "MCD N=3": "MCD AB N=3"}


def report_models(overrides: list[str] | None = None) -> list[tuple[str, str, list[str]]]:
    """(row name, model name, config overrides) of every model in the package, MCD at N = 1, 2, 3."""
    rows = [(f"MCD N={n}", "mcd", [f"model.mcd.num_blocks={n}"]) for n in (1, 2, 3)]
    rows += [("AVST", "avst", []), ("PSTP-Net", "pstp", []), ("Q-only LSTM", "qonly", []),
             ("MLP Q+A+V", "mlp", ["model.mlp.modalities=qav"])]
    return [(name, model, o + list(overrides or [])) for name, model, o in rows]


def _build(model: str, overrides: list[str]) -> tuple[nn.Module, InputDims]:
    from mcd.config import load_config
    from mcd.models.registry import build_model
    cfg = load_config(None, [f"model.name={model}", *overrides])
    dims = PAPER_SHAPES.get(model, PAPER_SHAPES["default"])
    torch.manual_seed(0)
    return build_model(cfg.model, dims).eval(), dims


def profile_report(overrides: list[str] | None = None):
    """Table VIII: parameters and per-sample cost of every model at batch 1, beside the paper's numbers."""
    from mcd.paper import paper_table
    paper = paper_table("VIII").set_index("method")
    entries, paper_numbers = [], {}
    for name, model, o in report_models(overrides):
        m, dims = _build(model, o)
        entries.append((name, m, make_dummy_batch(dims, 1, patches=dims.patch_dim is not None)))
        if PAPER_ROWS.get(name) in paper.index:
            row = paper.loc[PAPER_ROWS[name]]
            paper_numbers[name] = (row["training_params_m"], row["flops_g"])
    return profile_table(entries, paper=paper_numbers)


def bench_report(models: list[str], overrides: list[str] | None = None, *, batch_size: int = 64, steps: int = 10,
                 device: str = "cpu", precision: str = "fp32"):
    """Samples/s for training and inference at the papers' shapes, with achieved FLOP/s as a fraction of a dense
    matmul timed in the same process."""
    import pandas as pd
    rows = {}
    for name, model, o in report_models(overrides):
        if model not in models and name not in models:
            continue
        m, dims = _build(model, o)
        rows[name] = bench(m, lambda b: make_dummy_batch(dims, b, patches=dims.patch_dim is not None),
                           batch_size=batch_size, steps=steps, warmup=2, device=device, precision=precision)
    return pd.DataFrame(rows).T
