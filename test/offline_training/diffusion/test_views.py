"""Relative views: the LookAt convention of paper 000 Eqs. 2-3, the published grid and the
Zero-1-to-3 pose vector."""

from __future__ import annotations

import numpy as np
import pytest

from offline_training.diffusion.views import (
    RelativeView,
    relative_rotation,
    view_grid,
    zero123_pose_vector,
)
from ros_pose_estimation.core.errors import ConfigError


def _camera_centre(view: RelativeView, d: float = 1.0) -> np.ndarray:
    """Camera centre in the instance frame (object centre at the origin, input camera at
    ``(0, 0, -d)``): ``-R^T (0, 0, d)``."""
    return -view.rotation.T @ np.array([0.0, 0.0, d])


def test_input_view_is_the_identity():
    assert np.allclose(relative_rotation(0.0, 0.0), np.eye(3))
    assert np.allclose(_camera_centre(RelativeView(0.0, 0.0)), [0.0, 0.0, -1.0])


def test_positive_azimuth_moves_the_camera_right_and_elevation_up():
    right = _camera_centre(RelativeView(90.0, 0.0))
    assert np.allclose(right, [1.0, 0.0, 0.0], atol=1e-12)  # +x: the input camera's right
    up = _camera_centre(RelativeView(0.0, 90.0))
    assert np.allclose(up, [0.0, -1.0, 0.0], atol=1e-12)  # -y: the input camera's up
    small = _camera_centre(RelativeView(30.0, 20.0))
    assert small[0] > 0 and small[1] < 0


def test_views_look_at_the_centre_without_roll():
    for az, el in [(45.0, 30.0), (-75.0, -60.0), (15.0, 90.0)]:
        R = relative_rotation(az, el)
        assert np.allclose(R @ R.T, np.eye(3)) and np.isclose(np.linalg.det(R), 1.0)
        if abs(el) < 90:  # no roll: the camera's x axis stays horizontal (normal to up = -y)
            assert abs(R[0] @ np.array([0.0, 1.0, 0.0])) < 1e-12


def test_elevation_beyond_the_pole_is_refused():
    with pytest.raises(ConfigError, match="elevation"):
        RelativeView(0.0, 95.0)


def test_published_grid():
    full = view_grid(n=None)
    assert len(full) == 13 * 13
    views = view_grid(n=20, seed=3)
    assert len(views) == 20 and views[0] == RelativeView(0.0, 0.0)
    assert len(set(views)) == 20
    for v in views:
        assert v.azimuth_deg % 15 == 0 and -90 <= v.azimuth_deg <= 90
        assert v.elevation_deg % 15 == 0 and -90 <= v.elevation_deg <= 90
    assert view_grid(n=20, seed=3) == views and view_grid(n=20, seed=4) != views


def test_grid_without_the_origin_and_bad_ranges():
    views = view_grid(azimuth=(30.0, 60.0), elevation=(0.0, 0.0), step_deg=15.0, n=None)
    assert [v.azimuth_deg for v in views] == [30.0, 45.0, 60.0]
    with pytest.raises(ConfigError):
        view_grid(azimuth=(10.0, -10.0))
    with pytest.raises(ConfigError):
        view_grid(step_deg=0.0)


def test_zero123_pose_vector():
    v = RelativeView(90.0, 30.0)
    assert np.allclose(zero123_pose_vector(v), [-np.pi / 6, 1.0, 0.0, 0.0], atol=1e-6)
    assert zero123_pose_vector(v).dtype == np.float32
    stable = zero123_pose_vector(v, input_elevation_deg=30.0)  # Stable-Zero123's 4th entry
    assert np.isclose(stable[3], np.deg2rad(60.0))
