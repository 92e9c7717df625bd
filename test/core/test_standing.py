"""core.standing: the up direction (from a camera pose, checked), a box stood on gravity, a
list of estimates stood; the turns themselves are pinned in test/cse/test_support.py (the RGB-D
estimator's surface) and the estimators' tests (test/nemo, test/cse: gravity)."""

import numpy as np
import pytest

from ros_pose_estimation.core.errors import InputError
from ros_pose_estimation.core.estimation import PoseEstimate
from ros_pose_estimation.core.rotations import axis_angle_to_matrix
from ros_pose_estimation.core.standing import (
    check_up,
    rest_axis_up,
    stand_all_on_gravity,
    stand_nearest_axis,
    stand_on_gravity,
    stand_upright,
    up_in_camera,
)
from ros_pose_estimation.cse import support


def test_check_up_gives_a_unit_vector_and_refuses_what_is_none():
    np.testing.assert_allclose(check_up([0.0, -3.0, 4.0]), [0.0, -0.6, 0.8])
    for bad in ([0.0, 0.0, 0.0], [np.nan, 0.0, 1.0], [0.0, 1.0], np.eye(3)):
        with pytest.raises(InputError, match="up: expected a finite non-zero"):
            check_up(bad)


def test_the_rgbd_support_module_uses_the_same_turns():
    assert support.stand_upright is stand_upright and support.rest_axis_up is rest_axis_up


def _about_camera_x(R: np.ndarray, deg: float) -> np.ndarray:
    """``R`` turned by ``deg`` about the camera's x axis."""
    return axis_angle_to_matrix(np.array([np.radians(deg), 0.0, 0.0])) @ R


def test_a_box_on_its_side_is_relabelled_then_stood_upright():
    up = np.array([0.0, -1.0, 0.0])  # the camera's -y: up in the image
    # a box whose model y points 8 deg off up (lying on a long side), x horizontal
    R_true = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])  # z -> camera y
    on_side = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
    R = _about_camera_x(R_true @ on_side, 8.0)
    est = PoseEstimate("box", R, np.array([0.0, 0.0, 1.0]), 0.5,
                       size=np.array([0.30, 0.10, 0.20]))  # fmt: skip
    assert abs(float(R[:, 1] @ up)) > 0.98  # its y is nearly vertical
    stand_on_gravity(est, "box", up, 15.0)
    np.testing.assert_allclose(est.R[:, 2], up, atol=1e-9)  # z is up now
    assert est.size[0] >= est.size[1]  # x the longer horizontal edge
    np.testing.assert_allclose(sorted(est.size), [0.10, 0.20, 0.30])
    np.testing.assert_allclose(est.size[2], 0.10)  # the vertical extent was y's
    np.testing.assert_allclose(est.R @ est.R.T, np.eye(3), atol=1e-9)
    assert np.linalg.det(est.R) > 0


def test_up_in_camera_is_the_worlds_z_seen_from_the_camera():
    T = np.eye(4)
    T[:3, :3] = axis_angle_to_matrix(np.array([np.pi / 2, 0.0, 0.0]))  # camera z -> world -y
    np.testing.assert_allclose(up_in_camera(T), T[:3, :3].T @ [0.0, 0.0, 1.0])
    np.testing.assert_allclose(up_in_camera(T), [0.0, 1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(up_in_camera(T[:3, :3]), up_in_camera(T))


def test_stand_all_skips_missing_estimates():
    up = np.array([0.0, 0.0, 1.0])
    tilted = PoseEstimate("mug", _about_camera_x(np.eye(3), 10.0), np.zeros(3), 0.5, np.ones(3))
    estimates = [None, tilted]
    stand_all_on_gravity(estimates, ["mug", "mug"], up, 15.0)
    assert estimates[0] is None
    np.testing.assert_allclose(tilted.R[:, 2], up, atol=1e-12)


def test_an_upside_down_estimate_is_turned_over_not_made_nan():
    up = np.array([0.0, -0.6, -0.8])
    flipped = np.array([[1.0, 0.0, 0.0], [0.0, 0.8, 0.6], [0.0, -0.6, 0.8]])  # z = -up
    np.testing.assert_allclose(flipped[:, 2], -up)
    stood = stand_upright(flipped, up, 180.0)
    assert np.isfinite(stood).all()
    np.testing.assert_allclose(stood[:, 2], up, atol=1e-12)
    np.testing.assert_allclose(stood[:, 0], flipped[:, 0], atol=1e-12)  # a half turn about x
    np.testing.assert_allclose(stood @ stood.T, np.eye(3), atol=1e-12)
    # within the usual gates an upside-down estimate is left as it is
    np.testing.assert_array_equal(stand_upright(flipped, up, 25.0), flipped)


def _lay(A: np.ndarray, k: int, sign: float, up: np.ndarray) -> np.ndarray:
    """``A`` turned by the smallest rotation that puts ``sign`` times its axis ``k`` on ``up``."""
    a = A[:, k] * sign
    axis = np.cross(a, up)
    angle = np.arccos(np.clip(a @ up, -1.0, 1.0))
    return axis_angle_to_matrix(axis / np.linalg.norm(axis) * angle) @ A


@pytest.mark.parametrize("k, sign", [(0, 1.0), (1, -1.0), (2, -1.0)])
def test_the_axis_nearest_the_surface_is_laid_on_it_whichever_it_is(k, sign):
    up = np.array([0.0, -1.0, 0.0])
    R_true = _lay(axis_angle_to_matrix(np.array([0.4, -1.1, 0.7])), k, sign, up)
    R = _about_camera_x(R_true, 12.0)  # that axis tilted 12 deg off the surface's normal
    stood = stand_nearest_axis(R, up, 20.0)
    np.testing.assert_allclose(stood[:, k] * sign, up, atol=1e-12)
    np.testing.assert_allclose(stood, R_true, atol=1e-12)  # the smallest turn: the tilt undone
    assert np.array_equal(stand_nearest_axis(R, up, 10.0), R)  # beyond the gate: unchanged
