"""Viewpoint bias correction: it removes a systematic, viewpoint-dependent rotation bias,
leaves unbiased estimates alone, honours symmetry, and survives a checkpoint; with labelled
translations and sizes (RGB-D) it moves a biased centre back as well."""

from __future__ import annotations

import numpy as np
import pytest

from ros_pose_estimation.core.errors import CheckpointError, InputError
from ros_pose_estimation.core.metrics import rotation_error_deg
from ros_pose_estimation.core.rotations import random_rotations
from ros_pose_estimation.core.so3 import exp_map
from ros_pose_estimation.core.view_correction import (
    ViewCorrection,
    fit_view_correction,
    image_roll,
    viewing_direction,
)


def _views(n: int, seed: int):
    """Labels: random rotations seen at 0.5-2 m on the optical axis (upper hemisphere)."""
    rng = np.random.default_rng(seed)
    R = random_rotations(4 * n, rng)
    t = np.stack([rng.uniform(-0.1, 0.1, 4 * n), rng.uniform(-0.1, 0.1, 4 * n),
                  rng.uniform(0.5, 2.0, 4 * n)], 1)  # fmt: skip
    up = viewing_direction(R, t)[:, 2] > 0.05
    return R[up][:n], t[up][:n]


def _elevation_pull(R, t, gain=0.3, noise_deg=0.0, seed=0):
    """Estimates pulled towards 45 deg elevation: turned about the object's horizontal axis
    perpendicular to the view by ``gain`` x the elevation's distance from 45 deg."""
    rng = np.random.default_rng(seed)
    out = []
    for r, tt in zip(R, t, strict=True):
        v = viewing_direction(r, tt)
        elevation = np.arcsin(v[2])
        axis = np.cross([0.0, 0.0, 1.0], v)
        axis /= np.linalg.norm(axis)
        bias = exp_map(axis * gain * (elevation - np.pi / 4))  # tilts the view towards 45 deg
        jitter = exp_map(np.radians(noise_deg) * rng.standard_normal(3))
        out.append(r @ bias @ jitter)
    return np.asarray(out)


def test_viewing_direction_is_the_camera_seen_from_the_object():
    R = np.eye(3)
    assert np.allclose(viewing_direction(R, [0.0, 0.0, 2.0]), [0, 0, -1])
    assert np.allclose(viewing_direction(R[None], np.array([[0.0, 3.0, 0.0]])), [[0, -1, 0]])


def test_a_systematic_elevation_pull_is_removed_on_new_views():
    R_cal, t_cal = _views(800, seed=1)
    R_new, t_new = _views(300, seed=2)
    est_cal = _elevation_pull(R_cal, t_cal, noise_deg=1.0, seed=3)
    est_new = _elevation_pull(R_new, t_new, noise_deg=1.0, seed=4)
    fit = fit_view_correction("mug", est_cal, t_cal, R_cal)
    raw = np.median(rotation_error_deg(est_new, R_new, "mug"))
    fixed = np.median(rotation_error_deg(fit.apply(est_new, t_new), R_new, "mug"))
    assert raw > 4.0
    assert fixed < 0.5 * raw
    assert fit.info["pairs"] == 800 and fit.sigma in (0.05, 0.08, 0.12, 0.16, 0.22, 0.3, 0.45)
    assert min(fit.info["cv_median_deg"].values()) < fit.info["median_before_deg"]


def test_unbiased_estimates_are_left_about_as_they_are():
    R_cal, t_cal = _views(600, seed=5)
    R_new, t_new = _views(300, seed=6)
    est_cal = _elevation_pull(R_cal, t_cal, gain=0.0, noise_deg=3.0, seed=7)
    est_new = _elevation_pull(R_new, t_new, gain=0.0, noise_deg=3.0, seed=8)
    fit = fit_view_correction("camera", est_cal, t_cal, R_cal)
    raw = np.median(rotation_error_deg(est_new, R_new, "camera"))
    fixed = np.median(rotation_error_deg(fit.apply(est_new, t_new), R_new, "camera"))
    assert fixed < raw + 0.5


def test_gross_failures_are_left_out_of_the_fit():
    R_cal, t_cal = _views(200, seed=9)
    est = _elevation_pull(R_cal, t_cal, noise_deg=1.0)
    est[:50] = est[:50] @ exp_map(np.array([0.0, np.pi, 0.0]))  # 50 flipped estimates
    fit = fit_view_correction("mug", est, t_cal, R_cal, max_error_deg=30.0)
    assert fit.info["pairs"] == 150 and fit.info["objects"] == 200
    with pytest.raises(InputError, match="need >= 20"):
        fit_view_correction("mug", est[:60], t_cal[:60], R_cal[:60], max_error_deg=0.1)
    with pytest.raises(InputError, match="expected"):
        fit_view_correction("mug", est, t_cal[:10], R_cal)


def test_symmetric_category_depends_on_elevation_only():
    """Bottle: labels carry an arbitrary angle about the axis; the fit still removes the
    pull, and turning an estimate about its axis turns its correction with it."""
    rng = np.random.default_rng(10)
    R_cal, t_cal = _views(600, seed=11)
    est_cal = _elevation_pull(R_cal, t_cal, noise_deg=1.0, seed=12)
    spin = np.stack([exp_map(np.array([0.0, 0.0, a])) for a in rng.uniform(-np.pi, np.pi, 600)])
    fit = fit_view_correction("bottle", est_cal, t_cal, R_cal @ spin)
    R_new, t_new = _views(200, seed=13)
    est_new = _elevation_pull(R_new, t_new, noise_deg=1.0, seed=14)
    raw = np.median(rotation_error_deg(est_new, R_new, "bottle"))
    fixed = fit.apply(est_new, t_new)
    assert np.median(rotation_error_deg(fixed, R_new, "bottle")) < 0.5 * raw
    turn = exp_map(np.array([0.0, 0.0, 1.3]))
    fixed_turned = fit.apply(est_new @ turn, t_new)
    assert np.allclose(fixed_turned[:, :, 2], fixed[:, :, 2], atol=1e-6)  # same axis


def test_state_round_trip_and_bad_states():
    R_cal, t_cal = _views(100, seed=15)
    fit = fit_view_correction("mug", _elevation_pull(R_cal, t_cal), t_cal, R_cal)
    back = ViewCorrection.from_state(fit.state())
    assert np.allclose(back.apply(R_cal, t_cal), fit.apply(R_cal, t_cal))
    with pytest.raises(CheckpointError, match="lacks"):
        ViewCorrection.from_state({"category": "mug"}, "x.pt")
    bad = dict(fit.state(), sigma=0.0)
    with pytest.raises(CheckpointError, match="sigma"):
        ViewCorrection.from_state(bad, "x.pt")
    bad = dict(fit.state(), residuals=np.zeros((3, 3)))
    with pytest.raises(CheckpointError, match="N x 3"):
        ViewCorrection.from_state(bad, "x.pt")
    assert fit.apply(np.zeros((0, 3, 3)), np.zeros((0, 3))).shape == (0, 3, 3)


def test_far_from_every_calibration_view_means_no_correction():
    views = np.array([[0.0, -1.0, 0.0]] * 3)
    fit = ViewCorrection("mug", views, np.full((3, 3), 0.1), sigma=0.05)
    R = np.eye(3)[None]
    assert np.allclose(fit.apply(R, np.array([[0.0, -2.0, 0.0]])), R)  # seen from +y: far
    near = fit.apply(R, np.array([[0.0, 2.0, 0.0]]))  # seen from -y: the calibration view
    assert np.allclose(near[0], exp_map(np.full(3, 0.1)))


def test_image_roll_is_the_up_axis_angle_in_the_image():
    upright = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])  # z_obj -> -y_cam
    t = np.array([0.0, 0.0, 1.0])
    assert image_roll(upright, t) == pytest.approx(0.0, abs=1e-9)
    turn = exp_map(np.array([0.0, 0.0, 0.3]))  # about the camera z: up turns towards +x
    assert image_roll(turn @ upright, t) == pytest.approx(0.3)
    off_axis = np.array([0.5, 0.0, 1.0])  # the ray's own tilt is not a roll
    assert abs(image_roll(upright, off_axis)) < 1e-9


def test_a_roll_dependent_bias_needs_the_roll_term():
    """A bias about the model's x proportional to the image roll: the viewing direction
    alone cannot see it; the fit picks a roll width and removes most of it."""
    rng = np.random.default_rng(16)

    def views(n):
        R, t = _views(n, seed=int(rng.integers(1 << 30)))
        return R, t, R @ np.stack([exp_map(np.array([0.4 * r, 0.0, 0.0]))
                                   for r in image_roll(R, t)])  # fmt: skip

    R_cal, t_cal, est_cal = views(800)
    R_new, t_new, est_new = views(300)
    keep = np.abs(image_roll(est_cal, t_cal)) < np.radians(60)
    fit = fit_view_correction("mug", est_cal[keep], t_cal[keep], R_cal[keep])
    assert fit.roll_sigma is not None and fit.rolls.shape == (len(fit.views),)
    near = np.abs(image_roll(est_new, t_new)) < np.radians(60)
    raw = np.median(rotation_error_deg(est_new[near], R_new[near], "mug"))
    fixed = fit.apply(est_new[near], t_new[near])
    assert np.median(rotation_error_deg(fixed, R_new[near], "mug")) < 0.5 * raw
    back = ViewCorrection.from_state(fit.state())
    assert np.allclose(back.apply(est_new, t_new), fit.apply(est_new, t_new))
    with pytest.raises(InputError, match="go together"):
        ViewCorrection("mug", fit.views, fit.residuals, 0.1, rolls=fit.rolls)


def _pulled_in(R, t, sizes, fraction=0.04, noise=0.0, seed=0):
    """Centres pulled towards the camera by ``fraction`` of the box diagonal, more for views
    from the side (an RGB-D solve leaning towards the visible surface)."""
    rng = np.random.default_rng(seed)
    ray = t / np.linalg.norm(t, axis=1, keepdims=True)
    side = 1.0 - np.abs(viewing_direction(R, t)[:, 2])
    pull = fraction * (0.5 + side) * np.linalg.norm(sizes, axis=1)
    return t - pull[:, None] * ray + noise * rng.standard_normal(t.shape)


def test_a_centre_pulled_towards_the_camera_is_moved_back():
    rng = np.random.default_rng(17)
    R_cal, t_cal = _views(600, seed=18)
    R_new, t_new = _views(300, seed=19)
    s_cal, s_new = rng.uniform(0.05, 0.3, (600, 3)), rng.uniform(0.05, 0.3, (300, 3))
    est_cal, est_new = _pulled_in(R_cal, t_cal, s_cal, noise=1e-3), _pulled_in(R_new, t_new, s_new)
    fit = fit_view_correction("camera", R_cal, est_cal, R_cal, t_true=t_cal, sizes=s_cal)
    assert fit.translations.shape == (600, 3) and "translation" in fit.info
    tr = fit.info["translation"]
    assert min(tr["cv_median_cm"].values()) < 0.5 * tr["median_before_cm"]
    R_fixed, t_fixed = fit.correct(R_new, est_new, s_new)
    raw = np.linalg.norm(est_new - t_new, axis=1)
    fixed = np.linalg.norm(t_fixed - t_new, axis=1)
    assert np.median(fixed) < 0.3 * np.median(raw)
    assert np.allclose(R_fixed, R_new, atol=1e-3)  # unbiased rotations stay
    _, t_same = fit.correct(R_new, est_new)  # no sizes: the centre is not touched
    assert np.array_equal(t_same, est_new)
    back = ViewCorrection.from_state(fit.state())
    assert np.allclose(back.correct(R_new, est_new, s_new)[1], t_fixed)


def test_a_symmetric_category_moves_the_centre_the_same_for_any_turn_about_its_axis():
    rng = np.random.default_rng(20)
    R_cal, t_cal = _views(500, seed=21)
    sizes = np.full((500, 3), 0.1)
    fit = fit_view_correction("bottle", R_cal, _pulled_in(R_cal, t_cal, sizes), R_cal,
                              t_true=t_cal, sizes=sizes)  # fmt: skip
    R_new, t_new = _views(50, seed=22)
    est = _pulled_in(R_new, t_new, sizes[:50])
    turn = exp_map(np.array([0.0, 0.0, rng.uniform(0.5, 2.5)]))
    a = fit.translation_residual(R_new, est, sizes[:50])
    b = fit.translation_residual(R_new @ turn, est, sizes[:50])
    assert np.allclose(a, b, atol=1e-9)
    assert np.median(np.linalg.norm(est + a - t_new, axis=1)) < 0.3 * np.median(
        np.linalg.norm(est - t_new, axis=1))


def test_translation_arguments_and_states_are_checked():
    R_cal, t_cal = _views(100, seed=23)
    sizes = np.full((100, 3), 0.1)
    with pytest.raises(InputError, match="go together"):
        fit_view_correction("mug", R_cal, t_cal, R_cal, t_true=t_cal)
    with pytest.raises(InputError, match="like t_est"):
        fit_view_correction("mug", R_cal, t_cal, R_cal, t_true=t_cal, sizes=sizes[:5])
    with pytest.raises(InputError, match="> 0"):
        fit_view_correction("mug", R_cal, t_cal, R_cal, t_true=t_cal, sizes=0 * sizes)
    far = t_cal.copy()
    far[:90] += 1.0  # 90 centres 1 m off: more than 0.3 diagonals
    with pytest.raises(InputError, match="need >= 20"):
        fit_view_correction("mug", R_cal, t_cal, R_cal, t_true=far, sizes=sizes)
    fit = fit_view_correction("mug", R_cal, _pulled_in(R_cal, t_cal, sizes), R_cal,
                              t_true=t_cal, sizes=sizes)  # fmt: skip
    bad = dict(fit.state(), translations=np.zeros((4, 3)))
    with pytest.raises(CheckpointError, match="translations"):
        ViewCorrection.from_state(bad, "x.pt")
    bad = dict(fit.state())
    del bad["translation_sigma"]
    with pytest.raises(CheckpointError, match="go together"):
        ViewCorrection.from_state(bad, "x.pt")


def test_a_correction_that_does_not_beat_none_in_cross_validation_is_not_kept():
    """Unbiased, noisy estimates: no width beats the raw rotations or centres, so neither
    part is applied and the checkpoint form says so."""
    rng = np.random.default_rng(24)
    R_cal, t_cal = _views(300, seed=25)
    est = _elevation_pull(R_cal, t_cal, gain=0.0, noise_deg=3.0, seed=26)
    sizes = np.full((300, 3), 0.1)
    t_est = t_cal + 0.005 * rng.standard_normal(t_cal.shape)
    fit = fit_view_correction("camera", est, t_est, R_cal, t_true=t_cal, sizes=sizes,
                              sigmas_rad=(0.02,), roll_sigmas_rad=(None,),
                              translation_sigmas_rad=(0.02,))  # fmt: skip
    assert not fit.rotate and fit.info["kept"] == "none" and fit.changes_nothing
    assert fit.translations is None and fit.info["translation"]["kept"] == "none"
    R_new, t_new = fit.correct(est, t_est, sizes)
    assert np.array_equal(R_new, est) and np.array_equal(t_new, t_est)
    assert not ViewCorrection.from_state(fit.state()).rotate


def test_boxes_that_come_out_small_are_scaled_back_and_unbiased_ones_are_left():
    """Estimated extents 8 % / 8 % / 12 % short (with 3 % noise): the per-axis factors bring
    new ones back; noise alone keeps no factor; the factors survive a checkpoint."""
    rng = np.random.default_rng(30)
    R_cal, t_cal = _views(300, seed=31)
    true = rng.uniform(0.05, 0.3, (300, 3))
    short = np.array([0.92, 0.92, 0.88])
    est = true * short * np.exp(0.03 * rng.standard_normal(true.shape))
    fit = fit_view_correction("mug", R_cal, t_cal, R_cal, t_true=t_cal, sizes=est,
                              size_true=true)  # fmt: skip
    np.testing.assert_allclose(fit.size_gain, 1 / short, rtol=0.01)
    assert fit.info["size"]["kept"] and not fit.changes_nothing
    assert fit.info["size"]["cv_median_pct"] < 0.5 * fit.info["size"]["median_before_pct"]
    new = rng.uniform(0.05, 0.3, (50, 3))
    np.testing.assert_allclose(fit.correct_size(new * short), new, rtol=0.01)
    back = ViewCorrection.from_state(fit.state())
    np.testing.assert_allclose(back.correct_size(new), fit.correct_size(new))
    plain = fit_view_correction("mug", R_cal, t_cal, R_cal, t_true=t_cal, sizes=true,
                                size_true=true * np.exp(0.03 * rng.standard_normal(true.shape)))
    assert plain.size_gain is None and not plain.info["size"]["kept"]
    assert np.array_equal(plain.correct_size(new), new)
    with pytest.raises(InputError, match="size_true"):
        fit_view_correction("mug", R_cal, t_cal, R_cal, size_true=true)
    with pytest.raises(InputError, match="> 0 per axis"):
        fit_view_correction("mug", R_cal, t_cal, R_cal, t_true=t_cal, sizes=est,
                            size_true=0 * true)  # fmt: skip
    with pytest.raises(CheckpointError, match="size_gain"):
        ViewCorrection.from_state(dict(fit.state(), size_gain=np.array([1.0, -1.0, 1.0])))
