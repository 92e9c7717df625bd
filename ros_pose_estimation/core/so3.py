"""Fast SO(3) maps for per-frame filtering: log, exp and slerp of one matrix, and the batched
or closed-form primitives of :mod:`.rotation_averaging` (log of N matrices, the rotation
closest to a matrix, the smallest rotation between two directions, geodesic angles).

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


def quat_to_matrix_fast(quat) -> np.ndarray:
    """``[3 x 3]`` rotation of one quaternion (x, y, z, w), normalised here (scalar math:
    :func:`ros_pose_estimation.core.rotations.quat_to_matrix` is general and ~20x slower)."""
    x, y, z, w = (float(v) for v in quat)
    n = math.sqrt(x * x + y * y + z * z + w * w)
    x, y, z, w = x / n, y / n, z / n, w / n
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])  # fmt: skip


def cross3(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cross product of two ``[3]`` vectors (``np.cross`` costs ~50 us per call)."""
    return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2],
                     a[0] * b[1] - a[1] * b[0]])  # fmt: skip


def frame_with_z(axis: np.ndarray) -> np.ndarray:
    """A rotation ``Q`` ``[3 x 3]`` whose third column is the unit vector ``axis``."""
    z = np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)
    helper = np.array([1.0, 0.0, 0.0]) if abs(z[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    x = cross3(helper, z)
    x /= np.linalg.norm(x)
    return np.stack([x, cross3(z, x), z], axis=1)


def arccos_clamped(cos: np.ndarray) -> np.ndarray:
    """``arccos`` of cosines clamped to [-1, 1] (``np.clip`` costs ~10 us per call)."""
    return np.arccos(np.minimum(np.maximum(cos, -1.0), 1.0))


def geodesic_angles(r_ref: np.ndarray, rotations: np.ndarray) -> np.ndarray:
    """``[N]`` angles (rad) between ``r_ref`` ``[3 x 3]`` and each of ``rotations``."""
    cos = 0.5 * (np.reshape(rotations, (-1, 9)) @ np.reshape(r_ref, 9) - 1.0)
    return arccos_clamped(cos)


def project_to_rotation(total: np.ndarray) -> np.ndarray:
    """The rotation closest to the ``[9]`` (row-major 3 x 3) matrix ``total`` (SVD)."""
    u, _, vh = np.linalg.svd(total.reshape(3, 3))
    rot = u @ vh
    if np.linalg.det(rot) < 0:  # a reflection: flip the weakest direction
        u[:, 2] = -u[:, 2]
        rot = u @ vh
    return rot


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest rotation ``[3 x 3]`` taking unit vector ``a`` onto unit vector ``b``."""
    v = cross3(a, b)
    s, c = float(np.linalg.norm(v)), float(a @ b)
    if s < 1e-12:
        if c > 0:
            return np.eye(3)
        perp = frame_with_z(a)[:, 0]  # half turn about any axis perpendicular to a
        return 2.0 * np.outer(perp, perp) - np.eye(3)
    k = np.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])
    return np.eye(3) + k + (k @ k) / (1.0 + c)  # (1 - c) / s^2 = 1 / (1 + c), stable


_VEE = (np.arange(3), [2, 0, 1], [1, 2, 0])  # A[:, 2, 1], A[:, 0, 2], A[:, 1, 0]
_DIAG = (np.arange(3), np.arange(3))


def log_map_batch(rots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``([N x 3] rotation vectors, [N] angles)`` of ``[N x 3 x 3]`` rotations (angles near
    pi: per matrix, :func:`ros_pose_estimation.core.so3.log_map`)."""
    vee = (rots - rots.transpose(0, 2, 1))[:, _VEE[1], _VEE[2]]  # 2 sin(angle) * axis
    sin2 = np.sqrt((vee * vee).sum(axis=1))
    angle = np.arctan2(0.5 * sin2, 0.5 * (rots[:, _DIAG[0], _DIAG[1]].sum(axis=1) - 1.0))
    out = vee * np.where(angle < 1e-6, 0.5, angle / np.maximum(sin2, 1e-300))[:, None]
    for i in np.flatnonzero(angle > np.pi - 1e-3):
        out[i] = log_map(rots[i])
    return out, angle
