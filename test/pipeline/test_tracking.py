"""TrackFilter: association, ids, expiry, outliers, smoothing, symmetry, covariance."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import pytest

from ros_pose_estimation.core.errors import ConfigError, InputError
from ros_pose_estimation.core.rotations import (
    axis_angle_to_matrix,
    axis_rotation,
    geodesic_angle,
    random_rotations,
)
from ros_pose_estimation.pipeline.track_config import TrackFilterConfig
from ros_pose_estimation.pipeline.tracking import SYMMETRY_AXIS_VARIANCE, TrackFilter
from ros_pose_estimation.pipeline.tracks import NO_TRACK, TrackedPose

MS = 1_000_000  # ns
FRAME = 33 * MS


@dataclass
class Est:
    """The fields of core.estimation.PoseEstimate the filter reads."""

    category: str
    t: np.ndarray
    R: np.ndarray = field(default_factory=lambda: np.eye(3))
    score: float = 0.8
    size: np.ndarray = field(default_factory=lambda: np.array([0.1, 0.08, 0.1]))


def est(category: str, x: float, y: float = 0.0, z: float = 1.0, **kw) -> Est:
    return Est(category, np.array([x, y, z]), **kw)


def ids(poses: list[TrackedPose]) -> list[int]:
    return [p.track_id for p in poses]


def test_ids_stable_while_objects_move_and_results_in_input_order():
    filt = TrackFilter()
    first = filt.update(0, [est("mug", 0.0), est("bottle", 0.3)])
    assert ids(first) == [1, 2] and [p.status for p in first] == ["new", "new"]
    for k in range(1, 30):
        frame = [est("bottle", 0.3 - 0.01 * k, 0.01 * k), est("mug", 0.02 * k)]
        poses = filt.update(k * FRAME, frame)
        assert [p.category for p in poses] == ["bottle", "mug"]
        assert ids(poses) == [2, 1]
        assert all(p.status == "tracked" and not p.outlier for p in poses)
        assert all(p.stamp_ns == k * FRAME for p in poses)
    assert sorted(t.track_id for t in filt.tracks) == [1, 2]


def test_same_class_objects_cross_with_optimal_assignment():
    """Greedy nearest-first would give track 2 the measurement at 0.12 (0.08 m away) and leave
    track 1 without a match within the gate; the optimal assignment keeps both tracks."""
    filt = TrackFilter()
    filt.update(0, [est("mug", 0.0), est("mug", 0.2)])
    poses = filt.update(FRAME, [est("mug", 0.33), est("mug", 0.12)])
    assert ids(poses) == [2, 1]
    # and two mugs that pass each other keep their ids through the crossing
    filt = TrackFilter()
    filt.update(0, [est("mug", -0.3), est("mug", 0.3, 0.12)])
    for k in range(1, 21):
        a, b = est("mug", -0.3 + 0.03 * k), est("mug", 0.3 - 0.03 * k, 0.12)
        frame = [a, b] if k % 2 else [b, a]
        poses = filt.update(k * FRAME, frame)
        assert ids(poses) == ([1, 2] if k % 2 else [2, 1]), k
        assert not any(p.outlier for p in poses)


def test_new_object_and_other_class_get_new_ids():
    filt = TrackFilter()
    assert ids(filt.update(0, [est("mug", 0.0)])) == [1]
    poses = filt.update(FRAME, [est("mug", 0.0), est("mug", 1.0), est("can", 0.0)])
    assert ids(poses) == [1, 2, 3]  # far mug: new; can at the mug's place: other class
    assert [p.status for p in poses] == ["tracked", "new", "new"]


def test_tracks_expire_and_ids_are_never_reused():
    filt = TrackFilter(TrackFilterConfig(max_age_s=1.0))
    filt.update(0, [est("mug", 0.0)])
    assert ids(filt.update(900 * MS, [est("mug", 0.0)])) == [1]  # within max age
    assert ids(filt.update(1800 * MS, [est("can", 0.5)])) == [2]
    assert ids(filt.update(2000 * MS, [est("mug", 0.0)])) == [3]  # 1.1 s unseen: expired
    assert [t.track_id for t in filt.tracks] == [2, 3]
    filt.reset()
    assert filt.tracks == []
    assert ids(filt.update(0, [est("mug", 0.0)])) == [4]


def test_outlier_rejected_then_reacquired_after_patience():
    filt = TrackFilter(TrackFilterConfig(patience=3))
    for k in range(5):
        filt.update(k * FRAME, [est("mug", 0.0)])
    # a single jump of 0.2 m (inside the 0.3 m gate, above the 0.15 m jump limit)
    out = filt.update(5 * FRAME, [est("mug", 0.2)])[0]
    assert out.outlier and out.status == "outlier" and out.track_id == 1
    np.testing.assert_allclose(out.t, [0.0, 0.0, 1.0])  # the track's previous pose
    assert out.raw.t[0] == 0.2
    back = filt.update(6 * FRAME, [est("mug", 0.0)])[0]
    assert not back.outlier and back.status == "tracked"
    # the object really moved: two outliers, then re-acquired at the third
    statuses = [filt.update((7 + k) * FRAME, [est("mug", 0.2)])[0] for k in range(3)]
    assert [p.status for p in statuses] == ["outlier", "outlier", "reacquired"]
    np.testing.assert_allclose(statuses[-1].t, [0.2, 0.0, 1.0])
    assert ids(statuses) == [1, 1, 1]


def test_inconsistent_outliers_do_not_reacquire():
    filt = TrackFilter(TrackFilterConfig(patience=2))
    filt.update(0, [est("mug", 0.0)])
    jumps = [0.2, -0.2, 0.2, -0.2]  # each far from the previous outlier
    poses = [filt.update((k + 1) * FRAME, [est("mug", x)])[0] for k, x in enumerate(jumps)]
    assert all(p.outlier for p in poses)
    np.testing.assert_allclose(filt.tracks[0].t, [0.0, 0.0, 1.0])


def test_rotation_flip_is_outlier_for_mug_but_symmetry_for_box():
    flip = axis_rotation("z", np.pi)
    for category, expect_outlier in (("mug", True), ("box", False)):
        filt = TrackFilter()
        filt.update(0, [est(category, 0.0)])
        pose = filt.update(FRAME, [est(category, 0.0, R=flip)])[0]
        assert pose.outlier is expect_outlier, category
        np.testing.assert_allclose(pose.R, np.eye(3), atol=1e-9)


def test_a_square_box_turned_by_a_quarter_turn_is_tracked_with_its_extents_swapped():
    quarter = axis_rotation("z", np.pi / 2)
    square = np.array([0.30, 0.29, 0.07])  # 3 % apart: which edge is x is a coin toss
    filt = TrackFilter()
    filt.update(0, [est("box", 0.0, size=square)])
    turned = est("box", 0.0, R=quarter, size=square[[1, 0, 2]] * 1.02)
    pose = filt.update(FRAME, [turned])[0]
    assert pose.status == "tracked" and not pose.outlier
    np.testing.assert_allclose(pose.R, np.eye(3), atol=1e-9)  # no flip of the published pose
    # its extents, swapped to the track's axes, are averaged with the track's (weight 0.5)
    np.testing.assert_allclose(pose.size, 0.5 * (square + square * 1.02), atol=1e-9)
    long = np.array([0.30, 0.20, 0.07])  # a box with distinct edges: still an outlier
    for size, tolerance in ((long, 0.05), (square, 0.0)):
        filt = TrackFilter(TrackFilterConfig(square_tolerance=tolerance))
        filt.update(0, [est("box", 0.0, size=size)])
        pose = filt.update(FRAME, [est("box", 0.0, R=quarter, size=size[[1, 0, 2]])])[0]
        assert pose.outlier


def _noisy_static(category, rot, n, rng, sigma_t=0.01, sigma_r_deg=2.0):
    frames = []
    for _ in range(n):
        noise = axis_angle_to_matrix(rng.normal(0.0, math.radians(sigma_r_deg), 3))
        t = np.array([0.1, -0.05, 0.8]) + rng.normal(0.0, sigma_t, 3)
        frames.append(Est(category, t, R=rot @ noise))
    return frames


def test_smoothing_reduces_noise_variance_more_than_twofold():
    rng = np.random.default_rng(0)
    rot = random_rotations(1, rng=1)[0]
    frames = _noisy_static("mug", rot, 400, rng)
    filt = TrackFilter()
    poses = [filt.update(k * FRAME, [f])[0] for k, f in enumerate(frames)]
    assert not any(p.outlier for p in poses)
    truth = np.array([0.1, -0.05, 0.8])
    raw_t = np.stack([f.t for f in frames[20:]]) - truth
    out_t = np.stack([p.t for p in poses[20:]]) - truth
    t_ratio = (raw_t**2).sum(1).mean() / (out_t**2).sum(1).mean()
    raw_r = geodesic_angle(rot[None], np.stack([f.R for f in frames[20:]])) ** 2
    out_r = geodesic_angle(rot[None], np.stack([p.R for p in poses[20:]])) ** 2
    r_ratio = raw_r.mean() / out_r.mean()
    assert t_ratio > 2.0 and r_ratio > 2.0, (t_ratio, r_ratio)  # EMA with weight 0.5: ~3
    # weight 1 means no smoothing: the output is the measurement
    filt = TrackFilter(TrackFilterConfig(translation_weight=1.0, rotation_weight=1.0))
    for k, f in enumerate(frames[:10]):
        pose = filt.update(k * FRAME, [f])[0]
        np.testing.assert_allclose(pose.t, f.t)
        np.testing.assert_allclose(pose.R, f.R, atol=1e-9)


def test_bottle_spinning_about_its_axis_does_not_flip():
    """Estimates of a bottle come at an arbitrary angle about its axis: the track keeps one
    rotation and its axis; the same estimates for a mug (no symmetry) are outliers."""
    rng = np.random.default_rng(2)
    rot = random_rotations(1, rng=3)[0]
    spins = rng.uniform(-np.pi, np.pi, 60)
    frames = []
    for angle in spins:
        tilt = axis_angle_to_matrix(rng.normal(0.0, math.radians(1.0), 3))
        frames.append(est("bottle", 0.0, R=tilt @ rot @ axis_rotation("z", angle)))
    filt = TrackFilter()
    poses = [filt.update(k * FRAME, [f])[0] for k, f in enumerate(frames)]
    assert not any(p.outlier for p in poses)
    steps = [
        math.degrees(geodesic_angle(a.R, b.R)) for a, b in zip(poses[:-1], poses[1:], strict=True)
    ]
    assert max(steps) < 3.0, max(steps)
    axis_err = [math.degrees(math.acos(min(1.0, p.R[:, 2] @ rot[:, 2]))) for p in poses]
    assert max(axis_err) < 4.0
    mug_filter = TrackFilter()
    mug = [
        mug_filter.update(k * FRAME, [replace(f, category="mug")])[0] for k, f in enumerate(frames)
    ]
    assert sum(p.outlier for p in mug) > 10


def test_covariance_after_enough_samples_and_symmetry_axis():
    rng = np.random.default_rng(4)
    cfg = TrackFilterConfig(covariance_min_samples=5, translation_weight=1.0, rotation_weight=1.0)
    filt = TrackFilter(cfg)
    rot = random_rotations(1, rng=5)[0]
    frames = _noisy_static("mug", rot, 40, rng, sigma_t=0.01, sigma_r_deg=1.0)
    poses = [filt.update(k * FRAME, [f])[0] for k, f in enumerate(frames)]
    assert all(p.covariance is None for p in poses[:5])  # 1 new + 4 residuals
    cov = poses[-1].covariance
    assert cov.shape == (6, 6)
    np.testing.assert_allclose(cov, cov.T)
    assert np.linalg.eigvalsh(cov).min() >= -1e-12
    # residual of two independent N(0, 0.01^2) estimates: variance 2e-4 m^2 per axis
    assert np.all((0.7e-4 < np.diag(cov)[:3]) & (np.diag(cov)[:3] < 5e-4))
    assert np.all(np.diag(cov)[3:] < 5e-3)
    # a bottle: rotation about its axis (in the camera frame) is unknown
    filt = TrackFilter(cfg)
    frames = _noisy_static("bottle", rot, 10, rng)
    cov = [filt.update(k * FRAME, [f])[0] for k, f in enumerate(frames)][-1].covariance
    axis = filt.tracks[0].R[:, 2]
    assert axis @ cov[3:, 3:] @ axis > SYMMETRY_AXIS_VARIANCE
    side = filt.tracks[0].R[:, 0]
    assert side @ cov[3:, 3:] @ side < 0.01


def test_out_of_order_frames_are_returned_unfiltered_and_change_nothing():
    filt = TrackFilter()
    filt.update(2000 * MS, [est("mug", 0.0)])
    before = filt.tracks
    poses = filt.update(1000 * MS, [est("mug", 0.05)])
    assert poses[0].track_id == NO_TRACK and poses[0].status == "out_of_order"
    assert not poses[0].tracked
    np.testing.assert_allclose(poses[0].t, [0.05, 0.0, 1.0])
    np.testing.assert_allclose(filt.tracks[0].t, before[0].t)
    assert ids(filt.update(2000 * MS, [est("mug", 0.0)])) == [1]  # equal stamp: processed


def test_low_score_estimates_are_not_tracked():
    filt = TrackFilter(TrackFilterConfig(min_score=0.5))
    poses = filt.update(0, [est("mug", 0.0, score=0.2), est("mug", 0.5, score=0.9)])
    assert ids(poses) == [NO_TRACK, 1] and poses[0].status == "low_score"
    assert len(filt.tracks) == 1


def test_accepts_nemo_pose_estimate():
    from ros_pose_estimation.core.estimation import PoseEstimate

    est_ = PoseEstimate("can", np.eye(3), np.array([0.0, 0.0, 1.0]), 0.7, np.array([0.06] * 3))
    pose = TrackFilter().update(0, [est_])[0]
    assert pose.raw is est_ and pose.track_id == 1 and pose.score == 0.7


def test_bad_estimates_raise_input_error_and_change_nothing():
    filt = TrackFilter()
    filt.update(0, [est("mug", 0.0)])
    bad = [
        (Est("mug", np.zeros(2)), r"estimates\[1\]\.t: expected \[3\]"),
        (Est("mug", np.zeros(3), R=2 * np.eye(3)), "rotation matrix"),
        (Est("mug", np.array([0.0, np.nan, 1.0])), "finite"),
        (Est("teapot", np.zeros(3)), "unknown category 'teapot'.*register"),
        (Est("mug", np.zeros(3), size=np.array([-1.0, 1.0, 1.0])), "size"),
    ]
    for item, match in bad:
        with pytest.raises(InputError, match=match):
            filt.update(FRAME, [est("mug", 0.0), item])
    with pytest.raises(InputError, match="stamp_ns"):
        filt.update(-1, [])
    assert filt.tracks[0].last_seen_ns == 0 and filt.tracks[0].updates == 1


def test_estimate_after_a_long_gap_reacquires_instead_of_being_rejected():
    """A slow estimator: frames 0.8 s apart while the camera moves. The jump would be an outlier
    at frame rate, but after more than ``max_gap_s`` the track re-acquires (same id, raw pose)."""
    filt = TrackFilter(TrackFilterConfig(max_gap_s=0.5, max_age_s=3.0))
    filt.update(0, [est("mug", 0.0)])
    moved = est("mug", 0.2, R=axis_rotation("z", np.radians(90.0)))
    (pose,) = filt.update(800 * MS, [moved])
    assert pose.track_id == 1 and pose.status == "reacquired" and not pose.outlier
    assert np.allclose(pose.t, moved.t) and np.allclose(pose.R, moved.R)
    # the same jump within the gap is an outlier
    (pose,) = filt.update(900 * MS, [est("mug", 0.0)])
    assert pose.outlier and np.allclose(pose.t, moved.t)
    with pytest.raises(ConfigError, match="max_gap_s"):
        TrackFilterConfig(max_gap_s=0.0).validate()


def _run(config: TrackFilterConfig, poses) -> list:
    filt = TrackFilter(config)
    return [filt.update(i * 100 * MS, [Est("box", t, R)])[0] for i, (t, R) in enumerate(poses)]


def test_follow_speed_follows_a_moving_object_and_still_smooths_a_still_one():
    """10 Hz: a box gliding at 0.2 m/s and 20 deg/s (a moving camera) lags far less with a
    finite follow speed; noise on a still box (2 mm, 1 deg) is smoothed nearly as much."""
    fixed = TrackFilterConfig(max_translation_jump_m=0.25, gate_distance_m=0.3)
    follow = replace(fixed, follow_speed_m_s=0.1, follow_speed_deg_s=20.0)
    moving = [(np.array([0.02 * i, 0.0, 1.0]), axis_rotation("z", math.radians(2.0 * i)))
              for i in range(30)]  # fmt: skip
    lags = {}
    for name, config in (("fixed", fixed), ("follow", follow)):
        last = _run(config, moving)[-1]
        lags[name] = (100 * np.linalg.norm(last.t - moving[-1][0]),
                      math.degrees(geodesic_angle(last.R, moving[-1][1])))  # fmt: skip
    np.testing.assert_allclose(lags["fixed"], (2.0, 2.0), atol=0.05)  # weight 0.5: one step
    assert max(lags["follow"]) < 0.7
    gen = np.random.default_rng(0)
    still = [(np.array([0.0, 0.0, 1.0]) + gen.normal(0, 0.002, 3),
              axis_angle_to_matrix(gen.normal(0, math.radians(1.0), 3))) for _ in range(60)]
    jitter = {}
    for name, config in (("fixed", fixed), ("follow", follow), ("none", replace(
            fixed, translation_weight=1.0, rotation_weight=1.0))):
        out = _run(config, still)[10:]
        steps = [np.linalg.norm(b.t - a.t) for a, b in zip(out, out[1:], strict=False)]
        jitter[name] = np.median(steps)
    assert jitter["follow"] < 1.3 * jitter["fixed"] < 0.8 * jitter["none"]


def test_follow_speed_infinite_is_the_fixed_weight():
    gen = np.random.default_rng(1)
    poses = [(np.array([0.01 * i, 0.0, 1.0]) + gen.normal(0, 0.002, 3), np.eye(3))
             for i in range(20)]  # fmt: skip
    a = _run(TrackFilterConfig(), poses)
    b = _run(TrackFilterConfig(follow_speed_m_s=math.inf, follow_speed_deg_s=math.inf), poses)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.t, y.t)


@pytest.mark.parametrize("name", ["follow_speed_m_s", "follow_speed_deg_s"])
def test_follow_speed_must_be_positive(name):
    with pytest.raises(ConfigError, match=name):
        TrackFilterConfig(**{name: 0.0}).validate()
