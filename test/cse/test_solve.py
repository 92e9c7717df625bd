"""pose_from_correspondences on a synthetic depth image of a known similarity pose."""

import numpy as np
import pytest

from ros_pose_estimation.core.camera import Intrinsics
from ros_pose_estimation.core.conventions import depth_to_metres, metres_to_depth
from ros_pose_estimation.core.errors import DepthError, EstimationError, InputError
from ros_pose_estimation.core.rotations import geodesic_angle, random_rotations
from ros_pose_estimation.cse.solve import depth_at, pose_from_correspondences

K = Intrinsics(fx=600.0, fy=600.0, cx=319.5, cy=239.5, width=640, height=480)


def _scene(seed=0, n=400):
    """Template points in a 0.2 x 0.1 x 0.15 m box seen at ~0.6 m; one point per pixel."""
    gen = np.random.default_rng(seed)
    tmpl = gen.uniform(-0.5, 0.5, size=(n, 3)) * [0.2, 0.1, 0.15]
    R = random_rotations(1, gen)[0]
    s = 1.3
    t = np.array([0.03, -0.02, 0.6])
    cam = s * tmpl @ R.T + t
    uv = K.project(cam)
    pix = np.rint(uv).astype(int)
    _, first = np.unique(pix[:, 1] * K.width + pix[:, 0], return_index=True)
    keep = np.sort(first)  # one correspondence per pixel: the depth image is exact there
    depth = np.zeros(K.shape, dtype=np.float32)
    depth[pix[keep, 1], pix[keep, 0]] = cam[keep, 2]
    return uv[keep], depth, tmpl[keep], s, R, t


def _check(pose, s, R, t, deg=1e-3, metres=1e-5, rel=1e-5):
    assert np.degrees(geodesic_angle(pose.R, R)) < deg
    assert np.linalg.norm(pose.t - t) < metres
    assert abs(pose.scale / s - 1) < rel


def test_recovers_pose_from_float_depth_image():
    uv, depth, tmpl, s, R, t = _scene()
    pose = pose_from_correspondences(uv, depth, K, tmpl)
    _check(pose, s, R, t)
    assert pose.n_points == len(uv) == pose.n_inliers
    assert pose.inlier_ratio == 1.0
    np.testing.assert_allclose(pose.size, (tmpl.max(0) - tmpl.min(0)) * s, rtol=1e-5)
    extents = np.array([0.2, 0.1, 0.15])
    got = pose_from_correspondences(uv, depth, K, tmpl, template_extents=extents)
    np.testing.assert_allclose(got.size, extents * s, rtol=1e-5)


def test_per_point_depth_matches_image_lookup():
    uv, depth, tmpl, s, R, t = _scene(1)
    pose = pose_from_correspondences(uv, depth_at(depth, uv), K, tmpl)
    _check(pose, s, R, t)


def test_16uc1_millimetre_path():
    uv, depth, tmpl, s, R, t = _scene(2)
    mm = metres_to_depth(depth, "16UC1")
    assert mm.dtype == np.uint16
    pose = pose_from_correspondences(uv, depth_to_metres(mm, "16UC1"), K, tmpl)
    _check(pose, s, R, t, deg=1.0, metres=0.002, rel=0.01)


@pytest.mark.parametrize("fill", [0.0, np.nan])
def test_all_invalid_depth_raises_depth_error(fill):
    uv, depth, tmpl, *_ = _scene()
    bad = np.full_like(depth, fill)
    with pytest.raises(DepthError, match=f"no valid depth at the {len(uv)} object pixels"):
        pose_from_correspondences(uv, bad, K, tmpl)
    with pytest.raises(DepthError, match="encoding and alignment"):
        pose_from_correspondences(uv, np.full(len(uv), fill), K, tmpl)


def test_confidence_filter_drops_low_confidence_pairs():
    uv, depth, tmpl, s, R, t = _scene(3)
    gen = np.random.default_rng(0)
    wrong = gen.random(len(uv)) < 0.6  # 60 % wrong correspondences, all with low confidence
    corrupted = tmpl.copy()
    corrupted[wrong] = gen.uniform(-0.1, 0.1, size=(wrong.sum(), 3))
    conf = np.where(wrong, 0.2, 0.9)
    conf[np.flatnonzero(~wrong)[:3]] = 0.5  # exactly 0.5 is not "above" the threshold
    pose = pose_from_correspondences(uv, depth, K, corrupted, confidence=conf)
    assert pose.n_points == int((conf > 0.5).sum())
    assert not pose.inliers[conf <= 0.5].any()
    _check(pose, s, R, t)
    with pytest.raises(EstimationError, match="usable"):
        pose_from_correspondences(uv, depth, K, tmpl, confidence=np.full(len(uv), 0.3))


def test_depth_at_nearest_pixel_and_invalid():
    depth = np.arange(12, dtype=np.float32).reshape(3, 4)
    depth[2, 3] = np.nan
    uv = np.array(
        [[0.4, 0.4], [2.6, 1.2], [-0.6, 0.0], [3.0, 2.0], [np.nan, 1.0], [4.4, 0.0], [-0.4, 2.4]]
    )
    np.testing.assert_allclose(depth_at(depth, uv), [0.0, 7.0, 0.0, 0.0, 0.0, 0.0, 8.0])


def test_shape_mismatches_raise_input_error():
    uv, depth, tmpl, *_ = _scene()
    with pytest.raises(InputError, match="template_points"):
        pose_from_correspondences(uv, depth, K, tmpl[:-1])
    with pytest.raises(InputError, match="depth"):
        pose_from_correspondences(uv, depth[:-1], K, tmpl)
    with pytest.raises(InputError, match="confidence"):
        pose_from_correspondences(uv, depth, K, tmpl, confidence=np.ones(3))
    with pytest.raises(InputError, match="uv"):
        pose_from_correspondences(uv[:, :1], depth, K, tmpl)
