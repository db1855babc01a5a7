"""Build a model by name: ``build_model(cfg.model, dims)``.

Each entry maps a name to (the ModelConfig field holding its options, the class). Variants of one model are
config switches, never copies of the class.
"""
from __future__ import annotations

from torch import nn

from mcd.models.base import InputDims

_REGISTRY: dict[str, tuple[str, str, str]] = {
    # name: (ModelConfig field, module, class)
    "mcd": ("mcd", "mcd.models.mcd", "MCD"),
    "avst": ("avst", "mcd.models.avst", "AVST"),
    "pstp": ("pstp", "mcd.models.pstp", "PSTPNet"),
    "mlp": ("mlp", "mcd.models.baselines", "ModalityMLP"),
    "qonly": ("qonly", "mcd.models.baselines", "QOnlyLSTM"),
}

MODEL_NAMES = sorted(_REGISTRY)


def config_key(name: str) -> str:
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; known models: {MODEL_NAMES}")
    return _REGISTRY[name][0]


def model_class(name: str) -> type[nn.Module]:
    import importlib

    key, module, cls = _REGISTRY[name] if name in _REGISTRY else (config_key(name), None, None)
    return getattr(importlib.import_module(module), cls)


def build_model(model_cfg, dims: InputDims) -> nn.Module:
    """``model_cfg`` is a ``ModelConfig``; the selected model gets its own typed options."""
    return model_class(model_cfg.name)(getattr(model_cfg, config_key(model_cfg.name)), dims)
