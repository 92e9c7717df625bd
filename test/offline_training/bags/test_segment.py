"""Depth-only object proposals: support plane by RANSAC, objects by DBSCAN (open3d)."""

import numpy as np
import pytest

from offline_training.bags.segment import SegmentConfig, mask_box, segment_objects
from offline_training.bags.tracking import box_iou
from ros_pose_estimation.core.camera import Intrinsics
from ros_pose_estimation.core.errors import ConfigError

pytest.importorskip("open3d", reason="open3d is part of the 'data' extra")


def _table_scene():
    """Depth of a table seen from 0.8 m above at 45 deg, with two cuboids standing on it.

    Ray-cast analytically: camera at the origin (optical frame); the table plane and the
    cuboids' faces are intersected per pixel, nearest hit wins.
    """
    intr = Intrinsics(150.0, 150.0, 79.5, 59.5, 160, 120)
    rays = intr.pixel_rays().reshape(-1, 3)
    # world: table z = 0, camera 0.8 m above it looking 45 deg down along +y
    c, s = np.cos(np.pi / 4), np.sin(np.pi / 4)
    R_wc = np.array([[1, 0, 0], [0, -s, c], [0, -c, -s]])  # columns: cam x, y, z in world
    origin = np.array([0.0, -0.8, 0.8])
    dirs = rays @ R_wc.T
    depth = np.full(len(rays), np.inf)
    hit = dirs[:, 2] < 0
    t = np.where(hit, -origin[2] / np.where(hit, dirs[:, 2], -1), np.inf)
    depth = np.minimum(depth, t)  # t along the ray with z_cam = 1 is the depth
    boxes_world = [([-0.25, 0.0, 0.0], [-0.1, 0.12, 0.15]), ([0.05, -0.05, 0.0], [0.2, 0.1, 0.1])]
    truth = []
    for lo, hi in boxes_world:
        lo, hi = np.array(lo), np.array(hi)
        with np.errstate(divide="ignore", invalid="ignore"):
            t0, t1 = (lo - origin) / dirs, (hi - origin) / dirs
        near = np.nanmax(np.minimum(t0, t1), axis=1)
        far = np.nanmin(np.maximum(t0, t1), axis=1)
        inside = (near <= far) & (near > 0)
        visible = inside & (near <= depth)
        truth.append(visible.reshape(120, 160))
        depth = np.where(inside & (near < depth), near, depth)
    depth = np.where(np.isfinite(depth), depth, 0.0).reshape(120, 160).astype(np.float32)
    return depth, intr, truth


def test_two_objects_on_a_table_are_found_with_their_masks():
    depth, intr, truth = _table_scene()
    proposals = segment_objects(depth, intr)
    assert len(proposals) == 2
    for mask in truth:
        best = max(proposals, key=lambda p: box_iou(p.box_xyxy, mask_box(mask)))
        assert box_iou(best.box_xyxy, mask_box(mask)) > 0.8
        inter = np.count_nonzero(best.mask & mask)
        assert inter / np.count_nonzero(best.mask | mask) > 0.8
    assert {round(p.height, 2) for p in proposals} <= {0.15, 0.14, 0.1, 0.09}


def test_empty_or_flat_depth_gives_no_proposals():
    depth, intr, _ = _table_scene()
    assert segment_objects(np.zeros_like(depth), intr) == []
    flat = depth.copy()
    assert len(segment_objects(flat, intr, SegmentConfig(min_height=0.5, max_height=0.6))) == 0


def test_segment_config_is_validated():
    depth, intr, _ = _table_scene()
    with pytest.raises(ConfigError, match="min_height"):
        segment_objects(depth, intr, SegmentConfig(min_height=0.5, max_height=0.1))
