"""Errors for bad input and faults: each names the file (and the record, or the field), so that a user can find
and fix it. The command line prints any of them on one line, without a traceback (``mcd.cli.main``)."""
from __future__ import annotations

from pathlib import Path


def printable(text: str) -> str:
    """``text`` safe to print on any terminal: a lone surrogate (from a JSON escape, or from a file name that is not
    UTF-8) becomes a backslash escape instead of an encoding error when printed."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def shown_path(path) -> str:
    """A path as its bytes read, non-UTF-8 bytes escaped (``\\xff``), never an unprintable string."""
    return Path(path).as_posix().encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


class DataError(Exception):
    """A problem in a data set. ``record`` is the 0-based index in the annotation list (None: the whole file);
    ``field`` the field of the record at fault, when one is."""

    def __init__(self, path, record: int | None, reason: str, *, question_id=None, video_id: str | None = None,
                 field: str | None = None):
        self.path = Path(path) if path is not None else None
        self.record = record
        self.reason = reason
        self.question_id = question_id
        self.video_id = video_id
        self.field = field
        super().__init__(str(self))

    def __str__(self) -> str:
        where = shown_path(self.path) if self.path is not None else "<data>"
        if self.record is not None:
            where += f", record {self.record}"
        if self.question_id is not None:
            where += f" (question_id {self.question_id})"
        if self.video_id is not None:
            where += f" (video {self.video_id})"
        what = f"field {self.field}: {self.reason}" if self.field else self.reason
        return printable(f"{where}: {what}")


class TrainingError(Exception):
    """The training run cannot go on (for example a NaN loss); the message says where."""


class RunError(Exception):
    """A run folder that cannot be used as asked (not a run, damaged, trained with another config); names it."""

    def __init__(self, path, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(str(self))

    def __str__(self) -> str:
        return printable(f"{shown_path(self.path)}: {self.reason}")


class RunBusyError(RunError):
    """Another process holds the run folder's lock (it is training into it)."""
