"""Robust averaging of points along viewing rays: triangulation cancels a depth bias, the
isotropic case is the Huber mean, outliers lose, the covariance shrinks with evidence."""

import numpy as np
import pytest

from ros_pose_estimation.core.errors import InputError
from ros_pose_estimation.core.point_averaging import point_covariance, robust_ray_mean


def _views(centre: np.ndarray, n: int, spread_deg: float, distance: float = 1.0):
    """Camera centres on an arc around ``centre`` (``spread_deg`` wide) and their unit rays."""
    angles = np.radians(np.linspace(-spread_deg / 2, spread_deg / 2, n))
    cams = centre + distance * np.stack([-np.cos(angles), np.sin(angles), 0 * angles], 1)
    rays = centre - cams
    return cams, rays / np.linalg.norm(rays, axis=1, keepdims=True)


def test_views_from_several_directions_cancel_a_depth_bias():
    """Every estimate 12 % too far along its ray (a larger instance than the template): the
    plain mean is off by ~10 cm, the ray mean finds the centre."""
    centre = np.array([0.5, 0.2, 0.8])
    cams, rays = _views(centre, 30, 90.0)
    points = cams + 1.12 * (centre - cams)
    plain = points.mean(axis=0)
    fused = robust_ray_mean(points, rays, 0.01, 0.1 * 1.12, iterations=10)
    assert np.linalg.norm(plain - centre) > 0.08
    assert np.linalg.norm(fused.mean - centre) < 0.02


def test_one_direction_is_the_plain_mean_and_along_ray_uncertain():
    centre = np.array([0.0, 0.0, 1.0])
    ray = np.array([0.0, 0.0, 1.0])
    rng = np.random.default_rng(0)
    points = centre + rng.normal(scale=[0.01, 0.01, 0.05], size=(50, 3))
    fused = robust_ray_mean(points, np.tile(ray, (50, 1)), 0.01, 0.05, huber=100.0)
    np.testing.assert_allclose(fused.mean, points.mean(axis=0), atol=1e-12)
    sd = np.sqrt(np.diag(fused.covariance))
    assert sd[2] > 3 * sd[0]  # elongated along the ray


def test_isotropic_huber_mean_rejects_outliers():
    rng = np.random.default_rng(1)
    rays = np.tile([0.0, 0.0, 1.0], (40, 1))
    good = rng.normal(scale=0.01, size=(32, 3))
    bad = rng.normal(scale=0.01, size=(8, 3)) + [0.5, 0.0, 0.0]
    fused = robust_ray_mean(np.concatenate([good, bad]), rays, 0.01, 0.01, iterations=10)
    assert np.linalg.norm(fused.mean) < 0.01
    assert fused.weights[32:].max() < 0.1


def test_covariance_shrinks_with_consistent_evidence_and_grows_with_scatter():
    rng = np.random.default_rng(2)
    rays = np.tile([0.0, 0.0, 1.0], (100, 1))
    tight = rng.normal(scale=0.01, size=(100, 3))
    one = robust_ray_mean(tight[:1], rays[:1], 0.01, 0.01)
    ten = robust_ray_mean(tight[:10], rays[:10], 0.01, 0.01)
    hundred = robust_ray_mean(tight, rays, 0.01, 0.01)
    np.testing.assert_allclose(one.covariance, 1e-4 * np.eye(3), rtol=1e-9)  # the model's
    assert np.trace(hundred.covariance) < np.trace(ten.covariance) < np.trace(one.covariance)
    assert np.trace(hundred.covariance) == pytest.approx(3e-6, rel=0.3)  # sigma^2 / N
    wide = robust_ray_mean(5 * tight, rays, 0.01, 0.01, huber=100.0)
    assert np.trace(wide.covariance) > 10 * np.trace(hundred.covariance)


def test_point_covariance():
    cov = point_covariance(np.array([0.0, 0.0, 1.0]), 0.01, 0.1)
    np.testing.assert_allclose(np.diag(cov), [1e-4, 1e-4, 1e-2])


def test_bad_input():
    with pytest.raises(InputError, match="N x 3"):
        robust_ray_mean(np.zeros((2, 2)), np.zeros((2, 2)), 0.01, 0.01)
    with pytest.raises(InputError, match="finite"):
        robust_ray_mean(np.full((1, 3), np.nan), np.ones((1, 3)), 0.01, 0.01)
    with pytest.raises(InputError, match="sigmas"):
        robust_ray_mean(np.zeros((1, 3)), np.ones((1, 3)), 0.0, 0.01)
