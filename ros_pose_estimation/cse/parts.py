"""The part that fixes a category's frame, fitted on its own after the rigid solve (RGB-D, CSE).

RANSAC + Umeyama (:mod:`.solve`) and ICP fit all of an object's cells at once. For two
categories most cells cannot decide part of the rotation, and they outvote the few that can:

* **Mug: the azimuth from the handle.** The body is a body of revolution: its cells fix the
  axis, the centre and the size, but any turn about the axis fits them as well; only the handle
  fixes the azimuth. On the demo bag the body cells' azimuths sit 20-39 deg off while the few
  handle cells sit within 12 deg (``BENCHMARKS.md``, "The mug's azimuth from its handle").
  :func:`handle_azimuth` turns the pose about the body's axis so that the cells whose template
  point lies on the handle land where their depth puts them: per cell, ``a`` its template
  point and ``b`` its back-projected pixel in the solved model frame, both relative to the
  axis in the model xy plane; the turn is the weighted 2D Procrustes angle ``phi = atan2(sum w
  (a x b), sum w (a . b))`` (``b ~ Rz(phi) a``). The new pose maps a model point ``m`` to ``R
  S (Rz(phi) (m - c) + c) + t`` (``c`` on the axis, ``S`` the scale), i.e. ``R' = R Rz(phi)``,
  ``t' = t + R S c - R' S c`` (exact when the scale is the same along model x and y, as for a
  round body). The handle is what ``categories.md`` puts on the mug's +x side: the template
  points beyond the body's +x end, ``x > x_min + 2 max|y|`` of the instance mesh (the rule of
  ``offline_training/handle_visibility.py``).
* **Laptop: the pitch from the base.** The frame is the base's (``categories.md``: x from the
  hinge to the front edge, z up from the base), but the screen opens 70-140 deg and the
  template has one opening; a rigid fit of both slabs tilts the base about the hinge axis
  (model y) by a compromise (the validation laptops' largest error component).
  :func:`base_pitch` turns the pose about model y by the weighted 2D Procrustes angle (in the
  model xz plane, about the cells' centroid) of the cells whose template point lies in the
  lowest ``base_fraction`` of the instance mesh's height (the base slab).

With too few such cells (a hidden handle, a base seen edge-on) the pose is returned unchanged.
"""

from __future__ import annotations

import math

import numpy as np

from ros_pose_estimation.core.errors import check_shape

#: Categories with a body of revolution about model z and one handle on +x.
HANDLE_CATEGORIES = frozenset({"mug"})
#: Categories whose frame is a base slab's, with a hinged part above it.
BASE_CATEGORIES = frozenset({"laptop"})
#: The base: template points in this lowest fraction of the instance mesh's height (chosen on
#: the laptop validation set among 0.05, 0.1, 0.15 and 0.25).
BASE_FRACTION = 0.1


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
    phi = _turn_angle(a, b, w[use])
    c, si = math.cos(phi), math.sin(phi)
    Rz = np.array([[c, -si, 0.0], [si, c, 0.0], [0.0, 0.0, 1.0]])
    R_new = R @ Rz
    axis_point = s * np.array([centre[0], centre[1], 0.0])
    t_new = t + R @ axis_point - R_new @ axis_point
    return R_new, t_new, cells, phi


def _turn_angle(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> float:
    """Weighted 2D Procrustes angle (rad) taking ``a [N x 2]`` to ``b [N x 2]``."""
    cross = np.sum(w * (a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]))
    return math.atan2(cross, np.sum(w * (a * b).sum(1)))


def base_pitch(
    camera_points: np.ndarray,
    template_points: np.ndarray,
    weights: np.ndarray,
    scale,
    R: np.ndarray,
    t: np.ndarray,
    vertices: np.ndarray,
    min_cells: int = 8,
    base_fraction: float = BASE_FRACTION,
) -> tuple[np.ndarray, int, float]:
    """Turn the rotation of ``x_c = R (scale * x_m) + t`` about model y to fit the base cells.

    Arguments as :func:`handle_azimuth`; the base: template points with ``z < z_min +
    base_fraction (z_max - z_min)`` of ``vertices``.

    Returns:
        ``(R', cells, phi)``: ``R' = R Ry(phi)`` (the turn about the base cells' centroid; the
        caller decides where the object's centre goes), the base cells used and ``phi`` (rad;
        0 and ``R`` unchanged with fewer than ``min_cells``).
    """
    cam = np.asarray(camera_points, dtype=np.float64)
    n = check_shape("camera_points", cam, ("N", 3))["N"]
    tmpl = np.asarray(template_points, dtype=np.float64)
    check_shape("template_points", tmpl, (n, 3))
    w = np.asarray(weights, dtype=np.float64)
    check_shape("weights", w, (n,))
    R = np.asarray(R, dtype=np.float64)
    s = np.broadcast_to(np.asarray(scale, dtype=np.float64), (3,))
    verts = np.asarray(vertices, dtype=np.float64)
    z_lo, z_hi = verts[:, 2].min(), verts[:, 2].max()
    use = (tmpl[:, 2] < z_lo + base_fraction * (z_hi - z_lo)) & (w > 0)
    use &= np.all(np.isfinite(cam), axis=1)
    cells = int(use.sum())
    if cells < min_cells:
        return R, cells, 0.0
    wu = w[use]
    observed = ((cam[use] - np.asarray(t, dtype=np.float64)) @ R) / s
    zx = [2, 0]  # Ry(phi) turns (z, x) by phi: z' = z cos - x sin, x' = z sin + x cos
    a = tmpl[use][:, zx] - (wu[:, None] * tmpl[use][:, zx]).sum(0) / wu.sum()
    b = observed[:, zx] - (wu[:, None] * observed[:, zx]).sum(0) / wu.sum()
    phi = _turn_angle(a, b, wu)
    c, si = math.cos(phi), math.sin(phi)
    Ry = np.array([[c, 0.0, si], [0.0, 1.0, 0.0], [-si, 0.0, c]])
    return R @ Ry, cells, phi
