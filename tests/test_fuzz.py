"""A seeded fuzz of the annotation readers and ``mcd data check``, for both formats.

Valid records are generated from the real templates (Music-AVQA's 33, as SynthAVQA holds them; AVQA's 8 types), so
which records are valid is known. ``N_MUTATED`` records per format are then broken, each in one way drawn from
``MUTATIONS`` (types, nesting, sizes, unicode, missing, extra and repeated keys, repeated ids, answers outside the
set, path-like video ids). Every mutation makes the record invalid by construction.

- Single-record form: each record alone through the parser and the file loader. A mutated record must raise the
  parser's ``RecordError`` / the loader's ``DataError`` (naming the file, record 0 and its id), a valid one must
  parse; nothing else may be raised.
- Whole-file form: the same records, mixed with valid ones, spread over several files of the three splits, plus
  files that are broken as a whole (not a list, deeply nested, not UTF-8, truncated, ...). ``check`` must return
  (never raise) a report in which every mutated record is named by its file, index and id, every broken file by
  its path, and no valid record at all.

``fuzz_tally`` counts the outcomes; the book's catalogue of bad inputs (``book/notes/input_safety.md``) prints it.
"""
from __future__ import annotations

import functools
import json
import random
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mcd.config import DataConfig
from mcd.data.annotations import ANSWERS, INSTRUMENTS, load_records, parse_record
from mcd.data.avqa import load_avqa_records, parse_avqa_record
from mcd.data.check import check
from mcd.data.schema import AVQA_TYPES, RecordError, parse_json
from mcd.data.synth import TEMPLATES
from mcd.errors import DataError

SEED = 20260
N_MUTATED = 1000
N_VALID = 600
FORMATS = ("music_avqa", "avqa")
VALUE_WORDS = [*INSTRUMENTS, "first", "last", "left", "right", "middle", "top", "bottom", "loudest"]
WORDS = ["the", "dog", "car", "engine", "bird", "crowd", "rain", "drum", "wind", "a", "boat", "train", "sang"]


# ------------------------------------------------------------------------------------------------ valid records
def valid_music(rng: random.Random, qid: int) -> dict:
    qtype, text = rng.choice(TEMPLATES)
    n = sum("<" in w for w in text.split())
    values = [rng.choice(VALUE_WORDS) for _ in range(n)]
    rec = {"video_id": f"{rng.randrange(10**8):08d}", "question_id": qid,
           "type": json.dumps(list(qtype)) if rng.random() < 0.9 else list(qtype),
           "question_content": text,
           "templ_values": json.dumps(values) if rng.random() < 0.9 else values,
           "question_deleted": rng.choice([0, 0, 0, 1, None]), "anser": rng.choice(ANSWERS)}
    if rng.random() < 0.1:                       # MUSIC-AVQA v2.0 records carry these
        rec["audio_instrument"] = rng.choice(INSTRUMENTS)
    if rng.random() < 0.05:
        del rec["question_deleted"]
    return rec


def valid_avqa(rng: random.Random, qid: int) -> dict:
    words = rng.sample(WORDS, 8)
    options = [" ".join(words[2 * i: 2 * i + 2]).capitalize() for i in range(4)]
    answer = rng.randrange(4)
    rec = {"id": qid, "video_name": f"yt{rng.randrange(10**6):06d}-_{rng.randrange(100)}",
           "video_id": rng.randrange(10**5),
           "question_text": " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 12))) + "?",
           "multi_choice": options, "answer": answer if rng.random() < 0.9 else str(answer),
           "question_relation": rng.choice(["View", "Sound", "Both"]), "question_type": rng.choice(AVQA_TYPES)}
    for key in ("video_id", "question_relation"):
        if rng.random() < 0.1:
            del rec[key]
    return rec


VALID = {"music_avqa": valid_music, "avqa": valid_avqa}
PARSE = {"music_avqa": parse_record, "avqa": parse_avqa_record}
LOAD = {"music_avqa": load_records, "avqa": load_avqa_records}
ID_KEY = {"music_avqa": "question_id", "avqa": "id"}
TEXT_FIELDS = {"music_avqa": ["video_id", "question_content", "anser"],
               "avqa": ["video_name", "question_text", "question_relation"]}
REQUIRED = {"music_avqa": ["video_id", "type", "question_content", "templ_values", "anser"],
            "avqa": ["video_name", "question_text", "multi_choice", "answer", "question_type"]}
VIDEO = {"music_avqa": "video_id", "avqa": "video_name"}
NOT_A_STRING = [0, 1.5, True, None, {"a": "b"}, ["x"], [], {}]


# ------------------------------------------------------------------------------------------------ mutations
# Each takes (record, rng, format) and returns the broken record as JSON text, with the field it broke.
def _text(rec: dict) -> str:
    return json.dumps(rec)  # ensure_ascii: a lone surrogate travels as its escape, as a JSON file can hold it


def m_wrong_type(r, rng, fmt):
    key = rng.choice(TEXT_FIELDS[fmt] + ([] if fmt == "avqa" else ["type", "templ_values"]))
    optional = key == "question_relation"   # None is its absence
    r[key] = rng.choice([v for v in NOT_A_STRING if not (v == [] and key == "templ_values" or v is None and optional)])
    return r


def m_wrong_type_json_field(r, rng, fmt):
    if fmt == "avqa":
        r["multi_choice"] = rng.choice(["a, b, c, d", 4, None, {"0": "a"}, ["a", 2, "c", "d"], ["a", ["b"], "c", "d"]])
    else:
        key = rng.choice(["type", "templ_values"])
        r[key] = rng.choice(['["Audio", 1]', '{"a": 1}', '"Audio"', "3", "[1.5]", "[null]", '["Audio"',
                             '[["Audio", "Counting"]]', "[true, false]"])
    return r


def m_wrong_id(r, rng, fmt):
    r[ID_KEY[fmt]] = rng.choice(["7", 7.5, True, -1, 2**60, [7], {"id": 7}, float("nan"), 1e300])
    return r


def m_wrong_number(r, rng, fmt):
    if fmt == "avqa":
        r[rng.choice(["answer", "video_id"])] = rng.choice([1.0, True, "one", -3, 2**70, [1], "٣", "1e2"])
    else:
        r["question_deleted"] = rng.choice([2, -1, "0", True, 0.0, [0]])
    return r


def m_nested(r, rng, fmt):
    key = rng.choice(REQUIRED[fmt])
    value = r[key]
    for _ in range(rng.randint(1, 60)):
        value = [value] if rng.random() < 0.5 else {"x": value}
    r[key] = value
    return r


def m_deep_json_string(r, rng, fmt):
    depth = rng.choice([50, 2000, 100_000])
    if fmt == "avqa":  # AVQA has no JSON-string field: a question of brackets, too long to be one
        r["question_text"] = "[" * max(depth, 2000) + "]" * max(depth, 2000)
    else:
        r[rng.choice(["type", "templ_values"])] = "[" * depth + "]" * depth
    return r


def m_too_long(r, rng, fmt):
    key = rng.choice(TEXT_FIELDS[fmt])
    r[key] = ("x" if key in (VIDEO[fmt], "anser") else "word ") * rng.choice([252, 600, 5000, 100_000])
    return r


def m_too_many(r, rng, fmt):
    if fmt == "avqa":
        r["multi_choice"] = r["multi_choice"] + [f"extra {i}" for i in range(rng.choice([1, 50, 5000]))]
    else:
        n = rng.choice([15, 200])
        r["question_content"] = " ".join(["<Object>"] * n) + "?"
        r["templ_values"] = json.dumps(["violin"] * n)
    return r


def m_too_many_tokens(r, rng, fmt):
    if fmt == "avqa":
        r["multi_choice"] = ["a", "b", "c"]
    else:
        r["question_content"] = " ".join(["word"] * rng.randint(15, 40)) + "?"
        r["templ_values"] = "[]"
    return r


def m_empty(r, rng, fmt):
    key = rng.choice(TEXT_FIELDS[fmt] + (["templ_values"] if fmt == "music_avqa" else ["multi_choice"]))
    if key == "templ_values":
        r["question_content"] = "Is there a <Object> sound?"
        r["templ_values"] = rng.choice(["[]", '[""]', ""])
    elif key == "multi_choice":
        r["multi_choice"] = rng.choice([[], ["", "b", "c", "d"], ["a", "   ", "c", "d"]])
    elif key in ("question_content", "question_text"):
        r[key] = rng.choice(["", " ", "? ？", "?!", "\u3000"])
        if fmt == "music_avqa":
            r["templ_values"] = "[]"
    else:
        r[key] = rng.choice(["", " ", "   "])
    return r


def m_lone_surrogate(r, rng, fmt):
    key = rng.choice(TEXT_FIELDS[fmt])
    r[key] = (r.get(key) or "x") + rng.choice(["\ud800", "\udfff", "\udc80"])
    return r


def m_unprintable(r, rng, fmt):
    key = rng.choice(TEXT_FIELDS[fmt])
    ch = rng.choice(["\x00", "\n", "\x1b[31m", "\u202e", "\u200b", "\ufeff", "\u2028", "\ue000", "\x7f"])
    r[key] = (r.get(key) or "x") + ch + "y"
    return r


def m_value_with_space(r, rng, fmt):
    if fmt == "avqa":   # an option of white space only (a full-width space is not a blank to every reader)
        r["multi_choice"] = [r["multi_choice"][0], rng.choice(["\u3000", "\u00a0\u00a0", "\t"]),
                             *r["multi_choice"][2:]]
    else:
        r["question_content"] = "Is there a <Object> sound?"
        r["templ_values"] = json.dumps([rng.choice(["acoustic guitar", "violin\u3000", "\tpiano", "a\nb"])])
    return r


def m_missing_key(r, rng, fmt):
    del r[rng.choice(REQUIRED[fmt])]
    return r


def m_extra_key(r, rng, fmt):
    r[rng.choice(["options", "Anser", "answer_text", "notes", "", "\ud800", "x" * 300, "video_id "])] = \
        rng.choice(["x", 1, None, [1]])
    return r


def m_not_an_object(r, rng, fmt):
    return rng.choice([[r], "record", 42, None, [], True, list(r.items())])


def m_other_format(r, rng, fmt):
    other = "avqa" if fmt == "music_avqa" else "music_avqa"
    return VALID[other](rng, r[ID_KEY[fmt]])


def m_answer_outside(r, rng, fmt):
    if fmt == "avqa":
        r["answer"] = rng.choice([4, -1, "4", 99, "first"])
    else:
        r["anser"] = rng.choice(["theremin", "Yes", "yes ", " no", "more  than ten", "violin2", "Left", "twelve"])
    return r


def m_path_id(r, rng, fmt):
    r[VIDEO[fmt]] = rng.choice(["../x", "../../etc/passwd", "/etc/passwd", "a/b", "a\\b", ".", "..", ".hidden",
                                "x\x00y", "C:\\x", "~x", "v..1", "vid\u00e9o", "v\U0001F600", "v 1", "v\t1",
                                "a" * 252, "é" * 126, "v:1", "v*1", "v?1", "-" * 300])
    return r


def m_options_alike(r, rng, fmt):
    if fmt == "avqa":   # two options the same once lower-cased and tokenized: the answer could not be told apart
        first = r["multi_choice"][0]
        alike = rng.choice([first.upper(), " " + first, first.replace(" ", "  ")])
        r["multi_choice"] = [first, alike, *r["multi_choice"][2:]]
    else:
        r["anser"] = rng.choice(["YES", "No", "Piano", "Indoor"])
    return r


def m_unknown_type(r, rng, fmt):
    if fmt == "avqa":
        r["question_type"] = rng.choice(["How Many", "which", "Which ", "", "Before  Next"])
    else:
        r["type"] = rng.choice(['["Audio", "Dancing"]', '["Visual", "Comparative"]', '["audio", "counting"]',
                                '["Audio", "Counting", "Extra"]', '[]'])
    return r


MUTATIONS = {  # class -> the kinds of damage in it
    "types": [m_wrong_type, m_wrong_type_json_field, m_wrong_id, m_wrong_number],
    "nesting": [m_nested, m_deep_json_string, m_not_an_object],
    "sizes": [m_too_long, m_too_many, m_too_many_tokens, m_empty],
    "unicode": [m_lone_surrogate, m_unprintable, m_value_with_space],
    "keys": [m_missing_key, m_extra_key, m_other_format],
    "answers": [m_answer_outside, m_options_alike, m_unknown_type],
    "path-like ids": [m_path_id],
    # Only seen in a file (the text is edited), or across records of a split.
    "repeated keys": ["duplicate_key"],
    "repeated ids": ["duplicate_id"],
}


@dataclass
class Case:
    fmt: str
    text: str               # the record as JSON text
    valid: bool
    kind: str = "valid"     # the mutation class
    record_id: int | None = None  # the id the error must name (None: the record gives none that is valid)
    file_only: bool = False  # a repeated id: only a whole split can show it


def make_cases(fmt: str, seed: int = SEED) -> list[Case]:
    """N_VALID valid and N_MUTATED mutated records of ``fmt``, interleaved, ids unique (but for repeated ids)."""
    rng = random.Random(f"{seed}-{fmt}")
    cases: list[Case] = []
    kinds = [k for k in MUTATIONS for _ in MUTATIONS[k]]  # each damage kind about equally often
    plan = ["valid"] * N_VALID + [rng.choice(kinds) for _ in range(N_MUTATED)]
    rng.shuffle(plan)
    ids_so_far: list[int] = []
    for qid, kind in enumerate(plan):
        rec = VALID[fmt](rng, qid)
        if kind == "valid":
            cases.append(Case(fmt, _text(rec), True, record_id=qid))
            ids_so_far.append(qid)
            continue
        if kind == "repeated ids":
            if not ids_so_far:   # nothing to repeat yet: break it another way
                kind = "answers"
            else:
                rec[ID_KEY[fmt]] = rng.choice(ids_so_far)
                cases.append(Case(fmt, _text(rec), False, kind, rec[ID_KEY[fmt]], file_only=True))
                continue
        if kind == "repeated keys":
            key = rng.choice(REQUIRED[fmt])
            text = _text(rec)[:-1] + f", {json.dumps(key)}: {json.dumps(rec[key])}}}"
            cases.append(Case(fmt, text, False, kind, qid))
            continue
        damage = rng.choice(MUTATIONS[kind])
        broken = damage(dict(rec), rng, fmt)
        rid = broken.get(ID_KEY[fmt]) if isinstance(broken, dict) else None
        rid = rid if isinstance(rid, int) and not isinstance(rid, bool) and 0 <= rid <= 2**53 else None
        cases.append(Case(fmt, _text(broken), False, kind, rid))
    return cases


# ------------------------------------------------------------------------------------------------ outcomes
@dataclass
class Tally:
    cases: Counter = field(default_factory=Counter)     # (format, form, kind) -> records
    tracebacks: int = 0          # an exception other than RecordError / DataError, or check raising
    accepted_invalid: int = 0    # a mutated record parsed, or missing from check's report
    rejected_valid: int = 0      # a valid record refused, or named in check's report
    unnamed: int = 0             # an error that does not name the record's file, index and id
    broken_files: int = 0        # whole files broken, each reported by its path
    unreported_files: int = 0
    problems: list = field(default_factory=list)

    def fail(self, what: str, attr: str) -> None:
        setattr(self, attr, getattr(self, attr) + 1)
        if len(self.problems) < 20:
            self.problems.append(what)


def single_record_form(fmt: str, cases: list[Case], folder: Path, tally: Tally) -> None:
    path = folder / f"one-{fmt}.json"
    for n, c in enumerate(cases):
        if c.file_only:
            continue
        tally.cases[(fmt, "single record", c.kind)] += 1
        try:
            PARSE[fmt](parse_json(c.text))
            parsed = True
        except RecordError:
            parsed = False
        except Exception as e:  # noqa: BLE001 (this is what the fuzz looks for)
            tally.fail(f"{fmt} #{n} {c.kind}: parse raised {type(e).__name__}: {e}", "tracebacks")
            continue
        if parsed != c.valid:
            tally.fail(f"{fmt} #{n} {c.kind}: {'accepted' if parsed else 'rejected'} {c.text[:200]}",
                       "accepted_invalid" if parsed else "rejected_valid")
        path.write_text(f"[{c.text}]", encoding="utf-8")
        try:
            LOAD[fmt](path)
            loaded = True
        except DataError as e:
            loaded = False
            if e.path != path or e.record != 0 or e.question_id != c.record_id:
                tally.fail(f"{fmt} #{n} {c.kind}: error does not name file/record/id: {e}", "unnamed")
        except Exception as e:  # noqa: BLE001
            tally.fail(f"{fmt} #{n} {c.kind}: load raised {type(e).__name__}: {e}", "tracebacks")
            continue
        if loaded != c.valid:
            tally.fail(f"{fmt} #{n} {c.kind}: loader {'accepted' if loaded else 'rejected'} it", "accepted_invalid"
                       if loaded else "rejected_valid")


BROKEN_FILES = {  # whole files that are not a list of records -> their bytes
    "deeply nested": b"[" * 200_000 + b"]" * 200_000,
    "an object": b'{"records": []}',
    "a string": b'"records"',
    "a number": b"42",
    "null": b"null",
    "empty": b"",
    "not UTF-8": b'[{"video_id": "\xff\xfe"}]',
    "truncated": b'[{"video_id": "v1", "question_id": ',
    "a huge integer": b"[" + b"9" * 5000 + b"]",
    "two documents": b"[] []",
}


def whole_file_form(fmt: str, cases: list[Case], folder: Path, tally: Tally) -> None:
    """The records over 5 train, 1 val and 1 test files, each broken file as one more train file; then check."""
    root = folder / f"files-{fmt}"
    root.mkdir()
    names = {"train": [f"train{i}.json" for i in range(5)], "val": ["val.json"], "test": ["test.json"]}
    files = [n for split in names.values() for n in split]
    placed: dict[str, list[Case]] = {n: [] for n in files}
    for i, c in enumerate(cases):   # in order, so that a repeated id comes after the id it repeats
        placed[files[min(i * len(files) // len(cases), len(files) - 1)]].append(c)
        tally.cases[(fmt, "whole file", c.kind)] += 1
    for name, cs in placed.items():
        (root / name).write_text("[" + ",\n".join(c.text for c in cs) + "]", encoding="utf-8")
    for i, data in enumerate(BROKEN_FILES.values()):
        (root / f"broken{i}.json").write_bytes(data)
    cfg = DataConfig(root=str(root), format=fmt, train_files=names["train"] + [f"broken{i}.json" for i in
                                                                                range(len(BROKEN_FILES))],
                     val_file=names["val"][0], test_file=names["test"][0], audio_feats=None, visual_feats=None,
                     synth_profile=None)
    try:
        report = check(cfg)
    except Exception as e:  # noqa: BLE001
        tally.fail(f"{fmt}: check raised {type(e).__name__}: {e}", "tracebacks")
        return
    named: dict[tuple, list[DataError]] = {}
    for e in report.errors:
        named.setdefault((e.path.name if e.path else None, e.record), []).append(e)
    for name, cs in placed.items():
        for index, c in enumerate(cs):
            errs = named.get((name, index), [])
            if c.valid and errs:
                tally.fail(f"{fmt} {name}#{index}: a valid record reported: {errs[0]}", "rejected_valid")
            elif not c.valid and not errs:
                tally.fail(f"{fmt} {name}#{index} {c.kind}: not reported: {c.text[:200]}", "accepted_invalid")
            elif errs and any(e.question_id != c.record_id for e in errs):
                tally.fail(f"{fmt} {name}#{index}: error does not name id {c.record_id}: {errs[0]}", "unnamed")
    for i in range(len(BROKEN_FILES)):
        tally.broken_files += 1
        if (f"broken{i}.json", None) not in named:
            tally.fail(f"{fmt}: broken file {list(BROKEN_FILES)[i]!r} not reported", "unreported_files")


def fuzz_tally(folder: Path, seed: int = SEED) -> Tally:
    tally = Tally()
    for fmt in FORMATS:
        cases = make_cases(fmt, seed)
        single_record_form(fmt, cases, folder, tally)
        whole_file_form(fmt, cases, folder, tally)
    return tally


@functools.lru_cache(maxsize=1)
def cached_tally() -> Tally:
    """The fuzz run once per session (these tests and the catalogue of test_safety.py read it)."""
    with tempfile.TemporaryDirectory() as folder:
        return fuzz_tally(Path(folder))


# ------------------------------------------------------------------------------------------------ the tests
@pytest.fixture(scope="module")
def tally() -> Tally:
    return cached_tally()


def test_every_damage_class_is_drawn(tally):
    for fmt in FORMATS:
        drawn = {kind for (f, form, kind) in tally.cases if f == fmt and form == "whole file"}
        assert drawn == {"valid", *MUTATIONS}, drawn
        mutated = sum(n for (f, form, kind), n in tally.cases.items()
                      if f == fmt and form == "whole file" and kind != "valid")
        assert mutated == N_MUTATED


def test_no_traceback(tally):
    assert tally.tracebacks == 0, tally.problems


def test_every_invalid_record_is_reported_with_its_file_and_id(tally):
    assert tally.accepted_invalid == 0 and tally.unnamed == 0, tally.problems
    assert tally.unreported_files == 0 and tally.broken_files == 2 * len(BROKEN_FILES), tally.problems


def test_no_valid_record_is_rejected(tally):
    assert tally.rejected_valid == 0, tally.problems
