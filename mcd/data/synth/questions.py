"""The 33 Music-AVQA templates, each with the function that answers it from a latent scene (the oracle) and the
function that lists its candidate template values for a scene, and the evidence of each answer (the seconds and
positions that hold it, written to ``evidence.json``).

Audio properties are linked to what is seen through the instrument type only, so questions that compare audio
properties are asked only where the type is heard from a single instrument (off-screen instruments are never of
a type that is also on screen).
"""
from __future__ import annotations

import itertools
from collections import Counter
from typing import Callable, NamedTuple

from mcd.data.annotations import NUMBER_WORDS, QUESTION_TYPES, parse_record
from mcd.data.synth.scenes import INSTRUMENT_INDEX, LR

# Placeholder values of the templates (<LR> is also where a visible instrument stands: scenes.LR).
LL = ("loudest", "lowest")
TH = ("first", "second", "third", "fourth", "fifth")
FL = ("first", "last")
BA = ("before", "after")
LRER = ("leftest", "rightest")
SIDES = ("left", "right")  # "the instrument on the <LR> of X" only makes sense to the left or the right
# Margins below which an audio comparison is not asked (the generator skips it; the oracle refuses it).
LOUDNESS_MARGIN = 0.25
RHYTHM_MARGIN = 0.25


class Answer(NamedTuple):
    answer: str
    relevant: tuple[int, ...]                 # instruments whose properties decide the answer
    seconds: tuple[int, ...] | None = None    # evidence seconds, when not the relevant instruments' sounding ones
    positions: tuple[str, ...] | None = None


class View:
    """Read-only look-ups over one scene, shared by the answer functions (the oracle) and the generator."""

    def __init__(self, scene: dict, absent: tuple[str, ...] = ()):
        self.T = scene["seconds"]
        self.setting = scene["setting"]
        self.voiceover = scene["voiceover"]
        self.inst = scene["instruments"]
        ids = range(len(self.inst))
        self.sounding = [i for i in ids if self.inst[i]["onset"] is not None]
        self.visible = [i for i in ids if self.inst[i]["visible"]]
        self.vis_sounding = [i for i in self.visible if self.inst[i]["onset"] is not None]
        self.heard = Counter(self.inst[i]["type"] for i in self.sounding)
        # Candidate <Object> values: the scene's types, plus a few absent ones for "no" and "zero" answers.
        self.objects = sorted({x["type"] for x in self.inst}, key=INSTRUMENT_INDEX.get) + list(absent)
        self.visible_types = sorted({self.inst[i]["type"] for i in self.visible}, key=INSTRUMENT_INDEX.get)

    def kind(self, i: int) -> str:
        return self.inst[i]["type"]

    def of(self, obj: str, among: list[int]) -> list[int]:
        return [i for i in among if self.inst[i]["type"] == obj]

    def at(self, pos: str) -> list[int]:
        return [i for i in self.visible if self.inst[i]["position"] == pos]

    def solo(self, i: int) -> bool:
        """i sounds and is the only instrument of its type that sounds, so its audio can be told apart."""
        return self.inst[i]["onset"] is not None and self.heard[self.kind(i)] == 1

    def onset(self, i: int) -> int:
        return self.inst[i]["onset"]

    def one_kind(self, group: list[int]) -> str | None:
        kinds = {self.kind(i) for i in group}
        return kinds.pop() if len(kinds) == 1 else None

    def extreme(self, among: list[int], fl: str) -> list[int]:
        """The instruments that come in first (or last) among ``among``."""
        if not among:
            return []
        target = (min if fl == "first" else max)(self.onset(i) for i in among)
        return [i for i in among if self.onset(i) == target]

    def entry_groups(self, among: list[int]) -> list[list[int]]:
        """``among`` grouped by onset, in order of entry."""
        return [[i for i in among if self.onset(i) == o] for o in sorted({self.onset(i) for i in among})]

    def neighbour(self, i: int, side: str) -> list[int]:
        """The visible instruments at the nearest occupied position on ``side`` of instrument i."""
        k = LR.index(self.inst[i]["position"])
        order = range(k - 1, -1, -1) if side == "left" else range(k + 1, len(LR))
        for j in order:
            if group := self.at(LR[j]):
                return group
        return []

    def compare(self, a: int, b: int, key: str) -> str | None:
        """yes/no for "a has more <key> than b", or None where the audio cannot tell them apart."""
        if not (self.solo(a) and self.solo(b)):
            return None
        if key == "duration":
            va, vb = (self.inst[i]["offset"] - self.onset(i) for i in (a, b))
            margin = max(2, self.T // 10)
        else:
            va, vb = self.inst[a][key], self.inst[b][key]
            margin = LOUDNESS_MARGIN if key == "loudness" else RHYTHM_MARGIN
        if abs(va - vb) < margin:
            return None
        return "yes" if va > vb else "no"


def _yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def _number(n: int) -> str:
    return NUMBER_WORDS[n] if n <= 10 else NUMBER_WORDS[-1]


def _single(v: View, obj: str, among: list[int]) -> int | None:
    found = v.of(obj, among)
    return found[0] if len(found) == 1 else None


# One function per template: (view, templ_values) -> Answer, or None where the question is not well posed.

def _a_is_there(v, vals):
    rel = v.of(vals[0], v.sounding)
    return Answer(_yes_no(bool(rel)), tuple(rel))


def _a_are_there(v, vals):
    if vals[0] == vals[1]:
        return None
    a, b = v.of(vals[0], v.sounding), v.of(vals[1], v.sounding)
    return Answer(_yes_no(bool(a) and bool(b)), tuple(a + b))


def _a_how_many(v, vals):
    return Answer(_number(len(v.sounding)), tuple(v.sounding))


def _a_compare(key):
    def answer(v, vals):
        a, b = _single(v, vals[0], v.sounding), _single(v, vals[1], v.sounding)
        if a is None or b is None or a == b:
            return None
        ans = v.compare(a, b, key)
        return ans and Answer(ans, (a, b))
    return answer


def _v_is_there(v, vals):
    rel = v.of(vals[0], v.visible)
    return Answer(_yes_no(bool(rel)), tuple(rel))


def _v_are_there(v, vals):
    if vals[0] == vals[1]:
        return None
    a, b = v.of(vals[0], v.visible), v.of(vals[1], v.visible)
    return Answer(_yes_no(bool(a) and bool(b)), tuple(a + b))


def _v_how_many(v, vals):
    rel = v.of(vals[0], v.visible)
    return Answer(_number(len(rel)), tuple(rel))


def _v_how_many_types(v, vals):
    return Answer(_number(len(v.visible_types)), tuple(v.visible))


def _v_beside(v, vals):
    side, obj = vals
    i = _single(v, obj, v.visible)
    if i is None:
        return None
    group = v.neighbour(i, side)
    kind = v.one_kind(group)
    return kind and Answer(kind, (i, *group))


def _v_extreme_side(v, vals):
    occupied = [pos for pos in LR if v.at(pos)]
    if len(occupied) < 2:
        return None
    group = v.at(occupied[0] if vals[0] == "leftest" else occupied[-1])
    kind = v.one_kind(group)
    return kind and Answer(kind, tuple(group))


def _v_what_kind(v, vals):
    if len(v.visible_types) != 1:
        return None
    return Answer(v.visible_types[0], tuple(v.visible))


def _v_where(v, vals):
    return Answer(v.setting, (), seconds=tuple(range(v.T)), positions=LR)


def _av_always(v, vals):
    i = _single(v, vals[0], v.visible)
    if i is None:
        return None
    x = v.inst[i]
    return Answer(_yes_no(x["onset"] == 0 and x["offset"] == v.T), (i,))


def _av_voiceover(v, vals):
    vo = v.voiceover
    seconds = tuple(range(vo["onset"], vo["offset"])) if vo else tuple(range(v.T))
    return Answer(_yes_no(vo is not None), (), seconds=seconds, positions=())


def _av_from_video(v, vals):
    if not v.sounding:
        return None
    unseen = [i for i in v.sounding if not v.inst[i]["visible"]]
    return Answer(_yes_no(not unseen), tuple(unseen or v.sounding))


def _av_how_many_sounding(v, vals):
    return Answer(_number(len(v.vis_sounding)), tuple(v.vis_sounding))


def _av_how_many_silent(v, vals):
    """Read as "did not sound at all, from beginning to end"."""
    silent = [i for i in v.visible if v.onset(i) is None]
    return Answer(_number(len(silent)), tuple(v.visible))


def _av_how_many_sounding_obj(v, vals):
    rel = v.of(vals[0], v.vis_sounding)
    return Answer(_number(len(rel)), tuple(rel))


def _av_how_many_sounding_types(v, vals):
    return Answer(_number(len({v.kind(i) for i in v.vis_sounding})), tuple(v.vis_sounding))


def _av_fl_from(v, vals):
    """First / last by onset, as in every temporal template; an off-screen first sound comes from no position."""
    fl, pos = vals
    first = v.extreme(v.sounding, fl)  # off-screen instruments count: their sound is not from any position
    there = v.at(pos)
    if len(first) != 1 or len(there) > 1:
        return None
    return Answer(_yes_no(first == there), (*first, *there))


def _av_beside_fl(v, vals):
    """Read as "the instrument to the <LR> of the first / last instrument to come in" (like "on the <LR> of")."""
    side, fl = vals
    first = v.extreme(v.vis_sounding, fl)
    if len(first) != 1:
        return None
    group = v.neighbour(first[0], side)
    kind = v.one_kind(group)
    return kind and Answer(kind, (*first, *group))


def _av_where_ll(v, vals):
    """"lowest" is read as the quietest, the counterpart of "loudest"."""
    if len(v.vis_sounding) < 2:
        return None
    ranked = sorted(v.vis_sounding, key=lambda i: v.inst[i]["loudness"], reverse=vals[0] == "loudest")
    top, runner = ranked[0], ranked[1]
    if not v.solo(top) or abs(v.inst[top]["loudness"] - v.inst[runner]["loudness"]) < LOUDNESS_MARGIN:
        return None
    return Answer(v.inst[top]["position"], (top,))


def _av_same_time(v, vals):
    i = _single(v, vals[0], v.vis_sounding)
    if i is None or not v.solo(i):
        return None
    a, b = v.inst[i]["onset"], v.inst[i]["offset"]
    overlapping = [j for j in v.vis_sounding if v.kind(j) != vals[0]
                   and min(b, v.inst[j]["offset"]) - max(a, v.onset(j)) >= 1]
    kind = v.one_kind(overlapping)
    return kind and Answer(kind, (i, *overlapping))


def _av_compare_named(key):
    def answer(v, vals):
        obj_a, pos_a, obj_b, pos_b = vals
        at_a, at_b = v.at(pos_a), v.at(pos_b)
        if pos_a == pos_b or len(at_a) != 1 or len(at_b) != 1:
            return None
        a, b = at_a[0], at_b[0]
        if v.kind(a) != obj_a or v.kind(b) != obj_b:
            return None
        ans = v.compare(a, b, key)
        return ans and Answer(ans, (a, b))
    return answer


def _av_compare_at(key):
    def answer(v, vals):
        at_a, at_b = v.at(vals[0]), v.at(vals[1])
        if vals[0] == vals[1] or len(at_a) != 1 or len(at_b) != 1:
            return None
        ans = v.compare(at_a[0], at_b[0], key)
        return ans and Answer(ans, (at_a[0], at_b[0]))
    return answer


def _av_th_comes_in(v, vals):
    """The <TH> entry among the instruments in the video (an off-screen entry does not count)."""
    groups = v.entry_groups(v.vis_sounding)
    k = TH.index(vals[0])
    if k >= len(groups):
        return None
    kind = v.one_kind(groups[k])
    return kind and Answer(kind, tuple(groups[k]))


def _av_which_obj_fl(v, vals):
    """Of two or more sounding <Object>s, the position of the one that comes in first / last, or
    "simultaneously" when they all come in together."""
    obj, fl = vals
    rel = v.of(obj, v.vis_sounding)
    if len(rel) < 2:
        return None
    if len({v.onset(i) for i in rel}) == 1:
        return Answer("simultaneously", tuple(rel))
    first = v.extreme(rel, fl)
    return Answer(v.inst[first[0]]["position"], tuple(rel)) if len(first) == 1 else None


def _av_before_after(v, vals):
    ba, obj = vals
    i = _single(v, obj, v.vis_sounding)
    if i is None:
        return None
    groups = v.entry_groups(v.vis_sounding)
    k = next(n for n, g in enumerate(groups) if i in g) + (1 if ba == "after" else -1)
    if not 0 <= k < len(groups):
        return None
    kind = v.one_kind(groups[k])
    return kind and Answer(kind, (i, *groups[k]))


def _av_where_fl(v, vals):
    first = v.extreme(v.vis_sounding, vals[0])
    return Answer(v.inst[first[0]]["position"], tuple(first)) if len(first) == 1 else None


# Candidate templ_values of each template for one scene (the answer functions weed out the ill-posed ones).

def _none(v):
    return [()]


def _objects(v):
    return [(o,) for o in v.objects]


def _object_pairs(v):
    return list(itertools.permutations(v.objects, 2))


def _heard_pairs(v):
    return list(itertools.permutations([o for o in v.objects if v.heard[o] == 1], 2))


def _visible_objects(v):
    return [(o,) for o in v.visible_types]


def _placed_pairs(v):
    placed = [(v.kind(i), v.inst[i]["position"]) for i in v.vis_sounding]
    return [(*a, *b) for a, b in itertools.permutations(placed, 2)]


def _product(*domains):
    return lambda v: list(itertools.product(*domains))


class Template(NamedTuple):
    qtype: tuple[str, str]
    text: str
    answer: Callable
    values: Callable


_A_COUNT, _A_COMP = QUESTION_TYPES[0], QUESTION_TYPES[1]
_V_COUNT, _V_LOC = QUESTION_TYPES[2], QUESTION_TYPES[3]
_AV_EXIST, _AV_COUNT, _AV_LOC, _AV_COMP, _AV_TEMP = QUESTION_TYPES[4:]

# The 33 Music-AVQA templates, with their exact text (trailing spaces and the full-width question mark included).
QUESTION_TEMPLATES: list[Template] = [
    Template(_A_COUNT, "Is there a <Object> sound?", _a_is_there, _objects),
    Template(_A_COUNT, "Are there <Object> and <Object> sound? ", _a_are_there, _object_pairs),
    Template(_A_COUNT, "How many musical instruments were heard throughout the video?", _a_how_many, _none),
    Template(_A_COMP, "Is the <Object> louder than the <Object>?", _a_compare("loudness"), _heard_pairs),
    Template(_A_COMP, "Is the <Object> more rhythmic than the <Object>?", _a_compare("rhythm"), _heard_pairs),
    Template(_A_COMP, "Is the <Object> playing longer than the <Object>?", _a_compare("duration"), _heard_pairs),
    Template(_V_COUNT, "Is there a <Object> in the entire video?", _v_is_there, _objects),
    Template(_V_COUNT, "Are there <Object> and <Object> instruments in the video?", _v_are_there, _object_pairs),
    Template(_V_COUNT, "How many <Object> are in the entire video?", _v_how_many, _objects),
    Template(_V_COUNT, "How many types of musical instruments appeared in the entire video?", _v_how_many_types,
             _none),
    Template(_V_LOC, "What is the instrument on the <LR> of <Object>?", _v_beside,
             lambda v: list(itertools.product(SIDES, v.visible_types))),
    Template(_V_LOC, "What kind of instrument is the <LRer> instrument? ", _v_extreme_side, _product(LRER)),
    Template(_V_LOC, "What kind of musical instrument is it?", _v_what_kind, _none),
    Template(_V_LOC, "Where is the performance?", _v_where, _none),
    Template(_AV_EXIST, "Is the <Object> in the video always playing?", _av_always, _visible_objects),
    Template(_AV_EXIST, "Is there a voiceover?", _av_voiceover, _none),
    Template(_AV_EXIST, "Is this sound from the instrument in the video?", _av_from_video, _none),
    Template(_AV_COUNT, "How many instruments are sounding in the video?", _av_how_many_sounding, _none),
    Template(_AV_COUNT, "How many instruments in the video did not sound from beginning to end?",
             _av_how_many_silent, _none),
    Template(_AV_COUNT, "How many sounding <Object> in the video？", _av_how_many_sounding_obj, _objects),
    Template(_AV_COUNT, "How many types of musical instruments sound in the video?", _av_how_many_sounding_types,
             _none),
    Template(_AV_LOC, "Is the <FL> sound coming from the <LR> instrument?", _av_fl_from, _product(FL, LR)),
    Template(_AV_LOC, "What is the <LR> instrument of the <FL> sounding instrument?", _av_beside_fl,
             _product(SIDES, FL)),
    Template(_AV_LOC, "Where is the <LL> instrument?", _av_where_ll, _product(LL)),
    Template(_AV_LOC, "Which is the musical instrument that sounds at the same time as the <Object>?",
             _av_same_time, _visible_objects),
    Template(_AV_COMP, "Is the <Object> on the <LR> louder than the <Object> on the <LR>?",
             _av_compare_named("loudness"), _placed_pairs),
    Template(_AV_COMP, "Is the <Object> on the <LR> more rhythmic than the <Object> on the <LR>?",
             _av_compare_named("rhythm"), _placed_pairs),
    Template(_AV_COMP, "Is the instrument on the <LR> louder than the instrument on the <LR>?",
             _av_compare_at("loudness"), lambda v: list(itertools.permutations(LR, 2))),
    Template(_AV_COMP, "Is the instrument on the <LR> more rhythmic than the instrument on the <LR>?",
             _av_compare_at("rhythm"), lambda v: list(itertools.permutations(LR, 2))),
    Template(_AV_TEMP, "What is the <TH> instrument that comes in?", _av_th_comes_in, _product(TH)),
    Template(_AV_TEMP, "Which <Object> makes the sound <FL>?", _av_which_obj_fl,
             lambda v: list(itertools.product(v.visible_types, FL))),
    Template(_AV_TEMP, "Which instrument makes sounds <BA> the <Object>?", _av_before_after,
             lambda v: list(itertools.product(BA, v.visible_types))),
    Template(_AV_TEMP, "Where is the <FL> sounding instrument?", _av_where_fl, _product(FL)),
]
TEMPLATES: list[tuple[tuple[str, str], str]] = [(t.qtype, t.text) for t in QUESTION_TEMPLATES]
BY_KEY = {(t.qtype, t.text): t for t in QUESTION_TEMPLATES}


def answer_record(scene: dict, record: dict) -> tuple[Template, Answer]:
    rec = parse_record(record)
    tpl = BY_KEY.get((QUESTION_TYPES[rec.qtype], rec.question))
    if tpl is None:
        raise ValueError(f"not a Music-AVQA template: {rec.question!r} ({rec.type_name})")
    ans = tpl.answer(View(scene), list(rec.templ_values))
    if ans is None:
        raise ValueError(f"question {rec.question!r} {list(rec.templ_values)} is not well posed for video "
                         f"{scene['video_id']}")
    return tpl, ans


def oracle_answer(scene: dict, record: dict) -> str:
    """The answer of an official-format record, computed from the video's latent scene."""
    return answer_record(scene, record)[1].answer


def evidence(v: View, tpl: Template, ans: Answer) -> dict:
    """Seconds and positions holding the evidence: visual questions look at the whole video, the others at the
    seconds in which the relevant instruments sound (the whole video when none does)."""
    seconds = ans.seconds
    if seconds is None:
        heard = sorted({s for i in ans.relevant if v.onset(i) is not None
                        for s in range(v.onset(i), v.inst[i]["offset"])})
        seconds = tuple(range(v.T)) if tpl.qtype[0] == "Visual" or not heard else heard
    positions = ans.positions
    if positions is None:
        placed = {v.inst[i]["position"] for i in ans.relevant if v.inst[i]["visible"]}
        positions = tuple(p for p in LR if p in placed)
    return {"seconds": list(seconds), "positions": list(positions)}

