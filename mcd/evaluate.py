"""Scoring as the field does it (``music_avqa_protocol.md``): 9 per-type accuracies, the Audio, Visual and
Audio-Visual averages and the overall accuracy pooled over questions (micro averages), from a per-question
prediction table that carries each question's own type (never looked up by batch index)."""
from __future__ import annotations

from collections import Counter, defaultdict

import pandas as pd
import torch

from mcd.data.annotations import MODALITIES, TYPE_NAMES, Record

SCORE_COLUMNS = [*TYPE_NAMES, "Audio", "Visual", "Audio-Visual", "overall"]


@torch.no_grad()
def predict(model, split, vocab, *, batch_size: int = 256, device="cpu", autocast_dtype=None) -> pd.DataFrame:
    """One row per question: ids, type, gold and predicted answers, whether correct."""
    was_training = model.training
    model.eval()
    preds = []
    from mcd.data.datasets import batches
    for idx in batches(len(split), batch_size, shuffle=False):
        batch = split.batch(idx, device)
        with torch.autocast(device_type=torch.device(device).type, dtype=autocast_dtype,
                            enabled=autocast_dtype is not None):
            logits = model(batch).logits
        preds.append(logits.float().argmax(-1).cpu())
    model.train(was_training)
    pred = torch.cat(preds).tolist() if preds else []
    if split.options is not None:  # multiple choice: the index of the chosen option
        predicted = [r.options[p] for r, p in zip(split.records, pred)]
    else:
        predicted = [vocab.answers[p] for p in pred]
    return prediction_table(split.records, predicted)


def prediction_table(records: list[Record], predicted: list[str]) -> pd.DataFrame:
    df = pd.DataFrame({
        "question_id": [r.question_id for r in records],
        "video_id": [r.video_id for r in records],
        "type": [r.type_name for r in records],
        "modality": [r.modality for r in records],
        "template": [r.question for r in records],
        "answer": [r.answer for r in records],
        "predicted": predicted,
    })
    df["correct"] = df["answer"] == df["predicted"]
    return df


def score(pred: pd.DataFrame) -> dict[str, float | None]:
    """Accuracy (%) per type, per modality (pooled over its questions) and overall, and the question count.
    A type with no question scores None (not 0)."""
    def acc(sel) -> float | None:
        return 100.0 * float(pred.loc[sel, "correct"].mean()) if sel.any() else None

    out: dict[str, float | None] = {name: acc(pred["type"] == name) for name in TYPE_NAMES}
    out.update({mod: acc(pred["modality"] == mod) for mod in MODALITIES})
    out["overall"] = acc(pred["correct"].notna())
    out["n"] = int(len(pred))
    return out


def scores_frame(rows: dict[str, dict]) -> pd.DataFrame:
    """{label: score dict} -> a table with the standard columns in the paper's order."""
    return pd.DataFrame.from_dict(rows, orient="index")[SCORE_COLUMNS]


def majority_baseline(train: list[Record], test: list[Record], by: str = "type") -> pd.DataFrame:
    """Question-only priors: predict the most frequent train answer per question type (``by='type'``) or per
    (type, raw template) with the type's answer as fallback (``by='template'``). Ties go to the alphabetically
    first answer, so the result does not depend on file order."""
    def top(counter: Counter) -> str:
        return min(counter.items(), key=lambda kv: (-kv[1], kv[0]))[0]

    per_type: dict[int, Counter] = defaultdict(Counter)
    per_template: dict[tuple, Counter] = defaultdict(Counter)
    for r in train:
        per_type[r.qtype][r.answer] += 1
        per_template[(r.qtype, r.question)][r.answer] += 1
    fallback = top(Counter(r.answer for r in train))
    type_answer = {t: top(c) for t, c in per_type.items()}
    templ_answer = {k: top(c) for k, c in per_template.items()}
    predicted = []
    for r in test:
        a = type_answer.get(r.qtype, fallback)
        if by == "template":
            a = templ_answer.get((r.qtype, r.question), a)
        elif by != "type":
            raise ValueError(f"by must be 'type' or 'template', got {by!r}")
        predicted.append(a)
    return prediction_table(test, predicted)


def type_counts(records: list[Record]) -> pd.Series:
    c = Counter(r.type_name for r in records)
    return pd.Series({n: c.get(n, 0) for n in TYPE_NAMES})

