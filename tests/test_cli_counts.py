"""Counts on the command line (runs at once, kept runs to verify, steps, repeats, draws) are whole numbers >= 1:
anything else is a one-line usage error, before any work starts."""
import pytest

from mcd.cli import main


@pytest.mark.parametrize("argv", [
    ["study", "--profile", "tiny", "--verify", "0"],
    ["study", "--profile", "tiny", "--verify", "-1"],
    ["study", "--profile", "tiny", "--jobs", "0"],
    ["study", "--profile", "tiny", "--jobs", "two"],
    ["bench", "--steps", "0"],
    ["bench", "--threads", "-2"],
    ["score", "predictions.csv", "--n-boot", "0"],
])
def test_a_count_below_one_is_a_usage_error(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("mcd ") and ("is not at least 1" in err[-1] or "is not a whole number" in err[-1])


def test_an_empty_run_name_does_not_select_every_kept_run():
    from mcd.study.results import verify
    with pytest.raises(ValueError, match="empty run name"):
        verify([], names=[""])
