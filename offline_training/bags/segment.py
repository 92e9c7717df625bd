"""Object proposals from depth alone, for bags recorded without a detector.

Objects on a table: the support plane is the dominant plane of the depth image's point cloud
(open3d RANSAC), objects are what stands on it, split into instances by DBSCAN clustering
(open3d). Steps, for ``[H x W]`` depth in metres and the camera's intrinsics:

1. back-project a grid of pixels (stride chosen so the longer side has about ``grid_side``
   samples) within ``max_depth``;
2. fit the plane (``plane_threshold`` inlier distance), oriented so its normal points at the
   camera; heights of points above it;
3. keep points between ``min_height`` and ``max_height`` above the plane, cluster them
   (``min_cluster_points``; ``cluster_eps``, raised to 2.5 grid steps at the objects' depth
   when the grid is coarser);
4. every full-resolution pixel above the plane takes the label of its grid cell: a mask per
   cluster, and its box in the project's pixel convention (``[x0 - 0.5, x1 + 0.5]`` over the
   mask's columns). Masks smaller than ``min_pixels`` are dropped.

open3d is a training-only dependency, imported when the first frame is segmented.
RANSAC is seeded (``seed``), so the same depth gives the same proposals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ros_pose_estimation.core.camera import Intrinsics
from ros_pose_estimation.core.errors import ConfigError, check_shape


@dataclass(frozen=True)
class SegmentConfig:
    """Depth segmentation settings (lengths in metres)."""

    grid_side: int = 160
    max_depth: float = 3.0
    plane_threshold: float = 0.01
    ransac_iterations: int = 200
    min_height: float = 0.012
    max_height: float = 0.6
    cluster_eps: float = 0.025
    min_cluster_points: int = 6
    min_pixels: int = 40
    seed: int = 0

    def validate(self) -> None:
        for name in ("max_depth", "plane_threshold", "max_height", "cluster_eps"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"segment.{name}: expected > 0, got {getattr(self, name)}")
        if not 0 <= self.min_height < self.max_height:
            raise ConfigError("segment: expected 0 <= min_height < max_height")
        for name in ("grid_side", "ransac_iterations", "min_cluster_points", "min_pixels"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"segment.{name}: expected an integer >= 1")


@dataclass
class Proposal:
    """One object found in depth: ``[H x W]`` bool ``mask``, ``[4]`` ``box_xyxy`` (px),
    ``height`` of its highest point above the support plane (m)."""

    mask: np.ndarray
    box_xyxy: np.ndarray
    height: float


def _open3d():
    try:
        import open3d as o3d
    except ImportError as exc:  # training-only dependency
        raise ImportError(
            "segmenting objects from depth needs open3d (pip install open3d, part of the "
            f"'data' extra): {exc}"
        ) from exc
    return o3d


def mask_box(mask: np.ndarray) -> np.ndarray:
    """``[4]`` box ``[x0, y0, x1, y1]`` covering the true pixels of ``mask`` (non-empty)."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return np.array([cols[0] - 0.5, rows[0] - 0.5, cols[-1] + 0.5, rows[-1] + 0.5])


def segment_objects(
    depth: np.ndarray, intrinsics: Intrinsics, config: SegmentConfig | None = None
) -> list[Proposal]:
    """Objects standing on the dominant plane of ``depth`` (see the module docstring).

    Args:
        depth: ``[H x W]`` float32 metres, 0 = invalid.
        intrinsics: of the depth image (same size).

    Returns:
        Proposals, largest mask first; empty when no plane or nothing on it is found.
    """
    cfg = config or SegmentConfig()
    cfg.validate()
    check_shape("depth", depth, intrinsics.shape)
    o3d = _open3d()
    z = np.where(np.isfinite(depth) & (depth > 0) & (depth < cfg.max_depth), depth, 0.0)
    height, width = z.shape
    stride = max(1, int(np.ceil(max(height, width) / cfg.grid_side)))
    grid = z[::stride, ::stride]
    rows, cols = np.nonzero(grid > 0)
    if rows.size < 3 * cfg.min_cluster_points:
        return []
    uv = np.stack([cols * stride, rows * stride], axis=1).astype(np.float64)
    points = intrinsics.backproject(uv, grid[rows, cols])
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
    o3d.utility.random.seed(cfg.seed)
    plane, inliers = cloud.segment_plane(cfg.plane_threshold, 3, cfg.ransac_iterations)
    if len(inliers) < 3:
        return []
    normal, offset = np.asarray(plane[:3], dtype=np.float64), float(plane[3])
    scale = np.linalg.norm(normal)
    normal, offset = normal / scale, offset / scale
    if offset < 0:  # the camera (origin) must be on the positive side
        normal, offset = -normal, -offset
    above = points @ normal + offset
    keep = (above > cfg.min_height) & (above < cfg.max_height)
    if np.count_nonzero(keep) < cfg.min_cluster_points:
        return []
    objects = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points[keep]))
    # neighbours must be reachable at this sampling: at least 2.5 grid steps at the objects' depth
    step = stride * float(np.median(points[keep][:, 2])) / intrinsics.fx
    eps = max(cfg.cluster_eps, 2.5 * step)
    labels = np.asarray(objects.cluster_dbscan(eps, cfg.min_cluster_points))
    grid_labels = np.full(grid.shape, -1, dtype=np.int64)
    grid_labels[rows[keep], cols[keep]] = labels
    # full resolution: every valid pixel above the plane takes its grid cell's label
    full = intrinsics.backproject_depth(z)
    full_above = (full @ normal + offset > cfg.min_height) & (z > 0)
    cell = grid_labels[
        np.minimum((np.arange(height) + stride // 2) // stride, grid.shape[0] - 1)[:, None],
        np.minimum((np.arange(width) + stride // 2) // stride, grid.shape[1] - 1)[None, :],
    ]
    proposals = []
    for label in range(int(labels.max(initial=-1)) + 1):
        mask = full_above & (cell == label)
        if np.count_nonzero(mask) < cfg.min_pixels:
            continue
        top = float(np.max(above[keep][labels == label]))
        proposals.append(Proposal(mask=mask, box_xyxy=mask_box(mask), height=top))
    proposals.sort(key=lambda p: -int(np.count_nonzero(p.mask)))
    return proposals
