"""RANSAC planes (ros_pose_estimation/cse/planes.py): the shared search finds a plane among
outliers."""

from __future__ import annotations

import math

import numpy as np

from ros_pose_estimation.core.rotations import axis_angle_to_matrix
from ros_pose_estimation.cse.planes import best_plane, fit_plane

TRUE_R = np.asarray(axis_angle_to_matrix(np.array([0.3, -1.0, 0.2]) / np.linalg.norm(
    [0.3, -1.0, 0.2]) * math.radians(200.0)))  # fmt: skip


def test_fit_plane_recovers_a_plane_among_outliers():
    rng = np.random.default_rng(0)
    plane = np.stack([rng.uniform(-1, 1, 300), rng.uniform(-1, 1, 300), np.zeros(300)], 1)
    pts = np.concatenate([plane @ TRUE_R.T + 0.5, rng.uniform(-1, 1, (100, 3))])
    normal, centre, inliers = fit_plane(pts, 0.01, rng)
    assert abs(normal @ TRUE_R[:, 2]) > 0.9999
    assert inliers[:300].all() and inliers[300:].mean() < 0.1
    assert abs((centre - 0.5) @ TRUE_R[:, 2]) < 1e-3  # on the plane (an outlier or two in)
    assert fit_plane(pts[:2], 0.01, rng) is None


def test_best_plane_counts_its_inliers_and_refuses_degenerate_samples():
    rng = np.random.default_rng(1)
    flat = np.stack([rng.uniform(-1, 1, 200), rng.uniform(-1, 1, 200), np.zeros(200)], 1)
    count, normal, point = best_plane(flat, 0.001, rng, 20)
    assert count == 200 and abs(normal[2]) == 1.0 and point[2] == 0.0
    line = np.stack([np.linspace(0, 1, 50), np.zeros(50), np.zeros(50)], 1)  # collinear
    assert best_plane(line, 0.01, rng, 20) is None
    assert best_plane(flat[:2], 0.01, rng, 20) is None
