"""Symmetry-aware, robust averaging of rotations (and of points) for static objects.

A category's symmetry (:mod:`ros_pose_estimation.core.categories`) makes ``R @ S`` show the
same object for every symmetry ``S``, so rotations are first **aligned**: each is replaced by
its equivalent closest to a reference (:func:`align`, the batched form of
:func:`ros_pose_estimation.core.symmetry.closest_symmetric`). Then:

* no continuous symmetry (mug, camera, laptop; box after picking among its four 180-degree
  equivalents): the weighted **chordal mean**, the rotation closest (Frobenius) to
  ``sum_i w_i R_i`` (:func:`chordal_mean`, SVD projection onto SO(3));
* continuous symmetry about one model axis ``a`` (bottle, bowl, can): only the axis direction is
  known, so only it is averaged: ``m = normalise(sum_i w_i R_i a)``, and the result is the
  reference turned by the smallest rotation taking its axis onto ``m`` (:func:`axis_mean`);
* two or more continuous axes (a sphere): every rotation is equivalent; the reference is kept.

:func:`robust_mean` iterates: align to the current mean, residual angle per rotation (for a
continuous symmetry: the angle between the axes), Huber weights ``min(1, scale / angle)``,
weighted mean (points: :mod:`.point_averaging`). Angles in radians; rotations ``[3 x 3]`` act
on column vectors (model -> parent frame). Pure numpy, batched over N: a reweighting step costs
a fixed number of array operations, whatever N.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ros_pose_estimation.core.categories import Category
from ros_pose_estimation.core.errors import InputError
from ros_pose_estimation.core.so3 import (
    arccos_clamped,
    frame_with_z,
    geodesic_angles,
    log_map_batch,
    project_to_rotation,
    rotation_between,
)


@lru_cache(maxsize=64)
def symmetry_arrays(category: Category) -> tuple[np.ndarray, np.ndarray]:
    """``(axes [A x 3] unit, group [K x 3 x 3])`` of ``category`` as float64 arrays, made once
    per category object (categories are immutable)."""
    axes = np.asarray(category.continuous_axes, dtype=np.float64).reshape(-1, 3)
    if len(axes):
        axes = axes / np.linalg.norm(axes, axis=1, keepdims=True)
    group = np.asarray(category.discrete, dtype=np.float64).reshape(-1, 3, 3)
    return axes, group


def _check(rotations) -> np.ndarray:
    rots = np.asarray(rotations, dtype=np.float64)
    if rots.ndim != 3 or rots.shape[1:] != (3, 3) or len(rots) == 0:
        raise InputError(f"rotations: expected shape [N x 3 x 3] with N >= 1, got {rots.shape}")
    if not np.all(np.isfinite(rots)):
        raise InputError("rotations: expected finite values")
    return rots


def _weights(weights, n: int) -> np.ndarray:
    if weights is None:
        return np.ones(n)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,) or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise InputError(f"weights: expected [{n}] finite values >= 0, not all 0, got {w}")
    return w


def symmetric_angle(r_ref: np.ndarray, rotation: np.ndarray, category: Category) -> float:
    """Smallest angle (rad) between ``r_ref`` and an equivalent of ``rotation`` (both
    ``[3 x 3]``; :func:`ros_pose_estimation.core.symmetry.symmetric_angle` in a few array
    operations): the largest ``trace(r_ref^T R S_k)`` over the group, or for a continuous
    symmetry the angle between the axes."""
    axes, group = symmetry_arrays(category)
    if len(axes) >= 2:
        return 0.0
    if len(axes) == 1:
        dirs = rotation @ (group @ axes[0]).T  # [3 x K]
        return float(arccos_clamped(np.max((r_ref @ axes[0]) @ dirs)))
    traces = (r_ref @ group.transpose(0, 2, 1)).reshape(-1, 9) @ rotation.reshape(9)
    return float(arccos_clamped(0.5 * (np.max(traces) - 1.0)))


def align(r_ref: np.ndarray, rotations, category: Category) -> np.ndarray:
    """``[N x 3 x 3]``: each rotation's symmetric equivalent closest to ``r_ref`` ``[3 x 3]``
    (batched :func:`~ros_pose_estimation.core.symmetry.closest_symmetric`; ``r_ref`` itself
    for every rotation when the category has two or more continuous axes)."""
    return _align(np.asarray(r_ref, dtype=np.float64), _check(rotations), category)


def _align(r_ref: np.ndarray, rots: np.ndarray, category: Category) -> np.ndarray:
    axes, group = symmetry_arrays(category)
    if len(axes) >= 2:
        return np.broadcast_to(r_ref, rots.shape).copy()
    if len(axes) == 0:
        return _align_discrete(r_ref, rots, group)
    cands = rots[:, None] @ group[None]  # [N x K x 3 x 3]
    q = frame_with_z(axes[0])  # closed form per candidate (core.symmetry.closest_about_axis)
    m = (q.T @ r_ref.T) @ cands @ q  # Q^T R_ref^T C Q
    theta = np.arctan2(m[..., 0, 1] - m[..., 1, 0], m[..., 0, 0] + m[..., 1, 1])
    c, s = np.cos(theta), np.sin(theta)
    rz = np.zeros(theta.shape + (3, 3))
    rz[..., 0, 0], rz[..., 0, 1], rz[..., 1, 0], rz[..., 1, 1] = c, -s, s, c
    rz[..., 2, 2] = 1.0
    cands = cands @ (q @ rz @ q.T)
    if cands.shape[1] == 1:
        return cands[:, 0]
    best = np.argmax((cands * r_ref).sum(axis=(2, 3)), axis=1)
    return cands[np.arange(len(rots)), best]


def _align_discrete(r_ref: np.ndarray, rots: np.ndarray, group: np.ndarray) -> np.ndarray:
    """``rots @ S_k`` with the ``S_k`` of ``group`` ``[K x 3 x 3]`` closest to ``r_ref``: the
    largest ``trace(r_ref^T R S) = <R, r_ref S^T>`` (2-D products: numpy's batched matmul of
    3 x 3 matrices is slow)."""
    n, k = len(rots), len(group)
    if k == 1:  # a group of one is the identity (categories.register_category adds it)
        return rots
    scores = rots.reshape(n, 9) @ (r_ref @ group.transpose(0, 2, 1)).reshape(k, 9).T
    cands = (rots.reshape(-1, 3) @ group.transpose(1, 0, 2).reshape(3, 3 * k)).reshape(n, 3, k, 3)
    return cands[np.arange(n), :, np.argmax(scores, axis=1), :]


def _mean_of_aligned(r_ref: np.ndarray, aligned: np.ndarray, category: Category, w):
    """Weighted mean of rotations already aligned to ``r_ref`` (``w``: checked ``[N]``)."""
    axes, _ = symmetry_arrays(category)
    if len(axes) >= 2:
        return r_ref.copy()
    if len(axes) == 1:
        return _axis_mean(r_ref, aligned, axes[0], w)
    return project_to_rotation(w @ aligned.reshape(-1, 9))


def chordal_mean(rotations, weights=None) -> np.ndarray:
    """``[3 x 3]`` rotation closest to the weighted sum of ``rotations`` ``[N x 3 x 3]``
    (the chordal L2 mean; rotations must already be aligned for a symmetric category)."""
    rots = _check(rotations)
    return project_to_rotation(_weights(weights, len(rots)) @ rots.reshape(-1, 9))


def axis_mean(r_ref: np.ndarray, rotations, axis, weights=None) -> np.ndarray:
    """Mean for a continuous symmetry about the model ``axis`` ``[3]``: ``r_ref`` turned so that
    its axis points along the weighted mean of the rotations' axes (``[3 x 3]``)."""
    rots = _check(rotations)
    a = np.asarray(axis, dtype=np.float64)
    a = a / np.linalg.norm(a)
    return _axis_mean(np.asarray(r_ref, dtype=np.float64), rots, a, _weights(weights, len(rots)))


def _axis_mean(r_ref: np.ndarray, rots: np.ndarray, a: np.ndarray, w: np.ndarray) -> np.ndarray:
    mean = w @ (rots @ a)
    norm = float(np.sqrt(mean @ mean))
    if norm < 1e-12:
        raise InputError("axis_mean: the axes cancel out (opposite directions in equal weight)")
    return rotation_between(r_ref @ a, mean / norm) @ r_ref


def symmetric_mean(r_ref: np.ndarray, rotations, category: Category, weights=None) -> np.ndarray:
    """Weighted mean ``[3 x 3]`` of ``rotations`` ``[N x 3 x 3]`` under ``category``'s symmetry,
    aligned to ``r_ref`` (the module docstring's three cases)."""
    r_ref = np.asarray(r_ref, dtype=np.float64)
    rots = _check(rotations)
    w = _weights(weights, len(rots))
    return _mean_of_aligned(r_ref, _align(r_ref, rots, category), category, w)


@dataclass
class RobustMean:
    """What :func:`robust_mean` found.

    Attributes:
        mean: ``[3 x 3]`` the mean rotation.
        residuals: ``[N x 3]`` rotation vectors (rad) from the mean to each rotation's closest
            equivalent, in the parent frame (``R_i' = exp(r_i) @ mean``); for a continuous
            symmetry the part about the axis is zero (unobservable).
        angles: ``[N]`` their norms (rad), the symmetry-aware angles to the mean.
        weights: ``[N]`` the weights of the last step (prior times Huber).
        total: the weighted sum the mean was made from: ``[9]`` (row-major sum of the aligned
            rotations; no continuous symmetry), ``[3]`` (sum of the axis directions; one
            axis) or ``None`` (a sphere). More rotations can be added to it
            (:func:`add_to_mean`).
    """

    mean: np.ndarray
    residuals: np.ndarray
    angles: np.ndarray
    weights: np.ndarray
    total: np.ndarray | None = None


def robust_mean(
    rotations,
    category: Category,
    r_init: np.ndarray,
    scale_rad: float,
    weights=None,
    iterations: int = 3,
) -> RobustMean:
    """Huber-weighted symmetric mean by iterative reweighting, from ``r_init``.

    Args:
        rotations: ``[N x 3 x 3]``; category: gives the symmetry.
        r_init: ``[3 x 3]`` start (e.g. the previous mean; any equivalent works). With a
            continuous symmetry the result keeps its angle about the axis.
        scale_rad: Huber threshold (rad): residuals above it weigh ``scale / angle``.
        weights: ``[N]`` prior weights (None: equal).
        iterations: reweighting steps (each: align to the current mean, weigh, average). A
            stream warm-started from its previous mean needs one per new sample.
    """
    if not scale_rad > 0:
        raise InputError(f"scale_rad: expected > 0, got {scale_rad!r}")
    rots = _check(rotations)
    prior = _weights(weights, len(rots))
    mean = np.asarray(r_init, dtype=np.float64)
    axes, group = symmetry_arrays(category)
    if len(axes) >= 2:  # a sphere: nothing to average
        zeros = np.zeros(len(rots))
        return RobustMean(mean.copy(), np.zeros((len(rots), 3)), zeros, prior, None)
    steps = max(int(iterations), 1)
    if len(axes) == 1:
        return _robust_axis_mean(rots, mean, axes[0], group, scale_rad, prior, steps)
    w = prior
    for _ in range(steps):
        aligned = _align_discrete(mean, rots, group)
        angles = geodesic_angles(mean, aligned)
        w = prior * np.minimum(1.0, scale_rad / np.maximum(angles, 1e-12))
        total = w @ aligned.reshape(-1, 9)
        mean = project_to_rotation(total)
    # the equivalents picked by the last step, relative to the mean
    residuals, angles = log_map_batch((aligned.reshape(-1, 3) @ mean.T).reshape(-1, 3, 3))
    return RobustMean(mean, residuals, angles, w, total)


def _robust_axis_mean(rots, r_init, a, group, scale_rad, prior, steps) -> RobustMean:
    """:func:`robust_mean` for one continuous axis ``a`` (unit, model frame): only the axis
    directions ``R_i S_k a`` are averaged (the closest equivalent's is the direction among
    them nearest the mean), which is also the symmetry-aware angle."""
    dirs = (rots.reshape(-1, 3) @ (group @ a).T).reshape(len(rots), 3, -1)
    dirs = np.moveaxis(dirs, 1, 2)  # [N x K x 3]: R_i S_k a
    m = r_init @ a
    w = prior
    for _ in range(steps):
        d = dirs[np.arange(len(rots)), np.argmax(dirs @ m, axis=1)]
        angles = arccos_clamped(d @ m)
        w = prior * np.minimum(1.0, scale_rad / np.maximum(angles, 1e-12))
        total = w @ d
        norm = float(np.sqrt(total @ total))
        if norm < 1e-12:
            raise InputError("robust_mean: the symmetry axes cancel out")
        m = total / norm
    angles = arccos_clamped(d @ m)  # the directions picked by the last step
    perp = np.stack([m[1] * d[:, 2] - m[2] * d[:, 1], m[2] * d[:, 0] - m[0] * d[:, 2],
                     m[0] * d[:, 1] - m[1] * d[:, 0]], axis=1)  # m x d_i  # fmt: skip
    sin = np.linalg.norm(perp, axis=1)
    residuals = perp * (angles / np.where(sin > 1e-12, sin, 1.0))[:, None]
    return RobustMean(rotation_between(r_init @ a, m) @ r_init, residuals, angles, w, total)


def add_to_mean(
    mean: np.ndarray,
    total: np.ndarray | None,
    rotation: np.ndarray,
    category: Category,
    scale_rad: float,
    prior: float = 1.0,
) -> tuple[np.ndarray, np.ndarray | None, float, float]:
    """One more rotation into a :class:`RobustMean` without revisiting the others (a stream
    between full refits): its equivalent closest to ``mean``, its Huber weight (``prior``
    times ``min(1, scale / angle)``) from its angle to ``mean``, added to ``total``.

    Returns:
        ``(new mean [3 x 3], new total, angle (rad), weight)``.
    """
    axes, group = symmetry_arrays(category)
    if total is None or len(axes) >= 2:
        return mean, total, 0.0, prior
    if len(axes) == 1:
        dirs = rotation @ (group @ axes[0]).T  # [3 x K]
        m = mean @ axes[0]
        d = dirs[:, int(np.argmax(m @ dirs))]
        angle = float(arccos_clamped(np.array(d @ m)))
        w = prior * min(1.0, scale_rad / max(angle, 1e-12))
        total = total + w * d
        norm = float(np.sqrt(total @ total))
        if norm < 1e-12:
            raise InputError("add_to_mean: the symmetry axes cancel out")
        return rotation_between(m, total / norm) @ mean, total, angle, w
    aligned = _align_discrete(mean, rotation[None], group)[0]
    angle = float(geodesic_angles(mean, aligned[None])[0])
    w = prior * min(1.0, scale_rad / max(angle, 1e-12))
    total = total + w * aligned.reshape(9)
    return project_to_rotation(total), total, angle, w
