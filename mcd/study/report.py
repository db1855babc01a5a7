"""What the reproducibility report computes: the measured compute of the study, and the one list of what could not
be reproduced (read from the paper's tables and the chapters, never typed)."""
from __future__ import annotations

import json

import pandas as pd

from mcd.paper import paper_table
from mcd.runs import Run
from mcd.study.profiles import results_dir

# The paper's rows our chapters run (by the paper's name); every other row of these tables is the paper's only.
RUN_ROWS = {"III": {"MCD", "AVST", "PSTP-Net"}, "IV": {"MCD", "AVST", "PSTP-Net"}}
WHY = {
    "III": "not re-implemented: the chapter compares MCD with the two peers the paper discusses (AVST, PSTP-Net); "
           "the other rows are the paper's numbers only",
    "IV": "LAVisH adapts a vision transformer on the raw frames and audio: it needs the videos, not features",
    "V": "the AVQA data set (Yang et al.) could not be obtained here; the chapter runs MCD with and without SA on "
         "SynthAVQA's multiple-choice view in AVQA's format instead, and none of the paper's other rows",
}


def recorded(profile: str) -> dict:
    """What ``mcd study`` recorded for ``profile`` (``results/<profile>/study_timings.json``), by kind of build;
    {} when nothing is recorded."""
    path = results_dir(profile) / "study_timings.json"
    return json.loads(path.read_text()) if path.exists() else {}


def study_timings(profile: str) -> pd.DataFrame | None:
    """The wall times ``mcd study`` recorded for ``profile``, one row per kind of build, in minutes; None when none
    is recorded."""
    rows = {}
    for kind, t in recorded(profile).items():
        rows[kind] = {"runs": t.get("runs"), "runs trained": t.get("runs trained"),
                      "train (min)": t.get("train seconds", 0) / 60, "chapters (min)": t.get("chapters seconds", 0) / 60,
                      "book (min)": t.get("book seconds", 0) / 60, "total (min)": t.get("total seconds", 0) / 60,
                      "processes": t.get("jobs"), "cores": t.get("cpu_count"), "date": t.get("date")}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("build").round(1) if rows else None


def timing_notes(profile: str) -> dict[str, str]:
    """What a recorded timing needs said beside its number (how it was measured, when not in one command)."""
    return {kind: t["note"] for kind, t in recorded(profile).items() if t.get("note")}


def hardware(profile: str) -> pd.DataFrame:
    """The machine the recorded study ran on, and the float32 CPU matmul libraries its kept runs took (their
    ``env.json``; ``mcd.cpu_matmul``; runs from before the switch ran on MKL)."""
    entries = recorded(profile)
    if entries:
        entry = entries.get("recompute") or next(iter(entries.values()))
        machine = {**entry.get("machine", {}), "cores": entry.get("cpu_count")}
    else:
        machine = {"recorded": "no whole-study record for this profile"}
    routes = set()
    for env in sorted((results_dir(profile) / "runs").glob("*/env.json")):
        try:
            routes.add(json.loads(env.read_text()).get("cpu_matmul") or "mkl")
        except (OSError, ValueError, AttributeError):
            routes.add("unreadable env.json")
    if routes:
        machine["float32 CPU matmuls (kept runs)"] = ", ".join(sorted(routes))
    return pd.Series(machine, name="value").to_frame()


def seconds_by_model(runs) -> pd.DataFrame:
    """Per model: runs, and mean and total wall seconds of one run (training and its final evaluation, one thread,
    read from the runs' ``scores.json``), each run counted once."""
    seen, rows = set(), []
    for r in runs:
        if r.path not in seen:
            seen.add(r.path)
            rows.append({"model": r.config["model"]["name"], "seconds": r.scores.get("seconds")})
    frame = pd.DataFrame(rows, columns=["model", "seconds"]).dropna()
    return frame.groupby("model")["seconds"].agg(runs="count", mean="mean", total="sum")


def _for_reading(seconds: pd.DataFrame) -> pd.DataFrame:
    """A ``seconds_by_model`` table as the report shows it: runs, mean (s), total (min)."""
    table = seconds.rename(columns={"mean": "mean (s)", "total": "total (min)"})[["runs", "mean (s)", "total (min)"]]
    table["total (min)"] = table["total (min)"] / 60
    table["runs"] = table["runs"].astype(int)
    return table.round(1)


def cost_by_model(results: dict[str, list[Run]]) -> pd.DataFrame:
    """Wall seconds of one run by model (``seconds_by_model``) over the runs given, as the report shows it."""
    return _for_reading(seconds_by_model(r for rs in results.values() for r in rs))


def recorded_cost_by_model(profile: str) -> pd.DataFrame | None:
    """The cost of one run by model over every run of the whole study, as its recompute recorded it (the same
    columns as :func:`cost_by_model`); None when no whole-study recompute is recorded."""
    rows = recorded(profile).get("recompute", {}).get("cost by model")
    return _for_reading(pd.DataFrame(rows).set_index("model")) if rows else None


def not_reproduced() -> pd.DataFrame:
    """One list of what no chapter reproduces, and why: rows of Tables III-V, the FLOPs column, the real
    features, the AVQA data (Table I's row, Table X's column)."""
    rows = []
    t3 = paper_table("III")["method"]
    rows += [{"what": f"Table III, {m}", "why": WHY["III"]} for m in t3 if m not in RUN_ROWS["III"]]
    t4 = paper_table("IV")["method"].unique()
    rows += [{"what": f"Table IV, {m}", "why": WHY["IV"]} for m in t4 if m not in RUN_ROWS["IV"]]
    rows += [{"what": f"Table V, {m}", "why": WHY["V"]} for m in paper_table("V")["method"]]
    rows.append({"what": "Table VIII, the FLOPs column",
                 "why": "no configuration matches it under one counting convention: its per-block steps differ, "
                        "which identical blocks cannot give (the Table VIII chapter shows the arithmetic)"})
    rows.append({"what": "Table X, the AVQA column", "why": "the AVQA data set could not be obtained here"})
    rows.append({"what": "Table I, the AVQA row", "why": "the AVQA data set could not be obtained here"})
    rows.append({"what": "every number on the real Music-AVQA features (Tables II-X)",
                 "why": "the features (40+ GB per backbone) could not be obtained here: the chapters measure on "
                        "SynthAVQA and rerun on the real features with one papermill parameter"})
    return pd.DataFrame(rows).set_index("what")
