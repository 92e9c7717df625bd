"""Category shape prior of the CSE model: a template mesh simplified to a few hundred vertices.

Paper 003 uses ShapeNet templates simplified to 482-995 vertices (``shared/notes/methods.md``).
Here the template is the category's typical procedural instance
(:func:`ros_pose_estimation.shapes.template_mesh`, 1400-2600 vertices) or a user's mesh in the
canonical frame, simplified by **vertex clustering**: vertices are binned in a cubic grid, each
occupied cell becomes one vertex (the mean of its members), faces are re-indexed and those that
collapse (two corners in one cell) or repeat are dropped. The cell size is searched (bisection)
so that the result has about ``n_vertices`` vertices. Pure numpy; the result may be
non-manifold where thin walls merge (a mug's inner and outer wall), which the rasteriser and the
PointNet do not mind.
"""

from __future__ import annotations

import numpy as np

from ros_pose_estimation.core.errors import ConfigError
from ros_pose_estimation.core.mesh import TriMesh

#: Default vertex budget of a template (published: 482-995; icosphere level 3: 642).
DEFAULT_TEMPLATE_VERTICES = 600


def cluster_vertices(mesh: TriMesh, cell: float) -> TriMesh:
    """Vertex clustering of ``mesh`` on a grid of ``cell`` metres (see the module doc).

    Unreferenced cluster vertices are removed; the bounding-box centre is kept at the origin
    of the input's frame (the clustered mesh is *not* re-centred).
    """
    if cell <= 0:
        raise ConfigError(f"cell size must be > 0, got {cell}")
    v = mesh.vertices
    keys = np.floor((v - v.min(0)) / cell).astype(np.int64)
    _, cluster, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    cluster = cluster.reshape(-1)
    sums = np.zeros((len(counts), 3))
    np.add.at(sums, cluster, v)
    centres = sums / counts[:, None]
    faces = cluster[mesh.faces]
    ok = (faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2])
    faces = faces[ok]
    if len(faces):
        canon = np.sort(faces, axis=1)
        _, first = np.unique(canon, axis=0, return_index=True)
        faces = faces[np.sort(first)]
    used = np.unique(faces)
    remap = np.full(len(centres), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    return TriMesh(centres[used], remap[faces])


def simplify_mesh(mesh: TriMesh, n_vertices: int = DEFAULT_TEMPLATE_VERTICES) -> TriMesh:
    """``mesh`` clustered down to about ``n_vertices`` vertices (within ~10 %; unchanged when it
    already has at most that many).

    Raises:
        ConfigError: ``n_vertices < 20``.
    """
    if n_vertices < 20:
        raise ConfigError(f"a template needs at least 20 vertices, got n_vertices={n_vertices}")
    if len(mesh.vertices) <= n_vertices:
        return TriMesh(mesh.vertices.copy(), mesh.faces.copy())
    lo, hi = 1e-6, float(np.max(mesh.extents))
    best = None
    for _ in range(40):  # bisection on the cell size: vertex count falls as the cell grows
        cell = np.sqrt(lo * hi)
        out = cluster_vertices(mesh, cell)
        if best is None or abs(len(out.vertices) - n_vertices) < abs(
            len(best.vertices) - n_vertices
        ):
            best = out
        if abs(len(out.vertices) - n_vertices) <= 0.03 * n_vertices:
            break
        if len(out.vertices) > n_vertices:
            lo = cell
        else:
            hi = cell
    return best


def category_template(
    category: str, n_vertices: int = DEFAULT_TEMPLATE_VERTICES, mesh: TriMesh | None = None
) -> TriMesh:
    """The CSE shape prior of ``category``: ``mesh`` (a user template in the canonical frame,
    metres) or the category's typical procedural instance, simplified to ``n_vertices``."""
    if mesh is None:
        from ros_pose_estimation.shapes import template_mesh

        mesh = template_mesh(category)
    return simplify_mesh(mesh, n_vertices)
