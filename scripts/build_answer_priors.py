"""Rebuild SynthAVQA's answer-prior table (mcd/data/synth/answer_priors.csv) from the real Music-AVQA annotations.

    python scripts/build_answer_priors.py [--annotations DIR] [--out FILE]

DIR holds json_update/ and partial_train_reconstruction/ (default: the folder mcd.real_data.annotation_root finds:
$MCD_MUSIC_AVQA, ../shared/data/music_avqa, data/music_avqa). Only counts are written, never the records.
"""
from __future__ import annotations

import argparse
import datetime
from pathlib import Path

from mcd.data.synth import answer_priors
from mcd.io import atomic_write_text
from mcd.real_data import annotation_root

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "mcd" / "data" / "synth" / answer_priors.TABLE_NAME


def main(argv=None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--annotations", default=None, help="the Music-AVQA annotation folder")
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    args = parser.parse_args(argv)
    table, provenance = answer_priors.build_table(annotation_root(args.annotations))
    text = answer_priors.table_text(table, provenance, built=datetime.date.today().isoformat())
    atomic_write_text(args.out, text)
    print(f"{len(table)} (template, answer) rows over {table['template'].nunique()} templates -> {args.out}")
    return Path(args.out)


if __name__ == "__main__":
    main()
