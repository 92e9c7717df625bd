"""What extraction produces per frame and per object, and an object's 3D position from depth.

* :class:`ObjectObservation`: one object in one frame: category, box, optional mask, where it
  came from, its position in the camera (from depth) and, after tracking, its track id.
* :class:`ExtractedFrame`: one synchronised frame: RGB, depth (m), intrinsics, the camera's
  pose in the fixed frame (from ``/tf``, when the bag has it) and its objects.
* :func:`object_position`: robust 3D point of an object from the depth inside its mask, or
  inside the central part of its box (:func:`nearest_layer_mask`: the nearest depth layer
  there, so background behind a thin object is left out).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ros_pose_estimation.core.camera import Intrinsics

#: Where an object observation comes from.
SOURCES = ("detections", "depth", "first_box")


@dataclass
class ObjectObservation:
    """One object in one frame.

    Attributes:
        category: category name (the detector's class id, or the configured one).
        box_xyxy: ``[4]`` float64 box in the project's pixel convention.
        source: one of :data:`SOURCES`.
        mask: ``[H x W]`` bool, or None (detections carry no mask).
        position_cam: ``[3]`` metres in the camera's optical frame, None without valid depth.
        instance: the object's identity when the source knows it (the first-box follower's
            box index), else -1; tracking keeps it as the track id.
        track_id: per-recording instance id from :mod:`.tracking` (-1 before tracking).
    """

    category: str
    box_xyxy: np.ndarray
    source: str
    mask: np.ndarray | None = None
    position_cam: np.ndarray | None = None
    instance: int = -1
    track_id: int = -1


@dataclass
class ExtractedFrame:
    """One synchronised frame of a recording.

    Attributes:
        index: frame number in the recording (0-based, extraction order).
        stamp_ns: the colour image's ``header.stamp`` (ns).
        rgb: ``[H x W x 3]`` uint8.
        depth: ``[H x W]`` float32 metres (0 = invalid), None for modality ``rgb``.
        intrinsics: of the image (``CameraInfo`` nearest in time).
        T_fixed_cam: ``[4 x 4]`` pose of the optical frame in the fixed frame, None when TF
            could not give it.
        objects: the frame's objects.
    """

    index: int
    stamp_ns: int
    rgb: np.ndarray
    depth: np.ndarray | None
    intrinsics: Intrinsics
    T_fixed_cam: np.ndarray | None
    objects: list[ObjectObservation] = field(default_factory=list)


def nearest_layer_mask(
    depth: np.ndarray,
    intrinsics: Intrinsics,
    box_xyxy: np.ndarray,
    inner: float = 0.5,
    min_points: int = 8,
    whole_box: bool = False,
) -> np.ndarray | None:
    """``[H x W]`` bool: valid pixels of the box's nearest depth layer, or None.

    The layer is the depth within ``5 cm + half the box's metric width`` of the 30th depth
    percentile of the central ``inner`` fraction of the box; the mask covers that central part
    (or the whole box with ``whole_box``). None when fewer than ``min_points`` pixels remain.
    """
    height, width = depth.shape
    x0, y0, x1, y1 = (float(v) for v in box_xyxy)

    def region(frac: float) -> np.ndarray:
        cx, cy, hw, hh = (x0 + x1) / 2, (y0 + y1) / 2, frac * (x1 - x0) / 2, frac * (y1 - y0) / 2
        c0, c1 = max(0, int(np.ceil(cx - hw))), min(width - 1, int(np.floor(cx + hw)))
        r0, r1 = max(0, int(np.ceil(cy - hh))), min(height - 1, int(np.floor(cy + hh)))
        out = np.zeros(depth.shape, dtype=bool)
        if c1 >= c0 and r1 >= r0:
            out[r0 : r1 + 1, c0 : c1 + 1] = True
        return out & (depth > 0)

    centre = region(inner)
    if np.count_nonzero(centre) < min_points:
        return None
    z_ref = float(np.percentile(depth[centre], 30))
    band = 0.05 + 0.5 * (x1 - x0) * z_ref / intrinsics.fx
    select = (region(1.0) if whole_box else centre) & (np.abs(depth - z_ref) < band)
    return select if np.count_nonzero(select) >= min_points else None


def object_position(
    depth: np.ndarray,
    intrinsics: Intrinsics,
    box_xyxy: np.ndarray,
    mask: np.ndarray | None = None,
    min_points: int = 8,
) -> np.ndarray | None:
    """``[3]`` median position (m, camera frame) of the object's depth points, or None.

    With a mask its valid pixels are used; else :func:`nearest_layer_mask` of the box. None
    when fewer than ``min_points`` valid pixels remain.
    """
    if mask is not None:
        select = mask & (depth > 0)
    else:
        select = nearest_layer_mask(depth, intrinsics, box_xyxy, min_points=min_points)
    if select is None or np.count_nonzero(select) < min_points:
        return None
    points, _ = intrinsics.backproject_depth_valid(depth, select)
    return np.median(points, axis=0)
