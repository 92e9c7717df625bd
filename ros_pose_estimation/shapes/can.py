"""Can: a closed cylinder about +z with the rims and recesses of real cans.

Covers drink cans (necked-in top, domed bottom on a standing ring, recessed lid) and food tins
(straight walls with rolled rims, optional stiffening beads). Built standing on z = 0; the
caller re-centres.
"""

from __future__ import annotations

import numpy as np

from ros_pose_estimation.core.mesh import TriMesh
from ros_pose_estimation.shapes.params import Choice, Table, Uniform
from ros_pose_estimation.shapes.primitives import densify, lathe

PARAMS: Table = {
    "radius": Uniform(0.026, 0.045, "body radius (m)", 0.033),
    "height": Uniform(0.07, 0.17, "height to the top rim (m)", 0.12),
    "neck_in": Uniform(0.0, 0.006, "how far the top necks in (m); 0 for food tins"),
    "neck_height": Uniform(0.006, 0.016, "height of the necked-in top section (m)"),
    "base_taper": Uniform(0.002, 0.008, "inward taper of the bottom edge (m)"),
    "dome_depth": Uniform(0.001, 0.01, "how far the bottom dome rises inwards (m)"),
    "rim_height": Uniform(0.002, 0.004, "height of the top rim above the lid (m)"),
    "bead_count": Choice((0, 3, 5, 7), 0, "grooves around the wall", (0.55, 0.15, 0.15, 0.15)),
    "bead_depth": Uniform(0.0005, 0.0015, "depth of a groove (m)"),
}

SEGMENTS = 48  # ring vertices; with ~25-50 profile points: ~1100-2400 vertices


def profile(p: dict) -> np.ndarray:
    """``[P x 2]`` ``(r, z)`` outline, counter-clockwise, from the bottom centre to the lid."""
    radius, height = p["radius"], p["height"]
    taper, neck_in = p["base_taper"], p["neck_in"]
    stand_r = radius - taper
    rim = p["rim_height"]
    top_r = radius - neck_in
    wall_lo, wall_hi = 1.5 * taper, height - p["neck_height"]
    ring = np.array([0.0, 0.5, 0.8, 1.0])  # concave bottom dome inside the standing ring
    pts = list(np.stack([ring * stand_r, p["dome_depth"] * (1.0 - ring**2)], 1))
    pts += [[radius, wall_lo]]
    beads, groove = int(p["bead_count"]), 0.002
    for k in range(beads):  # V-shaped grooves, evenly spaced up the wall
        zc = wall_lo + (k + 1) / (beads + 1) * (wall_hi - wall_lo)
        pts += [[radius, zc - groove], [radius - p["bead_depth"], zc], [radius, zc + groove]]
    pts += [[radius, wall_hi]]
    lid_z = height - rim - 0.004  # recessed lid
    pts += [[top_r, height - rim], [top_r + 0.0008, height - 0.5 * rim], [top_r, height]]
    pts += [[top_r - 0.0015, height], [top_r - 0.0025, lid_z], [0.0, lid_z]]
    return densify(np.asarray(pts), 0.008)


def build(p: dict) -> dict[str, TriMesh]:
    """Parts of one can (a single closed part, ``"body"``), standing on z = 0."""
    return {"body": lathe(profile(p), SEGMENTS)}
