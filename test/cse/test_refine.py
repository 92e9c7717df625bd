"""Similarity ICP refinement: converges from a perturbed pose, never loses support."""

import numpy as np

from ros_pose_estimation.core.rotations import axis_angle_to_matrix, geodesic_angle
from ros_pose_estimation.cse.refine import icp_similarity
from ros_pose_estimation.cse.template import category_template


def test_icp_recovers_the_pose_of_a_partial_view():
    verts = category_template("mug", 600).vertices
    rng = np.random.default_rng(0)
    R = axis_angle_to_matrix(np.array([0.4, -0.3, 1.0]))
    s, t = 1.1, np.array([0.02, -0.01, 0.5])
    front = verts[verts[:, 0] > -0.01]  # only part of the surface is seen
    points = s * front @ R.T + t + rng.normal(0, 5e-4, front.shape)
    R0 = R @ axis_angle_to_matrix(np.array([0.0, 0.0, np.radians(6)]))
    s1, R1, t1, n = icp_similarity(points, verts, 1.05, R0, t + 0.004, steps=10, threshold=0.02)
    assert np.degrees(geodesic_angle(R1, R)) < 2.0
    assert np.linalg.norm(t1 - t) < 0.003 and abs(s1 / s - 1) < 0.03
    assert n > 0.9 * len(points)


def test_no_support_keeps_the_initial_pose():
    verts = category_template("mug", 200).vertices
    far = verts + 10.0  # nothing within the threshold
    s, R, t, n = icp_similarity(far, verts, 1.0, np.eye(3), np.zeros(3), threshold=0.01)
    assert n == 0 and s == 1.0 and np.array_equal(R, np.eye(3))


def test_per_axis_icp_recovers_a_stretched_box():
    from ros_pose_estimation.cse.axis_scale import apply

    verts = category_template("box", 600).vertices
    rng = np.random.default_rng(2)
    R = axis_angle_to_matrix(np.array([0.3, 0.5, -0.2]))
    s, t = np.array([1.3, 0.8, 2.0]), np.array([0.0, 0.05, 0.7])
    seen = verts[verts @ R.T[:, 2] < 0.0]  # the faces towards the camera
    points = apply(seen, s, R, t) + rng.normal(0, 5e-4, seen.shape)
    R0 = R @ axis_angle_to_matrix(np.array([0.0, 0.0, np.radians(4)]))
    s1, R1, t1, n = icp_similarity(points, verts, s * 1.05, R0, t + 0.003, steps=15,
                                   threshold=0.02, per_axis=True)  # fmt: skip
    assert np.degrees(geodesic_angle(R1, R)) < 1.5
    assert np.allclose(s1, s, rtol=0.04) and np.linalg.norm(t1 - t) < 0.004
    assert n > 0.8 * len(points)
