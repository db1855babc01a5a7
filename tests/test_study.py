"""Seed aggregation as the chapters show it."""
import math

from mcd.study import field_overrides, mean_sd


def test_mean_sd_over_seeds():
    t = mean_sd({"one": [{"overall": 50.0}], "two": [{"overall": 50.0}, {"overall": 52.0}]}, columns=["overall"])
    assert t.text.loc["one", "overall"] == "50.00"            # a single seed has no sd, and says so
    assert t.text.loc["two", "overall"] == "51.00 ± 1.41"
    assert t.mean.loc["two", "overall"] == 51.0 and math.isclose(t.sd.loc["two", "overall"], 2 ** 0.5)
    assert t.seeds == {"one": 1, "two": 2}


def test_field_overrides_are_yaml_scalars():
    assert field_overrides("model.mcd", {"num_blocks": 3, "self_audio": False, "lef_mode": "add"}) == [
        "model.mcd.num_blocks=3", "model.mcd.self_audio=false", "model.mcd.lef_mode=add"]
