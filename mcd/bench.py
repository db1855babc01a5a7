"""Throughput: ``mcd bench``, samples/s and the achieved FLOP/s as a fraction of a dense matmul timed in the same
process, so that numbers from different machines, threads and devices compare.

The FLOPs per step come from :func:`mcd.profile.torch_flops`; the models are built as :mod:`mcd.profile` builds
them for Table VIII, at the study's shape (what the study trains) and at the paper's shape.
"""
from __future__ import annotations

import copy
import math
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from mcd.models.base import InputDims
from mcd.profile import (
    PAPER_SHAPES,
    batch_size_of,
    build_model,
    format_notes,
    paper_batch,
    report_models,
    torch_flops,
    training_loss,
)

__all__ = [
    "BenchCase",
    "bench",
    "bench_cases",
    "bench_frame",
    "bench_heading",
    "bench_notes",
    "bench_report",
    "bench_top_ops",
    "check_device",
    "flop_kernel_breakdown",
    "format_bench",
    "paper_batch_size",
    "study_shape",
]


def _to(batch: dict, device) -> dict:
    return {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time(fn: Callable[[], Any], steps: int, device: torch.device) -> float:
    """Seconds per call of ``fn`` over ``steps`` calls."""
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


# The CPU kernels that carry the FLOPs torch_flops counts (matmuls, the LSTM's fused kernels, convolutions, fused
# attention), by the profiler's name; everything else in a step (elementwise ops, norms, softmax, copies, the
# optimizer, dispatch) does work the FLOP count gives 0.
FLOP_KERNELS = frozenset({
    "aten::mm", "aten::bmm", "aten::addmm", "aten::baddbmm", "aten::addbmm", "aten::_addmm_activation",
    "aten::mkldnn_rnn_layer", "aten::mkldnn_rnn_layer_backward", "aten::mkldnn_convolution",
    "aten::convolution_backward", "aten::_slow_conv2d_forward", "aten::_slow_conv2d_backward",
    "aten::_scaled_dot_product_flash_attention_for_cpu", "aten::_scaled_dot_product_flash_attention_for_cpu_backward",
})


def flop_kernel_breakdown(step: Callable[[], Any], steps: int, *, top: int = 6) -> dict:
    """Where ``steps`` calls of ``step`` spend their time on CPU, by torch's profiler: ``kernel_share``, the
    FLOP-carrying kernels' self time (``FLOP_KERNELS``) over the wall time of the same profiled calls, and
    ``top_ops``, the ``top`` ops by self time with their share of the profiled self time, as text. Both sides of
    the share come from the same calls, so a slow moment of the machine slows both; the profiler's own overhead
    (microseconds per op) falls on the wall time only, so the share errs low, never high."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        wall = time.perf_counter() - t0
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events) or 1.0
    kernels = sum(e.self_cpu_time_total for e in events if e.key in FLOP_KERNELS) / 1e6
    ranked = sorted(events, key=lambda e: -e.self_cpu_time_total)[:top]
    return {"kernel_share": kernels / wall,
            "top_ops": ", ".join(f"{e.key.removeprefix('aten::')} {e.self_cpu_time_total / total:.0%}"
                                 for e in ranked)}


def check_device(device: str | torch.device, precision: str) -> torch.device:
    """The device and precision a benchmark can run in, or a ValueError saying why not."""
    device = torch.device(device)
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"precision must be 'fp32' or 'bf16', got {precision!r}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device}: CUDA is not available here (torch.cuda.is_available() is False)")
    if precision == "bf16" and device.type != "cuda":
        raise ValueError("precision bf16 (autocast) is benchmarked on CUDA only")
    return device


def bench(model: nn.Module, batch_maker: Callable[[int], dict], *, batch_size: int, steps: int, repeats: int = 3,
          warmup: int = 1, train: bool = True, device: str | torch.device = "cpu", precision: str = "fp32",
          lr: float = 1e-3, ref_dim: int = 512, cpu_matmul: str = "mkl", breakdown: bool = False) -> dict:
    """Training and inference throughput of ``model`` at ``batch_size``, and its efficiency against a dense matmul.

    ``batch_maker(batch_size)`` gives one batch dict, moved to ``device`` once and reused for every step, so data
    loading is not measured. ``model`` is not modified: a deep copy is moved to ``device`` and trained.
    ``precision``: ``"fp32"``, or ``"bf16"`` (autocast, CUDA only). ``cpu_matmul``: the library of the float32 CPU
    matmuls (``mcd.cpu_matmul``), for the model and the reference alike; the row says the one that ran.

    Measured in this one process, ``repeats`` times, each repeat timing ``steps`` calls of each of:

    - inference: ``model(batch)`` in eval mode under ``torch.inference_mode``;
    - training (``train=True``): forward, the training loss (answer cross-entropy + ``ModelOutput.losses``),
      backward and a step of the trainer's Adam (``mcd.train.adam``), in train mode;
    - the reference, a dense matmul ``[B*T, ref_dim] @ [ref_dim, ref_dim]`` in the same dtype, repeated so that
      one reference step does as many FLOPs as the model's forward: the machine's dense matmul rate at the
      model's own scale (not its peak), measured beside the model so that both see the same load.

    FLOPs per step come from :func:`torch_flops`: the forward (eval) for inference, forward + backward by the flop
    counter for training (the Adam update not counted). ``*_fraction_of_matmul`` is the achieved FLOP/s over the
    reference's FLOP/s in the same repeat; a model made of big matmuls approaches 1, one dominated by small or
    elementwise ops stays far below. Every per-repeat figure is reported as the median (the plain key) and
    ``_min``, ``_max`` and ``_each`` (the list). CUDA is synchronized around every timed region.
    """
    from mcd.cpu_matmul import cpu_matmul as matmul_route

    with matmul_route(cpu_matmul) as route:
        out = _bench(model, batch_maker, batch_size=batch_size, steps=steps, repeats=repeats, warmup=warmup,
                     train=train, device=device, precision=precision, lr=lr, ref_dim=ref_dim,
                     breakdown=breakdown)
    return {**out, "cpu_matmul": route if torch.device(out["device"]).type == "cpu" else None}


def _bench(model, batch_maker, *, batch_size, steps, repeats, warmup, train, device, precision, lr,
           ref_dim, breakdown) -> dict:
    from mcd.train import adam

    device = check_device(device, precision)
    if steps < 1 or warmup < 0 or repeats < 1:
        raise ValueError("steps and repeats must be >= 1 and warmup >= 0")
    bf16 = precision == "bf16"
    work = copy.deepcopy(model).to(device)
    batch = _to(batch_maker(batch_size), device)
    b = batch_size_of(batch)

    def autocast():
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16)

    infer_flops = torch_flops(work, batch, textbook=False)          # what runs: the reassociated attention
    train_flops = torch_flops(work, batch, backward=True, textbook=False) if train else None
    opt = adam([p for p in work.parameters() if p.requires_grad], lr=lr)   # the trainer's optimizer

    def infer_step():
        work.eval()
        with torch.inference_mode(), autocast():
            work(batch)

    def train_step():
        work.train()
        opt.zero_grad(set_to_none=True)
        with autocast():
            loss = training_loss(work(batch), batch)
        loss.backward()
        opt.step()

    m_rows, k = _tokens(batch, b), ref_dim
    per_mm = 2 * m_rows * k * k
    reps = max(1, round(infer_flops / per_mm))
    dtype = torch.bfloat16 if bf16 else torch.float32
    gen = torch.Generator(device="cpu").manual_seed(0)
    a = torch.randn(m_rows, k, generator=gen).to(device=device, dtype=dtype)
    w = (torch.randn(k, k, generator=gen) / math.sqrt(k)).to(device=device, dtype=dtype)
    c = torch.empty(m_rows, k, device=device, dtype=dtype)

    def matmul_step():
        with torch.inference_mode():
            for _ in range(reps):
                torch.matmul(a, w, out=c)

    timed = {"infer": infer_step, "matmul": matmul_step, **({"train": train_step} if train else {})}
    for fn in timed.values():
        for _ in range(warmup):
            fn()
    each: dict[str, list[float]] = {}
    for _ in range(repeats):
        t = {name: _time(fn, steps, device) for name, fn in timed.items()}
        mm_rate = reps * per_mm / t["matmul"]
        figures = {"matmul_flops_per_s": mm_rate, "infer_samples_per_s": b / t["infer"],
                   "infer_fraction_of_matmul": infer_flops / t["infer"] / mm_rate}
        if train:
            figures.update({"train_samples_per_s": b / t["train"],
                            "train_fraction_of_matmul": train_flops / t["train"] / mm_rate,
                            "train_over_infer_step_time": t["train"] / t["infer"]})
        for key, v in figures.items():
            each.setdefault(key, []).append(v)

    out: dict[str, Any] = {"device": str(device), "precision": precision, "threads": torch.get_num_threads(),
                           "batch_size": b, "steps": steps, "repeats": repeats, "warmup": warmup,
                           "infer_flops_per_step": infer_flops, "train_flops_per_step": train_flops,
                           "matmul_shape": f"[{m_rows}, {k}] x [{k}, {k}]", "matmul_dim": k, "matmul_reps": reps}
    for key, values in each.items():
        out.update({key: statistics.median(values), f"{key}_min": min(values), f"{key}_max": max(values),
                    f"{key}_each": values})
    out.update({"train_kernel_share": None, "train_ceiling_of_matmul": None, "train_top_ops": None})
    if breakdown and train and device.type == "cpu":
        parts = flop_kernel_breakdown(train_step, steps)
        share = parts["kernel_share"]
        out.update({"train_kernel_share": share,
                    "train_ceiling_of_matmul": out["train_fraction_of_matmul"] / share if share else None,
                    "train_top_ops": parts["top_ops"]})
    return out


@dataclass(frozen=True)
class BenchCase:
    """One row of ``mcd bench``: a model at a shape and batch size."""

    model: str                  # row name, e.g. "MCD N=2"
    shape: str                  # "study default" | "paper"
    arch: str                   # registry name
    overrides: tuple[str, ...]
    dims: InputDims
    batch_size: int
    cpu_matmul: str = "mkl"     # the library of float32 CPU matmuls (mcd.cpu_matmul)

    @property
    def dim(self) -> int:
        """The model's width D under ``overrides``."""
        from mcd.config import load_config
        from mcd.models.registry import config_key
        cfg = load_config(None, [f"model.name={self.arch}", *self.overrides])
        return getattr(cfg.model, config_key(self.arch)).dim


def study_shape() -> tuple[InputDims, tuple[str, ...], int]:
    """(input dims, model overrides, batch size) of the default study: D and the batch from
    ``STUDY_PROFILES['default']``, T and the audio and visual widths from its SynthAVQA profile. SynthAVQA asks
    Music-AVQA's question templates, so its vocabulary has Music-AVQA's size (``PAPER_SHAPES``)."""
    from mcd.data.synth import PROFILES
    from mcd.study import STUDY_PROFILES

    study = STUDY_PROFILES["default"]
    synth = PROFILES[study.synth]
    dims = InputDims(audio_dim=synth.audio_dim, visual_dim=synth.channels, seconds=synth.seconds,
                     vocab_size=PAPER_SHAPES["default"].vocab_size)
    model = (f"model.mcd.dim={study.dim}", *(o for o in study.extra if o.startswith("model.")))
    return dims, model, study.batch_size


def paper_batch_size(device: str | torch.device) -> int:
    """The paper recipe's batch (``STUDY_PROFILES['paper']``) on CUDA; 8 on a CPU, so that ``mcd bench`` ends
    within a minute on 2 cores (one D = 512 training step at batch 64 takes seconds there)."""
    from mcd.study import STUDY_PROFILES
    return STUDY_PROFILES["paper"].batch_size if torch.device(device).type == "cuda" else 8


def bench_cases(*, all_models: bool = False, overrides: Iterable[str] = (), batch_size: int | None = None,
                device: str | torch.device = "cpu") -> list[BenchCase]:
    """MCD at the default study's shape, then MCD at the paper's shape (``all_models``: every model of
    :func:`report_models` as we train it, at the paper's shapes). ``batch_size`` None: the study's batch, and
    :func:`paper_batch_size` at the paper's shapes."""
    from mcd.models.mcd import MCDConfig

    from mcd.study import STUDY_PROFILES

    o = tuple(overrides)
    dims, study_model, study_batch = study_shape()
    route = STUDY_PROFILES["default"].cpu_matmul
    mcd = f"MCD N={MCDConfig().num_blocks}"
    cases = [BenchCase(mcd, "study default", "mcd", study_model + o, dims, batch_size or study_batch, route)]
    if route != "mkl" and torch.device(device).type == "cpu":     # the same step on torch's default route
        cases.append(BenchCase(mcd, "study default", "mcd", study_model + o, dims, batch_size or study_batch, "mkl"))
    paper_batch = batch_size or paper_batch_size(device)
    if all_models:
        cases += [BenchCase(r.name, "paper", r.model, r.overrides, PAPER_SHAPES.get(r.model, PAPER_SHAPES["default"]),
                            paper_batch, route) for r in report_models(o) if r.convention == "as trained"]
    else:
        cases.append(BenchCase(mcd, "paper", "mcd", o, PAPER_SHAPES["default"], paper_batch, route))
    return cases


def bench_report(cases: list[BenchCase], *, steps: int = 2, repeats: int = 3, warmup: int = 1,
                 device: str = "cpu", precision: str = "fp32", threads: int | None = None, breakdown: bool = False):
    """:func:`bench` of every case, one row each (the case, then all of bench's figures as columns).
    ``threads``: torch's CPU threads while benchmarking (None: as they are). ``breakdown``: :func:`bench`'s."""
    import pandas as pd

    check_device(device, precision)
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    before = torch.get_num_threads()
    rows = []
    try:
        torch.set_num_threads(threads or before)
        for case in cases:
            model, dims = build_model(case.arch, case.overrides, case.dims)
            r = bench(model, lambda b, d=dims: paper_batch(d, b), batch_size=case.batch_size, steps=steps,
                      repeats=repeats, warmup=warmup, device=device, precision=precision, cpu_matmul=case.cpu_matmul,
                      breakdown=breakdown)
            rows.append({"model": case.model, "shape": case.shape, "D": case.dim, "T": dims.seconds, **r})
    finally:
        torch.set_num_threads(before)
    return pd.DataFrame(rows)


def bench_frame(table):
    """The reader's columns of a bench table: samples/s and the fraction of the same-process matmul, each as
    median [min-max] over the repeats."""
    import pandas as pd

    def spread(key: str, spec: str) -> pd.Series:
        return table.apply(lambda r: f"{r[key]:{spec}} [{r[key + '_min']:{spec}}-{r[key + '_max']:{spec}}]", axis=1)

    frame = pd.DataFrame({"model": table["model"], "shape": table["shape"],
                          "matmuls": table["cpu_matmul"].fillna(table["device"]),
                          "D, T, batch": [f"{d}, {t}, {b}" for d, t, b in zip(table["D"], table["T"],
                                                                              table["batch_size"])],
                          "train samples/s": spread("train_samples_per_s", ".1f"),
                          "infer samples/s": spread("infer_samples_per_s", ".1f"),
                          "train / matmul": spread("train_fraction_of_matmul", ".2f"),
                          "infer / matmul": spread("infer_fraction_of_matmul", ".2f")})
    if _has_breakdown(table):
        frame["kernel share"] = table["train_kernel_share"].map(lambda v: "" if _missing(v) else f"{v:.0%}")
        frame["ceiling"] = table["train_ceiling_of_matmul"].map(lambda v: "" if _missing(v) else f"{v:.2f}")
    return frame


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _has_breakdown(table) -> bool:
    return "train_kernel_share" in table and not all(_missing(v) for v in table["train_kernel_share"])


def bench_heading(table) -> str:
    """How a bench table was measured, in one line."""
    first = table.iloc[0]
    return (f"{first['device']}, {first['precision']}, {first['threads']} threads; {first['repeats']} repeats of "
            f"{first['steps']} steps: median [min-max]; random inputs")


def bench_notes(table) -> list[str]:
    """What the columns of a bench table mean."""
    first = table.iloc[0]
    return [
        "train: forward, loss, backward and an Adam step; infer: forward under inference_mode.",
        "/ matmul: achieved FLOP/s (torch flop counter, forward + backward for train) over a dense "
        f"[B*T, {first['matmul_dim']}] x [{first['matmul_dim']}, {first['matmul_dim']}] {first['precision']} matmul "
        "timed in the same process and repeat, on the row's matmul library (mcd.cpu_matmul: mkl or onednn, float32 "
        "either way).",
    ] + ([
        "kernel share: the share of the training step's time in the kernels that carry the counted FLOPs (matmuls, "
        "the LSTM's fused kernels), by torch's profiler over one more repeat; ceiling: train / matmul over that "
        "share, what it would be if every other op (elementwise, norms, softmax, copies, the optimizer, dispatch) "
        "took no time. The profiler's overhead lowers the share a little, so the ceiling errs high.",
    ] if _has_breakdown(table) else [])


def bench_top_ops(table) -> list[str]:
    """One line per row with a breakdown: the ops that take its training step's time (share of profiled time)."""
    if not _has_breakdown(table):
        return []
    return [f"{r['model']}, {r['shape']}, {r['cpu_matmul'] or r['device']}: {r['train_top_ops']}"
            for _, r in table.iterrows() if not _missing(r["train_top_ops"])]


def format_bench(table) -> str:
    """The bench table as text (``mcd bench``): heading, the reader's columns, what they mean."""
    text = (bench_heading(table) + "\n" + bench_frame(table).to_string(index=False, justify="right") + "\n\n"
            + format_notes(bench_notes(table)))
    top = bench_top_ops(table)
    return text + ("\n\nWhere the training step's time goes (self time, torch profiler):\n" + "\n".join(top)
                   if top else "")
