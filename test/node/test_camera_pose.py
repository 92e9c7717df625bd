"""CameraPoseSource with the built-in TF buffer (this environment has no tf2_ros): waits for a
transform up to the timeout, then says why it is missing; bad TF messages are skipped with a
warning, never raised into the executor; destroy removes its subscriptions."""

from __future__ import annotations

import time

import numpy as np
import pytest

pytestmark = pytest.mark.ros


def _tf(parent: str, child: str, sec: int, x: float):
    from geometry_msgs.msg import TransformStamped
    from tf2_msgs.msg import TFMessage

    ts = TransformStamped()
    ts.header.frame_id, ts.child_frame_id = parent, child
    ts.header.stamp.sec = sec
    ts.transform.translation.x = x
    ts.transform.rotation.w = 1.0
    return TFMessage(transforms=[ts])


@pytest.fixture
def source(rclpy_ctx):
    from rclpy.node import Node

    from ros_pose_estimation.node.camera_pose import CameraPoseSource

    node = Node("camera_pose_test")
    try:
        src = CameraPoseSource(node, backend="builtin")
    except ImportError as exc:
        pytest.skip(f"tf2_msgs not importable: {exc}")
    yield src, node
    src.destroy()
    node.destroy_node()


def test_lookup_interpolates_between_tf_samples(source):
    src, _ = source
    src.add(_tf("odom", "base", 10, 1.0), static=False)
    src.add(_tf("odom", "base", 11, 2.0), static=False)
    src.add(_tf("base", "cam", 0, 0.5), static=True)
    T = src.lookup("odom", "cam", 10_500_000_000, timeout_s=0.0)
    np.testing.assert_allclose(T[:3, 3], [2.0, 0.0, 0.0])
    np.testing.assert_array_equal(src.lookup("cam", "cam", 0, 0.0), np.eye(4))


def test_missing_transform_waits_for_the_timeout_then_says_why(source):
    from ros_pose_estimation.core.tf_buffer import TFLookupError

    src, _ = source
    src.add(_tf("odom", "base", 10, 1.0), static=False)
    start = time.monotonic()
    with pytest.raises(TFLookupError, match=r"map <- base at 10\.000 s: frame 'map' is not"):
        src.lookup("map", "base", 10_000_000_000, timeout_s=0.05)
    assert time.monotonic() - start >= 0.05
    with pytest.raises(TFLookupError, match="extrapolation"):  # a stamp TF has not reached
        src.lookup("odom", "base", 12_000_000_000, timeout_s=0.0)


def test_bad_tf_is_skipped_with_a_warning_and_destroy_unsubscribes(source):
    src, node = source
    assert {s.topic_name for s in src._subs} == {"/tf", "/tf_static"}
    src.add(_tf("odom", "base", 10, float("nan")), static=False)  # no exception
    assert "base" not in src._buffer.frames
    src.destroy()
    assert not src._subs and not [s for s in node.subscriptions if s.topic_name == "/tf"]
