"""Annotation records: parsing, question-type taxonomies, tokenization and vocabularies.

Music-AVQA follows ``music_avqa_protocol.md``: ``type`` and ``templ_values`` are JSON strings, the answer key is
spelled ``anser``, tokens are split on spaces with the trailing question mark dropped and each ``<placeholder>``
replaced by the next template value, padded with ``<pad>`` to 14 tokens, no lower-casing.

Records of the AVQA data set of Yang et al. (multiple choice, 8 question types) are parsed by ``mcd.data.avqa``
into the same ``Record``; each record names the ``taxonomy`` its ``qtype`` indexes (see ``TAXONOMIES``).
"""
from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path

# The data sets' constants live with the schema and are imported from here by the rest of the package.
from mcd.data.schema import (ANSWER_SET, ANSWERS, AVQA_TYPES, INSTRUMENTS, MAX_QUESTION_LEN, NUMBER_WORDS,  # noqa: F401
                             QUESTION_TYPES, RecordError, VocabFile, json_kind, parse_json, record_id,
                             validate_music_avqa)
from mcd.errors import DataError
from mcd.io import atomic_write_text

TYPE_NAMES: list[str] = ["A-Count", "A-Comp", "V-Count", "V-Loc", "AV-Exist", "AV-Count", "AV-Loc", "AV-Comp", "AV-Temp"]
MODALITIES: list[str] = ["Audio", "Visual", "Audio-Visual"]
TYPE_INDEX: dict[tuple[str, str], int] = {t: i for i, t in enumerate(QUESTION_TYPES)}

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

MAX_OPTION_LEN = 8  # tokens kept per multiple-choice option (longer ones are cut; ``mcd data check`` warns)
PAD, UNK = "<pad>", "<unk>"
MAX_ANNOTATION_BYTES = 1 << 30  # an annotation file larger than 1 GiB is refused (the real ones are under 20 MB)


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


def has_words(tokens) -> bool:
    """Whether some token holds a letter or a digit (a question of punctuation alone asks nothing)."""
    return any(ch.isalnum() for t in tokens for ch in t)


def _to_record(rec, answer: str) -> Record:
    """A validated record (``mcd.data.schema``) tokenized into a ``Record``."""
    try:
        tokens, keywords = tokenize(rec.question_content, rec.templ_values)
    except ValueError as e:
        raise RecordError([("question_content", str(e))]) from None
    if not has_words(tokens):
        raise RecordError([("question_content", f"has no words: {rec.question_content!r}")])
    if len(tokens) > MAX_QUESTION_LEN:
        raise RecordError([("question_content", f"has {len(tokens)} tokens, more than {MAX_QUESTION_LEN}")])
    return Record(
        video_id=rec.video_id,
        question_id=rec.question_id if rec.question_id is not None else -1,
        qtype=TYPE_INDEX[tuple(rec.type)],
        question=rec.question_content,
        templ_values=tuple(rec.templ_values),
        answer=answer,
        tokens=tuple(tokens),
        keyword_pos=tuple(keywords),
    )


def parse_record(raw, *, answers: Collection[str] | None = ANSWER_SET) -> Record:
    """Parse one raw Music-AVQA record (checked by ``mcd.data.schema``); raises RecordError (a ValueError) naming
    each field at fault. ``answers`` is the answer set (None: any well-formed answer, for data of your own)."""
    rec = validate_music_avqa(raw, answers=answers)
    return _to_record(rec, rec.anser)


def parse_question(video_id, qtype: str, question, values) -> Record:
    """A question asked on the command line (``mcd answer --question``), checked like a record; no answer."""
    names = {"/".join(t): t for t in QUESTION_TYPES} | dict(zip(TYPE_NAMES, QUESTION_TYPES))
    if qtype not in names:
        raise RecordError([("type", f"must be one of {sorted(names)}, got {qtype!r}")])
    raw = {"video_id": video_id, "type": list(names[qtype]), "question_content": question,
           "templ_values": list(values)}
    return _to_record(validate_music_avqa(raw, labelled=False), "")


def read_json(path: Path, what: str = "annotation file"):
    """The JSON in ``path``; a DataError naming the file for anything that keeps it from being read: missing, not a
    regular file (a FIFO would block), unreadable, too large, not UTF-8, not JSON, nested too deeply."""
    path = Path(path)
    if not path.exists():
        raise DataError(path, None, f"{what} not found")
    if not path.is_file():
        raise DataError(path, None, f"{what} is not a regular file")
    try:
        size = path.stat().st_size
        if size > MAX_ANNOTATION_BYTES:
            raise DataError(path, None, f"{what} is {size} bytes, more than {MAX_ANNOTATION_BYTES} (refused)")
        data = path.read_bytes()
    except OSError as e:
        raise DataError(path, None, f"{what} cannot be read ({e.strerror or e})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(path, None, f"not UTF-8 text (byte {e.start}: {data[e.start:e.start + 4]!r})") from None
    try:
        return parse_json(text)
    except json.JSONDecodeError as e:
        raise DataError(path, None, f"not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
    except RecursionError:
        raise DataError(path, None, "not valid JSON here: nested too deeply to read") from None
    except ValueError as e:  # e.g. an integer of more digits than Python converts
        raise DataError(path, None, f"not valid JSON here ({e})") from None


def read_json_list(path: Path) -> list:
    data = read_json(path)
    if not isinstance(data, list):
        raise DataError(path, None, f"expected a JSON list of records, got {json_kind(data)}")
    return data


def load_records(path: Path, *, collect: list | None = None, indices: list | None = None,
                 parse: Callable[[dict], Record] = parse_record, id_key: str = "question_id") -> list[Record]:
    """Read an annotation file. Bad records raise DataError naming the file, record and field, or, when ``collect``
    is a list, every problem is appended to it and the record skipped (``mcd data check`` uses this to report every
    problem); then ``indices`` receives each kept record's position in the file. ``parse`` reads one record
    (Music-AVQA's ``parse_record`` by default; AVQA's is ``mcd.data.avqa.parse_avqa_record``); ``id_key`` the key
    of the record's id, which errors show when it is a valid id."""
    records = []
    for i, raw in enumerate(read_json_list(path)):
        try:
            records.append(parse(raw))
            if indices is not None:
                indices.append(i)
        except RecordError as e:
            qid = record_id(raw, id_key)
            errors = [DataError(path, i, reason, question_id=qid, field=field) for field, reason in e.problems]
            if collect is None:
                raise errors[0] from None
            collect.extend(errors)
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
        """A run's vocab.json, checked (``mcd.data.schema.VocabFile``): a DataError naming the file and field."""
        data = read_json(path, "vocabulary file")
        try:
            return cls.from_dict(VocabFile.check(data).model_dump())
        except RecordError as e:
            field, reason = e.problems[0]
            raise DataError(path, None, reason, field=field) from None
