"""Bounded-size copies of triangle meshes for display (RViz markers, image overlays).

Vertex clustering (Rossignac and Borrel 1993): vertices are snapped to a regular grid over the
mesh's bounding box, the vertices of one cell merge into their mean, and faces that collapse
(two corners in one cell) or repeat are dropped. The grid is refined as far as the triangle
budget allows (the coarsest grids keep only the overall shape), which keeps the silhouette of
the category templates recognisable at a few hundred triangles. Only for display: topology is
not preserved.
"""

from __future__ import annotations

import numpy as np

from .errors import ConfigError
from .mesh import TriMesh

#: Grid resolutions (cells along the longest side) tried from fine to coarse.
_RESOLUTIONS = (96, 80, 64, 52, 44, 36, 30, 25, 21, 18, 15, 12, 10, 8, 6, 5, 4, 3, 2)


def _cluster(mesh: TriMesh, cells: int) -> TriMesh:
    lo = mesh.vertices.min(0)
    span = float((mesh.vertices.max(0) - lo).max()) or 1.0
    grid = np.clip(np.floor((mesh.vertices - lo) / span * cells), 0, cells - 1).astype(np.int64)
    keys, inverse = np.unique(grid, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    counts = np.bincount(inverse, minlength=len(keys)).astype(np.float64)
    merged = (
        np.stack([np.bincount(inverse, mesh.vertices[:, k], len(keys)) for k in range(3)], axis=1)
        / counts[:, None]
    )
    faces = inverse[mesh.faces]
    keep = (
        (faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2])
    )
    faces = faces[keep]
    _, first = np.unique(np.sort(faces, axis=1), axis=0, return_index=True)
    return TriMesh(merged, faces[np.sort(first)])


def decimate(mesh: TriMesh, max_triangles: int) -> TriMesh:
    """A copy of ``mesh`` with at most ``max_triangles`` faces (the mesh itself if it has).

    Args:
        mesh: triangle mesh (m).
        max_triangles: the budget (>= 1).

    Returns:
        The clustered mesh of the finest grid within budget; if no grid gives a non-empty mesh
        within budget (tiny budgets, thin shapes), an evenly spaced subset of the faces of the
        coarsest non-empty one.

    Raises:
        ConfigError: ``max_triangles`` is not an integer >= 1.
    """
    if isinstance(max_triangles, bool) or int(max_triangles) != max_triangles or max_triangles < 1:
        raise ConfigError(f"max_triangles: expected an integer >= 1, got {max_triangles!r}")
    if len(mesh.faces) <= max_triangles:
        return mesh
    # bisection for the finest grid within budget (face counts grow with the resolution)
    best, lo, hi = None, 0, len(_RESOLUTIONS) - 1
    while lo <= hi:
        mid = (lo + hi) // 2
        out = _cluster(mesh, _RESOLUTIONS[mid])
        if len(out.faces) <= max_triangles:
            best, hi = out, mid - 1
        else:
            lo = mid + 1
    if best is not None and len(best.faces):
        return best
    for cells in reversed(_RESOLUTIONS):  # coarsest grid that keeps some faces, thinned
        out = _cluster(mesh, cells)
        if len(out.faces):
            break
    pick = np.linspace(0, len(out.faces) - 1, int(max_triangles)).round().astype(np.int64)
    return TriMesh(out.vertices, out.faces[np.unique(pick)])
