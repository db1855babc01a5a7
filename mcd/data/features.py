"""The feature store: one contiguous array per split and feature set, loaded once, never per sample per epoch.

Each video has one ``.npy`` per feature set under ``ROOT/feats/{set}/{video_id}.npy``: audio and frame features
are [T, C], patch features [T, P, C]. Shorter videos are padded by repeating their last second (the field's
convention), longer ones are cut; ``stride`` keeps every stride-th second. Arrays larger than
``MEMMAP_BYTES`` are assembled in a memory-mapped cache file next to the data and reused by later runs.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from mcd.errors import DataError

MEMMAP_BYTES = 2 << 30  # 2 GiB: above this, build the split array on disk


def feature_path(root, feature_set: str, video_id: str) -> Path:
    return Path(root) / "feats" / feature_set / f"{video_id}.npy"


def check_array(x: np.ndarray, ndim: int, path: Path) -> str | None:
    """Why ``x`` cannot be used, or None."""
    if x.ndim != ndim:
        want = "[T, C]" if ndim == 2 else "[T, P, C]"
        return f"expected a {ndim}-d array {want}, got shape {tuple(x.shape)}"
    if not np.issubdtype(x.dtype, np.floating):
        return f"expected floating-point features, got dtype {x.dtype}"
    if x.shape[0] == 0:
        return "has zero seconds"
    if not np.isfinite(x).all():
        bad = np.argwhere(~np.isfinite(x))[0]
        return f"contains NaN or Inf (first at index {tuple(int(i) for i in bad)})"
    return None


def fit_seconds(x: np.ndarray, seconds: int, stride: int) -> np.ndarray:
    """Pad by repeating the last second (or cut) to ``seconds``, then keep every ``stride``-th second."""
    if x.shape[0] < seconds:
        x = np.concatenate([x, np.repeat(x[-1:], seconds - x.shape[0], axis=0)])
    return x[:seconds:stride]


def load_feature_set(root, feature_set: str, video_ids: list[str], *, ndim: int, seconds: int, stride: int = 1,
                     cache_dir=None, errors: list | None = None, progress: bool = True) -> np.ndarray | None:
    """Load one feature set for ``video_ids`` (in order) into one [N, T/stride, ...] float32 array.

    Problems (missing file, wrong shape or dtype, NaN/Inf, inconsistent widths) raise a DataError naming the
    file; with ``errors`` a list, every problem is appended instead and None is returned if any was found.
    """
    root = Path(root)
    found: list[DataError] = []
    first_shape = None
    out = None
    key = hashlib.sha1(json.dumps([feature_set, seconds, stride, video_ids]).encode()).hexdigest()[:16]
    cache = Path(cache_dir or root / ".cache") / f"{feature_set}-{key}.npy"
    if cache.exists():
        return np.load(cache, mmap_mode="r")

    def bad(err: DataError) -> None:
        if errors is None:
            raise err
        found.append(err)

    bar = tqdm(video_ids, desc=f"features {feature_set}", disable=not progress, leave=False)
    for i, vid in enumerate(bar):
        path = feature_path(root, feature_set, vid)
        if not path.exists():
            bad(DataError(path, None, "feature file missing", video_id=vid))
            continue
        try:
            x = np.load(path, mmap_mode="r")
        except (ValueError, OSError) as e:
            bad(DataError(path, None, f"cannot be read as .npy ({e})", video_id=vid))
            continue
        reason = check_array(np.asarray(x), ndim, path)
        if reason is None and first_shape is not None and x.shape[1:] != first_shape:
            reason = f"feature width {tuple(x.shape[1:])} differs from the other videos' {first_shape}"
        if reason:
            bad(DataError(path, None, reason, video_id=vid))
            continue
        if out is None:
            first_shape = x.shape[1:]
            t = len(range(0, seconds, stride))
            shape = (len(video_ids), t, *first_shape)
            nbytes = int(np.prod(shape)) * 4
            if nbytes > MEMMAP_BYTES:
                cache.parent.mkdir(parents=True, exist_ok=True)
                out = np.lib.format.open_memmap(cache.with_suffix(".partial.npy"), "w+", np.float32, shape)
            else:
                out = np.empty(shape, np.float32)
        out[i] = fit_seconds(np.asarray(x, dtype=np.float32), seconds, stride)
    if found:
        errors.extend(found)
        return None
    if isinstance(out, np.memmap):
        out.flush()
        Path(out.filename).replace(cache)
        return np.load(cache, mmap_mode="r")
    return out
