"""The multiple-choice view: the SAME questions also written in the AVQA format of Yang et al. as
``{train,val,test}_qa.json`` beside ``json_update/`` (read with ``data.format=avqa``): 4 options per question (the
answer and 3 distractors from the template's answer family, see ``MC_FAMILIES``), the answer's position balanced
per split by the seed, and each template given one of AVQA's 8 question types (``AVQA_TYPE_OF``: an emulation,
music scenes have no "why" or "used for")."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from mcd.data.annotations import ANSWERS, INSTRUMENTS, NUMBER_WORDS, QUESTION_TYPES, parse_record, read_json_list
from mcd.data.layout import OFFICIAL_FILES
from mcd.data.synth.profiles import SPLITS
from mcd.data.synth.questions import QUESTION_TEMPLATES
from mcd.data.synth.scenes import LR, SETTINGS

ANNOTATION_DIR = "json_update"
SPLIT_FILES = OFFICIAL_FILES["avqa"]

# Each template's AVQA question type (an emulation: the nearest of the 8 in meaning; "Why" and "Used For" have no
# counterpart in music scenes and take the sound-cause and instrument-identity templates) and its answer family,
# from which the distractors are drawn. In the order of QUESTION_TEMPLATES.
_AVQA_VIEW: list[tuple[str, str]] = [
    ("Come From", "yes/no"),      # Is there a <Object> sound?
    ("Come From", "yes/no"),      # Are there <Object> and <Object> sound?
    ("Come From", "count"),       # How many musical instruments were heard throughout the video?
    ("Which", "yes/no"),          # Is the <Object> louder than the <Object>?
    ("Which", "yes/no"),          # Is the <Object> more rhythmic than the <Object>?
    ("When", "yes/no"),           # Is the <Object> playing longer than the <Object>?
    ("Which", "yes/no"),          # Is there a <Object> in the entire video?
    ("Which", "yes/no"),          # Are there <Object> and <Object> instruments in the video?
    ("Which", "count"),           # How many <Object> are in the entire video?
    ("Happening", "count"),       # How many types of musical instruments appeared in the entire video?
    ("Which", "instrument"),      # What is the instrument on the <LR> of <Object>?
    ("Used For", "instrument"),   # What kind of instrument is the <LRer> instrument?
    ("Used For", "instrument"),   # What kind of musical instrument is it?
    ("Where", "setting"),         # Where is the performance?
    ("When", "yes/no"),           # Is the <Object> in the video always playing?
    ("Why", "yes/no"),            # Is there a voiceover?
    ("Why", "yes/no"),            # Is this sound from the instrument in the video?
    ("Happening", "count"),       # How many instruments are sounding in the video?
    ("Happening", "count"),       # How many instruments in the video did not sound from beginning to end?
    ("Happening", "count"),       # How many sounding <Object> in the video?
    ("Come From", "count"),       # How many types of musical instruments sound in the video?
    ("Come From", "yes/no"),      # Is the <FL> sound coming from the <LR> instrument?
    ("Which", "instrument"),      # What is the <LR> instrument of the <FL> sounding instrument?
    ("Where", "position"),        # Where is the <LL> instrument?
    ("When", "instrument"),       # Which is the musical instrument that sounds at the same time as the <Object>?
    ("Which", "yes/no"),          # Is the <Object> on the <LR> louder than the <Object> on the <LR>?
    ("Which", "yes/no"),          # Is the <Object> on the <LR> more rhythmic than the <Object> on the <LR>?
    ("Which", "yes/no"),          # Is the instrument on the <LR> louder than the instrument on the <LR>?
    ("Which", "yes/no"),          # Is the instrument on the <LR> more rhythmic than the instrument on the <LR>?
    ("Before Next", "instrument"),  # What is the <TH> instrument that comes in?
    ("When", "position"),         # Which <Object> makes the sound <FL>? (a position, or "simultaneously")
    ("Before Next", "instrument"),  # Which instrument makes sounds <BA> the <Object>?
    ("Where", "position"),        # Where is the <FL> sounding instrument?
]
AVQA_TYPE_OF: dict[tuple[tuple[str, str], str], str] = {
    (t.qtype, t.text): view[0] for t, view in zip(QUESTION_TEMPLATES, _AVQA_VIEW)}
# The answers plausible for a template. A family of fewer than 4 answers is completed from the other Music-AVQA
# answers, which a question-only model can rule out (chance stays 1/2 on yes/no, 1/2 on indoor/outdoor).
MC_FAMILIES: dict[str, tuple[str, ...]] = {
    "yes/no": ("yes", "no"),
    "count": tuple(NUMBER_WORDS),
    "instrument": tuple(INSTRUMENTS),
    "setting": SETTINGS,
    "position": (*LR, "simultaneously"),
}
MC_FAMILY_OF: dict[tuple[tuple[str, str], str], str] = {
    (t.qtype, t.text): view[1] for t, view in zip(QUESTION_TEMPLATES, _AVQA_VIEW)}
# question_relation of the view, from the Music-AVQA modality (AVQA files hold "View" and "Both"; "Sound" is assumed).
AVQA_RELATION = {"Audio": "Sound", "Visual": "View", "Audio-Visual": "Both"}
NUM_OPTIONS = 4


def _options(answer: str, family: str, seed: int, qid: int) -> list[str]:
    """The 3 distractors of one question, drawn by (seed, question id) alone."""
    rng = np.random.default_rng([seed, 16, qid])
    members = MC_FAMILIES[family]
    if answer not in members:
        raise ValueError(f"answer {answer!r} is not in the {family!r} family {members}")
    others = [a for a in members if a != answer]
    picked = [others[int(i)] for i in rng.choice(len(others), min(NUM_OPTIONS - 1, len(others)), replace=False)]
    if len(picked) < NUM_OPTIONS - 1:
        pool = [a for a in ANSWERS if a not in members]
        picked += [pool[int(i)] for i in rng.choice(len(pool), NUM_OPTIONS - 1 - len(picked), replace=False)]
    return picked


def avqa_view(records: dict[str, list[dict]], seed: int) -> dict[str, list[dict]]:
    """Music-AVQA-format records per split -> the same questions as AVQA-format records.

    Within each split the answer takes the 4 positions in turn, in a seeded order per block of 4 questions, so
    every position holds the answer for a quarter of the questions (to within one)."""
    out = {}
    for s_index, split in enumerate(SPLITS):
        rows = []
        for i, raw in enumerate(records[split]):
            rec = parse_record(raw)
            key = (QUESTION_TYPES[rec.qtype], rec.question)
            if i % NUM_OPTIONS == 0:
                slots = np.random.default_rng([seed, 17, s_index, i // NUM_OPTIONS]).permutation(NUM_OPTIONS)
            slot = int(slots[i % NUM_OPTIONS])
            options = _options(rec.answer, MC_FAMILY_OF[key], seed, int(rec.question_id))
            options.insert(slot, rec.answer)
            rows.append({"id": rec.question_id, "video_name": rec.video_id, "video_id": int(rec.video_id[1:]),
                         "question_text": rec.text, "multi_choice": options, "answer": slot,
                         "question_relation": AVQA_RELATION[rec.modality], "question_type": AVQA_TYPE_OF[key]})
        out[split] = rows
    return out


def write_avqa(folder: Path, seed: int) -> dict:
    """Write the AVQA-format view of the data set in ``folder`` beside its Music-AVQA files; returns the card's
    ``avqa`` entry. Each file is written under a temporary name and renamed into place."""
    records = {s: read_json_list(folder / ANNOTATION_DIR / f"avqa-{s}.json") for s in SPLITS}
    h = hashlib.sha256()
    view = avqa_view(records, seed)
    for s in SPLITS:
        data = json.dumps(view[s]).encode()
        tmp = folder / f"{SPLIT_FILES[s]}.tmp-{os.getpid()}"
        tmp.write_bytes(data)
        os.replace(tmp, folder / SPLIT_FILES[s])
        h.update(SPLIT_FILES[s].encode() + b"\0" + data)
    return {"files": [SPLIT_FILES[s] for s in SPLITS], "options": NUM_OPTIONS,
            "type_mapping": "emulation (synth.AVQA_TYPE_OF)", "content_hash": h.hexdigest()}

