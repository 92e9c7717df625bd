"""Depth units and validity, object pixels from box + depth, per-cell mask and depth."""

import numpy as np
import pytest

from ros_pose_estimation.core.conventions import metres_to_depth
from ros_pose_estimation.core.errors import DepthError, EncodingError
from ros_pose_estimation.cse.pixels import box_depth_mask, cell_mask_and_depth, depth_metres


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
