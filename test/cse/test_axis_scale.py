"""Per-axis similarity (box-like categories): exact recovery, planar samples, errors."""

import numpy as np
import pytest

from ros_pose_estimation.core.errors import EstimationError
from ros_pose_estimation.core.rotations import (
    axis_angle_to_matrix,
    geodesic_angle,
    random_rotations,
)
from ros_pose_estimation.cse.axis_scale import (
    apply,
    inverse_apply,
    umeyama_axes,
    umeyama_axes_batched,
    umeyama_axes_refit,
)
from ros_pose_estimation.cse.umeyama import umeyama

EXTENTS = np.array([0.2, 0.12, 0.1])  # the box template's extents (m)


def box_surface(n, gen, extents=EXTENTS):
    """``[n x 3]`` points on the faces of a centred box."""
    p = gen.uniform(-0.5, 0.5, (n, 3))
    face = gen.integers(0, 3, n)
    p[np.arange(n), face] = np.sign(p[np.arange(n), face]) * 0.5
    return p * extents


@pytest.mark.parametrize("seed", range(4))
def test_recovers_a_stretched_box(seed):
    gen = np.random.default_rng(seed)
    src = box_surface(300, gen)
    s = gen.uniform(0.5, 2.0, 3)  # a flat package to a tall cereal box
    R = random_rotations(1, gen)[0]
    t = np.array([0.05, -0.02, 0.7])
    dst = apply(src, s, R, t) + gen.normal(0, 1e-3, src.shape)
    s1, R1, t1 = umeyama_axes(src, dst)
    assert np.degrees(geodesic_angle(R1, R)) < 0.5
    assert np.allclose(s1, s, rtol=0.02) and np.linalg.norm(t1 - t) < 2e-3
    assert np.allclose(inverse_apply(apply(src, s1, R1, t1), s1, R1, t1), src)


def test_one_scale_is_umeyama():
    gen = np.random.default_rng(5)
    src = box_surface(100, gen)
    R, t = random_rotations(1, gen)[0], np.array([0.0, 0.1, 0.5])
    dst = apply(src, 1.3, R, t)
    s1, R1, _ = umeyama_axes(src, dst)
    s0, R0, _ = umeyama(src, dst)
    assert np.allclose(s1, s0, rtol=1e-3) and np.degrees(geodesic_angle(R1, R0)) < 0.1


def test_a_face_without_depth_extent_takes_the_mean_scale():
    """Points on one face say nothing about the scale along its normal: it stays finite (the
    isotropic one) instead of 0 / 0, and the other two are still exact."""
    gen = np.random.default_rng(1)
    src = gen.uniform(-0.5, 0.5, (50, 3)) * EXTENTS
    src[:, 2] = 0.05  # the top face
    dst = apply(src, [1.0, 2.0, 3.0], np.eye(3), np.zeros(3))
    s, R, t, ok = umeyama_axes_batched(src[None], dst[None])
    assert ok[0] and np.allclose(s[0, :2], [1.0, 2.0], rtol=0.02)
    assert 1.0 < s[0, 2] < 2.0 and np.degrees(geodesic_angle(R[0], np.eye(3))) < 1.0


def test_too_few_or_degenerate_points_raise():
    src = np.eye(3) * 0.1
    with pytest.raises(EstimationError, match="at least 4"):
        umeyama_axes(src, src)
    line = np.outer(np.linspace(0, 1, 6), [1.0, 0.0, 0.0])
    with pytest.raises(EstimationError, match="degenerate"):
        umeyama_axes(line, line)


def test_a_collapsed_axis_is_floored_and_the_box_grows_away_from_the_camera():
    from ros_pose_estimation.cse.axis_scale import floor_axis_scales

    R = np.array([[0.0, 0, -1], [0, 1, 0], [1, 0, 0]])  # model x along the optical axis
    assert np.linalg.det(R) == pytest.approx(1.0)  # (a camera seen lens-on)
    centre = np.array([0.0, 0.0, 0.8])
    extents = np.array([0.11, 0.125, 0.08])
    s = np.array([0.2, 1.0, 1.0])  # x collapsed by a solve with no extent along it
    grown, moved = floor_axis_scales(s, R, centre, extents, 0.6)
    np.testing.assert_allclose(grown, [0.6, 1.0, 1.0])
    # the near side stays: the centre moves away from the camera by half the growth
    np.testing.assert_allclose(moved, centre + [0.0, 0.0, 0.5 * 0.4 * 0.11])
    R_flip = np.array([[0.0, 0, 1], [0, 1, 0], [-1, 0, 0]])  # x towards the camera
    _, moved2 = floor_axis_scales(s, R_flip, centre, extents, 0.6)
    np.testing.assert_allclose(moved2, moved)  # still away from it
    # scales within the share, or a share of 0, are left alone
    ok = np.array([0.7, 1.0, 1.1])
    np.testing.assert_array_equal(floor_axis_scales(ok, R, centre, extents, 0.6)[0], ok)
    np.testing.assert_array_equal(floor_axis_scales(s, R, centre, extents, 0.0)[0], s)


def test_the_floor_is_the_cameras_by_default_and_checked():
    from ros_pose_estimation.core.errors import ConfigError
    from ros_pose_estimation.cse.axis_scale import MIN_AXIS_SHARE
    from ros_pose_estimation.cse.estimator import CseInferenceConfig

    assert MIN_AXIS_SHARE == {"camera": 0.6}
    assert CseInferenceConfig().min_axis_share is None  # the category's
    with pytest.raises(ConfigError, match="min_axis_share"):
        CseInferenceConfig(min_axis_share=1.5)


@pytest.mark.parametrize("seed", range(3))
def test_the_icp_refit_is_umeyama_axes_from_its_start(seed):
    # ICP's lean single-problem path gives what the batched solver gives from the same start,
    # on clean, noisy and planar (one face: an axis without extent) samples
    gen = np.random.default_rng(seed)
    R, t, s = random_rotations(1, gen)[0], gen.normal(size=3), np.array([1.3, 0.7, 2.1])
    for src in (box_surface(200, gen), box_surface(6, gen),
                gen.uniform(-0.5, 0.5, (80, 3)) * EXTENTS * [1.0, 1.0, 0.0]):
        dst = apply(src, s, R, t) + 0.002 * gen.normal(size=src.shape)
        turn = axis_angle_to_matrix(gen.normal(size=3) * 0.1)  # an ICP step's start: near
        init = (s * gen.uniform(0.8, 1.2, 3), np.asarray(turn) @ R)
        for iterations in (1, 2, 5):
            got = umeyama_axes_refit(src, dst, init, iterations)
            want = umeyama_axes(src, dst, init=init, iterations=iterations)
            for a, b in zip(got, want, strict=True):
                np.testing.assert_allclose(a, b, atol=1e-10)
    with pytest.raises(EstimationError, match="at least 4"):
        umeyama_axes_refit(src[:3], dst[:3], init, 2)
    line = np.outer(np.linspace(0, 1, 10), [1.0, 0.0, 0.0])
    with pytest.raises(EstimationError, match="degenerate"):
        umeyama_axes_refit(line, line, (np.ones(3), np.eye(3)), 2)
    with pytest.raises(EstimationError, match="degenerate"):
        umeyama_axes(line, line, init=(np.ones(3), np.eye(3)), iterations=2)
