"""Closest symmetric equivalent: closed form vs brute force, discrete groups, no symmetry."""

from __future__ import annotations

import numpy as np

from ros_pose_estimation.core.categories import Category, get_category
from ros_pose_estimation.core.rotations import axis_rotation, geodesic_angle, random_rotations
from ros_pose_estimation.core.symmetry import closest_symmetric, symmetric_angle


def test_continuous_axis_matches_brute_force():
    bottle = get_category("bottle")
    refs, rots = random_rotations(20, rng=0), random_rotations(20, rng=1)
    angles = np.linspace(-np.pi, np.pi, 3601)
    spins = axis_rotation("z", angles)
    for ref, rot in zip(refs, rots, strict=True):
        best = closest_symmetric(ref, rot, bottle)
        brute = geodesic_angle(np.broadcast_to(ref, spins.shape), rot @ spins).min()
        got = geodesic_angle(ref, best)
        assert got <= brute + 1e-6
        # still an equivalent of rot: same symmetry axis in the camera
        np.testing.assert_allclose(best[:, 2], rot[:, 2], atol=1e-9)


def test_continuous_axis_other_than_z():
    axis = np.array([1.0, 2.0, -0.5]) / np.linalg.norm([1.0, 2.0, -0.5])
    cat = Category("spinner", 99, continuous_axes=axis[None])
    ref = random_rotations(1, rng=3)[0]
    best = closest_symmetric(ref, ref @ axis_rotation("z", 0.0), cat)
    np.testing.assert_allclose(best, ref, atol=1e-9)
    # a spin about the axis is undone exactly
    from ros_pose_estimation.core.rotations import axis_angle_to_matrix

    spun = ref @ axis_angle_to_matrix(axis * 2.0)
    np.testing.assert_allclose(closest_symmetric(ref, spun, cat), ref, atol=1e-9)


def test_discrete_box_flip_and_asymmetric_mug():
    ref = random_rotations(1, rng=5)[0]
    flipped = ref @ np.diag([-1.0, -1.0, 1.0])  # 180 deg about z
    np.testing.assert_allclose(
        closest_symmetric(ref, flipped, get_category("box")), ref, atol=1e-9
    )
    assert symmetric_angle(ref, flipped, get_category("box")) < 1e-6
    np.testing.assert_allclose(closest_symmetric(ref, flipped, get_category("mug")), flipped)
    assert np.isclose(symmetric_angle(ref, flipped, get_category("mug")), np.pi)


def test_two_axes_any_rotation_is_equivalent():
    sphere = Category("ball", 98, continuous_axes=np.eye(3)[:2])
    ref, rot = random_rotations(2, rng=7)
    np.testing.assert_allclose(closest_symmetric(ref, rot, sphere), ref)
