"""``mcd study``: the whole study in one command, in three phases, each timed.

1. **train**: every run the chapters read (``chapters.study_plan``) that is neither kept (``results/<profile>/``)
   nor finished here is trained, two at a time on one thread each, the longest first (``runs.train_plan``);
2. **chapters**: every notebook is executed with papermill into ``book/generated/`` (two at a time); they only
   read finished runs, so this phase trains nothing when phase 1 ran;
3. **book**: the executed chapters are made readable (``mcd.book``) and the Jupyter Book is built with ``-W``.

``recompute`` retrains every run from scratch (and replaces the kept copies); ``verify`` retrains a few kept runs
and says whether they came out identical.
"""
from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from mcd.study.chapters import study_plan
from mcd.study.profiles import REPO, STUDY_PROFILES, data_label, results_dir
from mcd.study.results import finished_run, kept_dir, train_plan, verify

# Executed in this order, two at a time: the chapters that compute the most first.
NOTEBOOKS = ["datasets", "table8_efficiency", "table2_fusion", "table3_sota", "fig5_late_fusion", "real_questions",
             "table5_avqa", "table10_losses", "table9_lef", "table6_text_encoder", "table4_backbones",
             "table7_attention", "fig6_grounding", "claims", "report"]


def cost_table(plan) -> pd.DataFrame:
    """Per model and for all: runs, and mean and total wall seconds of one run (``report.seconds_by_model``) over
    the finished runs of ``plan``."""
    from mcd.study.report import seconds_by_model
    table = seconds_by_model(finished_run(cfg) for cfg in plan)   # finished by now: read back, never trained here
    runs, total = table["runs"].sum(), table["total"].sum()
    table.loc["all"] = [runs, total / runs, total]
    return table.round(1)


def execute_notebooks(profile: str, names: list[str], *, jobs: int, out_dir: Path) -> list[str]:
    """Execute ``names`` with papermill into ``out_dir``, ``jobs`` at a time (each kernel gets its share of the
    cores), and make each readable for the book."""
    import papermill

    from mcd import book
    out_dir.mkdir(parents=True, exist_ok=True)
    threads = str(max(1, (os.cpu_count() or 1) // max(jobs, 1)))
    os.environ.update(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)   # kernels inherit the environment
    slug = book.repository_slug(REPO)

    def execute(nb: str) -> str:
        t0 = time.time()
        target = out_dir / f"{nb}.ipynb"
        papermill.execute_notebook(str(REPO / "notebooks" / f"{nb}.ipynb"), str(target),
                                   parameters={"profile": profile}, cwd=str(REPO / "notebooks"),
                                   progress_bar=False, log_output=False)
        book.prepare_notebook(target, chapter=nb, profile=profile, data=data_label(profile), slug=slug)
        return f"== notebooks/{nb}.ipynb executed in {time.time() - t0:.0f} s"

    lines = []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for line in pool.map(execute, names):
            print(line, flush=True)
            lines.append(line)
    return lines


def ensure_real_annotations() -> Path:
    """The real Music-AVQA annotation files the data and real-question chapters read: found (``real_data``), or
    fetched and verified (``mcd data download``) into ``data/music_avqa``."""
    from mcd import real_data
    try:
        return real_data.annotation_root()
    except FileNotFoundError:
        from mcd.data.download import download
        print("== the Music-AVQA annotation files are not here: fetching them (mcd data download)", flush=True)
        try:
            download(REPO / "data" / "music_avqa")
        except OSError as e:
            raise FileNotFoundError(f"the Music-AVQA annotations are not here and could not be fetched ({e}); "
                                    f"set MCD_MUSIC_AVQA to a folder holding json_update/") from None
        return real_data.annotation_root()


def run_study(profile: str = "default", *, build_book: bool = True, notebooks: list[str] | None = None,
              jobs: int = 2, recompute: bool = False) -> dict:
    """The three phases (module docstring); returns and prints their wall times and the runs trained."""
    if profile not in STUDY_PROFILES:
        raise ValueError(f"unknown study profile {profile!r}; choose one of {sorted(STUDY_PROFILES)}")
    names = notebooks or NOTEBOOKS
    unknown = sorted(set(names) - set(NOTEBOOKS))
    if unknown:
        raise ValueError(f"unknown chapters {unknown}; chapters: {NOTEBOOKS}")
    timings: dict = {"profile": profile}
    t0 = time.time()
    ensure_real_annotations()
    plan = study_plan(profile, names)
    kept_before = sum(1 for cfg in plan if kept_dir(cfg) is not None and (kept_dir(cfg) / "DONE").exists())
    print(f"== {len(plan)} runs in the plan ({kept_before} kept in results/{profile}/); profile {profile!r}: "
          f"{STUDY_PROFILES[profile].description}", flush=True)
    trained = train_plan(plan, jobs=jobs, retrain=recompute)
    timings |= {"runs": len(plan), "runs trained": len(trained), "train seconds": round(time.time() - t0, 1)}
    print(f"== trained {len(trained)} runs in {timings['train seconds']:.0f} s", flush=True)

    t1 = time.time()
    execute_notebooks(profile, names, jobs=jobs, out_dir=REPO / "book" / "generated")
    timings["chapters seconds"] = round(time.time() - t1, 1)
    if build_book:
        from mcd import book
        t2 = time.time()
        index = book.build(REPO, profile=profile, data=data_label(profile), out_dir=REPO / "book" / "generated")
        timings["book seconds"] = round(time.time() - t2, 1)
        print(f"== book: {index}")
    timings["total seconds"] = round(time.time() - t0, 1)
    print("== wall time by phase (s): " + ", ".join(f"{k.removesuffix(' seconds')} {v:.0f}"
                                                  for k, v in timings.items() if k.endswith("seconds")))
    if trained.shape[0]:
        costs = cost_table([cfg for cfg in plan if cfg.run_dir().name in set(trained["run"])])
        print("== cost of the runs trained, by model (wall seconds per run, one thread):")
        print(costs.to_string())
        timings["cost by model"] = costs.reset_index().to_dict(orient="records")
    record_timings(profile, timings, jobs=jobs, recompute=recompute, build_book=build_book, chapters=names)
    return timings


def record_timings(profile: str, timings: dict, **how) -> None:
    """Keep this study's wall times with the kept results (``results/<profile>/study_timings.json``), one entry per
    kind of run (``recompute``: every run trained; ``kept``: the book built from the kept results), so the book and
    the README can say what each takes, measured."""
    if not STUDY_PROFILES[profile].keep or how.get("chapters") != NOTEBOOKS or not how.get("build_book"):
        return                                    # only whole studies of a kept profile are recorded
    import json

    from mcd.io import atomic_write_json
    from mcd.provenance import environment_info
    path = results_dir(profile) / "study_timings.json"
    kept = json.loads(path.read_text()) if path.exists() else {}
    kind = "recompute" if how["recompute"] else ("trained what was missing" if timings["runs trained"] else "kept")
    machine = environment_info()
    kept[kind] = {**timings, "jobs": how["jobs"], "cpu_count": os.cpu_count(),
                  "machine": {k: machine[k] for k in ("platform", "python", "torch", "cuda", "git_commit")},
                  "date": time.strftime("%Y-%m-%d")}
    atomic_write_json(path, kept)


def verify_study(profile: str = "default", *, count: int | None = None, names: list[str] | None = None,
                 seed: int = 0, jobs: int = 2) -> pd.DataFrame:
    """Retrain ``count`` kept runs (drawn with ``seed``) or the ``names`` given, and compare them with the kept
    copies; prints one line per run and returns the table."""
    table = verify(study_plan(profile), count=count, names=names, seed=seed, jobs=jobs)
    print(table.to_string(index=False))
    return table
