"""pose_from_image: PnP on the correspondences, scaled by the depth there is."""

import numpy as np
import pytest

from ros_pose_estimation.core.camera import Intrinsics
from ros_pose_estimation.core.errors import EstimationError, InputError
from ros_pose_estimation.core.rotations import geodesic_angle, random_rotations
from ros_pose_estimation.cse.sparse_depth import pose_from_image

K = Intrinsics(fx=300.0, fy=300.0, cx=63.5, cy=63.5, width=128, height=128)


def _scene(seed=0, n=120, scale=1.25, distance=2.5):
    """Template points (a 0.3 x 0.25 x 0.2 m box) seen at ``distance``: ``(uv, z, tmpl, s, R,
    t)`` with ``x_cam = s R x + t`` and the exact depth of every point."""
    gen = np.random.default_rng(seed)
    tmpl = gen.uniform(-0.5, 0.5, size=(n, 3)) * [0.3, 0.25, 0.2]
    R = random_rotations(1, gen)[0]
    t = np.array([0.05, -0.03, distance])
    cam = scale * tmpl @ R.T + t
    return K.project(cam), cam[:, 2].copy(), tmpl, scale, R, t


def _holes(z, keep):
    out = np.zeros_like(z)
    out[keep] = z[keep]
    return out


def test_a_few_depth_cells_give_the_metric_pose():
    uv, z, tmpl, s, R, t = _scene()
    pose = pose_from_image(uv, _holes(z, [3, 40, 77]), K, tmpl, np.ones(len(uv)), 0.3, 8, 2.0)
    assert pose.scale_from == "cells" and pose.depth_cells == 3
    assert np.degrees(geodesic_angle(pose.R, R)) < 1e-3
    assert np.linalg.norm(pose.t - t) < 1e-4 and pose.scale == pytest.approx(s, rel=1e-5)
    assert pose.n_points == pose.n_inliers == len(uv) and pose.score == pytest.approx(1.0)
    assert pose.reprojection_px < 1e-3


def test_depth_only_at_unconfident_cells_scales_by_the_surface_medians():
    uv, z, tmpl, s, R, t = _scene(1)
    conf = np.ones(len(uv))
    conf[:30] = 0.1  # the cells with depth are not trusted for their template points
    pose = pose_from_image(uv, _holes(z, np.arange(30)), K, tmpl, conf, 0.3, 8, 2.0)
    assert pose.scale_from == "pixels" and pose.depth_cells == 30
    assert np.degrees(geodesic_angle(pose.R, R)) < 1e-3
    assert np.linalg.norm(pose.t - t) < 0.05  # two samples of one surface, metres away
    assert pose.scale == pytest.approx(s, rel=0.03)


def test_wrong_correspondences_are_rejected():
    uv, z, tmpl, s, R, t = _scene(2)
    bad = tmpl.copy()
    bad[::3] = bad[::3][::-1]  # a third of the cells point at the wrong template point
    pose = pose_from_image(uv, _holes(z, [1, 2, 4, 5]), K, bad, np.ones(len(uv)), 0.3, 8, 2.0)
    assert np.degrees(geodesic_angle(pose.R, R)) < 0.1
    assert np.linalg.norm(pose.t - t) < 1e-3
    assert pose.n_inliers < pose.n_points and 0.5 < pose.score < 0.8


def test_no_depth_needs_the_size_prior():
    uv, z, tmpl, s, R, t = _scene(3)
    conf = np.ones(len(uv))
    with pytest.raises(EstimationError, match="no depth on the object"):
        pose_from_image(uv, np.zeros_like(z), K, tmpl, conf, 0.3, 8, 2.0)
    pose = pose_from_image(uv, np.full_like(z, np.nan), K, tmpl, conf, 0.3, 8, 2.0,
                           size_prior=True)  # fmt: skip
    assert pose.scale_from == "size prior" and pose.scale == 1.0 and pose.depth_cells == 0
    assert np.degrees(geodesic_angle(pose.R, R)) < 1e-3
    np.testing.assert_allclose(pose.t, t / s, atol=1e-4)  # the template's size: too near


def test_too_few_confident_cells_and_bad_inputs():
    uv, z, tmpl, _, _, _ = _scene(4)
    conf = np.zeros(len(uv))
    conf[:5] = 0.9
    with pytest.raises(EstimationError, match="only 5 of 120 cells are confident"):
        pose_from_image(uv, z, K, tmpl, conf, 0.3, 4, 2.0)
    with pytest.raises(InputError, match="template_points"):
        pose_from_image(uv, z, K, tmpl[:-1], np.ones(len(uv)), 0.3, 8, 2.0)
    nan = tmpl.copy()
    nan[0, 0] = np.nan
    with pytest.raises(InputError, match="finite"):
        pose_from_image(uv, z, K, nan, np.ones(len(uv)), 0.3, 8, 2.0)


def test_deterministic():
    uv, z, tmpl, _, _, _ = _scene(5)
    bad = tmpl.copy()
    bad[::4] += 0.05
    args = (uv, _holes(z, [0, 9]), K, bad, np.ones(len(uv)), 0.3, 8, 2.0)
    a, b = pose_from_image(*args), pose_from_image(*args)
    np.testing.assert_array_equal(a.R, b.R)
    np.testing.assert_array_equal(a.t, b.t)


def test_a_depth_scale_far_from_the_template_s_size_is_not_believed():
    uv, z, tmpl, _, _, _ = _scene(6, scale=1.0)
    conf = np.ones(len(uv))
    wall = _holes(z, [0, 1, 2]) * 3.0  # the few depth pixels hit the wall behind the object
    with pytest.raises(EstimationError, match="3.00 x the template's size .* not believed"):
        pose_from_image(uv, wall, K, tmpl, conf, 0.3, 8, 2.0)
    near = pose_from_image(uv, _holes(z, [0, 1, 2]) * 1.4, K, tmpl, conf, 0.3, 8, 2.0)
    assert near.scale == pytest.approx(1.4, rel=1e-4)  # within the bound: taken
