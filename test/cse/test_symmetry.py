"""Canonical output rotation for symmetric categories."""

import numpy as np

from ros_pose_estimation.core.categories import get_category
from ros_pose_estimation.core.metrics import rotation_error_deg
from ros_pose_estimation.core.rotations import (
    axis_angle_to_matrix,
    geodesic_angle,
    random_rotations,
)
from ros_pose_estimation.cse.symmetry import canonical_rotation


def test_rotation_about_the_symmetry_axis_gives_one_output():
    for R in random_rotations(5, 0):
        outs = [canonical_rotation(R @ axis_angle_to_matrix(np.array([0, 0, phi])), "bottle")
                for phi in (0.0, 0.7, 2.5, -1.9)]  # fmt: skip
        for out in outs:
            np.testing.assert_allclose(out, outs[0], atol=1e-9)
            assert rotation_error_deg(out, R, "bottle") < 1e-6  # same object
            np.testing.assert_allclose(out @ out.T, np.eye(3), atol=1e-9)
        axis = outs[0][:, 2]
        if abs(axis[0]) < 0.9:  # model x = camera x projected orthogonally to the axis
            want = np.array([1.0, 0, 0]) - axis[0] * axis
            np.testing.assert_allclose(outs[0][:, 0], want / np.linalg.norm(want), atol=1e-9)


def test_asymmetric_is_unchanged_and_box_keeps_z_up_then_x_right():
    R = random_rotations(1, 1)[0]
    np.testing.assert_array_equal(canonical_rotation(R, "mug"), R)
    flip = np.diag([1.0, -1.0, -1.0])  # 180 deg about x: a box symmetry
    near = axis_angle_to_matrix(np.array([0.1, 0.0, 0.0]))
    out = canonical_rotation(near @ flip, "box")
    assert np.degrees(geodesic_angle(out, near)) < 1e-6

    # a box on a table seen from 40 deg above, model x pointing away and to the left: the
    # member with z up in the image and x towards the image's right
    look = axis_angle_to_matrix(np.array([np.radians(-90 - 40), 0.0, 0.0]))  # world -> camera
    R = look @ axis_angle_to_matrix(np.array([0.0, 0.0, np.radians(120)]))  # box yaw 120 deg
    for S in get_category("box").discrete:
        out = canonical_rotation(R @ S, "box")
        assert rotation_error_deg(out, R, "box") < 1e-6
        assert out[1, 2] < 0 and out[0, 0] > 0  # z up in the image, x to the right
        np.testing.assert_allclose(out, canonical_rotation(R, "box"), atol=1e-12)
