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

from .axis_scale import apply, inverse_apply, umeyama_axes_refit
from .umeyama import umeyama

#: Scale / rotation alternations per ICP step of a per-axis fit (warm-started from the last).
ICP_AXES_ITERATIONS = 2


def icp_similarity(
    points: np.ndarray,
    vertices: np.ndarray,
    s: float,
    R: np.ndarray,
    t: np.ndarray,
    steps: int = 3,
    threshold: float = 0.02,
    with_scale: bool = True,
    per_axis: bool = False,
) -> tuple[float | np.ndarray, np.ndarray, np.ndarray, int]:
    """Refine ``points ~ R diag(s) vertices + t``.

    Args:
        points: ``[N x 3]`` observed object points (camera frame, m).
        vertices: ``[V x 3]`` instance mesh vertices (model frame, m).
        s, R, t: initial similarity (``s`` a float, or ``[3]`` with ``per_axis``).
        steps: ICP iterations; threshold: pair distance bound (m, camera frame).
        per_axis: ``s`` is ``[3]``, one scale per model axis (:mod:`.axis_scale`), refitted
            with ``with_scale``, else held (only ``R``, ``t`` move).

    Returns:
        ``(s, R, t, n_pairs)`` of the last accepted step (the input when none was accepted).
    """
    pts = np.asarray(points, dtype=np.float64)
    check_shape("points", pts, ("N", 3))
    verts = np.asarray(vertices, dtype=np.float64)
    check_shape("vertices", verts, ("V", 3))
    tree = cKDTree(verts)
    s_init = np.asarray(s, dtype=np.float64).copy() if per_axis else float(s)
    best = (s_init, np.asarray(R, float), np.asarray(t, float), 0)
    for _ in range(steps):
        s0, R0, t0, support = best
        _, idx = tree.query(inverse_apply(pts, s0, R0, t0))  # diag(s)^-1 R0^T (p - t)
        keep = np.linalg.norm(apply(verts[idx], s0, R0, t0) - pts, axis=1) < threshold
        if np.count_nonzero(keep) < 3 or np.count_nonzero(keep) < support:
            break
        try:
            if per_axis and with_scale:
                s1, R1, t1 = umeyama_axes_refit(verts[idx[keep]], pts[keep], (s0, R0),
                                                ICP_AXES_ITERATIONS)  # fmt: skip
            elif per_axis:
                _, R1, t1 = umeyama(verts[idx[keep]] * s0, pts[keep], with_scale=False)
                s1 = s0
            else:
                s1, R1, t1 = umeyama(verts[idx[keep]], pts[keep], with_scale=with_scale)
        except EstimationError:
            break
        best = (s1, R1, t1, int(np.count_nonzero(keep)))
    return best
