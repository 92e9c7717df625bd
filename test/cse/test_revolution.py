"""A body of revolution's width from its detection box (ros_pose_estimation/cse/revolution.py):
the box's width at the centre's depth widens a too-narrow solve, within limits."""

from __future__ import annotations

import numpy as np
import pytest

from ros_pose_estimation.cse.revolution import MAX_RATIO, width_from_box

FX = 300.0
T = np.array([0.02, -0.01, 0.6])  # centre 60 cm in front of the camera


def _box(width_m: float) -> np.ndarray:
    """A detection box ``width_m`` wide (m) at the centre's depth, 40 px tall."""
    half = 0.5 * width_m * FX / T[2]
    return np.array([160.0 - half, 100.0, 160.0 + half, 140.0])


def test_a_too_narrow_solve_takes_the_boxs_width_for_both_horizontal_extents():
    size = np.array([0.062, 0.066, 0.25])  # a 7.6 cm bottle solved narrow
    out = width_from_box(_box(0.076), FX, T, size)
    np.testing.assert_allclose(out, [0.076, 0.076, 0.25])


@pytest.mark.parametrize("width", [0.05, 0.066, 0.066 * MAX_RATIO + 0.001])
def test_a_narrower_box_or_a_much_wider_one_changes_nothing(width):
    size = np.array([0.062, 0.066, 0.25])
    out = width_from_box(_box(width), FX, T, size)
    np.testing.assert_array_equal(out, size)
