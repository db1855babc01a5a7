"""The paper's reported numbers: facts to put beside ours, never expected outputs.

They live in one place, ``mcd/paper_numbers/*.csv`` (transcribed from the paper; see the README there).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

PAPER_DIR = Path(__file__).parent / "paper_numbers"
TABLES = {
    "I": "table1_datasets", "II": "table2_modalities", "III": "table3_music_avqa_sota", "IV": "table4_backbones",
    "V": "table5_avqa", "VI": "table6_text_encoder", "VII": "table7_attention", "VIII": "table8_efficiency",
    "IX": "table9_lef", "X": "table10_contrastive",
}
# Column names of the paper's CSVs -> the names our score dicts use.
SCORE_NAMES = {
    "audio_count": "A-Count", "audio_comp": "A-Comp", "visual_count": "V-Count", "visual_local": "V-Loc",
    "av_exist": "AV-Exist", "av_count": "AV-Count", "av_local": "AV-Loc", "av_comp": "AV-Comp",
    "av_temp": "AV-Temp", "audio_avg": "Audio", "visual_avg": "Visual", "av_avg": "Audio-Visual",
    "overall": "overall", "overall_accuracy": "overall",
}


def paper_table(table: str) -> pd.DataFrame:
    """A table of the paper by its roman numeral ("II") or file stem, with our score names as columns."""
    stem = TABLES.get(table, table)
    return pd.read_csv(PAPER_DIR / f"{stem}.csv").rename(columns=SCORE_NAMES)
