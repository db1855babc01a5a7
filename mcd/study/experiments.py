"""Configs of the study's runs, built one way for every chapter, so that the same model asked for by two chapters
is one config (one hash), trained once.

``experiment`` gives any model under a profile; ``peer_experiment`` a peer (AVST, PSTP-Net) with its own inputs and
time steps; ``variant_configs`` the rows of an ablation table (switches of one model's config).
"""
from __future__ import annotations

from mcd.config import ExperimentConfig, load_config
from mcd.study.profiles import REPO, STUDY_PROFILES, data_root, uses_synth

PEERS = {"avst": "AVST", "pstp": "PSTP-Net"}   # our model name -> the paper's
PEER_LR = ("own", "mcd")


def experiment(profile: str, name: str, model: str = "mcd", *, seed: int | None = None,
               overrides: list[str] | None = None, dim_keys: tuple[str, ...] | None = None) -> ExperimentConfig:
    """A config for ``model`` under ``profile``. The data are SynthAVQA of that profile, drawn with the run's seed
    (``data.synth_seed`` = ``train.seed``, in its own folder, ``data_root``): the data draw is a random factor like
    the initialisation, and every model of one seed sees the same draw. ``overrides`` that point the data
    elsewhere (e.g. ``data.root=/path/to/features``) replace it."""
    p = STUDY_PROFILES[profile]
    from mcd.data.synth import PROFILES
    seed = seed if seed is not None else p.seeds[0]
    data = [f"data.root={data_root(profile, seed)}", f"data.synth_profile={p.synth}", f"data.synth_seed={seed}"]
    base = [f"name={name}", f"data.seconds={PROFILES[p.synth].seconds}", f"out_dir={REPO / 'runs' / profile}",
            f"model.name={model}", *(data if uses_synth(overrides) else []),
            f"train.epochs={p.epochs}", f"train.batch_size={p.batch_size}", f"train.lr_step={p.lr_step}",
            f"train.seed={seed}", f"train.cpu_matmul={p.cpu_matmul}",
            "train.progress=false",  # notebooks show one bar over runs, not one per epoch
            "train.score_train=false"]  # the train split is scored only where a chapter reads it (FIT below)
    from mcd.models.registry import config_key
    key = config_key(model)
    for k in dim_keys or ("dim",):
        base.append(f"model.{key}.{k}={p.dim}")
    if model == "mlp":
        base.append(f"model.mlp.hidden={p.dim}")
    return load_config(None, base + list(p.extra) + list(overrides or []))


# Overrides that ask a run for its train split's scores as well (Table II's fit table reads them; no other number
# changes, and the study plan gives a run every output any chapter asks of it)
FIT = ("train.score_train=true",)


def field_overrides(section: str, fields: dict) -> list[str]:
    """{"num_blocks": 3, "self_audio": False} -> ["model.mcd.num_blocks=3", "model.mcd.self_audio=false"]."""
    import yaml
    return [f"{section}.{k}={yaml.safe_dump(v, default_flow_style=True).strip().removesuffix('...').strip()}"
            for k, v in fields.items()]


def variant_configs(profile: str, variants: dict[str, dict], *, model: str = "mcd", seeds=None, overrides=(),
                    curves: bool = False) -> dict[str, list[ExperimentConfig]]:
    """{label: config switches} -> {label: one config per seed}. All runs of one model share the run name, so the
    same config asked for by two chapters (the full model is a row of several tables) is one run. ``curves``: also
    score test after every epoch (``train.eval_test_each_epoch``; not part of a run's identity)."""
    from mcd.models.registry import config_key
    seeds = list(seeds or STUDY_PROFILES[profile].seeds)
    section = f"model.{config_key(model)}"
    extra = ["train.eval_test_each_epoch=true"] if curves else []
    return {label: [experiment(profile, model, model, seed=s,
                               overrides=field_overrides(section, fields) + extra + list(overrides)) for s in seeds]
            for label, fields in variants.items()}


def peer_recipe(model: str) -> ExperimentConfig:
    """A peer's own recipe, ``configs/{model}.yaml`` (its public code's optimiser, inputs and sampling)."""
    if model not in PEERS:
        raise ValueError(f"{model!r} is not a peer; peers: {sorted(PEERS)}")
    return load_config(REPO / "configs" / f"{model}.yaml")


def peer_experiment(profile: str, model: str, *, seed: int | None = None, overrides: list[str] | None = None,
                    lr: str = "own") -> ExperimentConfig:
    """A peer (``avst``, ``pstp``) under ``profile``: the profile's data, width, epochs, batch size and lr step,
    as every model of the study gets; from the peer's own config (``peer_recipe``) its input feature sets, its
    time steps per clip (AVST: 10, i.e. every 6th of 60 s, every 2nd of SynthAVQA default's 20 s) and, with
    ``lr='own'``, its learning rate (``lr='mcd'`` keeps MCD's). ``overrides`` come last and win."""
    if lr not in PEER_LR:
        raise ValueError(f"lr must be one of {PEER_LR}, got {lr!r}")
    own = peer_recipe(model)
    recipe = [f"data.visual_feats={_yaml_scalar(own.data.visual_feats)}",
              f"data.patch_feats={_yaml_scalar(own.data.patch_feats)}"]
    if lr == "own":
        recipe.append(f"train.lr={own.train.lr}")
    user = list(overrides or [])
    cfg = experiment(profile, model, model, seed=seed, overrides=recipe + user)
    if not any(o.split("=", 1)[0].strip() == "data.stride" for o in user):
        steps = len(range(0, own.data.seconds, own.data.stride))
        stride = max(1, cfg.data.seconds // steps)
        cfg = experiment(profile, model, model, seed=seed, overrides=recipe + [f"data.stride={stride}"] + user)
    return cfg


def _yaml_scalar(v) -> str:
    return "null" if v is None else str(v)


def model_configs(profile: str, model: str, *, seeds=None, overrides=(), peer_lr: str = "own") -> list[ExperimentConfig]:
    """One config per seed for any model of the study, built the way every chapter builds it (so that the same
    model is one set of runs across chapters): MCD and the Table II baselines by ``experiment``, the peers by
    ``peer_experiment``."""
    seeds = list(seeds or STUDY_PROFILES[profile].seeds)
    if model in PEERS:
        return [peer_experiment(profile, model, seed=s, overrides=list(overrides), lr=peer_lr) for s in seeds]
    return [experiment(profile, model, model, seed=s, overrides=list(overrides)) for s in seeds]


def real_qonly_config(profile: str, root, seed: int = 1, overrides=None) -> ExperimentConfig:
    """The learned question-only LSTM on the real Music-AVQA questions: train = the train records
    (``real_data.train_file``: the official file, else the partial reconstruction) + json_update val (so the last
    epoch is kept: no held-out val is left), test = json_update test, and MUSIC-AVQA v2.0's two test sets where they
    are found. No features are read, so the real questions can be used here."""
    import json

    from mcd import real_data
    p = STUDY_PROFILES[profile]
    extra = real_data.v2_extra_test_files()
    return experiment(profile, "real-qonly", "qonly", seed=seed, overrides=[
        f"data.root={root}", "data.synth_profile=null", "data.audio_feats=null", "data.visual_feats=null",
        f"data.train_files=[{real_data.train_file(root)}, json_update/avqa-val.json]", "data.version=json_update",
        f"data.extra_test_files={json.dumps(extra)}",
        "train.select=last", f"model.qonly.dim={512 if profile != 'tiny' else p.dim}",
        f"train.epochs={5 if profile != 'tiny' else 1}", *(overrides or [])])
