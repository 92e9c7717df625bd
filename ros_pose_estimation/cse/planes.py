"""Planes in depth pixels by RANSAC: the one search behind the support surface
(:func:`.pixels.support_plane`), the laptop's slabs (:mod:`.laptop_planes`) and the box's faces
(:mod:`.box_faces`).

:func:`best_plane` scores ``iterations`` hypotheses (planes through 3 random points) at once
and keeps the first with the most points within ``threshold``; :func:`fit_plane` then refits
that plane to its inliers by least squares. Pure numpy.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Plane", "best_plane", "fit_plane"]

#: ``(unit normal [3], a point on the plane [3], inlier mask [N])``.
Plane = tuple[np.ndarray, np.ndarray, np.ndarray]

#: RANSAC hypotheses of :func:`fit_plane`.
ITERATIONS = 200


def best_plane(points: np.ndarray, threshold: float, rng: np.random.Generator,
               iterations: int, min_norm: float = 1e-12,
               ) -> tuple[int, np.ndarray, np.ndarray] | None:  # fmt: skip
    """``(inliers, unit normal [3], point [3])`` of the hypothesis through 3 of ``points
    [N x 3]`` (m) with the most points within ``threshold`` (m); the samples are drawn as
    ``rng.integers(0, N, (iterations, 3))``; a sample whose unnormalised normal is shorter than
    ``min_norm`` is skipped. None with fewer than 3 points or no usable sample."""
    pts = np.asarray(points, dtype=np.float64)
    if len(pts) < 3:
        return None
    a, b, c = rng.integers(0, len(pts), (iterations, 3)).T
    normals = np.cross(pts[b] - pts[a], pts[c] - pts[a])  # [I x 3] hypotheses
    length = np.linalg.norm(normals, axis=1)
    ok = length > min_norm
    if not ok.any():
        return None
    normals, anchors = normals[ok] / length[ok, None], pts[a[ok]]
    counts = (np.abs(pts @ normals.T - np.einsum("ij,ij->i", anchors, normals)) < threshold).sum(0)
    k = int(np.argmax(counts))  # the first best
    return int(counts[k]), normals[k], anchors[k]


def fit_plane(points: np.ndarray, threshold: float, rng: np.random.Generator,
              iterations: int = ITERATIONS) -> Plane | None:  # fmt: skip
    """The plane with the most of ``points [N x 3]`` (m) within ``threshold`` (m)
    (:func:`best_plane`), least-squares refitted to its inliers: ``(unit normal [3], a point on
    it [3], inlier mask [N])``; None with fewer than 3 points or no non-degenerate sample."""
    best = best_plane(points, threshold, rng, iterations)
    if best is None:
        return None
    pts = np.asarray(points, dtype=np.float64)
    inliers = np.abs((pts - best[2]) @ best[1]) < threshold
    centre = pts[inliers].mean(0)
    normal = np.linalg.svd(pts[inliers] - centre, full_matrices=False)[2][2]
    return normal, centre, np.abs((pts - centre) @ normal) < threshold
