"""Fast single-matrix SO(3) maps for per-frame filtering: log, exp and slerp.

:mod:`ros_pose_estimation.core.rotations` is general (batches, numpy and torch, autograd) and
costs tens of microseconds per call for one matrix; the track filter calls these a few times
per object per frame, so it uses these plain-numpy twins (same conventions: rotation vectors
are axis * angle in radians, matrices act on column vectors). Pinned against
:mod:`~ros_pose_estimation.core.rotations` by ``test/core/test_so3.py``.
"""

from __future__ import annotations

import math

import numpy as np


def log_map(rot: np.ndarray) -> np.ndarray:
    """``[3]`` rotation vector (axis * angle, rad, angle in [0, pi]) of a ``[3 x 3]`` rotation.

    Accurate near 0 and pi (there the axis comes from the symmetric part of R).
    """
    vee = np.array([rot[2, 1] - rot[1, 2], rot[0, 2] - rot[2, 0], rot[1, 0] - rot[0, 1]])
    sin2 = float(np.sqrt(vee @ vee))  # 2 sin(angle)
    angle = math.atan2(0.5 * sin2, 0.5 * (rot[0, 0] + rot[1, 1] + rot[2, 2] - 1.0))
    if angle < 1e-6:
        return 0.5 * vee
    if angle < math.pi - 1e-3:
        return vee * (angle / sin2)
    cos = math.cos(angle)  # near pi: (R + R^T) / 2 = cos I + (1 - cos) a a^T
    outer = (0.5 * (rot + rot.T) - cos * np.eye(3)) / (1.0 - cos)
    col = int(np.argmax(np.diag(outer)))
    axis = outer[:, col] / math.sqrt(max(outer[col, col], 1e-300))
    if axis @ vee < 0:
        axis = -axis
    return axis * angle


def exp_map(rotvec: np.ndarray) -> np.ndarray:
    """``[3 x 3]`` rotation of a ``[3]`` rotation vector (Rodrigues)."""
    angle = float(np.sqrt(rotvec @ rotvec))
    x, y, z = rotvec / angle if angle > 1e-12 else rotvec
    k = np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
    if angle <= 1e-12:
        return np.eye(3) + k
    return np.eye(3) + math.sin(angle) * k + (1.0 - math.cos(angle)) * (k @ k)


def slerp(r_from: np.ndarray, r_to: np.ndarray, weight: float) -> np.ndarray:
    """Rotation ``weight`` of the way from ``r_from`` to ``r_to`` along the geodesic."""
    u, _, vh = np.linalg.svd(r_from @ exp_map(log_map(r_from.T @ r_to) * weight))
    return u @ vh  # re-orthonormalised (det stays +1: the product is a rotation up to rounding)
