"""Where each format keeps its annotation files (the official release layouts), relative to the annotation root.

- Music-AVQA (``format: music_avqa``): ``{version}/avqa-{split}.json``, ``version`` = ``json`` or ``json_update``.
- AVQA of Yang et al. (``format: avqa``): ``{split}_qa.json``.

A config names other files with ``data.train_files`` / ``data.val_file`` / ``data.test_file``.
"""
from __future__ import annotations

from pathlib import Path

SPLITS = ("train", "val", "test")
OFFICIAL_FILES: dict[str, dict[str, str]] = {
    "music_avqa": {s: f"{{version}}/avqa-{s}.json" for s in SPLITS},
    "avqa": {s: f"{s}_qa.json" for s in SPLITS},
}


def split_files(data_cfg, split: str) -> list[Path]:
    """The annotation files of ``split`` for ``data_cfg`` (a ``DataConfig``), in the order they are read."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    given = {"train": data_cfg.train_files, "val": data_cfg.val_file, "test": data_cfg.test_file}[split]
    if given is None:
        names = [OFFICIAL_FILES[data_cfg.format][split]]
    else:
        names = list(given) if isinstance(given, (list, tuple)) else [given]
    return [data_cfg.ann_root() / n.format(version=data_cfg.version) for n in names]
