"""3D IoU of oriented boxes: hand-computed cases, Monte-Carlo check, symmetric categories."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from ros_pose_estimation.core.errors import InputError
from ros_pose_estimation.core.iou3d import (
    OrientedBox,
    aabb_iou_3d,
    intersection_volume,
    iou_3d,
    symmetric_iou_3d,
)

EYE = np.eye(3)


def rot(axis, deg):
    return Rotation.from_euler(axis, deg, degrees=True).as_matrix()


def cube(center=(0, 0, 0), size=(1, 1, 1), rotation=EYE):
    return OrientedBox(rotation, np.asarray(center, float), np.asarray(size, float))


def test_identical_boxes():
    box = cube((0.1, -0.2, 1.0), (0.2, 0.3, 0.4), rot("xyz", [10, 20, 30]))
    assert iou_3d(box, box) == pytest.approx(1.0)


def test_disjoint_and_touching_boxes():
    assert iou_3d(cube(), cube((3, 0, 0))) == 0.0
    assert iou_3d(cube(), cube((1, 0, 0))) == pytest.approx(0.0, abs=1e-12)  # sharing a face


def test_half_shifted_axis_aligned_is_one_third():
    # overlap 0.5, union 1.5
    assert iou_3d(cube(), cube((0.5, 0, 0))) == pytest.approx(1 / 3)
    assert iou_3d(cube(), cube((0.5, 0.5, 0))) == pytest.approx(0.25 / 1.75)


def test_contained_box():
    assert iou_3d(cube(size=(2, 2, 2)), cube()) == pytest.approx(1 / 8)
    assert intersection_volume(cube(size=(2, 2, 2)), cube(rotation=rot("z", 30))) == pytest.approx(
        1.0
    )


def test_cube_turned_45_degrees_about_z():
    # square cross-section overlap is a regular octagon of area 2 (sqrt 2 - 1)
    inter = 2 * (np.sqrt(2) - 1)
    expected = inter / (2 - inter)
    assert iou_3d(cube(), cube(rotation=rot("z", 45))) == pytest.approx(expected, rel=1e-9)


def test_rotated_box_against_monte_carlo():
    a = cube((0.0, 0.0, 0.0), (1.0, 0.8, 0.6))
    b = cube((0.2, -0.1, 0.15), (0.9, 0.7, 1.1), rot("xyz", [25, -40, 60]))
    pts = np.random.default_rng(0).uniform(-1.2, 1.2, (400_000, 3))
    in_a, in_b = a.contains(pts), b.contains(pts)
    mc = np.sum(in_a & in_b) / np.sum(in_a | in_b)
    assert iou_3d(a, b) == pytest.approx(mc, abs=0.005)
    assert iou_3d(a, b) == pytest.approx(iou_3d(b, a), abs=1e-12)


def test_bad_box_raises():
    with pytest.raises(InputError):
        OrientedBox(EYE, np.zeros(2), np.ones(3))
    with pytest.raises(InputError):
        OrientedBox(EYE, np.zeros(3), np.array([1.0, np.nan, 1.0]))


def test_symmetric_category_ignores_rotation_about_axis():
    gt = cube((0, 0, 1), (0.1, 0.1, 0.2))
    pred = cube((0, 0, 1), (0.1, 0.1, 0.2), rot("z", 45))
    plain = iou_3d(pred, gt)
    assert plain == pytest.approx(np.sqrt(2) / 2, rel=1e-9)  # 0.8284 / (2 - 0.8284)
    assert symmetric_iou_3d(pred, gt, "bottle") == pytest.approx(1.0, abs=1e-6)
    assert symmetric_iou_3d(pred, gt, "camera") == pytest.approx(plain)
    assert symmetric_iou_3d(pred, gt, "mug") == pytest.approx(plain)
    assert symmetric_iou_3d(pred, gt, "mug", continuous_axes=[[0, 0, 1]]) == pytest.approx(
        1.0, abs=1e-6
    )
    tilted = cube((0, 0, 1), (0.1, 0.1, 0.2), rot("x", 90))
    assert symmetric_iou_3d(tilted, gt, "bottle") < 0.6  # a tilt is still an error


def test_aabb_iou_is_the_nocs_approximation():
    # the 45 deg cube's camera-aligned bounds are sqrt2 x sqrt2 x 1 and contain the other cube
    assert aabb_iou_3d(cube(), cube(rotation=rot("z", 45))) == pytest.approx(0.5)
    assert aabb_iou_3d(cube(), cube((0.5, 0, 0))) == pytest.approx(1 / 3)
