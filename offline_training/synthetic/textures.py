"""Random procedural surface textures, evaluated at 3D surface points (no UVs needed).

A texture is a small, seeded, serialisable :class:`TextureSpec`; :func:`surface_color` turns
surface points (in the frame the texture is attached to, usually the object's canonical frame,
metres) and their normals into albedo colours. Because the pattern is a function of the 3D
point, it sticks to the object under any pose and is consistent across views (3D-consistent
"prior noise" in the sense of paper 001 Sec. 3.1, without needing DTD images).

Kinds (paper 001 randomises textures so the network cannot key on appearance):

=========  ==============================================================================
flat       one colour (plus a little fine grain)
stripes    soft or hard parallel bands along a random direction
checker    3D checkerboard in a randomly rotated frame
noise      fractal value noise mapped through a 2-4 colour palette (solid or triplanar)
marble     sine bands distorted by fractal noise (wood / marble look)
blobs      random spheres of other colours over a base colour (spots, labels, stickers)
=========  ==============================================================================

Backgrounds live in :mod:`.backgrounds` (re-exported here for convenience).
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass, field

import numpy as np

from ros_pose_estimation.core.mesh import TriMesh

from .backgrounds import BackgroundSpec, make_background, sample_background  # noqa: F401
from .noise import fbm, value_noise

KINDS: tuple[str, ...] = ("flat", "stripes", "checker", "noise", "marble", "blobs")
_KIND_WEIGHTS = np.array([0.15, 0.15, 0.15, 0.25, 0.15, 0.15])


@dataclass(frozen=True)
class TextureSpec:
    """Parameters of one procedural texture.

    Attributes:
        kind: one of :data:`KINDS`.
        colors: ``[K x 3]`` float albedo colours in [0, 1] (K >= 2; ``flat`` uses the first).
        scale: pattern period / feature size (m).
        frame: ``[3 x 3]`` rotation applied to points before the pattern (pattern orientation).
        seed: noise seed.
        sharpness: band edge steepness for stripes and marble (1 = sine, large = hard edges).
        blobs: ``[B x 4]`` blob centres (m, texture frame) and radii (m), for ``blobs``.
        triplanar: evaluate noise in the three axis planes blended by the normal, instead of
            as a solid 3D function (gives "printed" rather than "carved" looks).
        grain: amplitude of fine per-point albedo variation (0 = none).
    """

    kind: str
    colors: np.ndarray
    scale: float = 0.05
    frame: np.ndarray = field(default_factory=lambda: np.eye(3))
    seed: int = 0
    sharpness: float = 1.0
    blobs: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    triplanar: bool = False
    grain: float = 0.08

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown texture kind {self.kind!r}; expected one of {KINDS}")
        colors = np.asarray(self.colors, dtype=np.float64).reshape(-1, 3)
        if len(colors) == 0:
            raise ValueError("a texture needs at least one colour")
        object.__setattr__(self, "colors", colors)


def random_colors(rng: np.random.Generator, n: int) -> np.ndarray:
    """``[n x 3]`` random colours in [0, 1], uniform in hue, biased towards saturated/bright."""
    out = np.empty((n, 3))
    for i in range(n):
        h, s, v = rng.random(), rng.random() ** 0.7, 0.15 + 0.85 * rng.random() ** 0.6
        out[i] = colorsys.hsv_to_rgb(h, s, v)
    return out


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """``[3 x 3]`` rotation drawn uniformly from SO(3)."""
    q = rng.normal(size=4)
    x, y, z, w = q / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def sample_texture(
    rng: np.random.Generator, size: float = 0.2, kinds: tuple[str, ...] | None = None
) -> TextureSpec:
    """Draw a random texture for a surface of characteristic ``size`` (m, e.g. its diameter)."""
    names = KINDS if kinds is None else tuple(kinds)
    weights = np.array([_KIND_WEIGHTS[KINDS.index(k)] for k in names])
    kind = str(rng.choice(names, p=weights / weights.sum()))
    n_blobs = int(rng.integers(3, 13))
    centres = (rng.random((n_blobs, 3)) - 0.5) * size
    radii = size * rng.uniform(0.05, 0.3, size=(n_blobs, 1))
    return TextureSpec(
        kind=kind,
        colors=random_colors(rng, int(rng.integers(2, 5))),
        scale=float(size * np.exp(rng.uniform(np.log(0.04), np.log(0.5)))),
        frame=random_rotation(rng),
        seed=int(rng.integers(0, 2**31 - 1)),
        sharpness=float(np.exp(rng.uniform(0.0, np.log(30.0)))),
        blobs=np.concatenate([centres, radii], axis=1),
        triplanar=bool(rng.random() < 0.5),
        grain=float(rng.uniform(0.0, 0.15)),
    )


def _palette(colors: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Map ``t`` ``[N]`` in [0, 1] piecewise-linearly through ``colors`` ``[K x 3]`` (-> N x 3)."""
    if len(colors) == 1:
        return np.broadcast_to(colors[0], (len(t), 3)).copy()
    knots = np.linspace(0.0, 1.0, len(colors))  # np.interp clamps outside [0, 1]
    return np.stack([np.interp(t, knots, colors[:, c]) for c in range(3)], axis=-1)


def _band(phase: np.ndarray, sharpness: float) -> np.ndarray:
    """Periodic band profile in [0, 1] for ``phase`` in periods; steeper with ``sharpness``."""
    s = np.sin(2.0 * np.pi * phase)
    return 0.5 + 0.5 * np.tanh(sharpness * s) / np.tanh(sharpness)


def _noise(spec: TextureSpec, q: np.ndarray, normals: np.ndarray | None) -> np.ndarray:
    """Fractal noise in [0, 1] at pattern-frame points ``q`` ``[N x 3]`` (periods)."""
    if not spec.triplanar or normals is None:
        return fbm(q, spec.seed)
    w = np.abs(np.einsum("ij,jk->ik", normals, spec.frame)) ** 4
    w /= np.maximum(w.sum(1, keepdims=True), 1e-12)
    out = np.zeros(len(q), dtype=np.float32)
    for axis, plane in enumerate(((1, 2), (0, 2), (0, 1))):
        sel = w[:, axis] > 1e-3  # flat regions only need one of the three projections
        out[sel] += w[sel, axis] * fbm(q[sel][:, list(plane)], spec.seed + 101 * axis)
    return out


def surface_color(
    spec: TextureSpec, points: np.ndarray, normals: np.ndarray | None = None
) -> np.ndarray:
    """Albedo of ``spec`` at surface ``points`` ``[N x 3]`` (m) with unit ``normals`` ``[N x 3]``.

    Returns:
        ``[N x 3]`` float32 RGB albedo in [0, 1].
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    nrm = None if normals is None else np.asarray(normals, dtype=np.float64).reshape(-1, 3)
    c = spec.colors
    q = np.einsum("ij,jk->ik", pts, spec.frame) / max(spec.scale, 1e-6)  # no BLAS: see render
    if spec.kind == "flat":
        rgb = np.broadcast_to(c[0], pts.shape).copy()
    elif spec.kind == "stripes":
        rgb = _palette(c[:2], _band(q[:, 0], spec.sharpness))
    elif spec.kind == "checker":
        parity = np.floor(q).astype(np.int64).sum(1) & 1
        rgb = np.where(parity[:, None] == 1, c[min(1, len(c) - 1)], c[0])
    elif spec.kind == "noise":
        rgb = _palette(c, _noise(spec, q, nrm))
    elif spec.kind == "marble":
        phase = q[:, 0] + 2.0 * _noise(spec, q, nrm)
        rgb = _palette(c, _band(phase, spec.sharpness))
    else:  # blobs
        rgb = np.broadcast_to(c[0], pts.shape).copy()
        for b, (cx, cy, cz, r) in enumerate(spec.blobs):
            d = np.linalg.norm(pts - (cx, cy, cz), axis=1)
            w = np.clip((r - d) / (0.15 * r + 1e-9), 0.0, 1.0)[:, None]
            blob_color = c[1 + b % (len(c) - 1)] if len(c) > 1 else 1.0 - c[0]
            rgb = (1.0 - w) * rgb + w * blob_color
    if spec.grain > 0:
        fine = value_noise(pts / 0.003, spec.seed + 7) - 0.5
        rgb = rgb * (1.0 + 2.0 * spec.grain * fine)[:, None]
    return np.clip(rgb, 0.0, 1.0).astype(np.float32)


def vertex_normals(mesh: TriMesh) -> np.ndarray:
    """``[V x 3]`` area-weighted unit vertex normals."""
    v = mesh.vertices[mesh.faces]
    fn = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])  # length = 2 * area
    vn = np.zeros_like(mesh.vertices)
    for k in range(3):
        np.add.at(vn, mesh.faces[:, k], fn)
    return vn / np.maximum(np.linalg.norm(vn, axis=1, keepdims=True), 1e-12)


def vertex_colors(spec: TextureSpec, mesh: TriMesh) -> np.ndarray:
    """``[V x 3]`` float32 per-vertex colours of ``spec`` on ``mesh`` (e.g. for a coloured PLY)."""
    return surface_color(spec, mesh.vertices, vertex_normals(mesh))


def face_colors(spec: TextureSpec, mesh: TriMesh) -> np.ndarray:
    """``[F x 3]`` float32 per-face colours of ``spec`` sampled at the face centroids."""
    centroids = mesh.vertices[mesh.faces].mean(axis=1)
    return surface_color(spec, centroids, mesh.face_normals())
