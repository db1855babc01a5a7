"""Errors for bad input: each names the file and the record, so that a user can find and fix it."""
from __future__ import annotations

from pathlib import Path


class DataError(Exception):
    """A problem in a data set. ``record`` is the 0-based index in the annotation list (None: the whole file)."""

    def __init__(self, path, record: int | None, reason: str, *, question_id=None, video_id: str | None = None):
        self.path = Path(path) if path is not None else None
        self.record = record
        self.reason = reason
        self.question_id = question_id
        self.video_id = video_id
        super().__init__(str(self))

    def __str__(self) -> str:
        where = str(self.path) if self.path is not None else "<data>"
        if self.record is not None:
            where += f", record {self.record}"
        if self.question_id is not None:
            where += f" (question_id {self.question_id})"
        if self.video_id is not None:
            where += f" (video {self.video_id})"
        return f"{where}: {self.reason}"


class TrainingError(Exception):
    """The training run cannot go on (for example a NaN loss); the message says where."""
