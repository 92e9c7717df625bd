"""CameraInfo -> Intrinsics with rosbags and rclpy messages; uncalibrated and unsupported cases."""

from __future__ import annotations

import numpy as np
import pytest

from offline_training.synthetic.messages import camera_info
from ros_pose_estimation.conversions.camera_info import intrinsics_from_camera_info
from ros_pose_estimation.core.camera import DistortionWarning
from ros_pose_estimation.core.errors import IntrinsicsError

K = np.array([[500.0, 0.0, 319.5], [0.0, 510.0, 239.5], [0.0, 0.0, 1.0]])


def test_rosbags_camera_info():
    intr = intrinsics_from_camera_info(camera_info(K, 640, 480, 0, "cam"))
    assert (intr.fx, intr.fy, intr.cx, intr.cy, intr.width, intr.height) == (
        500.0,
        510.0,
        319.5,
        239.5,
        640,
        480,
    )


def test_p_preferred_over_k():
    msg = camera_info(K, 640, 480, 0, "cam")
    p = np.zeros((3, 4))
    p[:, :3] = K
    p[0, 0], p[0, 2] = 450.0, 320.0
    msg.p = p.reshape(-1)
    intr = intrinsics_from_camera_info(msg)
    assert intr.fx == 450.0 and intr.cx == 320.0 and intr.fy == 510.0


def test_all_zero_k_is_uncalibrated():
    msg = camera_info(np.zeros((3, 3)), 640, 480, 0, "cam")
    with pytest.raises(IntrinsicsError, match="all-zero K: is the camera calibrated?"):
        intrinsics_from_camera_info(msg)


@pytest.mark.parametrize("field", ["k", "p"])
def test_non_finite_k_or_p_is_rejected(field):
    msg = camera_info(K, 640, 480, 0, "cam")
    values = np.asarray(getattr(msg, field), dtype=np.float64).copy()
    values[0] = np.nan if field == "k" else np.inf
    setattr(msg, field, values)
    with pytest.raises(IntrinsicsError, match=f"camera_info {field.upper()} has NaN or infinite"):
        intrinsics_from_camera_info(msg)


def test_distortion_warns_and_binning_roi_rejected():
    msg = camera_info(K, 640, 480, 0, "cam")
    msg.d = np.array([0.1, 0.0, 0.0, 0.0, 0.0])
    with pytest.warns(DistortionWarning):
        intrinsics_from_camera_info(msg)
    msg = camera_info(K, 640, 480, 0, "cam")
    msg.binning_x = 2
    with pytest.raises(IntrinsicsError, match="binning"):
        intrinsics_from_camera_info(msg)
    msg = camera_info(K, 640, 480, 0, "cam")
    msg.roi.width, msg.roi.height = 100, 100
    with pytest.raises(IntrinsicsError, match="roi"):
        intrinsics_from_camera_info(msg)


@pytest.mark.ros
def test_rclpy_camera_info():
    try:
        from sensor_msgs.msg import CameraInfo
    except ImportError as exc:
        pytest.skip(f"sensor_msgs (rclpy) not importable: {exc}")
    msg = CameraInfo(width=640, height=480, distortion_model="plumb_bob")
    msg.k = K.reshape(-1).tolist()
    msg.d = [0.0] * 5
    intr = intrinsics_from_camera_info(msg)  # P is all zero: K is used
    np.testing.assert_array_equal(intr.K, K)
    with pytest.raises(IntrinsicsError, match="all-zero K"):
        intrinsics_from_camera_info(CameraInfo(width=640, height=480))
