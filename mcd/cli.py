"""The ``mcd`` command line: thin wrappers over the package.

    mcd data synth --root data/synthavqa-default --profile default [--seed 1] | mcd data synth --bench
    mcd data check ROOT [--annotations DIR] [--patches patches]
    mcd data download --dest data/music_avqa
    mcd train --config configs/mcd.yaml train.epochs=5 model.mcd.num_blocks=3
    mcd eval RUN_DIR --split test
    mcd answer RUN_DIR --video VIDEO_ID
    mcd profile | mcd bench
    mcd study [--profile tiny]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _data_cfg(args):
    from mcd.config import DataConfig
    return DataConfig(root=args.root, annotation_root=args.annotations, version=args.version,
                      audio_feats=args.audio, visual_feats=args.visual, patch_feats=args.patches,
                      seconds=args.seconds, synth_profile=None, format=args.format,
                      **({"train_files": args.train} if args.train else {}))


def cmd_synth(args) -> int:
    from mcd.data import synth
    if args.bench:
        print(synth.bench_report(args.profile, args.seed, repeats=args.repeats).to_string())
        return 0
    card = synth.generate(Path(args.root), args.profile, args.seed, extra_visual_sets=args.extra_visual_sets,
                          multiple_choice=args.multiple_choice)
    print(json.dumps({k: card[k] for k in card if k in ("version", "profile", "seed", "counts")}, indent=1))
    return 0


def cmd_check(args) -> int:
    from mcd.data.check import check
    report = check(_data_cfg(args), progress=True)
    print("\n".join(report.lines()))
    return 0 if report.ok else 1


def cmd_download(args) -> int:
    from mcd.data.download import download
    download(Path(args.dest))
    return 0


def cmd_train(args) -> int:
    from mcd.config import load_config
    from mcd.data.synth import ensure_for
    from mcd.train import train
    cfg = load_config(args.config, args.overrides)
    ensure_for(cfg.data, progress=cfg.train.progress)   # SynthAVQA, when the config names a profile and it is missing
    out = train(cfg, out=Path(args.out) if args.out else None, resume=not args.restart)
    print(f"run folder: {out}")
    print(json.dumps(json.loads((out / "scores.json").read_text())["test"], indent=1))
    return 0


def cmd_eval(args) -> int:
    from mcd.inference import evaluate_run
    scores = evaluate_run(Path(args.run), args.split, args.overrides, out=args.out)
    print(json.dumps(scores, indent=1))
    return 0


def cmd_answer(args) -> int:
    from mcd.inference import answer_video
    table = answer_video(Path(args.run), args.video, args.overrides, question=args.question, qtype=args.type,
                         values=args.values)
    print(table.to_string(index=False))
    return 0


def cmd_profile(args) -> int:
    from mcd.profile import profile_report
    print(profile_report(args.overrides).to_string())
    return 0


def cmd_bench(args) -> int:
    from mcd.profile import bench_report
    print(bench_report(args.model, args.overrides, batch_size=args.batch_size, steps=args.steps,
                       device=args.device, precision=args.precision).to_string())
    return 0


def cmd_study(args) -> int:
    from mcd.study import run_study
    run_study(profile=args.profile, build_book=not args.no_book, notebooks=args.only, jobs=args.jobs)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mcd", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="generate, check or download data sets").add_subparsers(dest="data_cmd",
                                                                                               required=True)
    s = data.add_parser("synth", help="generate SynthAVQA in the official layout")
    s.add_argument("--root", default="data/synthavqa-default")
    s.add_argument("--profile", default="default")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--extra-visual-sets", action="store_true", help="also write the emulated backbone feature sets")
    s.add_argument("--multiple-choice", action="store_true", help="also write the AVQA-format multiple-choice view")
    s.add_argument("--bench", action="store_true",
                   help="time the generation of the profile (into a temporary folder) instead of writing --root")
    s.add_argument("--repeats", type=int, default=1, help="with --bench: generations timed per variant")
    s.set_defaults(func=cmd_synth)

    c = data.add_parser("check", help="list every problem of a data set in one pass")
    c.add_argument("root", help="folder holding feats/ (and the annotations unless --annotations)")
    c.add_argument("--annotations", default=None, help="folder holding json/ and json_update/")
    c.add_argument("--version", default="json_update", choices=["json", "json_update"])
    c.add_argument("--format", default="music_avqa", choices=["music_avqa", "avqa"],
                   help="annotation format: Music-AVQA, or AVQA (Yang et al., multiple choice)")
    c.add_argument("--train", nargs="+", default=None, help="train annotation files, relative to the annotations")
    c.add_argument("--audio", default="vggish", help="audio feature set (folder under feats/); 'none' to skip")
    c.add_argument("--visual", default="frames", help="visual frame feature set; 'none' to skip")
    c.add_argument("--patches", default=None, help="patch feature set, if any")
    c.add_argument("--seconds", type=int, default=60)
    c.set_defaults(func=cmd_check)

    d = data.add_parser("download", help="fetch the official Music-AVQA annotation files and verify them")
    d.add_argument("--dest", default="data/music_avqa")
    d.set_defaults(func=cmd_download)

    t = sub.add_parser("train", help="train a model from a YAML config with key=value overrides")
    t.add_argument("--config", "-c", default=None)
    t.add_argument("--out", default=None, help="run folder (default: runs/{name}-{config hash})")
    t.add_argument("--restart", action="store_true", help="ignore a partial run in the folder instead of resuming")
    t.add_argument("overrides", nargs="*", help="dotted overrides, e.g. train.epochs=5")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("eval", help="evaluate a run's best checkpoint on a split")
    e.add_argument("run")
    e.add_argument("--split", default="test", choices=["train", "val", "test"])
    e.add_argument("--out", default=None, help="write the per-question predictions to this CSV")
    e.add_argument("overrides", nargs="*", help="data overrides, e.g. data.root=... data.version=json")
    e.set_defaults(func=cmd_eval)

    a = sub.add_parser("answer", help="answer the questions of one video from its feature files")
    a.add_argument("run")
    a.add_argument("--video", required=True)
    a.add_argument("--question", default=None, help="a question template, e.g. 'Is there a <Object> sound?'")
    a.add_argument("--type", default=None, help="its type, e.g. Audio/Counting (with --question)")
    a.add_argument("--values", nargs="*", default=[], help="its template values (with --question)")
    a.add_argument("overrides", nargs="*", help="data overrides, e.g. data.root=...")
    a.set_defaults(func=cmd_answer)

    pr = sub.add_parser("profile", help="parameters and per-sample cost of every model (Table VIII)")
    pr.add_argument("overrides", nargs="*")
    pr.set_defaults(func=cmd_profile)

    b = sub.add_parser("bench", help="training and inference samples/s, and achieved FLOP/s vs a dense matmul")
    b.add_argument("--model", nargs="+", default=["mcd"])
    b.add_argument("--batch-size", type=int, default=64)
    b.add_argument("--steps", type=int, default=10)
    b.add_argument("--device", default="cpu")
    b.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    b.add_argument("overrides", nargs="*")
    b.set_defaults(func=cmd_bench)

    st = sub.add_parser("study", help="execute every notebook with papermill and build the book")
    st.add_argument("--profile", default="default", help="SynthAVQA profile: tiny (minutes) or default (the book)")
    st.add_argument("--no-book", action="store_true")
    st.add_argument("--only", nargs="*", default=None, help="run only these notebooks (stems)")
    st.add_argument("--jobs", type=int, default=2, help="notebooks executed at once, each on its share of the cores")
    st.set_defaults(func=cmd_study)
    return p


def main(argv=None) -> int:
    from mcd.config import ConfigError
    from mcd.errors import DataError, TrainingError
    args = build_parser().parse_args(argv)
    for attr in ("audio", "visual", "patches"):
        if getattr(args, attr, None) == "none":
            setattr(args, attr, None)
    try:
        return args.func(args)
    except (DataError, TrainingError, ConfigError, ValueError, FileNotFoundError) as e:
        print(f"mcd: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
