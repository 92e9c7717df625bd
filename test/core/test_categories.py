"""The box's extent ordering: a pose measured longer along y becomes the x-longest frame."""

import numpy as np

from ros_pose_estimation.core.categories import (
    get_category,
    instance_symmetries,
    order_horizontal_extents,
)
from ros_pose_estimation.core.rotations import random_rotations


def test_a_box_measured_longer_along_y_is_turned_to_the_x_longest_frame():
    R = random_rotations(1, np.random.default_rng(0))[0]
    size = np.array([0.1, 0.3, 0.2])
    R2, size2 = order_horizontal_extents(get_category("box"), R, size)
    np.testing.assert_allclose(size2, [0.3, 0.1, 0.2])
    np.testing.assert_allclose(R2[:, 0], R[:, 1])  # the new x axis is the old (longer) y axis
    np.testing.assert_allclose(R2[:, 2], R[:, 2])  # up stays up
    assert np.isclose(np.linalg.det(R2), 1.0)
    # the corners of the box are the same points in the camera
    signs = np.array(np.meshgrid([-1, 1], [-1, 1], [-1, 1])).reshape(3, -1).T
    a, b = (signs * size / 2) @ R.T, (signs * size2 / 2) @ R2.T
    assert np.allclose(np.sort(a, axis=0), np.sort(b, axis=0))
    for R_in, s_in, cat in ((R, np.array([0.3, 0.1, 0.2]), "box"), (R, size, "camera")):
        R_out, s_out = order_horizontal_extents(get_category(cat), R_in, s_in)
        assert np.array_equal(R_out, R_in) and np.array_equal(s_out, s_in)


def _has(group: np.ndarray, R: np.ndarray) -> bool:
    return any(np.allclose(g, R) for g in group)


def test_a_box_with_a_square_footprint_also_maps_onto_itself_by_a_quarter_turn():
    box = get_category("box")
    quarter_z = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    square = instance_symmetries(box, np.array([0.301, 0.3007, 0.066]))  # 0.1 % apart
    assert len(square) == 8 and _has(square, quarter_z) and _has(square, quarter_z.T)
    for g in square:  # a group: proper rotations, closed under composition
        assert np.isclose(np.linalg.det(g), 1.0)
        assert all(_has(square, g @ h) for h in square)
    assert len(instance_symmetries(box, np.array([0.2, 0.2, 0.2]))) == 24  # a cube
    for size in (np.array([0.3, 0.29, 0.1]), np.array([0.3, 0.2, 0.1])):  # 3.3 % apart: not
        np.testing.assert_array_equal(instance_symmetries(box, size), box.discrete)
    np.testing.assert_array_equal(instance_symmetries(box, None), box.discrete)
    camera = get_category("camera")  # not a cuboid: its proportions add nothing
    np.testing.assert_array_equal(instance_symmetries(camera, np.full(3, 0.1)), camera.discrete)
