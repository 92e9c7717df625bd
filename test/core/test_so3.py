"""Single-matrix log / exp / slerp against the general core.rotations."""

from __future__ import annotations

import numpy as np

from ros_pose_estimation.core.rotations import (
    axis_angle_to_matrix,
    geodesic_angle,
    matrix_to_axis_angle,
    random_rotations,
)
from ros_pose_estimation.core.so3 import exp_map, log_map, slerp


def test_single_matrix_log_exp_match_core_rotations():
    rng = np.random.default_rng(9)
    axes = rng.normal(size=(40, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    angles = np.concatenate([[0.0, 1e-9, 1e-5, np.pi - 1e-4, np.pi - 1e-7, np.pi],
                             rng.uniform(0, np.pi, 34)])  # fmt: skip
    for axis, angle in zip(axes, angles, strict=True):
        rot = axis_angle_to_matrix(axis * angle)
        np.testing.assert_allclose(exp_map(axis * angle), rot, atol=1e-12)
        back = log_map(rot)
        np.testing.assert_allclose(axis_angle_to_matrix(back), rot, atol=1e-9)
        if angle < np.pi - 1e-3:
            np.testing.assert_allclose(back, matrix_to_axis_angle(rot), atol=1e-9)


def test_slerp_endpoints_and_midpoint():
    a, b = random_rotations(2, rng=4)
    np.testing.assert_allclose(slerp(a, b, 0.0), a, atol=1e-12)
    np.testing.assert_allclose(slerp(a, b, 1.0), b, atol=1e-9)
    mid = slerp(a, b, 0.5)
    np.testing.assert_allclose(mid @ mid.T, np.eye(3), atol=1e-12)
    half = geodesic_angle(a, b) / 2
    np.testing.assert_allclose([geodesic_angle(a, mid), geodesic_angle(mid, b)], [half, half])
