"""The feature store: one contiguous array per split and feature set, loaded once, never per sample per epoch.

Each video has one ``.npy`` per feature set under ``ROOT/feats/{set}/{video_id}.npy``: audio and frame features
are [T, C], patch features [T, P, C]. Shorter videos are padded by repeating their last second (the field's
convention), longer ones are cut; ``stride`` keeps every stride-th second. Arrays larger than ``MEMMAP_BYTES`` are
assembled in a memory-mapped cache file next to the data and reused by later runs.

Video ids and set names are plain names (``mcd.io.name_problem``); every path is resolved and refused if it lies
outside its feature folder (a symbolic link pointing out); files are read without pickle.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from mcd.errors import DataError
from mcd.io import atomic_write, inside, name_problem

MEMMAP_BYTES = 2 << 30  # 2 GiB: above this, build the split array on disk


def feature_folder(root, feature_set: str) -> Path:
    return Path(root) / "feats" / feature_set


def feature_path(root, feature_set: str, video_id: str) -> Path:
    """``ROOT/feats/{set}/{video_id}.npy``; a DataError when the id or the set is not a plain name (a path such as
    ``../../x`` or ``/etc/x`` never reaches the file system)."""
    for what, name, suffix in (("feature set", feature_set, ""), ("video id", video_id, ".npy")):
        problem = name_problem(name, suffix=suffix)
        if problem:
            raise DataError(None, None, f"{what} {name!r} is not a name: it {problem}")
    return feature_folder(root, feature_set) / f"{video_id}.npy"


def check_array(x: np.ndarray, ndim: int, path: Path) -> str | None:
    """Why ``x`` cannot be used, or None (``header_problem``, then ``values_problem``)."""
    return header_problem(x, ndim) or values_problem(x)


def header_problem(x: np.ndarray, ndim: int) -> str | None:
    """Why an array of ``x``'s shape and dtype cannot be used (nothing of its data is read), or None."""
    if x.ndim != ndim:
        want = "[T, C]" if ndim == 2 else "[T, P, C]"
        return f"expected a {ndim}-d array {want}, got shape {tuple(x.shape)}"
    if not np.issubdtype(x.dtype, np.floating):
        return f"expected floating-point features, got dtype {x.dtype}"
    if x.shape[0] == 0:
        return "has zero seconds"
    if 0 in x.shape:
        return f"has an empty dimension: shape {tuple(x.shape)}"
    return None


def values_problem(x: np.ndarray) -> str | None:
    """Whether every value is finite once cast to float32, the dtype it is used in (a float64 of 1e300 is finite,
    its float32 is not)."""
    finite = np.isfinite(x)
    if x.dtype.itemsize > 4:  # values beyond float32's range become Inf once cast
        finite &= np.abs(x) <= np.finfo(np.float32).max
    if not finite.all():
        bad = np.argwhere(~finite)[0]
        return f"contains NaN or Inf as float32 (first at index {tuple(int(i) for i in bad)})"
    return None


def fit_seconds(x: np.ndarray, seconds: int, stride: int) -> np.ndarray:
    """Pad by repeating the last second (or cut) to ``seconds``, then keep every ``stride``-th second."""
    if x.shape[0] < seconds:
        x = np.concatenate([x, np.repeat(x[-1:], seconds - x.shape[0], axis=0)])
    return x[:seconds:stride]


def open_feature(root, feature_set: str, video_id: str) -> tuple[Path, np.ndarray]:
    """The video's feature file, memory-mapped (nothing read yet), or a DataError naming it: an id or set that is
    not a plain name, a path that resolves outside the feature folder (a symbolic link pointing out), a missing
    file, something other than a regular file (a FIFO would block), or a file that is not a pickle-free .npy."""
    path = feature_path(root, feature_set, video_id)
    folder = feature_folder(root, feature_set)
    if path.is_symlink() or path.exists():
        if not inside(path, folder):
            raise DataError(path, None, f"resolves to {path.resolve()}, outside its feature folder "
                                        f"{folder.resolve()}; refused", video_id=video_id)
    if not path.exists():
        raise DataError(path, None, "feature file missing", video_id=video_id)
    if not path.is_file():
        raise DataError(path, None, "not a regular file", video_id=video_id)
    try:
        return path, np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        reason = re.sub(r" at 0x[0-9a-f]+", "", str(e))  # numpy's message may hold an object's address
        raise DataError(path, None, f"cannot be read as .npy ({reason})", video_id=video_id) from None


def load_feature_set(root, feature_set: str, video_ids: list[str], *, ndim: int, seconds: int, stride: int = 1,
                     cache_dir=None, errors: list | None = None, progress: bool = True) -> np.ndarray | None:
    """Load one feature set for ``video_ids`` (in order) into one [N, T/stride, ...] float32 array.

    Problems (missing file, wrong shape or dtype, NaN/Inf, a width that differs) raise a DataError naming the file.
    With ``errors`` a list, the files are only checked (``mcd data check``): every problem is appended to it, no
    array is built and None is returned. The expected width is the one most videos have (the first file's on a
    tie), so that a file of the wrong width is the one blamed.
    """
    root = Path(root)
    found: list[DataError] = []
    folder = root / "feats" / feature_set
    # the folder's modification time changes when files are added, removed or renamed: a stale cache is not reused
    stamp = folder.stat().st_mtime_ns if folder.is_dir() else None
    key = hashlib.sha1(json.dumps([feature_set, seconds, stride, video_ids, stamp]).encode()).hexdigest()[:16]
    cache = Path(cache_dir or root / ".cache") / f"{feature_set}-{key}.npy"
    t = len(range(0, seconds, stride))
    if errors is None and cache.is_file():
        try:
            cached = np.load(cache, mmap_mode="r", allow_pickle=False)
            if cached.shape[:2] == (len(video_ids), t) and cached.dtype == np.float32:
                # small splits are read into memory (writable, like a fresh build); large ones stay memory-mapped
                return cached if cached.nbytes > MEMMAP_BYTES else np.array(cached)
        except (ValueError, OSError, EOFError):  # a damaged cache is rebuilt from the files
            pass

    def bad(err: DataError) -> None:
        if errors is None:
            raise err
        found.append(err)

    # Pass 1: the headers only (memory-mapped, nothing read): which files open, and the width most of them have.
    shapes: dict[int, tuple] = {}
    for i, vid in enumerate(video_ids):
        try:
            path, x = open_feature(root, feature_set, vid)
        except DataError as e:
            bad(e)
            continue
        reason = header_problem(x, ndim)
        if reason:
            bad(DataError(path, None, reason, video_id=vid))
            continue
        shapes[i] = x.shape[1:]
        del x
    widths = Counter(shapes.values())
    width, count = widths.most_common(1)[0] if widths else (None, 0)
    basis = "the majority" if list(widths.values()).count(count) == 1 else "no width has a majority: the first " \
                                                                          "file's is expected"

    # Pass 2: each file read once: checked, then copied into the split's array.
    out = None
    bar = tqdm(shapes.items(), desc=f"features {feature_set}", disable=not progress, leave=False)
    for i, shape in bar:
        vid = video_ids[i]
        path, x = open_feature(root, feature_set, vid)
        if shape != width:
            bad(DataError(path, None, f"feature width {shape} differs from {width}, the width of {count} of the "
                                      f"{len(shapes)} readable videos ({basis})", video_id=vid))
            continue
        reason = values_problem(np.asarray(x))
        if reason:
            bad(DataError(path, None, reason, video_id=vid))
            continue
        if errors is not None:
            continue
        if out is None:
            shape_all = (len(video_ids), t, *width)
            if int(np.prod(shape_all)) * 4 > MEMMAP_BYTES:
                cache.parent.mkdir(parents=True, exist_ok=True)
                out = np.lib.format.open_memmap(cache.with_suffix(".partial.npy"), "w+", np.float32, shape_all)
            else:
                out = np.empty(shape_all, np.float32)
        out[i] = fit_seconds(np.asarray(x, dtype=np.float32), seconds, stride)
    if errors is not None:
        errors.extend(found)
        return None
    if isinstance(out, np.memmap):
        out.flush()
        Path(out.filename).replace(cache)
        return np.load(cache, mmap_mode="r", allow_pickle=False)
    if out is not None:
        # Kept for the next run on this split: opening thousands of small files costs seconds a run; a folder that
        # cannot be written only loses the speed-up.
        def save(tmp: str) -> None:
            with open(tmp, "wb") as f:
                np.save(f, out, allow_pickle=False)
        try:
            atomic_write(cache, save)
        except OSError:
            pass
    return out
