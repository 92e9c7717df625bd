"""Optional pose refinement after RANSAC: a few similarity-ICP steps against the instance mesh.

The RANSAC + Umeyama pose of :func:`~.solve.pose_from_correspondences` rests on *soft*
correspondences (Eq. 2 averages vertices), which are biased towards the mesh's interior. ICP
re-pairs every back-projected object point with its nearest vertex of the (deformed) instance
mesh under the current pose, keeps pairs closer than ``threshold`` (m, in the camera frame) and
refits a weighted similarity (Umeyama); it stops when the support no longer grows.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from ros_pose_estimation.core.errors import EstimationError, check_shape

from .umeyama import umeyama


def icp_similarity(
    points: np.ndarray,
    vertices: np.ndarray,
    s: float,
    R: np.ndarray,
    t: np.ndarray,
    steps: int = 3,
    threshold: float = 0.02,
    with_scale: bool = True,
) -> tuple[float, np.ndarray, np.ndarray, int]:
    """Refine ``points ~ s R vertices + t``.

    Args:
        points: ``[N x 3]`` observed object points (camera frame, m).
        vertices: ``[V x 3]`` instance mesh vertices (model frame, m).
        s, R, t: initial similarity.
        steps: ICP iterations; threshold: pair distance bound (m, camera frame).

    Returns:
        ``(s, R, t, n_pairs)`` of the last accepted step (the input when none was accepted).
    """
    pts = np.asarray(points, dtype=np.float64)
    check_shape("points", pts, ("N", 3))
    verts = np.asarray(vertices, dtype=np.float64)
    check_shape("vertices", verts, ("V", 3))
    tree = cKDTree(verts)
    best = (float(s), np.asarray(R, float), np.asarray(t, float), 0)
    for _ in range(steps):
        s0, R0, t0, support = best
        model_pts = (pts - t0) @ R0 / s0  # R0^T (p - t) / s
        dist, idx = tree.query(model_pts)
        keep = dist * s0 < threshold
        if np.count_nonzero(keep) < 3 or np.count_nonzero(keep) < support:
            break
        try:
            s1, R1, t1 = umeyama(verts[idx[keep]], pts[keep], with_scale=with_scale)
        except EstimationError:
            break
        best = (s1, R1, t1, int(np.count_nonzero(keep)))
    return best
