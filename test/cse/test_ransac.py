"""RANSAC + Umeyama: recovery under gross outliers, inlier mask, determinism, early stop."""

import numpy as np
import pytest

from ros_pose_estimation.core.errors import ConfigError, EstimationError
from ros_pose_estimation.core.rotations import geodesic_angle, random_rotations
from ros_pose_estimation.cse.ransac import needed_iterations, ransac_similarity


def _scene(seed, n=300, outlier_ratio=0.3, noise=0.002):
    """Template-sized points (~0.2 m object) at ~0.7 m, 30 % gross outliers, 2 mm noise."""
    gen = np.random.default_rng(seed)
    src = gen.uniform(-0.1, 0.1, size=(n, 3))
    R = random_rotations(1, gen)[0]
    s = gen.uniform(0.7, 1.5)
    t = np.array([0.05, -0.02, 0.7]) + gen.normal(size=3) * 0.05
    dst = s * src @ R.T + t + gen.normal(size=(n, 3)) * noise
    outliers = np.zeros(n, dtype=bool)
    outliers[gen.choice(n, int(outlier_ratio * n), replace=False)] = True
    dst[outliers] = t + gen.uniform(-0.3, 0.3, size=(outliers.sum(), 3))
    # make the outliers gross: at least 5 cm from where they should be
    clean = s * src @ R.T + t
    far = np.linalg.norm(dst - clean, axis=1) > 0.05
    return src, dst, s, R, t, outliers & far, outliers & ~far


@pytest.mark.parametrize("seed", range(3))
def test_recovers_transform_under_30_percent_outliers(seed):
    src, dst, s, R, t, gross, near = _scene(seed)
    res = ransac_similarity(src, dst, rng=seed)
    assert np.degrees(geodesic_angle(res.R, R)) < 1.0
    assert np.linalg.norm(res.t - t) < 0.005
    assert abs(res.s / s - 1) < 0.01
    assert not res.inliers[gross].any()
    clean = ~gross & ~near
    assert res.inliers[clean].mean() > 0.98
    assert res.n_inliers == res.inliers.sum()
    assert res.rmse < 0.01


def test_plain_umeyama_fails_on_the_same_data():
    """Guards the test above: without RANSAC the outliers do break the estimate."""
    from ros_pose_estimation.cse.umeyama import umeyama

    src, dst, s, R, t, *_ = _scene(0)
    _, R_ls, t_ls = umeyama(src, dst)
    assert np.degrees(geodesic_angle(R_ls, R)) > 1.0 or np.linalg.norm(t_ls - t) > 0.005


def test_deterministic_with_a_seed():
    src, dst, *_ = _scene(5, outlier_ratio=0.5)
    a = ransac_similarity(src, dst, rng=42, refine=False)
    b = ransac_similarity(src, dst, rng=np.random.default_rng(42), refine=False)
    np.testing.assert_array_equal(a.R, b.R)
    np.testing.assert_array_equal(a.inliers, b.inliers)
    assert a.iterations_run == b.iterations_run


def test_early_stop_on_clean_data_and_full_budget_on_noisy():
    src, dst, *_ = _scene(1, outlier_ratio=0.0)
    assert ransac_similarity(src, dst, rng=0, batch_size=10).iterations_run == 10
    src, dst, *_ = _scene(1, outlier_ratio=0.7)
    assert ransac_similarity(src, dst, rng=0, batch_size=10).iterations_run == 100
    assert needed_iterations(1.0, 4, 0.99) == 0
    assert needed_iterations(0.5, 4, 0.99) == pytest.approx(np.log(0.01) / np.log(1 - 1 / 16))


def test_zero_weight_points_are_never_inliers():
    src, dst, s, R, t, gross, _ = _scene(2)
    w = np.where(gross, 0.0, 1.0)
    w[:5] = 0.0
    res = ransac_similarity(src, dst, weights=w, rng=0)
    assert not res.inliers[w == 0].any()
    assert np.degrees(geodesic_angle(res.R, R)) < 1.0


def test_errors():
    src, dst, *_ = _scene(0, n=20)
    with pytest.raises(EstimationError, match="usable"):
        ransac_similarity(src[:2], dst[:2])
    with pytest.raises(EstimationError, match="inliers"):
        ransac_similarity(src, dst, min_inliers=20, inlier_threshold=1e-6, rng=0)
    with pytest.raises(ConfigError):
        ransac_similarity(src, dst, sample_size=2)
    line = np.outer(np.linspace(0, 1, 10), [1.0, 0.0, 0.0])
    with pytest.raises(EstimationError, match="degenerate"):
        ransac_similarity(line, line, rng=0)


def test_per_axis_scale_recovers_a_stretched_box_where_one_scale_cannot():
    from ros_pose_estimation.cse.axis_scale import apply
    from test.cse.test_axis_scale import box_surface

    gen = np.random.default_rng(3)
    src = box_surface(300, gen)
    s, R, t = np.array([1.8, 0.6, 0.4]), random_rotations(1, gen)[0], np.array([0, 0, 0.8])
    dst = apply(src, s, R, t) + gen.normal(0, 1e-3, src.shape)
    bad = gen.choice(300, 60, replace=False)
    dst[bad] += gen.uniform(-0.3, 0.3, (60, 3))
    res = ransac_similarity(src, dst, rng=0, per_axis_scale=True, sample_size=5)
    assert np.degrees(geodesic_angle(res.R, R)) < 1.0
    assert np.allclose(res.s, s, rtol=0.03) and np.linalg.norm(res.t - t) < 0.005
    one = ransac_similarity(src, dst, rng=0)  # one scale: a 2 cm gate keeps only a part
    assert one.n_inliers < 0.7 * res.n_inliers


def test_per_axis_scale_needs_four_point_samples():
    src = np.random.default_rng(0).normal(size=(20, 3))
    with pytest.raises(ConfigError, match="per_axis_scale"):
        ransac_similarity(src, src, per_axis_scale=True, sample_size=3)
