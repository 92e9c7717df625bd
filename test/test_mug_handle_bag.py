"""benchmarks/mug_handle_bag.py: the error split about the true frame and the handle's pixels."""

import math

import numpy as np
import pytest

from benchmarks.mug_handle_bag import handle_pixels, split_error
from ros_pose_estimation.core.rotations import axis_rotation


def test_split_error_separates_the_turn_about_the_up_axis_from_the_tilt():
    R_true = axis_rotation("x", math.radians(-110.0))  # some camera view
    turned = R_true @ axis_rotation("z", math.radians(25.0))
    total, tilt, azimuth = split_error(R_true, turned)
    assert total == pytest.approx(25.0) and tilt == pytest.approx(0.0, abs=1e-6)
    assert azimuth == pytest.approx(25.0)
    tilted = R_true @ axis_rotation("x", math.radians(-12.0))
    total, tilt, azimuth = split_error(R_true, tilted)
    assert total == pytest.approx(12.0) and tilt == pytest.approx(12.0)
    assert azimuth == pytest.approx(0.0, abs=1e-6)


def test_handle_pixels_counts_points_beside_the_body_on_the_handle_side_only():
    size = np.array([0.12, 0.08, 0.10])  # handle reaches 4 cm beyond the 8 cm body
    R, t = np.eye(3), np.array([0.0, 0.0, 0.8])
    axis_x = -0.5 * size[0] + 0.04
    body = np.array([[axis_x + 0.04 * math.cos(a), 0.04 * math.sin(a), z]
                     for a in np.linspace(0, 2 * math.pi, 36)
                     for z in (-0.03, 0.0, 0.03)])  # fmt: skip
    handle = np.array([[axis_x + d, 0.0, z] for d in (0.06, 0.065, 0.07)
                       for z in (-0.02, 0.0, 0.02)])  # fmt: skip
    table = np.array([[axis_x + 0.07, 0.0, -0.05 - 0.001 * k] for k in range(5)])  # below
    assert handle_pixels(body + t, R, t, size) == 0
    assert handle_pixels(np.concatenate([body, handle, table]) + t, R, t, size) == len(handle)
