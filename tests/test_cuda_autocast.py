"""bf16 on CUDA without a GPU: CUDA autocast's dtype policy emulated on CPU tensors, and MCD trained one step under
it for every W^cross reading, so that every custom ``torch.autograd.Function`` of the package runs the way it runs
under ``train.precision=bf16`` on a GPU.

Why an emulation: CPU autocast has another policy (its softmax keeps bf16), and real CUDA autocast only acts on
CUDA tensors. Under CUDA autocast, matmuls and linear layers run in bf16 while softmax and reductions return
float32; a custom Function then saves a mix of dtypes, and its backward, which runs outside autocast unless
decorated with ``torch.amp.custom_bwd``, receives bf16 gradients. That is the class of bug this file catches.

``cuda_autocast_emulation`` does three things:

- ``CudaAutocastPolicy`` (a ``TorchFunctionMode``) casts the floating arguments of CUDA autocast's
  lower-precision ops to the autocast dtype and those of its float32 ops to float32, *while*
  ``torch.is_autocast_enabled("cuda")`` holds, on any device. Other ops run in their inputs' dtypes (type
  promotion is the same on both devices). Casts happen above autograd, as real autocast's do, so backward sees
  them. Limitation: a composite function that is itself a torch function (``nn.MultiheadAttention``'s
  ``F.multi_head_attention_forward``) is seen once, at its top, not op by op; MCD's attention is made of the ops
  listed here.
- ``torch.autocast("cuda")`` is allowed to switch the CUDA flag on without a GPU (it normally refuses), and it
  puts the policy in force for its region, so the forward's ``with torch.autocast("cuda", dtype=torch.bfloat16)``
  and ``custom_bwd``'s re-entry in the backward work as on a GPU.
- ``custom_fwd(cast_inputs=...)`` casts CPU tensors as it casts CUDA ones.

Backward is called after the autocast region is left, so built-in backward formulas run in the dtypes autograd
recorded and a custom backward runs without autocast unless ``custom_bwd`` restores it: the state of CUDA's
backward thread.
"""
from __future__ import annotations

import contextlib
import importlib
import pkgutil

import pytest
import torch
import torch.amp.autocast_mode as autocast_mode
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

import mcd
from mcd.models.base import InputDims
from mcd.models.mcd import MCD, MCDConfig

# CUDA autocast's op lists (PyTorch AMP documentation, "CUDA Ops that can autocast to ..."), as the Python callables
# a model reaches them through: torch.X, Tensor.X, the operator dunders and torch.nn.functional.X.
_LOWER = ["matmul", "mm", "bmm", "baddbmm", "addmm", "addbmm", "addmv", "addr", "mv", "einsum", "chain_matmul",
          "linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
          "prelu", "scaled_dot_product_attention", "lstm", "gru", "__matmul__", "__rmatmul__"]
_FLOAT32 = ["softmax", "log_softmax", "softmin", "sum", "prod", "cumsum", "cumprod", "exp", "expm1", "log", "log2",
            "log10", "log1p", "pow", "__pow__", "__rpow__", "__rtruediv__", "__rdiv__", "reciprocal", "rsqrt",
            "acos", "asin", "cosh", "sinh", "tan", "erfinv", "norm", "normalize", "renorm", "dist", "cdist", "pdist",
            "logsumexp", "layer_norm", "group_norm", "cosine_similarity", "softplus", "cross_entropy", "nll_loss",
            "kl_div", "l1_loss", "smooth_l1_loss", "huber_loss", "mse_loss", "binary_cross_entropy_with_logits",
            "poisson_nll_loss", "cosine_embedding_loss", "hinge_embedding_loss", "margin_ranking_loss",
            "multilabel_margin_loss", "soft_margin_loss", "triplet_margin_loss", "multi_margin_loss"]


def _callables(names: list[str]) -> set:
    out = set()
    for name in names:
        for owner in (torch, torch.Tensor, F, torch.linalg):
            fn = getattr(owner, name, None)
            if callable(fn):
                out.add(fn)
    return out


LOWER_PRECISION_OPS, FLOAT32_OPS = _callables(_LOWER), _callables(_FLOAT32)


def _cast_tree(x, dtype):
    if isinstance(x, torch.Tensor):
        return x.to(dtype) if x.is_floating_point() and x.dtype != torch.float64 else x
    if isinstance(x, (list, tuple)):
        return type(x)(_cast_tree(v, dtype) for v in x)
    if isinstance(x, dict):
        return {k: _cast_tree(v, dtype) for k, v in x.items()}
    return x


class CudaAutocastPolicy(TorchFunctionMode):
    """CUDA autocast's dtype policy for tensors on any device, active while the CUDA autocast flag is on."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if torch.is_autocast_enabled("cuda"):
            if func in LOWER_PRECISION_OPS:
                dtype = torch.get_autocast_dtype("cuda")
                args, kwargs = _cast_tree(args, dtype), _cast_tree(kwargs, dtype)
            elif func in FLOAT32_OPS:
                args, kwargs = _cast_tree(args, torch.float32), _cast_tree(kwargs, torch.float32)
        return func(*args, **kwargs)


class _EmulatedAutocast(torch.autocast):
    """torch.autocast that also puts CudaAutocastPolicy in force inside a CUDA region. The policy has to come with
    the region: the autograd engine runs a backward without the caller's function modes, and it is
    ``custom_bwd``'s own ``autocast`` that must restore it there, as on a GPU."""

    def __enter__(self):
        out = super().__enter__()
        self._policy = CudaAutocastPolicy() if self.device == "cuda" else None
        if self._policy is not None:
            self._policy.__enter__()
        return out

    def __exit__(self, *exc):
        if self._policy is not None:
            self._policy.__exit__(*exc)
        return super().__exit__(*exc)


@contextlib.contextmanager
def cuda_autocast_emulation():
    """See the module docstring. Use as ``with cuda_autocast_emulation(): with torch.autocast("cuda", ...): ...``."""
    mp = pytest.MonkeyPatch()
    mp.setattr(torch.cuda.amp.common, "amp_definitely_not_available", lambda: False)
    mp.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    mp.setattr(autocast_mode, "_cast", lambda value, device_type, dtype: _cast_tree(value, dtype))
    for owner in (torch, torch.amp, autocast_mode):                  # custom_fwd / custom_bwd use autocast_mode's
        mp.setattr(owner, "autocast", _EmulatedAutocast)
    try:
        yield
    finally:
        mp.undo()


def custom_functions() -> list[type]:
    """Every subclass of torch.autograd.Function defined in the ``mcd`` package (all its modules imported)."""
    for info in pkgutil.walk_packages(mcd.__path__, "mcd."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)
    found, todo = [], list(torch.autograd.Function.__subclasses__())
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if cls.__module__.split(".")[0] == "mcd":
            found.append(cls)
    return sorted(set(found), key=lambda c: c.__qualname__)


# ----------------------------------------------------------------------------------------------------------------

B, T, L, D = 6, 8, 14, 32
DIMS = InputDims(audio_dim=16, visual_dim=24, seconds=T, vocab_size=30, num_answers=7, num_qtypes=9, question_len=L)


def make_batch(seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([5, 9, 14, 7, 3, 11])
    question = torch.randint(1, DIMS.vocab_size, (B, L), generator=g)
    question[torch.arange(L)[None, :] >= lengths[:, None]] = 0
    keyword_mask = torch.zeros(B, L, dtype=torch.bool)
    keyword_mask[:, 1] = True
    return {"audio": torch.randn(B, T, DIMS.audio_dim, generator=g),
            "visual": torch.randn(B, T, DIMS.visual_dim, generator=g),
            "question": question, "keyword_mask": keyword_mask, "qtype": torch.arange(B) % DIMS.num_qtypes,
            "label": torch.randint(0, DIMS.num_answers, (B,), generator=g), "video": torch.arange(B)}


class _Recorder:
    """Wraps forward and backward of the given Functions to record the dtypes they see."""

    def __init__(self, classes, monkeypatch):
        self.seen: dict[type, dict] = {}
        for cls in classes:
            monkeypatch.setattr(cls, "forward", staticmethod(self._wrap(cls, "forward", cls.forward)))
            monkeypatch.setattr(cls, "backward", staticmethod(self._wrap(cls, "backward", cls.backward)))

    def _wrap(self, cls, kind, fn):
        def wrapped(ctx, *args):
            dtypes = {a.dtype for a in args if isinstance(a, torch.Tensor) and a.is_floating_point()}
            self.seen.setdefault(cls, {}).setdefault(kind, set()).update(dtypes)
            return fn(ctx, *args)
        return wrapped


def test_the_emulation_applies_cudas_policy_only_inside_cuda_autocast():
    a, b = torch.randn(3, 4), torch.randn(4, 5)
    lin = torch.nn.Linear(4, 2)
    with cuda_autocast_emulation():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            assert torch.is_autocast_enabled("cuda")
            assert (a @ b).dtype == torch.bfloat16 and lin(a).dtype == torch.bfloat16
            assert torch.matmul(a, b).dtype == torch.bfloat16
            h = a.bfloat16()
            assert h.softmax(-1).dtype == torch.float32 and torch.softmax(h, -1).dtype == torch.float32
            assert h.sum().dtype == torch.float32 and F.normalize(h, dim=-1).dtype == torch.float32
            assert (h * a).dtype == torch.float32 and (h + h).dtype == torch.bfloat16   # type promotion as usual
        assert not torch.is_autocast_enabled("cuda") and (a @ b).dtype == torch.float32
    assert not torch.is_autocast_enabled("cuda")


def test_the_package_has_custom_functions_to_check():
    names = [c.__qualname__ for c in custom_functions()]
    assert "_CrossMix" in names                              # control: the discovery finds the one we know


@pytest.mark.parametrize("attention_module", ["linear", "mha"])
def test_mcd_trains_a_step_under_emulated_cuda_bf16(attention_module, monkeypatch):
    """Every reading of W^cross (cross_weights) trains one step under the emulated CUDA bf16 autocast: finite loss,
    finite float32 gradients for every parameter. Every custom autograd Function of the package runs in at least one
    reading, and sees bf16 (the emulation is effective: a float32-only run would not test anything)."""
    functions = custom_functions()
    recorder = _Recorder(functions, monkeypatch)
    for reading in ("projected", "outer", "diag"):
        torch.manual_seed(0)
        model = MCD(MCDConfig(dim=D, heads=4, cross_weights=reading, attention_module=attention_module), DIMS)
        model.train()
        batch = make_batch()
        with cuda_autocast_emulation():
            with torch.autocast("cuda", dtype=torch.bfloat16):
                out = model(batch)
                loss = F.cross_entropy(out.logits.float(), batch["label"]) + sum(out.losses.values())
            assert out.logits.dtype == torch.bfloat16, "the emulated autocast did not act"
            loss.backward()
        assert torch.isfinite(loss), reading
        for name, p in model.named_parameters():
            assert p.grad is not None and p.grad.dtype == p.dtype and torch.isfinite(p.grad).all(), (reading, name)
    missing = [c.__qualname__ for c in functions if "backward" not in recorder.seen.get(c, {})]
    assert not missing, f"custom autograd Functions never run backward by any MCD reading here: {missing}"
    for cls in functions:
        assert torch.bfloat16 in recorder.seen[cls]["forward"] | recorder.seen[cls]["backward"], cls.__qualname__


def test_cross_mix_under_emulated_autocast_matches_the_plain_graph():
    """_CrossMix under the emulated autocast: the output equals the autograd graph it replaces (the same ops in the
    same dtypes), and its gradients agree with that graph's to bf16 rounding."""
    from mcd.models.mcd import _CrossMix
    torch.manual_seed(0)
    f, q, r = (torch.randn(B, T, D, requires_grad=True), torch.randn(B, 1, D, requires_grad=True),
               torch.randn(B, 1, D, requires_grad=True))
    g = torch.randn(B, T, D)

    def run(fn):
        with cuda_autocast_emulation():
            with torch.autocast("cuda", dtype=torch.bfloat16):
                out = fn(f.bfloat16(), q.bfloat16(), r.bfloat16())
            grads = torch.autograd.grad(out, (f, q, r), g.to(out.dtype))
        return out, grads

    out, grads = run(_CrossMix.apply)
    ref, ref_grads = run(lambda f, q, r: f @ torch.softmax(q.transpose(1, 2) @ r, dim=-1).transpose(1, 2))
    assert out.dtype == ref.dtype == torch.bfloat16
    torch.testing.assert_close(out, ref)
    for a, b in zip(grads, ref_grads):
        torch.testing.assert_close(a, b, atol=0.05, rtol=0.02)
