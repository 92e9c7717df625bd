"""Per-vertex features -> feature maps through the rasteriser (neural mesh render-and-compare).

Interpolation uses the perspective-correct barycentrics of :class:`Fragments`, so the rendered
maps are differentiable w.r.t. the pose (through the projected vertices), the vertex positions
and the vertex features. Feature maps are ``[B x D x H x W]`` (channels first, like a CNN's);
the dense ones are returned in ``torch.channels_last`` memory format (one write of the
output, no transpose copy), which every elementwise op and conv accepts; call
``.contiguous()`` if a plain ``.view`` is needed.

For scoring many pose hypotheses against one observed feature map, prefer
:func:`feature_similarity`: it never materialises the ``B x D x H x W`` rendered map (at
B = 144, D = 128, 32 x 32 that is 75 MB, written and then read once); for large batches it
reduces to one ``[V x HW]`` GEMM and three lookups per covered pixel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from ros_pose_estimation.core.errors import InputError, check_shape

from .projection import check_image_size, dtype_name
from .rasterizer import Fragments, rasterize
from .silhouette import mesh_edges, soft_silhouette
from .visibility import vertex_visibility


def _check_attributes(name: str, attributes, fragments: Fragments):
    """``[V x D]`` or ``[B x V x D]`` float tensor matching the fragments' mesh, batch, dtype."""
    num_vertices = fragments.num_vertices
    if not isinstance(attributes, torch.Tensor) or not attributes.dtype.is_floating_point:
        got = attributes.dtype if isinstance(attributes, torch.Tensor) else type(attributes)
        raise InputError(f"{name}: expected a float tensor [V x D] or [B x V x D], got {got}")
    if attributes.dim() == 2:
        check_shape(name, attributes, (num_vertices, None))
    else:
        check_shape(name, attributes, (fragments.batch_size, num_vertices, None))
    dtype = fragments.fg_bary.dtype
    if attributes.dtype != dtype:
        got = dtype_name(attributes.dtype)
        raise InputError(f"{name}: expected {dtype_name(dtype)} like the vertices, got {got}")
    return attributes


def _bag_inputs(fragments: Fragments, attributes: torch.Tensor):
    """Embedding table ``[(B *) V x D]`` and per-sample indices ``[3P]`` for embedding_bag."""
    if attributes.dim() == 2:
        return attributes, fragments.fg_vertex.reshape(-1)
    b, nv, d = attributes.shape
    idx = fragments.fg_batch[:, None] * nv + fragments.fg_vertex
    return attributes.reshape(b * nv, d), idx.reshape(-1)


def interpolate_sparse(fragments: Fragments, attributes: torch.Tensor) -> torch.Tensor:
    """Vertex attributes ``[V x D]`` or ``[B x V x D]`` at the foreground pixels -> ``[P x D]``
    (row ``p`` is pixel ``fragments.fg_index[p]``). Differentiable w.r.t. both inputs."""
    attributes = _check_attributes("attributes", attributes, fragments)
    table, idx = _bag_inputs(fragments, attributes)
    offsets = torch.arange(0, idx.numel(), 3, device=idx.device)
    return F.embedding_bag(
        idx, table, offsets, mode="sum", per_sample_weights=fragments.fg_bary.reshape(-1)
    )


def interpolate(fragments: Fragments, attributes: torch.Tensor) -> torch.Tensor:
    """Vertex attributes ``[V x D]`` or ``[B x V x D]`` -> map ``[B x D x H x W]`` (0 on the
    background), in ``channels_last`` memory format. Differentiable w.r.t. both inputs."""
    attributes = _check_attributes("attributes", attributes, fragments)
    table, idx = _bag_inputs(fragments, attributes)
    b, (h, w) = fragments.batch_size, fragments.image_size
    counts = fragments.pix_to_face.view(-1).ge(0).long().mul_(3)  # 3 samples per covered pixel
    offsets = torch.cumsum(counts, 0).sub_(counts)  # empty bags on the background
    out = F.embedding_bag(
        idx, table, offsets, mode="sum", per_sample_weights=fragments.fg_bary.reshape(-1)
    )
    return out.view(b, h, w, -1).permute(0, 3, 1, 2)


def feature_similarity(
    fragments: Fragments,
    vertex_features: torch.Tensor,
    feature_map: torch.Tensor,
    method: str = "auto",
) -> torch.Tensor:
    """Dot product of rendered and observed features at every pixel, ``[B x H x W]``.

    Equals ``(interpolate(fragments, vertex_features) * feature_map).sum(1)`` without the
    dense rendered map (0 on the background, where nothing is rendered).

    Args:
        fragments: rasterised poses (``B`` of them, ``H x W``).
        vertex_features: ``[V x D]`` or ``[B x V x D]``.
        feature_map: observed ``[D x H x W]`` (shared by all poses) or ``[B x D x H x W]``.
        method: ``"gather"``: interpolate ``[P x D]`` rendered features at the ``P`` covered
            pixels and gather the observed ones there; ``"table"`` (shared features and map
            only): one ``[V x HW]`` GEMM of vertex-pixel similarities, then 3 lookups per
            covered pixel (cheaper when ``P`` is large, i.e. many poses); ``"auto"``: table
            when ``32 P >= V H W``.
    """
    if method not in ("auto", "gather", "table"):
        raise InputError(f"method: expected 'auto', 'gather' or 'table', got {method!r}")
    b, (h, w) = fragments.batch_size, fragments.image_size
    vertex_features = _check_attributes("vertex_features", vertex_features, fragments)
    d = vertex_features.shape[-1]
    if feature_map.dim() == 3:
        check_shape("feature_map", feature_map, (d, h, w), dtype=vertex_features.dtype)
    else:
        check_shape("feature_map", feature_map, (b, d, h, w), dtype=vertex_features.dtype)
    pix = fragments.fg_index - fragments.fg_batch * (h * w)
    shared = vertex_features.dim() == 2 and feature_map.dim() == 3
    if method == "table" and not shared:
        raise InputError(
            "method 'table' needs vertex_features [V x D] and feature_map [D x H x W]"
        )
    many = 32 * fragments.fg_index.numel() >= vertex_features.shape[0] * h * w
    if method == "table" or (method == "auto" and shared and many):
        table = (vertex_features @ feature_map.reshape(d, h * w)).view(-1)
        sim = (table[fragments.fg_vertex * (h * w) + pix[:, None]] * fragments.fg_bary).sum(1)
    else:
        rendered = interpolate_sparse(fragments, vertex_features)  # [P x D]
        if feature_map.dim() == 3:
            table = feature_map.reshape(d, h * w).t().contiguous()  # [HW x D]: fast row gathers
            observed = table.index_select(0, pix)
        else:
            flat = feature_map.permute(0, 2, 3, 1).reshape(b * h * w, d)  # a view if channels_last
            observed = flat.index_select(0, fragments.fg_index)
        sim = (rendered * observed).sum(1)
    out = sim.new_zeros(b * h * w).index_put((fragments.fg_index,), sim)
    return out.view(b, h, w)


@dataclass
class RenderedFeatures:
    """Output of :func:`render_features` (``B`` poses, ``D`` channels, ``H x W`` pixels).

    Attributes:
        features: ``[B x D x H x W]`` interpolated vertex features, 0 on the background.
        mask: ``[B x H x W]`` bool, pixels covered by the mesh (hard, no gradient).
        depth: ``[B x H x W]`` depth (m), 0 on the background.
        fragments: the rasterisation, for reuse (visibility, similarity, silhouette).
    """

    features: torch.Tensor
    mask: torch.Tensor
    depth: torch.Tensor
    fragments: Fragments


def render_features(
    vertices: torch.Tensor, faces: torch.Tensor, features: torch.Tensor, K: torch.Tensor,
    R: torch.Tensor, t: torch.Tensor, image_size: tuple[int, int], **options: Any,
) -> RenderedFeatures:  # fmt: skip
    """Render per-vertex ``features`` ``[V x D]`` / ``[B x V x D]`` of the mesh ``vertices``
    ``[(B x) V x 3]`` (m), ``faces [F x 3]`` under poses ``R [B x 3 x 3]``, ``t [B x 3]`` (m)
    with ``K [(B x) 3 x 3]`` into ``H x W`` maps. ``options``: the keyword options of
    :func:`rasterize` (``cull_backfaces``, ``z_near``, ``max_fragments``)."""
    fragments = rasterize(vertices, faces, K, R, t, image_size, **options)
    maps = interpolate(fragments, features)
    return RenderedFeatures(maps, fragments.mask, fragments.depth, fragments)


class FeatureRenderer:
    """A mesh's topology and camera, bound once; renders batches of poses.

    Args:
        faces: ``[F x 3]`` integer vertex indices (CCW seen from outside).
        image_size: ``(H, W)`` of the feature maps.
        K: optional default ``[3 x 3]`` / ``[B x 3 x 3]`` camera matrix of the ``H x W`` maps
            (px); every method also takes one.
        cull_backfaces: drop back faces (exact, and faster, for closed meshes).
        z_near: faces with a vertex nearer than this (m) are dropped.
        max_fragments: work per chunk (bounds memory, see :func:`rasterize`).
    """

    def __init__(
        self,
        faces: torch.Tensor,
        image_size: tuple[int, int],
        K: torch.Tensor | None = None,
        *,
        cull_backfaces: bool = False,
        z_near: float = 1e-3,
        max_fragments: int = 1 << 20,
    ) -> None:
        self.faces = faces
        self.image_size = check_image_size(image_size)
        self.K = K
        self.options = dict(
            cull_backfaces=cull_backfaces, z_near=z_near, max_fragments=max_fragments
        )
        self._edges: tuple[torch.Tensor, torch.Tensor] | None = None

    def _K(self, K: torch.Tensor | None) -> torch.Tensor:
        K = self.K if K is None else K
        if K is None:
            raise InputError("K: expected a camera matrix (none given and no default set)")
        return K

    def rasterize(self, vertices, R, t, K=None) -> Fragments:
        """:func:`rasterize` with the bound faces, image size and options."""
        return rasterize(vertices, self.faces, self._K(K), R, t, self.image_size, **self.options)

    def render(self, vertices, features, R, t, K=None) -> RenderedFeatures:
        """:func:`render_features` with the bound faces, image size and options."""
        return render_features(
            vertices, self.faces, features, self._K(K), R, t, self.image_size, **self.options
        )

    def similarity(
        self, vertices, vertex_features, feature_map, R, t, K=None, method: str = "auto"
    ) -> torch.Tensor:
        """``[B x H x W]`` :func:`feature_similarity` of the poses against ``feature_map``."""
        fragments = self.rasterize(vertices, R, t, K)
        return feature_similarity(fragments, vertex_features, feature_map, method)

    def visibility(self, vertices, R, t, K=None, fragments=None, **kwargs) -> torch.Tensor:
        """``[B x V]`` bool :func:`vertex_visibility` (keyword options passed through)."""
        options = {k: self.options[k] for k in ("cull_backfaces", "z_near")}
        return vertex_visibility(vertices, self.faces, self._K(K), R, t, self.image_size,
                                 fragments=fragments, **options, **kwargs)  # fmt: skip

    def silhouette(self, vertices, R, t, K=None, fragments=None, sigma=0.5) -> torch.Tensor:
        """``[B x H x W]`` :func:`soft_silhouette`; the mesh's edges are computed once."""
        if self._edges is None:
            self._edges = mesh_edges(torch.as_tensor(self.faces).to(torch.int64))
        return soft_silhouette(vertices, self.faces, self._K(K), R, t, self.image_size,
                               sigma=sigma, fragments=fragments, edges=self._edges,
                               **self.options)  # fmt: skip
