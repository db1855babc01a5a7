"""Whether a claim of the paper holds on our runs: one rule, used by the claims page and by every chapter.

**What is compared.** A comparison is runs A against runs B, paired seed by seed (each seed on its own SynthAVQA
draw, the same draw for A and B), on one column of the test split: "overall", a question modality's average
("Audio", "Visual", "Audio-Visual") or a question type ("V-Loc"), in a claimed direction: A *better* than B, A
*worse* than B, or A *no different* from B. Its interval is ``stats.pooled_comparison`` at 95 %: with a draw per
seed, Student's t over the seeds' differences, each of which carries its seed's, its draw's and its questions'
noise (one seed: the question bootstrap, which covers the questions only). A quantity measured once per seed that
has no per-question predictions (a val-test gap read from the learning curves) gets the same t over seeds
(``judge_values``). A *level* claim ("about 51 %") puts one model's accuracy against a band around the paper's
number, with the interval of ``stats.pooled_accuracy`` (for one run on the real questions: the question
bootstrap).

**The rule** (``decide``), the only one. A claim names a region of values: (0, inf) for "better", (-inf, 0) for
"worse", {0} for "no different", [paper - tolerance, paper + tolerance] for a level.

- *holds*: the whole 95 % interval lies inside the region;
- *does not hold*: no point of the interval lies inside it (for "better": the interval lies at or below 0);
- *cannot be decided here*: otherwise (the interval straddles the region's edge, or there is no interval).

No smallest effect of interest is used. The paper's differences were measured on Music-AVQA with its features;
their sizes say nothing about what matters on SynthAVQA, so a claimed improvement "does not hold" only when our
interval shows the opposite, not when it shows a small effect. For the same reason "no different" can only be
refuted (a region of one point holds only for identical models).

**Claims of several comparisons** (``combine``): *holds* when every part holds; *does not hold* when any part
does not hold; *cannot be decided here* otherwise. "Holds" is then an intersection-union test: its error is at
most that of one part (2.5 % one-sided), with no correction for the number of parts. "Does not hold" is a union:
when every part of a true claim sits exactly at the edge of its region, each part wrongly lies on the other side
with probability 2.5 %, so a claim of k parts is wrongly called "does not hold" with probability up to k x 2.5 %.
The parts are shown, so a reader can see which one decided.

**The paper's claims** C1-C8 (``paper_claims``) name their runs as (chapter, label), the chapter being a key of
``mcd.study.chapters.CHAPTERS`` and the label one of its groups; the paper's numbers come from ``mcd.paper``.
"""
from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from mcd import stats
from mcd.data.annotations import MODALITIES
from mcd.runs import Run

HOLDS, FAILS, UNDECIDED = "holds", "does not hold", "cannot be decided here"
STATUSES = (HOLDS, FAILS, UNDECIDED)
LEVEL = 0.95
REGIONS = {"better": pd.Interval(0.0, math.inf, closed="neither"),
           "worse": pd.Interval(-math.inf, 0.0, closed="neither"),
           "no different": pd.Interval(0.0, 0.0, closed="both")}
CLAIMED = {"better": "A better", "worse": "A worse", "no different": "no difference"}
CLAIMED_OF_VALUES = {"better": "A larger", "worse": "A smaller", "no different": "no difference"}
# The band of a level claim ("about 51 %"): the paper's question-only LSTM was trained on the full Music-AVQA train
# split, ours on the partial train reconstruction plus val (about 25k of its 32k questions, not a random sample),
# which the real-questions chapter expects to move the result by a point or two. The claim is about the level of a
# question-only model, not its decimals; a wider band would let it hold for a different level.
LEVEL_TOLERANCE = 2.0


# ---------------------------------------------------------------------------------------------------- the rule
def decide(low: float, high: float, region: pd.Interval) -> str:
    """The status of a claim whose region is ``region``, from its interval [low, high] (module docstring)."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return UNDECIDED
    if low in region and high in region:
        return HOLDS
    if not region.overlaps(pd.Interval(low, high, closed="both")):
        return FAILS
    return UNDECIDED


def combine(statuses: Iterable[str]) -> str:
    """The status of a claim of several parts: all hold -> holds; any does not hold -> does not hold."""
    statuses = list(statuses)
    unknown = set(statuses) - set(STATUSES)
    if not statuses or unknown:
        raise ValueError(f"need one or more statuses of {STATUSES}, got {list(statuses)}")
    if all(s == HOLDS for s in statuses):
        return HOLDS
    return FAILS if FAILS in statuses else UNDECIDED


def support(low: float, high: float, region: pd.Interval) -> float:
    """How far the interval lies inside ``region`` (negative: how far it reaches out of it); -inf without an
    interval. Of the parts that hold (or cannot be decided), the one with the least support decides a claim."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return -math.inf
    return min(low - region.left, region.right - high)


def gap(low: float, high: float, region: pd.Interval) -> float:
    """How far the interval lies outside ``region`` (0 or less when they meet). Of the parts that do not hold, the
    one with the largest gap decides a claim."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return -math.inf
    return max(region.left - high, low - region.right)


# ------------------------------------------------------------------------------------------------ what is judged
@dataclass(frozen=True)
class Comparison:
    """Runs ``a`` against runs ``b`` on ``column``, claimed ``direction`` ("better", "worse", "no different");
    ``paper``: the paper's A - B in points where it gives one; ``name``: how the table names it."""

    a: Hashable
    b: Hashable
    direction: str = "better"
    column: str = "overall"
    paper: float | None = None
    name: str | None = None

    def __post_init__(self):
        if self.direction not in REGIONS:
            raise ValueError(f"direction must be one of {sorted(REGIONS)}, got {self.direction!r}")

    @property
    def region(self) -> pd.Interval:
        return REGIONS[self.direction]

    @property
    def claimed(self) -> str:
        return CLAIMED[self.direction]

    @property
    def label(self) -> str:
        return self.name or f"{_label(self.a)} - {_label(self.b)}"

    @property
    def keys(self) -> tuple:
        return (self.a, self.b)


@dataclass(frozen=True)
class Level:
    """The accuracy of runs ``a`` on ``column`` within ``tolerance`` points of the paper's ``paper``."""

    a: Hashable
    paper: float
    tolerance: float = LEVEL_TOLERANCE
    column: str = "overall"
    name: str | None = None

    @property
    def region(self) -> pd.Interval:
        return pd.Interval(self.paper - self.tolerance, self.paper + self.tolerance, closed="both")

    @property
    def claimed(self) -> str:
        return f"within [{self.region.left:.2f}, {self.region.right:.2f}]"

    @property
    def label(self) -> str:
        return self.name or _label(self.a)

    @property
    def keys(self) -> tuple:
        return (self.a,)


Part = Comparison | Level


@dataclass(frozen=True)
class Claim:
    """A claim of the paper: ``key`` ("C1"), the ``statement``, where the paper makes it (``section``), and the
    comparisons (or the level) that decide it."""

    key: str
    statement: str
    section: str
    parts: tuple[Part, ...]

    def runs_named(self) -> set:
        return {k for p in self.parts for k in p.keys}

    def in_chapter(self, chapter: str) -> tuple[Part, ...]:
        """The parts whose runs are all ``chapter``'s, their keys stripped to that chapter's labels."""
        out = []
        for p in self.parts:
            if all(isinstance(k, tuple) and k[0] == chapter for k in p.keys):
                stripped = {f: getattr(p, f)[1] for f in ("a", "b") if hasattr(p, f)}
                out.append(replace(p, **stripped))
        return tuple(out)


def _label(key) -> str:
    """A run group's label as a table shows it: a tuple label such as (backbone, model) -> 'model (backbone)'."""
    if isinstance(key, tuple):
        return f"{key[-1]} ({', '.join(map(str, key[:-1]))})"
    return str(key)


# -------------------------------------------------------------------------------------------------------- judging
def column_subset(column: str) -> dict:
    """The ``stats`` keyword that cuts predictions to ``column``: none for overall, a modality, or a question type."""
    if column == "overall":
        return {}
    return {"modality": column} if column in MODALITIES else {"question_type": column}


def _has_questions(runs: list[Run], column: str, split: str) -> bool:
    return all(r.scores[split].get(column) is not None for r in runs)


def _row(part: Part, result: stats.BootstrapResult | None, note: str = "") -> dict:
    low, high = (result.low, result.high) if result else (math.nan, math.nan)
    if result is None:
        over = note
    elif result.method == stats.SEEDS_T:
        over = f"{result.seeds} seeds (t, {result.seeds - 1} df)"
    elif result.seeds == 1:
        over = "questions (one seed)"
    else:
        over = f"{result.seeds} seeds x questions (one data set)"
    return {"comparison": part.label, "column": part.column, "claimed": part.claimed,
            "paper": part.paper if part.paper is not None else math.nan,
            "ours": result.diff if result else math.nan, "low": low, "high": high,
            "support": support(low, high, part.region), "gap": gap(low, high, part.region), "interval over": over,
            "status": decide(low, high, part.region)}


def judge_part(part: Part, runs: Mapping, *, split: str = "test", n_boot: int = 10_000, seed: int = 0) -> dict:
    """One row: the part's result, its 95 % interval, what the interval covers, and its status."""
    missing = [k for k in part.keys if k not in runs]
    if missing:
        return _row(part, None, f"no runs for {', '.join(map(str, missing))}")
    groups = [runs[k] for k in part.keys]
    if not all(_has_questions(rs, part.column, split) for rs in groups):
        return _row(part, None, f"no {part.column} questions in the {split} split")
    subset = column_subset(part.column)
    if isinstance(part, Level):
        result = stats.pooled_accuracy(groups[0], split=split, n_boot=n_boot, seed=seed, level=LEVEL, **subset)
    else:
        result = stats.pooled_comparison(*groups, split=split, n_boot=n_boot, seed=seed, level=LEVEL, **subset)
    return _row(part, result)


def judge(parts: Sequence[Part], runs: Mapping, **kw) -> pd.DataFrame:
    """One row per part (``judge_part``)."""
    return pd.DataFrame([judge_part(p, runs, **kw) for p in parts])


def judge_values(name: str, values: Sequence[float], direction: str = "better", *, column: str = "",
                 paper: float | None = None) -> dict:
    """A row for a paired quantity measured once per seed (A minus B of the same seed, e.g. a val-test gap read from
    the learning curves): the t interval over seeds, as for a comparison with a draw per seed; with one seed there
    is no interval."""
    part = Comparison(name, name, direction, column, paper, name)
    v = np.asarray(values, dtype=float)
    claimed = {"claimed": CLAIMED_OF_VALUES[direction]}
    if len(v) < 2 or not np.isfinite(v).all():
        row = _row(part, None, "needs two seeds or more")
        return row | claimed | {"ours": float(v.mean()) if len(v) and np.isfinite(v).all() else math.nan}
    return _row(part, stats.t_over_seeds(v, level=LEVEL)) | claimed


@dataclass
class ClaimVerdict:
    claim: Claim
    status: str
    parts: pd.DataFrame
    data: str

    @property
    def decisive(self) -> pd.Series:
        """The part that decides the claim: of the parts with the claim's status, the one with the least support
        (for "does not hold": the one furthest on the other side)."""
        same = self.parts[self.parts["status"] == self.status]
        if self.status == FAILS:
            return same.loc[same["gap"].idxmax()]
        return same.loc[same["support"].idxmin()]


def judge_claim(claim: Claim, runs: Mapping, *, chapter: str | None = None, **kw) -> ClaimVerdict:
    """The claim's parts judged on ``runs`` (keyed (chapter, label); with ``chapter``: that chapter's parts only,
    keyed by its labels), and their combined status."""
    parts = claim.in_chapter(chapter) if chapter else claim.parts
    if not parts:
        raise ValueError(f"{claim.key} has no part in chapter {chapter!r}")
    rows = judge(parts, runs, **kw)
    used = [r for p in parts for k in p.keys if k in runs for r in runs[k]]
    return ClaimVerdict(claim, combine(rows["status"].tolist()), rows, measured_on(used))


def measured_on(runs: list[Run]) -> str:
    """The data a list of runs read, in words: SynthAVQA's version, profile and draws, or the real annotations."""
    if not runs:
        return "–"
    data = [r.config.get("data", {}) for r in runs]
    seeds = sorted({r.seed for r in runs})
    if all(d.get("synth_profile") for d in data):
        from mcd.data.synth import SYNTH_VERSION
        profiles = sorted({d["synth_profile"] for d in data})
        return (f"SynthAVQA v{SYNTH_VERSION} '{', '.join(profiles)}' test, a draw per seed (seeds "
                f"{', '.join(map(str, seeds))})")
    if not any(d.get("synth_profile") for d in data):
        versions = sorted({str(d.get("version")) for d in data})
        return (f"Music-AVQA {', '.join(versions)} test, real questions (seed{'s' if len(seeds) > 1 else ''} "
                f"{', '.join(map(str, seeds))})")
    return "SynthAVQA and real questions"


# ------------------------------------------------------------------------------------------------ the paper's claims
def paper_claims() -> dict[str, Claim]:
    """C1-C8: the paper's claims that the book tests, with the paper's numbers (from ``mcd.paper``)."""
    from mcd.models.mcd import ATTENTION_VARIANTS, LATE_FUSION_VARIANTS
    from mcd.paper import paper_table
    from mcd.study.tables import paper_rows_as_variants

    def compare(chapter: str, a, b, direction: str = "better", **kw) -> Comparison:
        """A comparison of two of ``chapter``'s run groups, keyed (chapter, label) and named by the labels."""
        kw.setdefault("name", f"{_label(a)} - {_label(b)}")
        return Comparison((chapter, a), (chapter, b), direction, **kw)

    t2 = paper_table("II")
    t2.index = ["+".join(m for m, on in zip("QAV", row) if on) for row in t2[["question", "audio", "visual"]].values]
    t2 = t2["overall"]
    fusion = [compare("table2_fusion", "Q+A+V", pair, "worse", paper=t2["Q+A+V"] - t2[pair],
                      name=f"MLP Q+A+V - MLP {pair}") for pair in ("Q+A", "Q+V")]
    fusion += [compare("fig5_late_fusion", v, "none", "worse", name=f"MCD with late fusion ({v}) - MCD")
               for v in LATE_FUSION_VARIANTS if v != "none"]

    t7 = paper_rows_as_variants(paper_table("VII"), ATTENTION_VARIANTS,
                                ["self_audio", "self_visual", "a_query", "v_query"])["overall"]
    full7 = "Bidirectional both"
    attention = [compare("table7_attention", full7, other, paper=t7[full7] - t7[other])
                 for other in ("Self-attention A+V", "Cross-attention both")]

    t10 = paper_table("X").set_index("variant")["overall"]
    losses = [compare("table10_losses", "MCD", f"MCD w/o L_c^{k}", paper=t10["MCD"] - t10[f"MCD w/o L_{k}"])
              for k in ("qv", "qa", "av")]

    t6 = paper_table("VI")
    t6.index = [f"{enc} w{'/' if t else '/o'} T" for enc, t in zip(t6["text_encoder"], t6["text_objects"])]
    text = [compare("table6_text_encoder", f"{enc} w/ T", f"{enc} w/o T", column=col,
                    paper=t6.loc[f"{enc} w/ T", col] - t6.loc[f"{enc} w/o T", col])
            for enc in ("LSTM", "Bi-LSTM") for col in MODALITIES]

    t9 = paper_table("IX").set_index("variant")["overall"]
    ours9 = {"w/o F_v": "w/o F_v", "w/o F_a": "w/o F_a", "w/o text object": "w/o f_t",
             "only element-wise add": "Only element-wise add"}
    lef = [compare("table9_lef", "w/ dot-product", ours, paper=t9["w/ dot-product (full MCD)"] - t9[theirs])
           for theirs, ours in ours9.items()]

    t8 = paper_table("VIII").set_index("method")["overall"]
    blocks = [compare("table8_efficiency", "N=2", f"N={n}", paper=t8["MCD AB N=2"] - t8[f"MCD AB N={n}"])
              for n in (1, 3)]

    t3 = paper_table("III").set_index("method")["overall"]
    t4 = paper_table("IV").set_index(["backbone", "method"])["overall"]
    peers = [compare("table3_sota", "MCD", peer, paper=t3["MCD"] - t3[peer], name=f"MCD - {peer} (Table III)")
             for peer in ("AVST", "PSTP-Net")]
    peers += [compare("table4_backbones", (bb, "MCD"), (bb, peer), paper=t4[(bb, "MCD")] - t4[(bb, peer)],
                      name=f"MCD - {peer} on {bb} (Table IV)")
              for bb, peer in (("ResNet-18", "AVST"), ("CLIP-ViT-B/32", "PSTP-Net"))]

    qonly = Level(("real_questions", "learned Q-only LSTM"), paper=float(t2["Q"]), name="learned Q-only LSTM")

    claims = [
        Claim("C1", "Decision-level (late) fusion lowers test accuracy", "Sec. IV-B; Table II, Fig. 5",
              tuple(fusion)),
        Claim("C2", "Bidirectional inter-attention beats self- and cross-attention", "Sec. IV-D2; Table VII",
              tuple(attention)),
        Claim("C3", "Each semantic-approximation loss helps", "Sec. IV-D2; Table X", tuple(losses)),
        Claim("C4", "Text objects help", "Sec. IV-D1; Table VI", tuple(text)),
        Claim("C5", "Each part of the local element fusion (Eq. 10) helps", "Sec. IV-D2; Table IX", tuple(lef)),
        Claim("C6", "N = 2 association blocks is best", "Sec. IV-D2; Table VIII", tuple(blocks)),
        Claim("C7", "MCD beats AVST and PSTP-Net", "Sec. IV-C, IV-D1; Tables III, IV", tuple(peers)),
        Claim("C8", "A question-only model gets about 51 % (real questions)", "Sec. IV-B; Table II", (qonly,)),
    ]
    return {c.key: c for c in claims}


def claim_runs(claims: Mapping[str, Claim] | None = None) -> dict[str, list]:
    """{chapter: [label, ...]}: the runs the claims compare, per chapter, in a fixed order."""
    out: dict[str, list] = {}
    for claim in (claims or paper_claims()).values():
        for chapter, label in sorted(claim.runs_named(), key=str):
            if label not in out.setdefault(chapter, []):
                out[chapter].append(label)
    return out


# ----------------------------------------------------------------------------------------------------- showing
def _fmt(x: float, sign: bool = True) -> str:
    return "–" if x is None or not np.isfinite(x) else (f"{x:+.2f}" if sign else f"{x:.2f}")


def interval_text(low: float, high: float) -> str:
    """'[low, high]' to two decimals, a dash without an interval."""
    return "–" if not (np.isfinite(low) and np.isfinite(high)) else f"[{low:.2f}, {high:.2f}]"


STATUS_COLOURS = {HOLDS: "background-color: #d9f2d9", FAILS: "background-color: #f8d7da",
                  UNDECIDED: "background-color: #ececec"}


def parts_frame(rows: pd.DataFrame, *, level: bool = False) -> pd.DataFrame:
    """The parts as the book shows them: one or two decimals, a dash where there is no number."""
    sign = not level
    return pd.DataFrame({
        "model" if level else "comparison (A - B)": rows["comparison"], "column": rows["column"],
        "claimed": rows["claimed"],
        "paper (Music-AVQA)": [_fmt(x, sign) for x in rows["paper"]],
        "ours": [_fmt(x, sign) for x in rows["ours"]],
        "95 % interval": [interval_text(lo, hi) for lo, hi in zip(rows["low"], rows["high"])],
        "interval over": rows["interval over"], "status": rows["status"]})


def styled(frame: pd.DataFrame, caption: str = ""):
    """A table of verdicts with its status column coloured and no index column."""
    style = frame.style.hide(axis="index").map(lambda s: STATUS_COLOURS.get(s, ""), subset=["status"])
    return style.set_caption(caption) if caption else style


def show_parts(rows: pd.DataFrame, caption: str = "", *, level: bool = False):
    return styled(parts_frame(rows, level=level), caption)


def summary(verdict: ClaimVerdict) -> str:
    """One sentence: the status and what decided it."""
    rows, n = verdict.parts, len(verdict.parts)
    counts = {s: int((rows["status"] == s).sum()) for s in STATUSES}
    d = verdict.decisive
    level = isinstance(verdict.claim.parts[0], Level) and n == 1
    result = f"{_fmt(d['ours'], not level)} {interval_text(d['low'], d['high'])}".strip()
    if n == 1:
        return f"{verdict.status}: {d['comparison']} = {result} ({d['column']}; claimed {d['claimed']})"
    return (f"{verdict.status}: {counts[HOLDS]} of {n} parts hold, {counts[FAILS]} do not; "
            f"decided by {d['comparison']} ({d['column']}) = {result}")


def note(verdict: ClaimVerdict, scope: str = ""):
    """The verdict as a short formatted paragraph (Markdown) under a chapter's numbers; ``scope`` says which of the
    claim's parts the chapter holds."""
    from IPython.display import Markdown
    c = verdict.claim
    where = f"; here {scope}" if scope else ""
    return Markdown(f"> **{c.key}: {c.statement}** (the paper's {c.section}{where}). On {verdict.data}: "
                    f"**{summary(verdict)}**.")


def tally(statuses: Mapping[str, str], what: str):
    """Which of several comparisons hold, as one formatted line (Markdown): ``statuses`` {name: status}."""
    from IPython.display import Markdown
    by = {s: [name for name, got in statuses.items() if got == s] for s in STATUSES}
    parts = "; ".join(f"{s}: {', '.join(map(str, names)) or '–'}" for s, names in by.items())
    return Markdown(f"> **{what}** {parts}.")


def claims_frame(verdicts: Sequence[ClaimVerdict], profile: str) -> pd.DataFrame:
    """The claims page's table: per claim, the paper's section and numbers, our decisive result with its 95 %
    interval, the data and profile it was measured on, and the status."""
    rows = []
    for v in verdicts:
        level = isinstance(v.claim.parts[0], Level)
        paper = [p.paper for p in v.claim.parts if p.paper is not None]
        d = v.decisive
        n = len(v.parts)
        ours = f"{_fmt(d['ours'], not level)} {interval_text(d['low'], d['high'])}"
        rows.append({
            "claim": v.claim.key, "statement": v.claim.statement, "paper": v.claim.section,
            "paper's number (Music-AVQA)": ", ".join(_fmt(x, not level) for x in paper) if paper else "–",
            "ours, 95 % interval": ours if n == 1 else f"{d['comparison']}: {ours}",
            "parts holding": f"{int((v.parts['status'] == HOLDS).sum())} of {n}",
            "measured on": f"{v.data}; profile '{profile}'", "status": v.status})
    return pd.DataFrame(rows)


__all__ = ["HOLDS", "FAILS", "UNDECIDED", "STATUSES", "LEVEL", "REGIONS", "LEVEL_TOLERANCE", "decide", "combine",
           "support", "gap", "Comparison", "Level", "Claim", "column_subset", "judge_part", "judge", "judge_values",
           "ClaimVerdict", "judge_claim", "measured_on", "paper_claims", "claim_runs", "interval_text", "parts_frame",
           "styled", "show_parts", "summary", "note", "tally", "claims_frame"]
