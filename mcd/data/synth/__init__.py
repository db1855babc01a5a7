"""SynthAVQA: a generated audio-visual QA data set that speaks Music-AVQA's language exactly.

Every video has a latent scene (setting, instruments with position, visibility, sounding seconds, loudness and
rhythm, an optional voiceover). Features are rendered from the scene and the 33 real question templates are
filled in from it, with the answer computed from the scene, so that an oracle reading ``scenes.json`` scores
100% and a model has to read the modality that each question type needs. Version 2.0 (the design notes:
``book/notes/synthavqa.md``) chooses the questions so that each template's answers follow the real Music-AVQA
distribution (``answer_priors.csv``), pools frames with position, and has a larger test split.

One module per concern:

- ``profiles``: the knobs and the named profiles;            ``scenes``: the latent scenes;
- ``render``: the features (audio, patches, frames);           ``questions``: templates, answers, oracle, evidence;
- ``answer_priors``: the real answer counts shipped as a table; ``choose``: which questions each video is asked;
- ``write``: the official layout, the card, ``generate`` and ``ensure``; ``multiple_choice``: the AVQA-format view;
- ``card``: the data card's tables (answer distributions, priors, oracle) and the position probes; the power
  table is ``mcd.stats.power_table``.
"""
from mcd.data.synth.card import (answer_distributions, answer_shares_long, card_tables, distances_by_type,
                                 distribution_distances, oracle_accuracy, position_probes, question_prior_accuracy,
                                 question_priors)
from mcd.data.synth.multiple_choice import (ANNOTATION_DIR, AVQA_RELATION, AVQA_TYPE_OF, MC_FAMILIES, MC_FAMILY_OF,
                                            NUM_OPTIONS, avqa_view)
from mcd.data.synth.profiles import ANSWER_PRIORS, PROFILES, SPLITS, SYNTH_VERSION, SynthProfile, resolve_profile
from mcd.data.synth.questions import BA, FL, LL, LRER, TEMPLATES, TH, oracle_answer
from mcd.data.synth.render import pool_frames
from mcd.data.synth.scenes import LR, SETTINGS
from mcd.data.synth.write import CARD_NAME, bench_report, ensure, ensure_for, generate, read_card

__all__ = ["ANNOTATION_DIR", "ANSWER_PRIORS", "AVQA_RELATION", "AVQA_TYPE_OF", "BA", "CARD_NAME", "FL", "LL", "LR",
           "LRER", "MC_FAMILIES", "MC_FAMILY_OF", "NUM_OPTIONS", "PROFILES", "SETTINGS", "SPLITS", "SYNTH_VERSION",
           "TEMPLATES", "TH", "SynthProfile", "answer_distributions", "answer_shares_long", "avqa_view",
           "bench_report", "card_tables", "distances_by_type", "distribution_distances", "ensure", "ensure_for",
           "generate", "oracle_accuracy", "oracle_answer", "pool_frames", "position_probes",
           "question_prior_accuracy", "question_priors", "read_card", "resolve_profile"]
