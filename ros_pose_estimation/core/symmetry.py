"""The symmetric equivalent of a rotation closest to a reference rotation.

A category's symmetry (:mod:`ros_pose_estimation.core.categories`) means that the model-to-camera
rotations ``R @ S`` for every symmetry ``S`` of the object (a rotation in the model frame) show
the same object. A tracker that compares or averages rotations must first pick, among those
equivalents, the one closest to its own estimate; otherwise a bottle whose estimator reports an
arbitrary angle about its axis seems to spin, and a box seems to flip by 180 deg.

* discrete group ``{S_k}``: the ``R @ S_k`` with the smallest geodesic angle to ``R_ref``;
* continuous symmetry about the model axis ``a``: ``R @ Rot(a, theta)`` with the angle ``theta``
  that maximises ``trace(R_ref^T R Rot(a, theta))``, in closed form (below);
* both: the best ``R @ S_k @ Rot(a, theta_k)`` over ``k``;
* two or more continuous axes (a sphere): every rotation is equivalent; ``R_ref`` is returned.

Closed form for one axis. Let ``Q`` be a rotation with ``Q e_z = a`` and
``M = Q^T R_ref^T R Q``; then ``trace(R_ref^T R Rot(a, theta)) = trace(M Rot_z(theta)) =
cos(theta) (M00 + M11) + sin(theta) (M01 - M10) + M22``, largest at
``theta = atan2(M01 - M10, M00 + M11)``.
"""

from __future__ import annotations

import numpy as np

from .categories import EQUAL_EXTENT_TOL, Category, instance_symmetries


def _frame_with_z(axis: np.ndarray) -> np.ndarray:
    """A rotation ``Q`` ``[3 x 3]`` whose third column is the unit vector ``axis``."""
    z = np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)
    helper = np.array([1.0, 0.0, 0.0]) if abs(z[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    x = np.cross(helper, z)
    x /= np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z], axis=1)


def closest_about_axis(r_ref: np.ndarray, rot: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """``rot @ Rot(axis, theta)`` ``[3 x 3]`` closest to ``r_ref`` (``axis``: model frame)."""
    q = _frame_with_z(axis)
    m = q.T @ r_ref.T @ rot @ q
    theta = np.arctan2(m[0, 1] - m[1, 0], m[0, 0] + m[1, 1])
    c, s = np.cos(theta), np.sin(theta)
    return rot @ q @ np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]) @ q.T


def closest_symmetric(r_ref: np.ndarray, rot: np.ndarray, category: Category,
                      size: np.ndarray | None = None,
                      tolerance: float = EQUAL_EXTENT_TOL) -> np.ndarray:  # fmt: skip
    """The rotation equivalent to ``rot`` under ``category``'s symmetry closest to ``r_ref``.

    Args:
        r_ref: ``[3 x 3]`` reference rotation model -> camera (e.g. a track's estimate).
        rot: ``[3 x 3]`` rotation model -> camera (e.g. a new measurement).
        category: gives ``discrete`` ``[K x 3 x 3]`` and ``continuous_axes`` ``[A x 3]``.
        size: ``[3]`` the instance's extents (m) along ``rot``'s model axes, when known: a box
            whose extents across an axis agree within ``tolerance`` also has the quarter turns
            about it (:func:`.categories.instance_symmetries`).

    Returns:
        ``[3 x 3]`` float64 rotation ``rot @ S`` for the best symmetry ``S`` (``rot`` itself for
        an asymmetric category, ``r_ref`` when ``A >= 2``).
    """
    r_ref = np.asarray(r_ref, dtype=np.float64)
    rot = np.asarray(rot, dtype=np.float64)
    axes = np.asarray(category.continuous_axes, dtype=np.float64).reshape(-1, 3)
    if len(axes) >= 2:
        return r_ref.copy()
    candidates = rot @ instance_symmetries(category, size, tolerance)
    if len(axes) == 1:
        candidates = np.stack([closest_about_axis(r_ref, c, axes[0]) for c in candidates])
    if len(candidates) == 1:
        return candidates[0]
    # the smallest angle has the largest trace(R_ref^T C) = sum(R_ref * C)
    return candidates[int(np.argmax((candidates * r_ref).sum(axis=(1, 2))))]


def symmetric_angle(r_ref: np.ndarray, rot: np.ndarray, category: Category) -> float:
    """Smallest geodesic angle (radians) between ``r_ref`` and an equivalent of ``rot``."""
    best = closest_symmetric(r_ref, rot, category)
    m = np.asarray(r_ref, dtype=np.float64).T @ best
    vee = np.array([m[2, 1] - m[1, 2], m[0, 2] - m[2, 0], m[1, 0] - m[0, 1]])
    return float(np.arctan2(np.linalg.norm(vee) / 2.0, (np.trace(m) - 1.0) / 2.0))
