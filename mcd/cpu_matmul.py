"""Which library computes float32 matmuls on CPU: MKL (torch's default) or oneDNN, in float32 either way.

Why: PyTorch's CPU wheels send float32 ``mm``/``addmm``/``bmm`` (every ``nn.Linear``) to MKL's sgemm. On AMD CPUs
MKL does not take its AVX-512 path, and at the study's shapes ([1280, 128] x [128, 128], one thread) it reaches
about 90 GFLOP/s on the 2-core AMD EPYC machine the study is built on, where oneDNN's AVX-512 kernel reaches about
190 (``mcd bench`` measures both in one run). An MCD training step at the default study shape is about a quarter
shorter on oneDNN.

How: torch sends float32 matmuls to oneDNN only when ``torch.backends.mkldnn.matmul.fp32_precision`` is ``"bf16"``.
That setting *allows* oneDNN to round the inputs to bfloat16; whether it does depends on the CPU (it has kernels
that do so on CPUs with AMX; elsewhere, as on this machine, it computes in float32). So the route is taken only
after a probe shows float32 results: :func:`onednn_keeps_fp32` compares a product of random matrices computed on the
route with the same product in float64; float32 arithmetic errs by about 1e-7 of the result's scale, bfloat16
inputs by about 1e-3. Where the probe fails, the matmuls stay on MKL and a warning says why, so a run never trains
in reduced precision without being asked.

The two routes compute the same products with another order of summation, so results differ by float32 rounding
(``tests/test_speed_equivalence.py`` checks a training step of each model); a run's identity names its route.
"""
from __future__ import annotations

import functools
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import torch

ROUTES = ("mkl", "onednn")
PROBE_TOLERANCE = 1e-5      # max |error| / max |exact| that still counts as float32 arithmetic


def _mkldnn_matmul():
    return torch.backends.mkldnn.matmul


@contextmanager
def _precision(value: str) -> Iterator[None]:
    m = _mkldnn_matmul()
    before = m.fp32_precision
    m.fp32_precision = value
    try:
        yield
    finally:
        m.fp32_precision = before


@functools.lru_cache(maxsize=1)
def onednn_keeps_fp32() -> bool:
    """True when float32 matmuls sent to oneDNN are computed in float32 on this CPU (a probe, run once)."""
    if not torch.backends.mkldnn.is_available():
        return False
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(64, 512, generator=g), torch.randn(512, 96, generator=g)
    a3, b3 = torch.randn(8, 20, 64, generator=g), torch.randn(8, 64, 20, generator=g)
    with _precision("bf16"):
        got, got3 = a @ b, a3 @ b3
    return max(relative_error(got, a, b), relative_error(got3, a3, b3)) < PROBE_TOLERANCE


def relative_error(out: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> float:
    """max |out - x @ y| / max |x @ y|, the product taken in float64."""
    exact = x.double() @ y.double()
    return float((out.double() - exact).abs().max() / exact.abs().max())


def check_route(route: str) -> str:
    if route not in ROUTES:
        raise ValueError(f"cpu_matmul must be one of {ROUTES}, got {route!r}")
    return route


@contextmanager
def cpu_matmul(route: str) -> Iterator[str]:
    """While inside, float32 CPU matmuls run on ``route`` (``"mkl"`` or ``"onednn"``); yields the route actually
    taken: ``"mkl"`` when oneDNN was asked for but would not compute in float32 here (with a warning). The setting
    it found is restored on leaving."""
    check_route(route)
    if route == "mkl":
        with _precision("ieee"):
            yield "mkl"
        return
    if not onednn_keeps_fp32():
        warnings.warn("cpu_matmul=onednn: oneDNN would not compute float32 matmuls in float32 on this CPU (a probe "
                      "differed from float64 beyond float32 rounding); they run on MKL", stacklevel=3)
        with _precision("ieee"):
            yield "mkl"
        return
    with _precision("bf16"):      # torch's only switch to oneDNN for float32; the probe showed float32 arithmetic
        yield "onednn"
