"""The project's conventions, pinned: quaternion order, frames, depth units, encodings, BOP."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from ros_pose_estimation.core import conventions as cv
from ros_pose_estimation.core.errors import EncodingError, InputError
from ros_pose_estimation.core.rotations import quat_to_matrix


def test_quaternion_order_is_ros_and_scipy():
    assert cv.QUATERNION_ORDER == "xyzw"
    q = Rotation.from_euler("z", 90, degrees=True).as_quat()  # scipy: scalar last
    np.testing.assert_allclose(q, [0, 0, np.sin(np.pi / 4), np.cos(np.pi / 4)], atol=1e-12)


def test_optical_to_link_rotation_axes():
    r = cv.R_LINK_FROM_OPTICAL
    np.testing.assert_array_equal(r @ [0, 0, 1], [1, 0, 0])  # optical forward = link forward
    np.testing.assert_array_equal(r @ [1, 0, 0], [0, -1, 0])  # optical right = link -left
    np.testing.assert_array_equal(r @ [0, 1, 0], [0, 0, -1])  # optical down = link -up
    np.testing.assert_allclose(cv.R_OPTICAL_FROM_LINK @ r, np.eye(3))
    assert np.linalg.det(r) == pytest.approx(1.0)


def test_optical_quaternion_matches_matrix_and_rpy():
    np.testing.assert_allclose(
        quat_to_matrix(cv.Q_LINK_FROM_OPTICAL), cv.R_LINK_FROM_OPTICAL, atol=1e-12
    )
    # the usual static TF: roll -90 deg, pitch 0, yaw -90 deg (extrinsic xyz = ROS rpy)
    rpy = Rotation.from_euler("xyz", [-90, 0, -90], degrees=True).as_matrix()
    np.testing.assert_allclose(rpy, cv.R_LINK_FROM_OPTICAL, atol=1e-12)


def test_16uc1_is_millimetres_and_zero_invalid():
    raw = np.array([[0, 1000, 1234, 65535]], dtype=np.uint16)
    m = cv.depth_to_metres(raw, "16UC1")
    assert m.dtype == np.float32
    np.testing.assert_allclose(m, [[0.0, 1.0, 1.234, 65.535]], rtol=1e-6)
    np.testing.assert_allclose(cv.depth_to_metres(raw, "mono16"), m)


def test_32fc1_is_metres_and_every_invalid_becomes_zero():
    raw = np.array([[2.5, 0.0, np.nan, np.inf, -np.inf, -1.0]], dtype=np.float32)
    np.testing.assert_array_equal(cv.depth_to_metres(raw, "32FC1"), [[2.5, 0, 0, 0, 0, 0]])


def test_depth_dtype_and_encoding_checked():
    with pytest.raises(InputError, match="uint16"):
        cv.depth_to_metres(np.zeros((2, 2), np.float32), "16UC1")
    with pytest.raises(InputError):
        cv.depth_to_metres(np.zeros((2, 2), np.uint16), "32FC1")
    with pytest.raises(EncodingError, match="16UC1"):
        cv.depth_to_metres(np.zeros((2, 2), np.uint16), "8UC1")
    with pytest.raises(InputError):
        cv.depth_to_metres(np.zeros((2, 2, 1), np.uint16), "16UC1")


def test_metres_to_depth():
    m = np.array([[1.2344, 1.2346, 0.0, np.nan, 70.0, -1.0]])
    np.testing.assert_array_equal(cv.metres_to_depth(m, "16UC1"), [[1234, 1235, 0, 0, 0, 0]])
    assert cv.metres_to_depth(m, "16UC1").dtype == np.uint16
    f = cv.metres_to_depth(m, "32FC1")
    assert f.dtype == np.float32
    np.testing.assert_array_equal(np.isnan(f), [[False, False, True, True, False, True]])
    assert f[0, 4] == pytest.approx(70.0)


def test_depth_round_trip():
    rng = np.random.default_rng(0)
    mm = rng.integers(0, 10000, size=(4, 5)).astype(np.uint16)
    for enc in ("16UC1", "32FC1"):
        back = cv.depth_to_metres(cv.metres_to_depth(cv.depth_to_metres(mm, "16UC1"), enc), enc)
        np.testing.assert_allclose(back, mm / 1000.0, atol=1e-6)


def test_colour_encodings_to_rgb():
    px = np.array([[[10, 20, 30]]], dtype=np.uint8)
    np.testing.assert_array_equal(cv.color_to_rgb8(px, "rgb8"), px)
    np.testing.assert_array_equal(cv.color_to_rgb8(px, "bgr8"), [[[30, 20, 10]]])
    rgba = np.array([[[10, 20, 30, 255]]], dtype=np.uint8)
    np.testing.assert_array_equal(cv.color_to_rgb8(rgba, "rgba8"), px)
    np.testing.assert_array_equal(cv.color_to_rgb8(rgba, "bgra8"), [[[30, 20, 10]]])
    np.testing.assert_array_equal(
        cv.color_to_rgb8(np.array([[7]], np.uint8), "mono8"), [[[7, 7, 7]]]
    )
    with pytest.raises(InputError):
        cv.color_to_rgb8(rgba, "rgb8")
    with pytest.raises(EncodingError):
        cv.color_to_rgb8(px, "yuv422")


def test_pixel_centre_box_conversion():
    # a detector box covering a whole 640 x 480 image, image edge at 0
    np.testing.assert_array_equal(
        cv.edge_box_to_centre_box([0, 0, 640, 480]), [-0.5, -0.5, 639.5, 479.5]
    )
    np.testing.assert_array_equal(
        cv.centre_box_to_edge_box([-0.5, -0.5, 639.5, 479.5]), [0, 0, 640, 480]
    )
    assert cv.PIXEL_CENTRE_OFFSET == 0.0


def test_bop_units_and_row_major():
    # 90 deg about z, row-major: R[0, 1] = -1
    rot, t = cv.bop_pose_to_metres([0, -1, 0, 1, 0, 0, 0, 0, 1], [10.0, -20.0, 500.0])
    np.testing.assert_array_equal(rot[0], [0, -1, 0])
    np.testing.assert_allclose(rot @ [1, 0, 0], [0, 1, 0])
    np.testing.assert_allclose(t, [0.01, -0.02, 0.5])
    back = cv.pose_to_bop(rot, t)
    assert back["cam_R_m2c"] == [0, -1, 0, 1, 0, 0, 0, 0, 1]
    np.testing.assert_allclose(back["cam_t_m2c"], [10.0, -20.0, 500.0])
    with pytest.raises(InputError):
        cv.bop_pose_to_metres([1, 0, 0], [0, 0, 0])
