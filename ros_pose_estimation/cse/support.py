"""Objects standing on a surface: their up axis is the surface's normal (RGB-D).

Every category's frame has +z up in the object's natural resting pose (``categories.md``), and
a robot mostly sees objects standing on a table, a shelf or the floor. The depth around a
detection shows that surface (:func:`.pixels.support_plane`, the plane box-only detections
already fit to drop the table's pixels), and its normal is measured far more precisely than a
tilt the correspondences give. :func:`stand_upright` turns a solved rotation by the smallest
rotation that puts its z on the surface's normal, when the two are within ``max_deg`` of each
other (an object that is clearly tilted, lying on its side or held in a hand is left alone).
Pure numpy; ``test/cse/test_support.py`` pins it.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["stand_upright"]


def stand_upright(R: np.ndarray, normal: np.ndarray, max_deg: float = 15.0) -> np.ndarray:
    """``[3 x 3]`` rotation ``R`` (model -> camera) turned so that its z lies on the unit
    ``normal [3]`` (the surface's, camera frame) by the smallest rotation, when the angle
    between them is at most ``max_deg``; else ``R`` unchanged."""
    R = np.asarray(R, dtype=np.float64)
    n = np.asarray(normal, dtype=np.float64)
    n = n / np.linalg.norm(n)
    z = R[:, 2]
    angle = math.acos(float(np.clip(z @ n, -1.0, 1.0)))
    if angle > math.radians(max_deg) or angle < 1e-12:
        return R
    axis = np.cross(z, n)
    axis /= np.linalg.norm(axis)
    K = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]])
    turn = np.eye(3) + math.sin(angle) * K + (1.0 - math.cos(angle)) * (K @ K)  # Rodrigues
    return turn @ R
