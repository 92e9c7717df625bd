"""A pose when the depth image has (almost) nothing on the object: PnP on the correspondences.

The RGB-D solve (:mod:`.solve`) needs ``min_points`` confident cells *with depth*. A real
sensor often has far fewer on some objects: a laptop's black screen, glossy or dark plastic,
and anything beyond the sensor's range come back as holes. The network's correspondences do
not need depth, though: each confident cell still says which template point it sees, so a
perspective-n-point solve (RANSAC over EPnP, then Levenberg-Marquardt on the inliers; OpenCV)
gives the rotation and the translation of the template at its own size.

Monocular images cannot tell a small near object from a large far one, so the scale comes
from what depth there is:

* ``"cells"``: confident inlier cells with depth: the median ratio of their measured depth to
  the depth the PnP pose puts there;
* ``"pixels"``: no such cell, but other object cells with depth: the median measured depth over
  the median depth the pose puts at its inliers (two samples of the same visible surface);
* ``"size prior"``: no depth on the object at all: the template's own size (the category's
  typical size), which can be far off in distance; the caller says so.

Pure numpy + OpenCV; no rclpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ros_pose_estimation.core.camera import Intrinsics
from ros_pose_estimation.core.errors import EstimationError, InputError, check_shape

#: How the scale was found (see the module docstring), best first.
SCALE_SOURCES = ("cells", "pixels", "size prior")
#: PnP needs at least this many confident cells whatever ``min_points`` says.
MIN_PNP_POINTS = 6
#: A depth scale farther than this factor from the template's own size (either way) is not
#: believed: a few depth pixels off the object (its edge, the table behind) gave it.
MAX_SCALE_CHANGE = 1.5


@dataclass(frozen=True)
class ImagePose:
    """A similarity pose from 2D-3D correspondences, scaled by what depth there is.

    Attributes:
        R: ``[3 x 3]`` rotation model -> camera; t: ``[3]`` translation (m, camera frame) of
            the template origin, both for ``x_cam = scale R x_model + t``.
        scale: template -> instance scale (one factor).
        scale_from: one of :data:`SCALE_SOURCES`.
        n_points: confident cells that entered PnP; n_inliers: its inliers among them.
        depth_cells: cells with depth that set the scale (0 with ``"size prior"``).
        score: confidence-weighted inlier count over all ``N`` cells (in [0, 1]).
        reprojection_px: the inliers' RMS reprojection error (pixels of ``intrinsics``).
    """

    R: np.ndarray
    t: np.ndarray
    scale: float
    scale_from: str
    n_points: int
    n_inliers: int
    depth_cells: int
    score: float
    reprojection_px: float


def pose_from_image(
    uv: np.ndarray,
    z: np.ndarray,
    intrinsics: Intrinsics,
    template_points: np.ndarray,
    confidence: np.ndarray,
    min_confidence: float,
    min_points: int,
    reprojection_px: float,
    iterations: int = 100,
    seed: int = 0,
    size_prior: bool = False,
) -> ImagePose:
    """Pose of the object from ``N`` cell -> template-point pairs without relying on depth.

    Args:
        uv: ``[N x 2]`` cell centres (pixels of ``intrinsics``, e.g. a crop's).
        z: ``[N]`` measured depth at each cell (m; 0 or non-finite: none).
        intrinsics: pinhole intrinsics of that image.
        template_points: ``[N x 3]`` template coordinates (m) each cell sees.
        confidence: ``[N]`` in [0, 1]; pairs above ``min_confidence`` enter PnP.
        min_points: fewer confident pairs (at least :data:`MIN_PNP_POINTS`) -> error.
        reprojection_px: RANSAC inlier distance (pixels of ``intrinsics``).
        iterations: RANSAC hypotheses; seed: OpenCV's RNG seed (deterministic results).
        size_prior: with no depth on the object, scale by the template's size (``"size
            prior"``); False: raise instead.

    Raises:
        InputError: shape mismatches or non-finite template points / confidence.
        EstimationError: too few confident pairs, no pose puts the object in front of the
            camera, no depth on the object without ``size_prior``, or a depth scale beyond
            :data:`MAX_SCALE_CHANGE`.
    """
    pix = np.asarray(uv, dtype=np.float64)
    n = check_shape("uv", pix, ("N", 2))["N"]
    tmpl = np.asarray(template_points, dtype=np.float64)
    check_shape("template_points", tmpl, (n, 3))
    conf = np.asarray(confidence, dtype=np.float64)
    check_shape("confidence", conf, (n,))
    depth = np.asarray(z, dtype=np.float64)
    check_shape("z", depth, (n,))
    if not (np.all(np.isfinite(tmpl)) and np.all(np.isfinite(conf))):
        raise InputError("template_points / confidence: expected finite values, got NaN or inf")
    has_depth = np.isfinite(depth) & (depth > 0)
    keep = np.flatnonzero(conf > min_confidence)
    need = max(min_points, MIN_PNP_POINTS)
    if len(keep) < need:
        raise EstimationError(
            f"only {len(keep)} of {n} cells are confident (> {min_confidence}), need {need} "
            f"even for a solve from the image alone"
        )
    K = np.asarray(intrinsics.K, dtype=np.float64)
    obj = np.ascontiguousarray(tmpl[keep]).reshape(-1, 1, 3)
    img = np.ascontiguousarray(pix[keep]).reshape(-1, 1, 2)
    cv2.setRNGSeed(int(seed))
    ok, rvec, tvec, inl = cv2.solvePnPRansac(
        obj, img, K, None, iterationsCount=int(iterations),
        reprojectionError=float(reprojection_px), confidence=0.999, flags=cv2.SOLVEPNP_EPNP,
    )  # fmt: skip
    if not ok or inl is None or len(inl) < MIN_PNP_POINTS:
        raise EstimationError(
            f"no PnP pose with {MIN_PNP_POINTS} inliers among {len(keep)} confident cells"
        )
    inl = inl.reshape(-1)
    rvec, tvec = cv2.solvePnPRefineLM(obj[inl], img[inl], K, None, rvec, tvec)
    R = cv2.Rodrigues(rvec)[0]
    t = tvec.reshape(3)
    cam = tmpl[keep] @ R.T + t  # [M x 3] the template points where the pose puts them
    if not np.all(cam[inl, 2] > 0):
        raise EstimationError("the PnP pose puts the object behind the camera")
    proj = cam[inl] @ K.T
    err = proj[:, :2] / proj[:, 2:] - pix[keep][inl]
    rms = float(np.sqrt(np.mean(np.sum(err**2, axis=1))))
    cells = keep[inl][has_depth[keep[inl]]]
    if len(cells):
        scale_from, depth_cells = "cells", len(cells)
        k = float(np.median(depth[cells] / (tmpl[cells] @ R[2] + t[2])))
    elif has_depth.any():
        scale_from, depth_cells = "pixels", int(np.count_nonzero(has_depth))
        k = float(np.median(depth[has_depth]) / np.median(cam[inl, 2]))
    elif size_prior:
        scale_from, depth_cells, k = "size prior", 0, 1.0
    else:
        raise EstimationError(
            "no depth on the object to scale a pose from the image by (beyond the depth "
            "camera's range, or a surface it returns no depth for)"
        )
    if not 1.0 / MAX_SCALE_CHANGE <= k <= MAX_SCALE_CHANGE:
        raise EstimationError(
            f"the depth there is puts the object at {k:.2f} x the template's size (from "
            f"{depth_cells} {scale_from}): not believed"
        )
    weight = np.zeros(n)
    weight[keep[inl]] = conf[keep[inl]]
    return ImagePose(
        R=R, t=k * t, scale=k, scale_from=scale_from, n_points=len(keep), n_inliers=len(inl),
        depth_cells=depth_cells, score=float(weight.sum() / max(n, 1)), reprojection_px=rms,
    )  # fmt: skip
