"""Intrinsics: CameraInfo parsing, projection, back-projection, scaling."""

import warnings

import numpy as np
import pytest

from ros_pose_estimation.core.camera import DistortionWarning, Intrinsics, require_valid_depth
from ros_pose_estimation.core.errors import DepthError, InputError, IntrinsicsError

CAM = Intrinsics(fx=500.0, fy=400.0, cx=320.0, cy=240.0, width=640, height=480)


def test_camera_info_k_is_row_major():
    k = [500.0, 0.0, 320.0, 0.0, 400.0, 240.0, 0.0, 0.0, 1.0]
    cam = Intrinsics.from_camera_info_fields(k, 640, 480)
    assert (cam.fx, cam.fy, cam.cx, cam.cy) == (500.0, 400.0, 320.0, 240.0)
    np.testing.assert_array_equal(cam.K, np.reshape(k, (3, 3)))
    assert cam == CAM


def test_camera_info_prefers_rectified_p():
    k = [500.0, 0.0, 320.0, 0.0, 400.0, 240.0, 0.0, 0.0, 1.0]
    p = [490.0, 0.0, 318.0, 0.0, 0.0, 395.0, 241.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    cam = Intrinsics.from_camera_info_fields(k, 640, 480, p=p)
    assert (cam.fx, cam.fy, cam.cx, cam.cy) == (490.0, 395.0, 318.0, 241.0)
    # an all-zero P (not filled in) falls back to K
    assert Intrinsics.from_camera_info_fields(k, 640, 480, p=[0.0] * 12) == CAM


def test_uncalibrated_camera_info_raises():
    with pytest.raises(IntrinsicsError, match="not calibrated"):
        Intrinsics.from_camera_info_fields([0.0] * 9, 640, 480)
    with pytest.raises(IntrinsicsError, match="9 values"):
        Intrinsics.from_camera_info_fields([1.0] * 4, 640, 480)
    with pytest.raises(IntrinsicsError):
        Intrinsics.from_camera_info_fields(list(CAM.K.ravel()), 0, 480)


def test_distortion_warns_only_when_non_zero():
    k = list(CAM.K.ravel())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Intrinsics.from_camera_info_fields(k, 640, 480, d=[0.0] * 5)
    with pytest.warns(DistortionWarning, match="rectified"):
        Intrinsics.from_camera_info_fields(k, 640, 480, d=[0.1, 0, 0, 0, 0])


def test_invalid_values_rejected():
    with pytest.raises(IntrinsicsError):
        Intrinsics(0.0, 1.0, 0.0, 0.0, 10, 10)
    with pytest.raises(IntrinsicsError):
        Intrinsics(1.0, 1.0, np.nan, 0.0, 10, 10)
    with pytest.raises(IntrinsicsError):
        Intrinsics(1.0, 1.0, 0.0, 0.0, 10.5, 10)


def test_project_known_point():
    uv = CAM.project(np.array([[0.1, -0.2, 2.0], [0.0, 0.0, -1.0]]))
    np.testing.assert_allclose(uv[0], [345.0, 200.0])
    assert np.all(np.isnan(uv[1]))  # behind the camera
    with pytest.raises(InputError, match=r"\[\? x 3\]"):
        CAM.project(np.zeros((4, 2)))


def test_backproject_inverts_project():
    rng = np.random.default_rng(1)
    pts = np.column_stack([rng.uniform(-1, 1, (50, 2)), rng.uniform(0.3, 4, 50)])
    np.testing.assert_allclose(CAM.backproject(CAM.project(pts), pts[:, 2]), pts, atol=1e-12)


def test_backproject_depth_image():
    depth = np.full((480, 640), 2.0, np.float32)
    depth[0, 0], depth[0, 1], depth[0, 2], depth[0, 3] = 0.0, np.nan, np.inf, -1.0
    pts = CAM.backproject_depth(depth)
    assert pts.shape == (480, 640, 3)
    np.testing.assert_allclose(pts[240, 320], [0.0, 0.0, 2.0])  # principal point, pixel centre
    np.testing.assert_allclose(pts[240, 321], [2.0 / 500.0, 0.0, 2.0])
    np.testing.assert_array_equal(pts[0, :4], np.zeros((4, 3)))
    with pytest.raises(InputError, match=r"\[480 x 640\]"):
        CAM.backproject_depth(np.ones((240, 320)))


def test_backproject_depth_valid_with_mask():
    cam = Intrinsics(100.0, 100.0, 1.0, 1.0, 3, 2)
    depth = np.array([[1.0, 0.0, 2.0], [np.nan, 3.0, 4.0]])
    mask = np.array([[True, True, True], [True, True, False]])
    pts, valid = cam.backproject_depth_valid(depth, mask)
    np.testing.assert_array_equal(valid, [[True, False, True], [False, True, False]])
    expect = [[-0.01, -0.01, 1.0], [0.02, -0.02, 2.0], [0.0, 0.0, 3.0]]
    np.testing.assert_allclose(pts, expect)


def test_scaled_follows_pixel_centre_convention():
    cam = Intrinsics(500.0, 500.0, 319.5, 239.5, 640, 480)  # principal point = image centre
    half = cam.scaled(0.5)
    assert (half.width, half.height) == (320, 240)
    assert (half.cx, half.cy, half.fx) == (159.5, 119.5, 250.0)
    # pixel edges scale: u' + 0.5 = s (u + 0.5), for any projected point
    pt = np.array([[0.3, -0.1, 1.7]])
    np.testing.assert_allclose(half.project(pt) + 0.5, 0.5 * (cam.project(pt) + 0.5))
    r = cam.resized(200, 100)
    assert (r.width, r.height) == (200, 100)
    np.testing.assert_allclose(
        r.project(pt) + 0.5, (cam.project(pt) + 0.5) * [200 / 640, 100 / 480]
    )


def test_dict_round_trip_and_checks():
    assert Intrinsics.from_dict(CAM.to_dict()) == CAM
    with pytest.raises(IntrinsicsError, match="'fy'"):
        Intrinsics.from_dict({"fx": 1.0})
    CAM.check_image(np.zeros((480, 640, 3)))
    with pytest.raises(IntrinsicsError, match="480 x 640"):
        CAM.check_image(np.zeros((640, 480, 3)))


def test_require_valid_depth():
    require_valid_depth(np.array([[0.0, 1.0]]))
    with pytest.raises(DepthError):
        require_valid_depth(np.array([[0.0, np.nan]]))
