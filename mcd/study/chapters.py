"""The runs each chapter of the book reads, declared once.

Each chapter's function returns ``{label: [config per seed]}``; its notebook trains (or reads back) exactly these
(``mcd.study.runs.run_groups``), and ``study_plan`` collects every chapter's configs so that ``mcd study`` can train
them all up front, two at a time, longest first, before any notebook runs. A config asked for by several chapters
(the full MCD is a row of most tables) is one run.

The keyword arguments are the notebooks' parameters; ``study_plan`` uses their defaults, which are the book's.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable

from mcd.config import OUTPUT_SWITCHES, ExperimentConfig
from mcd.study.experiments import FIT, model_configs, real_qonly_config, variant_configs
from mcd.study.profiles import STUDY_PROFILES, uses_synth

Groups = dict[str, list[ExperimentConfig]]

# Table II: the input modalities of the plain MLP (the Q row is the question-only LSTM)
TABLE2_ROWS = {"Q": ("qonly", None), "A": ("mlp", "a"), "V": ("mlp", "v"), "Q+A": ("mlp", "qa"),
               "Q+V": ("mlp", "qv"), "Q+A+V": ("mlp", "qav")}
TABLE3_MODELS = {"MCD": "mcd", "AVST": "avst", "PSTP-Net": "pstp", "Q-only": "qonly"}
TABLE4_MODELS = {"MCD": "mcd", "AVST": "avst", "PSTP-Net": "pstp"}
# The paper's backbone -> our feature folders: "visual" a frame-level [T, C] set, "patches" a [T, P, C] set or None
# (then the peers, which need patches, are left out of that row). Defaults: SynthAVQA's emulated sets.
BACKBONES = {
    "ResNet-18": {"visual": "resnet18", "patches": "patches"},
    "CLIP-ViT-B/32": {"visual": "clip_b32", "patches": "patches"},
    "Swin-V2-L": {"visual": "swinv2", "patches": "patches"},
}
# Table V: SA off switches all three losses of Eq. 11-14
SA_OFF = {"loss_distill_v": False, "loss_distill_a": False, "loss_contrast_av": False}
# Table VII: the readings of W^cross the book trains beside each other: the new default and the literal reading it
# replaces (decision 9). The third, diag(r), is measured in the implementation notes; leaving it out of the book's
# runs saves three MCD runs of the study's budget.
CROSS_WEIGHT_READINGS = ("projected", "outer")
# Table VIII: the number of association blocks
BLOCK_VARIANTS = {f"N={n}": {"num_blocks": n} for n in (1, 2, 3)}


def table2_fusion(profile: str, *, seeds=None, overrides=()) -> Groups:
    """The Table II floor (Q-only and the modality MLPs) and the full MCD, each scored on train as well (the
    chapter's fit table)."""
    groups = {}
    for label, (model, mods) in TABLE2_ROWS.items():
        extra = [f"model.mlp.modalities={mods}"] if mods else []
        groups[label] = model_configs(profile, model, seeds=seeds, overrides=extra + [*FIT, *overrides])
    return groups | variant_configs(profile, {"MCD": {}}, seeds=seeds, overrides=[*FIT, *overrides])


def table3_sota(profile: str, *, seeds=None, overrides=(), peer_lr: str = "mcd") -> Groups:
    """MCD, the two peers and the question-only floor, each peer with its own inputs and time steps."""
    return {label: model_configs(profile, model, seeds=seeds, overrides=overrides, peer_lr=peer_lr)
            for label, model in TABLE3_MODELS.items()}


def fig6_grounding(profile: str, *, seeds=None, overrides=(), peer_lr: str = "mcd") -> Groups:
    """Fig. 6 as a measurement reads the MCD and AVST runs of Table III (it trains nothing of its own)."""
    groups = table3_sota(profile, seeds=seeds, overrides=overrides, peer_lr=peer_lr)
    return {label: groups[label] for label in ("MCD", "AVST")}


def fig5_late_fusion(profile: str, *, seeds=None, overrides=()) -> Groups:
    """Fig. 4/5: MCD without and with decision-level fusion, each scored on test after every epoch (the curves)."""
    from mcd.models.mcd import LATE_FUSION_VARIANTS
    return variant_configs(profile, LATE_FUSION_VARIANTS, seeds=seeds, overrides=overrides, curves=True)


def backbone_inputs(model: str, sets: dict) -> list[str] | None:
    """The overrides that make ``model`` read one backbone's sets (None: the model cannot read them)."""
    if model == "mcd":
        return [f"data.visual_feats={sets['visual']}"]
    if sets.get("patches") is None:
        return None                                             # the peers need patches
    if model == "avst":
        return [f"data.patch_feats={sets['patches']}"]          # AVST reads no frame-level set
    return [f"data.visual_feats={sets['visual']}", f"data.patch_feats={sets['patches']}"]


def table4_backbones(profile: str, *, seeds=None, overrides=(), peer_lr: str = "mcd",
                     backbones: dict | None = None) -> dict[tuple[str, str], list[ExperimentConfig]]:
    """{(backbone, model): configs}: MCD and the peers on each visual backbone's feature sets."""
    groups = {}
    for bb, sets in (backbones or BACKBONES).items():
        for label, model in TABLE4_MODELS.items():
            extra = backbone_inputs(model, sets)
            if extra is not None:
                groups[(bb, label)] = model_configs(profile, model, seeds=seeds, overrides=extra + list(overrides),
                                                    peer_lr=peer_lr)
    return groups


def table5_avqa(profile: str, *, seeds=None, overrides=()) -> Groups:
    """The multiple-choice view (AVQA's format): MCD with and without SA, and the two floors."""
    mc = ["data.format=avqa", *overrides]
    return (variant_configs(profile, {"MCM w/o SA": SA_OFF, "MCM w/ SA": {}}, seeds=seeds, overrides=mc)
            | variant_configs(profile, {"Q-only LSTM": {}}, model="qonly", seeds=seeds, overrides=mc)
            | variant_configs(profile, {"MLP Q+A+V": {"modalities": "qav"}}, model="mlp", seeds=seeds, overrides=mc))


def table6_text_encoder(profile: str, *, seeds=None, overrides=()) -> Groups:
    from mcd.models.mcd import TEXT_VARIANTS
    return variant_configs(profile, TEXT_VARIANTS, seeds=seeds, overrides=overrides)


def table7_attention(profile: str, *, seeds=None, overrides=()) -> Groups:
    """The attention rows of Table VII, then the readings of W^cross (decision 9), labels prefixed ``W^cross``."""
    from mcd.models.mcd import ATTENTION_VARIANTS, CROSS_WEIGHT_VARIANTS
    readings = variant_configs(profile, {k: CROSS_WEIGHT_VARIANTS[k] for k in CROSS_WEIGHT_READINGS}, seeds=seeds,
                               overrides=overrides)
    return (variant_configs(profile, ATTENTION_VARIANTS, seeds=seeds, overrides=overrides)
            | {f"W^cross {label}": cfgs for label, cfgs in readings.items()})


def table8_efficiency(profile: str, *, seeds=None, overrides=()) -> Groups:
    return variant_configs(profile, BLOCK_VARIANTS, seeds=seeds, overrides=overrides)


def table9_lef(profile: str, *, seeds=None, overrides=()) -> Groups:
    from mcd.models.mcd import LEF_VARIANTS
    return variant_configs(profile, LEF_VARIANTS, seeds=seeds, overrides=overrides)


def table10_losses(profile: str, *, seeds=None, overrides=()) -> Groups:
    from mcd.models.mcd import LOSS_VARIANTS
    return variant_configs(profile, LOSS_VARIANTS, seeds=seeds, overrides=overrides)


def real_questions(profile: str, *, seeds=None, overrides=(), music_avqa=None) -> Groups:
    """The learned question-only LSTM on the real Music-AVQA questions (the first seed of the profile by default:
    D = 512 on 25k questions is slow on a CPU)."""
    from mcd import real_data
    root = real_data.annotation_root(music_avqa)
    seeds = list(seeds or STUDY_PROFILES[profile].seeds[:1])
    return {"learned Q-only LSTM": [real_qonly_config(profile, root, seed=s, overrides=list(overrides))
                                    for s in seeds]}


def datasets(profile: str, *, seeds=None, overrides=()) -> Groups:
    """The power table of the data card is measured on the Table II chapter's runs."""
    return table2_fusion(profile, seeds=seeds, overrides=overrides)


def claims(profile: str, *, seeds=None, overrides=(), music_avqa=None) -> dict:
    """The runs the claims page compares (``mcd.study.verdicts.paper_claims``), keyed (chapter, label): each
    chapter's own configs, so that they are the chapters' runs. The real questions keep their chapter's seeds (the
    first of the profile); without the real annotations C8 has no runs, and the page says so."""
    from mcd.study.verdicts import claim_runs
    groups = {}
    for chapter, labels in claim_runs().items():
        if chapter == "real_questions":
            try:
                declared = real_questions(profile, overrides=overrides, music_avqa=music_avqa)
            except FileNotFoundError:
                continue
        else:
            declared = CHAPTERS[chapter](profile, seeds=seeds, overrides=overrides)
        groups |= {(chapter, label): declared[label] for label in labels}
    return groups


# notebook stem -> its runs; chapters that read no runs are absent
CHAPTERS: dict[str, Callable[..., dict]] = {
    "table2_fusion": table2_fusion, "table3_sota": table3_sota, "fig5_late_fusion": fig5_late_fusion,
    "datasets": datasets, "real_questions": real_questions, "table8_efficiency": table8_efficiency,
    "table5_avqa": table5_avqa, "table10_losses": table10_losses, "table9_lef": table9_lef,
    "table6_text_encoder": table6_text_encoder, "table4_backbones": table4_backbones,
    "table7_attention": table7_attention, "fig6_grounding": fig6_grounding, "claims": claims, "report": claims,
}


def study_plan(profile: str, chapters=None) -> list[ExperimentConfig]:
    """Every run the chapters read, once each (by run folder), with every output any chapter asks of it: the test
    curves (Fig. 5) and the train scores (Table II), which change none of its numbers."""
    plan: dict = {}
    for name in chapters or CHAPTERS:
        if name not in CHAPTERS:
            continue
        for cfgs in CHAPTERS[name](profile).values():
            for cfg in cfgs:
                key = cfg.run_dir()
                if key in plan:
                    cfg = _with_outputs_of(cfg, plan[key])
                plan[key] = cfg
    return list(plan.values())


def _with_outputs_of(cfg: ExperimentConfig, other: ExperimentConfig) -> ExperimentConfig:
    """``cfg`` asking for the outputs ``other`` (the same run) asks for as well."""
    asked = {k: getattr(cfg.train, k) or getattr(other.train, k) for k in OUTPUT_SWITCHES}
    return dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, **asked))


__all__ = ["CHAPTERS", "study_plan", "backbone_inputs", "BACKBONES", "TABLE2_ROWS", "TABLE3_MODELS", "uses_synth",
           *[f.__name__ for f in CHAPTERS.values()]]
