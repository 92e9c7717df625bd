"""Objects standing on a surface (ros_pose_estimation/cse/support.py): a solve tilted by a few
degrees stands upright on the surface's normal; a clearly tilted one is left alone; a box solved
with another axis up is relabelled so that z is the vertical one; a box reaching below the
surface is cut at it; an upright object's height is measured from the surface to its top."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from ros_pose_estimation.core.errors import ConfigError
from ros_pose_estimation.core.rotations import axis_angle_to_matrix
from ros_pose_estimation.cse.estimator import CseInferenceConfig
from ros_pose_estimation.cse.support import (
    TOP_PERCENTILE,
    clip_to_support,
    height_from_support,
    rest_axis_up,
    stand_upright,
)


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


def _box_corners(R, size):
    signs = np.array([[a, b, c] for a in (-1, 1) for b in (-1, 1) for c in (-1, 1)], float)
    return np.sort(np.round((signs * size / 2) @ R.T, 9), axis=0)


def _signed_permutation(axis: int, sign: int) -> np.ndarray:
    """A proper signed permutation ``Q`` with ``Q e_axis = sign e_z``."""
    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((1, -1), repeat=3):
            Q = np.zeros((3, 3))
            Q[list(perm), range(3)] = signs
            if np.linalg.det(Q) > 0 and np.allclose(Q[:, axis], [0, 0, sign]):
                return Q
    raise AssertionError


@pytest.mark.parametrize("axis, sign", [(0, 1), (0, -1), (1, 1), (1, -1), (2, -1)])
def test_a_box_solved_on_its_side_gets_the_vertical_axis_as_z(axis, sign):
    size = np.array([0.30, 0.12, 0.20])  # the box, upright in TRUE_R
    Q = _signed_permutation(axis, sign)
    R = TRUE_R @ Q  # the same box labelled with model axis `axis` (signed) up
    sizes_in = size[np.abs(Q).argmax(axis=0)]
    np.testing.assert_allclose(_box_corners(R, sizes_in), _box_corners(TRUE_R, size), atol=1e-9)
    tilted = R @ _rot([0.3, 0.2, 0.1], 4.0)
    R_out, size_out = rest_axis_up(tilted, sizes_in, NORMAL, 15.0)
    assert np.linalg.det(R_out) == pytest.approx(1.0)
    assert R_out[:, 2] @ NORMAL > math.cos(math.radians(5.0))  # z up, away from the table
    np.testing.assert_allclose(size_out[2], size[2])  # the vertical extent is z's
    np.testing.assert_allclose(_box_corners(R_out, size_out), _box_corners(tilted, sizes_in),
                               atol=1e-9)  # the same box  # fmt: skip


def test_a_box_tilted_beyond_the_angle_or_already_upright_keeps_its_axes():
    size = np.array([0.3, 0.12, 0.2])
    upright = TRUE_R @ _rot([0, 0, 1], 30.0)
    R, s = rest_axis_up(upright, size, NORMAL, 15.0)
    assert np.array_equal(R, upright) and np.array_equal(s, size)
    leaning = TRUE_R @ _rot([1, 0, 0], 60.0)  # y 30 deg off the normal
    R, s = rest_axis_up(leaning, size, NORMAL, 15.0)
    assert np.array_equal(R, leaning) and np.array_equal(s, size)


def _table_under(t, R, size, sink):
    """The surface ``(normal, offset)`` on which a box of centre ``t`` stands with its bottom
    ``sink`` m below the surface's plane (negative: floating above it)."""
    n = R[:, 2]
    return n, -float(t @ n) + 0.5 * size[2] - sink


def test_a_box_reaching_below_the_table_is_cut_there_keeping_its_top():
    size = np.array([0.08, 0.08, 0.14])
    t = np.array([0.05, -0.02, 0.7])
    support = _table_under(t, TRUE_R, size, sink=0.03)  # the bottom 3 cm under the table
    t2, size2 = clip_to_support(TRUE_R, t, size, support)
    np.testing.assert_allclose(size2, [0.08, 0.08, 0.11])
    height = lambda p: float(p @ support[0]) + support[1]  # noqa: E731
    assert height(t2 - 0.5 * size2[2] * TRUE_R[:, 2]) == pytest.approx(0.0, abs=1e-12)
    top = t + 0.5 * size[2] * TRUE_R[:, 2]
    np.testing.assert_allclose(t2 + 0.5 * size2[2] * TRUE_R[:, 2], top, atol=1e-12)


def test_clipping_leaves_floating_tilted_and_implausible_boxes_alone():
    size = np.array([0.08, 0.08, 0.14])
    t = np.array([0.05, -0.02, 0.7])
    above = _table_under(t, TRUE_R, size, sink=-0.01)  # floating 1 cm above: not moved down
    t1, size1 = clip_to_support(TRUE_R, t, size, above)
    assert np.array_equal(t1, t) and np.array_equal(size1, size)
    below = _table_under(t, TRUE_R, size, sink=0.03)
    tilted = TRUE_R @ _rot([1, 0, 0], 40.0)
    t2, size2 = clip_to_support(tilted, t, size, below)
    assert np.array_equal(t2, t) and np.array_equal(size2, size)
    deep = _table_under(t, TRUE_R, size, sink=0.1)  # 70 % of the height under the "table"
    t3, size3 = clip_to_support(TRUE_R, t, size, deep)
    assert np.array_equal(t3, t) and np.array_equal(size3, size)


def _cylinder_pixels(t, R, size, n=800, seed=0):
    """Camera-frame points on the side and top of an upright cylinder (``size``: its box),
    with one stray pixel high above it (what the top's percentile ignores)."""
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.0, 2 * math.pi, n)
    z = rng.uniform(-0.5, 0.5, n) * size[2]
    side = np.stack([0.5 * size[0] * np.cos(a), 0.5 * size[1] * np.sin(a), z], 1)
    r = 0.5 * size[0] * np.sqrt(rng.uniform(0.0, 1.0, n // 4))
    b = rng.uniform(0.0, 2 * math.pi, n // 4)
    top = np.stack([r * np.cos(b), r * np.sin(b), np.full(n // 4, 0.5 * size[2])], 1)
    stray = np.array([[0.0, 0.0, 0.5 * size[2] + 0.2]])
    return np.concatenate([side, top, stray]) @ R.T + t


def test_an_upright_object_reaches_from_the_table_to_the_top_of_its_pixels():
    true = np.array([0.08, 0.08, 0.14])
    t_true = np.array([0.05, -0.02, 0.7])
    support = _table_under(t_true, TRUE_R, true, sink=0.0)  # the bottom on the table
    pts = _cylinder_pixels(t_true, TRUE_R, true)
    short = true * np.array([1.0, 1.0, 0.88])  # the solve 12 % short, its centre 1 cm low
    t_low = t_true - 0.01 * TRUE_R[:, 2]
    t2, size2, measured = height_from_support(TRUE_R, t_low, short, support, pts)
    assert measured
    np.testing.assert_allclose(size2[:2], short[:2])  # the width is the solve's
    assert size2[2] == pytest.approx(true[2], abs=0.002)  # the stray pixel ignored
    np.testing.assert_allclose(t2, t_true, atol=0.001)
    assert TOP_PERCENTILE < 100.0


def test_the_height_is_left_alone_tilted_with_few_pixels_or_implausible():
    true = np.array([0.08, 0.08, 0.14])
    t = np.array([0.05, -0.02, 0.7])
    support = _table_under(t, TRUE_R, true, sink=0.0)
    pts = _cylinder_pixels(t, TRUE_R, true)
    for R, points, size in [
        (TRUE_R @ _rot([1, 0, 0], 10.0), pts, true),  # not stood upright on this surface
        (TRUE_R, pts[:10], true),  # too few pixels
        (TRUE_R, pts, true * np.array([1.0, 1.0, 0.3])),  # 3.3x the solve: not the object's
    ]:
        t2, size2, measured = height_from_support(R, t, size, support, points)
        assert not measured and np.array_equal(t2, t) and np.array_equal(size2, size)
