"""Single-matrix log / exp / slerp against the general core.rotations."""

from __future__ import annotations

import numpy as np

from ros_pose_estimation.core.rotations import (
    axis_angle_to_matrix,
    geodesic_angle,
    matrix_to_axis_angle,
    random_rotations,
)
from ros_pose_estimation.core.so3 import (
    exp_map,
    geodesic_angles,
    log_map,
    log_map_batch,
    project_to_rotation,
    rotation_between,
    slerp,
)


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


def test_batched_primitives_match_the_single_matrix_ones():
    rots = np.concatenate([random_rotations(30, np.random.default_rng(1)),
                           axis_angle_to_matrix(np.array([[np.pi - 1e-6, 0.0, 0.0],
                                                          [0.0, 1e-9, 0.0]]))])  # fmt: skip
    vecs, angles = log_map_batch(rots)
    for r, v, a in zip(rots, vecs, angles, strict=True):
        np.testing.assert_allclose(v, log_map(r), atol=1e-9)
        assert abs(a - np.linalg.norm(log_map(r))) < 1e-9
    ref = rots[0]
    expected = [float(geodesic_angle(ref, r)) for r in rots]
    np.testing.assert_allclose(geodesic_angles(ref, rots), expected, atol=1e-7)


def test_projection_to_a_rotation_and_rotation_between_directions():
    rng = np.random.default_rng(2)
    rot = random_rotations(1, rng)[0]
    noisy = rot + 0.01 * rng.normal(size=(3, 3))
    closest = project_to_rotation(noisy.reshape(9))
    np.testing.assert_allclose(closest @ closest.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(closest) > 0 and np.abs(closest - rot).max() < 0.03
    reflected = project_to_rotation((rot @ np.diag([1.0, 1.0, -1.0])).reshape(9))
    assert np.linalg.det(reflected) > 0  # never a reflection
    for a, b in [([1, 0, 0], [0, 1, 0]), ([0, 0, 1], [0, 0, -1]), ([0, 1, 0], [0, 1, 0])]:
        a, b = np.asarray(a, float), np.asarray(b, float)
        turn = rotation_between(a, b)
        np.testing.assert_allclose(turn @ a, b, atol=1e-12)
        np.testing.assert_allclose(turn @ turn.T, np.eye(3), atol=1e-12)
