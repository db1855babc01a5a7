"""``mcd data check``: every problem of a data set in one pass, without training. It never raises: whatever it
reads, it reports.

Errors (the data cannot be used as is) and warnings (it can, but a number may mislead) each name the file and
the record (index and id) or video, and the field at fault, so that a user can fix them all at once instead of one
per failed run. The records are read in ``data_cfg.format`` (Music-AVQA or AVQA) and checked by
``mcd.data.schema``; then, across records:

- an answer outside the data set's answer set is an error (a warning with ``allow_new_answers``); an answer of a
  val or test question that train never holds is a warning, once per answer (no model trained there can give it);
- a question id given twice in a split, or in two splits, is an error (predictions are joined on it);
- an empty split is one error;
- every referenced video must have a readable, finite feature file of the width most videos have, inside its
  feature folder;
- AVQA questions and options longer than the encoded length are warnings (they are cut when encoded).
"""
from __future__ import annotations

from dataclasses import dataclass

from mcd.data.annotations import ANSWER_SET, MAX_OPTION_LEN, MAX_QUESTION_LEN
from mcd.data.datasets import FEATURE_KINDS, read_with_origin
from mcd.data.features import feature_path, load_feature_set
from mcd.data.layout import SPLITS
from mcd.errors import DataError


@dataclass
class Report:
    errors: list[DataError]
    warnings: list[DataError]
    counts: dict[str, int]

    @property
    def ok(self) -> bool:
        return not self.errors

    def lines(self) -> list[str]:
        out = [f"{split}: {n} records" for split, n in self.counts.items()]
        out += [f"ERROR {e}" for e in self.errors] + [f"warning {w}" for w in self.warnings]
        out.append(f"{len(self.errors)} error(s), {len(self.warnings)} warning(s)")
        return out


def check(data_cfg, *, progress: bool = False) -> Report:
    errors: list[DataError] = []
    warnings: list[DataError] = []
    counts: dict[str, int] = {}
    by_split = {}
    for split in SPLITS:
        files, records, origin = read_with_origin(data_cfg, split, collect=errors)
        counts[split] = len(records)
        if not records and not any(e.path in files for e in errors):
            errors.append(DataError(files[0] if files else None, None, f"split {split!r} has no records"))
        by_split[split] = (records, origin)

    _check_answers(data_cfg, by_split, errors, warnings)
    _check_ids(by_split, errors)
    for records, origin in by_split.values():
        for r, (f, i) in zip(records, origin):
            if len(r.tokens) > MAX_QUESTION_LEN:
                warnings.append(DataError(f, i, f"question has {len(r.tokens)} tokens; only the first "
                                                f"{MAX_QUESTION_LEN} are encoded", question_id=r.question_id))
            long = [o for o in r.options if len(o.split()) > MAX_OPTION_LEN]
            if long:
                warnings.append(DataError(f, i, f"options {long} have more than {MAX_OPTION_LEN} tokens; only the "
                                                f"first {MAX_OPTION_LEN} are encoded", question_id=r.question_id))
    _check_features(data_cfg, by_split, errors, progress)
    return Report(errors, warnings, counts)


def _check_answers(data_cfg, by_split, errors, warnings) -> None:
    """The answer set is the data set's. Multiple choice: the answer is one of the record's options."""
    if data_cfg.multiple_choice:
        for records, origin in by_split.values():
            for r, (f, i) in zip(records, origin):
                if r.answer not in r.options:
                    errors.append(DataError(f, i, f"answer {r.answer!r} is not one of the options {list(r.options)}",
                                            question_id=r.question_id, field="answer"))
        return
    if getattr(data_cfg, "allow_new_answers", False):  # accepted by the loaders; said aloud here
        for records, origin in by_split.values():
            for r, (f, i) in zip(records, origin):
                if r.answer not in ANSWER_SET:
                    warnings.append(DataError(f, i, f"{r.answer!r} is not one of Music-AVQA's answers (allowed by "
                                                    f"allow_new_answers)", question_id=r.question_id, field="anser"))
    train = by_split.get("train", ([], []))[0]
    if not train:
        return  # no train split to compare with: said once, above
    known = {r.answer for r in train}
    for split in ("val", "test"):
        unseen: dict[str, list] = {}
        for r, o in zip(*by_split.get(split, ([], []))):
            if r.answer not in known:
                unseen.setdefault(r.answer, []).append((o, r.question_id))
        for answer, where in unseen.items():
            (f, i), qid = where[0]
            warnings.append(DataError(f, i, f"answer {answer!r} ({len(where)} {split} question(s), the first here) "
                                            f"never appears in train: a model trained there cannot give it",
                                      question_id=qid, field="anser"))


def _check_ids(by_split, errors) -> None:
    """A question id names one question of the data set: given twice (in a split or across splits) is an error."""
    first: dict = {}
    for split, (records, origin) in by_split.items():
        for r, (f, i) in zip(records, origin):
            if r.question_id == -1:  # no id in the file
                continue
            if r.question_id in first:
                s0, f0, i0 = first[r.question_id]
                errors.append(DataError(f, i, f"question_id {r.question_id} is also at {f0}, record {i0} ({s0}); "
                                              f"a question id must name one question",
                                        question_id=r.question_id, field="question_id"))
            else:
                first[r.question_id] = (split, f, i)


def _check_features(data_cfg, by_split, errors, progress) -> None:
    """Every video referenced by a record has a readable, finite file of the right shape, inside its folder."""
    referenced: dict[str, tuple] = {}
    for records, origin in by_split.values():
        for r, o in zip(records, origin):
            referenced.setdefault(r.video_id, o)
    video_ids = sorted(referenced)
    for kind, (attr, ndim) in FEATURE_KINDS.items():
        name = getattr(data_cfg, attr)
        if name is None or not video_ids:
            continue
        found: list[DataError] = []
        load_feature_set(data_cfg.root, name, video_ids, ndim=ndim, seconds=data_cfg.seconds, stride=1,
                         cache_dir=data_cfg.cache_dir, errors=found, progress=progress)
        for e in found:
            if e.reason == "feature file missing":
                f, i = referenced[e.video_id]
                e = DataError(f, i, f"video {e.video_id} is in the annotations but has no {kind} features "
                                    f"({feature_path(data_cfg.root, name, e.video_id)} is missing)")
            errors.append(e)
