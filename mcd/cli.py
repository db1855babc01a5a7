"""The ``mcd`` command line: thin wrappers over the package.

    mcd data synth --root data/synthavqa-default --profile default [--seed 1] | mcd data synth --bench
    mcd data check ROOT [--annotations DIR] [--patches patches]
    mcd data download --dest data/music_avqa
    mcd data download --predictions tspm
    mcd train --config configs/mcd.yaml train.epochs=5 model.mcd.num_blocks=3
    mcd eval RUN_DIR --split test
    mcd answer RUN_DIR --video VIDEO_ID
    mcd score PREDICTIONS [--annotations DIR] [--json]
    mcd compare A B [--disagreements PATH]
    mcd profile | mcd bench
    mcd study [--profile tiny]

Overrides (``key=value`` or ``section.key=value``) may stand anywhere on the line, before or after the flags:
``mcd eval RUN --split test data.root=X`` and ``mcd eval RUN data.root=X --split test`` are the same command.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

# An argument shaped like an override; it is taken out of the line before the flags are parsed.
OVERRIDE = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*=")


def _data_cfg(args):
    from mcd.config import DataConfig
    return DataConfig(root=args.root, annotation_root=args.annotations, version=args.version,
                      audio_feats=args.audio, visual_feats=args.visual, patch_feats=args.patches,
                      seconds=args.seconds, synth_profile=None, format=args.format,
                      allow_new_answers=args.allow_new_answers, **({"train_files": args.train} if args.train else {}))


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
    from mcd.data.download import download, download_predictions
    if args.predictions:
        path = download_predictions(args.predictions, Path(args.dest or "data/predictions"))
        print(f"{path}\nscore it with: mcd score {path}")
    else:
        download(Path(args.dest or "data/music_avqa"))
    return 0


def cmd_train(args) -> int:
    from mcd.config import load_config
    from mcd.data.synth import ensure_for
    from mcd.train import train
    cfg = load_config(args.config, args.overrides)
    ensure_for(cfg.data, progress=cfg.train.progress)   # SynthAVQA, when the config names a profile and it is missing
    out = train(cfg, out=Path(args.out) if args.out else None, resume=not args.restart,
                force_resume=args.force_resume)
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


def cmd_score(args) -> int:
    from mcd import score
    sets = score.question_sets(args.annotations, args.split)
    scored = score.score_file(args.predictions, sets, args.format, unknown_as_wrong=args.unknown_as_wrong)
    opts = {"n_boot": args.n_boot, "seed": args.seed, "level": args.level}
    table = score.interval_table(scored, **opts)
    print(json.dumps(score.scores_json(scored, table, **opts), indent=1) if args.json else
          score.format_scores(scored, table, **opts))
    return 0


def cmd_compare(args) -> int:
    from mcd import score
    from mcd.io import atomic_write_csv
    sets = score.question_sets(args.annotations, args.split)
    a, b = (score.score_file(f, sets, args.format, unknown_as_wrong=args.unknown_as_wrong) for f in (args.a, args.b))
    opts = {"n_boot": args.n_boot, "seed": args.seed, "level": args.level}
    table = score.compare(a, b, **opts)
    if args.disagreements:
        atomic_write_csv(Path(args.disagreements), score.disagreements(a, b))
    if args.json:
        print(json.dumps({"a": str(a.path), "b": str(b.path), "question_set": a.questions.name, **opts,
                          "rows": table.to_dict(orient="index")}, indent=1))
    else:
        print(score.format_comparison(a, b, table, **opts))
        if args.disagreements:
            print(f"questions answered right by one file only: {args.disagreements}")
    return 0


def _prediction_options(parser) -> None:
    """Options shared by ``score`` and ``compare``."""
    parser.add_argument("--format", default="auto", choices=["auto", "table", "answers", "correct"],
                        help="prediction file format: our prediction table, question_id + answer text, or "
                             "question_id + correct flag (TSPM-style); auto detects it")
    parser.add_argument("--annotations", default=None,
                        help="folder with json_update/ and json/ (Music-AVQA) or {split}_qa.json (AVQA); default: "
                             "$MCD_MUSIC_AVQA, ../shared/data/music_avqa, data/music_avqa")
    parser.add_argument("--split", default="test", choices=["test", "val"])
    parser.add_argument("--unknown-as-wrong", action="store_true",
                        help="score an answer outside the answer set as wrong instead of refusing the file")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--n-boot", type=positive_int, default=10_000, help="bootstrap draws")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    parser.add_argument("--level", type=float, default=0.95, help="interval level")


def _report(table, text: str, args, **extra) -> None:
    """Print the formatted table (or, with --json, everything as JSON); --csv PATH also writes every column."""
    from mcd.io import atomic_write_csv
    from mcd.profile import as_json
    if args.csv:
        atomic_write_csv(args.csv, table.reset_index() if table.index.name else table)
    print(as_json(table, **extra) if args.json else text)


def cmd_profile(args) -> int:
    from mcd.profile import format_profile, profile_report
    table = profile_report(args.overrides)
    _report(table, format_profile(table), args, overrides=args.overrides)
    return 0


def cmd_bench(args) -> int:
    from mcd.bench import bench_cases, bench_report, check_device, format_bench
    check_device(args.device, args.precision)   # refuse at once, before any model is built
    cases = bench_cases(all_models=args.all, overrides=args.overrides, batch_size=args.batch_size,
                        device=args.device)
    table = bench_report(cases, steps=args.steps, repeats=args.repeats, device=args.device,
                         precision=args.precision, threads=args.threads, breakdown=args.breakdown)
    _report(table, format_bench(table), args, overrides=args.overrides)
    return 0


def cmd_study(args) -> int:
    from mcd.study import run_study, verify_study
    if args.verify is not None or args.verify_runs:
        table = verify_study(args.profile, count=args.verify, names=args.verify_runs, seed=args.verify_seed,
                             jobs=args.jobs)
        identical = bool(table["scores identical"].all() and table["predictions identical"].all())
        print(f"{len(table)} kept run(s) retrained: {'all identical' if identical else 'NOT all identical'}")
        return 0 if identical else 1
    run_study(profile=args.profile, build_book=not args.no_book, notebooks=args.only, jobs=args.jobs,
              recompute=args.recompute)
    return 0


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1 (a count of runs, steps, repeats, draws or threads)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not at least 1")
    return value


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
    s.add_argument("--repeats", type=positive_int, default=1, help="with --bench: generations timed per variant")
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
    c.add_argument("--seconds", type=positive_int, default=60)
    c.add_argument("--allow-new-answers", action="store_true",
                   help="Music-AVQA answers outside its 42 are warnings, not errors (data of your own)")
    c.set_defaults(func=cmd_check)

    d = data.add_parser("download", help="fetch the official Music-AVQA annotation files and verify them")
    d.add_argument("--dest", default=None, help="default: data/music_avqa (data/predictions with --predictions)")
    d.add_argument("--predictions", default=None, metavar="NAME",
                   help="instead, fetch a model's published per-question predictions for mcd score (e.g. tspm; "
                        "mcd.data.download.PUBLISHED_PREDICTIONS lists them)")
    d.set_defaults(func=cmd_download)

    t = sub.add_parser("train", help="train a model from a YAML config with key=value overrides")
    t.add_argument("--config", "-c", default=None)
    t.add_argument("--out", default=None, help="run folder (default: runs/{name}-{config hash})")
    t.add_argument("--restart", action="store_true", help="ignore a partial run in the folder instead of resuming")
    t.add_argument("--force-resume", action="store_true",
                   help="resume a run folder trained with another config (the differing keys are recorded)")
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

    sc = sub.add_parser("score", help="score a file of per-question predictions against the official annotations")
    sc.add_argument("predictions", help="prediction file (CSV, JSON or TSPM-style lines)")
    _prediction_options(sc)
    sc.set_defaults(func=cmd_score)

    co = sub.add_parser("compare", help="compare two prediction files on the same questions (paired tests)")
    co.add_argument("a")
    co.add_argument("b")
    co.add_argument("--disagreements", default=None, help="write the questions right in one file only to this CSV")
    _prediction_options(co)
    co.set_defaults(func=cmd_compare)

    pr = sub.add_parser("profile", help="parameters and per-sample cost of every model (Table VIII)")
    pr.add_argument("--csv", default=None, metavar="PATH", help="also write every column to this CSV")
    pr.add_argument("--json", action="store_true", help="print every column as JSON instead of the table")
    pr.add_argument("overrides", nargs="*", help="config overrides for every model, e.g. model.mcd.dim=256")
    pr.set_defaults(func=cmd_profile)

    b = sub.add_parser("bench", help="training and inference samples/s, and achieved FLOP/s vs a dense matmul",
                       description="MCD at the default study's shape and at the paper's; --all: every model at the "
                                   "paper's shapes. Each figure: median [min-max] over --repeats.")
    b.add_argument("--all", action="store_true", help="every model of Table VIII at the paper's shapes")
    b.add_argument("--batch-size", type=positive_int, default=None,
                   help="every case's batch (default: the default study's; at the paper's shapes the paper's on "
                        "CUDA, a smaller one on CPU: mcd.bench.paper_batch_size)")
    b.add_argument("--steps", type=positive_int, default=5, help="timed steps per repeat")
    b.add_argument("--repeats", type=positive_int, default=3, help="repeats, for the spread")
    b.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    b.add_argument("--threads", type=positive_int, default=1,
                   help="torch CPU threads (default 1: as each run of the study trains on 2 cores, mcd study --jobs 2; "
                        "two threads on a busy 2-core machine wait on each other)")
    b.add_argument("--precision", default="fp32", choices=["fp32", "bf16"], help="bf16: autocast, CUDA only")
    b.add_argument("--breakdown", action="store_true",
                   help="CPU: profile one more repeat of each training step: the share of its time in the matmul "
                        "kernels, the ceiling of train / matmul if all else took no time, and the ops that take it")
    b.add_argument("--csv", default=None, metavar="PATH", help="also write every column to this CSV")
    b.add_argument("--json", action="store_true", help="print every column as JSON instead of the table")
    b.add_argument("overrides", nargs="*", help="config overrides for every model")
    b.set_defaults(func=cmd_bench)

    st = sub.add_parser("study", help="train what the chapters read (unless kept), execute them, build the book",
                        description="The whole study: the runs every chapter reads are read from the kept results "
                                    "(results/<profile>/) or trained (two at a time, longest first), then every "
                                    "notebook is executed with papermill and the Jupyter Book is built with -W.")
    st.add_argument("--profile", default="default", help="tiny (a smoke test, minutes), default (the book), paper")
    st.add_argument("--no-book", action="store_true", help="execute the chapters but do not build the book")
    st.add_argument("--only", nargs="*", default=None, help="only these chapters (notebook stems)")
    st.add_argument("--jobs", type=positive_int, default=2, help="runs trained, and notebooks executed, at once")
    st.add_argument("--recompute", action="store_true",
                    help="retrain every run from scratch instead of reading the kept results (and keep the new ones)")
    st.add_argument("--verify", type=positive_int, default=None, metavar="K",
                    help="retrain K kept runs from scratch and say whether they come out identical (nothing else)")
    st.add_argument("--verify-runs", nargs="+", default=None, metavar="NAME",
                    help="with --verify: these kept runs (folder names under results/<profile>/runs, or prefixes)")
    st.add_argument("--verify-seed", type=int, default=0, help="which K kept runs --verify draws")
    st.set_defaults(func=cmd_study)
    return p


def parse_args(argv=None) -> argparse.Namespace:
    """The command line, with every override-shaped argument (``OVERRIDE``) taken out before the flags are parsed,
    so that overrides may stand before or after them."""
    argv = list(sys.argv[1:] if argv is None else argv)
    overrides = [a for a in argv if OVERRIDE.match(a)]
    parser = build_parser()
    args = parser.parse_args([a for a in argv if not OVERRIDE.match(a)])
    if overrides:
        if not hasattr(args, "overrides"):
            parser.error(f"this command takes no overrides: {' '.join(overrides)}")
        args.overrides = [*overrides, *args.overrides]
    return args


def error_line(e: BaseException) -> str:
    """An error as one printable line: an OSError as 'path: reason', the others as their message."""
    from mcd.errors import printable, shown_path
    if isinstance(e, OSError) and e.filename is not None:
        text = f"{shown_path(e.filename)}: {e.strerror or e}"
    else:
        text = str(e) or type(e).__name__
    return printable(" ".join(text.split("\n")))


def main(argv=None) -> int:
    from mcd.config import ConfigError
    from mcd.errors import DataError, RunError, TrainingError
    for stream in (sys.stdout, sys.stderr):  # a lone surrogate in a message prints as an escape, never crashes
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    args = parse_args(argv)
    for attr in ("audio", "visual", "patches"):
        if getattr(args, attr, None) == "none":
            setattr(args, attr, None)
    try:
        return args.func(args)
    except (DataError, TrainingError, RunError, ConfigError, ValueError, OSError) as e:
        print(f"mcd: error: {error_line(e)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
