"""The azimuth of a mug from its handle alone, after the rigid solve (RGB-D, CSE).

A mug's body is a body of revolution: its cells constrain the axis, the centre and the size, but
any turn of the template about the axis fits them as well. Only the handle fixes the azimuth.
RANSAC + Umeyama (:mod:`.solve`) fits all cells at once, so when the network's body
correspondences drift about the axis (they do: on the demo bag the body cells' azimuths sit
25-39 deg off while the few handle cells sit within 12 deg; ``BENCHMARKS.md``, "The mug's
azimuth from its handle"), the many body cells outvote the handle.

:func:`handle_azimuth` turns the solved pose about the body's axis so that the cells whose
template point lies on the handle land where their depth puts them. Per such cell, ``a`` is its
template point and ``b`` its back-projected pixel in the solved model frame, both taken
relative to the axis in the model xy plane; the turn is the weighted 2D Procrustes angle
``phi = atan2(sum w (a x b), sum w (a . b))`` (``b ~ Rz(phi) a``). The new pose maps a model
point ``m`` to ``R S (Rz(phi) (m - c) + c) + t`` (``c`` on the axis, ``S`` the scale), i.e.
``R' = R Rz(phi)`` and ``t' = t + R S c - R' S c`` (exact when the scale is the same along
model x and y, as for a round body). With too few handle cells (a hidden handle) the pose is
returned unchanged: then the azimuth is not observable and nothing better is known.

The handle is what ``categories.md`` puts on the mug's +x side: the template points beyond the
body's +x end, ``x > x_min + 2 max|y|`` of the instance mesh (the rule
``offline_training/handle_visibility.py`` uses on ground-truth meshes).
"""

from __future__ import annotations

import math

import numpy as np

from ros_pose_estimation.core.errors import check_shape

#: Categories with a body of revolution about model z and one handle on +x.
HANDLE_CATEGORIES = frozenset({"mug"})


def handle_mask(points: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """``[N]`` bool: which model-frame ``points [N x 3]`` lie on the handle of the instance
    mesh ``vertices [V x 3]`` (m): beyond the body's +x end, ``x > x_min + 2 max|y|``."""
    verts = np.asarray(vertices, dtype=np.float64)
    x_end = verts[:, 0].min() + 2.0 * np.abs(verts[:, 1]).max()
    return np.asarray(points, dtype=np.float64)[:, 0] > x_end


def body_axis_xy(vertices: np.ndarray) -> np.ndarray:
    """``[2]`` model-frame (x, y) of the body's axis (parallel to z): the centre of the body's
    cross-section, ``(x_min + max|y|, 0)``."""
    verts = np.asarray(vertices, dtype=np.float64)
    return np.array([verts[:, 0].min() + np.abs(verts[:, 1]).max(), 0.0])


def handle_azimuth(
    camera_points: np.ndarray,
    template_points: np.ndarray,
    weights: np.ndarray,
    scale,
    R: np.ndarray,
    t: np.ndarray,
    vertices: np.ndarray,
    min_cells: int = 3,
) -> tuple[np.ndarray, np.ndarray, int, float]:
    """Turn the pose ``x_c = R (scale * x_m) + t`` about the body's axis to fit the handle.

    Args:
        camera_points: ``[N x 3]`` back-projected cells (m, camera frame).
        template_points: ``[N x 3]`` their predicted points on the instance mesh (model frame).
        weights: ``[N]`` non-negative weights (e.g. the cycle confidence; 0 = unused).
        scale: float or ``[3]`` per model axis; R: ``[3 x 3]``; t: ``[3]`` (m).
        vertices: ``[V x 3]`` the instance mesh (model frame, m).
        min_cells: fewer handle cells with a positive weight: no change.

    Returns:
        ``(R', t', cells, phi)``: the turned pose, the handle cells used and the turn (rad; 0
        and the pose unchanged when there were fewer than ``min_cells``).
    """
    cam = np.asarray(camera_points, dtype=np.float64)
    n = check_shape("camera_points", cam, ("N", 3))["N"]
    tmpl = np.asarray(template_points, dtype=np.float64)
    check_shape("template_points", tmpl, (n, 3))
    w = np.asarray(weights, dtype=np.float64)
    check_shape("weights", w, (n,))
    R = np.asarray(R, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    s = np.broadcast_to(np.asarray(scale, dtype=np.float64), (3,))
    use = handle_mask(tmpl, vertices) & (w > 0) & np.all(np.isfinite(cam), axis=1)
    cells = int(use.sum())
    if cells < min_cells:
        return R, t, cells, 0.0
    centre = body_axis_xy(vertices)
    observed = ((cam[use] - t) @ R) / s  # the cells in the solved model frame
    a = tmpl[use, :2] - centre
    b = observed[:, :2] - centre
    cross = np.sum(w[use] * (a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]))
    dot = np.sum(w[use] * (a * b).sum(1))
    phi = math.atan2(cross, dot)
    c, si = math.cos(phi), math.sin(phi)
    Rz = np.array([[c, -si, 0.0], [si, c, 0.0], [0.0, 0.0, 1.0]])
    R_new = R @ Rz
    axis_point = s * np.array([centre[0], centre[1], 0.0])
    t_new = t + R @ axis_point - R_new @ axis_point
    return R_new, t_new, cells, phi
