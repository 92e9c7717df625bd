"""R, t -> Pose / Transform (quaternion x, y, z, w), stamps and durations."""

from __future__ import annotations

import numpy as np
import pytest

from ros_pose_estimation.core.errors import InputError
from ros_pose_estimation.core.rotations import axis_rotation, quat_to_matrix, random_rotations

pytestmark = pytest.mark.ros
pytest.importorskip("geometry_msgs.msg", reason="geometry_msgs (rclpy) not importable")

from ros_pose_estimation.conversions.poses import (  # noqa: E402
    duration_msg,
    pose_from_Rt,
    require_frame_id,
    stamp_to_ns,
    time_msg,
    transform_from_Rt,
)


def test_quaternion_order_is_xyzw():
    pose = pose_from_Rt(axis_rotation("z", np.pi / 2), [1.0, 2.0, 3.0])
    q = pose.orientation
    np.testing.assert_allclose([q.x, q.y, q.z, q.w], [0, 0, np.sqrt(0.5), np.sqrt(0.5)])
    assert (pose.position.x, pose.position.y, pose.position.z) == (1.0, 2.0, 3.0)


def test_round_trip_random_rotations():
    for rot in random_rotations(20, rng=0):
        tf = transform_from_Rt(rot, np.zeros(3))
        r = tf.rotation
        assert r.w >= 0
        np.testing.assert_allclose(quat_to_matrix([r.x, r.y, r.z, r.w]), rot, atol=1e-12)


def test_stamps_and_durations():
    from builtin_interfaces.msg import Time

    stamp = time_msg(12_000_000_345)
    assert (stamp.sec, stamp.nanosec) == (12, 345)
    assert stamp_to_ns(stamp) == 12_000_000_345 == stamp_to_ns(Time(sec=12, nanosec=345))
    d = duration_msg(0.25)
    assert (d.sec, d.nanosec) == (0, 250_000_000)
    with pytest.raises(InputError, match="duration"):
        duration_msg(-1.0)
    with pytest.raises(InputError, match="stamp"):
        stamp_to_ns("now")


def test_bad_pose_and_missing_frame():
    with pytest.raises(InputError, match=r"t: expected \[3\]"):
        pose_from_Rt(np.eye(3), [0.0, 1.0])
    with pytest.raises(InputError, match="finite"):
        pose_from_Rt(np.eye(3), [0.0, np.nan, 1.0])
    from std_msgs.msg import Header

    with pytest.raises(InputError, match="empty frame_id"):
        require_frame_id(Header(), "/tf")
