"""Camera: a rounded body box with a cylindrical lens along +x, optional grip and top hump.

Frame (before re-centring): the body box is centred at the origin, x through its depth; the lens
leaves the front face (x = +depth/2) along +x, so the lens front is the +x extreme. The grip
(if any) is on the photographer's right (-y) and sticks out less than the lens; the hump
(viewfinder prism or flash) sits on top above the lens. Covers compacts (thin body, short lens)
and DSLR-like cameras (deep body, long lens).
"""

from __future__ import annotations

import numpy as np

from ros_pose_estimation.core.mesh import TriMesh
from ros_pose_estimation.shapes.params import Choice, Table, Uniform
from ros_pose_estimation.shapes.primitives import box, densify, lathe

PARAMS: Table = {
    "body_width": Uniform(0.095, 0.15, "body size along y (m)", 0.125),
    "height_ratio": Uniform(0.55, 0.72, "body height (z) / body width"),
    "body_depth": Uniform(0.028, 0.075, "body size along x (m)", 0.05),
    "edge_radius": Uniform(0.002, 0.008, "rounding of the body edges (m)"),
    "lens_radius_ratio": Uniform(0.28, 0.42, "lens radius / body height"),
    "lens_length": Uniform(0.018, 0.12, "lens length out of the body (m)", 0.06),
    "lens_front_ratio": Uniform(0.92, 1.15, "front ring radius / lens radius"),
    "lens_offset_y": Uniform(0.0, 0.12, "lens centre towards +y / body width"),
    "lens_offset_z": Uniform(-0.08, 0.04, "lens centre towards +z / body height"),
    "has_grip": Choice((True, False), True, "hand grip on the -y side", (0.6, 0.4)),
    "grip_width_ratio": Uniform(0.15, 0.22, "grip width / body width"),
    "grip_depth_ratio": Uniform(0.3, 0.6, "grip protrusion / lens length"),
    "has_hump": Choice((True, False), True, "viewfinder hump or flash on top", (0.6, 0.4)),
    "hump_height": Uniform(0.008, 0.022, "hump height above the body (m)"),
    "hump_width_ratio": Uniform(0.25, 0.4, "hump width / body width"),
}

MAX_STEP = 0.015  # grid cell of the boxes (m)
SEGMENTS = 40  # lens ring vertices


def body_size(p: dict) -> np.ndarray:
    """``[3]`` body box size (x depth, y width, z height) in metres."""
    return np.array([p["body_depth"], p["body_width"], p["body_width"] * p["height_ratio"]])


def lens_profile(p: dict, embed: float) -> np.ndarray:
    """``[P x 2]`` ``(r, s)`` lens outline, ``s`` along the lens axis from the front face."""
    height = body_size(p)[2]
    r = height * p["lens_radius_ratio"]
    length = p["lens_length"]
    r_mount, r_front = 1.08 * r, r * p["lens_front_ratio"]
    mount = min(0.15 * length, 0.008)
    front = 0.25 * length
    rim, recess = 0.15 * r_front, min(0.004, 0.2 * length)
    pts = [[0.0, -embed], [r_mount, -embed], [r_mount, mount], [r, mount], [r, length - front]]
    pts += [[r_front, length - front], [r_front, length], [r_front - rim, length]]
    pts += [[r_front - rim, length - recess], [0.0, length - recess]]
    return densify(np.asarray(pts), 0.01)


def _rounded(size: np.ndarray, radius: float, centre: np.ndarray) -> TriMesh:
    radius = min(radius, 0.45 * float(np.min(size)))
    mesh = box(size, radius=radius, max_step=MAX_STEP)
    return TriMesh(mesh.vertices + centre, mesh.faces)


def build(p: dict) -> dict[str, TriMesh]:
    """Parts of one camera: ``"body"``, ``"lens"`` and optionally ``"grip"``, ``"hump"``."""
    size = body_size(p)
    depth, width, height = size
    parts = {"body": _rounded(size, p["edge_radius"], np.zeros(3))}
    lens_y, lens_z = width * p["lens_offset_y"], height * p["lens_offset_z"]
    lens = lathe(lens_profile(p, embed=0.3 * depth), SEGMENTS)
    to_x = np.eye(4)  # lathe axis z -> +x: rotation of +90 deg about y, then onto the face
    to_x[:3, :3] = [[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]]
    to_x[:3, 3] = [0.5 * depth, lens_y, lens_z]
    parts["lens"] = lens.transformed(to_x)
    if p["has_grip"]:
        grip = np.array([p["grip_depth_ratio"] * p["lens_length"] + 0.3 * depth,
                         p["grip_width_ratio"] * width, 0.92 * height])  # fmt: skip
        centre = [0.5 * depth + 0.5 * grip[0] - 0.3 * depth, -0.5 * width + 0.5 * grip[1], 0.0]
        parts["grip"] = _rounded(grip, 0.5 * p["edge_radius"] + 0.002, np.array(centre))
    if p["has_hump"]:
        hump = np.array([0.75 * depth, p["hump_width_ratio"] * width, p["hump_height"] + 0.004])
        centre = [-0.1 * depth, lens_y, 0.5 * height + 0.5 * hump[2] - 0.004]
        parts["hump"] = _rounded(hump, 0.5 * p["edge_radius"], np.array(centre))
    return parts
