"""The adaptation table's paired bootstrap: a uniform gain is measured, noise is not; the
10deg5cm and 5deg2cm shares get the same intervals."""

import numpy as np

from benchmarks.bag_adaptation_table import median_change


def _result(errors, tracks=6, trans_cm=1.0):
    rows = [{"recording": f"r{i % tracks}", "frame": i, "track_id": 0, "solved": True,
             "rot_err_deg": float(e), "trans_err_cm": trans_cm}
            for i, e in enumerate(errors)]  # fmt: skip
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


def test_the_shares_change_with_their_thresholds_and_get_intervals():
    before = np.random.default_rng(2).uniform(6, 14, 120)  # about half within 10 deg
    after = np.full(120, 4.0)  # all within 5 deg, but 3 cm off: 10deg5cm yes, 5deg2cm no
    change = median_change([_result(before)], [_result(after, trans_cm=3.0)], draws=300)
    share = float(np.mean(before < 10))
    assert change["change_10deg5cm"] == 1.0 - share and change["ci95_10deg5cm"][0] > 0
    assert change["change_5deg2cm"] == 0.0  # before: > 5 deg; after: 3 cm
    unsolved = _result(before)
    unsolved["rows"][0] = {**unsolved["rows"][0], "solved": False}
    assert median_change([unsolved], [_result(before)], draws=10)["change_10deg5cm"] >= 0
