"""RANSAC around the Umeyama similarity: robust ``s, R, t`` from outlier-laden correspondences.

Published setting (paper 003, inference): 100 iterations of RANSAC + Umeyama on the
correspondence pairs kept by the cycle-consistency confidence. Here hypotheses are drawn in
chunks of ``batch_size`` minimal samples, all solved at once by :func:`umeyama_batched` and
scored by their (weighted) inlier count; after each chunk the number of iterations still
needed is updated with the standard formula ``k = log(1 - p) / log(1 - w^m)`` (``w`` the best
inlier ratio so far, ``m`` the sample size, ``p`` the ``confidence``), so clean data stops
early. The best hypothesis is refitted on all its inliers ``refine_steps`` times.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ros_pose_estimation.core.errors import ConfigError, EstimationError

from .axis_scale import umeyama_axes, umeyama_axes_batched
from .umeyama import check_point_pairs, umeyama, umeyama_batched

#: Defaults; the iteration count is the published one, the rest are this project's choices.
DEFAULT_RANSAC = {
    "iterations": 100,  # paper 003: 100 RANSAC iterations (upper bound, adaptive below it)
    "sample_size": 4,  # points per minimal sample (3 is the minimum; 4 is more stable)
    "inlier_threshold": 0.02,  # m, residual ||dst - (s R src + t)|| of an inlier
    "min_inliers": 3,  # fewer inliers than this -> EstimationError
    "confidence": 0.99,  # probability of drawing one all-inlier sample (adaptive stop)
    "batch_size": 25,  # hypotheses solved per vectorised call
    "refine_steps": 2,  # refits of the best hypothesis on its inliers
}


#: Points per sample of the per-axis fit (9 unknowns; 4 points fit noise too closely).
AXES_SAMPLE_SIZE = 6


@dataclass(frozen=True)
class RansacResult:
    """Robust similarity ``dst ~ s R src + t``.

    Attributes:
        s: scale (float), or ``[3]`` per model axis (``per_axis_scale``); R: ``[3 x 3]``
            rotation (det +1); t: ``[3]`` translation (m).
        inliers: ``[N]`` bool, positive weight and residual below the threshold for the final
            transform.
        n_inliers: ``inliers.sum()``.
        iterations_run: hypotheses drawn (``<= iterations``; fewer after an early stop).
        score: weighted inlier count of the final transform (``n_inliers`` without weights).
        rmse: root-mean-square residual of the inliers (m).
    """

    s: float | np.ndarray
    R: np.ndarray
    t: np.ndarray
    inliers: np.ndarray
    n_inliers: int
    iterations_run: int
    score: float
    rmse: float


def residuals(src: np.ndarray, dst: np.ndarray, s, R, t, per_axis: bool = False) -> np.ndarray:
    """``||dst - (R diag(s) src + t)||`` per point: ``[N]`` for one transform, ``[B x N]`` for
    ``B``; ``s`` is ``[]`` / ``[B]`` (one scale), or ``[3]`` / ``[B x 3]`` with ``per_axis``."""
    if per_axis:
        scaled = np.asarray(s)[..., None, :] * src  # [(B x) N x 3]
        pred = np.einsum("...ij,...nj->...ni", R, scaled)
    else:
        pred = np.asarray(s)[..., None, None] * np.einsum("...ij,nj->...ni", R, src)
    return np.linalg.norm(dst - pred - np.asarray(t)[..., None, :], axis=-1)


def needed_iterations(inlier_ratio: float, sample_size: int, confidence: float) -> float:
    """Iterations to draw an all-inlier sample with probability ``confidence``."""
    good = inlier_ratio**sample_size
    if good >= 1.0:
        return 0.0
    if good <= 0.0:
        return math.inf
    return math.log(1.0 - confidence) / math.log(1.0 - good)


def ransac_similarity(
    src: np.ndarray,
    dst: np.ndarray,
    weights: np.ndarray | None = None,
    iterations: int = DEFAULT_RANSAC["iterations"],
    sample_size: int = DEFAULT_RANSAC["sample_size"],
    inlier_threshold: float = DEFAULT_RANSAC["inlier_threshold"],
    min_inliers: int = DEFAULT_RANSAC["min_inliers"],
    rng: np.random.Generator | int | None = None,
    refine: bool = True,
    with_scale: bool = True,
    confidence: float = DEFAULT_RANSAC["confidence"],
    batch_size: int = DEFAULT_RANSAC["batch_size"],
    refine_steps: int = DEFAULT_RANSAC["refine_steps"],
    per_axis_scale: bool = False,
) -> RansacResult:
    """Robust similarity ``dst ~ s R src + t`` by RANSAC + Umeyama.

    Args:
        src: ``[N x 3]`` template points (m); dst: ``[N x 3]`` camera points (m).
        weights: ``[N]`` non-negative weights (confidence): points of weight 0 are never
            sampled; scores are weighted inlier counts; refits are weighted.
        iterations: maximum number of hypotheses (published: 100).
        sample_size: points per hypothesis (>= 3).
        inlier_threshold: inlier residual bound, in ``dst`` units (m).
        min_inliers: raise :class:`EstimationError` below this many inliers.
        rng: generator or seed; results are deterministic for a fixed seed.
        refine: refit the best hypothesis on its inliers (``refine_steps`` times).
        with_scale: estimate the scale (else rigid, ``s = 1``).
        confidence: success probability of the adaptive stop (1.0 disables it).
        batch_size: hypotheses solved per vectorised call.
        per_axis_scale: fit ``dst ~ R diag(s) src + t`` with ``s [3]``
            (:mod:`.axis_scale`; needs ``sample_size >= 4`` and scale on; 9 unknowns, so
            :data:`AXES_SAMPLE_SIZE` points per sample are used when ``sample_size`` is left
            at its default).

    Raises:
        InputError: shapes, non-finite values, negative weights. ConfigError: bad parameters.
        EstimationError: too few usable points, no valid hypothesis, too few inliers.
    """
    src, dst, weights = check_point_pairs(src, dst, weights, "ransac_similarity")
    w = np.ones(len(src)) if weights is None else weights
    if sample_size < 3 or iterations < 1 or batch_size < 1 or inlier_threshold <= 0:
        raise ConfigError(
            "ransac_similarity: need sample_size >= 3, iterations >= 1, batch_size >= 1 and "
            f"inlier_threshold > 0, got {sample_size}, {iterations}, {batch_size}, "
            f"{inlier_threshold}"
        )
    if per_axis_scale and sample_size == DEFAULT_RANSAC["sample_size"]:
        sample_size = AXES_SAMPLE_SIZE
    if per_axis_scale and (sample_size < 4 or not with_scale):
        raise ConfigError("ransac_similarity: per_axis_scale needs sample_size >= 4 and scale")

    def fit_batched(a, b, c):
        return umeyama_axes_batched(a, b, c) if per_axis_scale else umeyama_batched(
            a, b, c, with_scale)  # fmt: skip

    def fit(a, b, c):
        return umeyama_axes(a, b, c) if per_axis_scale else umeyama(a, b, c, with_scale)

    pool = np.flatnonzero(w > 0)
    if len(pool) < max(3, min_inliers):
        raise EstimationError(
            f"ransac_similarity: {len(pool)} usable correspondences (positive weight), "
            f"need at least {max(3, min_inliers)}"
        )
    gen = np.random.default_rng(rng)
    m = min(sample_size, len(pool))
    best_score, best = -1.0, None
    drawn, needed = 0, float(iterations)
    while drawn < min(iterations, needed):
        b = int(min(batch_size, iterations - drawn))
        keys = gen.random((b, len(pool)))
        idx = pool[np.argpartition(keys, m - 1, axis=1)[:, :m]]  # [b x m], no repeats
        s, R, t, ok = fit_batched(src[idx], dst[idx], w[idx])
        drawn += b
        if not ok.any():
            continue
        inl = residuals(src, dst, s[ok], R[ok], t[ok], per_axis_scale) < inlier_threshold
        scores = inl.astype(np.float64) @ w
        k = int(np.argmax(scores))
        if scores[k] > best_score:
            best_score = float(scores[k])
            best = (s[ok][k] if per_axis_scale else float(s[ok][k]), R[ok][k], t[ok][k])
            ratio = inl[k, pool].mean()
            needed = needed_iterations(ratio, m, confidence)
    if best is None:
        raise EstimationError(
            f"ransac_similarity: all {drawn} hypotheses were degenerate (collinear points?)"
        )
    s_best, R_best, t_best = best
    positive = w > 0
    def support(s_, R_, t_):
        return (residuals(src, dst, s_, R_, t_, per_axis_scale) < inlier_threshold) & positive

    inliers = support(s_best, R_best, t_best)
    for _ in range(refine_steps if refine else 0):
        if np.count_nonzero(inliers) < 3:
            break
        try:
            s_new, R_new, t_new = fit(src[inliers], dst[inliers], w[inliers])
        except EstimationError:
            break
        new_inliers = support(s_new, R_new, t_new)
        if w[new_inliers].sum() < w[inliers].sum():
            break  # the refit lost support: keep the previous transform
        s_best, R_best, t_best, inliers = s_new, R_new, t_new, new_inliers
    n_inliers = int(np.count_nonzero(inliers))
    if n_inliers < min_inliers:
        raise EstimationError(
            f"ransac_similarity: best transform has {n_inliers} inliers within "
            f"{inlier_threshold} m, need {min_inliers}"
        )
    res = residuals(src, dst, s_best, R_best, t_best, per_axis_scale)[inliers]
    return RansacResult(
        s=s_best,
        R=R_best,
        t=t_best,
        inliers=inliers,
        n_inliers=n_inliers,
        iterations_run=drawn,
        score=float(w[inliers].sum()),
        rmse=float(np.sqrt(np.mean(res**2))) if len(res) else math.inf,
    )
