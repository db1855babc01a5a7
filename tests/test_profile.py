"""mcd.profile and mcd.bench: thop run without side effects, the torch flop counter, the Table VIII report, bench,
the CLI."""
from __future__ import annotations

import copy
import dataclasses
import json
import math
import warnings

import pandas as pd
import pytest
import torch
from torch import nn

import mcd.profile as prof
from mcd.cli import main
from mcd.models.base import InputDims, ModelOutput
from mcd.models.baselines import MLPConfig, ModalityMLP, QOnlyConfig, QOnlyLSTM
from mcd.paper import paper_table
from mcd.bench import bench, bench_cases, bench_report, flop_kernel_breakdown, format_bench, paper_batch_size
from mcd.profile import (PAPER_CONVENTION, PAPER_SHAPES, block_parts, block_steps, format_profile, make_dummy_batch,
                         param_counts, profile_report, profile_table, thop_count, torch_flops)

DIMS = InputDims(audio_dim=16, visual_dim=64, patch_dim=12, num_patches=5, seconds=6, vocab_size=30,
                 num_answers=7, question_len=14)
MCD_DIMS = dataclasses.replace(DIMS, patch_dim=None, num_patches=None)   # MCD reads frame features


def thop_itself(model, batch):
    """thop.profile as a user would call it, on a copy (it leaves buffers behind)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # thop's import warns about distutils' LooseVersion
        import thop
        return thop.profile(copy.deepcopy(model), inputs=(batch,), verbose=False)


class Reference(nn.Module):
    """Modules thop hooks and modules it does not, a functional matmul, a frozen and an unused layer."""

    def __init__(self, d: InputDims = DIMS, dim: int = 32):
        super().__init__()
        self.embed = nn.Embedding(d.vocab_size, dim, padding_idx=0)                    # not hooked
        self.lstm = nn.LSTM(dim, dim, batch_first=True)
        self.audio = nn.Linear(d.audio_dim, dim)
        self.visual = nn.Sequential(nn.Linear(d.visual_dim, dim), nn.ReLU(), nn.Dropout(0.1))
        self.bn = nn.BatchNorm1d(dim)
        self.attn = nn.MultiheadAttention(dim, 4, batch_first=True)                    # not hooked
        self.query = nn.Parameter(torch.randn(1, 1, dim))                                # bare parameter
        self.frozen = nn.Linear(dim, dim)
        self.frozen.requires_grad_(False)
        self.unused = nn.Linear(dim, 1000)                                               # never runs
        self.head = nn.Linear(dim * 2, d.num_answers)

    def forward(self, batch: dict) -> ModelOutput:
        q, _ = self.lstm(self.embed(batch["question"]))
        a = torch.relu(self.audio(batch["audio"]))
        v = self.bn(self.visual(batch["visual"]).transpose(1, 2)).transpose(1, 2)
        x = self.frozen(a + v)
        att, _ = self.attn(self.query.expand(x.size(0), -1, -1), x, x)
        qa = torch.softmax(q @ x.transpose(1, 2), dim=-1) @ x  # functional matmuls: thop does not see them
        h = torch.cat([att.squeeze(1), qa.mean(1)], dim=-1)
        return ModelOutput(self.head(h), {"aux": 0.1 * h.pow(2).mean()})


def small_mcd(n: int, *extra: str):
    model, _ = prof.build_model("mcd", [f"model.mcd.num_blocks={n}", "model.mcd.dim=32", *extra], MCD_DIMS)
    return model


# ------------------------------------------------------------------------------------------------- counting

def test_thop_count_is_thop_and_leaves_the_model_unchanged():
    model = Reference()
    batch = make_dummy_batch(DIMS, 1)
    keys = list(model.state_dict())
    macs, params, per = thop_count(model, batch, by_module=True)
    assert (macs, params) == thop_itself(model, batch)
    assert isinstance(macs, int) and isinstance(params, int) and macs > 0
    # thop's convention, as it reaches us: MHA, the embedding, the bare parameter and the unused layer count 0
    assert params == param_counts(model)["all"] - sum(
        p.numel() for m in (model.attn, model.embed, model.unused) for p in m.parameters()) - model.query.numel()
    assert sum(v[0] for v in per.values()) == macs and sum(v[1] for v in per.values()) == params
    assert {"attn", "embed", "unused"}.isdisjoint(n.split(".")[0] for n in per) and "visual.0" in per
    # thop's buffers went with the copy; the training flag is the caller's
    assert list(model.state_dict()) == keys and model.training


def test_profile_table_reports_what_thop_counts():
    entries = [("qonly", QOnlyLSTM(QOnlyConfig(dim=32), DIMS), make_dummy_batch(DIMS, 1)),
               ("mlp", ModalityMLP(MLPConfig(dim=32, hidden=48), DIMS), make_dummy_batch(DIMS, 2))]
    df = profile_table(entries, paper={"mlp": (0.01, 0.001)})
    assert list(df.index) == ["qonly", "mlp"] and df.loc["mlp", "batch_size"] == 2
    for name, model, batch in entries:
        macs, params = thop_itself(model, batch)
        assert df.loc[name, "thop_params_M"] == params / 1e6
        assert df.loc[name, "thop_GMACs"] == pytest.approx(macs / len(batch["label"]) / 1e9)
    assert df.loc["mlp", "thop_params_over_paper"] == pytest.approx(df.loc["mlp", "thop_params_M"] / 0.01)
    assert math.isnan(df.loc["qonly", "paper_params_M"]) and math.isnan(df.loc["qonly", "thop_params_over_paper"])
    assert (df["torch_GFLOPs"] > df["thop_GMACs"]).all()


def test_paper_convention_rows_within_two_percent_of_table_viii():
    """The issue's done-criterion: MCD N = 1, 2, 3 counted in the paper's convention is within 2% of the paper."""
    names = [f"MCD N={n}, paper convention" for n in (1, 2, 3)]
    table = profile_report(names=names)
    paper = paper_table("VIII").set_index("method")
    for n, name in zip((1, 2, 3), names):
        row = table.loc[name]
        assert row["paper_params_M"] == paper.loc[f"MCD AB N={n}", "training_params_m"]
        assert abs(row["thop_params_over_paper"] - 1) <= 0.02, (name, row["thop_params_M"], row["paper_params_M"])
    # what the table reports is thop's own count of that configuration
    model, dims = prof.build_model("mcd", ["model.mcd.num_blocks=2", *PAPER_CONVENTION])
    assert table.loc[names[1], "thop_params_M"] == thop_itself(model, make_dummy_batch(dims, 1))[1] / 1e6


def test_paper_convention_changes_the_count_not_the_model():
    trained, convention = small_mcd(1), small_mcd(1, *PAPER_CONVENTION)
    assert {k: v.shape for k, v in trained.state_dict().items()} == {
        k: v.shape for k, v in convention.state_dict().items()}
    convention.load_state_dict(trained.state_dict())
    batch = make_dummy_batch(MCD_DIMS, 3)
    with torch.no_grad():
        assert torch.equal(trained(batch).logits, convention(batch).logits)
    one = make_dummy_batch(MCD_DIMS, 1)
    assert thop_count(convention, one)[1] < thop_count(trained, one)[1]


def test_identical_blocks_give_equal_steps_in_every_convention():
    """Why the paper's unequal FLOPs steps cannot come from identical blocks (the Table VIII chapter)."""
    names = [f"N={n}" for n in (1, 2, 3)]
    for extra in ((), PAPER_CONVENTION):
        table = profile_table([(f"N={n}", small_mcd(n, *extra), make_dummy_batch(MCD_DIMS, 1)) for n in (1, 2, 3)])
        steps = block_steps(table, names, ["thop_params_M", "thop_GMACs", "torch_GFLOPs", "params_all_M"])
        assert list(steps.index) == ["N=2 minus N=1", "N=3 minus N=2"]
        assert (steps > 0).all().all()
        assert steps.iloc[0].to_numpy() == pytest.approx(steps.iloc[1].to_numpy(), rel=1e-9)


def test_block_parts_split_one_block_by_what_thop_counts():
    parts = block_parts(["model.mcd.dim=32"])
    block = small_mcd(1).mcm.blocks[0]
    assert parts["parameters"].sum() * 1e6 == pytest.approx(sum(p.numel() for p in block.parameters()))
    assert (parts["thop, as trained"] == parts["parameters"]).all()            # nn.Linear everywhere: all counted
    attention = [p for p in parts.index if "W^Q" in p]
    assert len(attention) == 2 and (parts.loc[attention, "thop, paper convention"] == 0).all()
    rest = parts.index.difference(attention)
    assert (parts.loc[rest, "thop, paper convention"] == parts.loc[rest, "parameters"]).all()


def test_torch_flops_counts_matmuls():
    model = Reference()
    batch = make_dummy_batch(DIMS, 2)
    macs, _ = thop_count(model, batch)
    fwd = torch_flops(model, batch)
    assert fwd > macs  # 2 per multiply-add, plus MHA and the functional matmuls thop misses
    lstm = nn.LSTM(8, 16, batch_first=True)   # counted through its decomposition (the oneDNN kernel counts 0)

    class Wrap(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = lstm

        def forward(self, b):
            return ModelOutput(self.lstm(b["audio"][..., :8])[0][:, -1])

    assert torch_flops(Wrap(), batch) == 2 * 2 * DIMS.seconds * 4 * 16 * (8 + 16)
    model.eval()
    both = torch_flops(model, batch, backward=True)   # forward + backward; grads and the flag left alone
    assert fwd < both < 4 * fwd
    assert not model.training and all(p.grad is None for p in model.parameters())


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

    mha = 2 * (b * t * d * d * 4 + 2 * b * t * t * d)   # in/out projections + QK^T and AV
    ffn = 2 * b * t * d * 128 * 2
    assert torch_flops(SelfAttn(), make_dummy_batch(DIMS, b)) == 2 * mha + ffn
    assert torch.backends.mha.get_fastpath_enabled()      # restored


def test_param_counts_trainable_excludes_frozen():
    model = Reference()
    pc = param_counts(model)
    assert pc["all"] == sum(p.numel() for p in model.parameters())
    assert pc["all"] - pc["trainable"] == sum(p.numel() for p in model.frozen.parameters())


def test_format_profile_shows_the_reader_columns_and_the_convention():
    table = profile_table([("mlp", ModalityMLP(MLPConfig(dim=32, hidden=48), DIMS), make_dummy_batch(DIMS, 1))],
                          paper={"mlp": (0.01, 0.001)})
    text = format_profile(table)
    header = text.splitlines()[1]
    for col in ("params (M)", "thop params (M)", "paper params (M)", "thop / paper", "thop GMACs", "torch GFLOPs",
                "paper GFLOPs"):
        assert col in header
    assert "batch_size" not in text and "model.mcd.attention_module=mha" in text
    assert f"{table.loc['mlp', 'thop_params_M']:.3f}" in text.splitlines()[2]


# ------------------------------------------------------------------------------------------------- bench

def test_bench_reports_ratios_with_a_spread():
    model = ModalityMLP(MLPConfig(dim=32, hidden=48), DIMS)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    r = bench(model, lambda b: make_dummy_batch(DIMS, b), batch_size=4, steps=1, repeats=3, warmup=1)
    for key in ("infer_samples_per_s", "train_samples_per_s", "matmul_flops_per_s", "train_fraction_of_matmul",
                "infer_fraction_of_matmul"):
        assert len(r[f"{key}_each"]) == 3
        assert 0 < r[f"{key}_min"] <= r[key] <= r[f"{key}_max"], key
        assert r[key] == sorted(r[f"{key}_each"])[1]
    assert r["train_flops_per_step"] > r["infer_flops_per_step"] > 0
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # the model is not trained
    with pytest.raises(ValueError, match="bf16"):
        bench(model, lambda b: make_dummy_batch(DIMS, b), batch_size=2, steps=1, precision="bf16")


def test_breakdown_finds_the_matmul_kernels_time_and_no_more():
    a, w = torch.randn(256, 256), torch.randn(256, 256)
    only_matmuls = flop_kernel_breakdown(lambda: a @ w, steps=20)
    assert 0.5 < only_matmuls["kernel_share"] <= 1.0 and only_matmuls["top_ops"].startswith("mm ")
    x = torch.randn(1 << 20)
    no_matmuls = flop_kernel_breakdown(lambda: (x * 2).exp_().sum(), steps=5)
    assert no_matmuls["kernel_share"] == 0.0 and "mm" not in no_matmuls["top_ops"]


def test_bench_breakdown_gives_the_ceiling_of_the_train_ratio():
    model = ModalityMLP(MLPConfig(dim=32, hidden=48), DIMS)
    r = bench(model, lambda b: make_dummy_batch(DIMS, b), batch_size=4, steps=2, repeats=1, warmup=1,
              breakdown=True)
    assert 0 < r["train_kernel_share"] < 1
    assert r["train_ceiling_of_matmul"] == pytest.approx(r["train_fraction_of_matmul"] / r["train_kernel_share"])
    assert "mm" in r["train_top_ops"]
    plain = bench(model, lambda b: make_dummy_batch(DIMS, b), batch_size=4, steps=1, repeats=1, warmup=0)
    assert plain["train_kernel_share"] is plain["train_ceiling_of_matmul"] is plain["train_top_ops"] is None
    table = bench_report(bench_cases(batch_size=2)[:1], steps=1, repeats=1, warmup=0, breakdown=True)
    text = format_bench(table)
    assert "kernel share" in text and "ceiling" in text and "Where the training step's time goes" in text
    assert "kernel share" not in format_bench(bench_report(bench_cases(batch_size=2)[:1], steps=1, repeats=1,
                                                           warmup=0))


def test_bench_cases_take_the_study_and_paper_shapes():
    from mcd.data.synth import PROFILES
    from mcd.study import STUDY_PROFILES

    study, study_mkl, paper = bench_cases()
    s = STUDY_PROFILES["default"]
    # the study's step on the study's float32 matmul library, then the same step on MKL (torch's default route)
    assert (study.cpu_matmul, study_mkl.cpu_matmul, paper.cpu_matmul) == (s.cpu_matmul, "mkl", s.cpu_matmul)
    assert (study_mkl.arch, study_mkl.overrides, study_mkl.dims) == (study.arch, study.overrides, study.dims)
    assert (study.dim, study.batch_size, study.dims.seconds) == (s.dim, s.batch_size, PROFILES[s.synth].seconds)
    assert (study.dims.audio_dim, study.dims.visual_dim) == (PROFILES[s.synth].audio_dim, PROFILES[s.synth].channels)
    assert paper.dims == PAPER_SHAPES["default"] and paper.dim == STUDY_PROFILES["paper"].dim
    assert paper.batch_size == paper_batch_size("cpu") < STUDY_PROFILES["paper"].batch_size
    assert paper_batch_size("cuda") == STUDY_PROFILES["paper"].batch_size
    every = bench_cases(all_models=True, batch_size=4)
    assert {c.model for c in every} >= {"AVST", "PSTP-Net", "MCD N=1", "MCD N=3"}
    assert {c.batch_size for c in every} == {4} and not any("paper convention" in c.model for c in every)


def test_bench_report_shows_median_and_range_at_the_threads_asked():
    threads = torch.get_num_threads()
    table = bench_report(bench_cases(batch_size=2)[:1], steps=1, repeats=2, warmup=0, threads=threads + 1)
    assert table.loc[0, "threads"] == threads + 1 and torch.get_num_threads() == threads   # set, then restored
    text = format_bench(table)
    row = table.iloc[0]
    assert f"{row['train_samples_per_s']:.1f} [{row['train_samples_per_s_min']:.1f}-" in text
    assert "/ matmul" in text and "2 repeats of 1 steps" in text


# ------------------------------------------------------------------------------------------------- the commands

@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
@pytest.mark.parametrize("argv", [["bench", "--device", "cuda"], ["bench", "--device", "cuda", "--precision", "bf16"],
                                  ["bench", "--precision", "bf16"]])
def test_bench_refuses_what_this_machine_cannot_run(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("mcd: error:") and ("CUDA" in err[0] or "bf16" in err[0])


def test_profile_command_prints_the_table_and_writes_everything(monkeypatch, capsys, tmp_path):
    table = profile_table([("mlp", ModalityMLP(MLPConfig(dim=32, hidden=48), DIMS), make_dummy_batch(DIMS, 1))])
    monkeypatch.setattr(prof, "profile_report", lambda overrides: table)
    assert main(["profile", "--csv", str(tmp_path / "t.csv")]) == 0
    assert capsys.readouterr().out.strip() == format_profile(table)
    written = pd.read_csv(tmp_path / "t.csv")
    assert list(written.columns) == ["name", *table.columns]
    assert main(["profile", "--json", "model.mcd.dim=64"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["overrides"] == ["model.mcd.dim=64"] and "git_commit" in out["environment"]
    assert out["rows"][0]["name"] == "mlp" and out["rows"][0]["thop_params_M"] == table.loc["mlp", "thop_params_M"]


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
