"""Mesh primitives: surfaces of revolution, (rounded) boxes, cylinders, swept tubes, spheres.

All functions return a :class:`TriMesh` in metres with counter-clockwise (outward) faces. Closed
inputs give closed meshes: every edge is shared by exactly two faces.
"""

from __future__ import annotations

import numpy as np

from ros_pose_estimation.core.mesh import TriMesh


def densify(profile: np.ndarray, max_step: float) -> np.ndarray:
    """Insert points so that no segment of a ``[P x D]`` polyline is longer than ``max_step``.

    The original points (corners) are kept; the result is ``[P' x D]``.
    """
    profile = np.asarray(profile, dtype=np.float64)
    out = [profile[:1]]
    for a, b in zip(profile[:-1], profile[1:], strict=True):
        n = max(1, int(np.ceil(np.linalg.norm(b - a) / max_step - 1e-9)))
        out.append(a + (b - a) * (np.arange(1, n + 1) / n)[:, None])
    return np.concatenate(out)


def lathe(profile: np.ndarray, segments: int = 64) -> TriMesh:
    """Surface of revolution of a ``[P x 2]`` profile of ``(radius, z)`` points about +z.

    Orientation: walk the profile counter-clockwise in the ``(r, z)`` half-plane (e.g. from the
    bottom of the axis outwards, up the outside and back in at the top); the faces then point
    outwards. End points with ``r == 0`` become poles (closed ends); an end point with ``r > 0``
    leaves that end open. Interior points must have ``r > 0``. Vertex ``j`` of a ring sits at
    angle ``2 pi j / segments`` from +x, so the mesh is mirror symmetric about the xz plane.
    """
    profile = np.asarray(profile, dtype=np.float64)
    if profile.ndim != 2 or profile.shape[1] != 2 or len(profile) < 2:
        raise ValueError(f"profile must be [P x 2] with P >= 2, got {profile.shape}")
    radius = profile[:, 0]
    if np.any(radius < 0) or np.any(radius[1:-1] <= 0):
        raise ValueError("profile radii must be >= 0, and > 0 except at the two ends")
    theta = 2.0 * np.pi * np.arange(segments) / segments
    cos, sin = np.cos(theta), np.sin(theta)
    verts, index = [], []  # index[i]: [segments] vertex ids of profile point i
    count = 0
    for r, z in profile:
        if r == 0.0:
            verts.append(np.array([[0.0, 0.0, z]]))
            index.append(np.full(segments, count))
            count += 1
        else:
            verts.append(np.stack([r * cos, r * sin, np.full(segments, z)], axis=1))
            index.append(count + np.arange(segments))
            count += segments
    faces = []
    for i in range(len(profile) - 1):
        a, d = index[i], index[i + 1]
        b, c = np.roll(a, -1), np.roll(d, -1)
        if radius[i] > 0:
            faces.append(np.stack([a, b, c], axis=1))
        if radius[i + 1] > 0:
            faces.append(np.stack([a, c, d], axis=1))
    return TriMesh(np.concatenate(verts), np.concatenate(faces))


def cylinder(
    radius: float, height: float, segments: int = 64, max_step: float | None = None
) -> TriMesh:
    """Closed cylinder about +z, centred at the origin (``z`` in ``[-h/2, h/2]``).

    ``max_step`` (m) subdivides the caps and side so triangles stay small (default: the arc
    length of one segment).
    """
    step = max_step or 2.0 * np.pi * radius / segments
    h = 0.5 * height
    corners = np.array([[0.0, -h], [radius, -h], [radius, h], [0.0, h]])
    return lathe(densify(corners, step), segments)


def uv_sphere(radius: float, rows: int = 16, segments: int = 32) -> TriMesh:
    """Closed latitude-longitude sphere centred at the origin: ``rows`` bands between poles."""
    phi = np.linspace(-0.5 * np.pi, 0.5 * np.pi, rows + 1)
    profile = np.stack([radius * np.cos(phi), radius * np.sin(phi)], axis=1)
    profile[[0, -1], 0] = 0.0
    return lathe(profile, segments)


def icosphere(level: int = 2, radius: float = 1.0) -> TriMesh:
    """Geodesic sphere: an icosahedron subdivided ``level`` times (``10 * 4**level + 2`` verts).

    Levels 0..4 give 12, 42, 162, 642 and 2562 vertices, all at distance ``radius``.
    """
    t = (1.0 + 5.0**0.5) / 2.0
    verts = [
        [-1, t, 0], [1, t, 0], [-1, -t, 0], [1, -t, 0], [0, -1, t], [0, 1, t],
        [0, -1, -t], [0, 1, -t], [t, 0, -1], [t, 0, 1], [-t, 0, -1], [-t, 0, 1],
    ]  # fmt: skip
    faces = [
        [0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11], [1, 5, 9], [5, 11, 4],
        [11, 10, 2], [10, 7, 6], [7, 1, 8], [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8],
        [3, 8, 9], [4, 9, 5], [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1],
    ]  # fmt: skip
    v = np.asarray(verts, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    for _ in range(level):
        edges = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
        uniq, inv = np.unique(edges, axis=0, return_inverse=True)
        mid = len(v) + inv.reshape(3, -1).T  # [F x 3] midpoints of edges 01, 12, 20
        v = np.concatenate([v, 0.5 * (v[uniq[:, 0]] + v[uniq[:, 1]])])
        a, b, c = f.T
        ab, bc, ca = mid.T
        f = np.concatenate([np.stack(t, 1) for t in ([a, ab, ca], [b, bc, ab], [c, ca, bc])]
                           + [np.stack([ab, bc, ca], 1)])  # fmt: skip
    v *= radius / np.linalg.norm(v, axis=1, keepdims=True)
    return TriMesh(v, f)


def box(
    size: np.ndarray, radius: float = 0.0, max_step: float = 0.02, round_segments: int = 3
) -> TriMesh:
    """Closed box of ``size = (sx, sy, sz)`` (m) centred at the origin, optionally rounded.

    Each face is a grid with cells no larger than ``max_step``; ``radius`` (m, below half the
    smallest size) rounds the edges and corners with ``round_segments`` rows per quarter arc.
    """
    half = 0.5 * np.asarray(size, dtype=np.float64)
    if radius < 0 or radius >= half.min():
        raise ValueError(f"radius must be in [0, {half.min()}), got {radius}")
    axes = []
    for h in half:
        flat = h - radius
        core = np.linspace(-flat, flat, max(1, int(np.ceil(2 * flat / max_step))) + 1)
        if radius > 0:
            band = flat + radius * np.sin(np.linspace(0, 0.5 * np.pi, round_segments + 1)[1:])
            core = np.concatenate([-band[::-1], core, band])
        core[[0, -1]] = -h, h  # exactly on the faces, so the face grids weld
        axes.append(core)
    verts, faces, count = [], [], 0
    for k in range(3):  # faces normal to axis k, at -h and +h
        i, j = (k + 1) % 3, (k + 2) % 3  # e_i x e_j = e_k
        u, w = np.meshgrid(axes[i], axes[j], indexing="ij")
        nu, nw = u.shape
        ids = np.arange(nu * nw).reshape(nu, nw)
        quad = np.stack([ids[:-1, :-1], ids[1:, :-1], ids[1:, 1:], ids[:-1, 1:]], -1)
        quad = quad.reshape(-1, 4)
        for sign in (-1.0, 1.0):
            p = np.zeros((nu * nw, 3))
            p[:, i], p[:, j], p[:, k] = u.ravel(), w.ravel(), sign * half[k]
            q = quad if sign > 0 else quad[:, ::-1]
            verts.append(p)
            faces.append(count + np.concatenate([q[:, [0, 1, 2]], q[:, [0, 2, 3]]]))
            count += len(p)
    verts, inverse = np.unique(np.concatenate(verts), axis=0, return_inverse=True)
    faces = inverse.reshape(-1)[np.concatenate(faces)]
    if radius > 0:  # push edge/corner bands onto the rounded surface
        inner = np.clip(verts, -(half - radius), half - radius)
        off = verts - inner
        norm = np.linalg.norm(off, axis=1, keepdims=True)
        verts = inner + np.where(norm > 0, radius * off / np.maximum(norm, 1e-300), off)
    return TriMesh(verts, faces)


def tube(
    path: np.ndarray,
    radius: float | tuple[float, float],
    segments: int = 16,
    normal_hint: np.ndarray | None = None,
) -> TriMesh:
    """Closed tube swept along a ``[N x 3]`` polyline, with flat end caps.

    ``radius`` is a float or the half-axes ``(a, b)`` of an elliptical section: ``a`` along the
    section's normal (seeded by the component of ``normal_hint`` orthogonal to the first tangent,
    then transported along the path), ``b`` along ``tangent x normal``. For a path in the xz
    plane with an in-plane hint, ``b`` lies along y and the tube is mirror symmetric about xz.
    """
    path = np.asarray(path, dtype=np.float64)
    a, b = (radius, radius) if np.isscalar(radius) else radius
    tang = np.gradient(path, axis=0)
    tang /= np.linalg.norm(tang, axis=1, keepdims=True)
    hint = np.asarray([0.0, 0.0, 1.0] if normal_hint is None else normal_hint, dtype=np.float64)
    if abs(hint @ tang[0]) > 0.99 * np.linalg.norm(hint):
        hint = np.array([1.0, 0.0, 0.0]) if abs(tang[0, 0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    normal, rings = hint, []
    phi = 2.0 * np.pi * np.arange(segments) / segments
    for c, t in zip(path, tang, strict=True):
        normal = normal - (normal @ t) * t  # transport the frame by projection
        normal /= np.linalg.norm(normal)
        binormal = np.cross(t, normal)
        rings.append(c + a * np.cos(phi)[:, None] * normal + b * np.sin(phi)[:, None] * binormal)
    n = len(path)
    verts = np.concatenate([*rings, path[[0, -1]]])
    ids = np.arange(n * segments).reshape(n, segments)
    p, q = ids[:-1], np.roll(ids[:-1], -1, axis=1)
    r, s = np.roll(ids[1:], -1, axis=1), ids[1:]
    start, end = n * segments, n * segments + 1
    faces = [
        np.stack([p, q, r], -1).reshape(-1, 3),
        np.stack([p, r, s], -1).reshape(-1, 3),
        np.stack([np.full(segments, start), np.roll(ids[0], -1), ids[0]], 1),
        np.stack([ids[-1], np.roll(ids[-1], -1), np.full(segments, end)], 1),
    ]
    return TriMesh(verts, np.concatenate(faces))
