"""What an annotation record may hold, for both formats: one source of truth, validated with pydantic (strict mode).

Every field is checked for its type (a string is a string, not a number, a list or a dict; an integer is not a
bool or a float), its nesting (``type`` and ``templ_values`` are JSON strings, or lists, of strings), its size
(bounded lengths and counts) and its characters (printable text, no lone surrogates; a video id is a plain file
name, never a path). Unknown keys are errors: a field that is not known cannot be checked.

- Music-AVQA (``music_avqa_protocol.md``): ``video_id``, ``type``, ``question_content``, ``templ_values`` and
  ``anser`` are required; ``question_id`` and ``question_deleted`` are optional, and so are the four keys that
  some MUSIC-AVQA v2.0 records add (``unmatch_audio``, ``audio_instrument``, ``video_instrument``, ``person``).
  The answer must be one of the data set's 42 answers (``ANSWERS``) unless the caller allows new ones.
- AVQA of Yang et al. (``mcd.data.avqa``): ``video_name``, ``question_text``, ``multi_choice`` (4 options),
  ``answer`` (an option index) and ``question_type`` are required; ``id``, ``video_id`` and ``question_relation``
  are optional.

``validate_music_avqa`` and ``validate_avqa`` return the validated record or raise ``RecordError``, which lists
every problem of the record as (field, what was expected); the loaders add the file and the record index.
"""
from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Collection
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, \
    ValidationInfo, field_validator

from mcd.io import name_problem

# ------------------------------------------------------------------------------------- what the data sets hold
# The 9 question types of Music-AVQA in the order of the paper's Table III.
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
# The 8 question types of AVQA (Yang et al., ACM MM 2022), in the order of the official preprocessing's
# QUESTION_CATEGORY_DICT (github.com/AlyssaYoung/AVQA, preprocess/preprocess_text/datautils/avqa.py).
AVQA_TYPES: list[str] = ["Which", "Come From", "Happening", "Where", "Why", "Before Next", "When", "Used For"]
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
ANSWER_SET: frozenset[str] = frozenset(ANSWERS)
MAX_QUESTION_LEN = 14  # tokens a question is padded (and, for AVQA, cut) to
NUM_OPTIONS = 4        # AVQA's candidate answers per question

# ------------------------------------------------------------------------------------- bounds
MAX_TEXT_CHARS = 500        # a question or an option (the longest real Music-AVQA question has 77 characters)
MAX_WORD_CHARS = 64         # a template value, an answer, a relation (the longest real template value has 15)
MAX_JSON_FIELD_CHARS = 4096  # a JSON-string field (``type``, ``templ_values``) before it is decoded
MAX_ID = 2**53              # ids are integers every JSON reader holds exactly
MAX_VOCAB_WORDS = 100_000   # a run's vocabulary (Music-AVQA's has 93 words and 42 answers)
MAX_VOCAB_ANSWERS = 10_000
# Unicode categories refused in text: controls (NUL, newline, escape), format characters (bidirectional
# overrides, zero-width characters), surrogates, private-use and unassigned code points, line/paragraph separators.
_UNPRINTABLE = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


class RecordError(ValueError):
    """Every problem of one record, as (field or None, what was expected)."""

    def __init__(self, problems: list[tuple[str | None, str]]):
        self.problems = problems
        super().__init__("; ".join(f"field {f}: {m}" if f else m for f, m in problems))


# ------------------------------------------------------------------------------------- field types
def _printable(text: str) -> str:
    for i, ch in enumerate(text):
        if unicodedata.category(ch) in _UNPRINTABLE:
            raise ValueError(f"holds the unprintable character U+{ord(ch):04X} at position {i}; text must be "
                             f"printable")
    if text.isspace():
        raise ValueError("is blank")
    return text


def _template_value(text: str) -> str:
    if not _VALUE.fullmatch(text):
        bad = next(ch for ch in text if not _VALUE.fullmatch(ch))
        raise ValueError(f"holds {bad!r} (U+{ord(bad):04X}); a template value is one word of letters, digits, "
                         f"'_', '-', '.' or \"'\"")
    return text


def _video_id(name: str) -> str:
    problem = name_problem(name, suffix=".npy")
    if problem:
        raise ValueError(f"is not a video id: it {problem}")
    return name


def _json_list(value: Any) -> Any:
    """A JSON string holding a list is decoded; a list is kept (MUSIC-AVQA v2.0 files hold some); anything else is
    left for the type check to refuse."""
    if not isinstance(value, str):
        return value
    if len(value) > MAX_JSON_FIELD_CHARS:
        raise ValueError(f"is a JSON string of {len(value)} characters, more than {MAX_JSON_FIELD_CHARS}")
    try:
        decoded = json.loads(value)
    except RecursionError:
        raise ValueError("is a JSON string nested too deeply") from None
    except ValueError as e:
        raise ValueError(f"is not valid JSON ({getattr(e, 'msg', e)}): {value[:60]!r}") from None
    if not isinstance(decoded, list):
        raise ValueError(f"is a JSON string holding {json_kind(decoded)}; expected a list of strings")
    return decoded


def _known_type(pair: list[str]) -> list[str]:
    if tuple(pair) not in _TYPE_PAIRS:
        raise ValueError(f"unknown question type {pair}; expected one of {[list(t) for t in QUESTION_TYPES]}")
    return pair


def _option_index(value: Any) -> Any:
    """The official AVQA preprocessing casts ``answer`` with int(), so a string of ASCII digits is read as one."""
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        return int(value)
    return value


_TYPE_PAIRS = set(QUESTION_TYPES)
_DIGITS = re.compile(r"\s*-?[0-9]{1,6}\s*")
_VALUE = re.compile(r"[\w.'-]+")
Text = Annotated[str, Field(min_length=1, max_length=MAX_TEXT_CHARS), AfterValidator(_printable)]
TemplateValue = Annotated[str, Field(min_length=1, max_length=MAX_WORD_CHARS), AfterValidator(_template_value)]
VideoId = Annotated[str, AfterValidator(_video_id)]  # its length is name_problem's to check (in bytes)
ShortText = Annotated[str, Field(min_length=1, max_length=MAX_WORD_CHARS), AfterValidator(_printable)]
Id = Annotated[int, Field(ge=0, le=MAX_ID)]
QuestionType = Annotated[list[ShortText], BeforeValidator(_json_list), Field(min_length=2, max_length=2),
                         AfterValidator(_known_type)]
TemplateValues = Annotated[list[TemplateValue], BeforeValidator(_json_list), Field(max_length=MAX_QUESTION_LEN)]


class _Record(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class MusicAVQAQuestion(_Record):
    """A Music-AVQA question without its answer (what ``mcd answer --question`` asks)."""

    video_id: VideoId
    question_id: Id | None = None
    type: QuestionType
    question_content: Text
    templ_values: TemplateValues


class MusicAVQARecord(MusicAVQAQuestion):
    anser: ShortText
    question_deleted: Annotated[int, Field(ge=0, le=1)] | None = None
    # Added by some MUSIC-AVQA v2.0 records (the balanced and biased test sets), carried but not used.
    unmatch_audio: Text | None = None
    audio_instrument: Text | None = None
    video_instrument: Text | None = None
    person: Text | None = None

    @field_validator("anser")
    @classmethod
    def _in_the_answer_set(cls, answer: str, info: ValidationInfo) -> str:
        answers = (info.context or {}).get("answers", ANSWER_SET)
        if answers is not None and answer not in answers:
            raise ValueError(f"{answer!r} is not one of the data set's {len(answers)} answers (Music-AVQA's: yes/no, "
                             f"zero..ten and 'more than ten', 22 instruments, left/middle/right, indoor/outdoor, "
                             f"simultaneously; mcd.data.schema.ANSWERS). Answers of your own: data.allow_new_answers"
                             f"=true (--allow-new-answers)")
        return answer


class AVQARecord(_Record):
    id: Id | None = None
    video_name: VideoId
    video_id: Id | None = None  # the integer the official code indexes its h5 feature files with
    question_text: Text
    multi_choice: Annotated[list[Text], Field(min_length=NUM_OPTIONS, max_length=NUM_OPTIONS)]
    answer: Annotated[int, BeforeValidator(_option_index), Field(ge=0, le=NUM_OPTIONS - 1)]
    question_relation: Text | None = None
    question_type: Literal[tuple(AVQA_TYPES)]  # type: ignore[valid-type]


_OTHER_FORMAT = {  # keys that only the other format has -> how to say so
    "music_avqa": ({"question_text", "multi_choice"}, "an AVQA (Yang et al.) record: set data.format=avqa"),
    "avqa": ({"question_content", "anser"}, "a Music-AVQA record: set data.format=music_avqa"),
}


# ------------------------------------------------------------------------------------- validation
def json_kind(value: Any) -> str:
    """What a JSON value is, in JSON's words."""
    if value is None:
        return "null"
    for kind, name in ((bool, "a boolean"), (dict, "an object"), (list, "a list"), (str, "a string"),
                       ((int, float), "a number")):
        if isinstance(value, kind):
            return name
    return type(value).__name__


def _short(value: Any, limit: int = 60) -> str:
    """A value as an error message shows it, in JSON's words: its kind and its text, cut."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, dict):
        return f"an object with {len(value)} key(s)"
    if isinstance(value, (list, tuple)):
        return f"a list of {len(value)} item(s)"
    if isinstance(value, str):
        text = repr(value[:limit]) + (f"... ({len(value)} characters)" if len(value) > limit else "")
        return f"the string {text}"
    kind = "integer" if isinstance(value, int) else "number" if isinstance(value, float) else type(value).__name__
    text = repr(value)
    return f"the {kind} {text if len(text) <= limit else text[:limit] + '...'}"


def _field(loc: tuple) -> str | None:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not isinstance(part, str) or not part.isidentifier():  # pydantic's internal step names
            continue
        else:
            part = part if len(part) <= 60 else f"{part[:60]}..."
            out += f".{part}" if out else part
    return out or None


def _problems(err: ValidationError) -> list[tuple[str | None, str]]:
    out = []
    for e in err.errors(include_url=False):
        field = _field(e["loc"])
        if e["type"] == "missing":
            out.append((field, "missing (a required key)"))
            continue
        if e["type"] == "extra_forbidden":
            key = e["loc"][-1]
            name = key if isinstance(key, str) and key.isidentifier() else repr(key)
            out.append((name if len(name) <= 60 else f"{name[:60]}...", "unknown key (this format has no such field)"))
            continue
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "string_unicode":
            msg = "expected printable text; got a string holding a lone surrogate"
            out.append((field, msg))
            continue
        if e["type"] != "value_error":
            msg = msg.replace("Input should be ", "expected ", 1).replace(" after validation", "")
            msg = f"{msg[:1].lower()}{msg[1:]}"
            if e["type"] not in ("too_short", "too_long"):  # those say the size already
                msg += f"; got {_short(e.get('input'))}"
        out.append((field, msg))
    return out


def _precheck(raw: Any, fmt: str) -> list[tuple[str | None, str]]:
    """Problems found before the field checks: not an object, the other format's record, keys given twice."""
    if not isinstance(raw, dict):
        return [(None, f"record is {json_kind(raw)}, not an object")]
    if fmt in _OTHER_FORMAT:
        other_keys, hint = _OTHER_FORMAT[fmt]
        own_keys = _OTHER_FORMAT["avqa" if fmt == "music_avqa" else "music_avqa"][0]
        if other_keys <= set(raw) and not own_keys <= set(raw):
            return [(None, f"this looks like {hint}")]
    return [(k, "appears twice in the record (a JSON reader keeps only the last)")
            for k in getattr(raw, "duplicated_keys", ())]


def _validate(model: type[_Record], raw: Any, fmt: str, context: dict | None = None):
    problems = _precheck(raw, fmt)
    if any(field is None for field, _ in problems):  # the record as a whole
        raise RecordError(problems)
    try:
        rec = model.model_validate(raw, context=context)
    except ValidationError as e:
        raise RecordError(problems + _problems(e)) from None
    if problems:
        raise RecordError(problems)
    return rec


def validate_music_avqa(raw: Any, *, answers: Collection[str] | None = ANSWER_SET,
                        labelled: bool = True) -> MusicAVQAQuestion:
    """A checked Music-AVQA record (``labelled=False``: a question without ``anser``). ``answers`` is the answer
    set (None accepts any answer that is a well-formed word). Raises RecordError listing every problem."""
    model = MusicAVQARecord if labelled else MusicAVQAQuestion
    rec = _validate(model, raw, "music_avqa", {"answers": answers})
    placeholders = sum("<" in w for w in rec.question_content.split())
    if placeholders != len(rec.templ_values):
        raise RecordError([("templ_values", f"holds {len(rec.templ_values)} value(s) but question_content has "
                                            f"{placeholders} <placeholder>(s); expected one value each")])
    return rec


def validate_avqa(raw: Any) -> AVQARecord:
    """A checked AVQA (Yang et al.) record. Raises RecordError listing every problem."""
    return _validate(AVQARecord, raw, "avqa")


class VocabFile(_Record):
    """What a run's ``vocab.json`` may hold: unique words (``<pad>`` and ``<unk>`` first) and unique answers."""

    words: Annotated[list[ShortText], Field(min_length=2, max_length=MAX_VOCAB_WORDS)]
    answers: Annotated[list[Text], Field(min_length=1, max_length=MAX_VOCAB_ANSWERS)]

    @classmethod
    def check(cls, data: Any) -> "VocabFile":
        if not isinstance(data, dict):
            raise RecordError([(None, f"expected a JSON object with words and answers, got {json_kind(data)}")])
        vocab = _validate(cls, data, "vocab")
        problems = [(name, f"holds {value!r} twice") for name in ("words", "answers")
                    for value in _first_repeat(getattr(vocab, name))]
        if vocab.words[:2] != ["<pad>", "<unk>"]:
            problems.append(("words", f"must start with '<pad>', '<unk>', got {vocab.words[:2]}"))
        if problems:
            raise RecordError(problems)
        return vocab


def _first_repeat(items: list[str]) -> list[str]:
    seen: set[str] = set()
    for item in items:
        if item in seen:
            return [item]
        seen.add(item)
    return []


def record_id(raw: Any, key: str):
    """The record's id, if it is one (an error message shows it); None when absent or malformed."""
    value = raw.get(key) if isinstance(raw, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_ID else None


class JSONObject(dict):
    """A JSON object as ``read_json`` builds it: a dict that remembers the keys the file gave twice."""

    duplicated_keys: tuple[str, ...] = ()


def _object(pairs: list[tuple[str, Any]]) -> JSONObject:
    obj = JSONObject(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        obj.duplicated_keys = tuple(dict.fromkeys(k for k, _ in pairs if k in seen or seen.add(k)))
    return obj


def parse_json(text: str) -> Any:
    """``json.loads`` that records keys given twice in an object (``JSONObject.duplicated_keys``)."""
    return json.loads(text, object_pairs_hook=_object)
