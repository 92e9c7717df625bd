"""A minimal triangle mesh shared by the data engine, the renderers and the shape priors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class TriMesh:
    """Triangle mesh in metres.

    Attributes:
        vertices: ``[V x 3]`` float64 vertex positions (m), in the object's canonical frame.
        faces: ``[F x 3]`` int64 vertex indices, counter-clockwise seen from outside.
    """

    vertices: np.ndarray
    faces: np.ndarray

    def __post_init__(self) -> None:
        self.vertices = np.ascontiguousarray(self.vertices, dtype=np.float64)
        self.faces = np.ascontiguousarray(self.faces, dtype=np.int64)
        if self.vertices.ndim != 2 or self.vertices.shape[1] != 3:
            raise ValueError(f"vertices must be [V x 3], got {self.vertices.shape}")
        if self.faces.ndim != 2 or self.faces.shape[1] != 3:
            raise ValueError(f"faces must be [F x 3], got {self.faces.shape}")
        if len(self.faces) and (self.faces.min() < 0 or self.faces.max() >= len(self.vertices)):
            raise ValueError("faces index vertices that do not exist")

    @property
    def bounds(self) -> np.ndarray:
        """``[2 x 3]`` axis-aligned min and max corners (m)."""
        return np.stack([self.vertices.min(0), self.vertices.max(0)])

    @property
    def extents(self) -> np.ndarray:
        """``[3]`` axis-aligned size along x, y, z (m)."""
        lo, hi = self.bounds
        return hi - lo

    @property
    def center(self) -> np.ndarray:
        """``[3]`` centre of the axis-aligned bounding box (m)."""
        lo, hi = self.bounds
        return 0.5 * (lo + hi)

    @property
    def diameter(self) -> float:
        """Largest distance between two vertices (m), as BOP's ``models_info`` defines it."""
        from scipy.spatial import ConvexHull, QhullError

        pts = self.vertices
        try:
            pts = pts[ConvexHull(pts).vertices]
        except QhullError:  # flat or degenerate: use all points
            pass
        diff = pts[:, None, :] - pts[None, :, :]
        return float(np.sqrt((diff**2).sum(-1)).max())

    def face_normals(self) -> np.ndarray:
        """``[F x 3]`` unit normals of the faces (outwards for CCW winding)."""
        v = self.vertices[self.faces]
        n = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
        return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)

    def transformed(self, transform: np.ndarray) -> TriMesh:
        """Copy with vertices mapped by a ``[4 x 4]`` rigid/similarity transform."""
        t = np.asarray(transform, dtype=np.float64)
        return TriMesh(self.vertices @ t[:3, :3].T + t[:3, 3], self.faces.copy())

    def centered(self) -> TriMesh:
        """Copy translated so the axis-aligned bounding box is centred at the origin."""
        return TriMesh(self.vertices - self.center, self.faces.copy())

    def scaled(self, scale: float | np.ndarray) -> TriMesh:
        """Copy with vertices multiplied by a scalar or per-axis ``[3]`` scale."""
        return TriMesh(self.vertices * np.asarray(scale, dtype=np.float64), self.faces.copy())

    @staticmethod
    def concatenate(meshes: list[TriMesh]) -> TriMesh:
        """One mesh holding all parts (no welding)."""
        verts, faces, offset = [], [], 0
        for m in meshes:
            verts.append(m.vertices)
            faces.append(m.faces + offset)
            offset += len(m.vertices)
        return TriMesh(np.concatenate(verts), np.concatenate(faces))


def fan_triangles(polygons) -> np.ndarray:
    """Triangulate polygons ``(v0, v1, ..., vn)`` as fans; returns ``[F x 3]`` int64.

    ``polygons`` is a list of index lists, or a ``[P x K]`` array of equal-size polygons.
    """
    if isinstance(polygons, np.ndarray) and polygons.ndim == 2:
        p = polygons.astype(np.int64)
        tris = [np.stack([p[:, 0], p[:, i], p[:, i + 1]], 1) for i in range(1, p.shape[1] - 1)]
        return np.stack(tris, 1).reshape(-1, 3) if tris else np.zeros((0, 3), np.int64)
    tris = [(p[0], p[i], p[i + 1]) for p in polygons for i in range(1, len(p) - 1)]
    return np.asarray(tris, dtype=np.int64).reshape(-1, 3)
