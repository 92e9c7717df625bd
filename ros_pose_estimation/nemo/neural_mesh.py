"""The neural mesh: vertices with learned unit features, plus a FIFO bank of clutter features.

A neural mesh (paper 000 Sec. 3.2, paper 001 Sec. 4.1) is a coarse surface in the category's
canonical frame (metres, ``shared/notes/categories.md``) whose vertices carry ``D``-dim unit
features. Vertex features are not trained by backprop but follow the features the image encoder
observes at the projected, visible vertices, by momentum (paper 000 Eq. 5). Background features
go into a FIFO "clutter" queue used as extra negatives by the contrastive loss
(:mod:`ros_pose_estimation.nemo.contrastive`).

Geometry:
    * :func:`cuboid_mesh`: NeMo's cuboid, a closed box with a grid on each face (~1000 verts).
    * :func:`geodesic_mesh`: paper 000's geodesic polyhedron, optionally an ellipsoid.

Everything is a buffer, so ``.to(device)`` and ``state_dict`` cover it; use
:meth:`NeuralMesh.from_state_dict` to rebuild one with the right sizes from a checkpoint.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ros_pose_estimation.core.errors import ConfigError, InputError, check_shape
from ros_pose_estimation.core.mesh import TriMesh
from ros_pose_estimation.shapes.primitives import icosphere


def _grid_box(extents: np.ndarray, cells: np.ndarray) -> TriMesh:
    """Closed box centred at the origin; face grids with ``cells[k]`` cells along axis k."""
    half = 0.5 * extents
    axes = [np.linspace(-h, h, n + 1) for h, n in zip(half, cells, strict=True)]  # exact ends
    verts, faces, count = [], [], 0
    for k in range(3):  # the two faces normal to axis k
        i, j = (k + 1) % 3, (k + 2) % 3  # e_i x e_j = e_k
        a, b = np.meshgrid(axes[i], axes[j], indexing="ij")
        ids = np.arange(a.size).reshape(a.shape)
        quad = np.stack([ids[:-1, :-1], ids[1:, :-1], ids[1:, 1:], ids[:-1, 1:]], -1)
        quad = quad.reshape(-1, 4)
        for sign in (-1.0, 1.0):
            p = np.zeros((a.size, 3))
            p[:, i], p[:, j], p[:, k] = a.ravel(), b.ravel(), sign * half[k]
            q = quad if sign > 0 else quad[:, ::-1]  # counter-clockwise seen from outside
            verts.append(p)
            faces.append(count + np.concatenate([q[:, [0, 1, 2]], q[:, [0, 2, 3]]]))
            count += len(p)
    verts, inverse = np.unique(np.concatenate(verts), axis=0, return_inverse=True)  # weld
    return TriMesh(verts, inverse.reshape(-1)[np.concatenate(faces)])


def cuboid_mesh(extents: np.ndarray, n_vertices: int = 1000) -> TriMesh:
    """Closed box of ``extents`` (m, ``[3]``) centred at the origin, ~``n_vertices`` vertices.

    Every face is a grid of near-square cells of about one size on all faces (vertices spread
    evenly over the surface); the grids share their edge vertices (welded). The vertex count is
    the achievable one closest to ``n_vertices`` (NeMo's published meshes: 1054-1132) among
    grids whose cell sides differ by at most 30 % (flat boxes: 30 % more than the most even
    grid with a count within 20 % of the target); up to 64 cells per edge.
    """
    ext = np.asarray(extents, dtype=np.float64)
    check_shape("extents", ext, (3,))
    if not np.all(np.isfinite(ext)) or np.any(ext <= 0):
        raise InputError(f"extents: expected three positive sizes (m), got {ext.tolist()}")
    if n_vertices < 8:
        raise ConfigError(f"n_vertices must be >= 8, got {n_vertices}")
    # all cell-count triples; keep those whose cell sizes differ by at most 30 % (more for very
    # flat or thin boxes, which cannot have even cells at this count); take the closest count
    n = np.arange(1, 65)
    cells = np.stack(np.meshgrid(n, n, n, indexing="ij"), -1).reshape(-1, 3)
    size = ext / cells
    aspect = size.max(1) / size.min(1)
    nx, ny, nz = (cells + 1).T
    count = nx * ny * nz - (nx - 2) * (ny - 2) * (nz - 2)
    near = np.abs(count - n_vertices) <= 0.2 * n_vertices
    ok = aspect <= 1.3 * max(1.0, aspect[near].min() if near.any() else aspect.min())
    score = np.where(ok, np.abs(count - n_vertices) + 1e-3 * aspect, np.inf)
    best = cells[np.argmin(score)]
    return _grid_box(ext, best)


def geodesic_mesh(
    level: int = 3, radius: float | None = None, extents: np.ndarray | None = None
) -> TriMesh:
    """Icosphere subdivided ``level`` times (12, 42, 162, 642, 2562 vertices for 0..4).

    ``radius`` (m) gives a sphere; ``extents`` (m, ``[3]``) an ellipsoid with these full axis
    lengths (e.g. a category's bounding box); neither gives the unit sphere.
    """
    if radius is not None and extents is not None:
        raise ConfigError("geodesic_mesh: pass radius or extents, not both")
    if not 0 <= level <= 6:
        raise ConfigError(f"level must be in 0..6, got {level}")
    mesh = icosphere(level, 1.0 if radius is None else float(radius))
    if extents is not None:
        ext = np.asarray(extents, dtype=np.float64)
        check_shape("extents", ext, (3,))
        mesh = mesh.scaled(0.5 * ext)
    return mesh


class NeuralMesh(nn.Module):
    """Vertices ``[V x 3]`` (m), faces ``[F x 3]``, features ``[V x D]``, clutter ``[M x D]``.

    Args:
        mesh: geometry in the category's canonical frame.
        dim: feature channels ``D`` (must match the encoder).
        n_clutter: size ``M`` of the clutter queue (published: 512 groups x 5 = 2560).
        seed: seed of the random unit vectors that initialise features and clutter.
    """

    def __init__(self, mesh: TriMesh, dim: int = 128, n_clutter: int = 2560, seed: int = 0):
        super().__init__()
        if dim < 1 or n_clutter < 0:
            raise ConfigError(f"need dim >= 1 and n_clutter >= 0, got {dim}, {n_clutter}")
        gen = torch.Generator().manual_seed(seed)
        features = F.normalize(torch.randn(len(mesh.vertices), dim, generator=gen), dim=1)
        clutter = F.normalize(torch.randn(n_clutter, dim, generator=gen), dim=1)
        self.register_buffer("vertices", torch.as_tensor(mesh.vertices, dtype=torch.float32))
        self.register_buffer("faces", torch.as_tensor(mesh.faces, dtype=torch.int64))
        self.register_buffer("features", features)
        self.register_buffer("clutter", clutter)
        self.register_buffer("clutter_ptr", torch.zeros((), dtype=torch.int64))

    @classmethod
    def for_category(
        cls,
        category: str,
        kind: str = "cuboid",
        dim: int = 128,
        n_vertices: int = 1000,
        level: int = 3,
        margin: float = 0.05,
        **kwargs,
    ) -> NeuralMesh:
        """Neural mesh covering ``category``'s template (``shapes.template_mesh``).

        ``kind="cuboid"``: box of the template's bbox enlarged by ``margin`` (relative) with
        ~``n_vertices``; ``kind="geodesic"``: ellipsoid through the enlarged bbox's face centres
        with icosphere ``level``; ``kind="template"``: the template itself simplified to about
        ``n_vertices`` (vertex clustering, :func:`ros_pose_estimation.cse.template.simplify_mesh`)
        and scaled by ``1 + margin`` (non-convex: visibility needs a depth test). ``kwargs`` go
        to the constructor (``n_clutter``, ``seed``).
        """
        from ros_pose_estimation.shapes import template_mesh

        template = template_mesh(category)
        extents = template.extents * (1.0 + margin)
        if kind == "cuboid":
            mesh = cuboid_mesh(extents, n_vertices)
        elif kind == "geodesic":
            mesh = geodesic_mesh(level, extents=extents)
        elif kind == "template":
            from ros_pose_estimation.cse.template import simplify_mesh

            small = simplify_mesh(template, n_vertices)
            mesh = TriMesh(small.vertices * (1.0 + margin), small.faces)
        else:
            raise ConfigError(f"kind must be 'cuboid', 'geodesic' or 'template', got {kind!r}")
        return cls(mesh, dim=dim, **kwargs)

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor]) -> NeuralMesh:
        """Rebuild a neural mesh (any sizes) from :meth:`state_dict` output."""
        keys = {"vertices", "faces", "features", "clutter", "clutter_ptr"}
        if set(state) != keys:
            raise ConfigError(
                f"neural mesh state: expected keys {sorted(keys)}, got {sorted(state)}"
            )
        mesh = TriMesh(state["vertices"].cpu().numpy(), state["faces"].cpu().numpy())
        out = cls(mesh, dim=state["features"].shape[1], n_clutter=state["clutter"].shape[0])
        out.load_state_dict(state)
        return out

    @property
    def n_vertices(self) -> int:
        return self.vertices.shape[0]

    @property
    def dim(self) -> int:
        return self.features.shape[1]

    def to_trimesh(self) -> TriMesh:
        return TriMesh(self.vertices.cpu().double().numpy(), self.faces.cpu().numpy())

    def scale(self) -> float:
        """Largest extent of the vertices' bounding box (m): the mesh scale of thresholds."""
        return float((self.vertices.amax(0) - self.vertices.amin(0)).max())

    def neighbour_mask(self, fraction: float = 0.1) -> torch.Tensor:
        """``[V x V]`` bool: vertex pairs closer than ``fraction`` x :meth:`scale` (NeMo: 0.1)."""
        from ros_pose_estimation.nemo.contrastive import neighbour_mask

        return neighbour_mask(self.vertices, fraction * self.scale())

    def vertex_normals(self) -> torch.Tensor:
        """``[V x 3]`` unit area-weighted vertex normals (outward for CCW faces)."""
        v = self.vertices[self.faces]
        n = torch.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0], dim=1)
        acc = torch.zeros_like(self.vertices).index_add_(
            0, self.faces.reshape(-1), n.repeat_interleave(3, 0)
        )
        return F.normalize(acc, dim=1)

    @torch.no_grad()
    def update_vertex_features(
        self,
        features: torch.Tensor,
        vertex_ids: torch.Tensor,
        weights: torch.Tensor | None = None,
        momentum: float = 0.9,
    ) -> torch.Tensor:
        """Momentum update (paper 000 Eq. 5) from the features observed in a batch.

        For each vertex ``k`` with observations, ``m_k`` = weighted mean of its observed
        features, and ``theta_k <- normalize(momentum * theta_k + (1 - momentum) * m_k)``.
        Vertices without observations (``o_k = 0``) keep their feature.

        Args:
            features: ``[N x D]`` observed features (detached; unit norm expected).
            vertex_ids: ``[N]`` int64 vertex of each observation.
            weights: ``[N]`` bool visibility or float weights (None: all 1).
            momentum: ``beta`` in [0, 1) (published 0.9-0.96).

        Returns:
            ``[V]`` bool, the vertices that were updated.
        """
        n = check_shape("features", features, ("N", self.dim))["N"]
        check_shape("vertex_ids", vertex_ids, (n,))
        if not 0.0 <= momentum < 1.0:
            raise ConfigError(f"momentum must be in [0, 1), got {momentum}")
        w = torch.ones(n, device=features.device) if weights is None else weights.float()
        check_shape("weights", w, (n,))
        ids = vertex_ids.long()
        if n and (int(ids.min()) < 0 or int(ids.max()) >= self.n_vertices):
            raise InputError(
                f"vertex_ids: expected values in [0, {self.n_vertices}), "
                f"got [{int(ids.min())}, {int(ids.max())}]"
            )
        total = torch.zeros(self.n_vertices, device=w.device).index_add_(0, ids, w)
        summed = torch.zeros_like(self.features).index_add_(0, ids, features.float() * w[:, None])
        seen = total > 0
        mean = summed[seen] / total[seen, None]
        self.features[seen] = F.normalize(
            momentum * self.features[seen] + (1 - momentum) * mean, dim=1
        )
        return seen

    @torch.no_grad()
    def update_clutter(self, features: torch.Tensor) -> None:
        """Push ``[K x D]`` background features into the FIFO queue (oldest overwritten)."""
        k = check_shape("features", features, ("K", self.dim))["K"]
        m = self.clutter.shape[0]
        if k == 0 or m == 0:
            return
        feats = F.normalize(features.float(), dim=1)[-m:]
        idx = (self.clutter_ptr + torch.arange(len(feats), device=feats.device)) % m
        self.clutter[idx] = feats
        self.clutter_ptr.copy_((self.clutter_ptr + len(feats)) % m)

    def _to_camera(
        self, rotation: torch.Tensor, translation: torch.Tensor,
        stretch: torch.Tensor | None = None,
    ) -> torch.Tensor:  # fmt: skip
        """``[B x V x 3]`` camera-frame vertices (m); ``stretch [B x 3]``: per-axis factors on
        the model-frame vertices (None: the mesh as it is)."""
        b = check_shape("rotation", rotation, ("B", 3, 3))["B"]
        check_shape("translation", translation, (b, 3))
        if stretch is None:
            verts = self.vertices.to(rotation)
            return torch.einsum("bij,vj->bvi", rotation, verts) + translation[:, None]
        check_shape("stretch", stretch, (b, 3))
        verts = self.vertices.to(rotation)[None] * stretch.to(rotation)[:, None]
        return torch.einsum("bij,bvj->bvi", rotation, verts) + translation[:, None]

    def project(
        self, rotation: torch.Tensor, translation: torch.Tensor, K: torch.Tensor,
        stretch: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
        """Pinhole projection of the vertices at poses ``x_c = R diag(stretch) x_m + t``.

        Args:
            rotation: ``[B x 3 x 3]`` model-to-camera rotations.
            translation: ``[B x 3]`` translations (m).
            K: ``[B x 3 x 3]`` or ``[3 x 3]`` camera matrices (pixels).
            stretch: ``[B x 3]`` per-axis factors of the model frame (a mesh fitted to each
                instance's proportions, :attr:`.model.NemoConfig.per_axis_scale`); None: 1.

        Returns:
            ``uv [B x V x 2]`` pixel coordinates (integers = pixel centres) and
            ``depth [B x V]`` camera z (m); points behind the camera get ``uv = NaN``.
        """
        cam = self._to_camera(rotation, translation, stretch)
        b = cam.shape[0]
        if K.dim() == 2:
            K = K.expand(b, 3, 3)
        check_shape("K", K, (b, 3, 3))
        depth = cam[..., 2]
        pix = torch.einsum("bij,bvj->bvi", K.to(cam), cam)
        uv = pix[..., :2] / depth[..., None]
        uv = torch.where((depth > 0)[..., None], uv, torch.full_like(uv, float("nan")))
        return uv, depth

    def facing_camera(
        self, rotation: torch.Tensor, translation: torch.Tensor,
        stretch: torch.Tensor | None = None,
    ) -> torch.Tensor:  # fmt: skip
        """``[B x V]`` bool: vertex normal points towards the camera (``stretch [B x 3]`` as in
        :meth:`project`; normals transform by its inverse).

        Exact visibility for convex meshes (cuboid, ellipsoid) up to vertices on the silhouette;
        non-convex meshes need the rendered depth test of paper 000 Eq. 4.
        """
        cam = self._to_camera(rotation, translation, stretch)
        normals = self.vertex_normals().to(rotation)
        if stretch is None:
            normals = torch.einsum("bij,vj->bvi", rotation, normals)
        else:
            normals = torch.einsum("bij,bvj->bvi", rotation, normals[None] / stretch[:, None])
        return (normals * cam).sum(-1) < 0
