"""Typed experiment configs: dataclasses loaded from YAML, with dotted command-line overrides.

    cfg = load_config("configs/mcd.yaml", ["train.epochs=5", "model.mcd.num_blocks=3"])

Unknown keys and wrongly typed values are errors that name the key, never silently ignored.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from mcd.io import atomic_write_text
from mcd.models.avst import AVSTConfig
from mcd.models.baselines import MLPConfig, QOnlyConfig
from mcd.models.mcd import MCDConfig
from mcd.models.pstp import PSTPConfig


DATA_FORMATS = ("music_avqa", "avqa")


@dataclass
class DataConfig:
    """Where the annotations and features are, and how to read them.

    Annotation files are found under ``annotation_root`` (default ``root``) and features under
    ``root/feats/{name}/{video_id}.npy``. The annotation file names default to the format's official layout
    (``mcd.data.layout``: Music-AVQA's ``{version}/avqa-{split}.json``, AVQA's ``{split}_qa.json``); set
    ``train_files``, ``val_file`` or ``test_file`` (relative to ``annotation_root``) to read others.

    ``format="avqa"`` reads the AVQA data set of Yang et al. instead (``mcd.data.avqa``): multiple choice (so
    ``multiple_choice`` is set). SynthAVQA writes those files too when asked for its multiple-choice view.
    """

    root: str = "data/synthavqa-default"
    annotation_root: str | None = None  # defaults to root (the real annotations live apart from the features)
    version: str = "json_update"         # annotation version: json (original) or json_update (cleaned)
    train_files: list[str] | None = None  # None: the format's official file names (mcd.data.layout)
    val_file: str | None = None
    test_file: str | None = None
    audio_feats: str | None = "vggish"   # feats/ folder of [T, 128] audio; None: the model takes no audio
    visual_feats: str | None = "frames"  # feats/ folder of [T, C] frame features; None: no visual input
    patch_feats: str | None = None       # feats/ folder of [T, P, C] patch features (AVST, PSTP-Net)
    seconds: int = 60                    # videos are padded to this length by repeating the last second
    stride: int = 1                      # temporal subsampling (AVST keeps every 6th second)
    multiple_choice: bool = False        # AVQA (Yang et al.): records carry 4 options and the answer is one of them
    synth_profile: str | None = "default"  # when root holds no data, generate SynthAVQA with this profile
    synth_seed: int = 0
    cache_dir: str | None = None         # where split feature arrays are cached (default: root/.cache)
    format: str = "music_avqa"           # annotation format: music_avqa | avqa (Yang et al., multiple choice)

    def __post_init__(self):
        if self.format not in DATA_FORMATS:
            raise ConfigError(f"data.format must be one of {list(DATA_FORMATS)}, got {self.format!r}")
        if self.format == "avqa":
            self.multiple_choice = True   # AVQA is multiple choice; there is nothing else to read

    def ann_root(self) -> Path:
        return Path(self.annotation_root or self.root)


@dataclass
class ModelConfig:
    """Which model to build (``name``, see ``mcd.models.registry``) and each model's own options."""

    name: str = "mcd"
    mcd: MCDConfig = field(default_factory=MCDConfig)
    avst: AVSTConfig = field(default_factory=AVSTConfig)
    pstp: PSTPConfig = field(default_factory=PSTPConfig)
    mlp: MLPConfig = field(default_factory=MLPConfig)
    qonly: QOnlyConfig = field(default_factory=QOnlyConfig)


@dataclass
class TrainConfig:
    """The paper's recipe by default: Adam, lr 1e-3, x0.1 every 8 epochs, 30 epochs, batch 64."""

    epochs: int = 30
    batch_size: int = 64         # the global batch: with N processes each takes batch_size / N (N must divide it)
    lr: float = 1e-3
    lr_step: int = 8
    lr_gamma: float = 0.1
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    weight_decay: float = 0.0
    grad_clip: float | None = None
    seed: int = 1
    device: str = "auto"         # auto | cpu | cuda | cuda:N
    precision: str = "fp32"      # fp32 | bf16 (autocast on CUDA; elsewhere fp32, with a warning)
    compile: bool = False        # torch.compile the model
    sync_bn: bool = True         # several CUDA processes: BatchNorm statistics over the global batch (SyncBatchNorm)
    threads: int | None = None   # torch CPU threads (None: torch's default)
    select: str = "val"          # val: keep the best-on-val weights; last: the last epoch's (val was trained on)
    eval_test_each_epoch: bool = True  # record test accuracy per epoch (Fig. 5); selection still uses val only
    progress: bool = True


@dataclass
class ExperimentConfig:
    name: str = "run"
    out_dir: str = "runs"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self, prune: bool = True) -> dict:
        """The resolved config; ``prune`` keeps only the selected model's options (what the run depends on)."""
        d = dataclasses.asdict(self)
        if prune:
            d["model"] = {"name": self.model.name, self.model_key(): d["model"][self.model_key()]}
        return d

    def run_dir(self) -> Path:
        """Where this run is written: ``{out_dir}/{name}-{hash}``."""
        return Path(self.out_dir) / f"{self.name}-{self.hash()}"

    def model_key(self) -> str:
        from mcd.models.registry import config_key
        return config_key(self.model.name)

    def hash(self) -> str:
        """Identity of a run: everything that can change its numbers (not where it is written, not the bar)."""
        d = self.to_dict()
        d.pop("out_dir")
        d.pop("name")
        d["train"].pop("progress")
        return hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest()[:10]


class ConfigError(ValueError):
    pass


def _coerce(tp, value, key: str):
    """Check ``value`` against the annotation ``tp`` and build nested dataclasses."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(a, value, key)
            except ConfigError:
                pass
        raise ConfigError(f"{key}: {value!r} does not fit {tp}")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return from_dict(tp, value, key)
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        (item,) = typing.get_args(tp) or (typing.Any,)
        return [_coerce(item, v, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict or tp is typing.Any:
        return value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is bool and not isinstance(value, bool):
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if tp is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if isinstance(tp, type) and not isinstance(value, tp):
        raise ConfigError(f"{key}: expected {tp.__name__}, got {value!r}")
    return value


def from_dict(cls, d: dict, prefix: str = ""):
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(d) - names
    if unknown:
        raise ConfigError(f"unknown key(s) {sorted(unknown)} in {prefix or cls.__name__}; known: {sorted(names)}")
    kwargs = {k: _coerce(hints[k], v, f"{prefix}.{k}" if prefix else k) for k, v in d.items()}
    return cls(**kwargs)


def _set_dotted(d: dict, key: str, value) -> None:
    parts = key.split(".")
    for p in parts[:-1]:
        d = d.setdefault(p, {})
        if not isinstance(d, dict):
            raise ConfigError(f"override {key}: {p} is not a section")
    d[parts[-1]] = value


def merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def parse_overrides(overrides: list[str] | None) -> dict:
    """``["train.epochs=5", "data.patch_feats=null"]`` -> nested dict; values are read as YAML scalars."""
    out: dict = {}
    for o in overrides or []:
        if "=" not in o:
            raise ConfigError(f"override {o!r} must look like section.key=value")
        k, v = o.split("=", 1)
        _set_dotted(out, k.strip(), yaml.safe_load(v) if v.strip() else None)
    return out


def load_yaml(path) -> dict:
    """Read a YAML config; a top-level ``base:`` names another file (relative to this one) to start from."""
    path = Path(path)
    d = yaml.safe_load(path.read_text()) or {}
    base = d.pop("base", None)
    return merge(load_yaml(path.parent / base), d) if base else d


def load_config(path=None, overrides: list[str] | None = None, **sections) -> ExperimentConfig:
    """Build an ExperimentConfig from YAML, then ``sections`` (nested dicts), then dotted overrides."""
    d = load_yaml(path) if path else {}
    d = merge(d, sections)
    d = merge(d, parse_overrides(overrides))
    return from_dict(ExperimentConfig, d)


def save_config(cfg: ExperimentConfig, path) -> None:
    atomic_write_text(path, yaml.safe_dump(cfg.to_dict(), sort_keys=False))
