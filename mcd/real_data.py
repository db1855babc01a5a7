"""The real Music-AVQA annotations: statistics (Table I, per-type counts, answers, the two versions) and the
question-only baselines, which need no features and so run on the real questions here; and how much of a
model's accuracy the question alone explains (``prior_split``), on Music-AVQA and on MUSIC-AVQA v2.0's test sets.

The annotations are read from a path, never copied into the project: ``$MCD_MUSIC_AVQA``, else
``../shared/data/music_avqa`` beside the checkout, else ``data/music_avqa`` (what ``mcd data download`` writes).
MUSIC-AVQA v2.0 (Liu, Dong and Zhang, WACV 2024) likewise: ``$MCD_MUSIC_AVQA_V2``, else
``../shared/data/music_avqa_v2``, else ``data/music_avqa_v2``, holding the release's ``balance_full_set/`` and
``bias_set/`` folders (its test files are the Music-AVQA record format; v2's new questions have no question_id).
"""
from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from mcd.data.annotations import TYPE_NAMES, Record, load_records
from mcd.evaluate import majority_baseline, score, score_selections, type_counts

REPO = Path(__file__).resolve().parents[1]
PARTIAL_TRAIN = "partial_train_reconstruction/avqa-train_partial_20580.json"
V2_TEST_FILES = {"v2 balanced test": "balance_full_set/test_balance.json", "v2 biased test": "bias_set/test_bias.json"}
V2_RUN_NAMES = {"v2 balanced test": "v2_balanced", "v2 biased test": "v2_biased"}   # a run's extra test sets


def annotation_root(path=None) -> Path:
    candidates = [path, os.environ.get("MCD_MUSIC_AVQA"), REPO.parent / "shared" / "data" / "music_avqa",
                  REPO / "data" / "music_avqa"]
    for c in candidates:
        if c and (Path(c) / "json_update" / "avqa-test.json").exists():
            return Path(c)
    raise FileNotFoundError("Music-AVQA annotations not found; run `mcd data download --dest data/music_avqa` "
                            "or set MCD_MUSIC_AVQA")


def v2_root(path=None) -> Path:
    """The MUSIC-AVQA v2.0 folder (see the module docstring for the lookup)."""
    candidates = [path, os.environ.get("MCD_MUSIC_AVQA_V2"), REPO.parent / "shared" / "data" / "music_avqa_v2",
                  REPO / "data" / "music_avqa_v2"]
    for c in candidates:
        if c and all((Path(c) / f).exists() for f in V2_TEST_FILES.values()):
            return Path(c)
    raise FileNotFoundError(f"MUSIC-AVQA v2.0 test files ({', '.join(V2_TEST_FILES.values())}) not found; set "
                            f"MCD_MUSIC_AVQA_V2 to the folder of the release's data/")


def v2_test_files(root: Path) -> dict[str, Path]:
    return {name: Path(root) / f for name, f in V2_TEST_FILES.items()}


def splits(root: Path) -> dict[str, list[Record]]:
    """Every annotation file present, by name (e.g. 'json_update/test', 'partial train')."""
    out = {}
    for version in ("json_update", "json"):
        for split in ("train", "val", "test"):
            f = root / version / f"avqa-{split}.json"
            if f.exists():
                out[f"{version}/{split}"] = load_records(f)
    if (root / PARTIAL_TRAIN).exists():
        out["partial train"] = load_records(root / PARTIAL_TRAIN)
    return out


def split_table(parts: dict[str, list[Record]]) -> pd.DataFrame:
    """QA, videos, answers, templates and per-type counts of each file."""
    rows = {}
    for name, recs in parts.items():
        rows[name] = {"QA": len(recs), "videos": len({r.video_id for r in recs}),
                      "answers": len({r.answer for r in recs}), "templates": len({r.question for r in recs}),
                      **type_counts(recs).to_dict()}
    return pd.DataFrame.from_dict(rows, orient="index")


def table1_ours(parts: dict[str, list[Record]]) -> dict:
    """What the files here add up to, for Table I's Music-AVQA row (the full train file is missing)."""
    use = [p for p in (train_part(parts), "json_update/val", "json_update/test") if p in parts]
    recs = [r for p in use for r in parts[p]]
    return {"videos": len({r.video_id for r in recs}), "qa_pairs": len(recs),
            "question_types": len({r.qtype for r in recs}), "files": " + ".join(use)}


def duplicate_keys(recs: list[Record]) -> int:
    """(video, question) keys that appear more than once (the original json/ release has some)."""
    c = Counter((r.video_id, r.question_id) for r in recs)
    return sum(1 for v in c.values() if v > 1)


def answer_shares(recs: list[Record], top: int = 12) -> pd.DataFrame:
    """Per type, the share (%) of its most frequent answers: how much a question-only prior can get."""
    rows = []
    for t in TYPE_NAMES:
        c = Counter(r.answer for r in recs if r.type_name == t)
        n = sum(c.values())
        rows += [{"type": t, "answer": a, "share": 100.0 * k / n} for a, k in c.most_common(top)]
    return pd.DataFrame(rows)


def prior_baselines(train: list[Record], test: list[Record]) -> dict[str, dict]:
    """Majority answer per type and per template, scored like a model."""
    return {f"majority per {by}": score(majority_baseline(train, test, by)) for by in ("type", "template")}


def train_part(parts: dict) -> str:
    """Which train records the real-question chapter reads: the official ``json_update`` train file where it is
    present (``mcd data download`` fetches it), else the partial train reconstruction (what this machine has)."""
    for name in ("json_update/train", "partial train"):
        if name in parts:
            return name
    raise FileNotFoundError("no Music-AVQA train records: run `mcd data download --dest data/music_avqa`")


def train_file(root: Path) -> str:
    """``train_part`` as a file name relative to the annotation folder."""
    return "json_update/avqa-train.json" if (Path(root) / "json_update" / "avqa-train.json").exists() \
        else PARTIAL_TRAIN


def prior_fit(parts: dict[str, list[Record]], version: str = "json_update") -> list[Record]:
    """What this chapter fits the priors on: the train records (``train_part``) plus ``version``'s val file."""
    return parts[train_part(parts)] + parts[f"{version}/val"]


def shared_questions(test: list[Record], fit: list[Record]) -> int:
    """Test records that also appear verbatim (video, question, template values, answer) in ``fit``: MUSIC-AVQA
    v2.0's test sets were drawn partly from the original train and val questions."""
    seen = {(r.video_id, r.question, r.templ_values, r.answer) for r in fit}
    return sum((r.video_id, r.question, r.templ_values, r.answer) in seen for r in test)


def prior_split(model: pd.DataFrame, prior: pd.DataFrame) -> pd.DataFrame:
    """A model's accuracy split by whether the question-only ``prior`` answers each question right.

    ``model`` and ``prior`` are prediction tables of the same Music-AVQA questions in the same order (``type``,
    ``modality``, ``correct``; ``question_id`` must agree row by row). One row per type, modality and overall:
    ``questions``; ``accuracy`` (the model) and ``prior_accuracy``; the model's accuracy on the questions the
    prior answers right (``acc_prior_right``, ``n_prior_right`` of them) and wrong (``acc_prior_wrong``,
    ``n_prior_wrong``); and ``prior_explains``: the share (%) of the model's right answers that the prior also
    gets right, i.e. the part of its accuracy the question alone already gives."""
    if len(model) != len(prior) or (model["question_id"].to_numpy() != prior["question_id"].to_numpy()).any():
        raise ValueError(f"model and prior must answer the same questions in the same order ({len(model)} vs "
                         f"{len(prior)} rows)")
    m, p = model["correct"].to_numpy(bool), prior["correct"].to_numpy(bool)

    def pct(num, den) -> float:
        return 100.0 * num / den if den else np.nan

    rows = {}
    for name, sel in score_selections(model, "music_avqa").items():
        s = sel.to_numpy(bool)
        right, wrong = s & p, s & ~p
        rows[name] = {"questions": int(s.sum()), "accuracy": pct(m[s].sum(), s.sum()),
                      "prior_accuracy": pct(p[s].sum(), s.sum()),
                      "n_prior_right": int(right.sum()), "acc_prior_right": pct(m[right].sum(), right.sum()),
                      "n_prior_wrong": int(wrong.sum()), "acc_prior_wrong": pct(m[wrong].sum(), wrong.sum()),
                      "prior_explains": pct((m & right).sum(), (m & s).sum())}
    return pd.DataFrame.from_dict(rows, orient="index")


def v2_extra_test_files(root=None) -> dict[str, str]:
    """MUSIC-AVQA v2.0's test sets as ``data.extra_test_files`` of a run ({} where the files are absent), so that
    the run answers them with its best weights and keeps the predictions (``V2_RUN_NAMES``)."""
    try:
        v2 = v2_root(root)
    except FileNotFoundError:
        return {}
    return {V2_RUN_NAMES[name]: str(f.resolve()) for name, f in v2_test_files(v2).items()}


def v2_prior_split(run, parts: dict[str, list[Record]], root: Path) -> dict[str, pd.DataFrame]:
    """``prior_split`` of a question-only run on MUSIC-AVQA v2.0's balanced and biased test sets (the predictions
    the run kept: ``v2_extra_test_files``), the prior fitted as on Music-AVQA (``prior_fit``); with ``shared``,
    the test questions also in that fit."""
    fit = prior_fit(parts)
    out = {}
    for name, f in v2_test_files(root).items():
        test = load_records(f)
        split = prior_split(run.predictions(V2_RUN_NAMES[name]), majority_baseline(fit, test, "template"))
        split.attrs["shared"] = shared_questions(test, fit)
        out[name] = split
    return out


def model_prior_split(scored, parts: dict[str, list[Record]]) -> pd.DataFrame:
    """``prior_split`` of a prediction file read by ``mcd.score.score_file`` (any Music-AVQA test version), the
    per-template prior fitted on the partial train plus the val file of the same version."""
    version = scored.questions.version
    if f"{version}/val" not in parts:
        raise ValueError(f"{scored.path}: the prior split needs Music-AVQA predictions (json_update or json), "
                         f"got {scored.questions.name}")
    prior = majority_baseline(prior_fit(parts, version), scored.questions.records, "template")
    return prior_split(scored.table, prior)


def split_bars(tidy: pd.DataFrame) -> pd.DataFrame:
    """The per-type rows of ``prior_split`` tables concatenated with index (model, test set, row), as one row per
    bar: the model's accuracy on the prior-right and on the prior-wrong questions of each type."""
    rows = tidy[tidy.index.get_level_values("row").isin(TYPE_NAMES)]
    long = rows[["acc_prior_right", "acc_prior_wrong"]].reset_index().melt(
        id_vars=["model", "test set", "row"], var_name="questions", value_name="accuracy")
    long["questions"] = long["questions"].map({"acc_prior_right": "the prior answers right",
                                               "acc_prior_wrong": "the prior answers wrong"})
    long["panel"] = long["model"] + ": " + long["test set"]
    return long
