"""Camera trajectories: smooth, looking at the scene, TF chains that compose to the camera pose."""

import numpy as np
import pytest

from offline_training.synthetic.trajectories import (
    OPTICAL_FRAME,
    R_BODY_OPTICAL,
    arm_sweep,
    base_pass,
    interpolate_transforms,
    static,
)

CENTER = np.array([0.1, -0.05, 0.06])


@pytest.mark.parametrize("make", [arm_sweep, base_pass, static])
def test_camera_looks_at_scene_and_is_a_valid_optical_frame(make):
    traj = make(CENTER, duration=4.0, rate=20.0, rng=np.random.default_rng(1))
    poses = traj.camera_poses()
    assert poses.shape == (80, 4, 4)
    for pose in poses:
        rot = pose[:3, :3]
        np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-9)
        assert np.linalg.det(rot) == pytest.approx(1.0)
        to_center = CENTER - pose[:3, 3]
        cos = rot[:, 2] @ to_center / np.linalg.norm(to_center)
        assert cos > 0.85  # optical z points (roughly) at the scene
        assert rot[2, 1] < 0  # image y (down) points down in the world: camera is upright
    assert traj.links[-1].child == OPTICAL_FRAME
    assert traj.links[0].parent == "world"


@pytest.mark.parametrize("make", [arm_sweep, base_pass])
def test_motion_is_smooth(make):
    traj = make(CENTER, duration=5.0, rate=30.0, rng=np.random.default_rng(2))
    pos = traj.camera_poses()[:, :3, 3]
    speed = np.linalg.norm(np.diff(pos, axis=0), axis=1) * 30.0
    assert speed.max() < 1.0  # m/s: a robot, not a teleport
    accel = np.abs(np.diff(speed)) * 30.0
    assert accel.max() < 2.0  # m/s^2, no jumps
    assert speed[0] < 0.05 and speed[-1] < 0.05  # eased start and stop


def test_a_static_camera_holds_one_pose_on_the_arm_s_chain():
    traj = static(CENTER, duration=2.0, rate=10.0, rng=np.random.default_rng(3))
    poses = traj.camera_poses()
    np.testing.assert_array_equal(poses, np.repeat(poses[:1], len(poses), axis=0))
    sweep = arm_sweep(CENTER, duration=2.0, rate=10.0, rng=np.random.default_rng(3))
    assert [(ln.parent, ln.child) for ln in traj.links] == [
        (ln.parent, ln.child) for ln in sweep.links]  # fmt: skip
    other = static(CENTER, duration=2.0, rate=10.0, rng=np.random.default_rng(4)).camera_poses()
    assert np.abs(other[0] - poses[0]).max() > 1e-3  # each recording its own view


def test_static_links_and_optical_rotation():
    traj = arm_sweep(CENTER, duration=1.0, rate=10.0)
    kinds = [(ln.parent, ln.child, ln.static) for ln in traj.links]
    assert kinds == [
        ("world", "base_link", True),
        ("base_link", "tool0", False),
        ("tool0", "camera_link", True),
        ("camera_link", OPTICAL_FRAME, True),
    ]
    # REP 103: optical z = body x (forward), optical x = -body y (right), optical y = -body z
    np.testing.assert_allclose(R_BODY_OPTICAL @ [0, 0, 1], [1, 0, 0])
    np.testing.assert_allclose(R_BODY_OPTICAL @ [1, 0, 0], [0, -1, 0])
    np.testing.assert_allclose(R_BODY_OPTICAL @ [0, 1, 0], [0, 0, -1])


def test_interpolation_hits_samples_and_halfway_rotation():
    traj = base_pass(CENTER, duration=2.0, rate=10.0, rng=np.random.default_rng(0))
    poses = traj.camera_poses()
    for i in (0, 7, 19):
        np.testing.assert_allclose(traj.camera_pose_at(traj.times[i]), poses[i], atol=1e-12)
    a = np.eye(4)
    b = np.eye(4)
    b[:3, :3] = [[0, -1, 0], [1, 0, 0], [0, 0, 1]]  # 90 deg about z
    b[:3, 3] = [1.0, 2.0, 0.0]
    mid = interpolate_transforms(np.array([0.0, 1.0]), np.stack([a, b]), 0.5)
    c = np.cos(np.pi / 4)
    np.testing.assert_allclose(mid[:3, :3], [[c, -c, 0], [c, c, 0], [0, 0, 1]], atol=1e-12)
    np.testing.assert_allclose(mid[:3, 3], [0.5, 1.0, 0.0])


def test_bad_duration_is_rejected():
    with pytest.raises(ValueError, match="positive"):
        arm_sweep(CENTER, duration=0.0)
