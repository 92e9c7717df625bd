"""The roll benchmarks' turned frames: labels turn with the image, the box is the turned
mask's, and the depth keeps its values."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from benchmarks.cse_roll import turned_rgbd
from benchmarks.nemo_roll import turned_frame
from ros_pose_estimation.core.camera import Intrinsics

INTR = Intrinsics(200.0, 200.0, 79.5, 59.5, 160, 120)


def _sample():
    mask = np.zeros((120, 160), bool)
    mask[40:80, 70:90] = True  # a tall object at the image centre
    obj = SimpleNamespace(category="mug", mask_visib=mask, R=np.eye(3), t=np.array([0, 0, 1.0]))
    empty = SimpleNamespace(category="mug", mask_visib=np.zeros_like(mask), R=np.eye(3),
                            t=np.array([0, 0, 1.0]))  # fmt: skip
    depth = np.where(mask, 0.8, 1.5).astype(np.float32)
    return SimpleNamespace(rgb=np.zeros((120, 160, 3), np.uint8), depth=depth,
                           objects=[obj, empty])  # fmt: skip


def test_a_quarter_turn_lays_the_box_on_its_side_and_turns_the_labels():
    image, intr, dets, Rs, ts = turned_frame(_sample(), [0, 1], INTR, 90.0)
    assert len(dets) == 1 and dets[0].mask is None  # the empty object is left out
    x0, y0, x1, y1 = dets[0].box_xyxy
    assert (x1 - x0, y1 - y0) == (40.0, 20.0)
    np.testing.assert_allclose(Rs[0] @ [1.0, 0, 0], [0, 1.0, 0], atol=1e-12)
    np.testing.assert_allclose(ts[0], [0, 0, 1.0], atol=1e-12)
    assert image.shape[:2] == intr.shape


def test_rgbd_frames_carry_the_masks_and_unblended_depth():
    image, depth, intr, dets, _, _ = turned_rgbd(_sample(), [0], INTR, 30.0)
    assert depth.shape == intr.shape and dets[0].mask is not None
    assert set(np.unique(depth).tolist()) <= {0.0, np.float32(0.8), np.float32(1.5)}
    assert dets[0].mask.sum() > 0.9 * 800
