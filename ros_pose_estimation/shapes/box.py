"""Box: a cuboid with its longest horizontal edge along x (size_x >= size_y).

Covers flat packages, shoe boxes, cubes and tall cereal boxes. Edges are sharp or very slightly
rounded (cardboard folds), which keeps the 180 deg symmetries about x, y and z exact. The grid
cell adapts to the size so every instance has ~600-1500 vertices.
"""

from __future__ import annotations

import numpy as np

from ros_pose_estimation.core.mesh import TriMesh
from ros_pose_estimation.shapes.params import Table, Uniform
from ros_pose_estimation.shapes.primitives import box

PARAMS: Table = {
    "size_x": Uniform(0.06, 0.42, "longest horizontal edge (m)", 0.2),
    "aspect_y": Uniform(0.25, 1.0, "size_y / size_x", 0.6),
    "aspect_z": Uniform(0.15, 1.6, "size_z / size_x", 0.5),
    "edge_radius": Uniform(0.0, 0.002, "rounding of edges and corners (m)", 0.0),
}

TARGET_CELLS = 500  # grid cells over the whole surface


def size(p: dict) -> np.ndarray:
    """``[3]`` box size (m); ``size_y <= size_x`` by construction."""
    sx = p["size_x"]
    return np.array([sx, sx * min(p["aspect_y"], 1.0), sx * p["aspect_z"]])


def build(p: dict) -> dict[str, TriMesh]:
    """Parts of one box (a single closed part, ``"body"``), centred at the origin."""
    s = size(p)
    area = 2.0 * (s[0] * s[1] + s[1] * s[2] + s[0] * s[2])
    step = float(np.sqrt(area / TARGET_CELLS))
    radius = min(p["edge_radius"], 0.45 * float(s.min()))
    return {"body": box(s, radius=radius, max_step=step, round_segments=2)}
