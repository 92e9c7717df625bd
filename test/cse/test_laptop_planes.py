"""A laptop's rotation from its base and screen planes (ros_pose_estimation/cse/laptop_planes.py)
on synthetic slabs: a wrong solve comes back, a bad one is left alone."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ros_pose_estimation.core.errors import ConfigError, InputError
from ros_pose_estimation.core.rotations import axis_angle_to_matrix
from ros_pose_estimation.cse import laptop_planes
from ros_pose_estimation.cse.estimator import CseInferenceConfig
from ros_pose_estimation.cse.laptop_planes import (
    BOTTOM_DEG,
    SCREEN_DEPTH_RATIO,
    SURFACE_Z_DEG,
    front_from_rest,
    laptop_box,
    laptop_screen_box,
    laptop_slabs,
    screen_plane,
)

BASE = (0.22, 0.30)  # x (hinge -> front edge), y (along the hinge), m
SCREEN_HEIGHT = 0.20


def _rot(axis, deg):
    v = np.asarray(axis, dtype=np.float64)
    return np.asarray(axis_angle_to_matrix(v / np.linalg.norm(v) * math.radians(deg)))


def _laptop(opening_deg=110.0, screen=True, n=1500, seed=0):
    """Model-frame points of the base's top (z = 0) and the screen's front, opened by
    ``opening_deg`` about the hinge (y axis at x = -0.11), origin near the box centre."""
    rng = np.random.default_rng(seed)
    base = np.stack([rng.uniform(-0.11, 0.11, n), rng.uniform(-0.15, 0.15, n), np.zeros(n)], 1)
    if not screen:
        return base
    a = math.radians(opening_deg)  # the screen leans back from +x by the opening
    s = rng.uniform(0.0, SCREEN_HEIGHT, n)
    up = np.array([math.cos(a), 0.0, math.sin(a)])
    scr = np.array([-0.11, 0.0, 0.0]) + s[:, None] * up
    scr[:, 1] = rng.uniform(-0.15, 0.15, n)
    return np.concatenate([base, scr])


TRUE_R = _rot([0.3, -1.0, 0.2], 200.0)  # looking down at the laptop from the front-left
TRUE_T = np.array([0.02, 0.05, 0.9])


def _camera(points, noise=0.0, seed=1):
    rng = np.random.default_rng(seed)
    return points @ TRUE_R.T + TRUE_T + noise * rng.standard_normal(points.shape)


def laptop_rotation(*args, **kwargs):
    """``(R', how)`` of :func:`laptop_slabs` (what most tests here check)."""
    return laptop_slabs(*args, **kwargs)[:2]


def _angle(A, B):
    return math.degrees(math.acos(np.clip((np.trace(A.T @ B) - 1) / 2, -1.0, 1.0)))


@pytest.mark.parametrize("turn", [([0, 1, 0], 25.0), ([0, 0, 1], -15.0), ([1, 1, 0], 20.0),
                                  ([0, 0, 1], 175.0)])  # fmt: skip
def test_two_planes_give_the_rotation_back(turn):
    pts = _camera(_laptop(), noise=0.001)
    R_bad = TRUE_R @ _rot(*turn)
    R, how = laptop_rotation(pts, R_bad, TRUE_T)
    assert how == "two planes"
    assert _angle(R, TRUE_R) < 1.0  # a front/back flip (175 deg) too: the base is in front


def test_the_base_alone_fixes_the_tilt_and_snaps_the_yaw_to_its_outline():
    pts = _camera(_laptop(screen=False), noise=0.001)
    R_bad = TRUE_R @ _rot([1, 0, 0], 8.0) @ _rot([0, 0, 1], 12.0)
    R, how = laptop_rotation(pts, R_bad, TRUE_T)
    assert how == "base"
    assert _angle(R, TRUE_R) < 1.5


def test_what_it_leaves_alone():
    pts = _camera(_laptop(screen=False))
    R_far = TRUE_R @ _rot([1, 0, 0], 45.0)  # the only plane is 45 deg from the solved z
    R, how = laptop_rotation(pts, R_far, TRUE_T)
    assert how == "tilted" and np.array_equal(R, R_far)
    R, how = laptop_rotation(pts[:10], TRUE_R, TRUE_T)
    assert how == "few points" and np.array_equal(R, TRUE_R)
    cloud = np.random.default_rng(3).normal(size=(500, 3)) * 0.1 + TRUE_T  # no plane in it
    assert laptop_rotation(cloud, TRUE_R, TRUE_T)[1] == "no plane"
    with pytest.raises(InputError):
        laptop_rotation(np.zeros((40, 2)), TRUE_R, TRUE_T)


def test_config_check():
    with pytest.raises(ConfigError):
        CseInferenceConfig(plane_threshold=0.0)
    with pytest.raises(ConfigError, match="support_max_threshold"):
        CseInferenceConfig(support_max_threshold=0.0)
    assert CseInferenceConfig().laptop_planes and CseInferenceConfig().laptop_screen_box


def test_the_box_is_measured_from_both_slabs():
    model = _laptop(opening_deg=100.0, n=4000)
    pts = _camera(model)
    R, how = laptop_rotation(pts, TRUE_R @ _rot([0, 1, 0], 10.0), TRUE_T + 0.02)
    assert how == "two planes"
    centre, size = laptop_box(pts, R, TRUE_T + 0.02, base_thickness=0.02)
    lo, hi = model.min(0), model.max(0)
    lo[2] -= 0.02  # the slab under the base's top
    np.testing.assert_allclose(size, hi - lo, atol=0.004)
    np.testing.assert_allclose((centre - TRUE_T) @ TRUE_R, 0.5 * (lo + hi), atol=0.004)


def test_the_box_is_measured_from_the_slabs_not_from_a_spilled_mask_s_table():
    """The table in front of and beside the base (1.8 cm below its top, 6 cm wide) among the
    pixels, as a mask that spills past the laptop's edge gives them: the slabs' pixels
    measure the box as without them; all the pixels would widen it. (Behind the hinge the
    table meets the screen's plane: a mask's rim on the table is dropped before this step,
    ``CseInferenceConfig.mask_support_plane``.)"""
    model = _laptop(opening_deg=100.0, n=4000)
    rng = np.random.default_rng(3)
    table = np.stack([rng.uniform(-0.17, 0.17, 800), rng.uniform(-0.21, 0.21, 800),
                      np.full(800, -0.018)], 1)  # fmt: skip
    table = table[((table[:, 0] > 0.11) | (np.abs(table[:, 1]) > 0.15)) & (table[:, 0] > -0.09)]
    pts = _camera(np.concatenate([model, table]))
    R_bad = TRUE_R @ _rot([0, 1, 0], 10.0)
    R, how, slabs = laptop_slabs(pts, R_bad, TRUE_T + 0.02)
    assert how == "two planes"
    assert len(model) - 50 <= len(slabs) <= len(model)
    lo, hi = model.min(0), model.max(0)
    lo[2] -= 0.02
    _, size = laptop_box(slabs, R, TRUE_T + 0.02, base_thickness=0.02)
    np.testing.assert_allclose(size, hi - lo, atol=0.004)
    _, stretched = laptop_box(pts, R, TRUE_T + 0.02, base_thickness=0.02)
    assert (stretched[:2] - (hi - lo)[:2] > 0.05).all()
    assert laptop_slabs(pts[:10], R_bad, TRUE_T)[2].shape == (0, 3)


def _screen_only(opening_deg=100.0, n=1500, seed=0):
    """Model-frame points of the screen alone (its back seen; the base hidden behind it)."""
    pts = _laptop(opening_deg, n=n, seed=seed)
    return pts[n:]


@pytest.mark.parametrize("opening", [80.0, 100.0, 125.0])
def test_the_screen_alone_on_a_surface_gives_the_up_axis_and_the_hinge(opening):
    pts = _camera(_screen_only(opening), noise=0.001)
    up = TRUE_R[:, 2]  # the table's normal: the laptop stands on it
    R_bad = TRUE_R @ _rot([0, 1, 0], 25.0) @ _rot([0, 0, 1], 8.0)  # the solve tipped over
    R, how = laptop_rotation(pts, R_bad, TRUE_T)
    assert how == "tilted" and np.array_equal(R, R_bad)  # without the surface: left alone
    R, how = laptop_rotation(pts, R_bad, TRUE_T, up=up)
    assert how == "screen on surface"
    assert _angle(R, TRUE_R) < 1.0
    np.testing.assert_allclose(R[:, 2], up, atol=1e-9)
    # a solve facing the other way gets the other way: the front/back comes from the solve
    R_back, _ = laptop_rotation(pts, R_bad @ _rot([0, 0, 1], 180.0), TRUE_T, up=up)
    assert _angle(R_back, TRUE_R @ _rot([0, 0, 1], 180.0)) < 1.0


def test_a_base_on_the_surface_is_the_base_however_far_the_solve_tipped():
    pts = _camera(_laptop(screen=False), noise=0.001)
    R_bad = TRUE_R @ _rot([1, 0, 0], 30.0)
    assert laptop_rotation(pts, R_bad, TRUE_T)[1] == "tilted"
    R, how = laptop_rotation(pts, R_bad, TRUE_T, up=TRUE_R[:, 2])
    assert how == "base on surface"
    assert _angle(R, TRUE_R) < 1.0  # z from the surface, x from the solve snapped to its edge
    # a plane neither on the surface (32 > SURFACE_Z_DEG) nor steep enough for a screen (< 40
    # deg from the surface): left alone
    R2, how2 = laptop_rotation(pts, R_bad, TRUE_T, up=TRUE_R @ _rot([1, 0, 0], 32.0)[:, 2])
    assert how2 == "tilted" and np.array_equal(R2, R_bad)


def test_a_solve_whose_x_stands_on_the_base_normal_takes_its_y_not_nan():
    pts = _camera(_laptop(screen=False), noise=0.001)
    R_up = TRUE_R @ _rot([0, 1, 0], -90.0)  # the solved x along the base's normal, y right
    np.testing.assert_allclose(R_up[:, 0], TRUE_R[:, 2], atol=1e-12)
    R, how = laptop_rotation(pts, R_up, TRUE_T, up=TRUE_R[:, 2])
    assert how == "base on surface" and np.isfinite(R).all()
    assert _angle(R, TRUE_R) < 1.0


def test_a_base_on_its_surface_takes_the_surface_s_normal_as_up():
    """Far away the base's few pixels carry centimetres of depth noise and their plane tilts;
    the surface around the detection is fitted over many more. A base plane within
    ``SURFACE_Z_DEG`` of the surface lies on it: z is the surface's normal."""
    model = _laptop(opening_deg=110.0)
    half = len(model) // 2
    model[:half] = model[:half] @ _rot([1, 0, 0], 10.0).T  # the base's plane, tilted 10 deg
    pts = _camera(model, noise=0.001)
    up = TRUE_R[:, 2]
    R, how = laptop_rotation(pts, TRUE_R, TRUE_T, up=up)
    assert how == "two planes"
    np.testing.assert_allclose(R[:, 2], up, atol=1e-9)
    assert _angle(R, TRUE_R) < 0.5
    assert _angle(laptop_rotation(pts, TRUE_R, TRUE_T)[0], TRUE_R) > 9.0  # its own plane
    assert SURFACE_Z_DEG < 40.0  # a surface 40 deg away is not the one it stands on
    R_off, _ = laptop_rotation(pts, TRUE_R, TRUE_T, up=TRUE_R @ _rot([1, 0, 0], 40.0)[:, 2])
    assert _angle(R_off, TRUE_R) > 9.0


@pytest.mark.parametrize("tip", [45.0, 60.0, 80.0])
def test_with_the_surface_the_base_is_the_lower_slab_along_it_not_along_the_solve(tip):
    """A solve tipped back towards the screen puts the screen lower along its z than the base;
    along the surface's normal the base is the lower one whatever the solve says."""
    pts = _camera(_laptop(opening_deg=125.0), noise=0.001)
    R_bad = TRUE_R @ _rot([0, 1, 0], tip)
    assert _angle(laptop_rotation(pts, R_bad, TRUE_T)[0], TRUE_R) > 170.0  # without: flipped
    R, how = laptop_rotation(pts, R_bad, TRUE_T, up=TRUE_R[:, 2])
    assert how == "two planes" and _angle(R, TRUE_R) < 0.5


def test_a_second_plane_through_the_base_is_not_a_screen():
    """Far away a second "plane" runs through the base's noisy pixels: its pixels do not rise
    ``MIN_SCREEN_RISE`` above the base's, and the hinge is not taken from it."""
    rng = np.random.default_rng(5)
    x, y = rng.uniform(-0.05, 0.05, 300), rng.uniform(-0.15, 0.15, 300)
    through = np.stack([x, y, x * math.tan(math.radians(35.0))], 1)  # mean height 0
    pts = _camera(np.concatenate([_laptop(screen=False), through]), noise=0.0005)
    R, how = laptop_rotation(pts, TRUE_R @ _rot([0, 0, 1], 5.0), TRUE_T, up=TRUE_R[:, 2])
    assert how == "base on surface" and _angle(R, TRUE_R) < 0.5
    with pytest.MonkeyPatch.context() as mp:  # taken as the screen, it turns the laptop round
        mp.setattr(laptop_planes, "MIN_SCREEN_RISE", -1.0)
        R, how = laptop_rotation(pts, TRUE_R @ _rot([0, 0, 1], 5.0), TRUE_T, up=TRUE_R[:, 2])
        assert how == "two planes" and _angle(R, TRUE_R) > 170.0


def test_on_its_surface_the_box_reaches_down_to_it():
    """The base's thickness is assumed (1.8 cm) without the surface; with it, the box's
    bottom is the surface (here 2.5 cm under the base's top)."""
    model = _laptop(opening_deg=100.0, n=4000)
    pts = _camera(model)
    up = TRUE_R[:, 2]
    support = (up, -float((TRUE_T - 0.025 * up) @ up))  # the table 2.5 cm under the base's top
    R, how = laptop_rotation(pts, TRUE_R @ _rot([0, 1, 0], 10.0), TRUE_T + 0.02, up=up)
    assert how == "two planes"
    top = model[:, 2].max()
    _, size = laptop_box(pts, R, TRUE_T + 0.02)
    assert size[2] == pytest.approx(top + 0.018, abs=0.002)  # the assumed thickness
    centre, size = laptop_box(pts, R, TRUE_T + 0.02, support=support)
    assert size[2] == pytest.approx(top + 0.025, abs=1e-6)
    assert float(centre @ up) + support[1] == pytest.approx(0.5 * size[2], abs=1e-6)
    off_up = np.asarray(_rot(TRUE_R[:, 0], 2.0)) @ up  # gravity's up, 2 deg off the table's
    gravity = (off_up, -float((TRUE_T - 0.025 * up) @ off_up))  # the same table point
    assert BOTTOM_DEG > 2.0
    assert laptop_box(pts, R, TRUE_T + 0.02, support=gravity)[1][2] == pytest.approx(
        top + 0.025, abs=0.002)
    tilted = (np.asarray(_rot(TRUE_R[:, 0], 20.0)) @ up, support[1])  # not under it: unused
    assert laptop_box(pts, R, TRUE_T + 0.02, support=tilted)[1][2] == pytest.approx(
        top + 0.018, abs=0.002)


@pytest.mark.parametrize("opening", [80.0, 100.0, 125.0])
def test_a_laptop_seen_from_behind_is_measured_from_its_screen(opening):
    """The screen alone (the base hidden behind it), 0.95 x the base's 22 cm long, hinged
    1.8 cm over the table: the box reaches from the screen's top (behind the hinge if it leans
    back) to the base's front edge, and from the table to the top."""
    rng = np.random.default_rng(3)
    n, depth = 3000, 0.22
    length = SCREEN_DEPTH_RATIO * depth
    a = math.radians(opening)
    s = rng.uniform(0.0, length, n)
    model = np.stack([-0.11 + s * math.cos(a), rng.uniform(-0.15, 0.15, n), s * math.sin(a)], 1)
    pts = _camera(model, noise=0.001)
    up = TRUE_R[:, 2]
    support = (up, -float((TRUE_T - 0.018 * up) @ up))  # the table 1.8 cm under the hinge
    lo = np.array([-0.11 + min(length * math.cos(a), 0.0), -0.15, -0.018])
    hi = np.array([-0.11 + depth, 0.15, length * math.sin(a)])
    start = TRUE_T + np.array([0.03, -0.02, 0.04])  # a solved centre off by 5 cm
    centre, size = laptop_screen_box(pts, TRUE_R, start, support)
    np.testing.assert_allclose(size, hi - lo, atol=0.006)
    np.testing.assert_allclose(centre, TRUE_T + TRUE_R @ (0.5 * (lo + hi)), atol=0.006)


def test_no_screen_box_from_too_little_or_no_screen():
    up = TRUE_R[:, 2]
    support = (up, -float((TRUE_T - 0.018 * up) @ up))
    assert laptop_screen_box(np.zeros((5, 3)), TRUE_R, TRUE_T, support) is None
    flat = _camera(_laptop(screen=False))  # the base lies flat: no screen to measure
    assert laptop_screen_box(flat, TRUE_R, TRUE_T, support) is None


def test_a_laptop_whose_screen_alone_was_found_is_turned_to_where_its_base_lies():
    pts = _laptop(110.0, n=1500)
    screen = pts[1500:]  # the screen's pixels; the base's are in the mask but no plane
    cam, cam_screen = _camera(pts, 0.002), _camera(screen, 0.002)
    turned_R = TRUE_R @ np.diag([-1.0, -1.0, 1.0])  # the solve's front turned round
    R, turned = front_from_rest(cam, cam_screen, turned_R)
    assert turned and _angle(R, TRUE_R) < 1e-6
    plane = screen_plane(cam_screen)  # fitted once, the same answer
    assert front_from_rest(cam, cam_screen, turned_R, plane=plane)[1]
    R, turned = front_from_rest(cam, cam_screen, TRUE_R)  # the right front stays
    assert not turned and _angle(R, TRUE_R) < 1e-6
    # seen from behind, the base hidden: only the screen's pixels, nothing to turn by
    R, turned = front_from_rest(cam_screen, cam_screen, turned_R)
    assert not turned and _angle(R, turned_R) < 1e-6
    few = _camera(pts[:12], 0.002)  # a few pixels behind are not enough
    assert not front_from_rest(np.concatenate([cam_screen, few]), cam_screen, turned_R)[1]
    assert not front_from_rest(cam, cam_screen[:10], turned_R)[1]  # too small a screen
    # far away, 3 cm of depth noise scatters the screen's pixels to both sides: no turn ...
    noisy = _camera(screen, 0.03, seed=2)
    assert not front_from_rest(noisy, cam_screen, turned_R)[1]
    # ... but a base 10-22 cm behind it still shows through the noise
    base_far = _camera(pts[:1500][pts[:1500, 0] > 0.0], 0.03, seed=3)
    assert front_from_rest(np.concatenate([noisy, base_far]), cam_screen, turned_R)[1]
