"""Model size, operation counts and throughput: Table VIII in the paper's convention and in ours.

Two operation counts are reported, always named:

- **thop** (:func:`thop_count`): ``thop.profile`` of ``thop==0.1.1.post2209072238``, the tool and version the MCD
  paper's Table VIII numbers come from (``music_avqa_protocol.md``). At batch 1, in eval mode, it counts the
  multiply-adds (MACs; the paper calls them "FLOPs") of the leaf modules whose type is *exactly* one it hooks
  (Linear, LSTM, Conv, BatchNorm, LayerNorm, ...), and as "params" the parameters of those modules that ran.
  ``nn.MultiheadAttention``, ``nn.Embedding``, functional matmuls and bare ``nn.Parameter`` s count zero.
- **torch** (:func:`torch_flops`): ``torch.utils.flop_counter.FlopCounterMode``, 2 FLOPs per multiply-add of every
  matmul, convolution and attention kernel the model runs, whatever module (or none) it came from. Elementwise
  ops, norms and softmax count 0. The larger, honest number.

What the libraries do not do is here: running thop without changing the model, counting LSTMs and fused attention
through their decomposition, the Table VIII report (:func:`profile_report`, with the paper-convention rows), and
the throughput benchmark, which lives in :mod:`mcd.bench` (it builds on these counts).
"""
from __future__ import annotations

import contextlib
import copy
import json
import math
import textwrap
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from mcd.models.base import InputDims
from mcd.models.mcd import textbook_attention

__all__ = [
    "PAPER_CONVENTION",
    "PAPER_CONVENTION_NOTE",
    "PAPER_SHAPES",
    "as_json",
    "batch_size_of",
    "block_parts",
    "block_steps",
    "build_model",
    "format_notes",
    "format_profile",
    "make_dummy_batch",
    "paper_batch",
    "param_counts",
    "profile_report",
    "profile_table",
    "report_models",
    "thop_count",
    "torch_flops",
    "training_loss",
]


# ----------------------------------------------------------------------------------------------------------------
# Counts
# ----------------------------------------------------------------------------------------------------------------

def param_counts(model: nn.Module) -> dict[str, int]:
    """All parameters of ``model`` and those with ``requires_grad`` (each shared tensor counted once).

    This is what a reader means by "parameters"; thop's "params" (:func:`thop_count`) is a different thing.
    """
    params = list(model.parameters())  # deduplicated by identity
    return {"all": sum(p.numel() for p in params), "trainable": sum(p.numel() for p in params if p.requires_grad)}


def _flatten(tree: dict, prefix: str = "") -> dict[str, tuple[int, int]]:
    """thop's nested ``{child: (ops, params, {grandchild: ...})}`` -> ``{qualified name: (ops, params)}`` of the
    modules it counted (leaves of its walk that contributed)."""
    out = {}
    for name, (ops, params, sub) in tree.items():
        if sub:
            out.update(_flatten(sub, f"{prefix}{name}."))
        elif ops or params:
            out[f"{prefix}{name}"] = (int(ops), int(params))
    return out


def thop_count(model: nn.Module, batch: dict, *, by_module: bool = False):
    """(MACs, params) of one forward of ``model(batch)`` by ``thop.profile``, as ints; ``model`` is left unchanged.

    thop registers ``total_ops``/``total_params`` buffers on every module (and leaves them on those it does not
    hook, which changes ``state_dict``), so it runs on a deep copy. Count at batch 1 to reproduce the paper's
    Table VIII (MACs scale with the batch, params do not). thop runs the model in eval mode under ``no_grad``.
    Its convention, for the reader (thop's source is the reference): a hooked module's params are all of its
    parameters, frozen ones included, once however often it runs, and 0 if it never runs; MACs add up over calls;
    subclasses of hooked types (``nn.MultiheadAttention.out_proj``) are not hooked; the root's own parameters are
    never counted.

    ``by_module=True`` adds ``{qualified module name: (MACs, params)}`` of the modules that contributed.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # thop compares versions with distutils' deprecated LooseVersion
        import thop
        with textbook_attention(model):        # Eq. 1 as written, keys and values projected for every query
            macs, params, tree = thop.profile(copy.deepcopy(model), inputs=(batch,), verbose=False,
                                              ret_layer_info=True)
    macs, params = int(macs), int(params)  # thop sums integer counts in float64: exact below 2**53
    return (macs, params, _flatten(tree)) if by_module else (macs, params)


def training_loss(out, batch: dict) -> torch.Tensor:
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


def torch_flops(model: nn.Module, batch: dict, *, backward: bool = False, textbook: bool = True) -> int:
    """FLOPs of one call of ``model(batch)`` by ``torch.utils.flop_counter.FlopCounterMode`` (whole batch).

    2 FLOPs per multiply-add of every matmul (``mm``, ``addmm``, ``bmm``, ``baddbmm``), convolution and fused
    attention kernel, wherever it comes from (modules thop does not hook, functional matmuls, einsums included);
    elementwise ops, norms, softmax and reductions count 0. RNN and fast-path attention kernels are counted
    through their decomposition (see :class:`_Decomposed`).

    ``backward=False``: one forward in eval mode under ``torch.no_grad`` (the inference cost, the setting thop
    counts in). ``backward=True``: forward in train mode plus the backward of the training loss (cross-entropy on
    ``batch['label']`` plus ``ModelOutput.losses``), i.e. the FLOPs of one training step except the optimizer's
    elementwise update. The model's ``.grad`` s, training flag and the RNG state are left as they were.

    ``textbook=True`` counts MCD's attention as Eq. 1 writes it (``mcd.models.mcd.textbook_attention``: keys and
    values projected for a single query too), the cost Table VIII compares; ``False`` counts what the model runs
    (the reassociated single-query form), what ``mcd bench`` times.
    """
    was_training = model.training
    params = list(model.parameters())
    old_grads = [p.grad for p in params]
    devices = [batch[k].device for k in batch if torch.is_tensor(batch[k]) and batch[k].is_cuda]
    try:
        textbook_form = textbook_attention(model) if textbook else contextlib.nullcontext()
        with torch.random.fork_rng(devices=devices[:1]), _Decomposed(), textbook_form:
            counter = _flop_counter()
            if backward:
                model.train()
                for p in params:
                    p.grad = None
                with counter:
                    training_loss(model(batch), batch).backward()
            else:
                model.eval()
                with torch.no_grad(), counter:
                    model(batch)
    finally:
        model.train(was_training)
        for p, g in zip(params, old_grads):
            p.grad = g
    return int(counter.get_total_flops())


def batch_size_of(batch: dict) -> int:
    """B of a batch dict: the leading dim of ``question`` (or of the first tensor)."""
    if "question" in batch:
        return int(batch["question"].shape[0])
    for v in batch.values():
        if torch.is_tensor(v):
            return int(v.shape[0])
    raise ValueError("batch holds no tensor")


def make_dummy_batch(dims: InputDims, batch_size: int, *, patches: bool = False, options: int | bool | None = None,
                     seed: int = 0, option_len: int = 4) -> dict[str, torch.Tensor]:
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

    lengths = torch.randint(min(3, length), length + 1, (b,), generator=g)
    real = torch.arange(length).unsqueeze(0) < lengths.unsqueeze(1)
    question = torch.randint(1, dims.vocab_size, (b, length), generator=g) * real
    keyword = torch.zeros(b, length, dtype=torch.bool)   # one or two keyword positions among the real tokens
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
# Table VIII
# ----------------------------------------------------------------------------------------------------------------

# The shapes each model was counted at in the papers: Music-AVQA, VGGish audio, 60 s (AVST keeps every 6th),
# ResNet-18 14x14 patches for AVST, CLIP ViT-B/32 frames and 7x7 patches for the others, 93 words, 42 answers.
PAPER_SHAPES = {
    "avst": InputDims(audio_dim=128, visual_dim=512, patch_dim=512, num_patches=196, seconds=10, vocab_size=93),
    "pstp": InputDims(audio_dim=128, visual_dim=512, patch_dim=512, num_patches=49, seconds=60, vocab_size=93),
    "default": InputDims(audio_dim=128, visual_dim=512, seconds=60, vocab_size=93),
}

# The paper-convention rows of MCD: the same model (same parameters, same function), counted as the paper's thop
# 0.1.1 would count it had W^Q, W^K, W^V been held as nn.MultiheadAttention holds them (the AVST-lineage code's
# attention layer, which thop does not hook), and with Theta (Eq. 11, used only by the training losses) run during
# the eval-mode count so that thop sees it, as "training params" suggests. See mcd_decisions.md, Parameter budget.
PAPER_CONVENTION = ("model.mcd.attention_module=mha", "model.mcd.eval_losses=true")
PAPER_CONVENTION_NOTE = ("Paper convention: the same MCD with W^Q, W^K, W^V held as nn.MultiheadAttention holds "
                         "them (model.mcd.attention_module=mha; thop 0.1.1 does not count them) and Theta run in "
                         "eval (model.mcd.eval_losses=true; thop counts it)")


@dataclass(frozen=True)
class ReportRow:
    name: str                 # our row name
    model: str                # registry name
    overrides: tuple[str, ...]
    paper: str | None         # the paper's Table VIII row, if any
    convention: str           # "as trained" | "paper"


def report_models(overrides: Iterable[str] = ()) -> list[ReportRow]:
    """Every row of our Table VIII: MCD N = 1, 2, 3 as we train it and in the paper's convention, the peers and
    the baselines. ``overrides`` apply to every row (the paper-convention options come last, so they hold)."""
    o = tuple(overrides)
    rows = []
    for n in (1, 2, 3):
        blocks = (f"model.mcd.num_blocks={n}",)
        rows.append(ReportRow(f"MCD N={n}", "mcd", blocks + o, f"MCD AB N={n}", "as trained"))
        rows.append(ReportRow(f"MCD N={n}, paper convention", "mcd", blocks + o + PAPER_CONVENTION,
                              f"MCD AB N={n}", "paper"))
    rows += [ReportRow("AVST", "avst", o, "AVST", "as trained"),
             ReportRow("PSTP-Net", "pstp", o, "PSTP-Net", "as trained"),
             ReportRow("Q-only LSTM", "qonly", o, None, "as trained"),
             ReportRow("MLP Q+A+V", "mlp", ("model.mlp.modalities=qav",) + o, None, "as trained")]
    return rows


def build_model(model: str, overrides: Iterable[str], dims: InputDims | None = None) -> tuple[nn.Module, InputDims]:
    from mcd.config import load_config
    from mcd.models.registry import build_model
    cfg = load_config(None, [f"model.name={model}", *overrides])
    dims = dims or PAPER_SHAPES.get(model, PAPER_SHAPES["default"])
    torch.manual_seed(0)
    return build_model(cfg.model, dims).eval(), dims


def paper_batch(dims: InputDims, batch_size: int) -> dict:
    return make_dummy_batch(dims, batch_size, patches=dims.patch_dim is not None)


def profile_table(entries: Iterable[tuple[str, nn.Module, dict]], paper: dict[str, tuple[float, float]] | None = None):
    """One row per ``(name, model, batch)``: parameters and per-sample cost in both conventions, beside the paper.

    Use batch size 1 for the paper's convention; the per-sample columns divide by the batch size. ``paper``:
    ``{name: (params_M, flops_G)}`` from ``mcd.paper``; names missing from it get NaN.

    Columns: ``params_all_M``, ``params_trainable_M`` (:func:`param_counts`), ``thop_params_M`` and
    ``thop_GMACs`` (:func:`thop_count`, the paper's "FLOPs"), ``torch_GFLOPs`` (:func:`torch_flops`, forward),
    ``batch_size``, ``paper_params_M``, ``paper_GFLOPs`` and the ratios ``thop_params_over_paper``,
    ``thop_GMACs_over_paper``, ``torch_GFLOPs_over_paper``.
    """
    import pandas as pd

    rows = []
    for name, model, batch in entries:
        b = batch_size_of(batch)
        macs, thop_params = thop_count(model, batch)
        pp, pf = (paper or {}).get(name, (math.nan, math.nan))
        pc = param_counts(model)
        row = {"name": name, "params_all_M": pc["all"] / 1e6, "params_trainable_M": pc["trainable"] / 1e6,
               "thop_params_M": thop_params / 1e6, "thop_GMACs": macs / b / 1e9,
               "torch_GFLOPs": torch_flops(model, batch) / b / 1e9, "batch_size": b,
               "paper_params_M": pp, "paper_GFLOPs": pf}
        row.update({"thop_params_over_paper": row["thop_params_M"] / pp,
                    "thop_GMACs_over_paper": row["thop_GMACs"] / pf,
                    "torch_GFLOPs_over_paper": row["torch_GFLOPs"] / pf})
        rows.append(row)
    return pd.DataFrame(rows).set_index("name")


def profile_report(overrides: Iterable[str] = (), names: Iterable[str] | None = None):
    """Table VIII: every row of :func:`report_models` (or those in ``names``) at the paper's shapes, batch 1,
    beside the paper's numbers (``mcd.paper.paper_table("VIII")``), with ``model`` and ``convention`` columns."""
    from mcd.paper import paper_table

    paper = paper_table("VIII").set_index("method")
    wanted = None if names is None else set(names)
    rows = [r for r in report_models(overrides) if wanted is None or r.name in wanted]
    if wanted is not None and len(rows) != len(wanted):
        known = [r.name for r in report_models()]
        raise ValueError(f"unknown rows {sorted(wanted - {r.name for r in rows})}; rows: {known}")
    entries, numbers = [], {}
    for r in rows:
        model, dims = build_model(r.model, r.overrides)
        entries.append((r.name, model, paper_batch(dims, 1)))
        if r.paper is not None:
            numbers[r.name] = (float(paper.loc[r.paper, "training_params_m"]), float(paper.loc[r.paper, "flops_g"]))
    table = profile_table(entries, numbers)
    table.insert(0, "model", [r.model for r in rows])
    table.insert(1, "convention", [r.convention for r in rows])
    return table


def block_steps(table, rows: list[str], columns: list[str]):
    """What each added block adds: ``table.loc[rows[i + 1]] - table.loc[rows[i]]`` for ``columns`` (e.g. the rows
    of N = 1, 2, 3). Identical blocks at the same shapes give equal steps in any counting convention."""
    import pandas as pd

    v = table.loc[rows, columns].astype(float)
    steps = v.iloc[1:].to_numpy() - v.iloc[:-1].to_numpy()
    index = [f"{b} minus {a}" for a, b in zip(rows[:-1], rows[1:])]
    return pd.DataFrame(steps, index=index, columns=columns)


# A branch's children -> the part of Eq. 1-5 they compute.
_BLOCK_PARTS = {"self_attn": "phi_self: W^Q, W^K, W^V (Eq. 1-3)", "cross_attn": "phi_cross: W^Q, W^K, W^V (Eq. 1-3)",
                "cross_proj": "W_c forming W^cross (Eq. 2-3)", "ffn": "FFN (Eq. 4-5)", "bn_att": "BatchNorm (Eq. 4-5)",
                "bn_ffn": "BatchNorm (Eq. 4-5)"}


def block_parts(overrides: Iterable[str] = ()):
    """One MCD association block by part, the audio and visual branches summed (M): all its parameters, and what
    thop counts of them as we train MCD and in the paper's convention (at the paper's shapes)."""
    import pandas as pd

    from mcd.models.mcd import AssociationBlock

    columns = {}
    for label, extra in (("thop, as trained", ()), ("thop, paper convention", PAPER_CONVENTION)):
        model, dims = build_model("mcd", [*overrides, "model.mcd.num_blocks=1", *extra])
        _, _, counted = thop_count(model, paper_batch(dims, 1), by_module=True)
        prefix, block = next((n, m) for n, m in model.named_modules() if isinstance(m, AssociationBlock))
        alls, thops = {}, {}
        for branch, branch_module in block.named_children():
            for child, module in branch_module.named_children():
                part = _BLOCK_PARTS.get(child, child)
                alls[part] = alls.get(part, 0) + sum(p.numel() for p in module.parameters())
                inside = f"{prefix}.{branch}.{child}"
                thops[part] = thops.get(part, 0) + sum(p for n, (_, p) in counted.items()
                                                       if n == inside or n.startswith(inside + "."))
        if sum(alls.values()) != sum(p.numel() for p in block.parameters()):
            raise AssertionError("a parameter of the association block sits outside its branches' parts")
        columns["parameters"] = pd.Series(alls) / 1e6
        columns[label] = pd.Series(thops) / 1e6
    return pd.DataFrame(columns)


def format_notes(lines: list[str]) -> str:
    return "\n".join(textwrap.fill(line, 110, subsequent_indent="  ") for line in lines)


def format_profile(table) -> str:
    """The few columns a reader needs, formatted, with the notes that say what each count is."""
    cols = {"params_all_M": "params (M)", "thop_params_M": "thop params (M)", "paper_params_M": "paper params (M)",
            "thop_params_over_paper": "thop / paper", "thop_GMACs": "thop GMACs", "torch_GFLOPs": "torch GFLOPs",
            "paper_GFLOPs": "paper GFLOPs"}
    view = table[list(cols)].rename(columns=cols)
    view.index.name = None
    text = view.to_string(float_format=lambda x: f"{x:.3f}", na_rep="")
    notes = [
        "params: every parameter of the model as we train it. thop: thop 0.1.1 profile, the paper's tool: the "
        "parameters of the executed nn.Linear/LSTM/BatchNorm/... layers and their multiply-adds (the paper's "
        "\"FLOPs\"); nn.MultiheadAttention, embeddings and bare parameters count 0.",
        "torch GFLOPs: torch.utils.flop_counter, 2 per multiply-add of every matmul, forward. paper: its Table VIII.",
        PAPER_CONVENTION_NOTE + ".",
    ]
    head = "Table VIII: each model at the paper's input shapes (Music-AVQA features), one random sample (batch 1)"
    return head + "\n" + text + "\n\n" + format_notes(notes)


def as_json(table, **extra) -> str:
    """A report table with the environment it was measured in (versions, commit, device) as JSON."""
    from mcd.provenance import environment_info

    frame = table.reset_index() if table.index.name else table   # the row names of profile_report are its index
    rows = json.loads(frame.to_json(orient="records"))
    return json.dumps({"environment": environment_info(), **extra, "rows": rows}, indent=1)
