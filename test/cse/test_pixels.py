"""Depth units and validity, object pixels from box + depth, per-cell mask and depth."""

import numpy as np
import pytest

from ros_pose_estimation.core.conventions import metres_to_depth
from ros_pose_estimation.core.errors import DepthError, EncodingError
from ros_pose_estimation.cse.pixels import (
    box_depth_layers,
    box_depth_mask,
    cell_mask_and_depth,
    depth_metres,
    inside_box,
    object_points,
    plane_heights,
    split_at_depth_jumps,
)


def test_16uc1_millimetres_and_32fc1_metres_agree():
    metres = np.full((4, 5), 0.75, dtype=np.float32)
    metres[0, 0] = 0.0
    from_mm = depth_metres(metres_to_depth(metres, "16UC1"))  # uint16 -> 16UC1 inferred
    from_m = depth_metres(metres)  # float32 -> 32FC1 inferred
    np.testing.assert_allclose(from_mm, from_m, atol=1e-6)
    assert from_m[1, 1] == pytest.approx(0.75) and from_m[0, 0] == 0.0
    assert depth_metres(np.full((2, 2), 750, np.uint16), "16UC1")[0, 0] == pytest.approx(0.75)


def test_nan_inf_and_negative_depth_are_invalid():
    z = np.array([[np.nan, np.inf], [-1.0, 0.5]], dtype=np.float32)
    np.testing.assert_array_equal(depth_metres(z), [[0, 0], [0, 0.5]])


@pytest.mark.parametrize(
    "depth",
    [
        np.zeros((3, 3), np.uint16),
        np.zeros((3, 3), np.float32),
        np.full((3, 3), np.nan, np.float32),
    ],
)
def test_all_zero_or_nan_depth_is_a_clear_depth_error(depth):
    with pytest.raises(DepthError, match="no valid pixel: all zero or NaN"):
        depth_metres(depth)


def test_unsupported_depth_dtype_or_encoding():
    with pytest.raises(EncodingError, match="uint16 \\(16UC1, mm\\) or float32"):
        depth_metres(np.ones((2, 2), np.float64))
    with pytest.raises(EncodingError, match="unsupported depth encoding"):
        depth_metres(np.ones((2, 2), np.uint16), "16UC3")


def test_box_depth_mask_keeps_the_object_not_the_wall():
    z = np.full((60, 80), 2.0)
    z[20:40, 30:50] = 1.0  # object: 20 px at f=100 and 1 m -> 0.2 m wide
    z[25, 35] = 0.0  # a hole
    mask = box_depth_mask(z, [25, 15, 55, 45], fx=100.0)
    assert mask[20:40, 30:50].sum() == 20 * 20 - 1
    assert mask.sum() == 20 * 20 - 1  # the wall inside the box is excluded
    with pytest.raises(DepthError, match="no valid depth inside"):
        box_depth_mask(np.zeros((60, 80)), [25, 15, 55, 45], fx=100.0)


def test_cell_mask_and_depth():
    mask = np.zeros((8, 8), bool)
    mask[:4, :4] = True
    mask[4:6, 4:8] = True  # half of the bottom-right cell
    depth = np.ones((8, 8))
    depth[0, 0] = 0.0
    depth[1, 1] = 3.0
    cells, z = cell_mask_and_depth(mask, depth, stride=4)
    np.testing.assert_array_equal(cells, [[True, False], [False, True]])
    assert z[0, 0] == pytest.approx((14 * 1.0 + 3.0) / 15)  # mean over valid masked pixels
    assert z[0, 1] == 0.0 and z[1, 1] == pytest.approx(1.0)


def _cube_on_table():
    """A 10 cm cube standing on a table, seen from 0.6 m and 45 deg above: ``(intrinsics,
    depth [120 x 160] m, cube pixels [120 x 160] bool, its box, R_wc, camera centre)``."""
    from ros_pose_estimation.core.camera import Intrinsics

    intr = Intrinsics.from_K(np.array([[300.0, 0, 79.5], [0, 300.0, 59.5], [0, 0, 1]]), 160, 120)
    # camera 0.6 m from the cube, looking 45 deg down: table z = 0 in the world
    el = np.deg2rad(45.0)
    # columns: the camera's x (right), y (down) and z (forward) axes in the world
    R_wc = np.array([[1, 0, 0], [0, -np.sin(el), -np.cos(el)], [0, np.cos(el), -np.sin(el)]]).T
    c = np.array([0.0, -0.6 * np.cos(el), 0.6 * np.sin(el) + 0.05])
    rays = intr.pixel_rays().reshape(-1, 3) @ R_wc.T  # world directions (z = 1 in the camera)
    # ray-cast the table plane and the cube [-0.05, 0.05]^2 x [0, 0.1]
    on_cube = np.zeros(len(rays), bool)
    t_table = -c[2] / rays[:, 2]
    depth = np.where(t_table > 0, t_table, np.inf)
    lo, hi = np.array([-0.05, -0.05, 0.0]), np.array([0.05, 0.05, 0.1])
    with np.errstate(divide="ignore", invalid="ignore"):
        t0, t1 = (lo - c) / rays, (hi - c) / rays
    tn = np.nanmax(np.minimum(t0, t1), 1)
    tf = np.nanmin(np.maximum(t0, t1), 1)
    hit = (tn < tf) & (tn > 0) & (tn < depth)
    depth[hit], on_cube[hit] = tn[hit], True
    z = np.where(np.isfinite(depth), depth, 0.0).reshape(120, 160)
    cube = on_cube.reshape(120, 160)
    rows, cols = np.nonzero(cube)
    box = np.array([cols.min(), rows.min(), cols.max(), rows.max()], float)
    return intr, z, cube, box, R_wc, c


def test_remove_support_plane_drops_the_table_keeps_the_object():
    """A 10 cm cube standing on a table seen from 45 deg above: the depth band keeps the table
    in the box's lower part; the plane fitted around the box removes it, not the cube."""
    from ros_pose_estimation.cse.pixels import remove_support_plane

    intr, z, cube, box, R_wc, c = _cube_on_table()
    band = box_depth_mask(z, box, intr.fx)
    assert np.count_nonzero(band & ~cube) > 30  # the table in the box is in the band
    mask = remove_support_plane(band, z, box, intr)
    assert np.count_nonzero(mask & ~cube) < 0.05 * np.count_nonzero(band & ~cube)
    assert np.count_nonzero(mask & cube) > 0.9 * np.count_nonzero(band & cube)
    # nothing around the box to fit a plane to: the mask is kept as it is
    bare = np.where(cube, z, 0.0)
    np.testing.assert_array_equal(remove_support_plane(band & cube, bare, box, intr), band & cube)
    # the surface itself: the table's normal (world z in the camera), the camera 0.05 m + the
    # camera's height above it
    from ros_pose_estimation.cse.pixels import support_plane

    normal, offset = support_plane(z, box, intr)
    np.testing.assert_allclose(normal, R_wc.T @ np.array([0.0, 0.0, 1.0]), atol=1e-6)
    assert offset == pytest.approx(c[2], abs=1e-6)  # the camera's height above the table
    assert support_plane(bare, box, intr) is None


def test_box_depth_layers_finds_the_object_behind_an_occluder():
    z = np.full((60, 80), 2.0)
    z[20:40, 30:50] = 1.0  # the object
    z[24:37, 34:47] = 0.8  # something in front of the box's inner half
    box = [29, 19, 51, 41]
    layers = box_depth_layers(z, box, fx=100.0, band=0.1)
    assert len(layers) == 3 and not (layers[0] & layers[1]).any()
    assert np.all(z[layers[0]] == 0.8)  # the centre's layer: the occluder
    assert np.all(z[layers[1]] == 1.0) and layers[1].sum() == 20 * 20 - 13 * 13
    assert np.all(z[layers[2]] == 2.0)  # the wall around it
    first = box_depth_layers(z, box, fx=100.0, band=0.1, max_layers=1)
    assert len(first) == 1 and np.array_equal(first[0], layers[0])
    assert np.array_equal(box_depth_mask(z, box, fx=100.0, band=0.1), layers[0])
    few = box_depth_layers(z, box, fx=100.0, band=0.1, min_share=0.7)
    assert len(few) == 1  # what the occluder leaves is 68 % of the box: under 70 %


def test_object_points_box_mask_and_backprojection():
    from ros_pose_estimation.core.camera import Intrinsics

    intr = Intrinsics(fx=100.0, fy=110.0, cx=20.0, cy=15.0, width=40, height=30)
    depth = np.full((30, 40), 0.8, np.float32)
    depth[0, :] = 0.0
    depth[1, :] = np.nan
    mask = np.zeros((30, 40), bool)
    mask[0:10, 5:8] = True
    pts = object_points(depth, (-5, -5, 10, 12), None, intr)  # clipped to the image
    assert len(pts) == 10 * 10  # rows 2-11, columns 0-9 (rows 0, 1: no depth)
    np.testing.assert_allclose(pts[0], [(0 - 20) / 100 * 0.8, (2 - 15) / 110 * 0.8, 0.8])
    assert len(object_points(depth, (-5, -5, 10, 12), mask, intr)) == 8 * 3
    assert len(object_points(depth, (0, 0, 40, 30), None, intr, max_points=50)) <= 50
    assert object_points(depth, (50, 50, 60, 60), None, intr).shape == (0, 3)


def test_inside_box_keeps_the_object_and_drops_what_it_stands_on():
    from ros_pose_estimation.core.rotations import axis_angle_to_matrix

    axis = np.array([0.3, -1.0, 0.2])
    R = np.asarray(axis_angle_to_matrix(axis / np.linalg.norm(axis) * np.radians(200.0)))
    t = np.array([0.02, 0.05, 0.9])
    size = np.array([0.22, 0.30, 0.20])
    q = np.array([[0.0, 0.0, 0.0], [0.3, 0.0, 0.0], [0.0, 0.0, -0.099], [0.0, 0.0, -0.08]])
    kept = inside_box(q @ R.T + t, R, t, size)
    np.testing.assert_allclose((kept - t) @ R, q[[0, 3]], atol=1e-12)


def test_off_surface_finds_a_dark_object_by_its_missing_depth():
    """The cube seen as a dark object (no depth on it): nearly all of the box's depth is the
    table, and the pixels off the surface are the cube's."""
    from ros_pose_estimation.cse.pixels import off_surface, support_plane

    intr, z, cube, box, _, _ = _cube_on_table()
    plane = support_plane(z, box, intr)
    seen, share = off_surface(box, z, intr, plane)
    assert share < 0.6  # the cube stands up: most of the box's depth is off the table
    assert np.count_nonzero(seen & cube) > 0.9 * np.count_nonzero(cube)
    dark = np.where(cube, 0.0, z)
    found, share = off_surface(box, dark, intr, plane)
    assert share == 1.0  # all the depth in the box is the table
    np.testing.assert_array_equal(found, cube)  # the cube is exactly the box's holes


def test_support_plane_band_widens_for_a_far_noisy_table():
    """The cube's table seen with 3 cm of axial noise (a Kinect-class sensor at ~4 m): a 6 mm
    band holds too little of it; doubling the band up to 48 mm finds it, its normal within a
    few degrees, and a table that a tight band finds is fitted as before."""
    from ros_pose_estimation.cse.pixels import support_plane

    intr, z, cube, box, R_wc, c = _cube_on_table()
    up = R_wc.T @ np.array([0.0, 0.0, 1.0])
    exact = support_plane(z, box, intr, max_threshold=0.048)
    np.testing.assert_allclose(exact[0], support_plane(z, box, intr)[0], atol=1e-12)
    rng = np.random.default_rng(3)
    noisy = np.where(z > 0, z + rng.normal(0.0, 0.03, z.shape), 0.0)
    assert support_plane(noisy, box, intr) is None
    normal, offset = support_plane(noisy, box, intr, max_threshold=0.048)
    assert np.degrees(np.arccos(np.clip(normal @ up, -1, 1))) < 6.0
    assert offset == pytest.approx(c[2], abs=0.02)


def test_mask_depth_band_drops_a_spilled_mask_s_background_keeps_the_object():
    """The cube's mask grown by 3 px onto a wall 0.5 m behind it: the wall's pixels leave, the
    cube's stay, pixels without depth stay; band 0 or no valid depth: the mask unchanged."""
    import cv2

    from ros_pose_estimation.cse.pixels import mask_depth_band

    intr, z, cube, box, _, _ = _cube_on_table()
    wall = np.where(cube, z, z[cube].max() + 0.5)  # everything around the cube far behind it
    spilled = cv2.dilate(cube.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    hole = np.argwhere(cube)[0]
    wall[tuple(hole)] = 0.0  # one cube pixel without depth
    out = mask_depth_band(spilled, wall, box, intr.fx, 1.0)
    np.testing.assert_array_equal(out, cube)
    assert not (out & ~spilled).any()
    np.testing.assert_array_equal(mask_depth_band(spilled, wall, box, intr.fx, 0.0), spilled)
    np.testing.assert_array_equal(
        mask_depth_band(spilled, np.zeros_like(wall), box, intr.fx, 1.0), spilled
    )


def test_mask_rim_and_the_surface_dropped_only_there():
    """The rim is the mask's outer ``width`` pixels; the table's pixels of a spilled mask
    leave from its rim only, so a plane through the object's middle costs it nothing there."""
    from ros_pose_estimation.cse.pixels import mask_rim, remove_below_plane, support_plane

    square = np.zeros((20, 20), bool)
    square[5:15, 5:15] = True
    rim = mask_rim(square, 2)
    assert rim.sum() == 100 - 36 and not rim[7:13, 7:13].any()
    assert not mask_rim(square, 0).any()
    edge = np.zeros((20, 20), bool)
    edge[:, :6] = True  # the image border is not the mask's edge
    assert not mask_rim(edge, 1)[:, 0].any() and mask_rim(edge, 1)[:, 5].all()

    intr, z, cube, box, _, _ = _cube_on_table()
    spilled = cv2_dilate(cube, 3)
    plane = support_plane(z, box, intr)
    kept = remove_below_plane(spilled, z, intr, plane, within=mask_rim(spilled, 4))
    assert np.count_nonzero(kept & ~cube) < 0.1 * np.count_nonzero(spilled & ~cube)
    assert np.count_nonzero(kept & cube) > 0.95 * np.count_nonzero(cube)
    # pixels on the plane away from the rim stay
    assert remove_below_plane(spilled, z, intr, plane, within=np.zeros_like(spilled)).sum() == (
        spilled & (z > 0)).sum() + (spilled & (z <= 0)).sum()


def cv2_dilate(mask, px):
    import cv2

    kernel = np.ones((2 * px + 1, 2 * px + 1), np.uint8)
    return cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)


def test_plane_heights_follow_the_support_plane_convention():
    normal = np.array([0.0, -0.6, -0.8])  # the table's, the camera (origin) on its positive side
    plane = (normal, 0.9)  # a point's height: p . normal + offset
    foot = -0.9 * normal  # the plane's point nearest the camera
    pts = np.stack([foot, foot + 0.05 * normal, foot + np.array([0.3, 0.8, -0.6])])
    np.testing.assert_allclose(plane_heights(pts, plane), [0.0, 0.05, 0.0], atol=1e-12)
    assert float(plane_heights(np.zeros(3), plane)) == pytest.approx(0.9)  # the camera


def test_split_at_depth_jumps_drops_a_neighbour_beside_the_object():
    z = np.full((60, 80), 3.0)  # a far wall, out of the band
    z[12:50, 30:47] = np.linspace(0.50, 0.53, 17)[None, :]  # the object, a slanted surface
    z[9:12, 36:42] = 0.55  # an inside seen over a rim: a piece of its own, off the middle
    z[10:50, 47:60] = 0.56  # a neighbour standing beside it, 3 cm further (> 2 % of 0.53)
    box = [28, 8, 52, 52]  # the object's box takes in a strip of the neighbour
    band = box_depth_mask(z, box, fx=300.0, band=0.6)
    assert band[10:50, 47:53].all() and band[9:12, 36:42].all()  # the band keeps both
    out = split_at_depth_jumps(band, z, box)
    assert out[12:50, 30:47].all()  # the object whole: its own slope is no step
    assert not out[9:11, 36:42].any()  # dropped too (but its step row): why mugs and bowls
    # are not cut
    assert not out[10:50, 48:53].any()  # the neighbour's strip, entering from the side, goes
    assert not (out & ~band).any()
    assert np.array_equal(split_at_depth_jumps(band, z, box, jump=0.0), band)  # off
    coarse = split_at_depth_jumps(band, z, box, jump=0.2)  # 2-5 cm < 20 %: one surface
    assert np.array_equal(coarse, band)


def test_split_at_depth_jumps_keeps_the_mask_when_no_piece_is_central():
    z = np.full((60, 80), 1.0)
    mask = np.zeros((60, 80), dtype=bool)
    mask[10:50, 30:33] = True  # only a strip at the box's edge
    out = split_at_depth_jumps(mask, z, [28, 8, 60, 52])
    assert np.array_equal(out, mask)
    stripes = np.where(np.arange(80)[None, :] % 2 == 0, 1.0, 2.0) * np.ones((60, 1))
    full = np.ones((60, 80), dtype=bool)  # every pixel a step: nothing left to keep
    assert np.array_equal(split_at_depth_jumps(full, stripes, [10, 10, 70, 50]), full)
