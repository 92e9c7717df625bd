"""The adaptation table's paired bootstrap: a uniform gain is measured, noise is not."""

import numpy as np

from benchmarks.bag_adaptation_table import median_change


def _result(errors, tracks=6):
    rows = [{"recording": f"r{i % tracks}", "frame": i, "track_id": 0, "solved": True,
             "rot_err_deg": float(e)} for i, e in enumerate(errors)]  # fmt: skip
    return {"rows": rows}


def test_a_gain_on_every_track_has_an_interval_below_zero():
    before = np.random.default_rng(0).uniform(5, 15, 120)
    change = median_change([_result(before)], [_result(before - 3.0)], draws=300)
    assert change["tracks"] == 6 and change["frames"] == 120
    assert change["change_deg"] < 0 and change["ci95_deg"][1] < 0


def test_a_change_that_differs_between_tracks_is_not_called_measurable():
    gen = np.random.default_rng(1)
    before = gen.uniform(5, 15, 120)
    per_track = np.array([-6.0, 5.0, -6.0, 5.0, -6.0, 5.0])  # half better, half worse
    after = before + per_track[np.arange(120) % 6]
    lo, hi = median_change([_result(before)], [_result(after)], draws=300)["ci95_deg"]
    assert lo < 0 < hi


def test_only_frames_both_scored_are_paired():
    before = _result([10.0, 10.0, 10.0, 10.0])
    after = _result([8.0, 8.0])
    change = median_change([before], [after], draws=50)
    assert change["frames"] == 2 and change["change_deg"] == -2.0
