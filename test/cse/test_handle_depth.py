"""The mug's azimuth from its depth pixels (ros_pose_estimation/cse/handle_depth.py): a solve
turned about the body's axis comes back to where the handle stands out of the body."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ros_pose_estimation.core.errors import ConfigError, InputError
from ros_pose_estimation.core.rotations import axis_angle_to_matrix
from ros_pose_estimation.cse.estimator import CseInferenceConfig
from ros_pose_estimation.cse.handle_depth import handle_turn
from ros_pose_estimation.shapes import template_mesh

MUG = template_mesh("mug")
VERTS = np.asarray(MUG.vertices, dtype=np.float64)
SIZE = VERTS.max(0) - VERTS.min(0)
CENTRE = 0.5 * (VERTS.max(0) + VERTS.min(0))


def _surface(n: int, seed: int = 0) -> np.ndarray:
    """``[n x 3]`` points on the mug template's surface (model frame, box centre at 0)."""
    rng = np.random.default_rng(seed)
    tri = VERTS[np.asarray(MUG.faces)]
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    pick = rng.choice(len(tri), n, p=area / area.sum())
    a, b = rng.random((2, n, 1))
    flip = (a + b) > 1
    a, b = np.where(flip, 1 - a, a), np.where(flip, 1 - b, b)
    t = tri[pick]
    return t[:, 0] + a * (t[:, 1] - t[:, 0]) + b * (t[:, 2] - t[:, 0]) - CENTRE


def _turn(phi_deg: float) -> np.ndarray:
    return np.asarray(axis_angle_to_matrix(np.array([0.0, 0.0, math.radians(phi_deg)])))


def _scene(turn_deg: float, keep=None, noise: float = 0.0):
    """Surface points of a mug at a true pose (camera frame), and the pose turned by
    ``turn_deg`` about the body's axis (the same axis in the camera)."""
    R = np.asarray(axis_angle_to_matrix(np.array([1.9, 0.2, 0.4])), dtype=np.float64)
    t = np.array([0.03, -0.05, 0.6])
    q = _surface(6000)
    if keep is not None:
        q = q[keep(q)]
    rng = np.random.default_rng(1)
    cam = q @ R.T + t + noise * rng.standard_normal(q.shape)
    axis = np.array([-0.5 * SIZE[0] + 0.5 * SIZE[1], 0.0, 0.0])
    R_bad = R @ _turn(turn_deg)
    return cam, R, t, R_bad, t + R @ axis - R_bad @ axis


def _angle(A: np.ndarray, B: np.ndarray) -> float:
    return math.degrees(math.acos(np.clip((np.trace(A.T @ B) - 1) / 2, -1.0, 1.0)))


@pytest.mark.parametrize("turn", [35.0, -120.0, 170.0])
def test_a_turned_solve_comes_back_to_the_handle(turn):
    cam, R, t, R_bad, t_bad = _scene(turn)
    R_new, t_new, used, phi = handle_turn(cam, R_bad, t_bad, SIZE, sink=0.0)  # all round
    assert used >= 8
    assert math.degrees(phi) == pytest.approx(-turn, abs=3.0)
    assert _angle(R_new, R) < 3.0
    assert np.linalg.norm(t_new - t) < 0.003  # the box centre follows the handle side


def test_depth_noise_and_the_seen_side_only():
    # only the half facing the camera (+ a few mm of depth noise): still the handle's side
    cam, R, t, R_bad, t_bad = _scene(-40.0, noise=0.002)
    seen = (cam - cam.mean(0)) @ np.array([0.0, 0.0, 1.0]) < 0.0  # nearer than the centre
    R_new, _, used, _ = handle_turn(cam[seen], R_bad, t_bad, SIZE)
    assert used >= 8 and _angle(R_new, R) < 4.0


def test_a_hidden_handle_or_too_few_pixels_change_nothing():
    def body(q):  # the body's points only: no pixel stands out of it
        return np.hypot(q[:, 0] - (-0.5 * SIZE[0] + 0.5 * SIZE[1]), q[:, 1]) < 0.5 * SIZE[1]

    cam, _, _, R_bad, t_bad = _scene(30.0, keep=body)
    R_new, t_new, used, phi = handle_turn(cam, R_bad, t_bad, SIZE)
    assert (used, phi) == (0, 0.0)
    assert np.array_equal(R_new, R_bad) and np.array_equal(t_new, t_bad)
    cam, _, _, R_bad, t_bad = _scene(30.0)
    assert handle_turn(cam, R_bad, t_bad, SIZE, min_points=100000)[2] == 0


def test_window_and_minimum_turn():
    cam, R, t, R_bad, t_bad = _scene(120.0)
    # the handle is 120 deg from the solved +x: a 60-deg window does not see it
    assert handle_turn(cam, R_bad, t_bad, SIZE, window_deg=60.0)[2] == 0
    cam, R, t, R_bad, t_bad = _scene(4.0)
    R_new, _, used, phi = handle_turn(cam, R_bad, t_bad, SIZE, min_turn_deg=8.0, sink=0.0)
    assert used > 0 and phi == 0.0 and np.array_equal(R_new, R_bad)
    assert _angle(handle_turn(cam, R_bad, t_bad, SIZE, sink=0.0)[0], R) < 2.0


def test_wrong_point_shapes_are_refused():
    with pytest.raises(InputError):
        handle_turn(np.zeros((4, 2)), np.eye(3), np.zeros(3), SIZE)


def test_config_checks():
    for bad in ({"handle_depth_margin": -0.1}, {"handle_depth_min_points": 0},
                {"handle_depth_window_deg": 0.0}, {"handle_depth_window_deg": 200.0},
                {"handle_depth_min_turn_deg": -1.0}, {"handle_depth_sink": -0.1}):  # fmt: skip
        with pytest.raises(ConfigError):
            CseInferenceConfig(**bad)
    assert CseInferenceConfig().handle_depth
