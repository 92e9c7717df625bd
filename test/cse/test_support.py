"""Objects standing on a surface (ros_pose_estimation/cse/support.py): a solve tilted by a few
degrees stands upright on the surface's normal; a clearly tilted one is left alone."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ros_pose_estimation.core.errors import ConfigError
from ros_pose_estimation.core.rotations import axis_angle_to_matrix
from ros_pose_estimation.cse.estimator import CseInferenceConfig
from ros_pose_estimation.cse.support import stand_upright


def _rot(axis, deg):
    v = np.asarray(axis, dtype=np.float64)
    return np.asarray(axis_angle_to_matrix(v / np.linalg.norm(v) * math.radians(deg)))


TRUE_R = _rot([0.4, -1.0, 0.3], 130.0)
NORMAL = TRUE_R[:, 2]  # the table's normal: the upright object's z


@pytest.mark.parametrize("tilt", [([1, 0, 0], 6.0), ([1, 1, 0], -12.0), ([0, 1, 0], 14.0)])
def test_a_slightly_tilted_solve_stands_upright_keeping_its_heading(tilt):
    solved = TRUE_R @ _rot(*tilt)  # tilted about a horizontal model axis
    R = stand_upright(solved, NORMAL)
    np.testing.assert_allclose(R[:, 2], NORMAL, atol=1e-12)
    np.testing.assert_allclose(R.T @ R, np.eye(3), atol=1e-12)
    assert np.linalg.det(R) == pytest.approx(1.0)
    # the smallest turn: the heading (x laid into the table) is the solve's
    x = solved[:, 0] - (solved[:, 0] @ NORMAL) * NORMAL
    assert R[:, 0] @ (x / np.linalg.norm(x)) > math.cos(math.radians(1.5))


def test_a_clearly_tilted_object_or_an_upright_one_is_left_alone():
    lying = TRUE_R @ _rot([1, 0, 0], 60.0)
    assert np.array_equal(stand_upright(lying, NORMAL), lying)
    assert np.array_equal(stand_upright(TRUE_R, NORMAL), TRUE_R)
    just_over = TRUE_R @ _rot([0, 1, 0], 16.0)
    assert np.array_equal(stand_upright(just_over, NORMAL, max_deg=15.0), just_over)
    assert np.allclose(stand_upright(just_over, NORMAL * 3.0, max_deg=20.0)[:, 2], NORMAL)


def test_config():
    assert CseInferenceConfig().upright_on_support
    with pytest.raises(ConfigError):
        CseInferenceConfig(upright_on_support_deg=100.0)
