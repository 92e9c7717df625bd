"""Weighted least-squares similarity transform between two point sets (Umeyama 1991).

Finds ``s, R, t`` minimising ``sum_i w_i ||dst_i - (s R src_i + t)||^2`` with ``R`` a proper
rotation (``det R = +1``; a reflection is never returned, see Umeyama's Lemma: the smallest
singular direction's sign is flipped when ``det(U) det(V) < 0``).

With ``src`` the canonical template points (model frame) and ``dst`` the back-projected camera
points this is ``x_c = s R_m2c x_m + t_m2c`` in the project's pose convention.

:func:`umeyama` checks its input and raises; :func:`umeyama_batched` solves ``B`` problems at
once (vectorised SVD, used for RANSAC hypotheses) and flags degenerate ones instead of raising.
"""

from __future__ import annotations

import numpy as np

from ros_pose_estimation.core.errors import EstimationError, InputError, check_shape

#: A problem is degenerate when the cross-covariance's second singular value is below this
#: fraction of the first (points collinear or coincident: the rotation about the line is free).
DEGENERACY_RTOL = 1e-10


def umeyama_batched(
    src: np.ndarray,
    dst: np.ndarray,
    weights: np.ndarray | None = None,
    with_scale: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Solve ``B`` weighted similarity problems at once.

    Args:
        src: ``[B x N x 3]`` source points (e.g. template coordinates, m).
        dst: ``[B x N x 3]`` destination points (e.g. camera-frame points, m).
        weights: ``[B x N]`` non-negative weights, or None for all ones.
        with_scale: estimate ``s``; else ``s = 1`` (rigid transform).

    Returns:
        ``s [B]``, ``R [B x 3 x 3]``, ``t [B x 3]`` and ``valid [B]`` bool. Degenerate problems
        (zero total weight, collinear or coincident points) have ``valid = False`` and NaN
        ``s``, ``R``, ``t``. Inputs are assumed finite (:func:`umeyama` checks).
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    sizes = check_shape("src", src, ("B", "N", 3))
    check_shape("dst", dst, (sizes["B"], sizes["N"], 3))
    if weights is None:
        w = np.ones(src.shape[:2])
    else:
        w = np.asarray(weights, dtype=np.float64)
        check_shape("weights", w, (sizes["B"], sizes["N"]))
    total = w.sum(axis=1)  # [B]
    ok = total > 0
    wn = w / np.where(ok, total, 1.0)[:, None]  # normalised weights, [B x N]
    mu_s = np.einsum("bn,bnk->bk", wn, src)
    mu_d = np.einsum("bn,bnk->bk", wn, dst)
    xs = src - mu_s[:, None, :]
    xd = dst - mu_d[:, None, :]
    cov = np.einsum("bn,bni,bnj->bij", wn, xd, xs)  # Sigma_xy of Umeyama (dst x src^T)
    var_s = np.einsum("bn,bnk,bnk->b", wn, xs, xs)
    u, d, vt = np.linalg.svd(cov)
    sign = np.where(np.linalg.det(u) * np.linalg.det(vt) < 0, -1.0, 1.0)
    fix = np.stack([np.ones_like(sign), np.ones_like(sign), sign], axis=-1)  # [B x 3]
    rot = (u * fix[:, None, :]) @ vt
    ok &= (d[:, 1] > DEGENERACY_RTOL * d[:, 0]) & (d[:, 0] > 0) & (var_s > 0)
    if with_scale:
        scale = (d * fix).sum(axis=1) / np.where(ok, var_s, 1.0)
        ok &= scale > 0
    else:
        scale = np.ones(len(src))
    trans = mu_d - scale[:, None] * np.einsum("bij,bj->bi", rot, mu_s)
    scale = np.where(ok, scale, np.nan)
    rot = np.where(ok[:, None, None], rot, np.nan)
    trans = np.where(ok[:, None], trans, np.nan)
    return scale, rot, trans, ok


def check_point_pairs(
    src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None, who: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``src``, ``dst`` as float64 ``[N x 3]`` arrays and ``weights`` as float64 ``[N]`` (None
    stays None), checked for :func:`umeyama` and :func:`.ransac.ransac_similarity` (``who``
    names the caller in the messages).

    Raises:
        InputError: wrong shapes, NaN/inf, negative weights.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    n = check_shape("src", src, ("N", 3))["N"]
    check_shape("dst", dst, (n, 3))
    if not (np.all(np.isfinite(src)) and np.all(np.isfinite(dst))):
        raise InputError(f"{who}: src and dst must be finite, got NaN or inf")
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float64)
        check_shape("weights", weights, (n,))
        if not np.all(np.isfinite(weights)) or np.any(weights < 0):
            raise InputError(f"{who}: weights must be finite and >= 0")
    return src, dst, weights


def umeyama(
    src: np.ndarray,
    dst: np.ndarray,
    weights: np.ndarray | None = None,
    with_scale: bool = True,
) -> tuple[float, np.ndarray, np.ndarray]:
    """Weighted similarity ``dst ~ s R src + t`` (Umeyama 1991).

    Args:
        src: ``[N x 3]`` source points (template / model frame, m).
        dst: ``[N x 3]`` destination points (camera frame, m).
        weights: ``[N]`` non-negative weights (e.g. correspondence confidence) or None. Points
            of weight 0 have no influence at all.
        with_scale: estimate the scale; else ``s = 1``.

    Returns:
        ``(s, R [3 x 3], t [3])`` with ``det R = +1``.

    Raises:
        InputError: wrong shapes, NaN/inf, negative weights.
        EstimationError: fewer than 3 points of positive weight, all-zero weights, or collinear
            / coincident points (the transform is not unique).
    """
    src, dst, weights = check_point_pairs(src, dst, weights, "umeyama")
    n = len(src)
    used = n if weights is None else int(np.count_nonzero(weights > 0))
    if used < 3:
        raise EstimationError(
            f"umeyama needs at least 3 points of positive weight, got {used} (of {n})"
        )
    w = None if weights is None else weights[None]
    scale, rot, trans, ok = umeyama_batched(src[None], dst[None], w, with_scale)
    if not ok[0]:
        raise EstimationError(
            f"umeyama: degenerate point sets ({used} weighted points are collinear or "
            "coincident, or the scale is not positive): the transform is not unique"
        )
    return float(scale[0]), rot[0], trans[0]
