"""Fig. 6 as a measurement: the seconds a model selected, scored against the seconds that hold each answer.

The paper's Fig. 6 shows, for a few Music-AVQA videos, which clues MCD selects. SynthAVQA knows where the evidence
of every answer lies: ``evidence.json`` beside each data draw gives, per question id, the seconds (and positions)
that hold it (``mcd.data.synth.questions.evidence``). The models report the seconds they selected per question as
``clues_*`` columns of their prediction tables (``mcd.evaluate.predict``): MCD its Top-k/2 clues of the visual and
of the audio branch (Eq. 6-9), AVST the steps its visual and its audio temporal attention weigh most (as many).

Per question q of a video of T seconds, for a selector that sees the seconds G (its time grid: every stride-th
second, all of them for MCD) and picks the seconds S_q of G (|S_q| = m):

- the evidence on its grid is E_q = (evidence seconds) ∩ G;
- q is *informative* when E_q is neither empty nor all of G. Visual questions' evidence is the whole video, and so
  is that of a question whose relevant instruments sound throughout (or never): picking seconds cannot be right or
  wrong there, so only informative questions are scored (``coverage`` counts them per type and template);
- precision_q = |S_q ∩ E_q| / m (the share of the picked seconds that hold evidence) and
  recall_q = |S_q ∩ E_q| / |E_q| (the share of the evidence seconds the model could see that it picked);
  ``precision`` and ``recall`` are their means over questions;
- pooled: ``pooled precision`` = sum |S ∩ E| / sum m (the same as the mean when every selection has the same size)
  and ``pooled recall`` = sum |S ∩ E| / sum |E| (longer evidence weighs more);
- ``random``: m seconds drawn uniformly from G without replacement. Its expectations are computed exactly, not
  drawn: E|S ∩ E_q| = m |E_q| / |G|, so E[precision_q] = |E_q| / |G| and E[recall_q] = m / |G| (a constant);
- ``best possible``: a selection of m seconds can hold at most min(m, |E_q|) evidence seconds (precision can
  reach 1 only when |E_q| >= m, recall only when |E_q| <= m): the ceiling of the two measures.

Every table scores one set of questions: those informative for every selector in it (with different grids, a
question can be informative on one and not the other).

Intervals (``summarise``, ``differences``): 95 %, the study's nested bootstrap (as ``mcd.stats.hierarchical_bootstrap``:
each seed read its own data draw): a draw resamples the seeds with replacement, then each drawn seed's questions
with replacement, and averages the seeds' statistics. One draw serves every selector and measure of a question
type, so a paired difference (MCD - random, MCD - AVST) resamples the same questions on both sides. A seed with no
scored question of a type is left out of that type's row (``Interval.seeds`` says how many took part).
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from mcd.errors import DataError

RANDOM, BEST = "random", "best possible"
MEASURES = {                 # measure -> (numerator, denominator) of the per-seed ratio of sums
    "precision": ("precision", "one"),
    "recall": ("recall", "one"),
    "pooled precision": ("hits", "selected"),
    "pooled recall": ("hits", "evidence"),
}
FIELDS = ("precision", "recall", "hits", "selected", "evidence")
ALL = "all"                 # the row of every scored question, whatever its type


# ----------------------------------------------------------------------------------------------- reading
def read_evidence(path) -> dict[str, tuple[int, ...]]:
    """``evidence.json`` -> {question id (str): evidence seconds, sorted}. A clear DataError names the record and
    the field at fault."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise DataError(path, None, f"cannot read the evidence file: {e}") from None
    if not isinstance(raw, dict):
        raise DataError(path, None, f"must map question ids to evidence, got a {type(raw).__name__}")
    out = {}
    for i, (qid, ev) in enumerate(raw.items()):
        seconds = ev.get("seconds") if isinstance(ev, dict) else None
        if not isinstance(seconds, list) or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                                                    for s in seconds):
            raise DataError(path, i, f"'seconds' must be a list of whole seconds >= 0, got {seconds!r}",
                            question_id=qid, field="seconds")
        out[str(qid)] = tuple(sorted(set(seconds)))
    return out


def evidence_of(data_cfg) -> dict[str, tuple[int, ...]]:
    """The evidence of the SynthAVQA draw a data config reads (generated first if missing)."""
    from mcd.data.synth import ensure_for
    if ensure_for(data_cfg, progress=False) is None:
        raise ValueError(f"{data_cfg.root} is not a SynthAVQA draw: only SynthAVQA knows its evidence seconds")
    return read_evidence(Path(data_cfg.root) / "evidence.json")


def selected_seconds(cell) -> tuple[int, ...]:
    """A ``clues_*`` cell (space-separated seconds; one second reads back as a number) -> the seconds."""
    if cell is None or (isinstance(cell, float) and np.isnan(cell)):
        return ()
    return tuple(int(s) for s in str(cell).split())


# ------------------------------------------------------------------------------------------- per question
def time_grid(seconds: int, stride: int) -> tuple[int, ...]:
    """The seconds a model reading ``seconds`` seconds at ``stride`` sees."""
    return tuple(range(0, seconds, stride))


def selection_scores(pred: pd.DataFrame, evidence: dict, *, column: str, grid, source: str = "predictions"
                     ) -> pd.DataFrame:
    """One row per question of ``pred``: the seconds picked (``column``), the evidence on ``grid``, the hits,
    precision and recall (NaN where the question is not informative) and ``informative``. ``source`` names the
    table in errors."""
    if column not in pred.columns:
        raise DataError(source, None, f"has no {column!r} column (the selected seconds); a run trained before its "
                        f"model reported them must be retrained", field=column)
    grid = set(grid)
    rows = []
    for i, (qid, cell) in enumerate(zip(pred["question_id"], pred[column])):
        picked = selected_seconds(cell)
        if not picked or len(set(picked)) != len(picked) or not set(picked) <= grid:
            raise DataError(source, i, f"{column} must name distinct seconds of the model's time grid, got "
                            f"{cell!r}", question_id=qid, field=column)
        if str(qid) not in evidence:
            raise DataError(source, i, "this question has no entry in the evidence file", question_id=qid,
                            field="question_id")
        ev = grid.intersection(evidence[str(qid)])
        hits = len(ev.intersection(picked))
        informative = 0 < len(ev) < len(grid)
        rows.append({"picked": picked, "selected": len(picked), "evidence": len(ev), "hits": hits,
                     "precision": hits / len(picked) if informative else np.nan,
                     "recall": hits / len(ev) if informative else np.nan, "informative": informative})
    return _with_ids(pred, rows)


def chance_scores(pred: pd.DataFrame, evidence: dict, *, size: int, grid) -> dict[str, pd.DataFrame]:
    """The two references for selections of ``size`` seconds of ``grid``, per question of ``pred``: ``random``
    (exact expectations of a uniform draw without replacement) and ``best possible`` (min(size, |E|) hits)."""
    grid = set(grid)
    if not 1 <= size <= len(grid):
        raise ValueError(f"a selection of {size} seconds from a grid of {len(grid)}")
    out = {}
    for label, hits_of in ((RANDOM, lambda e: size * e / len(grid)), (BEST, lambda e: min(size, e))):
        rows = []
        for qid in pred["question_id"]:
            e = len(grid.intersection(evidence.get(str(qid), ())))
            informative = 0 < e < len(grid)
            hits = hits_of(e)
            rows.append({"picked": (), "selected": size, "evidence": e, "hits": hits,
                         "precision": hits / size if informative else np.nan,
                         "recall": hits / e if informative else np.nan, "informative": informative})
        out[label] = _with_ids(pred, rows)
    return out


def _with_ids(pred: pd.DataFrame, rows: list[dict]) -> pd.DataFrame:
    ids = pred[["question_id", "video_id", "type", "template", "answer", "predicted"]].reset_index(drop=True)
    return pd.concat([ids, pd.DataFrame(rows, columns=["picked", *FIELDS, "informative"])], axis=1)


@dataclass(frozen=True)
class Selector:
    """One row of the comparison: the runs (one per seed, in the seeds' order) and the ``clues_*`` column."""
    label: str
    runs: list
    column: str


def grounding_scores(selectors: list[Selector], evidence: list[dict], *, split: str = "test",
                     reference: str | None = None) -> pd.DataFrame:
    """Every selector's per-question scores over the seeds (``evidence[s]``: the draw that the runs ``[s]`` read),
    one long table (``seed``: the index s, ``selector``, the fields of ``selection_scores``), then ``random`` and
    ``best possible`` for selections of the ``reference`` selector's size on its grid (default: the first one).
    Within a seed all selectors must have read the same draw and answered the same questions."""
    if not selectors:
        raise ValueError("no selectors to score")
    n = len(evidence)
    for sel in selectors:
        if len(sel.runs) != n:
            raise ValueError(f"{sel.label}: {len(sel.runs)} runs for {n} seeds' evidence")
    ref = next((s for s in selectors if s.label == (reference or selectors[0].label)), None)
    if ref is None:
        raise ValueError(f"no selector named {reference!r}")
    frames, chance = [], []
    for s in range(n):
        first = selectors[0].runs[s]
        questions = sorted(first.predictions(split)["question_id"])
        for sel in selectors:
            run = sel.runs[s]
            if _draw(run) != _draw(first):
                raise ValueError(f"{run.path} and {first.path} are seed {s}'s but read different data "
                                 f"({_draw(run)} vs {_draw(first)})")
            pred = run.predictions(split)
            if sorted(pred["question_id"]) != questions:
                raise ValueError(f"{run.path} and {first.path} answered different {split} questions")
            scores = selection_scores(pred, evidence[s], column=sel.column, grid=_grid(run),
                                      source=f"{run.path} ({split} predictions)")
            frames.append(scores.assign(seed=s, selector=sel.label))
            if sel is ref:
                sizes = set(scores["selected"])
                if len(sizes) > 1:
                    raise ValueError(f"{run.path}: {sel.column} selections of several sizes {sorted(sizes)}; the "
                                     f"random reference needs one size")
                size = sizes.pop() if sizes else 1
                for label, frame in chance_scores(pred, evidence[s], size=size, grid=_grid(run)).items():
                    chance.append(frame.assign(seed=s, selector=label))
    return pd.concat(frames + chance, ignore_index=True)


def _grid(run) -> tuple[int, ...]:
    data = run.config["data"]
    return time_grid(int(data["seconds"]), int(data["stride"]))


def _draw(run) -> tuple:
    data = run.config["data"]
    return tuple(str(data.get(k)) for k in ("root", "synth_profile", "synth_seed", "seconds"))


def scored(scores: pd.DataFrame) -> pd.DataFrame:
    """The rows of the questions informative for every selector in ``scores`` (one question set for all)."""
    ok = scores.groupby(["seed", "question_id"])["informative"].transform("all")
    return scores[ok]


def coverage(scores: pd.DataFrame, selector: str, by: str = "type") -> pd.DataFrame:
    """Per question type (or template): questions, informative questions, their share, and the mean evidence
    length on ``selector``'s grid of the informative ones."""
    s = scores[scores["selector"] == selector]
    g = s.groupby(by, sort=True)
    out = pd.DataFrame({"questions": g.size(), "informative": g["informative"].sum().astype(int)})
    out["informative (%)"] = 100.0 * out["informative"] / out["questions"]
    out["mean evidence (s)"] = s[s["informative"]].groupby(by)["evidence"].mean()
    return out


# ------------------------------------------------------------------------------------------------ intervals
@dataclass(frozen=True)
class Interval:
    value: float        # the mean over seeds of each seed's statistic
    low: float
    high: float
    pvalue: float       # two-sided, H0: the statistic is 0 (meaningful for differences), as mcd.stats computes it
    seeds: int
    questions: int      # summed over seeds
    n_boot: int
    level: float = 0.95

    def text(self, digits: int = 1) -> str:
        return f"{self.value:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


def nested_sums(cells: list[np.ndarray], *, n_boot: int, seed: int, chunk: int = 2_000) -> np.ndarray:
    """The nested bootstrap's draws: ``cells[s]`` is seed s's [Q_s, K] per-question values. Each of the
    ``n_boot`` draws picks S seeds with replacement (with one seed, that seed) and, for each pick, resamples the
    seed's Q_s questions with replacement (multinomial counts, independently per pick); returns the column sums
    of every pick, [n_boot, S, K]."""
    if not cells or any(len(x) < 1 for x in cells):
        raise ValueError("every seed needs at least one question")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    rng = np.random.default_rng(seed)
    n_seeds, k = len(cells), cells[0].shape[1]
    picks = np.zeros((n_boot, 1), dtype=int) if n_seeds == 1 else rng.integers(0, n_seeds, size=(n_boot, n_seeds))
    sums = np.empty((*picks.shape, k))
    for s, x in enumerate(cells):
        here = picks == s
        q, parts = len(x), []
        todo = int(here.sum())
        for start in range(0, todo, chunk):
            counts = rng.multinomial(q, np.full(q, 1.0 / q), size=min(chunk, todo - start))
            parts.append(counts @ x)
        sums[here] = np.concatenate(parts) if parts else np.empty((0, k))
    return sums


def interval(observed: np.ndarray, boot: np.ndarray, *, questions: int, n_boot: int, level: float) -> Interval:
    """An Interval from each seed's observed statistic [S] and the draws' statistics [n_boot, S'] (averaged over
    the picks of each draw): the percentile interval and the p-value of ``mcd.stats.hierarchical_bootstrap``."""
    value = float(np.mean(observed))
    means = boot.mean(axis=1)
    alpha = 1.0 - level
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    far = np.abs(means - value) >= abs(value) - 1e-12
    return Interval(value, float(low), float(high), (1 + int(far.sum())) / (1 + n_boot), len(observed),
                    questions, n_boot, level)


def mean_interval(values: list, *, n_boot: int = 10_000, seed: int = 0, level: float = 0.95) -> Interval:
    """The mean over seeds of each seed's mean of per-question values (``values[s]``), with the nested bootstrap
    interval."""
    cells = [np.column_stack([np.asarray(v, float), np.ones(len(v))]) for v in values]
    boot = nested_sums(cells, n_boot=n_boot, seed=seed)
    observed = np.array([x[:, 0].sum() / len(x) for x in cells])
    return interval(observed, boot[..., 0] / boot[..., 1], questions=sum(len(x) for x in cells), n_boot=n_boot,
                    level=level)


def _cells(frame: pd.DataFrame) -> tuple[list[np.ndarray], list[str]]:
    """Per seed, a [questions, selectors x fields + 1] matrix (the last column ones), and the column names."""
    wide = frame.pivot_table(index=["seed", "question_id"], columns="selector", values=list(FIELDS),
                             aggfunc="first")
    wide.columns = [f"{sel}|{f}" for f, sel in wide.columns]
    wide["one"] = 1.0
    cols = list(wide.columns)
    return [wide.xs(s, level="seed").to_numpy(float) for s in sorted(frame["seed"].unique())], cols


def _groups(frame: pd.DataFrame):
    yield ALL, frame
    for name, sub in frame.groupby("type", sort=True):
        yield name, sub


def _ratio(sums: np.ndarray, cols: list[str], selector: str, measure: str) -> np.ndarray:
    """A measure (%) from column sums: sum(numerator) / sum(denominator) of ``MEASURES[measure]``."""
    num, den = MEASURES[measure]
    den = den if den == "one" else f"{selector}|{den}"
    return 100.0 * sums[..., cols.index(f"{selector}|{num}")] / sums[..., cols.index(den)]


def _table(scores: pd.DataFrame, items: list[tuple[dict, Callable]], *, n_boot: int, seed: int,
           level: float) -> pd.DataFrame:
    """One row per question type (and ``ALL``) and item: the item's labels and the Interval of its statistic
    (a function of column sums, see ``_cells``), every item of a type from the same bootstrap draws."""
    rows = []
    for name, sub in _groups(scored(scores)):
        cells, cols = _cells(sub)
        boot = nested_sums(cells, n_boot=n_boot, seed=seed)
        observed = np.stack([c.sum(axis=0) for c in cells])                    # [S, K]
        for labels, statistic in items:
            est = interval(statistic(observed, cols), statistic(boot, cols), questions=sum(map(len, cells)),
                           n_boot=n_boot, level=level)
            rows.append({"type": name, **labels, **vars(est)})
    return pd.DataFrame(rows)


def summarise(scores: pd.DataFrame, *, measures=tuple(MEASURES), n_boot: int = 10_000, seed: int = 0,
              level: float = 0.95) -> pd.DataFrame:
    """Per question type (and over all scored questions, ``ALL``), per selector and measure: the value (%) with
    its nested-bootstrap interval (the columns of ``Interval``)."""
    items = [({"selector": sel, "measure": m}, partial(_ratio, selector=sel, measure=m))
             for sel in dict.fromkeys(scores["selector"]) for m in measures]
    return _table(scores, items, n_boot=n_boot, seed=seed, level=level)


def differences(scores: pd.DataFrame, pairs: list[tuple[str, str]], *, measures=("precision", "recall"),
                n_boot: int = 10_000, seed: int = 0, level: float = 0.95) -> pd.DataFrame:
    """Per question type and ``(a, b)`` pair: a's measure minus b's (points), paired question by question (the
    same resampled questions on both sides), with its interval and p-value."""
    items = [({"comparison": f"{a} - {b}", "measure": m}, partial(_difference, a=a, b=b, measure=m))
             for a, b in pairs for m in measures]
    return _table(scores, items, n_boot=n_boot, seed=seed, level=level)


def _difference(sums, cols, *, a, b, measure):
    return _ratio(sums, cols, a, measure) - _ratio(sums, cols, b, measure)


def direction(low: float, high: float) -> str:
    """How the interval of a difference reads: "above 0" or "below 0" when it excludes 0, else "not told apart
    from 0"."""
    return "above 0" if low > 0 else "below 0" if high < 0 else "not told apart from 0"


def same_selection(scores: pd.DataFrame) -> pd.DataFrame:
    """Per selector (the references left out): of the pairs of questions about one video (within a seed), the
    share (%) given exactly the same seconds. 100 % means the selection depends on the video only, never on
    the question."""
    rows = {}
    for label, sub in scores[~scores["selector"].isin([RANDOM, BEST])].groupby("selector", sort=False):
        pairs = same = 0
        for _, video in sub.groupby(["seed", "video_id"]):
            counts = video["picked"].value_counts()
            n = len(video)
            pairs += n * (n - 1) // 2
            same += int((counts * (counts - 1) // 2).sum())
        rows[label] = {"question pairs": pairs, "same seconds (%)": 100.0 * same / pairs if pairs else np.nan}
    return pd.DataFrame(rows).T.astype({"question pairs": int})


def interval_table(table: pd.DataFrame, measure: str, *, by: str = "selector", columns: list[str] | None = None,
                   digits: int = 1) -> pd.DataFrame:
    """A display table: rows = question types (``ALL`` last), columns = selectors (or comparisons; ``columns``
    picks and orders them), cells "value [low, high]" (the interval unbroken, so a narrow cell wraps before it),
    and the scored questions (summed over seeds) in the first column."""
    t = table[table["measure"] == measure]
    def fmt(x: float) -> str:
        return f"{round(x, digits) + 0.0:.{digits}f}"                       # + 0.0: never "-0.0"
    cells = t.assign(cell=[f"{fmt(v)} [{fmt(lo)},\u00a0{fmt(hi)}]"
                           for v, lo, hi in zip(t["value"], t["low"], t["high"])])
    wide = cells.pivot(index="type", columns=by, values="cell")[columns or list(dict.fromkeys(t[by]))]
    wide.insert(0, "questions", t.groupby("type")["questions"].first().astype(int))
    wide = wide.loc[[x for x in wide.index if x != ALL] + [ALL]]
    wide.index.name = None
    wide.columns.name = None
    return wide


# --------------------------------------------------------------------------------------------- examples
def example_questions(scores: pd.DataFrame, *, seed_index: int = 0, videos: int = 3, per_video: int = 3,
                      seed: int = 0) -> pd.DataFrame:
    """The questions the Fig. 6 analogue shows, by a seeded rule (not chosen by hand): among the videos of
    ``seed_index`` with at least two scored questions, ``videos`` drawn uniformly with ``seed``; of each, up to
    ``per_video`` of its scored questions drawn the same way; in video and question id order. Returns the scores
    of those questions (every selector)."""
    s = scored(scores)
    s = s[s["seed"] == seed_index]
    per = s.drop_duplicates("question_id").groupby("video_id")["question_id"].apply(sorted)
    eligible = sorted(v for v, q in per.items() if len(q) >= 2)
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(eligible, size=min(videos, len(eligible)), replace=False)) if eligible else []
    qids = []
    for v in chosen:
        qs = per[v]
        qids += sorted(rng.choice(qs, size=min(per_video, len(qs)), replace=False).tolist())
    out = s[s["question_id"].isin(qids)]
    return out.sort_values(["video_id", "question_id"], kind="stable")


def plot_timelines(examples: pd.DataFrame, *, evidence: dict, seconds: int, texts: dict, rows: list[str],
                   models: dict[str, str]):
    """The Fig. 6 analogue: one panel per question (one row of panels per video). The timeline of ``seconds``
    seconds, the true evidence seconds shaded, one line per selector in ``rows`` with the seconds it picked; the
    title gives the question (``texts``: question id -> text) and each model's answer against the truth
    (``models``: model label -> the selector whose table gives its answer)."""
    import textwrap

    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    videos = list(dict.fromkeys(examples["video_id"]))
    per = {v: list(dict.fromkeys(examples.loc[examples["video_id"] == v, "question_id"])) for v in videos}
    ncols = max((len(q) for q in per.values()), default=1)
    fig, axes = plt.subplots(len(videos), ncols, figsize=(3.0 * ncols, 2.4 * len(videos) + 0.4), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for r, v in enumerate(videos):
        for c in range(ncols):
            ax = axes[r, c]
            if c >= len(per[v]):
                ax.set_visible(False)
                continue
            qid = per[v][c]
            q = examples[examples["question_id"] == qid]
            for s in evidence.get(str(qid), ()):
                ax.axvspan(s - 0.5, s + 0.5, color="0.85", lw=0)
            for y, label in enumerate(rows):
                picked = q.loc[q["selector"] == label, "picked"]
                xs = list(picked.iloc[0]) if len(picked) else []
                ax.scatter(xs, [y] * len(xs), marker="s", s=22, color=colours[y % len(colours)])
            ax.set_yticks(range(len(rows)), rows if c == 0 else [""] * len(rows), fontsize="small")
            ax.set_ylim(len(rows) - 0.5, -0.5)
            ax.set_xlim(-0.5, seconds - 0.5)
            ax.set_xticks(range(0, seconds, max(1, seconds // 5)))
            ax.tick_params(axis="x", labelsize="small")
            ax.grid(False)
            truth = q["answer"].iloc[0]
            said = "; ".join(f"{m}: {_answer(q, sel, truth)}" for m, sel in models.items())
            title = textwrap.fill(f"{v} · {texts.get(str(qid), q['template'].iloc[0])}", 42)
            answers = textwrap.fill(f"truth: {truth}; {said}", 46)
            ax.set_title(f"{title}\n{answers}", fontsize="x-small", loc="left")
            if r == len(videos) - 1:
                ax.set_xlabel("second", fontsize="small")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.legend([Patch(color="0.85")], ["true evidence seconds (evidence.json)"], loc="lower center",
               frameon=False, fontsize="small")
    return fig


def _answer(q: pd.DataFrame, selector: str, truth: str) -> str:
    said = q.loc[q["selector"] == selector, "predicted"].iloc[0]
    return f"{said} ({'right' if said == truth else 'wrong'})"


def plot_summary(table: pd.DataFrame, *, measures=("precision", "recall"), selectors: list[str]):
    """Points with 95 % intervals per question type, one panel per measure, one colour per selector; the legend
    below the panels."""
    import matplotlib.pyplot as plt

    types = [x for x in dict.fromkeys(table["type"]) if x != ALL] + [ALL]
    fig, axes = plt.subplots(1, len(measures), figsize=(4.2 * len(measures), 0.4 * len(types) + 1.6),
                             sharey=True, squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    offsets = np.linspace(-0.3, 0.3, len(selectors))
    for ax, m in zip(axes[0], measures):
        t = table[table["measure"] == m].set_index(["type", "selector"])
        for i, sel in enumerate(selectors):
            ys, xs, lo, hi = [], [], [], []
            for j, name in enumerate(types):
                if (name, sel) in t.index:
                    row = t.loc[(name, sel)]
                    ys.append(j + offsets[i])
                    xs.append(row["value"])
                    lo.append(row["value"] - row["low"])
                    hi.append(row["high"] - row["value"])
            ax.errorbar(xs, ys, xerr=[lo, hi], fmt="o", ms=4, capsize=2, lw=1, color=colours[i % len(colours)],
                        label=sel)
        ax.set_yticks(range(len(types)), types, fontsize="small")
        ax.set_ylim(len(types) - 0.5, -0.5)
        ax.set_xlim(-2, 102)
        ax.set_xlabel(f"{m} (%)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 3), frameon=False, fontsize="small")
    return fig


__all__ = ["ALL", "BEST", "MEASURES", "RANDOM", "Interval", "Selector", "chance_scores", "coverage",
           "differences", "direction", "evidence_of", "example_questions", "grounding_scores", "interval",
           "interval_table", "mean_interval", "nested_sums", "plot_summary", "plot_timelines", "read_evidence",
           "same_selection", "scored", "selected_seconds", "selection_scores", "summarise", "time_grid"]
