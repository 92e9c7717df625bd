"""Laptop: a base slab and a screen slab hinged along the y axis at the back edge of the base.

Frame (before re-centring): the base lies on z = 0 with x in ``[0, depth]``; the hinge line is
the base's back edge (x = 0, near the top of the base) and +x points from the hinge towards the
front edge. The screen is a slab of length ``depth * screen_depth_ratio`` opened by
``open_angle`` (deg) from the closed pose: 90 is upright, above 90 it leans back.
"""

from __future__ import annotations

import numpy as np

from ros_pose_estimation.core.mesh import TriMesh
from ros_pose_estimation.shapes.params import Table, Uniform
from ros_pose_estimation.shapes.primitives import box

PARAMS: Table = {
    "width": Uniform(0.27, 0.38, "size along y, side to side (m)", 0.32),
    "depth": Uniform(0.18, 0.26, "base size along x, hinge to front edge (m)", 0.22),
    "base_thickness": Uniform(0.012, 0.024, "base slab thickness (m)"),
    "screen_thickness": Uniform(0.004, 0.009, "screen slab thickness (m)"),
    "screen_depth_ratio": Uniform(0.9, 1.0, "screen length / base depth", 0.97),
    "open_angle": Uniform(70.0, 140.0, "angle between base and screen (deg)", 110.0),
    "edge_radius": Uniform(0.001, 0.004, "rounding of the slab edges (m)"),
}

MAX_STEP = 0.025  # grid cell size of the slabs (m): ~900-1200 vertices per slab


def hinge_point(p: dict) -> np.ndarray:
    """``[3]`` a point on the hinge axis (parallel to y), before re-centring (m)."""
    return np.array([0.0, 0.0, p["base_thickness"] - 0.3 * p["screen_thickness"]])


def screen_axes(p: dict) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors of the opened screen: along its length from the hinge, and its thickness."""
    a = np.deg2rad(p["open_angle"])
    return np.array([np.cos(a), 0.0, np.sin(a)]), np.array([-np.sin(a), 0.0, np.cos(a)])


def _slab(length: float, width: float, thickness: float, radius: float) -> TriMesh:
    """Slab with x in ``[0, length]``, y centred, z in ``[0, thickness]``."""
    radius = min(radius, 0.45 * thickness)
    mesh = box(np.array([length, width, thickness]), radius=radius, max_step=MAX_STEP)
    return TriMesh(mesh.vertices + [0.5 * length, 0.0, 0.5 * thickness], mesh.faces)


def build(p: dict) -> dict[str, TriMesh]:
    """Parts of one laptop: ``"base"`` and ``"screen"`` (each closed)."""
    depth, width = p["depth"], p["width"]
    base = _slab(depth, width, p["base_thickness"], p["edge_radius"])
    length = depth * p["screen_depth_ratio"]
    screen = _slab(length, 0.995 * width, p["screen_thickness"], p["edge_radius"])
    along, across = screen_axes(p)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2] = along, [0.0, 1.0, 0.0], across
    pose[:3, 3] = hinge_point(p)
    return {"base": base, "screen": screen.transformed(pose)}
