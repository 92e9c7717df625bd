"""Bowl: an open body of revolution about +z with a wall thickness, wider than tall.

The outer wall is a quarter superellipse from the flat base out to the rim; its exponent sets
the curvature (1: conical, 2: round, 3: boxy). The inner wall is the same curve with both
half-axes reduced by the wall thickness, so the wall never self-intersects. An optional foot
ring lifts the bowl. Built standing on z = 0; the caller re-centres.
"""

from __future__ import annotations

import numpy as np

from ros_pose_estimation.core.mesh import TriMesh
from ros_pose_estimation.shapes.params import Choice, Table, Uniform
from ros_pose_estimation.shapes.primitives import densify, lathe

PARAMS: Table = {
    "rim_radius": Uniform(0.055, 0.11, "outer radius at the rim (m)", 0.075),
    "height_ratio": Uniform(0.28, 0.48, "height / rim diameter"),
    "base_radius_ratio": Uniform(0.3, 0.6, "flat base radius / rim radius"),
    "wall_exponent": Uniform(1.4, 2.8, "superellipse exponent of the wall (curvature)", 2.0),
    "wall_thickness": Uniform(0.003, 0.007, "wall thickness (m)"),
    "has_foot": Choice((True, False), True, "foot ring under the base", (0.6, 0.4)),
    "foot_height": Uniform(0.004, 0.01, "foot ring height (m)"),
    "foot_radius_ratio": Uniform(0.75, 1.0, "foot radius / base radius"),
}

SEGMENTS = 60  # ring vertices; with ~40 profile points: ~2300-2900 vertices


def _quarter(centre_r: float, top: float, half_r: float, half_z: float, k: float, n: int):
    """Quarter superellipse from ``(centre_r, top - half_z)`` (base) to ``(centre_r + half_r,
    top)`` (rim), horizontal at the base and vertical at the rim: ``[n x 2]`` (r, z)."""
    t = np.linspace(0.0, 0.5 * np.pi, n)
    e = 2.0 / k
    return np.stack([centre_r + half_r * np.sin(t) ** e, top - half_z * np.cos(t) ** e], 1)


def profile(p: dict) -> np.ndarray:
    """``[P x 2]`` ``(r, z)`` outline of the wall cross-section, counter-clockwise."""
    rim = p["rim_radius"]
    height = 2.0 * rim * p["height_ratio"]
    base = rim * p["base_radius_ratio"]
    wall = p["wall_thickness"]
    z0 = p["foot_height"] if p["has_foot"] else 0.0
    k, n = p["wall_exponent"], 16
    pts = [[0.0, 0.0]]
    if p["has_foot"]:
        foot = base * p["foot_radius_ratio"]
        pts += [[foot, 0.0], [foot, z0]]
    outer = _quarter(base, height, rim - base, height - z0, k, n)
    inner = _quarter(base, height, rim - base - wall, height - z0 - wall, k, n)
    pts += list(outer) + list(inner[::-1]) + [[0.0, z0 + wall]]
    return densify(np.asarray(pts), 0.01)


def build(p: dict) -> dict[str, TriMesh]:
    """Parts of one bowl (a single closed part, ``"body"``), standing on z = 0."""
    return {"body": lathe(profile(p), SEGMENTS)}
