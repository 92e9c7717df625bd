"""Mug: an open (optionally tapered) cylinder with a wall thickness and one handle on +x.

The body is a surface of revolution about +z; the handle is a tube swept along a curve in the
xz plane (so the mug is mirror symmetric about xz). The handle's outline is half a
superellipse: exponent 2 gives a round "C", ~3 a "D", ~6 an almost square loop. Its ends are
buried in the wall (never reaching the inner cavity). Built standing on z = 0, body axis on z;
the caller re-centres, which moves the axis to -x because the handle sticks out on +x.
"""

from __future__ import annotations

import numpy as np

from ros_pose_estimation.core.mesh import TriMesh
from ros_pose_estimation.shapes.params import Choice, Table, Uniform
from ros_pose_estimation.shapes.primitives import densify, lathe, tube

HANDLE_EXPONENT = {"round": 2.0, "d_shaped": 3.2, "squarish": 4.5}

PARAMS: Table = {
    "height": Uniform(0.075, 0.115, "body height (m)", 0.095),
    "radius": Uniform(0.033, 0.048, "outer radius at the bottom (m)", 0.04),
    "taper": Uniform(0.88, 1.15, "top radius / bottom radius (1: straight)", 1.0),
    "wall_thickness": Uniform(0.003, 0.006, "side wall thickness (m)"),
    "bottom_thickness": Uniform(0.005, 0.01, "bottom thickness (m)"),
    "handle_style": Choice(tuple(HANDLE_EXPONENT), "d_shaped", "outline of the handle loop"),
    "handle_top": Uniform(0.7, 0.88, "upper attachment height / body height"),
    "handle_bottom": Uniform(0.12, 0.35, "lower attachment height / body height"),
    "handle_reach": Uniform(0.018, 0.035, "how far the loop sticks out of the wall (m)"),
    "handle_width": Uniform(0.009, 0.016, "handle width along y (m)"),
    "handle_thickness": Uniform(0.005, 0.009, "handle thickness in the xz plane (m)"),
}

SEGMENTS = 56  # body ring vertices; body ~1700-2100 + handle ~500-600 vertices


def outer_radius(p: dict, z: np.ndarray | float) -> np.ndarray:
    """Outer wall radius (m) at height ``z`` (m): linear from bottom to rim."""
    return p["radius"] * (1.0 + (p["taper"] - 1.0) * np.asarray(z) / p["height"])


def profile(p: dict) -> np.ndarray:
    """``[P x 2]`` ``(r, z)`` outline of the wall cross-section, counter-clockwise."""
    h, wall, floor = p["height"], p["wall_thickness"], p["bottom_thickness"]
    fillet = 0.004
    r0, r1 = outer_radius(p, 0.0), outer_radius(p, h)
    ang = np.linspace(-0.5 * np.pi, 0.0, 4)  # rounded bottom edge
    pts = [[0.0, 0.0]]
    pts += list(np.stack([r0 - fillet + fillet * np.cos(ang), fillet + fillet * np.sin(ang)], 1))
    pts += [[r1, h], [r1 - 0.4 * wall, h + 0.0008], [r1 - wall, h]]  # slightly rounded rim
    pts += [[outer_radius(p, floor) - wall, floor], [0.0, floor]]
    return densify(np.asarray(pts), 0.008)


def handle_path(p: dict, samples: int = 32) -> np.ndarray:
    """``[N x 3]`` centre line of the handle in the xz plane (y = 0), top end to bottom end."""
    h, wall = p["height"], p["wall_thickness"]
    z_top = h * p["handle_top"]
    z_bot = h * p["handle_bottom"]
    x_top, x_bot = outer_radius(p, z_top), outer_radius(p, z_bot)
    x_c = max(x_top, x_bot)  # loop starts where the wall is widest
    zc, half = 0.5 * (z_top + z_bot), 0.5 * (z_top - z_bot)
    e = 2.0 / HANDLE_EXPONENT[p["handle_style"]]
    t = np.linspace(0.5 * np.pi, -0.5 * np.pi, samples)
    x = x_c + p["handle_reach"] * np.abs(np.cos(t)) ** e
    z = zc + half * np.sign(np.sin(t)) * np.abs(np.sin(t)) ** e
    loop = np.stack([x, np.zeros_like(x), z], 1)
    # ends run horizontally into the wall, stopping half-way through its thickness
    start = densify(np.array([[x_top - 0.5 * wall, 0.0, z_top], loop[0]]), 0.004)[:-1]
    end = densify(np.array([loop[-1], [x_bot - 0.5 * wall, 0.0, z_bot]]), 0.004)[1:]
    return np.concatenate([start, loop, end])


def build(p: dict) -> dict[str, TriMesh]:
    """Parts of one mug: ``"body"`` and ``"handle"`` (each closed), standing on z = 0."""
    section = (0.5 * p["handle_thickness"], 0.5 * p["handle_width"])
    handle = tube(handle_path(p), section, segments=14, normal_hint=np.array([0.0, 0.0, 1.0]))
    return {"body": lathe(profile(p), SEGMENTS), "handle": handle}
