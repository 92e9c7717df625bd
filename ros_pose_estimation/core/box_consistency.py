"""Does a solved 3D box agree with the 2D detection it came from?

A pose solved from the wrong pixels (a dark or glossy object whose depth the sensor missed, so
that the box's depth is the table's) can be confident and far off. Its 3D box, projected into
the image, then covers little of the detection box: :func:`projected_box` gives the projected
box's bounding rectangle (clipped to the image, as detections are), :func:`box_coverage` the
share of the detection box inside it (an occluded object's detection boxes its visible part,
which its whole projected box still covers; an IoU would refuse it) and :func:`box_iou` the
overlap of two ``[x0, y0, x1, y1]`` rectangles. Pure numpy.
"""

from __future__ import annotations

import itertools

import numpy as np

from ros_pose_estimation.core.camera import Intrinsics
from ros_pose_estimation.core.errors import check_shape

#: The eight corners of the unit box centred at the origin, ``[8 x 3]``.
_CORNERS = np.array(list(itertools.product((-0.5, 0.5), repeat=3)))


def projected_box(R: np.ndarray, t: np.ndarray, size: np.ndarray,
                  intrinsics: Intrinsics) -> np.ndarray | None:  # fmt: skip
    """``[4]`` ``(x0, y0, x1, y1)`` pixels: the bounding rectangle of the box (``R`` ``[3 x 3]``
    model -> camera, centre ``t`` ``[3]`` m, extents ``size`` ``[3]`` m) in the image, clipped to
    it; None when a corner lies behind the camera or nothing of it is in the image."""
    check_shape("R", np.asarray(R), (3, 3))
    corners = (_CORNERS * np.asarray(size, dtype=np.float64)) @ np.asarray(R, float).T + t
    if not np.all(corners[:, 2] > 0):
        return None
    uv = intrinsics.project(corners)
    lo = np.maximum(uv.min(axis=0), 0.0)
    hi = np.minimum(uv.max(axis=0), [intrinsics.width, intrinsics.height])
    if np.any(hi <= lo):
        return None
    return np.concatenate([lo, hi])


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two ``[x0, y0, x1, y1]`` rectangles (0 when either is empty)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(w, 0.0) * max(h, 0.0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def box_coverage(projected: np.ndarray, detection: np.ndarray) -> float:
    """The share of the ``detection`` rectangle ``[x0, y0, x1, y1]`` that ``projected`` covers
    (0 when the detection is empty)."""
    a = np.asarray(projected, dtype=np.float64)
    b = np.asarray(detection, dtype=np.float64)
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    area = (b[2] - b[0]) * (b[3] - b[1])
    return float(max(w, 0.0) * max(h, 0.0) / area) if area > 0 else 0.0
