"""The data card's numbers: questions per split, type and template; each template's answer distribution against
the real one; the question-only prior on both; the oracle; the position probes of the visual features."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from mcd.data.annotations import MODALITIES, QUESTION_TYPES, TYPE_NAMES, load_records, parse_record, read_json_list
from mcd.data.priors import majority_answers
from mcd.data.synth.answer_priors import TARGET_SPLITS, read_table
from mcd.data.synth.multiple_choice import ANNOTATION_DIR
from mcd.data.synth.profiles import SPLITS
from mcd.data.synth.questions import oracle_answer
from mcd.data.synth.scenes import LR

REAL = "Music-AVQA"
SYNTH = "SynthAVQA"
MODALITY_OF = {name: QUESTION_TYPES[i][0] for i, name in enumerate(TYPE_NAMES)}

def _records(root: Path, split: str) -> list:
    return load_records(Path(root) / ANNOTATION_DIR / f"avqa-{split}.json")


def _accuracy_table(records: list, correct: list[bool]) -> pd.DataFrame:
    """Accuracy (%) per question type, per modality and overall, pooled over questions (micro averages)."""
    frame = pd.DataFrame({"type": [r.type_name for r in records], "modality": [r.modality for r in records],
                          "correct": np.asarray(correct, dtype=float)})
    rows = {}
    for name in TYPE_NAMES:
        rows[name] = frame.loc[frame["type"] == name, "correct"]
    for name in MODALITIES:
        rows[name] = frame.loc[frame["modality"] == name, "correct"]
    rows["Overall"] = frame["correct"]
    return pd.DataFrame({"n": {k: len(c) for k, c in rows.items()},
                         "accuracy": {k: 100 * c.mean() if len(c) else float("nan") for k, c in rows.items()}})


def question_prior_accuracy(root) -> pd.DataFrame:
    """Test accuracy of answering each (type, template) with its most frequent train answer (ties: alphabetical):
    how much the question alone gives away."""
    test = _records(root, "test")
    predicted = majority_answers(_records(root, "train"), test, by="template")
    return _accuracy_table(test, [p == r.answer for p, r in zip(predicted, test)])


def oracle_accuracy(root, split: str = "test") -> pd.DataFrame:
    """Accuracy of the oracle that reads the latent scenes (100% unless the generator and the answers disagree)."""
    root = Path(root)
    scenes = json.loads((root / "scenes.json").read_text())
    raw = read_json_list(root / ANNOTATION_DIR / f"avqa-{split}.json")
    records = [parse_record(r) for r in raw]
    return _accuracy_table(records, [oracle_answer(scenes[r["video_id"]], r) == r["anser"] for r in raw])


def card_tables(root) -> dict[str, pd.DataFrame]:
    """The data card's tables: questions per type and split, per template and split, and answers per type."""
    per_split = {s: _records(root, s) for s in SPLITS}
    rows = [(s, r.type_name, r.question, r.answer) for s, recs in per_split.items() for r in recs]
    frame = pd.DataFrame(rows, columns=["split", "type", "template", "answer"])
    counts = frame.pivot_table(index="type", columns="split", values="answer", aggfunc="size", fill_value=0)
    counts = counts.reindex(index=TYPE_NAMES, columns=list(SPLITS), fill_value=0)
    counts.loc["Total"] = counts.sum()
    templates = frame.pivot_table(index=["type", "template"], columns="split", values="answer", aggfunc="size",
                                  fill_value=0).reindex(columns=list(SPLITS), fill_value=0)
    answers = frame.pivot_table(index="type", columns="answer", values="split", aggfunc="size", fill_value=0)
    answers = answers.reindex(index=TYPE_NAMES, fill_value=0)
    return {"counts": counts, "templates": templates, "answers": answers}


# ------------------------------------------------------------------------ answer distributions, real and generated
def _answer_counts(root, splits=SPLITS) -> pd.DataFrame:
    """Generated questions per (type, template, answer) over ``splits``: columns type, template, answer, n."""
    c = Counter((r.type_name, r.question, r.answer) for s in splits for r in _records(root, s))
    return pd.DataFrame([(*k, n) for k, n in c.items()], columns=["type", "template", "answer", "n"])


def _real_counts(split_names, table: pd.DataFrame | None = None) -> pd.DataFrame:
    table = read_table() if table is None else table
    out = table[["type", "template", "answer"]].assign(n=table[list(split_names)].sum(axis=1))
    return out[out["n"] > 0].reset_index(drop=True)


def _shares(counts: pd.DataFrame) -> pd.Series:
    """Share of each answer within its template, indexed by (type, template, answer)."""
    s = counts.set_index(["type", "template", "answer"])["n"]
    return s / s.groupby(level=["type", "template"]).transform("sum")


def answer_distributions(root, table: pd.DataFrame | None = None) -> pd.DataFrame:
    """Tidy: per (type, template, answer) the share of the answer within its template in the real train + val
    annotations (the generator's source), in the generated data (all splits) and in its target (the real shares
    restricted to the answers the data set's scenes can give, as ``card['answer_target']`` records)."""
    real = _shares(_real_counts(TARGET_SPLITS, table)).rename(REAL)
    synth = _shares(_answer_counts(root)).rename(SYNTH)
    target = _target(root).rename("target")
    wide = pd.concat([real, synth, target], axis=1).fillna(0.0)
    wide.index.names = ["type", "template", "answer"]
    return wide.reset_index()


def _target(root) -> pd.Series:
    card = json.loads((Path(root) / "synthavqa.json").read_text())
    rows = pd.DataFrame(card["answer_target"], columns=["type", "template", "answer", "share"])
    s = rows.set_index(["type", "template", "answer"])["share"]
    return s / s.groupby(level=["type", "template"]).transform("sum")


def distribution_distances(root, table: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per template: generated questions, the total variation distance of its answer distribution from the real
    one and from the target, the real share of answers no scene of the data set gives (which the target drops),
    and the template's share of all questions, real and generated. Indexed by (type, template)."""
    d = answer_distributions(root, table)
    g = d.groupby(["type", "template"], sort=False)
    counts = _answer_counts(root).groupby(["type", "template"])["n"].sum()
    real_n = _real_counts(TARGET_SPLITS, table).groupby(["type", "template"])["n"].sum()
    out = pd.DataFrame({
        "questions": counts,
        "TV to real": g.apply(lambda x: 0.5 * (x[SYNTH] - x[REAL]).abs().sum()),
        "TV to target": g.apply(lambda x: 0.5 * (x[SYNTH] - x["target"]).abs().sum()),
        "real share unreachable": g.apply(lambda x: x.loc[x["target"] == 0, REAL].sum()),
        "template share real (%)": 100 * real_n / real_n.sum(),
        "template share generated (%)": 100 * counts / counts.sum(),
    }).fillna({"questions": 0})
    order = {t: i for i, t in enumerate(TYPE_NAMES)}
    return out.sort_index(key=lambda idx: idx.map(order) if idx.name == "type" else idx)


def answer_shares_long(root, by: str = "template", top: int = 6, table: pd.DataFrame | None = None) -> pd.DataFrame:
    """Tidy rows for the side-by-side figure: per template (``by="template"``) or per type (``by="type"``), the
    share (%) of its ``top`` most frequent real answers and of all others together ("other"), in the real train
    + val annotations and in the generated data (all splits). Columns: panel, answer, source, share."""
    if by not in ("template", "type"):
        raise ValueError(f"by must be 'template' or 'type', got {by!r}")
    keys = ["type", "template"] if by == "template" else ["type"]
    parts = []
    for source, counts in ((REAL, _real_counts(TARGET_SPLITS, table)), (SYNTH, _answer_counts(root))):
        c = counts.groupby([*keys, "answer"])["n"].sum()
        parts.append((100 * c / c.groupby(level=keys).transform("sum")).rename(source))
    wide = pd.concat(parts, axis=1).fillna(0.0)
    rows = []
    for panel, group in wide.groupby(level=keys, sort=False):
        group = group.droplevel(keys)
        kept = group[REAL].sort_values(ascending=False).index[:top]
        shown = pd.concat([group.loc[kept], group.drop(kept).sum().to_frame("other").T])
        name = " | ".join(panel) if isinstance(panel, tuple) else panel
        for answer, row in shown.iterrows():
            rows += [{"panel": name, "answer": answer, "source": src, "share": row[src]} for src in (REAL, SYNTH)]
    out = pd.DataFrame(rows)
    order = {t: i for i, t in enumerate(TYPE_NAMES)}
    return out.sort_values("panel", key=lambda p: p.str.split(" | ").str[0].map(order), kind="stable")


def distances_by_type(distances: pd.DataFrame) -> pd.DataFrame:
    """``distribution_distances`` summarised per type: questions, and the distances averaged over questions."""
    cols = ["TV to real", "TV to target", "real share unreachable"]
    weighted = distances[cols].mul(distances["questions"], axis=0).groupby(level="type").sum()
    n = distances.groupby(level="type")["questions"].sum()
    return weighted.div(n, axis=0).assign(questions=n)[["questions", *cols]].reindex(TYPE_NAMES)


# ----------------------------------------------------------------------------------------- question-only prior
def _prior_by_template(train: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
    """Answer each test question with its template's most frequent train answer (ties: alphabetical; a template
    unseen in train takes its type's), from count tables: n and correct per (type, template)."""
    def top(counts: pd.DataFrame, keys: list[str]) -> pd.Series:
        ranked = counts.groupby([*keys, "answer"])["n"].sum().reset_index()
        ranked = ranked.sort_values([*keys, "n", "answer"], ascending=[True] * len(keys) + [False, True])
        return ranked.groupby(keys)["answer"].first()

    by_template, by_type = top(train, ["type", "template"]), top(train, ["type"])
    rows = []
    for (t, q), group in test.groupby(["type", "template"]):
        guess = by_template.get((t, q), by_type.get(t))
        rows.append({"type": t, "template": q, "n": int(group["n"].sum()),
                     "correct": int(group.loc[group["answer"] == guess, "n"].sum())})
    return pd.DataFrame(rows).set_index(["type", "template"])


def _roll_up(by_template: pd.DataFrame) -> pd.DataFrame:
    """Per type, per modality and overall: questions and accuracy (%), pooled over questions."""
    types = by_template.groupby(level="type")[["n", "correct"]].sum()
    modality = types.groupby(types.index.map(MODALITY_OF))[["n", "correct"]].sum()
    total = types.sum().to_frame("Overall").T
    rows = pd.concat([types.reindex(TYPE_NAMES), modality.reindex(MODALITIES), total])
    return rows.assign(accuracy=100 * rows["correct"] / rows["n"])[["n", "accuracy"]]


PRIOR_SOURCES = (f"{REAL} test", f"{REAL} train + val (in-sample)", f"{SYNTH} test")


def question_priors(root, table: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """The question-only prior (each template answered with its most frequent train answer), side by side: on
    the real test set (train + val counts -> test counts, from the shipped table), on the real train + val
    themselves (what the generator's target gives in-sample), and on SynthAVQA (train -> test). ``templates``
    per (type, template), ``summary`` per type, modality and overall; n and accuracy (%) for each source."""
    train_val, test = _real_counts(TARGET_SPLITS, table), _real_counts(("test",), table)
    by_template = dict(zip(PRIOR_SOURCES, (
        _prior_by_template(train_val, test), _prior_by_template(train_val, train_val),
        _prior_by_template(_answer_counts(root, ("train",)), _answer_counts(root, ("test",))))))
    per_template = {k: v.assign(accuracy=100 * v["correct"] / v["n"])[["n", "accuracy"]]
                    for k, v in by_template.items()}
    return {"templates": pd.concat(per_template, axis=1),
            "summary": pd.concat({k: _roll_up(v) for k, v in by_template.items()}, axis=1)}


# ------------------------------------------------------------------------------------------- position probes
def _probe_instances(root) -> pd.DataFrame:
    """(video, instrument, position) for every visible instrument that is the only one of its type on screen."""
    scenes = json.loads((Path(root) / "scenes.json").read_text())
    rows = []
    for vid, scene in scenes.items():
        visible = [x for x in scene["instruments"] if x["visible"]]
        kinds = Counter(x["type"] for x in visible)
        rows += [(vid, x["type"], LR.index(x["position"])) for x in visible if kinds[x["type"]] == 1]
    return pd.DataFrame(rows, columns=["video_id", "instrument", "position"])


def _ridge_probe(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, classes: int) -> np.ndarray:
    """Predicted classes of a ridge classifier (least squares on one-hot targets, with an intercept) whose penalty
    is chosen among a grid by its leave-one-out accuracy on the training rows (closed form, dual: n x n)."""
    mean = x_train.mean(0)
    xs, xt = x_train - mean, x_test - mean
    onehot = np.eye(classes)[y_train]
    y0 = onehot.mean(0)
    kernel = xs @ xs.T
    evals, evecs = np.linalg.eigh(kernel)
    evals = np.clip(evals, 0, None)
    best = (-1.0, None)
    for lam in evals.mean() * np.logspace(-3, 2, 11):
        shrink = evals / (evals + lam)
        hat = (evecs * shrink) @ evecs.T
        fitted = hat @ (onehot - y0) + y0
        leverage = np.diag(hat) + 1.0 / len(y_train)
        loo = onehot - (onehot - fitted) / (1 - leverage)[:, None]
        acc = float((loo.argmax(1) == y_train).mean())
        if acc > best[0]:
            best = (acc, lam)
    alpha = (evecs / (evals + best[1])) @ (evecs.T @ (onehot - y0))
    return (xt @ xs.T @ alpha + y0).argmax(1)


def _video_features(root, video_ids, name: str) -> dict[str, np.ndarray]:
    """The time mean of each video's features, flattened (patches: [P * C])."""
    folder = "patches" if name == "patch mean" else name
    out = {}
    for vid in video_ids:
        a = np.load(Path(root) / "feats" / folder / f"{vid}.npy", allow_pickle=False).astype(np.float64).mean(0)
        out[vid] = a.mean(0) if name == "patch mean" else a.ravel()
    return out


PROBE_SETS = {"frames": "frames (2.0: position-dependent pooling)",
              "patch mean": "mean of the patches (v1's frames)",
              "patches": "patches"}


def position_probes(root) -> pd.DataFrame:
    """How well a linear probe tells where instrument X stands (left, middle or right) from each visual feature
    set, on held-out videos. One probe per instrument type (a ridge classifier of the video's time-mean features;
    penalty by leave-one-out), trained on the train and val videos, scored on the test videos, over every visible
    instrument that is the only one of its type on screen. Chance: each instrument's most frequent training
    position. Accuracy with a 95% Wilson interval, in %."""
    inst = _probe_instances(root)
    split = {r.video_id: s for s in SPLITS for r in _records(root, s)}
    inst = inst[inst["video_id"].isin(split)]
    held_out = inst["video_id"].map(split).eq("test")
    rows = []
    for name, label in PROBE_SETS.items():
        feats = _video_features(root, sorted(set(inst["video_id"])), name)
        correct = chance = n = 0
        for kind, group in inst.groupby("instrument"):
            train, test = group[~held_out.loc[group.index]], group[held_out.loc[group.index]]
            if test.empty:
                continue
            y_test = test["position"].to_numpy()
            majority = np.bincount(train["position"], minlength=len(LR)).argmax() if len(train) else 0
            chance += int((y_test == majority).sum())
            if train["position"].nunique() < 2:   # nothing to learn: the probe says the only position it saw
                predicted = np.full(len(test), majority)
            else:
                x_train = np.stack([feats[v] for v in train["video_id"]])
                x_test = np.stack([feats[v] for v in test["video_id"]])
                predicted = _ridge_probe(x_train, train["position"].to_numpy(), x_test, len(LR))
            correct += int((predicted == y_test).sum())
            n += len(test)
        low, high = _wilson(correct, n)
        rows.append({"features": label, "dimensions": len(next(iter(feats.values()))) if feats else 0,
                     "test instances": n, "accuracy (%)": 100 * correct / n if n else float("nan"),
                     "95% interval": f"[{low:.1f}, {high:.1f}]", "chance (%)": 100 * chance / n if n else float("nan")})
    return pd.DataFrame(rows).set_index("features")


def _wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return 100 * (centre - half), 100 * (centre + half)
