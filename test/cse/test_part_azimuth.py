"""The mug's azimuth from its handle cells (ros_pose_estimation/cse/part_azimuth.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ros_pose_estimation.core.errors import ConfigError, InputError
from ros_pose_estimation.core.rotations import axis_angle_to_matrix
from ros_pose_estimation.cse.estimator import CseInferenceConfig
from ros_pose_estimation.cse.part_azimuth import body_axis_xy, handle_azimuth, handle_mask
from ros_pose_estimation.shapes import template_mesh

VERTS = np.asarray(template_mesh("mug").vertices, dtype=np.float64)


def _turn(phi: float) -> np.ndarray:
    return np.asarray(axis_angle_to_matrix(np.array([0.0, 0.0, phi])), dtype=np.float64)


def _scene(scale, turn_deg: float):
    """The template's vertices seen at a true pose, and a solved pose turned by ``turn_deg``
    about the body's axis (what the body cells alone cannot tell apart)."""
    R = np.asarray(axis_angle_to_matrix(np.array([0.4, -0.3, 1.1])), dtype=np.float64)
    t = np.array([0.05, -0.02, 0.7])
    s = np.broadcast_to(np.asarray(scale, dtype=np.float64), (3,))
    cam = (VERTS * s) @ R.T + t
    c = np.array([*body_axis_xy(VERTS), 0.0]) * s
    R_bad = R @ _turn(math.radians(turn_deg))
    t_bad = t + R @ c - R_bad @ c  # the same body axis in the camera
    return cam, R, t, R_bad, t_bad


def test_the_handle_is_beyond_the_body():
    on = handle_mask(VERTS, VERTS)
    assert 0 < on.sum() < 0.3 * len(VERTS)  # a handle: some vertices, not most
    assert VERTS[on, 0].min() > VERTS[~on, 0].max() - 0.02  # all on the +x side
    r = np.abs(VERTS[:, 1]).max()
    assert body_axis_xy(VERTS) == pytest.approx([VERTS[:, 0].min() + r, 0.0])


@pytest.mark.parametrize("scale", [1.3, [1.1, 1.1, 0.8]])
def test_a_turned_solve_comes_back_to_the_truth(scale):
    cam, R, t, R_bad, t_bad = _scene(scale, 35.0)
    R_new, t_new, cells, phi = handle_azimuth(cam, VERTS, np.ones(len(VERTS)), scale, R_bad,
                                              t_bad, VERTS)  # fmt: skip
    assert cells == handle_mask(VERTS, VERTS).sum()
    assert math.degrees(phi) == pytest.approx(-35.0, abs=1e-6)
    np.testing.assert_allclose(R_new, R, atol=1e-9)
    np.testing.assert_allclose(t_new, t, atol=1e-9)


def test_only_the_handle_cells_decide():
    """Body cells that contradict the handle do not move the turn; with the handle hidden (too
    few confident cells) the pose stays as it is."""
    cam, R, t, R_bad, t_bad = _scene(1.0, -50.0)
    body = ~handle_mask(VERTS, VERTS)
    noisy = cam.copy()
    noisy[body] += np.random.default_rng(0).normal(0, 0.02, (body.sum(), 3))
    R_new, _, _, _ = handle_azimuth(noisy, VERTS, np.ones(len(VERTS)), 1.0, R_bad, t_bad, VERTS)
    np.testing.assert_allclose(R_new, R, atol=1e-9)
    weights = np.where(body, 1.0, 0.0)
    weights[np.flatnonzero(~body)[0]] = 1.0  # one confident handle cell
    R_same, t_same, cells, phi = handle_azimuth(cam, VERTS, weights, 1.0, R_bad, t_bad, VERTS,
                                                min_cells=2)  # fmt: skip
    assert (cells, phi) == (1, 0.0)
    np.testing.assert_array_equal(R_same, R_bad)
    np.testing.assert_array_equal(t_same, t_bad)


def test_shapes_and_settings_are_checked():
    with pytest.raises(InputError, match="template_points"):
        handle_azimuth(np.zeros((4, 3)), np.zeros((3, 3)), np.ones(4), 1.0, np.eye(3),
                       np.zeros(3), VERTS)  # fmt: skip
    with pytest.raises(ConfigError, match="handle_min_cells"):
        CseInferenceConfig(handle_min_cells=0)
