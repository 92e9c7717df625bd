"""The parts that fix a frame (ros_pose_estimation/cse/parts.py): a mug's handle, a laptop's
base."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ros_pose_estimation.core.errors import ConfigError, InputError
from ros_pose_estimation.core.rotations import axis_angle_to_matrix
from ros_pose_estimation.cse.estimator import CseInferenceConfig
from ros_pose_estimation.cse.parts import (
    BASE_FRACTION,
    base_pitch,
    body_axis_xy,
    handle_azimuth,
    handle_mask,
)
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


def test_a_laptop_base_fixes_the_pitch_whatever_the_screen():
    """The screen opened 20 deg farther than the template's: a solve tilted 9 deg about the hinge
    axis comes back to the true rotation from the base cells alone."""
    verts = np.asarray(template_mesh("laptop").vertices, dtype=np.float64)
    z_lo, z_hi = verts[:, 2].min(), verts[:, 2].max()
    base = verts[:, 2] < z_lo + BASE_FRACTION * (z_hi - z_lo)
    assert 0.1 * len(verts) < base.sum() < 0.9 * len(verts)
    instance = verts.copy()  # the screen turned about the hinge (back edge of the base, model y)
    hinge = np.array([verts[base, 0].min(), 0.0, z_lo + BASE_FRACTION * (z_hi - z_lo)])
    Ry = lambda a: np.asarray(axis_angle_to_matrix(np.array([0.0, a, 0.0])), dtype=np.float64)  # noqa: E731
    instance[~base] = (verts[~base] - hinge) @ Ry(math.radians(-20.0)).T + hinge
    R = np.asarray(axis_angle_to_matrix(np.array([-0.9, 0.2, 0.5])), dtype=np.float64)
    t = np.array([0.0, 0.1, 0.8])
    cam = 0.9 * instance @ R.T + t
    R_tilted = R @ Ry(math.radians(9.0))
    R_new, cells, phi = base_pitch(cam, verts, np.ones(len(verts)), 0.9, R_tilted, t, verts)
    assert cells == base.sum() and math.degrees(phi) == pytest.approx(-9.0, abs=1e-6)
    np.testing.assert_allclose(R_new, R, atol=1e-9)
    few = np.zeros(len(verts))
    few[np.flatnonzero(base)[:7]] = 1.0
    R_same, cells, phi = base_pitch(cam, verts, few, 0.9, R_tilted, t, verts, min_cells=8)
    assert (cells, phi) == (7, 0.0)
    np.testing.assert_array_equal(R_same, R_tilted)


def test_shapes_and_settings_are_checked():
    with pytest.raises(InputError, match="template_points"):
        handle_azimuth(np.zeros((4, 3)), np.zeros((3, 3)), np.ones(4), 1.0, np.eye(3),
                       np.zeros(3), VERTS)  # fmt: skip
    with pytest.raises(ConfigError, match="handle_min_cells"):
        CseInferenceConfig(handle_min_cells=0)
    with pytest.raises(ConfigError, match="base_min_cells"):
        CseInferenceConfig(base_min_cells=0)
