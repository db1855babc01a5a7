"""Typed experiment configs: dataclasses loaded from YAML, with dotted command-line overrides.

    cfg = load_config("configs/mcd.yaml", ["train.epochs=5", "model.mcd.num_blocks=3"])

Unknown keys, wrongly typed values and values out of range are errors that name the key, never silently ignored;
YAML is read as plain values only (no python tags, no aliases), and its errors name the file.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from mcd.cpu_matmul import ROUTES as CPU_MATMUL_ROUTES
from mcd.errors import shown_path
from mcd.io import atomic_write_text, name_problem
from mcd.models.avst import AVSTConfig
from mcd.models.baselines import MLPConfig, QOnlyConfig
from mcd.models.mcd import MCDConfig
from mcd.models.pstp import PSTPConfig


DATA_FORMATS = ("music_avqa", "avqa")
MAX_SECONDS = 3600            # data.seconds: videos are padded to this many seconds (the field uses 60)
MAX_CONFIG_BYTES = 1 << 20    # a YAML config larger than 1 MiB is refused
MAX_OVERRIDE_CHARS = 10_000
_OVERRIDE_KEY = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*){0,7}")


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
    allow_new_answers: bool = False      # Music-AVQA answers outside its 42 are accepted (data of your own)
    # more test sets to answer with the best weights, {name: annotation file}, e.g. MUSIC-AVQA v2.0's balanced and
    # biased test sets; each gets its predictions_<name>.csv and scores (absolute, or relative to annotation_root)
    extra_test_files: dict[str, str] = field(default_factory=dict)

    def __post_init__(self):
        if self.format not in DATA_FORMATS:
            raise ConfigError(f"data.format must be one of {list(DATA_FORMATS)}, got {self.format!r}")
        if self.format == "avqa":
            self.multiple_choice = True   # AVQA is multiple choice; there is nothing else to read
        for key in ("audio_feats", "visual_feats", "patch_feats"):
            problem = name_problem(getattr(self, key)) if getattr(self, key) is not None else None
            if problem:
                raise ConfigError(f"data.{key} names a folder under feats/ and {problem}")
        _require(1 <= self.seconds <= MAX_SECONDS, "data.seconds", f"between 1 and {MAX_SECONDS}", self.seconds)
        _require(self.stride >= 1, "data.stride", "at least 1", self.stride)
        _require(0 <= self.synth_seed < 2**32, "data.synth_seed", "between 0 and 2**32 - 1", self.synth_seed)
        for name in self.extra_test_files:
            _require(isinstance(name, str) and name.replace("_", "").isalnum() and name not in ("train", "val", "test"),
                     "data.extra_test_files", "names of letters, digits and _ (not train, val or test)", name)

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
    cpu_matmul: str = "mkl"      # mkl | onednn: the library of float32 CPU matmuls, float32 either way (mcd.cpu_matmul)
    sync_bn: bool = True         # several CUDA processes: BatchNorm statistics over the global batch (SyncBatchNorm)
    threads: int | None = None   # torch CPU threads (None: torch's default)
    select: str = "val"          # val: keep the best-on-val weights; last: the last epoch's (val was trained on)
    eval_test_each_epoch: bool = False  # also score test after every epoch (the curves of Fig. 5); selection never
                                        # reads test, so this changes no number and is not part of a run's identity
    score_train: bool = True     # also score the train split with the best weights (whether a model fits what it
                                 # fails to generalise); changes no other number, not part of a run's identity
    progress: bool = True

    def __post_init__(self):
        _require(self.epochs >= 1, "train.epochs", "at least 1", self.epochs)
        _require(self.batch_size >= 1, "train.batch_size", "at least 1", self.batch_size)
        _require(self.lr > 0, "train.lr", "positive", self.lr)
        _require(self.lr_step >= 1, "train.lr_step", "at least 1", self.lr_step)
        _require(0 <= self.seed < 2**32, "train.seed", "between 0 and 2**32 - 1", self.seed)
        _require(self.threads is None or self.threads >= 1, "train.threads", "at least 1 (or null)", self.threads)
        _require(self.select in ("val", "last"), "train.select", "val or last", self.select)
        _require(self.cpu_matmul in CPU_MATMUL_ROUTES, "train.cpu_matmul", " or ".join(CPU_MATMUL_ROUTES),
                 self.cpu_matmul)


# The train switches that only add outputs to a run (the per-epoch test curves, the train split's scores): not part
# of a run's identity; a run asked for one is given it (``mcd.study.chapters.study_plan``), and a finished run
# without it is retrained (``mcd.runs.Run.provides``).
OUTPUT_SWITCHES = ("eval_test_each_epoch", "score_train")


@dataclass
class ExperimentConfig:
    name: str = "run"
    out_dir: str = "runs"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self):
        problem = name_problem(self.name)
        if problem:
            raise ConfigError(f"name is the first part of the run folder's name and {problem}")

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

    def identity(self) -> dict:
        """Everything that can change a run's numbers (not where it is written, not the bar, not the extra outputs of
        ``OUTPUT_SWITCHES``). A switch that only lets data load (``data.allow_new_answers``) is left out while off."""
        d = self.to_dict()
        d.pop("out_dir")
        d.pop("name")
        d["train"].pop("progress")
        for key in OUTPUT_SWITCHES:                 # each adds outputs, changes no other number
            d["train"].pop(key)
        if not d["data"]["allow_new_answers"]:
            d["data"].pop("allow_new_answers")
        if d["train"]["cpu_matmul"] == "mkl":       # torch's own route: runs from before the switch keep their hash
            d["train"].pop("cpu_matmul")
        return d

    def hash(self) -> str:
        """Identity of a run, hashed (``identity``)."""
        return hashlib.sha1(json.dumps(self.identity(), sort_keys=True).encode()).hexdigest()[:10]


def config_diff(old: dict, new: dict, prefix: str = "") -> dict[str, tuple]:
    """{dotted key: (old value, new value)} for every key whose value differs between two config dicts."""
    out: dict[str, tuple] = {}
    for k in sorted(set(old) | set(new), key=str):
        a, b = old.get(k, "<absent>"), new.get(k, "<absent>")
        key = f"{prefix}{k}"
        if isinstance(a, dict) and isinstance(b, dict):
            out.update(config_diff(a, b, f"{key}."))
        elif a != b:
            out[key] = (a, b)
    return out


def _require(ok: bool, key: str, expected: str, value) -> None:
    if not ok:
        raise ConfigError(f"{key}: expected {expected}, got {value!r}")


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
        value = float(value)
    if tp is float and isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{key}: expected a finite number, got {value!r}")
    if tp is bool and not isinstance(value, bool):
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if tp is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if tp is int and not -2**63 <= value < 2**63:
        raise ConfigError(f"{key}: expected a 64-bit integer, got {value!r}")
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


class _Loader(yaml.SafeLoader):
    """``yaml.safe_load``'s loader (plain values only: a ``!!python/...`` tag is an error), which also refuses
    aliases (``*name``): a config never needs one, and nested aliases expand to billions of values when the
    config is walked (the "billion laughs"), or make a value that contains itself."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not allowed in a config",
                                              self.peek_event().start_mark)
        return super().compose_node(parent, index)


def _yaml_problem(e: yaml.YAMLError) -> str:
    """A YAML error on one line: what is wrong and where."""
    if isinstance(e, yaml.MarkedYAMLError):
        mark = e.problem_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        return " ".join(str(p) for p in (e.context, e.problem) if p) + where
    return str(e).replace("\n", " ")


def read_yaml(text: str):
    return yaml.load(text, Loader=_Loader)  # noqa: S506 (_Loader is a SafeLoader)


def parse_overrides(overrides: list[str] | None) -> dict:
    """``["train.epochs=5", "data.patch_feats=null"]`` -> nested dict; values are read as plain YAML values."""
    out: dict = {}
    for o in overrides or []:
        k, sep, v = o.partition("=")
        k = k.strip()
        if not sep or not _OVERRIDE_KEY.fullmatch(k):
            raise ConfigError(f"override {o[:200]!r} must look like section.key=value")
        if len(v) > MAX_OVERRIDE_CHARS:
            raise ConfigError(f"override {k}: the value has {len(v)} characters, more than {MAX_OVERRIDE_CHARS}")
        try:
            value = read_yaml(v) if v.strip() else None
        except yaml.YAMLError as e:
            raise ConfigError(f"override {k}: not a plain YAML value ({_yaml_problem(e)})") from None
        except RecursionError:
            raise ConfigError(f"override {k}: the value is nested too deeply") from None
        _set_dotted(out, k, value)
    return out


def load_yaml(path, _seen: tuple = ()) -> dict:
    """Read a YAML config; a top-level ``base:`` names another file (relative to this one) to start from.
    Any problem is a ConfigError naming the file, on one line."""
    path = Path(path)
    where = shown_path(path)
    if path.resolve() in _seen:
        raise ConfigError(f"{where}: its base: chain comes back to it ({' -> '.join(shown_path(p) for p in _seen)})")
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{where}: a config file of {path.stat().st_size} bytes (more than {MAX_CONFIG_BYTES})")
        d = read_yaml(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{where}: cannot read the config file ({e.strerror or e})") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{where}: not UTF-8 text (byte {e.start})") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{where}: not a plain YAML config: {_yaml_problem(e)}") from None
    except RecursionError:
        raise ConfigError(f"{where}: nested too deeply to read") from None
    d = {} if d is None else d
    if not isinstance(d, dict):
        raise ConfigError(f"{where}: a config is a mapping of sections, this file holds a {type(d).__name__}")
    base = d.pop("base", None)
    if base is None:
        return d
    if not isinstance(base, str):
        raise ConfigError(f"{where}: base: names a config file, got {base!r}")
    return merge(load_yaml(path.parent / base, (*_seen, path.resolve())), d)


def load_config(path=None, overrides: list[str] | None = None, **sections) -> ExperimentConfig:
    """Build an ExperimentConfig from YAML, then ``sections`` (nested dicts), then dotted overrides."""
    d = load_yaml(path) if path else {}
    d = merge(d, sections)
    d = merge(d, parse_overrides(overrides))
    return from_dict(ExperimentConfig, d)


def save_config(cfg: ExperimentConfig, path) -> None:
    atomic_write_text(path, yaml.safe_dump(cfg.to_dict(), sort_keys=False))
