"""DiagnosticArray from node statistics: values and the OK / WARN / ERROR rules."""

from __future__ import annotations

import pytest

from ros_pose_estimation.core.errors import ConfigError
from ros_pose_estimation.node.stats import NodeStats

pytestmark = pytest.mark.ros
pytest.importorskip("diagnostic_msgs.msg", reason="diagnostic_msgs (rclpy) not importable")

from diagnostic_msgs.msg import DiagnosticStatus  # noqa: E402

from ros_pose_estimation.conversions.diagnostics import (  # noqa: E402
    DiagnosticRules,
    diagnostic_array,
)


def _running(seconds: float, output_every: int = 1, camera_info: bool = True) -> NodeStats:
    """30 Hz input from t = 1 s for ``seconds``; every ``output_every``-th frame published
    (0: none)."""
    stats = NodeStats(window_s=5.0, drop_reasons=["busy"], skip_reasons=["unknown_class"])
    stats.start(0.0)
    for _ in range(3 if camera_info else 0):
        stats.camera_info_received(640, 480)
    for k in range(int(seconds * 30)):
        now = 1.0 + k / 30.0
        stats.inputs.tick(now)
        if output_every and k % output_every == 0:
            stats.outputs.tick(now + 0.01)
            stats.latency.add_all({"estimate": 80.0, "total": 85.0 + k % 5})
        else:
            stats.dropped.add("busy")
    stats.skipped.add("unknown_class", 2)
    return stats


def _status(stats: NodeStats, now: float, rules=None) -> DiagnosticStatus:
    msg = diagnostic_array(2_500_000_000, node_name="pose_estimation", stats=stats.snapshot(now),
                           rules=rules)  # fmt: skip
    assert len(msg.status) == 1
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (2, 500_000_000)
    return msg.status[0]


def test_healthy_node_is_ok_with_values():
    stats = _running(4.0, output_every=2)
    status = _status(stats, 1.0 + 4.0)
    assert status.level == DiagnosticStatus.OK
    assert status.name == "pose_estimation: pose estimation"
    assert status.hardware_id == "pose_estimation"
    values = {kv.key: kv.value for kv in status.values}
    assert float(values["input_rate_hz"]) == pytest.approx(30.0, rel=0.01)
    assert float(values["output_rate_hz"]) == pytest.approx(15.0, rel=0.01)
    assert values["camera_info"] == "received" and values["camera_info_size"] == "640x480"
    assert values["camera_infos_received"] == "3"
    assert float(values["latency_total_median_ms"]) == pytest.approx(87.0)
    assert float(values["latency_total_p90_ms"]) == pytest.approx(89.0)
    assert values["latency_total_max_ms"] == "89.0" and values["latency_estimate_count"] == "60"
    assert values["dropped_frames_busy"] == "60" and values["dropped_frames_total"] == "60"
    assert values["skipped_detections_unknown_class"] == "2"
    assert status.message.startswith("ok")


def test_missing_camera_info_warns_after_timeout():
    stats = _running(3.0, camera_info=False)
    assert _status(stats, 3.0).level == DiagnosticStatus.OK  # 2 s after the first image
    status = _status(stats, 6.5)  # 5.5 s after it (and no image for 2.5 s)
    assert status.level == DiagnosticStatus.WARN and "no camera_info" in status.message
    values = {kv.key: kv.value for kv in status.values}
    assert values["camera_info"] == "missing" and values["camera_info_size"] == "-"


def test_no_input_warns():
    stats = NodeStats()
    stats.start(0.0)
    assert _status(stats, 2.0).level == DiagnosticStatus.OK  # still starting
    status = _status(stats, 6.0)
    assert status.level == DiagnosticStatus.WARN and "no image received" in status.message
    stats = _running(2.0)
    status = _status(stats, 3.0 + 6.0)
    assert status.level == DiagnosticStatus.WARN and "no image for" in status.message


def test_no_output_while_images_arrive_warns_then_errors():
    stats = _running(8.0, output_every=0)
    status = _status(stats, 1.0 + 8.0)
    assert status.level == DiagnosticStatus.WARN and "nothing was published" in status.message
    stats = _running(40.0, output_every=0)
    status = _status(stats, 1.0 + 40.0)
    assert status.level == DiagnosticStatus.ERROR
    # outputs stopped 6 s ago while inputs continue: WARN
    stats = _running(10.0)
    for k in range(int(6 * 30)):
        stats.inputs.tick(11.0 + k / 30.0)
    assert _status(stats, 17.0).level == DiagnosticStatus.WARN


def test_latency_rule_and_rule_validation():
    stats = _running(3.0)
    rules = DiagnosticRules(max_latency_ms=50.0)
    status = _status(stats, 4.0, rules)
    assert status.level == DiagnosticStatus.WARN and "latency p90" in status.message
    assert _status(stats, 4.0, DiagnosticRules(max_latency_ms=100.0)).level == DiagnosticStatus.OK
    with pytest.raises(ConfigError, match="error_timeout_s"):
        _status(stats, 4.0, DiagnosticRules(output_timeout_s=10.0, error_timeout_s=5.0))
    with pytest.raises(ConfigError, match="input_timeout_s"):
        _status(stats, 4.0, DiagnosticRules(input_timeout_s=0.0))


def test_frame_counts_say_where_frames_were_lost():
    stats = _running(2.0, output_every=3)  # 60 images in, 20 published
    stats.synchronised = 50
    values = {kv.key: kv.value for kv in _status(stats, 3.0).values}
    assert (values["frames_received"], values["frames_synchronised"],
            values["frames_published"]) == ("60", "50", "20")  # fmt: skip
    assert values["clock_skew_s"] == "-"  # no frame measured yet


def test_clock_skew_is_reported_and_warns():
    stats = _running(2.0)
    stats.clock_skew_s = 0.0
    status = _status(stats, 3.0)
    assert status.level == DiagnosticStatus.OK
    assert {kv.key: kv.value for kv in status.values}["clock_skew_s"] == "0.000"
    stats.clock_skew_s = 3599.25
    status = _status(stats, 3.0)
    assert status.level == DiagnosticStatus.WARN
    assert "clock skew: image stamps 3599.250 s ahead of this node's clock" in status.message
    assert {kv.key: kv.value for kv in status.values}["clock_skew_s"] == "3599.250"
