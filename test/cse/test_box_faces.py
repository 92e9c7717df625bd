"""A box's rotation and extents from its faces (ros_pose_estimation/cse/box_faces.py) on
synthetic boxes: the faces seen fix what they can, a wrong solve comes back."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ros_pose_estimation.core.errors import InputError
from ros_pose_estimation.core.rotations import axis_angle_to_matrix
from ros_pose_estimation.cse.box_faces import SURFACE_AXIS_DEG, box_from_faces
from ros_pose_estimation.cse.estimator import CseInferenceConfig

SIZE = np.array([0.30, 0.18, 0.12])
TRUE_R = np.asarray(axis_angle_to_matrix(np.array([2.0, 0.4, -0.3])), dtype=np.float64)
TRUE_T = np.array([0.05, -0.03, 0.8])


def _rot(axis, deg):
    v = np.asarray(axis, dtype=np.float64)
    return np.asarray(axis_angle_to_matrix(v / np.linalg.norm(v) * math.radians(deg)))


def _visible_faces(n=1500, seed=0, only=None):
    """Camera-frame points on the faces of the box at (TRUE_R, TRUE_T) that face the camera
    (``only``: just the face whose outward normal is nearest that model axis index)."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(3):
        for sign in (1.0, -1.0):
            normal = TRUE_R[:, k] * sign
            centre = TRUE_T + normal * SIZE[k] / 2
            if normal @ (-centre) <= 0 or (only is not None and k != only):
                continue
            q = rng.uniform(-0.5, 0.5, (n, 3)) * SIZE
            q[:, k] = sign * SIZE[k] / 2
            out.append(q @ TRUE_R.T + TRUE_T)
    return np.concatenate(out)


def _angle(A, B):
    return math.degrees(math.acos(np.clip((np.trace(A.T @ B) - 1) / 2, -1.0, 1.0)))


@pytest.mark.parametrize("turn", [([0, 0, 1], 20.0), ([1, 0, 0], -15.0), ([1, 1, 1], 25.0)])
def test_the_faces_seen_give_pose_and_extents_back(turn):
    pts = _visible_faces()
    R, t, size, faces, _ = box_from_faces(pts, TRUE_R @ _rot(*turn), TRUE_T + 0.03, SIZE * 0.7)
    assert faces >= 2
    assert _angle(R, TRUE_R) < 1.0
    np.testing.assert_allclose(size, SIZE, atol=0.005)
    np.testing.assert_allclose(t, TRUE_T, atol=0.005)


def test_one_face_fixes_its_axis_and_snaps_to_its_outline():
    # the z face alone: its normal, its edges, the solved depth
    pts = _visible_faces(only=2)
    solved = TRUE_R @ _rot([0, 0, 1], 12.0) @ _rot([1, 0, 0], 6.0)
    R, t, size, faces, _ = box_from_faces(pts, solved, TRUE_T, SIZE)
    assert faces == 1
    assert _angle(R, TRUE_R) < 1.0
    np.testing.assert_allclose(size, SIZE, atol=0.005)  # x, y seen; z: the solved one
    np.testing.assert_allclose(t, TRUE_T, atol=0.005)


def test_no_face_or_too_few_pixels_change_nothing():
    cloud = np.random.default_rng(1).uniform(-0.3, 0.3, (400, 3)) + TRUE_T  # no plane in it
    R, t, size, faces, _ = box_from_faces(cloud, TRUE_R, TRUE_T, SIZE)
    assert faces == 0 and np.array_equal(R, TRUE_R) and np.array_equal(size, SIZE)
    assert box_from_faces(_visible_faces()[:10], TRUE_R, TRUE_T, SIZE)[3] == 0
    # a face 60 deg from every solved axis is not given to any
    assert box_from_faces(_visible_faces(), TRUE_R @ _rot([1, 1, 0], 60.0), TRUE_T, SIZE)[3] < 3
    with pytest.raises(InputError):
        box_from_faces(np.zeros((40, 2)), TRUE_R, TRUE_T, SIZE)


def test_on_by_default():
    assert CseInferenceConfig().box_faces and CseInferenceConfig().box_noise


def test_the_top_alone_takes_its_height_from_the_surface_under_the_box():
    pts = _visible_faces(only=2)
    z = TRUE_R[:, 2] * np.sign(TRUE_R[:, 2] @ -TRUE_T)  # the top's normal, towards the camera
    bottom = TRUE_T - z * SIZE[2] / 2
    support = (z, -float(bottom @ z))  # the table: height 0 at the box's bottom
    wrong = SIZE * np.array([1.0, 1.0, 0.2])  # a solve that flattened the unseen height
    R, t, size, faces, _ = box_from_faces(pts, TRUE_R, TRUE_T, wrong, support=support)
    assert faces == 1
    np.testing.assert_allclose(size, SIZE, atol=0.005)
    np.testing.assert_allclose(t, TRUE_T, atol=0.005)
    # without the surface, the solved height stays
    assert box_from_faces(pts, TRUE_R, TRUE_T, wrong)[2][2] == pytest.approx(wrong[2])
    # a surface not under the top (tilted 40 deg) is not used
    tilted = (np.asarray(_rot(TRUE_R[:, 0], 40.0)) @ z, support[1])
    assert box_from_faces(pts, TRUE_R, TRUE_T, wrong, support=tilted)[2][2] == pytest.approx(
        wrong[2])


@pytest.mark.parametrize("side", [0, 1])
def test_a_side_alone_is_not_flattened_below_the_template_proportions(side):
    from ros_pose_estimation.cse.box_faces import MIN_DEPTH_SHARE

    pts = _visible_faces(only=side)
    proportions = SIZE * 0.5  # a template of the same proportions, half the size
    flat = SIZE.copy()
    flat[side] *= 0.25  # a solve that flattened the box along the unseen depth
    R, t, size, faces, _ = box_from_faces(pts, TRUE_R, TRUE_T, flat, proportions=proportions)
    assert faces == 1
    floor = SIZE.copy()
    floor[side] *= MIN_DEPTH_SHARE  # the other horizontal edge x the ratio x the share
    np.testing.assert_allclose(size, floor, atol=0.005)
    # the centre half that depth behind the face
    face = TRUE_T + TRUE_R[:, side] * np.sign(TRUE_R[:, side] @ -TRUE_T) * SIZE[side] / 2
    assert np.linalg.norm(t - face) == pytest.approx(floor[side] / 2, abs=0.005)
    # a solved depth above the floor stays, and without proportions any solved depth stays
    thin = SIZE.copy()
    thin[side] *= 0.8
    assert box_from_faces(pts, TRUE_R, TRUE_T, thin, proportions=proportions)[2][side] == (
        pytest.approx(thin[side]))
    assert box_from_faces(pts, TRUE_R, TRUE_T, flat)[2][side] == pytest.approx(flat[side])
    # a top face alone is the surface's business, not the proportions'
    top = box_from_faces(_visible_faces(only=2), TRUE_R, TRUE_T, SIZE * np.array([1, 1, 0.2]),
                         proportions=proportions)[2]  # fmt: skip
    assert top[2] == pytest.approx(SIZE[2] * 0.2)


def test_on_its_surface_the_faces_nearest_axis_takes_the_surface_s_normal():
    """Far away the faces' depth noise tilts their planes; the surface, fitted over the ring
    around the detection, lays the faces' axis nearest its normal on it (within
    ``SURFACE_AXIS_DEG``) before the extents are measured."""
    tilt = _rot(TRUE_R[:, 0], 8.0)  # the faces' planes, tilted about the box's x
    pts = (_visible_faces() - TRUE_T) @ tilt.T + TRUE_T
    z = TRUE_R[:, 2] * np.sign(TRUE_R[:, 2] @ -TRUE_T)  # the table's normal, camera side
    support = (z, -float((TRUE_T - z * SIZE[2] / 2) @ z))
    R_alone = box_from_faces(pts, TRUE_R, TRUE_T, SIZE)[0]
    assert _angle(R_alone, TRUE_R) == pytest.approx(8.0, abs=0.5)  # the faces' own tilt
    R, t, size, faces, _ = box_from_faces(pts, TRUE_R, TRUE_T, SIZE, support=support)
    assert faces >= 2 and _angle(R, TRUE_R) < 0.5
    assert abs(R[:, 2] @ z) == pytest.approx(1.0, abs=1e-12)
    assert SURFACE_AXIS_DEG < 38.0  # a surface 38 deg from the faces' axis: not their table
    far = (np.asarray(_rot(TRUE_R[:, 0], -30.0)) @ z, support[1])
    assert _angle(box_from_faces(pts, TRUE_R, TRUE_T, SIZE, support=far)[0], R_alone) < 1e-6


def test_standing_on_the_surface_the_height_is_the_top_face_over_it():
    """A side face's spread along the height carries its edge pixels (flying pixels at the
    top edge, 1.5 cm high here, still on the side's plane); with the surface, the box reaches
    from it to the top face's median height over it."""
    up = TRUE_R[:, 2] * np.sign(TRUE_R[:, 2] @ -TRUE_T)  # the top faces the camera
    bottom = TRUE_T - up * SIZE[2] / 2
    support = (up, -float(bottom @ up))
    pts = _visible_faces()
    height = pts @ up + support[1]
    on_top = np.abs(height - SIZE[2]) < 1e-9
    edge = ~on_top & (height > SIZE[2] - 0.01)  # the sides' pixels along the top edge
    pts = np.concatenate([pts, pts[edge] + 0.015 * up])
    _, _, spread, faces, _ = box_from_faces(pts, TRUE_R, TRUE_T, SIZE)
    assert faces >= 2 and spread[2] == pytest.approx(SIZE[2] + 0.015, abs=0.002)
    R, t, size, faces, _ = box_from_faces(pts, TRUE_R, TRUE_T, SIZE, support=support)
    assert faces >= 2 and _angle(R, TRUE_R) < 0.5
    assert size[2] == pytest.approx(SIZE[2], abs=0.002)
    np.testing.assert_allclose(t, TRUE_T, atol=0.002)
    assert box_from_faces(pts, TRUE_R, TRUE_T, SIZE, support=support, stand=False)[2][
        2] == pytest.approx(SIZE[2] + 0.015, abs=0.002)  # the tabletop prior off: the spread
    # a surface that is not under the box (a neighbour's top 10 cm up): the spread stays
    high = (up, support[1] - 0.10)
    assert box_from_faces(pts, TRUE_R, TRUE_T, SIZE, support=high)[2][2] == pytest.approx(
        SIZE[2] + 0.015, abs=0.002)


def test_it_says_when_the_height_was_measured_from_the_surface():
    up = TRUE_R[:, 2] * np.sign(TRUE_R[:, 2] @ -TRUE_T)
    support = (up, -float((TRUE_T - up * SIZE[2] / 2) @ up))
    pts = _visible_faces()
    assert box_from_faces(pts, TRUE_R, TRUE_T, SIZE, support=support)[4]  # the top seen
    assert not box_from_faces(pts, TRUE_R, TRUE_T, SIZE)[4]  # no surface: the spread
    top = _visible_faces(only=2)  # the top alone over the table
    assert box_from_faces(top, TRUE_R, TRUE_T, SIZE, support=support)[4]
    side = _visible_faces(only=0)  # a side alone: its height is the side's own spread
    assert not box_from_faces(side, TRUE_R, TRUE_T, SIZE, support=support)[4]


def _on_table():
    up = TRUE_R[:, 2] * np.sign(TRUE_R[:, 2] @ -TRUE_T)  # the top faces the camera
    return up, (up, -float((TRUE_T - up * SIZE[2] / 2) @ up))


def test_a_noisy_spread_does_not_refuse_the_top_s_height():
    """Far away the depth noise widens the faces' spread along the height past ``TOP_AGREE``
    times the top's height over the surface; allowing for the noise measured, the top wins."""
    up, support = _on_table()
    pts = _visible_faces()
    height = pts @ up + support[1]
    edge = (np.abs(height - SIZE[2]) > 1e-9) & (height > SIZE[2] - 0.01)  # the sides' top edge
    pts = np.concatenate([pts, pts[edge] + 0.10 * up])  # spread 0.22 m: 1.8 x the top's 0.12
    assert box_from_faces(pts, TRUE_R, TRUE_T, SIZE, support=support)[2][2] == pytest.approx(
        SIZE[2] + 0.10, abs=0.002)  # no noise allowed for: refused
    R, t, size, _, measured = box_from_faces(pts, TRUE_R, TRUE_T, SIZE, support=support,
                                             noise=0.03)  # fmt: skip
    assert measured and size[2] == pytest.approx(SIZE[2], abs=0.002)
    np.testing.assert_allclose(t, TRUE_T, atol=0.002)


def test_sides_alone_reach_twice_their_middle_when_the_noise_explains_the_spread():
    up, support = _on_table()
    side = _visible_faces(only=0, n=4000)
    height = side @ up + support[1]
    noisy = np.concatenate([side, side[height > SIZE[2] - 0.005] + 0.04 * up])  # flying pixels
    spread = box_from_faces(noisy, TRUE_R, TRUE_T, SIZE, support=support)[2][2]
    assert spread == pytest.approx(SIZE[2] + 0.04, abs=0.003)  # no noise: the spread
    size, measured = (box_from_faces(noisy, TRUE_R, TRUE_T, SIZE, support=support,
                                     noise=0.02)[i] for i in (2, 4))  # fmt: skip
    assert measured and size[2] == pytest.approx(SIZE[2], abs=0.005)  # 4 x 2 cm covers 4 cm
    # a spread the noise cannot explain (0.5 mm of it) is the box's own
    assert box_from_faces(noisy, TRUE_R, TRUE_T, SIZE, support=support, noise=0.0005)[2][
        2] == pytest.approx(spread, abs=1e-9)
