"""Pose from 2D-3D correspondences and depth: the RGB-D back end of the CSE estimator.

Paper 003, inference: correspondence pairs (object pixel -> point on the category template)
with a cycle-consistency confidence (Eq. 7); pairs with confidence above ``alpha = 0.5`` are
kept, their pixels are lifted to 3D with the depth map and the (crop) intrinsics, and RANSAC +
Umeyama gives the similarity ``x_c = s R x_m + t`` (``R_m2c``, ``t_m2c`` in metres, see
:mod:`ros_pose_estimation.core.conventions`) whose scale gives the object's size.

Depth here is the project's depth (float metres, 0 = invalid; convert ROS images with
:func:`ros_pose_estimation.core.conventions.depth_to_metres`); NaN, inf and negative values are
treated as invalid too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ros_pose_estimation.core.camera import Intrinsics
from ros_pose_estimation.core.errors import DepthError, EstimationError, InputError, check_shape

from .ransac import DEFAULT_RANSAC, ransac_similarity

#: Published confidence threshold (paper 003, alpha = 0.5): keep pairs above it.
MIN_CONFIDENCE = 0.5
#: Fewer valid pairs than this (after confidence and depth filtering) -> EstimationError.
MIN_POINTS = 8


@dataclass(frozen=True)
class CsePose:
    """A similarity pose from correspondences.

    Attributes:
        R: ``[3 x 3]`` rotation model -> camera; t: ``[3]`` translation (m, camera frame).
        scale: template -> instance scale ``s`` (float), or ``[3]`` per model axis (with
            ``per_axis_scale=True`` passed through to RANSAC, :mod:`.axis_scale`).
        size: ``[3]`` object extents (m) = template extents x ``scale``.
        n_points: pairs that entered RANSAC (confident and with valid depth).
        n_inliers: RANSAC inliers among them; inlier_ratio: ``n_inliers / n_points``.
        score: weighted inlier count (RANSAC score).
        inliers: ``[N]`` bool over the input pairs (False for dropped ones).
        rmse: inlier residual RMS (m).
    """

    R: np.ndarray
    t: np.ndarray
    scale: float | np.ndarray
    size: np.ndarray
    n_points: int
    n_inliers: int
    inlier_ratio: float
    score: float
    inliers: np.ndarray
    rmse: float


def depth_at(depth: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Depth (m) at ``[N x 2]`` pixel positions ``(u, v)``, nearest pixel centre.

    Args:
        depth: ``[H x W]`` depth in metres.
        uv: ``[N x 2]`` pixel coordinates (integer = pixel centre).

    Returns:
        ``[N]`` float64 metres, 0 where the pixel is outside the image, the coordinate is not
        finite, or the depth is 0, negative, NaN or inf.
    """
    z = np.asarray(depth)
    h, w = check_shape("depth", z, ("H", "W")).values()
    pix = np.asarray(uv, dtype=np.float64)
    check_shape("uv", pix, ("N", 2))
    finite = np.all(np.isfinite(pix), axis=1)
    col = np.rint(np.where(finite, pix[:, 0], -1.0)).astype(np.int64)
    row = np.rint(np.where(finite, pix[:, 1], -1.0)).astype(np.int64)
    inside = finite & (col >= 0) & (col < w) & (row >= 0) & (row < h)
    out = np.zeros(len(pix))
    out[inside] = z[row[inside], col[inside]]
    out[~(np.isfinite(out) & (out > 0))] = 0.0
    return out


def pose_from_correspondences(
    uv: np.ndarray,
    depth_m: np.ndarray,
    intrinsics: Intrinsics,
    template_points: np.ndarray,
    confidence: np.ndarray | None = None,
    min_confidence: float = MIN_CONFIDENCE,
    template_extents: np.ndarray | None = None,
    weight_by_confidence: bool = False,
    min_points: int = MIN_POINTS,
    rng: np.random.Generator | int | None = 0,
    **ransac_kwargs,
) -> CsePose:
    """Similarity pose of the object from ``N`` pixel -> template-point pairs and depth.

    Args:
        uv: ``[N x 2]`` pixels ``(u, v)`` in the image ``intrinsics`` describes (a crop's
            pixels with the crop's intrinsics, or full-image pixels with the camera's).
        depth_m: ``[H x W]`` depth (m) matching ``intrinsics``, or ``[N]`` depth per pair.
        intrinsics: pinhole intrinsics of that image.
        template_points: ``[N x 3]`` canonical template coordinates (m) of each pair.
        confidence: ``[N]`` in [0, 1] (Eq. 7) or None (keep all pairs).
        min_confidence: keep pairs with ``confidence > min_confidence`` (published 0.5).
        template_extents: ``[3]`` template size (m); default: extents of ``template_points``.
        weight_by_confidence: weight RANSAC scores and the Umeyama refit by the confidence
            (the paper only thresholds it).
        min_points: fewer usable pairs -> :class:`EstimationError`.
        rng: RANSAC generator or seed (default 0: deterministic).
        **ransac_kwargs: passed to :func:`ransac_similarity` (``iterations``,
            ``inlier_threshold``, ``sample_size``...; see ``DEFAULT_RANSAC``).

    Raises:
        InputError: shape mismatches, non-finite template points or confidence.
        DepthError: no valid depth at any of the ``N`` pixels.
        EstimationError: too few confident pairs with depth, or RANSAC failed.
    """
    pix = np.asarray(uv, dtype=np.float64)
    n = check_shape("uv", pix, ("N", 2))["N"]
    tmpl = np.asarray(template_points, dtype=np.float64)
    check_shape("template_points", tmpl, (n, 3))
    if not np.all(np.isfinite(tmpl)):
        raise InputError("template_points: expected finite values, got NaN or inf")
    depth = np.asarray(depth_m)
    if depth.ndim == 1:
        check_shape("depth_m (per pair)", depth, (n,))
        z = np.asarray(depth, dtype=np.float64).copy()
        z[~(np.isfinite(z) & (z > 0))] = 0.0
    else:
        intrinsics.check_image(depth, "depth_m")
        check_shape("depth_m", depth, intrinsics.shape)
        z = depth_at(depth, pix)
    has_depth = z > 0
    if n > 0 and not has_depth.any():
        raise DepthError(
            f"no valid depth at the {n} object pixels: all zero/NaN "
            "(check the depth topic's encoding and alignment)"
        )
    keep = has_depth.copy()
    weights = None
    if confidence is not None:
        conf = np.asarray(confidence, dtype=np.float64)
        check_shape("confidence", conf, (n,))
        if not np.all(np.isfinite(conf)):
            raise InputError("confidence: expected finite values, got NaN or inf")
        keep &= conf > min_confidence
        weights = np.clip(conf, 0.0, 1.0) if weight_by_confidence else None
    n_points = int(np.count_nonzero(keep))
    if n_points < max(min_points, 3):
        raise EstimationError(
            f"only {n_points} of {n} correspondences are usable (confidence > "
            f"{min_confidence} and valid depth: {int(has_depth.sum())} have depth), "
            f"need {max(min_points, 3)}"
        )
    points = intrinsics.backproject(pix[keep], z[keep])
    kwargs = {"min_inliers": min(DEFAULT_RANSAC["min_inliers"], n_points), **ransac_kwargs}
    res = ransac_similarity(
        tmpl[keep],
        points,
        None if weights is None else weights[keep],
        rng=rng,
        **kwargs,
    )
    if template_extents is None:
        extents = tmpl.max(axis=0) - tmpl.min(axis=0)
    else:
        extents = np.asarray(template_extents, dtype=np.float64)
        check_shape("template_extents", extents, (3,))
    inliers = np.zeros(n, dtype=bool)
    inliers[keep] = res.inliers
    return CsePose(
        R=res.R,
        t=res.t,
        scale=res.s,
        size=extents * res.s,
        n_points=n_points,
        n_inliers=res.n_inliers,
        inlier_ratio=res.n_inliers / n_points,
        score=res.score,
        inliers=inliers,
        rmse=res.rmse,
    )
