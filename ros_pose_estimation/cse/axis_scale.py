"""Similarity with one scale per model axis: ``dst ~ R diag(s) src + t``.

For categories whose instances differ in proportions more than a template deformation can
follow (``box``: flat packages to tall cereal boxes), the CSE model maps pixels into the
template's frame *stretched per axis* (NOCS-style normalised coordinates: the instance is the
template scaled by ``s_x, s_y, s_z``), and the back end recovers the three scales from depth.

No closed form exists; :func:`umeyama_axes_batched` alternates the two closed-form halves from
the isotropic Umeyama solution:

* scales given ``R``: per axis ``s_k = sum w (R^T d)_k a_k / sum w a_k^2`` over the centred
  points, shrunk towards the isotropic scale by ``shrink`` (a sample on one face of a box has no
  extent along the face normal: that axis's scale is then the isotropic one, not 0 / 0);
* ``R`` given the scales: the rigid Umeyama of ``diag(s) src`` onto ``dst``;

and ``t`` follows from the weighted means. Each axis's scale is kept within ``max_ratio`` of
the isotropic one: a minimal sample of noisy correspondences otherwise fits a box 0.02 or 20
times the template along one axis (seen on a half-trained model). Units: ``src`` template
metres, ``dst`` camera metres; ``s`` is unit-free ``[3]``.
"""

from __future__ import annotations

import numpy as np

from ros_pose_estimation.core.errors import ConfigError, EstimationError

from .umeyama import DEGENERACY_RTOL, check_point_pairs, umeyama_batched

#: Alternations of scales and rotation (a box's converge in about 4, see the tests).
ITERATIONS = 8
#: Pull of each axis scale towards the isotropic one, as a fraction of the mean per-axis
#: variance of the source points (small: only an axis without extent is decided by it).
SHRINK = 1e-3
#: Bound of one axis's scale relative to the isotropic scale (procedural boxes: 0.3..3.5).
MAX_RATIO = 4.0


def umeyama_axes_batched(
    src: np.ndarray,
    dst: np.ndarray,
    weights: np.ndarray | None = None,
    iterations: int = ITERATIONS,
    shrink: float = SHRINK,
    max_ratio: float = MAX_RATIO,
    init: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Solve ``B`` problems ``dst ~ R diag(s) src + t`` at once.

    Args:
        src: ``[B x N x 3]`` template points (m); dst: ``[B x N x 3]`` camera points (m).
        weights: ``[B x N]`` non-negative weights or None.
        iterations: scale / rotation alternations; shrink, max_ratio: see the module doc.
        init: ``(s [B x 3], R [B x 3 x 3])`` to start from (e.g. ICP's previous step: then
            one or two alternations suffice) instead of the isotropic Umeyama solution; the
            first alternation recomputes the scales from this ``R``.

    Returns:
        ``s [B x 3]``, ``R [B x 3 x 3]``, ``t [B x 3]``, ``valid [B]`` (degenerate problems:
        False and NaN, as :func:`.umeyama.umeyama_batched`).
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if iterations < 1:
        raise ConfigError(f"umeyama_axes: iterations must be >= 1, got {iterations}")
    if init is None:  # the rotation of the one-scale solution (the scales follow from it)
        _, R, _, ok = umeyama_batched(src, dst, weights, True)
    else:
        R = np.asarray(init[1], dtype=np.float64)
        ok = np.ones(len(src), dtype=bool)
    w = np.ones(src.shape[:2]) if weights is None else np.asarray(weights, dtype=np.float64)
    wn = w / np.maximum(w.sum(1, keepdims=True), 1e-300)
    mu_s = np.einsum("bn,bnk->bk", wn, src)
    mu_d = np.einsum("bn,bnk->bk", wn, dst)
    xs, xd = src - mu_s[:, None], dst - mu_d[:, None]
    var = np.einsum("bn,bnk->bk", wn, xs**2)  # [B x 3] per-axis source variance
    prior = shrink * var.mean(1, keepdims=True)  # [B x 1]
    R = np.where(ok[:, None, None], R, np.eye(3))
    for _ in range(iterations):
        back = np.einsum("bij,bni->bnj", R, xd)  # R^T xd, model axes
        num = np.einsum("bn,bnk->bk", wn, back * xs)  # [B x 3]
        iso = num.sum(1, keepdims=True) / np.maximum(var.sum(1, keepdims=True), 1e-300)
        s = (num + prior * iso) / np.maximum(var + prior, 1e-300)
        ok &= iso[:, 0] > 0
        iso = np.where(iso > 0, iso, 1.0)
        s = np.clip(s, iso / max_ratio, iso * max_ratio)
        _, R_new, _, ok_r = umeyama_batched(src * s[:, None], dst, weights, False)
        ok &= ok_r
        R = np.where(ok_r[:, None, None], R_new, R)
    t = mu_d - np.einsum("bij,bj->bi", R, s * mu_s)
    nan = np.nan
    return (
        np.where(ok[:, None], s, nan),
        np.where(ok[:, None, None], R, nan),
        np.where(ok[:, None], t, nan),
        ok,
    )


def umeyama_axes(
    src: np.ndarray,
    dst: np.ndarray,
    weights: np.ndarray | None = None,
    init: tuple[np.ndarray, np.ndarray] | None = None,
    iterations: int = ITERATIONS,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``dst ~ R diag(s) src + t`` for ``[N x 3]`` point sets (weights ``[N]`` or None;
    ``init``: ``(s [3], R [3 x 3])`` to start from, see :func:`umeyama_axes_batched`).

    Returns:
        ``(s [3], R [3 x 3], t [3])``.

    Raises:
        InputError: shapes, NaN/inf, negative weights. EstimationError: fewer than 4 points of
            positive weight, or degenerate (collinear points, a non-positive scale).
    """
    src, dst, weights = check_point_pairs(src, dst, weights, "umeyama_axes")
    used = len(src) if weights is None else int(np.count_nonzero(weights > 0))
    if used < 4:
        raise EstimationError(f"umeyama_axes needs at least 4 weighted points, got {used}")
    start = None if init is None else (np.asarray(init[0])[None], np.asarray(init[1])[None])
    s, R, t, ok = umeyama_axes_batched(
        src[None], dst[None], None if weights is None else weights[None], iterations,
        init=start,
    )  # fmt: skip
    if not ok[0]:
        raise EstimationError(
            f"umeyama_axes: degenerate point sets ({used} weighted points): the per-axis "
            "similarity is not unique"
        )
    return s[0], R[0], t[0]


def umeyama_axes_refit(
    src: np.ndarray,
    dst: np.ndarray,
    init: tuple[np.ndarray, np.ndarray],
    iterations: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`umeyama_axes` from ``init`` without weights, for one problem, in plain ``[N x 3]``
    arithmetic: what ICP calls at every step (:func:`.refine.icp_similarity`), where the
    batched form's bookkeeping cost more than the fit. The same alternations, shrink and
    bounds; equal to :func:`umeyama_axes` up to rounding (pinned by the tests).

    Args:
        src: ``[N x 3]`` template points (m); dst: ``[N x 3]`` camera points (m), finite.
        init: ``(s [3], R [3 x 3])`` to start from (as in :func:`umeyama_axes_batched`, the
            first alternation recomputes the scales from ``R``); iterations: alternations
            (>= 1).

    Returns:
        ``(s [3], R [3 x 3], t [3])``.

    Raises:
        EstimationError: fewer than 4 points, or degenerate (as :func:`umeyama_axes`).
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    n = len(src)
    if n < 4:
        raise EstimationError(f"umeyama_axes needs at least 4 weighted points, got {n}")
    if iterations < 1:
        raise ConfigError(f"umeyama_axes: iterations must be >= 1, got {iterations}")
    R = np.asarray(init[1], dtype=np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    xs, xd = src - mu_s, dst - mu_d
    var = (xs**2).mean(0)  # [3] per-axis source variance
    prior = SHRINK * var.mean()
    for _ in range(iterations):
        num = ((xd @ R) * xs).mean(0)  # (R^T d)_k a_k, model axes
        iso = num.sum() / max(var.sum(), 1e-300)
        if not iso > 0:
            raise EstimationError(f"umeyama_axes: degenerate point sets ({n} weighted points): "
                                  "the per-axis similarity is not unique")  # fmt: skip
        s = np.clip((num + prior * iso) / np.maximum(var + prior, 1e-300),
                    iso / MAX_RATIO, iso * MAX_RATIO)  # fmt: skip
        ys = xs * s  # the scaled template, centred
        u, d, vt = np.linalg.svd(xd.T @ ys / n)  # cross-covariance (dst x src^T)
        if not (d[1] > DEGENERACY_RTOL * d[0] and d[0] > 0 and (ys**2).sum() > 0):
            raise EstimationError(f"umeyama_axes: degenerate point sets ({n} weighted points): "
                                  "the per-axis similarity is not unique")  # fmt: skip
        if np.linalg.det(u) * np.linalg.det(vt) < 0:
            u = u * np.array([1.0, 1.0, -1.0])
        R = u @ vt
    return s, R, mu_d - R @ (s * mu_s)


def apply(src: np.ndarray, s, R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``R diag(s) src + t`` for ``src [N x 3]`` with ``s`` a scalar or ``[3]``."""
    return (np.asarray(src) * np.asarray(s, dtype=np.float64)) @ np.asarray(R).T + t


def inverse_apply(points: np.ndarray, s, R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``diag(s)^-1 R^T (points - t)``: camera points ``[N x 3]`` into the template frame."""
    return ((np.asarray(points) - t) @ np.asarray(R)) / np.asarray(s, dtype=np.float64)


#: Per category: the least share of the geometric mean of the other two axis scales that an
#: axis scale may take (:func:`floor_axis_scales`; absent: no floor). Chosen on the camera's
#: validation sets (BENCHMARKS "A camera seen lens-on"): a camera seen along its lens gives the
#: solve no extent along x. The mug, bottle and box gained nothing from one (the box's faces
#: have their own floor, :mod:`.box_faces`).
MIN_AXIS_SHARE = {"camera": 0.6}


def floor_axis_scales(
    s: np.ndarray, R: np.ndarray, centre: np.ndarray, extents: np.ndarray, share: float
) -> tuple[np.ndarray, np.ndarray]:
    """``(s', centre')``: per-axis scales ``s [3]`` with none below ``share`` x the geometric
    mean of the other two, and the box ``centre [3]`` (m, camera frame; ``R [3 x 3]`` model
    -> camera) moved away from the camera along each grown axis by half of what its extent
    (``extents [3]`` x the scale, m) grew, so that the side seen stays where it was seen.
    ``share`` 0 changes nothing."""
    s = np.asarray(s, dtype=np.float64)
    centre = np.asarray(centre, dtype=np.float64)
    if share <= 0:
        return s, centre
    grown = s.copy()
    for k in range(3):
        i, j = (k + 1) % 3, (k + 2) % 3
        grown[k] = max(s[k], share * float(np.sqrt(s[i] * s[j])))
    for k in np.flatnonzero(grown > s):
        away = 1.0 if float(R[:, k] @ centre) > 0 else -1.0
        centre = centre + away * R[:, k] * 0.5 * (grown[k] - s[k]) * float(extents[k])
    return grown, centre
