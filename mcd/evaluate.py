"""Scoring as the field does it (``music_avqa_protocol.md``): 9 per-type accuracies, the Audio, Visual and
Audio-Visual averages and the overall accuracy pooled over questions (micro averages), from a per-question
prediction table that carries each question's own type (never looked up by batch index).

AVQA (Yang et al.) predictions carry its 8 types instead: they score as the 8 per-type accuracies, their
``average`` (the mean of the per-type accuracies: our reading of Table V's "Avg") and the pooled ``overall``; no
modality averages. Which taxonomy a table carries is read from its type names."""
from __future__ import annotations

from collections import Counter

import pandas as pd
import torch

from mcd.data.annotations import TAXONOMIES, TYPE_NAMES, Record, Taxonomy, taxonomy_of
from mcd.data.priors import majority_answers

SCORE_COLUMNS = [*TYPE_NAMES, "Audio", "Visual", "Audio-Visual", "overall"]
AVQA_SCORE_COLUMNS = [*TAXONOMIES["avqa"].names, "average", "overall"]


def score_columns(taxonomy: str | Taxonomy = "music_avqa") -> list[str]:
    """The score keys of a taxonomy in table order (Music-AVQA: ``SCORE_COLUMNS``)."""
    tax = TAXONOMIES[taxonomy] if isinstance(taxonomy, str) else taxonomy
    extra = list(tax.groups) if tax.groups else ["average"]
    return [*tax.names, *extra, "overall"]


def eval_batch_size(device) -> int:
    """The evaluation batch: 128 on CPU, where larger batches are slower per question at the study's shapes (their
    activations outgrow the caches; MCD and PSTP-Net evaluate fastest at 64-128, measured with ``predict``), 256
    elsewhere. Any batch gives the same answers: evaluation treats each question alone."""
    return 128 if torch.device(device).type == "cpu" else 256


@torch.inference_mode()
def predict(model, split, vocab, *, batch_size: int | None = None, device="cpu", autocast_dtype=None,
            stride: int = 1) -> pd.DataFrame:
    """One row per question: ids, type, gold and predicted answers, whether correct. ``batch_size`` None:
    ``eval_batch_size(device)``.

    A model that reports the seconds it selected (``ModelOutput.extras`` keys ``clues_*``, [B, k] indices into its
    time steps: MCD's Top-k/2 clues, AVST's most attended steps) gets one more column per key, the selected
    seconds of the video as space-separated integers (time step x ``stride``), for the grounding chapter."""
    was_training = model.training
    model.eval()
    preds, clues = [], {}
    from mcd.data.datasets import batches
    for idx in batches(len(split), batch_size or eval_batch_size(device), shuffle=False):
        batch = split.batch(idx, device)
        with torch.autocast(device_type=torch.device(device).type, dtype=autocast_dtype,
                            enabled=autocast_dtype is not None):
            out = model(batch)
        preds.append(out.logits.float().argmax(-1).cpu())
        for key, value in out.extras.items():
            if key.startswith("clues_") and torch.is_tensor(value) and value.dim() == 2:
                clues.setdefault(key, []).append(value.cpu())
    model.train(was_training)
    pred = torch.cat(preds).tolist() if preds else []
    if split.options is not None:  # multiple choice: the index of the chosen option
        predicted = [r.options[p] for r, p in zip(split.records, pred)]
    else:
        predicted = [vocab.answers[p] for p in pred]
    table = prediction_table(split.records, predicted)
    for key, parts in clues.items():
        seconds = (torch.cat(parts) * stride).tolist()
        table[key] = [" ".join(map(str, sorted(s))) for s in seconds]
    return table


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


def score(pred: pd.DataFrame, taxonomy: str | Taxonomy | None = None) -> dict[str, float | None]:
    """Accuracy (%) per type, per modality (pooled over its questions) and overall, and the question count.
    A type with no question scores None (not 0). ``taxonomy`` defaults to the one the table's types belong to;
    one without modality groups (AVQA) reports ``average``, the mean over the types that have questions."""
    def acc(sel) -> float | None:
        return 100.0 * float(pred.loc[sel, "correct"].mean()) if sel.any() else None

    if taxonomy is None:
        tax = taxonomy_of(pred["type"].unique())
    else:
        tax = TAXONOMIES[taxonomy] if isinstance(taxonomy, str) else taxonomy
    out: dict[str, float | None] = {name: acc(pred["type"] == name) for name in tax.names}
    if tax.groups:
        out.update({mod: acc(pred["modality"] == mod) for mod in tax.groups})
    else:
        per_type = [v for v in out.values() if v is not None]
        out["average"] = sum(per_type) / len(per_type) if per_type else None
    out["overall"] = acc(pred["correct"].notna())
    out["n"] = int(len(pred))
    return out


def score_selections(pred: pd.DataFrame, taxonomy: str | Taxonomy | None = None) -> dict[str, pd.Series]:
    """The questions behind each pooled score key, as boolean masks over ``pred``: every type, every modality
    group (Music-AVQA) and ``overall`` (all of them); the keys ``score`` reports except AVQA's ``average``."""
    tax = (taxonomy_of(pred["type"].unique()) if taxonomy is None else
           TAXONOMIES[taxonomy] if isinstance(taxonomy, str) else taxonomy)
    sel = {name: pred["type"] == name for name in tax.names}
    sel.update({group: pred["modality"] == group for group in tax.groups})
    sel["overall"] = pd.Series(True, index=pred.index)
    return sel


def scores_frame(rows: dict[str, dict]) -> pd.DataFrame:
    """{label: score dict} -> a table with the standard columns in the paper's order (AVQA's for AVQA scores)."""
    frame = pd.DataFrame.from_dict(rows, orient="index")
    columns = SCORE_COLUMNS if set(SCORE_COLUMNS) <= set(frame.columns) or frame.empty else AVQA_SCORE_COLUMNS
    return frame[columns]


def majority_baseline(train: list[Record], test: list[Record], by: str = "type") -> pd.DataFrame:
    """The question-only prior (``mcd.data.priors.majority_answers``) as a prediction table, scored like a model."""
    return prediction_table(test, majority_answers(train, test, by))


def type_counts(records: list[Record]) -> pd.Series:
    c = Counter(r.type_name for r in records)
    names = TAXONOMIES[records[0].taxonomy].names if records else TYPE_NAMES
    return pd.Series({n: c.get(n, 0) for n in names})

