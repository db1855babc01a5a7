"""``mcd score`` and ``mcd compare``: any model's per-question predictions, checked against the official
annotations and scored as the field scores them (``mcd.evaluate``), with an interval on every number.

Prediction files come in three formats (detected, or named with ``format``):

- ``table``: our own prediction tables (``predictions_{split}.csv`` of a run): a CSV header with ``question_id``,
  ``predicted`` and ``correct``. The answers are re-checked against the annotations; a ``correct`` column that
  disagrees with them is an error (the table was scored against other annotations).
- ``answers``: a CSV (header with ``question_id`` and ``predicted``, or ``answer`` as in VQA result files) or a
  JSON list of such objects, or a JSON object ``{question_id: answer}``. Music-AVQA answers must be one of its
  42 answers; AVQA (multiple choice) answers one of the question's options.
- ``correct``: one question per line, ``question_id <tab> True|False`` and optionally two more integer columns,
  as in TSPM's ``results/TSPM.result``. TSPM's test code writes the gold answer's index, then the predicted
  index, both into its own answer list (which we do not have): only the flag is scored. The indices are checked
  instead: the flag must say whether the two are equal, and each gold index must stand for one official answer
  throughout the file (else the lines do not follow their question ids); the predicted index is then shown as
  the answer its index stands for as a gold index, where it does (display only). A CSV with ``question_id`` and
  ``correct`` (or a JSON list of such objects) is read the same way; an ``answer`` column beside ``correct``
  without ``predicted`` is taken for the gold answer, as in our tables.

The question ids must be exactly those of one annotation file of the split (Music-AVQA: ``json_update`` or
``json``; AVQA: ``{split}_qa.json``), each as often as the file holds it. The original ``json`` test file holds
some ids twice (with contradictory answers): such an id is then given twice, and its lines pair with its records
in file order, as an evaluation loop over the annotation file writes them.

Intervals: the percentile bootstrap over questions, as in ``mcd.stats.paired_bootstrap``. Each accuracy
resamples its own questions (a type's, a modality's, all of them); since only the number answered right
matters, drawing it from Binomial(n, accuracy) is the same distribution as drawing n questions with replacement.
AVQA's ``average`` (a mean over types) resamples each type's questions.
"""
from __future__ import annotations

import csv
import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from mcd.data.annotations import ANSWERS, TAXONOMIES, Record, load_records
from mcd.data.avqa import load_avqa_records, normalise_option
from mcd.data.layout import OFFICIAL_FILES
from mcd.errors import DataError
from mcd.evaluate import score, score_columns, score_selections
from mcd.real_data import annotation_root
from mcd.stats import mcnemar_exact, paired_bootstrap

FORMATS = ("table", "answers", "correct")
VERSIONS = ("json_update", "json")   # Music-AVQA annotation versions, in the order they are tried
FORMAT_HELP = {"table": "our prediction table (question_id, predicted, correct)",
               "answers": "question_id and the predicted answer text",
               "correct": "question_id and a correct flag (TSPM-style)"}
MAX_LINE_CHARS = 10_000         # a CSV or correctness line is short; a longer one is not a prediction file
MAX_FILE_BYTES = 200_000_000
ANSWER_COLUMNS = ("predicted", "answer")   # the answer text column, in order of preference
_INTEGER = re.compile(r"[+-]?\d+")
_FLAGS = {"true": True, "1": True, "false": False, "0": False}


class PredictionError(DataError):
    """Bad input in a prediction file: names the file, the line (a JSON file: the 0-based record) and the id."""

    def __init__(self, path, line: int | None, reason: str, *, question_id=None, unit: str = "line"):
        self.unit = unit
        super().__init__(path, line, reason, question_id=question_id)

    def __str__(self) -> str:
        where = str(self.path) if self.path is not None else "<predictions>"
        if self.record is not None:
            where += f", {self.unit} {self.record}"
        if self.question_id is not None:
            where += f" (question_id {self.question_id})"
        return f"{where}: {self.reason}"


@dataclass(frozen=True)
class Entry:
    """One prediction as the file gives it."""

    line: int                        # 1-based line (a JSON file: 0-based record)
    question_id: str
    predicted: str | None = None     # answer text (answers, table)
    correct: bool | None = None      # the file's own flag (correct, table)
    gold_index: int | None = None    # correct files with indices: the gold answer's index in the model's list
    predicted_index: int | None = None


@dataclass
class QuestionSet:
    """One annotation file, e.g. ``json_update test``; its records are read when first needed (a file with bad
    lines is refused before any annotation file is read)."""

    name: str
    file: Path
    version: str                     # json_update, json, or avqa

    @cached_property
    def records(self) -> list[Record]:
        return load_avqa_records(self.file) if self.version == "avqa" else load_records(self.file)

    @property
    def taxonomy(self) -> str:
        return self.records[0].taxonomy if self.records else "music_avqa"


@dataclass(frozen=True)
class Scored:
    """A prediction file matched to its question set: ``table`` has one row per record, in annotation order."""

    path: Path
    format: str
    unit: str                        # "line" or "record"
    questions: QuestionSet
    table: pd.DataFrame              # record, line, question_id, video_id, type, modality, template, answer,
                                     # predicted, correct


# ---------------------------------------------------------------------------------------------------- reading

def _show(value, width: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= width else text[:width - 4] + "...'"


def _gunzip(path: Path, data: bytes) -> bytes:
    import zlib
    inflate = zlib.decompressobj(wbits=31)
    try:
        out = inflate.decompress(data, MAX_FILE_BYTES + 1)
    except zlib.error as e:
        raise PredictionError(path, None, f"is not a readable gzip file ({e})") from None
    if len(out) > MAX_FILE_BYTES or inflate.unconsumed_tail:
        raise PredictionError(path, None, f"decompresses to more than {MAX_FILE_BYTES:,} bytes, larger than any "
                                          "prediction file for a test set")
    if not inflate.eof:
        raise PredictionError(path, None, "is a truncated gzip file")
    return out


def _read_text(path: Path) -> list[str]:
    if path.is_dir():
        raise PredictionError(path, None, "is a folder, not a prediction file")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise PredictionError(path, None, f"is {size:,} bytes, larger than any prediction file for a test set "
                                              f"(limit {MAX_FILE_BYTES:,})")
        data = path.read_bytes()
        if data[:2] == b"\x1f\x8b":   # gzip (a kept run's predictions_test.csv.gz): decompressed within the limit
            data = _gunzip(path, data)
    except OSError as e:
        raise PredictionError(path, None, f"cannot be read ({e.strerror or e})") from None
    nul = data.find(b"\0")
    if nul >= 0:
        raise PredictionError(path, None, f"is a binary file (NUL byte at offset {nul}), not text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise PredictionError(path, line, f"is not UTF-8 text (byte {e.start} cannot be decoded)") from None
    lines = text.splitlines()
    if not any(line.strip() for line in lines):
        raise PredictionError(path, None, "empty file: no predictions")
    return lines


def _question_id(value, path, line, unit) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise PredictionError(path, line, f"question_id must be an integer or a string, got {_show(value)}",
                              unit=unit)
    text = str(value).strip()
    if not text:
        raise PredictionError(path, line, "empty question_id", unit=unit)
    return text


def _flag(value, path, line, qid, unit) -> bool:
    if isinstance(value, bool):
        return value
    flag = _FLAGS.get(str(value).strip().lower())
    if flag is None:
        raise PredictionError(path, line, f"correct flag {_show(value)} is not True/False (or 1/0)",
                              question_id=qid, unit=unit)
    return flag


def _index(value: str, column: int, path, line, qid) -> int:
    if not _INTEGER.fullmatch(value):
        raise PredictionError(path, line, f"column {column} must be an integer answer index, got {_show(value)}",
                              question_id=qid)
    return int(value)


def _answer(value, path, line, qid, unit) -> str:
    if not isinstance(value, str):
        raise PredictionError(path, line, f"the predicted answer must be text, got {_show(value)}",
                              question_id=qid, unit=unit)
    return value.strip()


def _format_of(columns: list[str], fmt: str, path, line: int, unit: str = "line") -> str:
    """The format a header (or a JSON record's keys) holds: ``table`` (predicted and correct), ``correct`` (correct
    without predicted: an ``answer`` column beside it is taken for the gold answer, as in our tables), else
    ``answers`` (predicted, or answer as in VQA result files). A ``fmt`` other than auto must be satisfied."""
    has = set(columns)
    found = ("table" if {"predicted", "correct"} <= has else "correct" if "correct" in has else
             "answers" if has & set(ANSWER_COLUMNS) else None)
    usable = {"table": found == "table", "answers": bool(has & set(ANSWER_COLUMNS)), "correct": "correct" in has,
              "auto": found is not None}
    if "question_id" not in has or not usable[fmt]:
        need = {"table": "question_id, predicted and correct", "answers": "question_id and predicted (or answer)",
                "correct": "question_id and correct"}
        wanted = need[fmt] if fmt != "auto" else "; or ".join(need.values())
        raise PredictionError(path, line, f"wrong columns: found {sorted(has)}, need {wanted}", unit=unit)
    return found if fmt == "auto" else fmt


def _entry(fields: dict, fmt: str, path, line, unit) -> Entry:
    qid = _question_id(fields["question_id"], path, line, unit)
    predicted = correct = None
    if fmt in ("answers", "table"):
        column = next(c for c in ANSWER_COLUMNS if c in fields)
        predicted = _answer(fields[column], path, line, qid, unit)
    if fmt in ("correct", "table"):
        correct = _flag(fields["correct"], path, line, qid, unit)
    return Entry(line, qid, predicted, correct)


def _read_json(path: Path, text: str, fmt: str) -> tuple[str, list[Entry]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise PredictionError(path, e.lineno, f"not valid JSON (column {e.colno}: {e.msg})") from None
    if isinstance(data, dict):   # {question_id: answer}
        if fmt not in ("auto", "answers"):
            raise PredictionError(path, None, f"a JSON object maps question ids to answers; --format {fmt} "
                                              f"needs a list of objects")
        return "answers", [Entry(i, _question_id(k, path, i, "record"), _answer(v, path, i, k, "record"))
                           for i, (k, v) in enumerate(data.items())]
    if not isinstance(data, list) or not data:
        raise PredictionError(path, None, "a JSON prediction file is a non-empty list of objects or an object "
                                          f"{{question_id: answer}}, got {type(data).__name__}"
                                          f"{' (empty)' if data == [] else ''}")
    if not all(isinstance(d, dict) for d in data):
        i = next(i for i, d in enumerate(data) if not isinstance(d, dict))
        raise PredictionError(path, i, f"is a {type(data[i]).__name__}, not an object", unit="record")
    fmt = _format_of(list(data[0]), fmt, path, 0, "record")
    entries = []
    for i, d in enumerate(data):
        _format_of(list(d), fmt, path, i, "record")
        entries.append(_entry(d, fmt, path, i, "record"))
    return fmt, entries


def _read_lines(path: Path, lines: list[str], fmt: str) -> tuple[str, list[Entry]]:
    for i, line in enumerate(lines, 1):
        if len(line) > MAX_LINE_CHARS:
            raise PredictionError(path, i, f"line is {len(line):,} characters long, more than a prediction line "
                                           f"can be (limit {MAX_LINE_CHARS:,})")
    first = next(i for i, line in enumerate(lines) if line.strip())
    head = lines[first]
    if "question_id" in head:   # a CSV (or TSV) with a header
        delimiter = "\t" if "\t" in head and "," not in head else ","
        rows = csv.reader(lines[first:], delimiter=delimiter)
        try:
            columns = [c.strip() for c in next(rows)]
            fmt = _format_of(columns, fmt, path, first + 1)
            entries = []
            for row in rows:
                line = first + rows.line_num
                if not any(c.strip() for c in row):
                    continue
                if len(row) != len(columns):
                    raise PredictionError(path, line, f"has {len(row)} fields, the header {len(columns)}")
                entries.append(_entry(dict(zip(columns, row)), fmt, path, line, "line"))
        except csv.Error as e:
            raise PredictionError(path, first + rows.line_num, f"not valid CSV ({e})") from None
        if not entries:
            raise PredictionError(path, None, "no predictions below the header")
        return fmt, entries
    if fmt not in ("auto", "correct"):
        raise PredictionError(path, first + 1, f"--format {fmt} needs a header line naming question_id and "
                                               f"{'predicted' if fmt == 'answers' else 'predicted, correct'}")
    entries = []
    for i, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        fields = [f.strip() for f in raw.split("\t")] if "\t" in raw else raw.split()
        if len(fields) not in (2, 4):
            raise PredictionError(path, i, f"has {len(fields)} field(s); a correctness line is question_id, "
                                           f"True|False and optionally two integer answer indices (a CSV needs a "
                                           f"header line naming question_id)")
        qid = _question_id(fields[0], path, i, "line")
        flag = _flag(fields[1], path, i, qid, "line")
        gold = pred = None
        if len(fields) == 4:
            gold, pred = _index(fields[2], 3, path, i, qid), _index(fields[3], 4, path, i, qid)
            if flag != (gold == pred):
                raise PredictionError(path, i, f"flag {fields[1]} contradicts the answer indices {gold} and "
                                               f"{pred} (columns 3 and 4)", question_id=qid)
        entries.append(Entry(i, qid, correct=flag, gold_index=gold, predicted_index=pred))
    return "correct", entries


def read_prediction_file(path, fmt: str = "auto") -> tuple[str, str, list[Entry]]:
    """(format, unit, entries) of a prediction file; bad input raises PredictionError naming file and line."""
    path = Path(path)
    if fmt not in ("auto", *FORMATS):
        raise ValueError(f"format must be auto or one of {FORMATS}, got {fmt!r}")
    if not path.exists():
        raise PredictionError(path, None, "prediction file not found")
    lines = _read_text(path)
    text = "\n".join(lines)
    if text.lstrip()[:1] in ("[", "{"):
        found, entries = _read_json(path, text, fmt)
        return found, "record", entries
    found, entries = _read_lines(path, lines, fmt)
    return found, "line", entries


# ------------------------------------------------------------------------------------------ matching questions

def question_sets(annotations=None, split: str = "test") -> list[QuestionSet]:
    """Every annotation file of ``split`` in the folder ``annotations`` (None: ``real_data.annotation_root``):
    Music-AVQA's ``json_update`` and ``json`` versions, or AVQA's ``{split}_qa.json``."""
    root = Path(annotations) if annotations is not None else annotation_root(None)
    if not root.is_dir():
        raise FileNotFoundError(f"annotation folder {root} not found")
    sets = []
    for version in VERSIONS:
        f = root / OFFICIAL_FILES["music_avqa"][split].format(version=version)
        if f.exists():
            sets.append(QuestionSet(f"{version} {split}", f, version))
    f = root / OFFICIAL_FILES["avqa"][split]
    if f.exists():
        sets.append(QuestionSet(f"AVQA {split}", f, "avqa"))
    if not sets:
        names = [OFFICIAL_FILES["music_avqa"][split].format(version=v) for v in VERSIONS]
        raise FileNotFoundError(f"{root} holds no {split} annotation file ({', '.join(names)} or "
                                f"{OFFICIAL_FILES['avqa'][split]})")
    return sets


def _id_key(qid: str):
    return (0, int(qid), "") if _INTEGER.fullmatch(qid) else (1, 0, qid)


def _examples(ids, where: dict[str, list[int]] | None = None, unit: str = "line") -> str:
    if not ids:
        return ""
    shown = []
    for q in sorted(ids, key=_id_key)[:3]:
        lines = (where or {}).get(q)
        shown.append(f"{q} ({unit}s {', '.join(map(str, lines[:3]))})" if lines and len(lines) > 1 else
                      f"{q} ({unit} {lines[0]})" if lines else q)
    return f" (e.g. {', '.join(shown)})"


def id_differences(given: Counter, expected: Counter) -> dict[str, list[str]]:
    """How a multiset of question ids differs from a question set's: ids it does not hold (``unknown``), ids
    not given (``missing``), given more often than held (``repeated``: a duplicate line) or less often
    (``fewer``: an id the original json test file holds twice, given once)."""
    return {"unknown": [q for q in given if q not in expected],
            "missing": [q for q in expected if q not in given],
            "repeated": [q for q, k in given.items() if q in expected and k > expected[q]],
            "fewer": [q for q, k in given.items() if q in expected and 0 < k < expected[q]]}


def describe_differences(diff: dict[str, list[str]], where=None, unit: str = "line") -> str:
    words = {"unknown": "unknown", "missing": "missing", "repeated": "given more often than it holds them",
             "fewer": "given fewer times than it holds them"}
    parts = [f"{len(diff[k]):,} {words[k]}{_examples(diff[k], where if k != 'missing' else None, unit)}"
             for k in words if diff[k] or k != "fewer"]
    return ", ".join(parts)


def match_questions(path, entries: list[Entry], sets: list[QuestionSet], unit: str = "line") -> tuple[QuestionSet,
                                                                                                     list[int]]:
    """The question set whose ids the entries give exactly, and each entry's record index in it. An id a set
    holds twice pairs with its records in file order."""
    given = Counter(e.question_id for e in entries)
    where: dict[str, list[int]] = defaultdict(list)
    for e in entries:
        where[e.question_id].append(e.line)
    reports = []
    for qs in sets:
        expected = Counter(str(r.question_id) for r in qs.records)
        diff = id_differences(given, expected)
        if not any(diff.values()):
            positions: dict[str, list[int]] = defaultdict(list)
            for i, r in enumerate(qs.records):
                positions[str(r.question_id)].append(i)
            taken: Counter = Counter()
            index = []
            for e in entries:
                index.append(positions[e.question_id][taken[e.question_id]])
                taken[e.question_id] += 1
            return qs, index
        reports.append(f"{qs.name} ({len(qs.records):,} questions): {describe_differences(diff, where, unit)}")
    raise PredictionError(path, None, f"its {len(entries):,} predictions match no {' or '.join(s.name for s in sets)}"
                                      f" file fully: " + "; ".join(reports))


# ------------------------------------------------------------------------------------------------- scoring

def _check_gold_indices(path, entries: list[Entry], records: list[Record]) -> dict[int, str]:
    """Each gold index of a correctness file must stand for one official answer, and each answer for one index;
    else the lines do not follow their question ids. Returns index -> answer."""
    answer_of: dict[int, tuple[str, int]] = {}
    index_of: dict[str, tuple[int, int]] = {}
    for e, r in zip(entries, records):
        if e.gold_index is None:
            continue
        seen = answer_of.setdefault(e.gold_index, (r.answer, e.line))
        other = index_of.setdefault(r.answer, (e.gold_index, e.line))
        if seen[0] != r.answer or other[0] != e.gold_index:
            raise PredictionError(
                path, e.line, f"the gold answer index {e.gold_index} (column 3) stands for {r.answer!r} here but "
                              f"for {seen[0]!r} on line {seen[1]}"
                if seen[0] != r.answer else
                f"answer {r.answer!r} has gold index {e.gold_index} (column 3) here but {other[0]} on line "
                f"{other[1]}", question_id=e.question_id)
    return {i: a for i, (a, _) in answer_of.items()}


def _checked_answer(path, e: Entry, r: Record, unit: str, unknown_as_wrong: bool) -> str | None:
    """The predicted answer as the set spells it; None (scored wrong) for an unknown one under
    ``unknown_as_wrong``, else an error."""
    if r.options:
        known = normalise_option(e.predicted)
        if known in r.options:
            return known
        reason = f"predicted answer {_show(e.predicted)} is none of the question's options {list(r.options)}"
    else:
        if e.predicted in ANSWERS:
            return e.predicted
        reason = f"predicted answer {_show(e.predicted)} is not one of the {len(ANSWERS)} Music-AVQA answers"
    if unknown_as_wrong:
        return None
    raise PredictionError(path, e.line, reason + " (--unknown-as-wrong scores it as wrong)",
                          question_id=e.question_id, unit=unit)


def score_file(path, sets: list[QuestionSet], fmt: str = "auto", *, unknown_as_wrong: bool = False) -> Scored:
    """Read a prediction file, match it to one of ``sets`` and mark every question right or wrong."""
    path = Path(path)
    fmt, unit, entries = read_prediction_file(path, fmt)
    qs, index = match_questions(path, entries, sets, unit)
    records = [qs.records[i] for i in index]
    answer_of = _check_gold_indices(path, entries, records) if fmt == "correct" else {}
    rows = []
    for e, i, r in zip(entries, index, records):
        if e.predicted is not None:
            predicted = _checked_answer(path, e, r, unit, unknown_as_wrong)
            correct = predicted == r.answer
            if e.correct is not None and e.correct != correct:
                raise PredictionError(path, e.line, f"the file's correct={e.correct} disagrees with the {qs.name} "
                                                    f"answer {r.answer!r} for predicted {_show(e.predicted)}: was "
                                                    f"it scored against other annotations?",
                                      question_id=e.question_id, unit=unit)
        else:
            predicted, correct = answer_of.get(e.predicted_index), e.correct
        rows.append({"record": i, "line": e.line, "question_id": r.question_id, "video_id": r.video_id,
                     "type": r.type_name, "modality": r.modality, "template": r.question, "question": r.text,
                     "answer": r.answer, "predicted": predicted if predicted is not None else e.predicted,
                     "correct": bool(correct)})
    table = pd.DataFrame(rows).sort_values("record", ignore_index=True)
    return Scored(path=path, format=fmt, unit=unit, questions=qs, table=table)


def interval_table(scored: Scored, *, n_boot: int = 10_000, seed: int = 0, level: float = 0.95) -> pd.DataFrame:
    """Accuracy (%), its percentile-bootstrap interval and question count for every score row (see the module
    docstring); a row without questions is NaN."""
    if n_boot < 1 or not 0 < level < 1:
        raise ValueError(f"need n_boot >= 1 and 0 < level < 1, got {n_boot} and {level}")
    table, taxonomy = scored.table, scored.questions.taxonomy
    point = score(table, taxonomy)
    rng = np.random.default_rng(seed)
    quantiles = [(1 - level) / 2, (1 + level) / 2]
    rows, type_draws = {}, []
    for name, sel in score_selections(table, taxonomy).items():
        n, k = int(sel.sum()), int(table.loc[sel, "correct"].sum())
        draws = 100.0 * rng.binomial(n, k / n, size=n_boot) / n if n else None
        if draws is not None and name in TAXONOMIES[taxonomy].names:
            type_draws.append(draws)
        low, high = np.quantile(draws, quantiles) if n else (np.nan, np.nan)
        rows[name] = {"accuracy": point[name] if n else np.nan, "low": low, "high": high, "n": n}
    if not TAXONOMIES[taxonomy].groups:   # AVQA: the mean of the per-type accuracies
        low, high = np.quantile(np.mean(type_draws, axis=0), quantiles)
        rows["average"] = {"accuracy": point["average"], "low": low, "high": high, "n": len(table)}
    out = pd.DataFrame.from_dict(rows, orient="index").reindex(score_columns(taxonomy))
    out["n"] = out["n"].astype(int)
    return out


# ----------------------------------------------------------------------------------------------- comparing

def _same_questions(a: Scored, b: Scored) -> None:
    if a.questions.file == b.questions.file:
        return
    ids_a = Counter(str(q) for q in a.table["question_id"])
    ids_b = Counter(str(q) for q in b.table["question_id"])
    only_a, only_b = [q for q in ids_a if q not in ids_b], [q for q in ids_b if q not in ids_a]
    more_a = [q for q in ids_a if 0 < ids_b.get(q, 0) < ids_a[q]]
    more_b = [q for q in ids_b if 0 < ids_a.get(q, 0) < ids_b[q]]
    raise ValueError(f"the two files answer different questions: A ({a.path}) {a.questions.name} "
                     f"({len(a.table):,} questions), B ({b.path}) {b.questions.name} ({len(b.table):,}); "
                     f"{len(only_a):,} ids only in A{_examples(only_a)}, {len(only_b):,} only in B"
                     f"{_examples(only_b)}, {len(more_a):,} given more often in A{_examples(more_a)}, "
                     f"{len(more_b):,} more often in B{_examples(more_b)}")


def compare(a: Scored, b: Scored, *, n_boot: int = 10_000, seed: int = 0, level: float = 0.95) -> pd.DataFrame:
    """A against B on the same questions, per score row: both accuracies, the difference A - B with its paired
    bootstrap interval and p-value (``mcd.stats.paired_bootstrap``, seed + row number), and McNemar's exact test
    (``mcd.stats.mcnemar_exact``: ``a_only``/``b_only`` questions right by one model only). AVQA's ``average``
    is left out (a mean of type accuracies is not a paired proportion). p-values are per row, uncorrected."""
    _same_questions(a, b)
    ca, cb = a.table["correct"].to_numpy(bool), b.table["correct"].to_numpy(bool)
    rows = {}
    for i, (name, sel) in enumerate(score_selections(a.table, a.questions.taxonomy).items()):
        mask = sel.to_numpy(bool)
        if not mask.any():
            continue
        mc = mcnemar_exact(ca[mask], cb[mask])
        bs = paired_bootstrap(ca[mask], cb[mask], n_boot=n_boot, seed=seed + i, level=level)
        rows[name] = {"n": mc.n, "acc_a": 100.0 * ca[mask].mean(), "acc_b": 100.0 * cb[mask].mean(),
                      "diff": bs.diff, "low": bs.low, "high": bs.high, "p_bootstrap": bs.pvalue,
                      "a_only": mc.b, "b_only": mc.c, "p_mcnemar": mc.pvalue}
    return pd.DataFrame.from_dict(rows, orient="index")


def disagreements(a: Scored, b: Scored) -> pd.DataFrame:
    """The questions one file answers right and the other wrong (McNemar's discordant pairs), with both lines."""
    _same_questions(a, b)
    keep = a.table["correct"].to_numpy(bool) != b.table["correct"].to_numpy(bool)
    cols = ["question_id", "video_id", "type", "question", "answer"]
    out = a.table.loc[keep, cols].copy()
    for name, s in (("a", a), ("b", b)):
        for c in ("predicted", "correct", "line"):
            out[f"{c}_{name}"] = s.table.loc[keep, c].to_numpy()
    return out.reset_index(drop=True)


# ---------------------------------------------------------------------------------------------- reporting

def interval_note(n_boot: int, seed: int, level: float) -> str:
    return (f"{level:.0%} intervals: percentile bootstrap over each row's own questions ({n_boot:,} draws, "
            f"seed {seed})")


def _header(s: Scored, label: str = "") -> list[str]:
    return [f"{label}{s.path}: {FORMAT_HELP[s.format]}",
            f"{' ' * len(label)}questions: {s.questions.name}, {len(s.table):,} ({s.questions.file})"]


def format_scores(s: Scored, table: pd.DataFrame, *, n_boot: int, seed: int, level: float) -> str:
    shown = pd.DataFrame({
        "accuracy": table["accuracy"].map(lambda v: f"{v:.2f}" if pd.notna(v) else "-"),
        f"{level:.0%} interval": [f"[{lo:.2f}, {hi:.2f}]" if pd.notna(lo) else "-"
                                   for lo, hi in zip(table["low"], table["high"])],
        "questions": table["n"].map(lambda v: f"{v:,}")})
    return "\n".join([*_header(s), "", shown.to_string(), "", interval_note(n_boot, seed, level)])


def scores_json(s: Scored, table: pd.DataFrame, *, n_boot: int, seed: int, level: float) -> dict:
    def num(v):
        return None if pd.isna(v) else float(v)
    return {"file": str(s.path), "format": s.format, "question_set": s.questions.name,
            "annotation_file": str(s.questions.file), "questions": len(s.table),
            "interval": {"method": "percentile bootstrap over each row's own questions", "n_boot": n_boot,
                         "seed": seed, "level": level},
            "scores": {k: {"accuracy": num(r.accuracy), "low": num(r.low), "high": num(r.high), "n": int(r.n)}
                       for k, r in table.iterrows()}}


def format_comparison(a: Scored, b: Scored, table: pd.DataFrame, *, n_boot: int, seed: int, level: float) -> str:
    shown = pd.DataFrame({
        "questions": table["n"].map(lambda v: f"{v:,}"), "A": table["acc_a"].map("{:.2f}".format),
        "B": table["acc_b"].map("{:.2f}".format), "A - B": table["diff"].map("{:+.2f}".format),
        f"{level:.0%} interval": [f"[{lo:+.2f}, {hi:+.2f}]" for lo, hi in zip(table["low"], table["high"])],
        "p (bootstrap)": table["p_bootstrap"].map("{:.4f}".format),
        "A only": table["a_only"], "B only": table["b_only"], "p (McNemar)": table["p_mcnemar"].map(lambda p: f"{p:.3g}" if p > 0 else "<1e-300")})
    return "\n".join([*_header(a, "A: "), *_header(b, "B: "), "", shown.to_string(), "",
                      f"A - B in points; paired bootstrap over questions ({n_boot:,} draws, seed {seed} + row "
                      f"number), McNemar's exact test on the questions right by one file only; p-values per row, "
                      f"not corrected for the {len(table)} rows"])
