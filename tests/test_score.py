"""``mcd score`` and ``mcd compare`` on files generated from the real Music-AVQA annotations (and the toy AVQA
layout), scores checked against counts made here by hand from the raw JSON; every bad input a one-line error;
the published-prediction download; the real-question chapter's prior split."""
from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

from mcd import real_data
from mcd import score as scoring
from mcd.cli import main
from mcd.data.annotations import ANSWERS, load_records
from mcd.data.download import PUBLISHED_PREDICTIONS, PublishedPredictions, download_predictions, git_blob_id
from mcd.evaluate import majority_baseline, score

from test_avqa import write_avqa_toy

# The 9 types by their raw annotation strings, and each one's modality group: the hand count reads these.
RAW_TYPES = {'["Audio", "Counting"]': "A-Count", '["Audio", "Comparative"]': "A-Comp",
             '["Visual", "Counting"]': "V-Count", '["Visual", "Location"]': "V-Loc",
             '["Audio-Visual", "Existential"]': "AV-Exist", '["Audio-Visual", "Counting"]': "AV-Count",
             '["Audio-Visual", "Location"]': "AV-Loc", '["Audio-Visual", "Comparative"]': "AV-Comp",
             '["Audio-Visual", "Temporal"]': "AV-Temp"}
GROUP = {"A-": "Audio", "V-": "Visual", "AV": "Audio-Visual"}


def raw(root: Path, version: str) -> list[dict]:
    return json.loads((root / version / "avqa-test.json").read_text())


def by_hand(records: list[dict], right) -> dict[str, tuple[int, int]]:
    """(right, questions) per type, per modality group and overall, counted from the raw records."""
    counts: dict[str, list[int]] = {}
    for r in records:
        t = RAW_TYPES[r["type"]]
        for key in (t, GROUP[t[:2]], "overall"):
            c = counts.setdefault(key, [0, 0])
            c[0] += bool(right(r))
            c[1] += 1
    return {k: (a, b) for k, (a, b) in counts.items()}


def gold_index(answer: str) -> int:
    """A model's own answer list, in another order than ours (as TSPM's is)."""
    return sorted(ANSWERS, reverse=True).index(answer)


def write_correctness(path: Path, records: list[dict], right, *, indices: bool = True) -> Path:
    """A TSPM-style file: id, flag, gold index, predicted index (a wrong prediction is the next index)."""
    lines = []
    for r in records:
        g = gold_index(r["anser"])
        p = g if right(r) else (g + 1) % len(ANSWERS)
        lines.append(f"{r['question_id']} \t {right(r)} \t {g} \t {p}" if indices else
                     f"{r['question_id']}\t{right(r)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def every_third(r) -> bool:
    return r["question_id"] % 3 == 0


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def score_json(capsys, *argv) -> dict:
    rc, out, err = run_cli(capsys, "score", *argv, "--json")
    assert rc == 0, err
    return json.loads(out)


@pytest.fixture
def update_sets(real_music_avqa):
    return scoring.question_sets(real_music_avqa)


# ------------------------------------------------------------------------------------------------ the formats

def test_correctness_file_scores_as_counted_by_hand(tmp_path, real_music_avqa, capsys):
    records = raw(real_music_avqa, "json_update")
    f = write_correctness(tmp_path / "model.result", records, every_third)
    got = score_json(capsys, f, "--annotations", real_music_avqa)
    assert got["format"] == "correct" and got["question_set"] == "json_update test"
    assert got["questions"] == len(records)
    hand = by_hand(records, every_third)
    assert set(got["scores"]) == set(hand)
    for key, (right, n) in hand.items():
        s = got["scores"][key]
        assert s["n"] == n and s["accuracy"] == pytest.approx(100 * right / n)
        half = 1.96 * 100 * np.sqrt(right / n * (1 - right / n) / n)     # the normal approximation
        assert s["low"] < s["accuracy"] < s["high"]
        assert s["high"] - s["low"] == pytest.approx(2 * half, rel=0.15)
    # without the index columns, and as a CSV of question_id and correct: the same scores
    csv = tmp_path / "flags.csv"
    pd.DataFrame({"question_id": [r["question_id"] for r in records],
                  "correct": [every_third(r) for r in records]}).to_csv(csv, index=False)
    sets = scoring.question_sets(real_music_avqa)
    for other in (write_correctness(tmp_path / "flags.txt", records, every_third, indices=False), csv):
        scored = scoring.score_file(other, sets)
        assert scored.format == "correct"
        again = scoring.scores_json(scored, scoring.interval_table(scored), n_boot=10_000, seed=0, level=0.95)
        assert again["scores"] == got["scores"]


def test_text_output_names_the_set_and_the_interval(tmp_path, real_music_avqa, capsys):
    f = write_correctness(tmp_path / "model.result", raw(real_music_avqa, "json_update"), every_third)
    rc, out, _ = run_cli(capsys, "score", f, "--annotations", real_music_avqa, "--seed", 3, "--n-boot", 500)
    assert rc == 0
    assert "json_update test, 9,129" in out and "percentile bootstrap" in out and "500 draws, seed 3" in out
    assert [line.split()[0] for line in out.splitlines()[4:17]] == [*RAW_TYPES.values(), "Audio", "Visual",
                                                                    "Audio-Visual", "overall"]


def test_the_original_test_set_is_told_apart(tmp_path, real_music_avqa, capsys):
    """json/ holds 55 ids twice: a file over its records gives them twice, in file order, and is json test."""
    records = raw(real_music_avqa, "json")
    assert len(records) > len({r["question_id"] for r in records})
    f = write_correctness(tmp_path / "orig.result", records, every_third)
    got = score_json(capsys, f, "--annotations", real_music_avqa)
    assert got["question_set"] == "json test" and got["questions"] == len(records)
    right, n = by_hand(records, every_third)["overall"]
    assert got["scores"]["overall"]["accuracy"] == pytest.approx(100 * right / n)


def test_answer_text_files_csv_and_json(tmp_path, real_music_avqa, update_sets):
    records = raw(real_music_avqa, "json_update")
    ids = [r["question_id"] for r in records]
    hand = by_hand(records, lambda r: r["anser"] == "yes")
    files = [tmp_path / "yes.csv", tmp_path / "yes.json", tmp_path / "yes_map.json"]
    pd.DataFrame({"question_id": ids, "predicted": "yes"}).to_csv(files[0], index=False)
    files[1].write_text(json.dumps([{"question_id": q, "answer": "yes"} for q in ids]))
    files[2].write_text(json.dumps({str(q): "yes" for q in ids}))
    for f in files:
        scored = scoring.score_file(f, update_sets)
        assert scored.format == "answers" and scored.questions.name == "json_update test"
        got = scoring.interval_table(scored, n_boot=100)
        for key, (right, n) in hand.items():
            assert got.loc[key, "accuracy"] == pytest.approx(100 * right / n) and got.loc[key, "n"] == n


def test_our_prediction_table_reads_back(tmp_path, real_music_avqa, update_sets):
    test = load_records(real_music_avqa / "json_update" / "avqa-test.json")
    val = load_records(real_music_avqa / "json_update" / "avqa-val.json")
    table = majority_baseline(val, test, "template")
    path = tmp_path / "predictions_test.csv"
    table.to_csv(path, index=False)
    scored = scoring.score_file(path, update_sets)
    assert scored.format == "table" and scored.questions.name == "json_update test"
    expected = score(table)
    intervals = scoring.interval_table(scored)
    for key in ("A-Count", "AV-Temp", "Visual", "overall"):
        assert intervals.loc[key, "accuracy"] == pytest.approx(expected[key])
    # a table scored against other answers (its correct column disagrees) is refused, naming the line
    flipped = table.copy()
    flipped.loc[4, "correct"] = not flipped.loc[4, "correct"]
    flipped.to_csv(path, index=False)
    with pytest.raises(scoring.PredictionError, match=rf"line 6 \(question_id {table.question_id[4]}\).*disagrees"):
        scoring.score_file(path, update_sets)


def test_a_kept_runs_compressed_table_scores_like_the_plain_one(tmp_path, real_music_avqa, update_sets):
    """Kept runs hold predictions_test.csv.gz: read as the plain CSV; a gzip bomb or a cut file is one line."""
    import gzip
    from mcd.bundle import prediction_file
    test = load_records(real_music_avqa / "json_update" / "avqa-test.json")
    val = load_records(real_music_avqa / "json_update" / "avqa-val.json")
    table = majority_baseline(val, test, "template")
    run = tmp_path / "kept-run"
    run.mkdir()
    table.to_csv(run / "predictions_test.csv.gz", index=False, compression={"method": "gzip", "mtime": 0})
    assert prediction_file(run, "test") == run / "predictions_test.csv.gz"
    plain = tmp_path / "plain.csv"
    table.to_csv(plain, index=False)
    a, b = scoring.score_file(run / "predictions_test.csv.gz", update_sets), scoring.score_file(plain, update_sets)
    pd.testing.assert_frame_equal(scoring.interval_table(a), scoring.interval_table(b))
    bomb = tmp_path / "bomb.csv.gz"
    bomb.write_bytes(gzip.compress(b"question_id,predicted\n" + b"0" * (scoring.MAX_FILE_BYTES + 10)))
    with pytest.raises(scoring.PredictionError, match="decompresses to more than"):
        scoring.score_file(bomb, update_sets)
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes((run / "predictions_test.csv.gz").read_bytes()[:200])
    with pytest.raises(scoring.PredictionError, match="truncated gzip"):
        scoring.score_file(cut, update_sets)


def test_unknown_answer_as_wrong(tmp_path, real_music_avqa, capsys):
    records = raw(real_music_avqa, "json_update")
    f = tmp_path / "p.csv"
    pd.DataFrame({"question_id": [r["question_id"] for r in records],
                  "predicted": ["banana" if i == 0 else r["anser"] for i, r in enumerate(records)]}).to_csv(f, index=False)
    rc, _, err = run_cli(capsys, "score", f, "--annotations", real_music_avqa)
    assert rc == 2 and f"{f}, line 2 (question_id {records[0]['question_id']})" in err and "'banana'" in err
    got = score_json(capsys, f, "--annotations", real_music_avqa, "--unknown-as-wrong")
    assert got["scores"]["overall"]["accuracy"] == pytest.approx(100 * (len(records) - 1) / len(records))


def test_avqa_answers_score_with_its_8_types(tmp_path, capsys):
    root = write_avqa_toy(tmp_path / "avqa")
    test = json.loads((root / "test_qa.json").read_text())
    # right on even ids (the correct option, spelled differently), wrong on odd ids
    rows = [{"question_id": r["id"], "predicted": (r["multi_choice"][r["answer"]].upper() if r["id"] % 2 == 0 else
                                                    r["multi_choice"][(r["answer"] + 1) % 4])} for r in test]
    f = tmp_path / "avqa.csv"
    pd.DataFrame(rows).to_csv(f, index=False)
    got = score_json(capsys, f, "--annotations", root)
    assert got["question_set"] == "AVQA test" and "Audio" not in got["scores"]
    assert list(got["scores"])[:8] == ["Which", "Come From", "Happening", "Where", "Why", "Before Next", "When",
                                      "Used For"]
    for qtype in ("Happening", "Come From", "Which"):
        mine = [r["id"] % 2 == 0 for r in test if r["question_type"] == qtype]
        assert got["scores"][qtype]["accuracy"] == pytest.approx(100 * sum(mine) / len(mine))
    assert got["scores"]["Where"]["accuracy"] is None and got["scores"]["Where"]["n"] == 0
    assert got["scores"]["overall"]["accuracy"] == pytest.approx(100 * sum(r["id"] % 2 == 0 for r in test) / len(test))
    rows[1]["predicted"] = "a kangaroo"
    pd.DataFrame(rows).to_csv(f, index=False)
    rc, _, err = run_cli(capsys, "score", f, "--annotations", root)
    assert rc == 2 and f"{f}, line 3" in err and "none of the question's options" in err


# ----------------------------------------------------------------------------- the question set must match

@pytest.mark.parametrize("change, counts", [
    (lambda lines: lines[1:], "0 unknown, 1 missing (e.g. {first}), 0 given more often"),
    (lambda lines: lines + lines[:1], "0 unknown, 0 missing, 1 given more often than it holds them (e.g. {first} "
                                      "(lines 1, 9130))"),
    (lambda lines: lines + ["99999999\tTrue"], "1 unknown (e.g. 99999999 (line 9130)), 0 missing"),
])
def test_a_file_matching_no_test_set_fully_is_refused(tmp_path, real_music_avqa, capsys, change, counts):
    records = raw(real_music_avqa, "json_update")
    f = write_correctness(tmp_path / "m.result", records, every_third, indices=False)
    f.write_text("\n".join(change(f.read_text().splitlines())) + "\n")
    rc, _, err = run_cli(capsys, "score", f, "--annotations", real_music_avqa)
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert f"{f}: its " in err and "match no json_update test or json test file fully" in err
    assert f"json_update test (9,129 questions): {counts.format(first=records[0]['question_id'])}" in err
    assert "json test (9,185 questions): " in err and "Traceback" not in err


# ------------------------------------------------------------------------------------------------ bad input

def _toy_lines(records):
    return [f"{r['question_id']}\tTrue" for r in records]


BAD_INPUTS = {
    "wrong columns": (lambda recs: "question_id,guess\n1,yes\n", "line 1: wrong columns"),
    "unknown answer": (lambda recs: "question_id,predicted\n" + "\n".join(
        f"{r['question_id']},{'maybe' if i == 2 else r['anser']}" for i, r in enumerate(recs)), "line 4 (question_id"),
    "non-numeric flag": (lambda recs: "\n".join(f"{r['question_id']}\t{'ja' if i == 1 else 'True'}"
                                                for i, r in enumerate(recs)), "line 2 (question_id"),
    "empty file": (lambda recs: "", "empty file"),
    "blank lines only": (lambda recs: "\n  \n", "empty file"),
    "header only": (lambda recs: "question_id,predicted\n", "no predictions below the header"),
    "binary file": (lambda recs: b"\x89PNG\r\n\x1a\n\x00\x00", "binary file"),
    "not UTF-8": (lambda recs: b"12\tTrue\n13\tTrue\n\xff\xfe\n", "line 3: is not UTF-8"),
    "huge line": (lambda recs: "12\tTrue\n" + "1" * 50_000 + "\n", "line 2: line is 50,000 characters"),
    "huge CSV field": (lambda recs: "question_id,predicted\n12," + "y" * 50_000 + "\n", "line 2: line is 50,003"),
    "bad JSON": (lambda recs: '[{"question_id": 12, "answer": "yes"},\n {"question_id": 13,', "line 2: not valid JSON"),
    "JSON non-object": (lambda recs: '[{"question_id": 12, "answer": "yes"}, 7]', "record 1: is a int"),
    "JSON float id": (lambda recs: '[{"question_id": 12.0, "answer": "yes"}]', "record 0: question_id must be"),
    "too many fields": (lambda recs: "12\tTrue\t3\n", "line 1: has 3 field(s)"),
    "index not a number": (lambda recs: "12\tTrue\t3\tx\n", "line 1 (question_id 12): column 4 must be an integer"),
    "flag contradicts indices": (lambda recs: "12\tTrue\t3\t4\n", "line 1 (question_id 12): flag True contradicts"),
    "ragged CSV row": (lambda recs: "question_id,predicted\n12,yes,no\n", "line 2: has 3 fields, the header 2"),
    "no header": (lambda recs: "12,yes\n", "line 1: has 1 field(s)"),
    "JSON wrong keys": (lambda recs: '[{"question_id": 12, "answer": "yes"}, {"id": 13, "answer": "no"}]',
                        "record 1: wrong columns"),
    "JSON empty list": (lambda recs: "[]", "non-empty list"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_a_one_line_error(tmp_path, real_music_avqa, capsys, case):
    make, message = BAD_INPUTS[case]
    content = make(raw(real_music_avqa, "json_update"))
    f = tmp_path / "bad.txt"
    (f.write_bytes if isinstance(content, bytes) else f.write_text)(content)
    rc, out, err = run_cli(capsys, "score", f, "--annotations", real_music_avqa)
    assert rc == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith(f"mcd: error: {f}"), err
    assert message in err, err


def test_gold_indices_that_do_not_follow_the_ids_are_refused(tmp_path, real_music_avqa, capsys):
    """The flags alone cannot show a file whose lines were shuffled against their ids; the gold indices can."""
    records = raw(real_music_avqa, "json_update")
    f = write_correctness(tmp_path / "m.result", records, lambda r: True)
    lines = f.read_text().splitlines()
    ids = [line.split("\t")[0] for line in lines]
    rest = ["\t".join(line.split("\t")[1:]) for line in lines]
    rest = rest[1:] + rest[:1]                               # every line's answer moved to the next id
    f.write_text("\n".join(f"{i}\t{r}" for i, r in zip(ids, rest)) + "\n")
    rc, _, err = run_cli(capsys, "score", f, "--annotations", real_music_avqa)
    assert rc == 2 and "gold answer index" in err and "(column 3)" in err and len(err.strip().splitlines()) == 1


def test_missing_file_and_folder(tmp_path, real_music_avqa, capsys):
    rc, _, err = run_cli(capsys, "score", tmp_path / "nope.csv", "--annotations", real_music_avqa)
    assert rc == 2 and "prediction file not found" in err
    rc, _, err = run_cli(capsys, "score", tmp_path, "--annotations", real_music_avqa)
    assert rc == 2 and "is a folder" in err
    rc, _, err = run_cli(capsys, "score", tmp_path / "nope.csv", "--annotations", tmp_path)
    assert rc == 2 and "holds no test annotation file" in err


# --------------------------------------------------------------------------------------------------- intervals

def test_interval_is_the_question_bootstrap_and_seeded(tmp_path, real_music_avqa, update_sets):
    f = write_correctness(tmp_path / "m.result", raw(real_music_avqa, "json_update"), every_third)
    scored = scoring.score_file(f, update_sets)
    a = scoring.interval_table(scored, seed=5)
    pd.testing.assert_frame_equal(a, scoring.interval_table(scored, seed=5))
    assert not a.equals(scoring.interval_table(scored, seed=6))
    # the binomial draw equals resampling the row's questions with replacement
    correct = scored.table.loc[scored.table["type"] == "A-Comp", "correct"].to_numpy()
    rng = np.random.default_rng(0)
    direct = 100 * correct[rng.integers(0, len(correct), size=(4000, len(correct)))].mean(axis=1)
    low, high = np.quantile(direct, [0.025, 0.975])
    assert a.loc["A-Comp", "low"] == pytest.approx(low, abs=0.6) and a.loc["A-Comp", "high"] == pytest.approx(high, abs=0.6)


# ----------------------------------------------------------------------------------------------------- compare

def test_compare_two_files_with_a_known_difference(tmp_path, real_music_avqa, capsys):
    records = raw(real_music_avqa, "json_update")
    a = write_correctness(tmp_path / "a.result", records, lambda r: r["question_id"] % 2 == 0)
    b_rows = pd.DataFrame({"question_id": [r["question_id"] for r in records],
                           "predicted": [r["anser"] if every_third(r) else "simultaneously" if r["anser"] != "simultaneously"
                                         else "yes" for r in records]})
    b = tmp_path / "b.csv"
    b_rows.to_csv(b, index=False)
    out_csv = tmp_path / "disagree.csv"
    rc, out, err = run_cli(capsys, "compare", a, b, "--annotations", real_music_avqa, "--json",
                           "--disagreements", out_csv)
    assert rc == 0, err
    got = json.loads(out)["rows"]
    a_only = sum(r["question_id"] % 2 == 0 and not every_third(r) for r in records)
    b_only = sum(r["question_id"] % 2 != 0 and every_third(r) for r in records)
    o = got["overall"]
    assert (o["a_only"], o["b_only"], o["n"]) == (a_only, b_only, len(records))
    assert o["diff"] == pytest.approx(100 * (a_only - b_only) / len(records))
    assert o["p_mcnemar"] == pytest.approx(binomtest(a_only, a_only + b_only, 0.5).pvalue)
    assert o["low"] < o["diff"] < o["high"] and o["p_bootstrap"] < 0.001
    vloc = [r for r in records if RAW_TYPES[r["type"]] == "V-Loc"]
    assert got["V-Loc"]["a_only"] == sum(r["question_id"] % 2 == 0 and not every_third(r) for r in vloc)
    dis = pd.read_csv(out_csv)
    assert len(dis) == a_only + b_only and (dis["correct_a"] != dis["correct_b"]).all()
    assert set(dis.columns) >= {"question_id", "type", "question", "answer", "predicted_a", "predicted_b",
                                "line_a", "line_b"}
    # A's predicted answers come from its gold-index column: right answers read back as the answer
    right_a = dis[dis["correct_a"]]
    assert (right_a["predicted_a"] == right_a["answer"]).all()


def test_compare_refuses_files_on_different_question_sets(tmp_path, real_music_avqa, capsys):
    a = write_correctness(tmp_path / "a.result", raw(real_music_avqa, "json_update"), every_third)
    b = write_correctness(tmp_path / "b.result", raw(real_music_avqa, "json"), every_third)
    rc, _, err = run_cli(capsys, "compare", a, b, "--annotations", real_music_avqa)
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert "json_update test (9,129 questions)" in err and "json test (9,185)" in err
    update = {r["question_id"] for r in raw(real_music_avqa, "json_update")}
    original = Counter(r["question_id"] for r in raw(real_music_avqa, "json"))
    only_b = [q for q in original if q not in update]
    twice = [q for q, k in original.items() if k > 1 and q in update]
    assert f"0 ids only in A, {len(only_b)} only in B (e.g. {only_b[0]})" in err
    assert f"{len(twice)} more often in B (e.g. {', '.join(map(str, sorted(twice)[:3]))})" in err


# ---------------------------------------------------------------------------------------------------- download

def _register(monkeypatch, data: bytes) -> PublishedPredictions:
    known = PublishedPredictions(repo="someone/model", commit="0" * 40, path="results/model.result",
                                 blob=git_blob_id(data), format="correct", questions="json_update test", about="")
    monkeypatch.setitem(PUBLISHED_PREDICTIONS, "toy", known)
    return known


def test_download_predictions_verifies_the_blob(tmp_path, real_music_avqa, monkeypatch, capsys):
    (tmp_path / "repo" / "results").mkdir(parents=True)
    upstream = write_correctness(tmp_path / "repo" / "results" / "model.result", raw(real_music_avqa, "json_update"),
                                 every_third)
    _register(monkeypatch, upstream.read_bytes())
    got = download_predictions("toy", tmp_path / "dest", base_url=(tmp_path / "repo").as_uri())
    assert got == tmp_path / "dest" / "model.result" and got.read_bytes() == upstream.read_bytes()
    assert score_json(capsys, got, "--annotations", real_music_avqa)["question_set"] == "json_update test"
    upstream.write_text("12\tTrue\n")                       # a changed upstream file is refused, nothing written
    with pytest.raises(ValueError, match="does not match git blob"):
        download_predictions("toy", tmp_path / "other", base_url=(tmp_path / "repo").as_uri())
    assert not (tmp_path / "other" / "model.result").exists()
    with pytest.raises(ValueError, match=r"known: \['toy', 'tspm'\]"):
        download_predictions("nope", tmp_path / "dest")


def test_download_command_fetches_the_pinned_url(tmp_path, monkeypatch, capsys):
    data = b"12\tTrue\n"
    known = _register(monkeypatch, data)
    asked = []

    def fake_urlopen(url, timeout):
        asked.append(url)
        return io.BytesIO(data)

    monkeypatch.setattr("mcd.data.download.urllib.request.urlopen", fake_urlopen)
    rc, out, err = run_cli(capsys, "data", "download", "--predictions", "toy", "--dest", tmp_path)
    assert rc == 0, err
    assert asked == [f"https://raw.githubusercontent.com/someone/model/{known.commit}/results/model.result"]
    assert (tmp_path / "model.result").read_bytes() == data and f"mcd score {tmp_path / 'model.result'}" in out
    assert PUBLISHED_PREDICTIONS["tspm"].url.startswith("https://raw.githubusercontent.com/GeWu-Lab/TSPM/")


# --------------------------------------------------------------------------------------- the chapter's prior split

def test_prior_split_by_hand():
    types = ["A-Count"] * 4 + ["V-Loc"] * 2
    base = pd.DataFrame({"question_id": range(6), "type": types,
                         "modality": ["Audio"] * 4 + ["Visual"] * 2})
    model = base.assign(correct=[True, True, False, True, False, True])
    prior = base.assign(correct=[True, False, False, True, True, False])
    t = real_data.prior_split(model, prior)
    a = t.loc["A-Count"]
    assert (a["questions"], a["n_prior_right"], a["n_prior_wrong"]) == (4, 2, 2)
    assert a["accuracy"] == 75 and a["prior_accuracy"] == 50
    assert a["acc_prior_right"] == 100 and a["acc_prior_wrong"] == 50
    assert a["prior_explains"] == pytest.approx(100 * 2 / 3)
    v = t.loc["Visual"]
    assert (v["acc_prior_right"], v["acc_prior_wrong"], v["prior_explains"]) == (0, 100, 0)
    assert np.isnan(t.loc["AV-Exist", "accuracy"]) and t.loc["overall", "questions"] == 6
    with pytest.raises(ValueError, match="same questions"):
        real_data.prior_split(model, prior.iloc[::-1])


def test_model_prior_split_on_a_generated_file(tmp_path, real_music_avqa, update_sets):
    parts = {name: load_records(real_music_avqa / f) for name, f in (
        ("partial train", real_data.PARTIAL_TRAIN), ("json_update/val", "json_update/avqa-val.json"),
        ("json_update/test", "json_update/avqa-test.json"))}
    f = write_correctness(tmp_path / "m.result", raw(real_music_avqa, "json_update"), every_third)
    t = real_data.model_prior_split(scoring.score_file(f, update_sets), parts)
    prior = score(majority_baseline(real_data.prior_fit(parts), parts["json_update/test"], "template"))
    for key in ("A-Count", "AV-Temp", "Audio-Visual", "overall"):
        row = t.loc[key]
        assert row["n_prior_right"] + row["n_prior_wrong"] == row["questions"]
        assert row["prior_accuracy"] == pytest.approx(prior[key])
        mixed = (row["acc_prior_right"] * row["n_prior_right"] + row["acc_prior_wrong"] * row["n_prior_wrong"])
        assert mixed / row["questions"] == pytest.approx(row["accuracy"])
    bars = real_data.split_bars(pd.concat({("m", "json_update test"): t}, names=["model", "test set", "row"]))
    assert len(bars) == 18 and set(bars["questions"]) == {"the prior answers right", "the prior answers wrong"}


def test_v2_root_lookup(tmp_path, monkeypatch):
    monkeypatch.setattr(real_data, "REPO", tmp_path / "checkout")      # no v2 folder beside this checkout
    monkeypatch.setenv("MCD_MUSIC_AVQA_V2", str(tmp_path / "v2"))
    with pytest.raises(FileNotFoundError, match="MCD_MUSIC_AVQA_V2"):
        real_data.v2_root(None)
    for f in real_data.V2_TEST_FILES.values():
        (tmp_path / "v2" / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "v2" / f).write_text("[]")
    assert real_data.v2_root(None) == tmp_path / "v2"
    assert set(real_data.v2_test_files(tmp_path / "v2")) == {"v2 balanced test", "v2 biased test"}


def test_format_named_or_detected(tmp_path, real_music_avqa, update_sets):
    records = raw(real_music_avqa, "json_update")
    ids = [r["question_id"] for r in records]
    table = tmp_path / "t.csv"       # our table's columns: answer is the gold answer, predicted the model's
    pd.DataFrame({"question_id": ids, "answer": [r["anser"] for r in records], "predicted": "yes",
                  "correct": [r["anser"] == "yes" for r in records]}).to_csv(table, index=False)
    assert scoring.score_file(table, update_sets).format == "table"
    for fmt in ("answers", "correct"):
        scored = scoring.score_file(table, update_sets, fmt)
        assert scored.format == fmt and scored.table["correct"].sum() == sum(r["anser"] == "yes" for r in records)
    gold_and_flag = tmp_path / "g.csv"    # answer beside correct, without predicted: a correctness file
    pd.DataFrame({"question_id": ids, "answer": [r["anser"] for r in records],
                  "correct": [every_third(r) for r in records]}).to_csv(gold_and_flag, index=False)
    assert scoring.score_file(gold_and_flag, update_sets).format == "correct"
    lines = write_correctness(tmp_path / "m.result", records, every_third)
    with pytest.raises(scoring.PredictionError, match="line 1: --format table needs a header line"):
        scoring.score_file(lines, update_sets, "table")


def test_val_split_sets(tmp_path, real_music_avqa, capsys):
    records = json.loads((real_music_avqa / "json_update" / "avqa-val.json").read_text())
    f = write_correctness(tmp_path / "val.result", records, every_third)
    got = score_json(capsys, f, "--annotations", real_music_avqa, "--split", "val")
    assert got["question_set"] == "json_update val" and got["questions"] == len(records)
    rc, _, err = run_cli(capsys, "score", f, "--annotations", real_music_avqa)   # val ids are no test set
    assert rc == 2 and f"{len(records):,} unknown" in err
