"""Bottle: a closed body of revolution about +z (body, shoulder, neck, optional cap).

Instances range from squat jars and water bottles (wide rounded shoulder, short neck) to wine
bottles (tall, S-shaped shoulder, long neck). Built standing on z = 0; the caller re-centres.
"""

from __future__ import annotations

import numpy as np

from ros_pose_estimation.core.mesh import TriMesh
from ros_pose_estimation.shapes.params import Choice, Table, Uniform
from ros_pose_estimation.shapes.primitives import densify, lathe

PARAMS: Table = {
    "height": Uniform(0.16, 0.32, "total height incl. cap (m)", 0.24),
    "body_radius": Uniform(0.028, 0.045, "radius of the main body (m)"),
    "body_fraction": Uniform(0.4, 0.62, "straight body height / total height"),
    "shoulder_fraction": Uniform(0.1, 0.2, "shoulder height / total height"),
    "shoulder_roundness": Uniform(0.0, 1.0, "0: S-shaped (wine), 1: round dome (water)"),
    "neck_radius_ratio": Uniform(0.3, 0.5, "neck radius / body radius"),
    "base_round": Uniform(0.05, 0.25, "bottom edge fillet radius / body radius"),
    "waist": Uniform(0.0, 0.06, "depth of a grip waist / body radius (0: straight)"),
    "has_cap": Choice((True, False), True, "screw cap or cork on the neck", (0.7, 0.3)),
    "cap_height": Uniform(0.01, 0.022, "cap height (m)"),
    "cap_radius_ratio": Uniform(1.05, 1.25, "cap radius / neck radius"),
}

SEGMENTS = 48  # ring vertices; with ~35-50 profile points: ~1600-2400 vertices


def profile(p: dict) -> np.ndarray:
    """``[P x 2]`` ``(r, z)`` outline, counter-clockwise, from the bottom centre to the top."""
    height, radius = p["height"], p["body_radius"]
    neck_r = radius * p["neck_radius_ratio"]
    body_top = height * p["body_fraction"]
    top_finish = height - (p["cap_height"] if p["has_cap"] else 0.006)
    shoulder_top = min(body_top + height * p["shoulder_fraction"], top_finish - 0.004)
    fillet = radius * p["base_round"]
    pts = [[0.0, 0.0]]
    ang = np.linspace(-0.5 * np.pi, 0.0, 5)  # bottom edge fillet
    pts += list(np.stack([radius - fillet * (1 - np.cos(ang)), fillet * (1 + np.sin(ang))], 1))
    z_body = np.linspace(fillet, body_top, 9)[1:]
    r_body = radius * (1 - p["waist"] * np.sin(np.pi * (z_body - fillet) / (body_top - fillet)))
    pts += list(np.stack([r_body, z_body], 1))
    s = np.sin(np.linspace(0.0, 0.5 * np.pi, 12)[1:])  # denser near the neck
    round_ = np.sqrt(np.clip(1.0 - s**2, 0.0, None))  # quarter ellipse: dome
    s_curve = 1.0 - (3 * s**2 - 2 * s**3)  # smoothstep: vertical at both ends
    w = p["shoulder_roundness"]
    g = w * round_ + (1 - w) * s_curve
    r_sh, z_sh = neck_r + (radius - neck_r) * g, body_top + (shoulder_top - body_top) * s
    pts += list(np.stack([r_sh, z_sh], 1))
    if p["has_cap"]:
        cap_r, cap_bottom = neck_r * p["cap_radius_ratio"], top_finish
        pts += [[neck_r, cap_bottom], [cap_r, cap_bottom], [cap_r, height], [0.7 * cap_r, height]]
    else:  # neck ends in a lip, the mouth closed at the lip's top
        lip_r = neck_r + 0.0015
        pts += [[neck_r, top_finish], [lip_r, top_finish + 0.001], [lip_r, height]]
        pts += [[0.6 * neck_r, height]]
    pts += [[0.0, height]]
    return densify(np.asarray(pts), 0.012)


def build(p: dict) -> dict[str, TriMesh]:
    """Parts of one bottle (a single closed part, ``"body"``), standing on z = 0."""
    return {"body": lathe(profile(p), SEGMENTS)}
