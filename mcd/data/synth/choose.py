"""Which questions each video is asked, so that the answers of every template follow a target distribution.

The target (``targets``) is a joint distribution over (template, answer): with ``answer_prior="music_avqa"`` the
real train + val counts of the shipped table (``answer_priors.csv``), so that both the mix of templates and each
template's answers follow Music-AVQA; with ``"uniform"``, every template alike and its answers uniform (v1's
balance). Answers no scene of the data set can give (e.g. "more than ten" instruments) are dropped from the
target and the rest renormalised within the template; the data card reports the real mass dropped.

The choice never changes an answer, only which questions are asked, so every answer stays the scene's (the oracle
scores 100%). Per split, videos are visited in order; each asks ``qa_per_video`` questions of distinct templates,
one at a time, each time the (template, answer) pair the scene allows that is furthest behind its target: the
largest target share / (questions asked with the pair in the split + 1/2), the Sainte-Lague rule of
proportional apportionment. A pair that scenes rarely allow falls behind and is asked whenever one does; a pair
already at its share waits. Only the scenes are read.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np

from mcd.data.annotations import INSTRUMENTS, TYPE_NAMES, QUESTION_TYPES
from mcd.data.synth.answer_priors import target_counts
from mcd.data.synth.profiles import SPLITS, SynthProfile
from mcd.data.synth.questions import QUESTION_TEMPLATES, Answer, Template, View

Key = tuple[int, str]   # (template index, answer)


def type_name(tpl: Template) -> str:
    return TYPE_NAMES[QUESTION_TYPES.index(tpl.qtype)]


def candidates(scene: dict, rng: np.random.Generator) -> dict[Key, list[tuple[tuple, Answer]]]:
    """Every well-posed question of the scene, grouped by (template, answer). Two instruments absent from the
    scene (drawn by ``rng``) are offered as <Object> values too, for the "no" and "zero" answers."""
    present = {x["type"] for x in scene["instruments"]}
    absent = [x for x in INSTRUMENTS if x not in present]
    v = View(scene, tuple(absent[int(i)] for i in sorted(rng.choice(len(absent), 2, replace=False))))
    out: dict[Key, list] = defaultdict(list)
    for k, tpl in enumerate(QUESTION_TEMPLATES):
        for values in tpl.values(v):
            ans = tpl.answer(v, list(values))
            if ans is not None:
                out[(k, ans.answer)].append((values, ans))
    return out


def targets(answer_prior: str, reachable: set[Key]) -> dict[Key, float]:
    """The target share of every reachable (template, answer) pair (summing to 1)."""
    weights: dict[Key, float] = {}
    if answer_prior == "uniform":
        for k in range(len(QUESTION_TEMPLATES)):
            answers = [a for kk, a in reachable if kk == k]
            weights.update({(k, a): 1.0 / len(answers) for a in answers})
    else:
        real = target_counts()
        for k, tpl in enumerate(QUESTION_TEMPLATES):
            counts = real.get((type_name(tpl), tpl.text), {})
            kept = {a: n for a, n in counts.items() if (k, a) in reachable}
            if kept:   # the template keeps its real share; its answers are renormalised to those scenes give
                weights.update({(k, a): sum(counts.values()) * n / sum(kept.values()) for a, n in kept.items()})
    total = sum(weights.values())
    return {key: w / total for key, w in weights.items()}


def ask(scenes: list[dict], split_of: list[str], p: SynthProfile, seed: int
        ) -> tuple[list[tuple[int, Template, tuple, Answer]], dict[Key, float]]:
    """The questions of every video, (video index, template, values, answer) in video order, and the target.

    The train videos are asked first, and val and test questions only take answers that some train question has,
    so that the answer vocabulary built on train covers every split (as in the real release; it matters only
    for small data sets, where a rare answer may otherwise fall in test alone)."""
    rng = np.random.default_rng([seed, 12])
    pools = [candidates(scene, rng) for scene in scenes]
    target = targets(p.answer_prior, set().union(*pools))
    asked = {s: defaultdict(int) for s in SPLITS}
    train_answers: set[str] = set()
    out = []
    for video in sorted(range(len(scenes)), key=lambda v: split_of[v] != "train"):
        split, pool = split_of[video], pools[video]
        count = asked[split]
        keys = [key for key in pool if key in target and (split == "train" or key[1] in train_answers)]
        tiebreak = dict(zip(keys, rng.random(len(keys))))   # ties (the first questions of a split) go at random
        n_questions = int(p.qa_per_video) + int(rng.random() < p.qa_per_video % 1)
        used: set[int] = set()
        for _ in range(n_questions):
            open_keys = [key for key in keys if key[0] not in used]
            if not open_keys:
                break
            key = max(open_keys, key=lambda kk: (target[kk] / (count[kk] + 0.5), tiebreak[kk]))
            options = pool[key]
            values, ans = options[int(rng.integers(len(options)))]
            used.add(key[0])
            count[key] += 1
            if split == "train":
                train_answers.add(ans.answer)
            out.append((video, QUESTION_TEMPLATES[key[0]], values, ans))
    out.sort(key=lambda q: q[0])   # video order (stable: a video's questions keep the order they were asked in)
    return out, target
