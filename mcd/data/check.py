"""``mcd data check``: every problem of a data set in one pass, without training.

Errors (the data cannot be used as is) and warnings (it can, but a number may mislead) each name the file and
the record or video, so that a user can fix them all at once instead of one per failed run. The records are read
in ``data_cfg.format`` (Music-AVQA or AVQA); AVQA questions and options longer than the encoded length are
warnings (they are cut when encoded).
"""
from __future__ import annotations

from dataclasses import dataclass

from mcd.data.annotations import MAX_OPTION_LEN, MAX_QUESTION_LEN, Vocab
from mcd.data.datasets import FEATURE_KINDS, read_with_origin
from mcd.data.features import feature_path, load_feature_set
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
    for split in ("train", "val", "test"):
        try:
            _, records, origin = read_with_origin(data_cfg, split, collect=errors)
        except DataError as e:  # the whole file is unreadable
            errors.append(e)
            continue
        by_split[split] = (records, origin)
        counts[split] = len(records)

    # Answers must be in the vocabulary built on train (multiple choice: among the record's options).
    vocab = Vocab.build(by_split["train"][0]) if "train" in by_split else None
    for split, (records, origin) in by_split.items():
        seen: dict[tuple, tuple] = {}
        for r, (f, i) in zip(records, origin):
            if data_cfg.multiple_choice:
                if r.answer not in r.options:
                    errors.append(DataError(f, i, f"answer {r.answer!r} is not one of the options {list(r.options)}",
                                            question_id=r.question_id))
            elif vocab is not None and r.answer not in vocab.answer_index:
                errors.append(DataError(f, i, f"answer {r.answer!r} is outside the answer vocabulary built on "
                                              f"train ({len(vocab.answers)} answers)", question_id=r.question_id))
            if len(r.tokens) > MAX_QUESTION_LEN:
                warnings.append(DataError(f, i, f"question has {len(r.tokens)} tokens; only the first "
                                                f"{MAX_QUESTION_LEN} are encoded", question_id=r.question_id))
            long = [o for o in r.options if len(o.split()) > MAX_OPTION_LEN]
            if long:
                warnings.append(DataError(f, i, f"options {long} have more than {MAX_OPTION_LEN} tokens; only the "
                                                f"first {MAX_OPTION_LEN} are encoded", question_id=r.question_id))
            key = (r.video_id, r.question_id)
            if key in seen and seen[key][0] != r.answer:
                warnings.append(DataError(f, i, f"(video, question) also at record {seen[key][1]} with answer "
                                                f"{seen[key][0]!r} but here {r.answer!r}", question_id=r.question_id))
            seen.setdefault(key, (r.answer, i))

    # Features: every video referenced by a record must have a readable, finite file of the right shape.
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
    return Report(errors, warnings, counts)
