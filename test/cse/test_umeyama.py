"""Umeyama similarity: exact recovery, weights, reflections, degeneracy, batched == loop."""

import numpy as np
import pytest

from ros_pose_estimation.core.errors import EstimationError, InputError
from ros_pose_estimation.core.rotations import random_rotations
from ros_pose_estimation.cse.umeyama import umeyama, umeyama_batched


def _problem(seed, n=50):
    gen = np.random.default_rng(seed)
    src = gen.normal(size=(n, 3)) * 0.1
    R = random_rotations(1, gen)[0]
    s = gen.uniform(0.5, 2.0)
    t = gen.normal(size=3)
    return src, s * src @ R.T + t, s, R, t


@pytest.mark.parametrize("seed", range(5))
def test_recovers_known_similarity_exactly(seed):
    src, dst, s, R, t = _problem(seed)
    s_hat, R_hat, t_hat = umeyama(src, dst)
    assert s_hat == pytest.approx(s, abs=1e-9)
    np.testing.assert_allclose(R_hat, R, atol=1e-9)
    np.testing.assert_allclose(t_hat, t, atol=1e-9)
    assert np.linalg.det(R_hat) == pytest.approx(1.0, abs=1e-12)
    w = np.random.default_rng(seed).uniform(0.1, 1.0, len(src))
    s_w, R_w, t_w = umeyama(src, dst, w)
    assert s_w == pytest.approx(s, abs=1e-9)
    np.testing.assert_allclose(R_w, R, atol=1e-9)
    np.testing.assert_allclose(t_w, t, atol=1e-9)


def test_without_scale_is_rigid():
    src, dst, _, R, t = _problem(7)
    dst = src @ R.T + t
    s_hat, R_hat, t_hat = umeyama(src, dst, with_scale=False)
    assert s_hat == 1.0
    np.testing.assert_allclose(R_hat, R, atol=1e-9)
    np.testing.assert_allclose(t_hat, t, atol=1e-9)


def test_zero_weight_outliers_are_ignored_exactly():
    src, dst, s, R, t = _problem(3)
    dst = dst.copy()
    dst[:10] += np.random.default_rng(0).normal(size=(10, 3)) * 5.0  # gross outliers
    w = np.ones(len(src))
    w[:10] = 0.0
    s_hat, R_hat, t_hat = umeyama(src, dst, w)
    ref = umeyama(src[10:], dst[10:])
    assert s_hat == pytest.approx(s, abs=1e-9)
    np.testing.assert_allclose(R_hat, R, atol=1e-9)
    np.testing.assert_allclose(t_hat, t, atol=1e-9)
    np.testing.assert_allclose(R_hat, ref[1], atol=1e-12)
    # and the outliers do matter without the weights
    assert not np.allclose(umeyama(src, dst)[1], R, atol=1e-3)


def test_reflection_gives_a_proper_rotation():
    src, _, _, _, _ = _problem(4)
    mirror = np.diag([1.0, 1.0, -1.0])
    dst = src @ mirror.T  # best orthogonal map is a reflection (det -1)
    s_hat, R_hat, _ = umeyama(src, dst)
    assert np.linalg.det(R_hat) == pytest.approx(1.0, abs=1e-9)
    np.testing.assert_allclose(R_hat @ R_hat.T, np.eye(3), atol=1e-9)
    assert s_hat > 0


def test_batched_equals_loop():
    gen = np.random.default_rng(11)
    problems = [_problem(i, n=12) for i in range(6)]
    src = np.stack([p[0] for p in problems])
    dst = np.stack([p[1] for p in problems]) + gen.normal(size=(6, 12, 3)) * 1e-3
    w = gen.uniform(0.0, 1.0, (6, 12))
    s, R, t, ok = umeyama_batched(src, dst, w)
    assert ok.all()
    for b in range(6):
        s1, R1, t1 = umeyama(src[b], dst[b], w[b])
        assert s[b] == pytest.approx(s1, abs=1e-12)
        np.testing.assert_allclose(R[b], R1, atol=1e-12)
        np.testing.assert_allclose(t[b], t1, atol=1e-12)


def test_batched_flags_degenerate_problems():
    src, dst, _, _, _ = _problem(1, n=5)
    line = np.outer(np.arange(5.0), [1.0, 2.0, 3.0])
    s, R, _, ok = umeyama_batched(
        np.stack([src, line, src]),
        np.stack([dst, line, dst]),
        np.stack([np.ones(5)] * 2 + [np.zeros(5)]),
    )
    assert ok.tolist() == [True, False, False]
    assert np.isnan(s[1]) and np.isnan(R[2]).all()


def test_degenerate_inputs_raise():
    src, dst, _, _, _ = _problem(2, n=10)
    with pytest.raises(EstimationError, match="at least 3"):
        umeyama(src[:2], dst[:2])
    with pytest.raises(EstimationError, match="at least 3"):
        umeyama(src, dst, np.zeros(10))
    line = np.outer(np.linspace(0, 1, 10), [1.0, 0.5, 0.2])
    with pytest.raises(EstimationError, match="collinear"):
        umeyama(line, line * 2 + 1)
    bad = dst.copy()
    bad[3, 1] = np.nan
    with pytest.raises(InputError, match="finite"):
        umeyama(src, bad)
    with pytest.raises(InputError, match=">= 0"):
        umeyama(src, dst, -np.ones(10))
    with pytest.raises(InputError, match="dst"):
        umeyama(src, dst[:5])
