"""The AVQA data set of Yang et al. (ACM MM 2022): multiple choice, 4 candidate answers, 8 question types.

Layout this package reads (``DataConfig(format="avqa")``; ``book/notes/avqa_decisions.md`` says what of it was
verified against public sources and what was not):

- ``{annotation_root or root}/{train,val,test}_qa.json``: a JSON list of records such as::

      {"id": 183, "video_name": "-HG3Omg_89c_000030", "video_id": 341,
       "question_text": "What happened in the video?",
       "multi_choice": ["motorboat", "Yacht consignment", "Sailboat set sail", "Consignment car"],
       "answer": 1, "question_relation": "View", "question_type": "Happening"}

  ``answer`` is the 0-based index of the correct entry of ``multi_choice``; ``question_type`` is one of
  ``AVQA_TYPES``. Required: ``video_name``, ``question_text``, ``multi_choice``, ``answer``, ``question_type``;
  ``id`` (the question id), ``video_id`` (an integer id the official code uses to index its h5 feature files) and
  ``question_relation`` are optional and carried along. What each field may hold is ``mcd.data.schema.AVQARecord``.
- ``{root}/feats/{set}/{video_name}.npy``: per-second ``[T, C]`` arrays, as for Music-AVQA (the release's own
  features come as h5 files keyed by ``video_id``; they have to be written out per video first).

Tokenization follows the official preprocessing in spirit (lower-cased, punctuation split off as tokens, the
question's last character dropped) with a regular expression instead of ``nltk.word_tokenize``. Options are
stored normalised (their tokens joined by single spaces), so what the model scores is what the prediction table
shows. Questions longer than ``MAX_QUESTION_LEN`` tokens are kept and cut to that length when encoded.
"""
from __future__ import annotations

import re
from pathlib import Path

from mcd.data.annotations import AVQA_TYPES, Record, has_words, load_records
from mcd.data.layout import OFFICIAL_FILES
from mcd.data.schema import NUM_OPTIONS, RecordError, validate_avqa  # noqa: F401 (NUM_OPTIONS: re-exported)

SPLIT_FILES = OFFICIAL_FILES["avqa"]
TYPE_INDEX = {name: i for i, name in enumerate(AVQA_TYPES)}
_TOKEN = re.compile(r"[\w']+|[^\w\s]")


def tokenize_text(text: str) -> list[str]:
    """Lower-cased word and punctuation tokens (``"Car, parked."`` -> ``["car", ",", "parked", "."]``)."""
    return _TOKEN.findall(text.lower())


def question_tokens(question: str) -> list[str]:
    """The question's tokens without its final question mark (the official code drops the last character)."""
    tokens = tokenize_text(question)
    if tokens and tokens[-1] in ("?", "？"):
        tokens.pop()
    return tokens


def normalise_option(option: str) -> str:
    return " ".join(tokenize_text(option))


def parse_avqa_record(raw: dict) -> Record:
    """Parse one AVQA record (checked by ``mcd.data.schema``); raises RecordError (a ValueError) naming each field at
    fault (``load_records`` adds the file and record)."""
    rec = validate_avqa(raw)
    problems = []
    question = question_tokens(rec.question_text)
    if not has_words(question):
        problems.append(("question_text", f"has no words: {rec.question_text!r}"))
    empty = [i for i, o in enumerate(rec.multi_choice) if not has_words(tokenize_text(o))]
    problems += [(f"multi_choice[{i}]", f"has no words: {rec.multi_choice[i]!r}") for i in empty]
    normalised = [normalise_option(o) for o in rec.multi_choice]
    if not empty and len(set(normalised)) != len(normalised):
        problems.append(("multi_choice", f"options are not distinct once lower-cased and tokenized: "
                                         f"{rec.multi_choice!r} (the correct one could not be told apart)"))
    if problems:
        raise RecordError(problems)
    return Record(
        video_id=rec.video_name,
        question_id=rec.id if rec.id is not None else -1,
        qtype=TYPE_INDEX[rec.question_type],
        question=rec.question_text,
        templ_values=(),
        answer=normalised[rec.answer],
        tokens=tuple(question),
        keyword_pos=(),
        options=tuple(normalised),
        taxonomy="avqa",
        relation=rec.question_relation or "",
    )


def load_avqa_records(path: Path, *, collect: list | None = None, indices: list | None = None) -> list[Record]:
    """Read an AVQA annotation file; bad input raises DataError naming the file and record (see load_records)."""
    return load_records(path, collect=collect, indices=indices, parse=parse_avqa_record, id_key="id")
