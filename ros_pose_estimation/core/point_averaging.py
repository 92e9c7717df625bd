"""Robust averaging of 3D points seen along viewing rays (object centres from several views).

A monocular (RGB) estimate of an object's centre is good across the camera's viewing ray and
poor along it: the image fixes the direction, the depth comes from the object's apparent size,
so an instance larger than the category template reads farther away in every view. Each
estimate ``t_i`` (metres, in a common frame) therefore gets the information matrix

    ``L_i = I / s_perp^2 + (1 / s_along_i^2 - 1 / s_perp^2) u_i u_i^T``

(``u_i``: unit viewing ray from the camera centre to ``t_i``; ``s_along_i >= s_perp``). The
mean is the information-weighted least-squares point ``(sum w_i L_i)^-1 sum w_i L_i t_i``:
for views from different directions, the intersection of the rays (triangulation), with the
size-induced depth bias cancelled; for views along one direction, the plain mean.
:func:`robust_ray_mean` iterates it with Huber weights on the Mahalanobis distance
``d_i = sqrt(r_i^T L_i r_i)`` (residual ``r_i = t_i - mean``); ``s_along = s_perp`` gives the
isotropic Huber mean (e.g. for RGB-D estimates, whose depth is measured).

Its covariance is the weighted least-squares one, ``c^2 A^-1 B A^-1`` with ``A = sum w_i L_i``,
``B = sum w_i^2 L_i`` (equal weights: ``A^-1`` / N) and the variance factor
``c^2 = (3 + sum w_i d_i^2) / (3 max(sum w_i, 1))``: the residuals' scatter relative to the
model, with one prior sample at the model's value (so one estimate gives its own covariance).

Pure numpy; batched over N.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ros_pose_estimation.core.errors import InputError

_EYE = np.eye(3)


@dataclass
class RayMean:
    """What :func:`robust_ray_mean` found.

    Attributes:
        mean: ``[3]`` the point (m); covariance: ``[3 x 3]`` its covariance (m^2).
        weights: ``[N]`` the weights of the last step (prior times Huber).
        d2: ``[N]`` squared Mahalanobis distances of the points to the mean.
        information: ``[3 x 3]`` ``A = sum w_i L_i``; weighted_sum: ``[3]`` ``sum w_i L_i t_i``
            (``mean = A^-1 weighted_sum``): more points can be added to them
            (:func:`add_to_ray_mean`).
    """

    mean: np.ndarray
    covariance: np.ndarray
    weights: np.ndarray
    d2: np.ndarray
    information: np.ndarray
    weighted_sum: np.ndarray


def ray_information(rays: np.ndarray, sigma_perp: float, sigma_along) -> tuple:
    """``(a [N], b [N])`` with ``L_i = a_i I + b_i u_i u_i^T`` (module docstring).

    Args:
        rays: ``[N x 3]`` unit viewing rays; sigma_perp: error across the ray (m);
        sigma_along: ``[N]`` or scalar, error along it (m, >= ``sigma_perp``).
    """
    along = np.maximum(np.broadcast_to(np.asarray(sigma_along, dtype=np.float64),
                                       (len(rays),)), sigma_perp)  # fmt: skip
    a = np.full(len(rays), 1.0 / sigma_perp**2)
    return a, 1.0 / along**2 - a


def point_covariance(ray: np.ndarray, sigma_perp: float, sigma_along: float) -> np.ndarray:
    """``[3 x 3]`` covariance of one estimate: ``s_perp^2`` across ``ray`` (unit), ``s_along^2``
    along it."""
    along = max(float(sigma_along), sigma_perp)
    return sigma_perp**2 * _EYE + (along**2 - sigma_perp**2) * np.outer(ray, ray)


def solve_spd(mat: np.ndarray, r: np.ndarray) -> np.ndarray:
    """``mat^-1 r`` ``[3]`` for a ``[3 x 3]`` symmetric positive definite ``mat`` (closed form
    by the adjugate: ``np.linalg.solve`` costs ~30 us for a 3 x 3)."""
    (a, b, c), (_, d, e), (_, _, f) = mat.tolist()
    x, y, z = r.tolist()
    A, B, C = d * f - e * e, c * e - b * f, b * e - c * d
    D, E, F = a * f - c * c, b * c - a * e, a * d - b * b
    det = a * A + b * B + c * C
    if not det > 0:
        raise InputError(f"expected a positive definite matrix, got {mat.tolist()}")
    return np.array([A * x + B * y + C * z, B * x + D * y + E * z, C * x + E * y + F * z]) / det


def mahalanobis2(r: np.ndarray, cov: np.ndarray) -> float:
    """``r^T cov^-1 r`` for ``[3]`` ``r`` and a ``[3 x 3]`` covariance (:func:`solve_spd`)."""
    return float(r @ solve_spd(cov, r))


def robust_ray_mean(
    points,
    rays,
    sigma_perp: float,
    sigma_along,
    weights=None,
    init=None,
    iterations: int = 3,
    huber: float = 1.5,
) -> RayMean:
    """Huber-weighted information mean of ``points`` ``[N x 3]`` seen along ``rays`` ``[N x 3]``
    (unit), by iterative reweighting from ``init`` ``[3]`` (None: the per-coordinate median).

    Args:
        sigma_perp, sigma_along: :func:`ray_information`.
        weights: ``[N]`` prior weights (>= 0, not all 0; None: equal).
        huber: Huber threshold on the Mahalanobis distance (in sigmas).

    Raises:
        InputError: wrong shapes, non-finite values, bad sigmas or weights.
    """
    pts = np.asarray(points, dtype=np.float64)
    u = np.asarray(rays, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3 or len(pts) == 0 or u.shape != pts.shape:
        raise InputError(f"points, rays: expected [N x 3] each (N >= 1), got {pts.shape} and "
                         f"{u.shape}")  # fmt: skip
    if not (np.all(np.isfinite(pts)) and np.all(np.isfinite(u))):
        raise InputError("points, rays: expected finite values")
    if not sigma_perp > 0 or not np.all(np.asarray(sigma_along) > 0):
        raise InputError(f"sigmas: expected > 0, got {sigma_perp!r}, {sigma_along!r}")
    n = len(pts)
    prior = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    if prior.shape != (n,) or not np.all(prior >= 0) or not prior.sum() > 0:
        raise InputError(f"weights: expected [{n}] values >= 0, not all 0")
    a, b = ray_information(u, sigma_perp, sigma_along)
    mean = np.median(pts, axis=0) if init is None else np.asarray(init, dtype=np.float64)
    w = prior
    for _ in range(max(int(iterations), 1)):
        d2 = _mahalanobis2(pts - mean, u, a, b)
        w = prior * np.minimum(1.0, huber / np.sqrt(np.maximum(d2, 1e-24)))
        info = _information(w, u, a, b)
        wl_t = (w * a) @ pts + ((w * b) * (u * pts).sum(axis=1)) @ u  # sum w L t
        mean = np.linalg.solve(info, wl_t)
    d2 = _mahalanobis2(pts - mean, u, a, b)
    total = float(w.sum())
    factor = (3.0 + float(w @ d2)) / (3.0 * max(total, 1.0))
    inv = np.linalg.inv(info)
    cov = factor * (inv @ _information(w * w, u, a, b) @ inv)
    return RayMean(mean, 0.5 * (cov + cov.T), w, d2, info, wl_t)


def add_to_ray_mean(
    information: np.ndarray,
    weighted_sum: np.ndarray,
    mean: np.ndarray,
    point: np.ndarray,
    ray: np.ndarray,
    sigma_perp: float,
    sigma_along: float,
    huber: float = 1.5,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """One more point into a :class:`RayMean` without revisiting the others: its Huber weight
    from its Mahalanobis distance to ``mean``, its information added.

    Returns:
        ``(new mean [3], new information [3 x 3], new weighted sum [3], weight)``.
    """
    along = max(float(sigma_along), sigma_perp)
    a, b = 1.0 / sigma_perp**2, 1.0 / along**2 - 1.0 / sigma_perp**2
    r = point - mean
    ur = float(ray @ r)
    d2 = a * float(r @ r) + b * ur * ur
    w = min(1.0, huber / max(np.sqrt(d2), 1e-12))
    info = information + w * (a * _EYE + b * np.outer(ray, ray))
    total = weighted_sum + w * (a * point + b * float(ray @ point) * ray)
    return solve_spd(info, total), info, total, w


def _mahalanobis2(r: np.ndarray, u: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``r_i^T L_i r_i`` for ``L_i = a_i I + b_i u_i u_i^T`` (``[N]``)."""
    along = (r * u).sum(axis=1)
    return a * (r * r).sum(axis=1) + b * along * along


def _information(w: np.ndarray, u: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``sum_i w_i L_i`` ``[3 x 3]``."""
    return float(w @ a) * _EYE + (u * (w * b)[:, None]).T @ u
