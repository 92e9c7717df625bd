"""Crops: square boxes, crop intrinsics (pinned against projection), resampling, padding, and
the estimators' crop of a detection (image, mask and depth)."""

import numpy as np
import pytest

from ros_pose_estimation.core.camera import Intrinsics
from ros_pose_estimation.core.crops import (
    Crop,
    crop_inputs,
    detection_crop,
    make_crop,
    square_crop_box,
)
from ros_pose_estimation.core.errors import InputError, IntrinsicsError

CAM = Intrinsics(fx=600.0, fy=580.0, cx=322.3, cy=241.7, width=640, height=480)


def test_square_crop_box_hand_case():
    np.testing.assert_allclose(square_crop_box([10, 20, 30, 60]), [-4, 16, 44, 64])
    np.testing.assert_allclose(square_crop_box([10, 20, 12, 21], min_size=16), [3, 12.5, 19, 28.5])
    both = square_crop_box([[10, 20, 30, 60], [0, 0, 100, 50]], scale=1.0)
    np.testing.assert_allclose(both, [[0, 20, 40, 60], [0, -25, 100, 75]])


@pytest.mark.parametrize("box", [[5, 5, 5, 10], [5, 10, 6, 2], [np.nan, 0, 1, 1], [0, 0, 1]])
def test_bad_boxes_raise(box):
    with pytest.raises(InputError):
        square_crop_box(box)
    with pytest.raises(InputError):
        Crop.from_box(box, 64)


def test_box_wholly_outside_raises_partly_outside_ok():
    with pytest.raises(InputError, match="outside"):
        make_crop(np.zeros((480, 640)), [700, 10, 800, 110], 32)
    with pytest.raises(InputError, match="outside"):
        Crop.from_box([-100, -100, -0.5, 50], 32, CAM)
    make_crop(np.zeros((480, 640)), [600, -50, 700, 50], 32)


def test_crop_intrinsics_match_projection():
    """A point projected with the source camera and mapped into the crop lands exactly where
    the crop's own intrinsics project it."""
    rng = np.random.default_rng(0)
    pts = np.column_stack([rng.uniform(-0.3, 0.3, (100, 2)), rng.uniform(0.5, 3.0, 100)])
    for box, size in [([100.3, 50.8, 300.1, 250.6], 224), ([-40, 400, 60, 500], (64, 32))]:
        crop = Crop.from_box(box, size, CAM)
        np.testing.assert_allclose(
            crop.image_to_crop(CAM.project(pts)), crop.intrinsics.project(pts), atol=1e-9
        )
        assert (crop.intrinsics.width, crop.intrinsics.height) == (crop.width, crop.height)


def test_crop_mapping_hand_values():
    crop = Crop.from_box([10.0, 20.0, 50.0, 100.0], (80, 40))  # s = (2, 0.5)
    assert crop.scale == (2.0, 0.5)
    # the box's corners are the crop's outer pixel edges
    np.testing.assert_allclose(
        crop.image_to_crop([[10, 20], [50, 100]]), [[-0.5, -0.5], [79.5, 39.5]]
    )
    uv = np.array([[12.25, 33.0], [0.0, 0.0]])
    np.testing.assert_allclose(crop.crop_to_image(crop.image_to_crop(uv)), uv)
    m = crop.affine_matrix
    np.testing.assert_allclose(uv @ m[:, :2].T + m[:, 2], crop.image_to_crop(uv))
    with pytest.raises(InputError, match="source intrinsics"):
        _ = crop.intrinsics


def test_full_image_crop_is_identity():
    img = np.random.default_rng(2).integers(0, 255, (6, 8, 3)).astype(np.uint8)
    for interp in ("nearest", "linear"):
        out, _ = make_crop(img, [-0.5, -0.5, 7.5, 5.5], (8, 6), interpolation=interp)
        np.testing.assert_array_equal(out, img)


def test_nearest_upsampling_puts_pixels_where_the_mapping_says():
    img = np.zeros((20, 30), np.uint8)
    img[7, 11] = 255  # pixel (u=11, v=7)
    out, crop = make_crop(img, [5.5, 3.5, 15.5, 13.5], 40, interpolation="nearest")  # s = 4
    rows, cols = np.nonzero(out)
    assert len(rows) == 16  # a 4 x 4 block
    centre = [cols.mean(), rows.mean()]
    np.testing.assert_allclose(centre, crop.image_to_crop([11, 7]))


@pytest.mark.parametrize("size", [17, 64, 200])
def test_linear_crop_of_a_ramp_is_exact(size):
    """Bilinear (and box-antialiased) sampling of a linear image reproduces the image function
    at the mapped pixel centres: any half-pixel offset error would show."""
    v, u = np.mgrid[0:120, 0:160].astype(np.float64)
    img = 2.0 * u + 3.0 * v + 1.0
    box = [20.3, 30.7, 110.9, 100.1]
    out, crop = make_crop(img, box, size)
    vc, uc = np.mgrid[0:size, 0:size]
    src = crop.crop_to_image(np.stack([uc, vc], -1).reshape(-1, 2).astype(float))
    np.testing.assert_allclose(out.reshape(-1), 2.0 * src[:, 0] + 3.0 * src[:, 1] + 1.0, atol=1e-9)


def test_padding_outside_the_image():
    img = np.ones((10, 10), np.float32)
    out, _ = make_crop(img, [-5.5, -0.5, 4.5, 9.5], 10, interpolation="nearest")
    np.testing.assert_array_equal(out[:, :5], 0.0)
    np.testing.assert_array_equal(out[:, 5:], 1.0)
    out, _ = make_crop(img, [-5.5, -0.5, 4.5, 9.5], 10, fill=7.0)
    np.testing.assert_allclose(out[:, :5], 7.0)
    np.testing.assert_allclose(out[:, 5:], 1.0)
    rgb, _ = make_crop(np.full((10, 10, 3), 200, np.uint8), [-10, -10, 20, 20], 6, fill=0)
    assert rgb.dtype == np.uint8 and rgb.shape == (6, 6, 3)
    assert rgb[0, 0, 0] == 0 and rgb[2, 2, 0] == 200  # pixel 2 covers source [0, 5]


def test_depth_crop_never_blends_across_edges():
    depth = np.ones((40, 40), np.float32)
    depth[:, 20:] = 2.0
    depth[5, 5] = 0.0
    crop = Crop.from_box([3.3, 1.1, 36.7, 38.9], 23)
    out = crop.warp_depth(depth)
    assert set(np.unique(out)) <= {0.0, 1.0, 2.0}
    linear = crop.warp(depth, "linear")
    assert len(set(np.unique(linear)) - {0.0, 1.0, 2.0}) > 0  # what warp_depth avoids


def test_mask_crop_is_boolean_and_linear_masks_rejected():
    mask = np.zeros((10, 10), bool)
    mask[2:5, 2:5] = True
    crop = Crop.from_box([-0.5, -0.5, 9.5, 9.5], 20)
    out = crop.warp_mask(mask)
    assert out.dtype == bool and out.sum() == 9 * 4
    with pytest.raises(InputError):
        crop.warp(mask, "linear")
    with pytest.raises(InputError):
        crop.warp(mask, "cubic")


def test_make_crop_checks_image_against_intrinsics_and_serialises():
    with pytest.raises(IntrinsicsError):
        make_crop(np.zeros((100, 100)), [0, 0, 10, 10], 8, intrinsics=CAM)
    _, crop = make_crop(np.zeros((480, 640)), [0, 0, 10, 10], 8, intrinsics=CAM)
    assert Crop.from_dict(crop.to_dict()) == crop


def test_detection_crop_is_the_scaled_square_box_with_its_intrinsics():
    crop = detection_crop([100, 50, 140, 130], CAM, 64, 1.5)
    np.testing.assert_allclose(crop.box, [60, 30, 180, 150])  # 1.5 x the longer side (80)
    assert (crop.width, crop.height) == (64, 64) and crop.source is CAM
    assert crop.intrinsics.fx == pytest.approx(600.0 * 64 / 120)


@pytest.mark.parametrize(("box", "match"), [
    ([5, 5, 5, 10], "non-zero area"), ([np.nan, 0, 1, 1], "finite"),
    ([700, 10, 800, 110], "outside the 640 x 480 image")])  # fmt: skip
def test_detection_crop_errors_name_the_box(box, match):
    with pytest.raises(InputError, match=rf"detection box \[.*\]: .*{match}"):
        detection_crop(box, CAM, 64, 1.2)


def test_crop_inputs_warp_image_mask_and_depth_like_the_crop():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
    mask = np.zeros((480, 640), bool)
    mask[100:200, 300:380] = True
    depth = np.where(mask, 0.5, 1.2).astype(np.float32)
    box = [300 - 0.5, 100 - 0.5, 380 - 0.5, 200 - 0.5]
    crop = detection_crop(box, CAM, 32, 1.2)
    got = crop_inputs(crop, rgb, box, mask, depth)
    assert got.crop is crop
    np.testing.assert_array_equal(got.rgb, crop.warp(rgb))
    assert got.rgb.dtype == np.uint8 and got.rgb.shape == (32, 32, 3)
    assert got.mask.dtype == bool and got.mask.shape == (32, 32)
    np.testing.assert_array_equal(got.mask, crop.warp(mask, "nearest"))
    assert set(np.unique(got.depth)) == {np.float32(0.5), np.float32(1.2)}  # never blended
    np.testing.assert_array_equal(got.depth > 1.0, ~got.mask)
    assert got.box_side == pytest.approx(32 / 1.2)  # the box's longer side, crop pixels
    bare = crop_inputs(crop, rgb, box)
    assert bare.mask is None and bare.depth is None
    with pytest.raises(InputError, match="mask"):
        crop_inputs(crop, rgb, box, mask[:10])
    with pytest.raises(InputError, match="depth"):
        crop_inputs(crop, rgb, box, None, depth[:, :10])


def test_crop_inputs_pads_outside_the_image_with_invalid():
    box = [-50.0, -50.0, 10.0, 10.0]
    crop = detection_crop(box, CAM, 16, 1.0)
    got = crop_inputs(crop, np.full((480, 640, 3), 9, np.uint8), box,
                      np.ones((480, 640), bool), np.ones((480, 640), np.float32))  # fmt: skip
    assert got.depth[0, 0] == 0.0 and not got.mask[0, 0] and got.rgb[0, 0, 0] == 0
    assert got.depth[-1, -1] == 1.0 and got.mask[-1, -1]
