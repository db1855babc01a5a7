"""The ground floor: files written atomically, names kept inside their folders, checkpoints loaded as data, and one
writer per run folder.

- Every result is written to a temporary file in the same folder, flushed to disk, then renamed onto its name, so
  that an interrupted process (a kill, a full disk) never leaves a half-written result that could be taken for a
  finished one. A failed write raises an ``OSError`` that names the file it was writing.
- ``name_problem`` says why a string cannot be a plain file name (a video id, a feature set): no separators, no
  ``..``, no NUL, a bounded length.
- ``load_checkpoint`` reads a ``.pt`` with ``weights_only=True``: tensors and plain types, never code.
- ``run_lock`` holds a folder's ``.lock`` with ``flock``; the kernel drops it when its process ends, however it ends,
  so a lock left by a killed process is free again at once (never stale).

Imports nothing of the package but ``mcd.errors``; every module that writes a result writes it through here.
"""
from __future__ import annotations

import errno
import fcntl
import io
import json
import os
import re
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from mcd.errors import RunBusyError, RunError

LOCK_NAME = ".lock"
MAX_NAME_BYTES = 255  # the longest file name (in bytes) ext4, XFS, btrfs, APFS and NTFS allow
_NAME_CHARS = re.compile(r"[A-Za-z0-9_.#-]")  # '#': MUSIC-AVQA v2.0 names clips of one video '..._#03'


def _naming(err: OSError, path) -> OSError:
    """The same error (same errno, same subclass) naming ``path``, the file the user knows about. A folder that
    exists as a file (``mkdir`` says "File exists") is said as what it is: not a directory."""
    if isinstance(err, FileExistsError):
        return OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path))
    return OSError(err.errno, err.strerror or str(err), str(path))


def atomic_write(path, write: Callable[[str], None]) -> None:
    """Call ``write(tmp)`` on a temporary path beside ``path``, then rename it onto ``path``.

    The temporary file is removed if anything fails, so nothing is left behind but the old file (if any); an
    ``OSError`` (read-only folder, full disk, missing permission) is raised naming ``path``."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise _naming(e, path) from e
    os.fchmod(fd, 0o644)     # mkstemp makes the file private; a result is read by others (a group, a web server)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as e:
        raise _naming(e, path) from e
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _write_all(tmp: str, data) -> None:
    """Write ``data`` to ``tmp`` and flush it to the disk (so the rename publishes complete content)."""
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def atomic_write_bytes(path, data: bytes) -> None:
    atomic_write(path, lambda tmp: _write_all(tmp, data))


def atomic_write_text(path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=1, default=str))


def atomic_write_csv(path, df) -> None:
    """A pandas DataFrame as CSV, without its index."""
    atomic_write_text(path, df.to_csv(index=False))


def atomic_torch_save(obj, path) -> None:
    """``torch.save`` into memory first, so that a full disk fails in our write (an ``OSError`` naming the file),
    not inside torch's writer."""
    import torch
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write(path, lambda tmp: _write_all(tmp, buffer.getbuffer()))


def load_checkpoint(path) -> dict:
    """A checkpoint written by ``atomic_torch_save``, loaded with ``weights_only=True``: tensors, numbers, strings
    and containers of them. Anything else (a pickled object, whose loading could run code; a damaged file) is
    refused with a ``RunError`` naming the file, and nothing in it is executed."""
    import torch
    path = Path(path)
    if not path.is_file():
        raise RunError(path, "checkpoint missing" if not path.exists() else "not a regular file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as e:
        raise RunError(path, f"cannot be read ({e.strerror or e})") from None
    except Exception as e:  # the unpickler of an untrusted file may fail in any way; none of it is a bug of ours
        raise RunError(path, f"refused: not a checkpoint of tensors and plain values ({_why(e)}); nothing in it "
                             f"was run") from None
    if not isinstance(state, dict):
        raise RunError(path, f"refused: a checkpoint holds a dict, this file holds a {type(state).__name__}")
    return state


def _why(e: Exception) -> str:
    """The reason in a torch.load error, on one line: the weights-only unpickler's own sentence when there is one
    (its message around it advises loading the file with weights_only=False, which we never do)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(e))
    found = re.search(r"WeightsUnpickler error: ([^\n]*?)(?:\. |\n|$)", text)
    line = found.group(1) if found else (text.strip().splitlines() or [""])[0].split(". ")[0].rstrip(".")
    return f"{type(e).__name__}: {line[:300]}" if line else type(e).__name__


def name_problem(name, *, suffix: str = "") -> str | None:
    """Why ``name`` cannot be a plain file name inside a folder (with ``suffix`` appended), or None.

    A name holds ASCII letters, digits, ``-``, ``_``, ``.`` and ``#``; it does not start with ``.`` nor hold ``..``, so it
    never leaves its folder; with its suffix it fits in ``MAX_NAME_BYTES``."""
    if not isinstance(name, str):
        return f"is a {type(name).__name__}, not a string"
    if not name:
        return "is empty"
    if "\0" in name:
        return "holds a NUL character"
    if "/" in name or "\\" in name:
        return "holds a path separator ('/' or '\\'): it must be a name, not a path"
    if ".." in name:
        return "holds '..': it must be a name inside its folder, not a way out of it"
    if name.startswith("."):
        return "starts with '.' (a hidden file)"
    for ch in name:
        if not _NAME_CHARS.fullmatch(ch):
            return f"holds {ch!r} (U+{ord(ch):04X}); a name may hold ASCII letters, digits, '-', '_', '.' and '#'"
    size = len((name + suffix).encode("utf-8"))
    if size > MAX_NAME_BYTES:
        return f"is {size} bytes long with {suffix!r}, more than the {MAX_NAME_BYTES} a file name may have"
    return None


def inside(path: Path, folder: Path) -> bool:
    """Whether ``path``, with every symbolic link resolved, lies inside ``folder`` (also resolved)."""
    return Path(path).resolve().is_relative_to(Path(folder).resolve())


@contextmanager
def run_lock(folder, *, wait: bool = False) -> Iterator[None]:
    """Hold ``folder/.lock`` while the block runs: one writer per run folder.

    Another holder makes this raise ``RunBusyError`` at once, naming it (or, with ``wait``, block until it is gone).
    The lock is an ``flock`` on the open file: the kernel releases it when the holder exits or is killed, so a lock
    left by a dead process never blocks anyone. (On NFS, flock is emulated with POSIX locks by Linux clients.)"""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle = open(folder / LOCK_NAME, "a+", encoding="utf-8")
    except OSError as e:
        raise _naming(e, folder / LOCK_NAME if folder.is_dir() else folder) from e
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read(200).strip() or "another process"
            raise RunBusyError(folder, f"busy: {holder} is writing into this run folder. Wait for it to finish, "
                                       f"or train into another folder (--out)") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        handle.flush()
        yield
