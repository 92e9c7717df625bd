"""KeyedThrottle: one report per key and period, repeats counted, keys independent."""

from __future__ import annotations

import pytest

from ros_pose_estimation.core.errors import ConfigError
from ros_pose_estimation.node.throttle import KeyedThrottle


def test_one_report_per_key_and_period_with_the_repeats_counted():
    throttle = KeyedThrottle(5.0)
    assert throttle.due("bad_image", 100.0) == 0
    assert throttle.due("bad_image", 101.0) is None
    assert throttle.due("bad_image", 104.9) is None
    assert throttle.due("bad_camera_info", 102.0) == 0  # another reason is not held back
    assert throttle.due("bad_image", 105.0) == 2  # period over: report, 2 were held back
    assert throttle.due("bad_image", 106.0) is None
    assert throttle.due("bad_image", 50.0) == 1  # the clock went back: report


def test_period_zero_reports_everything_and_bad_periods_are_refused():
    throttle = KeyedThrottle(0.0)
    assert [throttle.due("k", 1.0) for _ in range(3)] == [0, 0, 0]
    for bad in (-1.0, float("inf"), float("nan")):
        with pytest.raises(ConfigError, match="period_s"):
            KeyedThrottle(bad)
