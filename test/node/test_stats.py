"""RateMeter, LatencyStats, Counters and NodeStats on made-up timestamps."""

from __future__ import annotations

import numpy as np
import pytest

from ros_pose_estimation.core.errors import ConfigError, InputError
from ros_pose_estimation.node.stats import Counters, LatencyStats, NodeStats, RateMeter


def test_rate_of_a_steady_stream_and_its_decay():
    meter = RateMeter(window_s=2.0)
    assert meter.rate(0.0) == 0.0 and meter.age(0.0) is None
    for k in range(100):
        meter.tick(10.0 + k / 30.0)  # 30 Hz for 3.3 s
    now = 10.0 + 99 / 30.0
    assert meter.rate(now) == pytest.approx(30.0)
    assert meter.age(now + 0.5) == pytest.approx(0.5)
    assert meter.rate(now + 1.0) == pytest.approx(30.0)  # 1 s of the window still full
    assert meter.rate(now + 2.5) == 0.0  # nothing in the last 2 s
    assert meter.age(now + 10.0) == pytest.approx(10.0)  # known after the window emptied
    assert meter.total == 100 and meter.first_s == 10.0


def test_rate_of_an_irregular_stream_counts_intervals():
    meter = RateMeter(window_s=10.0)
    for t in (0.0, 0.1, 0.5, 1.0):
        meter.tick(t)
    assert meter.rate(1.0) == pytest.approx(3.0)  # 3 intervals in 1 s


def test_time_going_back_restarts_the_meter():
    meter = RateMeter(window_s=5.0)
    for k in range(10):
        meter.tick(100.0 + k * 0.1)
    meter.tick(1.0)  # bag looped
    assert meter.rate(1.0) == 0.0 and meter.first_s == 1.0
    meter.tick(1.5)
    assert meter.rate(1.5) == pytest.approx(2.0)


def test_latency_median_p90_max_over_a_bounded_window():
    stats = LatencyStats(window=10)
    for ms in range(1, 101):  # only 91..100 stay in the window
        stats.add("refine", float(ms))
    summary = stats.summary("refine")
    assert summary.median_ms == pytest.approx(95.5)
    assert summary.p90_ms == pytest.approx(np.percentile(np.arange(91, 101), 90))
    assert summary.max_ms == 100.0 and summary.last_ms == 100.0 and summary.count == 100
    stats.add_all({"crop": 2.0, "refine": 50.0})
    assert stats.stages == ["refine", "crop"]
    assert stats.summary("crop").count == 1
    with pytest.raises(KeyError, match="no latency recorded for 'total'"):
        stats.summary("total")
    with pytest.raises(InputError, match="duration >= 0"):
        stats.add("crop", -1.0)


def test_counters_by_reason():
    counters = Counters(["busy", "no_camera_info"])
    assert counters.as_dict() == {"busy": 0, "no_camera_info": 0}
    counters.add("busy")
    counters.add_all({"busy": 2, "unknown_class": 4})
    assert counters.get("busy") == 3 and counters.get("other") == 0
    assert counters.total == 7
    counters.reset()
    assert counters.total == 0 and "unknown_class" in counters.as_dict()
    with pytest.raises(InputError, match="integer >= 0"):
        counters.add("busy", -2)


def test_node_stats_snapshot():
    stats = NodeStats(window_s=5.0, drop_reasons=["busy"], skip_reasons=["low_score"])
    stats.start(0.0)
    for k in range(20):
        stats.inputs.tick(1.0 + 0.1 * k)
        if k % 2:
            stats.outputs.tick(1.05 + 0.1 * k)
            stats.latency.add("total", 40.0 + k)
        else:
            stats.dropped.add("busy")
    stats.camera_info_received(640, 480)
    snap = stats.snapshot(3.0)
    assert snap.input_hz == pytest.approx(10.0) and snap.output_hz == pytest.approx(5.0)
    assert snap.input_age_s == pytest.approx(0.1) and snap.first_input_age_s == pytest.approx(2.0)
    assert snap.uptime_s == 3.0 and snap.has_camera_info
    assert snap.dropped == {"busy": 10} and snap.skipped == {"low_score": 0}
    assert snap.latency["total"].count == 10
    assert (snap.camera_info_size, snap.camera_infos) == ((640, 480), 1)
    stats.reset()
    assert stats.snapshot(4.0).input_age_s is None
    after = stats.snapshot(4.0)  # the node still holds its camera_info; the count restarts
    assert after.has_camera_info and after.camera_infos == 0


@pytest.mark.parametrize("bad", [0.0, -1.0, float("inf")])
def test_bad_windows(bad):
    with pytest.raises(ConfigError, match="window_s"):
        RateMeter(bad)


def test_bad_latency_window_and_times():
    with pytest.raises(ConfigError, match="window"):
        LatencyStats(0)
    with pytest.raises(InputError, match="finite time"):
        RateMeter().tick(float("nan"))
