"""The peers' named configs carry their own recipes, and the study builds every model's config the same way in
every chapter (so that runs are shared)."""
from __future__ import annotations

from pathlib import Path

import pytest

from mcd.config import load_config
from mcd.models.mcd import LATE_FUSION_VARIANTS
from mcd.study import (STUDY_PROFILES, experiment, field_overrides, model_configs, peer_experiment, peer_recipe)
from mcd.train import train

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_avst_config_is_its_own_recipe():
    cfg = load_config(CONFIGS / "avst.yaml")
    assert cfg.model.name == "avst" and cfg.name == "avst"
    assert (cfg.train.lr, cfg.train.lr_step, cfg.train.lr_gamma) == (1e-4, 8, 0.1)
    assert (cfg.train.batch_size, cfg.train.epochs, cfg.train.seed) == (64, 80, 1)
    assert cfg.data.patch_feats is not None and cfg.data.visual_feats is None
    assert (cfg.data.seconds, cfg.data.stride) == (60, 6)
    assert len(range(0, cfg.data.seconds, cfg.data.stride)) == 10
    assert cfg.model.avst.match_weight == 0.5


def test_pstp_config_is_its_own_recipe():
    cfg = load_config(CONFIGS / "pstp.yaml")
    assert cfg.model.name == "pstp" and cfg.name == "pstp"
    assert (cfg.train.lr, cfg.train.lr_step, cfg.train.lr_gamma) == (1e-4, 8, 0.1)
    assert (cfg.train.batch_size, cfg.train.epochs) == (64, 30)
    assert cfg.data.patch_feats is not None and cfg.data.visual_feats is not None
    assert (cfg.data.seconds, cfg.data.stride) == (60, 1)


@pytest.mark.parametrize("model", ["avst", "pstp"])
def test_peer_configs_train_on_toy_data(model, toy_root, tmp_path):
    cfg = load_config(CONFIGS / f"{model}.yaml", [
        f"data.root={toy_root}", "data.synth_profile=null", "data.seconds=6", f"out_dir={tmp_path / 'runs'}",
        "train.epochs=1", "train.batch_size=8", "train.progress=false", f"model.{model}.dim=16"])
    out = train(cfg, out=tmp_path / model)
    assert (out / "DONE").exists()


@pytest.mark.parametrize("profile", sorted(STUDY_PROFILES))
def test_peer_experiment_keeps_lr_and_steps_takes_profile_budget(profile):
    p = STUDY_PROFILES[profile]
    for model in ("avst", "pstp"):
        own = peer_recipe(model)
        cfg = peer_experiment(profile, model, seed=2)
        assert cfg.name == model and cfg.model.name == model
        assert cfg.train.lr == own.train.lr == 1e-4
        assert (cfg.train.epochs, cfg.train.batch_size, cfg.train.lr_step, cfg.train.seed) == (
            p.epochs, p.batch_size, p.lr_step, 2)
        assert getattr(cfg.model, model).dim == p.dim
        assert (cfg.data.visual_feats, cfg.data.patch_feats) == (own.data.visual_feats, own.data.patch_feats)
        own_steps = len(range(0, own.data.seconds, own.data.stride))
        steps = len(range(0, cfg.data.seconds, cfg.data.stride))
        assert steps == min(own_steps, cfg.data.seconds)
        assert peer_experiment(profile, model, seed=2, lr="mcd").train.lr == experiment(profile, "mcd", "mcd").train.lr


def test_peer_experiment_user_overrides_win():
    cfg = peer_experiment("default", "avst", overrides=["data.stride=3", "train.lr=0.01"])
    assert (cfg.data.stride, cfg.train.lr) == (3, 0.01)
    real = peer_experiment("default", "avst", overrides=["data.root=/x", "data.seconds=60"])
    assert real.data.stride == 6
    with pytest.raises(ValueError):
        peer_experiment("default", "avst", lr="fast")
    with pytest.raises(ValueError):
        peer_recipe("mcd")


def test_mcd_runs_are_shared_across_chapters():
    """Table II's 'MCD' row, Table III's MCD and Fig. 5's no-fusion variant are one config (one set of runs)."""
    for profile in STUDY_PROFILES:
        seed = STUDY_PROFILES[profile].seeds[0]
        table2 = experiment(profile, "mcd", "mcd", seed=seed, overrides=field_overrides("model.mcd", {}))
        fig5 = experiment(profile, "mcd", "mcd", seed=seed,
                          overrides=field_overrides("model.mcd", LATE_FUSION_VARIANTS["none"]))
        (table3,) = model_configs(profile, "mcd", seeds=[seed])
        assert table2.hash() == fig5.hash() == table3.hash()
        assert table2.name == fig5.name == table3.name == "mcd"
        (qonly,) = model_configs(profile, "qonly", seeds=[seed])
        assert qonly.hash() == experiment(profile, "qonly", "qonly", seed=seed).hash()


def test_extra_visual_sets_are_added_without_touching_the_data(tmp_path):
    """Table IV needs the emulated backbones; adding them must leave every existing file in place (notebooks
    running in parallel may be reading them) and give the data set generate() writes with the extra sets."""
    from mcd.data import synth
    from mcd.study import add_extra_visual_sets

    root = tmp_path / "synth"
    synth.generate(root, "tiny", 0, progress=False)
    frames = root / "feats" / "frames" / "s0000000.npy"
    before = (frames.stat().st_ino, frames.stat().st_mtime_ns, (root / "json_update" / "avqa-test.json").read_bytes())
    card = add_extra_visual_sets(root, "tiny", 0)
    assert card["extra_visual_sets"] is True
    assert set(card["feature_sets"]) >= {"resnet18", "clip_b32", "swinv2", "frames", "patches", "vggish"}
    after = (frames.stat().st_ino, frames.stat().st_mtime_ns, (root / "json_update" / "avqa-test.json").read_bytes())
    assert after == before
    assert len(list((root / "feats" / "swinv2").glob("*.npy"))) == card["profile_fields"]["videos"]
    assert not list(tmp_path.glob("synth.extra-*"))
    ref = synth.generate(tmp_path / "ref", "tiny", 0, extra_visual_sets=True, progress=False)
    assert card == ref
    assert add_extra_visual_sets(root, "tiny", 0) == card   # already there: nothing to do
