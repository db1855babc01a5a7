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
  ``question_relation`` are optional and carried along.
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

from mcd.data.annotations import AVQA_TYPES, Record, load_records, require_keys
from mcd.data.layout import OFFICIAL_FILES

NUM_OPTIONS = 4
REQUIRED_KEYS = ("video_name", "question_text", "multi_choice", "answer", "question_type")
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


def _answer_index(value) -> int:
    """The official preprocessing casts ``answer`` with int(), so an integer or a string of digits is accepted."""
    if isinstance(value, bool):
        raise ValueError(f"answer must be an option index (an integer), got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise ValueError(f"answer must be an option index (an integer), got {value!r}")


def parse_avqa_record(raw: dict) -> Record:
    """Parse one AVQA record; raises ValueError with a plain reason (``load_records`` adds file and record)."""
    require_keys(raw, REQUIRED_KEYS, other=({"question_content", "anser"}, "a Music-AVQA", "music_avqa"))
    qtype = raw["question_type"]
    if qtype not in TYPE_INDEX:
        raise ValueError(f"unknown question type {qtype!r}; expected one of {AVQA_TYPES}")
    options = raw["multi_choice"]
    if not isinstance(options, list):
        raise ValueError(f"multi_choice must be a list of {NUM_OPTIONS} options, got {type(options).__name__}")
    if len(options) != NUM_OPTIONS:
        raise ValueError(f"expected {NUM_OPTIONS} options in multi_choice, got {len(options)}: {options!r}")
    bad = [o for o in options if not isinstance(o, str) or not tokenize_text(o)]
    if bad:
        raise ValueError(f"options must be non-empty strings, got {bad!r} in {options!r}")
    normalised = [normalise_option(o) for o in options]
    if len(set(normalised)) != len(normalised):
        raise ValueError(f"options are not distinct once lower-cased and tokenized: {options!r} "
                         f"(the correct one could not be told apart)")
    answer = _answer_index(raw["answer"])
    if not 0 <= answer < NUM_OPTIONS:
        raise ValueError(f"answer index {answer} is out of range for {NUM_OPTIONS} options (0..{NUM_OPTIONS - 1})")
    question = raw["question_text"]
    if not isinstance(question, str) or not question_tokens(question):
        raise ValueError(f"question_text must be a non-empty string, got {question!r}")
    video = raw["video_name"]
    if not isinstance(video, str) or not video or "/" in video:
        raise ValueError(f"video_name must be a non-empty file name, got {video!r}")
    relation = raw.get("question_relation", "")
    return Record(
        video_id=video,
        question_id=raw.get("id", -1),
        qtype=TYPE_INDEX[qtype],
        question=question,
        templ_values=(),
        answer=normalised[answer],
        tokens=tuple(question_tokens(question)),
        keyword_pos=(),
        options=tuple(normalised),
        taxonomy="avqa",
        relation=relation if isinstance(relation, str) else str(relation),
    )


def load_avqa_records(path: Path, *, collect: list | None = None, indices: list | None = None) -> list[Record]:
    """Read an AVQA annotation file; bad input raises DataError naming the file and record (see load_records)."""
    return load_records(path, collect=collect, indices=indices, parse=parse_avqa_record)
