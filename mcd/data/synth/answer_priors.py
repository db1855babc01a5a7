"""The real answer priors SynthAVQA 2.0 follows: per Music-AVQA template, how often each answer occurs.

``answer_priors.csv`` (shipped with the package) holds derived counts only: one row per (type, template, answer)
with its count in the real train, val and test annotations (no record, question or video is kept). Its header
names the source files with their sha256 and git blob ids. ``scripts/build_answer_priors.py`` rebuilds it from
the real files (``build_table`` + ``write_table``); generation reads only the shipped table, so it runs on a
machine without the real files. The generator's target is the train + val counts; the test counts serve the data
card (the real test set's question-only prior).
"""
from __future__ import annotations

import csv
import hashlib
import io
from collections import Counter
from importlib import resources
from pathlib import Path

import pandas as pd

from mcd.data.annotations import TYPE_NAMES, load_records

TABLE_NAME = "answer_priors.csv"
COLUMNS = ("type", "template", "answer", "train", "val", "test")
# The real files counted, relative to the Music-AVQA annotation folder: the partial train reconstruction (the
# full train file cannot be obtained here) and the cleaned json_update val and test.
SOURCES = {"train": "partial_train_reconstruction/avqa-train_partial_20580.json",
           "val": "json_update/avqa-val.json",
           "test": "json_update/avqa-test.json"}
TARGET_SPLITS = ("train", "val")   # what the generator follows


def file_ids(path: Path) -> dict[str, str]:
    """sha256 and git blob id (``git hash-object``) of a file."""
    data = Path(path).read_bytes()
    return {"sha256": hashlib.sha256(data).hexdigest(),
            "git_blob": hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()}


def build_table(annotation_root: Path) -> tuple[pd.DataFrame, list[str]]:
    """Count answers per (type, template) in the real files: (table, provenance lines for the header)."""
    root = Path(annotation_root)
    counts: dict[str, Counter] = {}
    lines = []
    for split, rel in SOURCES.items():
        path = root / rel
        records = load_records(path)
        counts[split] = Counter((r.type_name, r.question, r.answer) for r in records)
        ids = file_ids(path)
        lines.append(f"source {split}: {rel} records={len(records)} sha256={ids['sha256']} git_blob={ids['git_blob']}")
    keys = sorted(set().union(*counts.values()), key=lambda k: (TYPE_NAMES.index(k[0]), k[1], k[2]))
    table = pd.DataFrame([(*k, *(counts[s][k] for s in SOURCES)) for k in keys], columns=list(COLUMNS))
    return table, lines


def table_text(table: pd.DataFrame, provenance: list[str], built: str) -> str:
    """The CSV text: a commented header (what it is, its sources, the date built, how to rebuild), then the rows."""
    out = io.StringIO()
    out.write("# SynthAVQA answer priors: per Music-AVQA template, the count of each answer in the real annotations.\n"
              "# Derived counts only; the annotation files are MIT-licensed (GeWu-Lab/MUSIC-AVQA) and are not shipped.\n"
              f"# built: {built} by scripts/build_answer_priors.py (rebuild: python scripts/build_answer_priors.py)\n")
    for line in provenance:
        out.write(f"# {line}\n")
    writer = csv.writer(out, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(table.itertuples(index=False))
    return out.getvalue()


def read_table(path: Path | None = None) -> pd.DataFrame:
    """The shipped table (or the one at ``path``): type, template, answer and the count per real split."""
    text = Path(path).read_text() if path else resources.files(__package__).joinpath(TABLE_NAME).read_text()
    rows = [line for line in text.splitlines() if not line.startswith("#")]
    table = pd.read_csv(io.StringIO("\n".join(rows)), quoting=csv.QUOTE_NONNUMERIC, keep_default_na=False)
    return table.astype({s: int for s in SOURCES})


def header(path: Path | None = None) -> list[str]:
    """The table's header lines (without the leading '# ')."""
    text = Path(path).read_text() if path else resources.files(__package__).joinpath(TABLE_NAME).read_text()
    return [line[2:] for line in text.splitlines() if line.startswith("#")]


def target_counts(table: pd.DataFrame | None = None) -> dict[tuple[str, str], dict[str, int]]:
    """{(type name, template): {answer: train + val count}}: what the generator follows."""
    table = read_table() if table is None else table
    total = table[list(TARGET_SPLITS)].sum(axis=1)
    out: dict[tuple[str, str], dict[str, int]] = {}
    for (t, q, a), n in zip(table[["type", "template", "answer"]].itertuples(index=False), total):
        if n > 0:
            out.setdefault((t, q), {})[a] = int(n)
    return out
