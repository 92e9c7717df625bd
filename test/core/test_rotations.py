"""Rotations: conventions pinned, round trips, known angles, numpy/torch agreement, gradients."""

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from ros_pose_estimation.core import rotations as rot
from ros_pose_estimation.core.errors import InputError

S45 = np.sin(np.pi / 4)


def rz(deg):
    return Rotation.from_euler("z", deg, degrees=True).as_matrix()


def test_quaternion_order_pinned():
    np.testing.assert_allclose(rot.quat_to_matrix([0, 0, 0, 1]), np.eye(3))
    np.testing.assert_allclose(rot.matrix_to_quat(np.eye(3)), [0, 0, 0, 1])
    np.testing.assert_allclose(rot.matrix_to_quat(rz(90)), [0, 0, S45, S45], atol=1e-12)
    np.testing.assert_allclose(
        rot.quat_to_matrix([0, 0, S45, S45]) @ [1, 0, 0], [0, 1, 0], atol=1e-12
    )
    q = rot.matrix_to_quat(torch.tensor(rz(90)))
    assert isinstance(q, torch.Tensor)
    np.testing.assert_allclose(q.numpy(), [0, 0, S45, S45], atol=1e-12)


def test_quaternions_match_scipy_and_have_positive_w():
    mats = np.concatenate(
        [
            rot.random_rotations(500, 0),
            np.diag([1.0, -1, -1])[None],
            np.diag([-1.0, 1, -1])[None],
            np.diag([-1.0, -1, 1])[None],
            rz(179.9999)[None],
        ]
    )
    q = rot.matrix_to_quat(mats)
    assert np.all(q[:, 3] >= 0)
    ref = Rotation.from_matrix(mats).as_quat(canonical=True)
    np.testing.assert_allclose(q, ref, atol=1e-9)
    np.testing.assert_allclose(rot.quat_to_matrix(q), mats, atol=1e-12)
    np.testing.assert_allclose(rot.quat_to_matrix(2.0 * q), mats, atol=1e-12)  # normalised


def test_axis_angle_known_and_round_trip():
    np.testing.assert_allclose(rot.axis_angle_to_matrix([0, 0, np.pi / 2]), rz(90), atol=1e-12)
    mats = rot.random_rotations(300, 1)
    rv = rot.matrix_to_axis_angle(mats)
    np.testing.assert_allclose(rv, Rotation.from_matrix(mats).as_rotvec(), atol=1e-9)
    np.testing.assert_allclose(rot.axis_angle_to_matrix(rv), mats, atol=1e-12)
    tiny = np.array([1e-10, -2e-10, 3e-10])
    np.testing.assert_allclose(
        rot.matrix_to_axis_angle(rot.axis_angle_to_matrix(tiny)), tiny, rtol=1e-6
    )


def test_axis_rotation_signs():
    np.testing.assert_allclose(
        rot.axis_rotation("z", np.pi / 2) @ [1, 0, 0], [0, 1, 0], atol=1e-12
    )
    np.testing.assert_allclose(
        rot.axis_rotation("x", np.pi / 2) @ [0, 1, 0], [0, 0, 1], atol=1e-12
    )
    np.testing.assert_allclose(
        rot.axis_rotation("y", np.pi / 2) @ [0, 0, 1], [1, 0, 0], atol=1e-12
    )
    with pytest.raises(InputError):
        rot.axis_rotation("w", 1.0)


def test_rot6d_is_first_two_columns_and_round_trips():
    r = rz(30)
    np.testing.assert_allclose(rot.matrix_to_rot6d(r), np.concatenate([r[:, 0], r[:, 1]]))
    np.testing.assert_allclose(rot.matrix_to_rot6d(np.eye(3)), [1, 0, 0, 0, 1, 0])
    mats = rot.random_rotations(100, 2)
    np.testing.assert_allclose(rot.rot6d_to_matrix(rot.matrix_to_rot6d(mats)), mats, atol=1e-12)
    raw = np.random.default_rng(3).standard_normal((100, 6)) * 5
    out = rot.rot6d_to_matrix(raw)
    np.testing.assert_allclose(
        out @ out.swapaxes(-1, -2), np.broadcast_to(np.eye(3), out.shape), atol=1e-12
    )
    np.testing.assert_allclose(np.linalg.det(out), 1.0)
    # the first column keeps the direction of the first vector
    np.testing.assert_allclose(
        out[:, :, 0], raw[:, :3] / np.linalg.norm(raw[:, :3], axis=1, keepdims=True)
    )


def test_rot6d_gradients_in_torch():
    x = torch.randn(4, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(rot.rot6d_to_matrix, (x,))
    target = torch.tensor(rot.random_rotations(4, 4))
    loss = rot.geodesic_angle(rot.rot6d_to_matrix(x), target).sum()
    loss.backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_geodesic_known_cases():
    assert rot.geodesic_angle(np.eye(3), rz(30)) == pytest.approx(np.pi / 6)
    assert rot.geodesic_angle(rz(30), rz(-45)) == pytest.approx(np.radians(75))
    assert rot.geodesic_angle(np.eye(3), np.diag([1.0, -1, -1])) == pytest.approx(np.pi)
    assert rot.geodesic_angle(np.eye(3), np.eye(3)) == 0.0
    assert rot.geodesic_angle(np.eye(3), rz(1e-7)) == pytest.approx(np.radians(1e-7), rel=1e-6)
    mats = rot.random_rotations(200, 5)
    # ||logm(R)||_F / sqrt(2) = rotation angle
    np.testing.assert_allclose(
        rot.geodesic_angle(np.eye(3), mats),
        np.linalg.norm(Rotation.from_matrix(mats).as_rotvec(), axis=1),
        atol=1e-12,
    )


def test_geodesic_gradient_finite_at_identity_and_pi():
    for target in (np.eye(3), np.diag([1.0, -1, -1])):
        r = torch.tensor(np.eye(3), requires_grad=True)
        rot.geodesic_angle(r, torch.tensor(target)).backward()
        assert torch.isfinite(r.grad).all()


def test_viewpoint_convention():
    r, t = rot.viewpoint_to_pose(0.0, 0.0, 0.0, 2.0)
    np.testing.assert_allclose(t, [0, 0, 2])
    np.testing.assert_allclose(r @ [0, 0, 1], [0, -1, 0], atol=1e-12)  # model up = image up
    np.testing.assert_allclose(r @ [0, 1, 0], [1, 0, 0], atol=1e-12)  # object's left on the right
    np.testing.assert_allclose(r @ [1, 0, 0], [0, 0, -1], atol=1e-12)  # front faces the camera
    # azimuth 90 deg: camera on +y, looking at the object's left side
    np.testing.assert_allclose(rot.camera_position(np.pi / 2, 0.0, 2.0), [0, 2, 0], atol=1e-12)
    np.testing.assert_allclose(
        rot.viewpoint_to_matrix(np.pi / 2, 0, 0) @ [0, 1, 0], [0, 0, -1], atol=1e-12
    )
    # elevation 90 deg: camera above, the object's front (+x) is at the bottom of the image
    np.testing.assert_allclose(
        rot.viewpoint_to_matrix(0.0, np.pi / 2, 0) @ [1, 0, 0], [0, 1, 0], atol=1e-12
    )
    # theta 90 deg turns the image from +u towards +v
    np.testing.assert_allclose(
        rot.viewpoint_to_matrix(0.0, 0.0, np.pi / 2) @ [0, 1, 0], [0, 1, 0], atol=1e-12
    )


def test_viewpoint_agrees_with_look_at_and_round_trips():
    rng = np.random.default_rng(6)
    az, el = rng.uniform(-np.pi, np.pi, 50), rng.uniform(-1.4, 1.4, 50)
    r, t = rot.viewpoint_to_pose(az, el, 0.0, 3.0)
    r2, t2 = rot.look_at(rot.camera_position(az, el, 3.0))
    np.testing.assert_allclose(r, r2, atol=1e-12)
    np.testing.assert_allclose(t, t2, atol=1e-12)
    mats = rot.random_rotations(300, 7)
    az, el, th = rot.matrix_to_viewpoint(mats)
    np.testing.assert_allclose(rot.viewpoint_to_matrix(az, el, th), mats, atol=1e-12)
    top = rot.viewpoint_to_matrix(0.3, np.pi / 2, 0.2)  # gimbal point: R still reproduced
    np.testing.assert_allclose(
        rot.viewpoint_to_matrix(*rot.matrix_to_viewpoint(top)), top, atol=1e-9
    )


def test_look_at_degenerate_raises():
    with pytest.raises(InputError):
        rot.look_at([0.0, 0.0, 0.0])
    with pytest.raises(InputError):
        rot.look_at([0.0, 0.0, 2.0])  # looking straight down along up


def test_random_rotations_uniform():
    mats = rot.random_rotations(20000, 8)
    np.testing.assert_allclose(
        mats @ mats.swapaxes(1, 2), np.broadcast_to(np.eye(3), mats.shape), atol=1e-12
    )
    np.testing.assert_allclose(np.linalg.det(mats), 1.0)
    np.testing.assert_array_equal(rot.random_rotations(3, 9), rot.random_rotations(3, 9))
    assert np.abs(mats.mean(0)).max() < 0.03  # the Haar mean of R is 0
    angles = rot.geodesic_angle(np.eye(3), mats)
    expected = (np.pi / 2 - 1) / np.pi  # P(angle < pi/2) = (a - sin a) / pi
    assert abs(np.mean(angles < np.pi / 2) - expected) < 0.01


def test_transforms():
    t = rot.make_transform(rz(90), [1.0, 2.0, 3.0])
    np.testing.assert_allclose(t[3], [0, 0, 0, 1])
    np.testing.assert_allclose(rot.transform_points(t, [[1.0, 0, 0]]), [[1, 3, 3]], atol=1e-12)
    np.testing.assert_allclose(rot.invert_transform(t) @ t, np.eye(4), atol=1e-12)
    np.testing.assert_allclose(rot.invert_transform(t)[:3, 3], [-2, 1, -3], atol=1e-12)
    with pytest.raises(InputError):
        rot.make_transform(np.eye(3), [1.0, 2.0])


def test_orthonormalize():
    noisy = rz(20) + 0.01 * np.random.default_rng(9).standard_normal((3, 3))
    out = rot.orthonormalize(noisy)
    np.testing.assert_allclose(out @ out.T, np.eye(3), atol=1e-12)
    assert rot.geodesic_angle(out, rz(20)) < 0.02
    assert np.linalg.det(rot.orthonormalize(np.diag([1.0, 1, -1]))) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "fn, make",
    [
        (rot.quat_to_matrix, lambda g: g.standard_normal((5, 4))),
        (rot.matrix_to_quat, lambda g: rot.random_rotations(5, g)),
        (rot.axis_angle_to_matrix, lambda g: g.standard_normal((5, 3))),
        (rot.matrix_to_axis_angle, lambda g: rot.random_rotations(5, g)),
        (rot.rot6d_to_matrix, lambda g: g.standard_normal((5, 6))),
        (rot.matrix_to_rot6d, lambda g: rot.random_rotations(5, g)),
        (rot.hat, lambda g: g.standard_normal((5, 3))),
        (rot.orthonormalize, lambda g: g.standard_normal((5, 3, 3))),
        (lambda r: rot.geodesic_angle(r[:1], r), lambda g: rot.random_rotations(5, g)),
        (lambda r: rot.matrix_to_viewpoint(r)[2], lambda g: rot.random_rotations(5, g)),
        (
            lambda a: rot.viewpoint_to_matrix(a[:, 0], a[:, 1], a[:, 2]),
            lambda g: g.standard_normal((5, 3)),
        ),
        (
            lambda r: rot.invert_transform(rot.make_transform(r, r[:, 0])),
            lambda g: rot.random_rotations(5, g),
        ),
    ],
)
def test_numpy_and_torch_agree(fn, make):
    x = make(np.random.default_rng(10))
    expect = fn(x)
    got = fn(torch.tensor(x))
    assert isinstance(got, torch.Tensor) and isinstance(expect, np.ndarray)
    np.testing.assert_allclose(got.numpy(), expect, atol=1e-10)


def test_viewpoint_gradients_in_torch():
    angles = torch.tensor([0.3, 0.2, -0.1, 2.0], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a: torch.cat([m.reshape(-1) for m in rot.viewpoint_to_pose(*a)]), (angles,)
    )
