"""Question-only priors: the answer a question's text alone gives away, learned from train records.

A property of the data, not of a model: the floor that any model which looks and listens must beat.
"""
from __future__ import annotations

from collections import Counter, defaultdict

from mcd.data.annotations import Record


def majority_answers(train: list[Record], test: list[Record], by: str = "type") -> list[str]:
    """For each test record, the most frequent train answer of its question type (``by='type'``) or of its
    (type, raw template) pair, with the type's answer as fallback (``by='template'``). Ties go to the
    alphabetically first answer, so the result does not depend on file order."""
    if by not in ("type", "template"):
        raise ValueError(f"by must be 'type' or 'template', got {by!r}")

    def top(counter: Counter) -> str:
        return min(counter.items(), key=lambda kv: (-kv[1], kv[0]))[0]

    per_type: dict[int, Counter] = defaultdict(Counter)
    per_template: dict[tuple, Counter] = defaultdict(Counter)
    for r in train:
        per_type[r.qtype][r.answer] += 1
        per_template[(r.qtype, r.question)][r.answer] += 1
    fallback = top(Counter(r.answer for r in train)) if train else None
    type_answer = {t: top(c) for t, c in per_type.items()}
    templ_answer = {k: top(c) for k, c in per_template.items()}
    predicted = []
    for r in test:
        a = type_answer.get(r.qtype, fallback)
        if by == "template":
            a = templ_answer.get((r.qtype, r.question), a)
        predicted.append(a)
    return predicted
