"""Objects standing on a surface or under gravity: their up axis is the surface's normal.

Every category's frame has +z up in the object's natural resting pose (``categories.md``), and
a robot mostly sees objects standing on a table, a shelf or the floor. The up direction comes
from the depth image around a detection (the RGB-D estimator's support plane,
:mod:`ros_pose_estimation.cse.support`) or from gravity (the world's up from /tf, which both
estimators take as ``up``); either is far more precise than the tilt a model reads from one
view. :func:`stand_upright` turns an estimated rotation by the smallest rotation that puts its z
on that direction, when the two are within ``max_deg`` of each other (an object that is clearly
tilted, lying on its side or held in a hand is left alone). A box rests on any of its faces,
and its frame calls whichever axis is then vertical z (x the longer horizontal edge):
:func:`rest_axis_up` relabels a box's axes so that the one nearest the up direction is z, when
it is within ``max_deg`` of it. Pure numpy; ``test/core/test_standing.py`` pins it.
"""

from __future__ import annotations

import math

import numpy as np

from .categories import get_category, order_horizontal_extents
from .errors import InputError
from .rotations import axis_angle_to_matrix

__all__ = ["check_up", "rest_axis_up", "stand_all_on_gravity", "stand_on_gravity",
           "stand_upright", "up_in_camera"]


def up_in_camera(T_world_cam) -> np.ndarray:
    """``[3]`` the world's up (its +z, REP 103) in the camera frame, from the camera's pose
    ``T_world_cam`` (``[4 x 4]`` or its ``[3 x 3]`` rotation block): what the estimators take
    as ``up``."""
    return np.asarray(T_world_cam, dtype=np.float64)[:3, :3].T @ np.array([0.0, 0.0, 1.0])


def check_up(up) -> np.ndarray:
    """``up`` (the world's up direction in the camera frame) as a unit float64 ``[3]``.

    Raises:
        InputError: ``up`` not a finite non-zero ``[3]`` vector.
    """
    vec = np.asarray(up, dtype=np.float64).reshape(-1)
    if vec.shape != (3,) or not np.isfinite(vec).all() or np.linalg.norm(vec) < 1e-9:
        raise InputError(f"up: expected a finite non-zero [3] vector, got {vec.tolist()}")
    return vec / np.linalg.norm(vec)


def _lay_on(R: np.ndarray, axis: np.ndarray, n: np.ndarray, max_deg: float,
            fallback: np.ndarray) -> np.ndarray:
    """``R`` turned by the smallest rotation that lays the unit ``axis [3]`` (one of ``R``'s,
    signed) on the unit ``n [3]`` when they are at most ``max_deg`` apart, else ``R``; at
    180 deg, a half turn about ``fallback [3]``."""
    angle = math.acos(float(np.clip(axis @ n, -1.0, 1.0)))
    if angle > math.radians(max_deg) or angle < 1e-12:
        return R
    turn = np.cross(axis, n)
    norm = np.linalg.norm(turn)
    turn = fallback / np.linalg.norm(fallback) if norm < 1e-9 else turn / norm
    return np.asarray(axis_angle_to_matrix(turn * angle)) @ R


def stand_upright(R: np.ndarray, normal: np.ndarray, max_deg: float = 15.0) -> np.ndarray:
    """``[3 x 3]`` rotation ``R`` (model -> camera) turned so that its z lies on the unit
    ``normal [3]`` (the surface's, camera frame) by the smallest rotation, when the angle
    between them is at most ``max_deg``; else ``R`` unchanged. Upside down (180 deg, with
    ``max_deg`` 180), the turn is a half turn about the model's x."""
    R = np.asarray(R, dtype=np.float64)
    n = np.asarray(normal, dtype=np.float64)
    n = n / np.linalg.norm(n)
    z = R[:, 2] / np.linalg.norm(R[:, 2])  # a float32 estimate is unit to ~1e-7 only
    # upside down (z opposite the normal): a half turn about the model's x, which is level
    return _lay_on(R, z, n, max_deg, R[:, 0])


def stand_nearest_axis(R: np.ndarray, normal: np.ndarray, max_deg: float) -> np.ndarray:
    """``[3 x 3]`` rotation ``R`` (model -> camera) turned by the smallest rotation that lays
    its axis nearest the unit surface ``normal [3]`` (camera frame; either sign) on it, when
    that axis is within ``max_deg`` (< 90) of it; else ``R`` unchanged. A cuboid resting on
    any face: which axis is up is left to the caller's convention."""
    R = np.asarray(R, dtype=np.float64)
    n = np.asarray(normal, dtype=np.float64)
    n = n / np.linalg.norm(n)
    cosines = R.T @ n
    k = int(np.argmax(np.abs(cosines)))
    a = np.sign(cosines[k]) * R[:, k] / np.linalg.norm(R[:, k])
    return _lay_on(R, a, n, max_deg, R[:, (k + 1) % 3])  # the nearest axis: never opposite


def rest_axis_up(R: np.ndarray, size: np.ndarray, normal: np.ndarray, max_deg: float = 15.0
                 ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """A cuboid's rotation ``R [3 x 3]`` (model -> camera) and extents ``size [3]`` (m) with its
    axes relabelled so that z is the axis nearest the unit surface ``normal [3]`` (camera
    frame), pointing away from the surface's side of it, when that axis is within ``max_deg``
    of the normal; else both unchanged. The same box either way: the axes are cycled (and two
    of them reversed where z must flip, a half turn about x), with the extents cycled alike."""
    R = np.asarray(R, dtype=np.float64)
    size = np.asarray(size, dtype=np.float64)
    n = np.asarray(normal, dtype=np.float64)
    n = n / np.linalg.norm(n)
    cosines = R.T @ n
    k = int(np.argmax(np.abs(cosines)))
    if abs(cosines[k]) < math.cos(math.radians(max_deg)):
        return R, size
    order = [(k + 1) % 3, (k + 2) % 3, k]  # cyclic: a proper rotation
    out = R[:, order].copy()
    if cosines[k] < 0:  # z would point into the surface: a half turn about the new x
        out[:, 1:] *= -1.0
    return out, size[order]


def stand_on_gravity(est, name: str, up: np.ndarray, max_deg: float) -> None:
    """Stand ``est`` (a :class:`.estimation.PoseEstimate` of the category ``name``; in place)
    on a horizontal surface: its up axis turned onto the world's ``up [3]`` (camera frame) when
    within ``max_deg`` (:func:`stand_upright`); a box first relabelled so that its axis nearest
    ``up`` is z, then so that x is its longer horizontal edge (:func:`rest_axis_up`,
    :func:`.categories.order_horizontal_extents`)."""
    category = get_category(name)
    if category.cuboid:
        est.R, est.size = rest_axis_up(est.R, est.size, up, max_deg)
    est.R = stand_upright(est.R, up, max_deg)
    if category.cuboid:
        est.R, est.size = order_horizontal_extents(category, est.R, est.size)


def stand_all_on_gravity(estimates, names, up: np.ndarray, max_deg: float) -> None:
    """:func:`stand_on_gravity` on each estimate of ``estimates`` (None entries skipped), of
    the categories ``names`` (same order)."""
    for est, name in zip(estimates, names, strict=True):
        if est is not None:
            stand_on_gravity(est, name, up, max_deg)
