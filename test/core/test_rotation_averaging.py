"""Symmetry-aware robust rotation averaging: the batched alignment equals the per-rotation one,
a bottle's yaw does not matter, a box's 180-degree flips average correctly, outliers lose."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from ros_pose_estimation.core.categories import get_category, register_category
from ros_pose_estimation.core.errors import InputError
from ros_pose_estimation.core.metrics import rotation_error_deg
from ros_pose_estimation.core.rotation_averaging import (
    add_to_mean,
    align,
    axis_mean,
    chordal_mean,
    robust_mean,
    symmetric_angle,
    symmetric_mean,
)
from ros_pose_estimation.core.so3 import exp_map, geodesic_angles, log_map
from ros_pose_estimation.core.symmetry import closest_symmetric
from ros_pose_estimation.core.symmetry import symmetric_angle as reference_angle


def _noisy(R: np.ndarray, n: int, sigma_deg: float, rng) -> np.ndarray:
    """``n`` rotations ``exp(noise) @ R`` with isotropic noise of ``sigma_deg`` per axis."""
    noise = rng.normal(scale=np.radians(sigma_deg), size=(n, 3))
    return np.stack([exp_map(v) @ R for v in noise])


@pytest.mark.parametrize("name", ["mug", "bottle", "box"])
def test_batched_alignment_and_angle_equal_core_symmetry(name):
    rots = Rotation.random(40, random_state=1).as_matrix()
    ref = Rotation.random(random_state=2).as_matrix()
    category = get_category(name)
    expected = np.stack([closest_symmetric(ref, r, category) for r in rots])
    np.testing.assert_allclose(align(ref, rots, category), expected, atol=1e-12)
    for r in rots:
        assert symmetric_angle(ref, r, category) == pytest.approx(
            reference_angle(ref, r, category), abs=1e-9
        )


@pytest.mark.parametrize("name", ["mug", "bottle", "box"])
def test_streaming_one_more_rotation_matches_the_batch_mean(name):
    """add_to_mean with the Huber weight of the new rotation equals the weighted batch mean."""
    rng = np.random.default_rng(13)
    category = get_category(name)
    truth = Rotation.random(random_state=14).as_matrix()
    rots = _noisy(truth, 21, 4.0, rng)
    res = robust_mean(rots[:20], category, rots[0], np.radians(10.0))
    mean, total, angle, w = add_to_mean(res.mean, res.total, rots[20], category,
                                        np.radians(10.0))  # fmt: skip
    weights = np.append(res.weights, w)
    batch = symmetric_mean(res.mean, rots, category, weights)
    assert rotation_error_deg(mean, batch, name) < 1e-6
    assert angle == pytest.approx(symmetric_angle(res.mean, rots[20], category))


def test_bottle_yaw_does_not_matter():
    """Estimates of a bottle at random angles about its axis: only the axis is averaged, and
    the mean keeps the reference's angle about it."""
    rng = np.random.default_rng(3)
    truth = Rotation.random(random_state=4).as_matrix()
    bottle = get_category("bottle")
    yaws = [Rotation.from_euler("z", rng.uniform(-np.pi, np.pi)).as_matrix() for _ in range(30)]
    rots = np.stack([r @ y for r, y in zip(_noisy(truth, 30, 3.0, rng), yaws, strict=True)])
    ref = rots[0]
    res = robust_mean(rots, bottle, ref, np.radians(5.0))
    mean = res.mean
    assert rotation_error_deg(mean, truth, "bottle") < 1.5
    # only the axes count: every estimate is an inlier (3 deg noise); as an asymmetric object
    # the yaw spread makes most of them outliers of the robust mean
    assert np.degrees(res.angles).max() < 15.0 and res.weights.min() > 0.3
    as_mug = robust_mean(rots, get_category("mug"), ref, np.radians(5.0))
    assert np.median(np.degrees(as_mug.angles)) > 45.0
    # the angle about the axis is the reference's (the axis turned, nothing else)
    spin = log_map(ref.T @ mean)
    assert abs(spin @ np.array([0.0, 0.0, 1.0])) < 1e-9


def test_box_flips_average_to_the_box():
    """Half of the box estimates flipped by 180 deg about x, y or z: the aligned mean is the
    box; the plain mean of the matrices is nonsense."""
    rng = np.random.default_rng(5)
    truth = Rotation.random(random_state=6).as_matrix()
    box = get_category("box")
    rots = _noisy(truth, 40, 3.0, rng)
    flips = box.discrete[rng.integers(0, 4, size=40)]
    flipped = rots @ flips
    mean = symmetric_mean(flipped[0], flipped, box)
    assert rotation_error_deg(mean, truth, "box") < 1.5
    assert rotation_error_deg(chordal_mean(flipped), truth, "box") > 5.0


def test_robust_mean_ignores_outliers_the_plain_mean_follows():
    rng = np.random.default_rng(7)
    truth = Rotation.random(random_state=8).as_matrix()
    mug = get_category("mug")
    good = _noisy(truth, 30, 3.0, rng)
    bad = _noisy(exp_map(np.array([0.0, 0.0, np.radians(120.0)])) @ truth, 8, 3.0, rng)
    rots = np.concatenate([good, bad])
    plain = chordal_mean(rots)
    robust = robust_mean(rots, mug, rots[0], np.radians(5.0), iterations=5)
    assert rotation_error_deg(plain, truth, "mug") > 10.0
    assert rotation_error_deg(robust.mean, truth, "mug") < 2.0
    assert robust.weights[30:].max() < 0.1 < robust.weights[:30].min()


def test_residuals_are_left_rotation_vectors_to_the_aligned_rotations():
    rng = np.random.default_rng(9)
    truth = Rotation.random(random_state=10).as_matrix()
    box = get_category("box")
    rots = _noisy(truth, 10, 5.0, rng) @ box.discrete[rng.integers(0, 4, size=10)]
    res = robust_mean(rots, box, rots[0], np.radians(5.0))
    aligned = align(res.mean, rots, box)
    for r, a in zip(res.residuals, aligned, strict=True):
        np.testing.assert_allclose(exp_map(r) @ res.mean, a, atol=1e-9)
    np.testing.assert_allclose(res.angles, geodesic_angles(res.mean, aligned), atol=1e-9)


def test_axis_mean_and_weights():
    a, b = np.eye(3), exp_map(np.array([np.radians(40.0), 0.0, 0.0]))
    # weight 3:1 -> the z axis tilts about x by atan2(sin40, 3 + cos40)
    mean = axis_mean(np.eye(3), np.stack([a, b]), [0, 0, 1], weights=[3.0, 1.0])
    tilt = np.degrees(np.arctan2(np.sin(np.radians(40)), 3 + np.cos(np.radians(40))))
    assert np.degrees(np.linalg.norm(log_map(mean))) == pytest.approx(tilt, abs=1e-9)


def test_discrete_and_continuous_together(monkeypatch):
    """A user category symmetric about z and under a flip (a can that is the same upside
    down): estimates pointing up and down average to one axis."""
    from ros_pose_estimation.core import categories

    monkeypatch.setattr(categories, "_REGISTRY", dict(categories._REGISTRY))  # no leaks
    can2 = register_category("can_flip", 99, continuous_axes=[[0, 0, 1]],
                             discrete=[np.eye(3), np.diag([1.0, -1.0, -1.0])],
                             overwrite=True)  # fmt: skip
    rng = np.random.default_rng(11)
    truth = Rotation.random(random_state=12).as_matrix()
    rots = _noisy(truth, 20, 2.0, rng)
    rots[::2] = rots[::2] @ np.diag([1.0, -1.0, -1.0])  # upside down
    mean = robust_mean(rots, can2, rots[1], np.radians(5.0)).mean
    err = np.degrees(np.arccos(abs((mean @ [0, 0, 1]) @ (truth @ [0, 0, 1]))))
    assert err < 1.5


def test_bad_input_says_what_is_expected():
    mug = get_category("mug")
    with pytest.raises(InputError, match=r"\[N x 3 x 3\]"):
        robust_mean(np.eye(3), mug, np.eye(3), 0.1)
    with pytest.raises(InputError, match="finite"):
        chordal_mean(np.full((2, 3, 3), np.nan))
    with pytest.raises(InputError, match="weights"):
        chordal_mean(np.stack([np.eye(3)] * 2), weights=[0.0, 0.0])
    with pytest.raises(InputError, match="scale_rad"):
        robust_mean(np.stack([np.eye(3)]), mug, np.eye(3), 0.0)
