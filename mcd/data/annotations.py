"""Annotation records: parsing, question-type taxonomies, tokenization and vocabularies.

Music-AVQA follows ``music_avqa_protocol.md``: ``type`` and ``templ_values`` are JSON strings, the answer key is
spelled ``anser``, tokens are split on spaces with the trailing question mark dropped and each ``<placeholder>``
replaced by the next template value, padded with ``<pad>`` to 14 tokens, no lower-casing.

Records of the AVQA data set of Yang et al. (multiple choice, 8 question types) are parsed by ``mcd.data.avqa``
into the same ``Record``; each record names the ``taxonomy`` its ``qtype`` indexes (see ``TAXONOMIES``).
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from mcd.errors import DataError
from mcd.io import atomic_write_text

# The 9 question types in the order of the paper's Table III.
QUESTION_TYPES: list[tuple[str, str]] = [
    ("Audio", "Counting"),
    ("Audio", "Comparative"),
    ("Visual", "Counting"),
    ("Visual", "Location"),
    ("Audio-Visual", "Existential"),
    ("Audio-Visual", "Counting"),
    ("Audio-Visual", "Location"),
    ("Audio-Visual", "Comparative"),
    ("Audio-Visual", "Temporal"),
]
TYPE_NAMES: list[str] = ["A-Count", "A-Comp", "V-Count", "V-Loc", "AV-Exist", "AV-Count", "AV-Loc", "AV-Comp", "AV-Temp"]
MODALITIES: list[str] = ["Audio", "Visual", "Audio-Visual"]
TYPE_INDEX: dict[tuple[str, str], int] = {t: i for i, t in enumerate(QUESTION_TYPES)}

# The 8 question types of AVQA (Yang et al., ACM MM 2022), in the order of the official preprocessing's
# QUESTION_CATEGORY_DICT (github.com/AlyssaYoung/AVQA, preprocess/preprocess_text/datautils/avqa.py).
AVQA_TYPES: list[str] = ["Which", "Come From", "Happening", "Where", "Why", "Before Next", "When", "Used For"]


@dataclass(frozen=True)
class Taxonomy:
    """The question types of one data set. ``qtype`` indexes ``names``; ``modalities`` (Music-AVQA only) gives each
    type's modality, and ``groups`` the modality averages the field reports beside the per-type accuracies."""

    name: str
    names: tuple[str, ...]
    modalities: tuple[str, ...] | None = None
    groups: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.names)


MUSIC_AVQA_TAXONOMY = Taxonomy("music_avqa", tuple(TYPE_NAMES), tuple(m for m, _ in QUESTION_TYPES),
                               tuple(MODALITIES))
AVQA_TAXONOMY = Taxonomy("avqa", tuple(AVQA_TYPES))
TAXONOMIES: dict[str, Taxonomy] = {t.name: t for t in (MUSIC_AVQA_TAXONOMY, AVQA_TAXONOMY)}


def taxonomy_of(type_names: Iterable[str]) -> Taxonomy:
    """The taxonomy whose type names cover ``type_names`` (the names of the two taxonomies are disjoint); an empty
    set gives Music-AVQA's."""
    seen = set(type_names)
    for t in TAXONOMIES.values():
        if seen <= set(t.names):
            return t
    raise ValueError(f"question types {sorted(seen)} belong to no single taxonomy "
                     f"({ {t.name: list(t.names) for t in TAXONOMIES.values()} })")

INSTRUMENTS: list[str] = [
    "accordion", "acoustic_guitar", "bagpipe", "banjo", "bassoon", "cello", "clarinet", "congas", "drum",
    "electric_bass", "erhu", "flute", "guzheng", "piano", "pipa", "saxophone", "suona", "trumpet", "tuba",
    "ukulele", "violin", "xylophone",
]
NUMBER_WORDS: list[str] = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
                           "more than ten"]
# The 42 answers of Music-AVQA (yes/no, 12 counts, 22 instruments, 3 positions, 2 settings, "simultaneously").
ANSWERS: list[str] = ["yes", "no", *NUMBER_WORDS, *INSTRUMENTS, "left", "middle", "right", "indoor", "outdoor",
                      "simultaneously"]

MAX_QUESTION_LEN = 14
MAX_OPTION_LEN = 8  # tokens kept per multiple-choice option (longer ones are cut; ``mcd data check`` warns)
PAD, UNK = "<pad>", "<unk>"
REQUIRED_KEYS = ("video_id", "type", "question_content", "templ_values", "anser")


@dataclass(frozen=True)
class Record:
    """One question about one video, with its question type carried along (never looked up by index)."""

    video_id: str              # the key of the video's feature files (AVQA: its video_name)
    question_id: int | str
    qtype: int                 # index into the taxonomy's types (Music-AVQA: QUESTION_TYPES)
    question: str              # the raw template text (question_content)
    templ_values: tuple[str, ...]
    answer: str
    tokens: tuple[str, ...]    # unpadded
    keyword_pos: tuple[int, ...]  # token positions filled from templ_values
    options: tuple[str, ...] = field(default=())  # multiple-choice candidates (AVQA); empty for Music-AVQA
    taxonomy: str = "music_avqa"  # which TAXONOMIES entry qtype indexes
    relation: str = ""         # AVQA's question_relation, as given (e.g. "View", "Both"); empty for Music-AVQA

    @property
    def modality(self) -> str:
        """Music-AVQA: the type's modality (Audio, Visual, Audio-Visual). AVQA: the record's question_relation."""
        mods = TAXONOMIES[self.taxonomy].modalities
        return mods[self.qtype] if mods is not None else self.relation

    @property
    def type_name(self) -> str:
        return TAXONOMIES[self.taxonomy].names[self.qtype]

    @property
    def text(self) -> str:
        return " ".join(self.tokens) + "?"


def tokenize(question: str, templ_values: list[str]) -> tuple[list[str], list[int]]:
    """Split a question template into tokens, filling placeholders; returns (tokens, keyword positions)."""
    words = question.strip().split()
    if words:
        words[-1] = words[-1].rstrip("?？")
        if not words[-1]:
            words.pop()
    values = iter(templ_values)
    tokens, keywords = [], []
    for i, w in enumerate(words):
        if "<" in w:
            try:
                tokens.append(next(values))
            except StopIteration:
                raise ValueError(f"question {question!r} has more placeholders than templ_values {templ_values}")
            keywords.append(i)
        else:
            tokens.append(w)
    return tokens, keywords


def _parse_json_field(value, name: str):
    if isinstance(value, list):  # v2.0 files sometimes hold real lists
        return value
    if not isinstance(value, str):
        raise ValueError(f"field {name!r} should be a JSON string, got {type(value).__name__}")
    try:
        return json.loads(value)
    except json.JSONDecodeError as e:
        raise ValueError(f"field {name!r} is not valid JSON ({e.msg}): {value!r}")


def require_keys(raw, keys, *, other: tuple[set, str, str]) -> None:
    """A record must be an object with ``keys``; if it has the keys of the other format (``other`` = (its keys,
    its name, its data.format)), the error says which ``data.format`` to set."""
    if not isinstance(raw, dict):
        raise ValueError(f"record is a {type(raw).__name__}, not an object")
    missing = [k for k in keys if k not in raw]
    if missing:
        other_keys, name, fmt = other
        hint = f"; this looks like {name} record: set data.format={fmt}" if other_keys <= set(raw) else ""
        raise ValueError(f"missing keys {missing}{hint}")


def parse_record(raw: dict) -> Record:
    """Parse one raw JSON record; raises ValueError with a plain reason."""
    require_keys(raw, REQUIRED_KEYS, other=({"question_text", "multi_choice"}, "an AVQA (Yang et al.)", "avqa"))
    qtype = _parse_json_field(raw["type"], "type")
    if not (isinstance(qtype, list) and len(qtype) == 2 and tuple(qtype) in TYPE_INDEX):
        raise ValueError(f"unknown question type {raw['type']!r}; expected one of {[list(t) for t in QUESTION_TYPES]}")
    values = _parse_json_field(raw["templ_values"], "templ_values")
    if not all(isinstance(v, str) for v in values):
        raise ValueError(f"templ_values must be strings: {values!r}")
    tokens, keywords = tokenize(str(raw["question_content"]), values)
    if len(tokens) > MAX_QUESTION_LEN:
        raise ValueError(f"question has {len(tokens)} tokens, more than {MAX_QUESTION_LEN}")
    options = raw.get("options", ())
    return Record(
        video_id=str(raw["video_id"]),
        question_id=raw.get("question_id", -1),
        qtype=TYPE_INDEX[tuple(qtype)],
        question=str(raw["question_content"]),
        templ_values=tuple(values),
        answer=str(raw["anser"]),
        tokens=tuple(tokens),
        keyword_pos=tuple(keywords),
        options=tuple(options),
    )


def read_json_list(path: Path) -> list:
    path = Path(path)
    if not path.exists():
        raise DataError(path, None, "annotation file not found")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(path, None, f"not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})")
    if not isinstance(data, list):
        raise DataError(path, None, f"expected a JSON list of records, got {type(data).__name__}")
    return data


def load_records(path: Path, *, collect: list | None = None, indices: list | None = None,
                 parse: Callable[[dict], Record] = parse_record) -> list[Record]:
    """Read an annotation file. Bad records raise DataError naming the file and record, or, when ``collect``
    is a list, are appended to it and skipped (``mcd data check`` uses this to report every problem); then
    ``indices`` receives each kept record's position in the file. ``parse`` reads one record (Music-AVQA's
    ``parse_record`` by default; AVQA's is ``mcd.data.avqa.parse_avqa_record``)."""
    records = []
    for i, raw in enumerate(read_json_list(path)):
        try:
            records.append(parse(raw))
            if indices is not None:
                indices.append(i)
        except ValueError as e:
            qid = raw.get("question_id", raw.get("id")) if isinstance(raw, dict) else None
            err = DataError(path, i, str(e), question_id=qid)
            if collect is None:
                raise err from None
            collect.append(err)
    return records


class Vocab:
    """Question-word and answer vocabularies, built once from the train split and saved with each run."""

    def __init__(self, words: list[str], answers: list[str]):
        self.words = list(words)
        self.answers = list(answers)
        self.word_index = {w: i for i, w in enumerate(self.words)}
        self.answer_index = {a: i for i, a in enumerate(self.answers)}

    @classmethod
    def build(cls, records: list[Record], answers: list[str] | None = None) -> "Vocab":
        """Words in order of first appearance (<pad> = 0, <unk> = 1). Answers likewise unless given (options of
        multiple-choice records count as words, so that the text objects can embed them)."""
        words: dict[str, None] = {PAD: None, UNK: None}
        found: dict[str, None] = {}
        for r in records:
            for t in r.tokens:
                words.setdefault(t, None)
            for o in r.options:
                for t in o.split():
                    words.setdefault(t, None)
            found.setdefault(r.answer, None)
        return cls(list(words), list(answers) if answers is not None else list(found))

    def encode_question(self, tokens) -> list[int]:
        ids = [self.word_index.get(t, 1) for t in tokens][:MAX_QUESTION_LEN]
        return ids + [0] * (MAX_QUESTION_LEN - len(ids))

    def encode_answer(self, answer: str) -> int:
        return self.answer_index[answer]

    def to_dict(self) -> dict:
        return {"words": self.words, "answers": self.answers}

    @classmethod
    def from_dict(cls, d: dict) -> "Vocab":
        return cls(d["words"], d["answers"])

    def save(self, path: Path) -> None:
        atomic_write_text(path, json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path: Path) -> "Vocab":
        return cls.from_dict(json.loads(Path(path).read_text()))
