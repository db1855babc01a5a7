"""The study's SynthAVQA draws: each seed reads its own draw (generator seed = run seed), every model of a seed
the same one, generated where the study asks for data, and named in the table labels."""
from __future__ import annotations

from mcd import study
from mcd.data import synth


def test_each_seed_reads_its_own_draw():
    mcd2 = study.experiment("tiny", "mcd", "mcd", seed=2)
    mlp2 = study.experiment("tiny", "mlp", "mlp", seed=2, overrides=["model.mlp.modalities=qav"])
    mcd3 = study.experiment("tiny", "mcd", "mcd", seed=3)
    assert mcd2.data.synth_seed == mcd2.train.seed == 2 and mcd3.data.synth_seed == 3
    assert mcd2.data.root == mlp2.data.root == str(study.data_root("tiny", 2)) != mcd3.data.root
    assert study.data_root("tiny", 2).name == f"synthavqa{synth.SYNTH_VERSION}-tiny-s2"
    (peer,) = study.model_configs("tiny", "avst", seeds=[2])
    assert (peer.data.root, peer.data.synth_seed) == (mcd2.data.root, 2)
    label = study.data_label("tiny")
    assert f"v{synth.SYNTH_VERSION}" in label and "one draw per seed" in label and label.endswith(", test split")


def test_user_data_is_not_a_draw():
    cfg = study.experiment("tiny", "mcd", "mcd", seed=2, overrides=["data.root=/feats", "data.synth_profile=null"])
    assert (cfg.data.root, cfg.data.synth_profile, cfg.data.synth_seed) == ("/feats", None, 0)
    assert study.data_label("tiny", ["data.root=/feats"]) == "Music-AVQA features given by the user"


def test_runs_generate_each_draw_before_training(tmp_path, monkeypatch):
    monkeypatch.setattr(study.experiments, "data_root", lambda profile, seed: tmp_path / f"draw-{seed}")
    trained = []

    def fake_get_or_train(cfg, retrain=False):
        card = synth.read_card(cfg.data.root)
        trained.append((cfg.train.seed, card["seed"], card["profile"]))
        return cfg.train.seed

    monkeypatch.setattr(study.results, "get_or_train", fake_get_or_train)
    cfgs = [study.experiment("tiny", "mlp", "mlp", seed=s) for s in (1, 2)]
    assert study.runs(cfgs) == [1, 2]
    assert trained == [(1, 1, "tiny"), (2, 2, "tiny")]


def test_extra_visual_sets_in_every_draw(tmp_path, monkeypatch):
    monkeypatch.setattr(study.comparisons, "data_root", lambda profile, seed: tmp_path / f"draw-{seed}")
    card = study.ensure_extra_visual_sets("tiny", seeds=[1, 2])
    assert card["seed"] == 1 and card["extra_visual_sets"]
    for seed in (1, 2):
        assert (tmp_path / f"draw-{seed}" / "feats" / "swinv2").is_dir()
        assert synth.read_card(tmp_path / f"draw-{seed}")["seed"] == seed
    assert study.ensure_extra_visual_sets("tiny", ["data.root=/feats"]) is None
