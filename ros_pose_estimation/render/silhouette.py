"""Soft silhouette: a sigmoid of the signed distance to the projected contour, for mask losses.

The hard mask of :func:`rasterize` has no gradient w.r.t. where the silhouette lies. Here each
pixel near the silhouette gets ``sigmoid(+-d / sigma)``, with ``d`` the distance (px) from its
centre to the nearest *contour edge* (an edge between a front- and a back-facing face, or a
mesh boundary edge) and the sign from the hard mask (+ inside). Pixels farther than ``margin``
from every contour edge keep the hard value (0 or 1; the sigmoid is saturated there anyway).

Cheap: only contour edges are enumerated (a few per cent of all edges), over their screen boxes
grown by ``margin``; the nearest edge per pixel is resolved with one ``scatter_reduce(amin)``,
and only the winning distance is recomputed with autograd. Unlike SoftRas-style aggregation
over all faces, pixels next to an internal edge of the mesh do not dip below 1.

Limitation: for non-convex silhouettes, a contour edge *inside* the silhouette (e.g. a mug's
handle drawn over its body) also attracts nearby interior pixels, which then get values below
1 (down to 0.5 on the edge). Outside pixels are always exact.
"""

from __future__ import annotations

import torch

from ros_pose_estimation.core.errors import InputError

from .projection import check_mesh_inputs, project_vertices
from .rasterizer import Fragments, rasterize_projected
from .zbuffer import box_pixels

_INT64_MAX = torch.iinfo(torch.int64).max


def mesh_edges(faces: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Unique undirected edges ``[E x 2]`` (int64) of ``[F x 3]`` faces, and ``[F x 3]`` the edge
    index of each face's edges (v0 v1, v1 v2, v2 v0)."""
    pairs = torch.stack([faces, faces.roll(-1, 1)], -1).reshape(-1, 2)  # [3F x 2]
    pairs = torch.sort(pairs, dim=1).values
    edges, inverse = torch.unique(pairs, dim=0, return_inverse=True)
    return edges, inverse.view(-1, 3)


def _contour_edges(uv, z, edges, face_edges, faces, cull_backfaces, z_near):
    """``[B x E]`` bool: edges on the projected contour (see the module docstring)."""
    b, ne, f = uv.shape[0], edges.shape[0], faces.shape[0]
    corners = faces.t().reshape(-1)
    u = uv[..., 0].index_select(1, corners).view(b, 3, f)
    v = uv[..., 1].index_select(1, corners).view(b, 3, f)
    area = (u[:, 1] - u[:, 0]) * (v[:, 2] - v[:, 0]) - (v[:, 1] - v[:, 0]) * (u[:, 2] - u[:, 0])
    front = area < 0  # image y points down
    valid = (z.index_select(1, corners).view(b, 3, f) > z_near).all(1)  # [B x F]
    n_valid = torch.zeros(b, ne, dtype=torch.int64, device=uv.device)
    n_front = torch.zeros_like(n_valid)
    for k in range(3):
        n_valid.index_add_(1, face_edges[:, k], valid.long())
        n_front.index_add_(1, face_edges[:, k], (valid & front).long())
    n_drawn = n_front if cull_backfaces else n_valid
    edge_ok = (z.index_select(1, edges.view(-1)).view(b, -1, 2) > z_near).all(-1)
    boundary = n_valid == 1
    mixed = (n_front > 0) & (n_front < n_valid)
    return edge_ok & (n_drawn > 0) & (boundary | mixed)


def _segment_distance(px, py, ax, ay, bx, by, eps: float):
    """Distance (px) from points ``(px, py)`` to segments ``(ax, ay) - (bx, by)``, all ``[N]``."""
    abx, aby = bx - ax, by - ay
    apx, apy = px - ax, py - ay
    len2 = (abx * abx + aby * aby).clamp(min=eps)
    s = ((apx * abx + apy * aby) / len2).clamp(0.0, 1.0)
    dx, dy = apx - s * abx, apy - s * aby
    return torch.sqrt(dx * dx + dy * dy + eps)


def soft_silhouette(
    vertices: torch.Tensor, faces: torch.Tensor, K: torch.Tensor, R: torch.Tensor,
    t: torch.Tensor, image_size: tuple[int, int], *,
    sigma: float = 0.5,
    margin: float | None = None,
    fragments: Fragments | None = None,
    edges: tuple[torch.Tensor, torch.Tensor] | None = None,
    cull_backfaces: bool = False, z_near: float = 1e-3, max_fragments: int = 1 << 20,
) -> torch.Tensor:  # fmt: skip
    """``[B x H x W]`` soft silhouette in (0, 1), differentiable w.r.t. pose and vertices.

    Args:
        vertices, faces, K, R, t, image_size: as in :func:`rasterize`.
        sigma: sigmoid scale (px); 0.5 px puts 0.88 one pixel inside the contour.
        margin: pixels farther than this (px) from the contour keep the hard mask value;
            default ``6 sigma`` (sigmoid within 0.25 % of 0 / 1).
        fragments: the hard rasterisation of the same poses, if already computed.
        edges: :func:`mesh_edges` of ``faces``, if already computed (cache it per mesh).
        cull_backfaces, z_near, max_fragments: as in :func:`rasterize`.
    """
    if not sigma > 0:
        raise InputError(f"sigma: expected > 0 px, got {sigma}")
    margin = 6.0 * sigma if margin is None else float(margin)
    vertices, faces, K, R, t, (h, w) = check_mesh_inputs(vertices, faces, K, R, t, image_size)
    uv, z = project_vertices(vertices, K, R, t)
    if fragments is None:
        fragments = rasterize_projected(uv, z, faces, (h, w), cull_backfaces=cull_backfaces,
                                        z_near=z_near, max_fragments=max_fragments)  # fmt: skip
    hard = fragments.mask.to(uv.dtype)
    edge_list, face_edges = mesh_edges(faces) if edges is None else edges
    b, nv = z.shape
    eps = 1e-12 if uv.dtype == torch.float64 else 1e-8
    with torch.no_grad():
        contour = _contour_edges(
            uv.detach(), z.detach(), edge_list, face_edges, faces, cull_backfaces, z_near
        )
        be = torch.nonzero(contour.view(-1)).squeeze(1)  # b * E + e
        eb = torch.div(be, edge_list.shape[0], rounding_mode="floor")
        ends = edge_list.index_select(0, be - eb * edge_list.shape[0]) + eb[:, None] * nv
        uu, vv = uv.detach()[..., 0].reshape(-1), uv.detach()[..., 1].reshape(-1)
        ax, ay = uu.index_select(0, ends[:, 0]), vv.index_select(0, ends[:, 0])  # [C] each
        cx, cy = uu.index_select(0, ends[:, 1]), vv.index_select(0, ends[:, 1])
        x0 = (torch.minimum(ax, cx) - margin).clamp_(0.0, float(w)).ceil_().long()
        y0 = (torch.minimum(ay, cy) - margin).clamp_(0.0, float(h)).ceil_().long()
        nx = (torch.maximum(ax, cx) + margin).clamp_(-1.0, w - 1.0).floor_().long() - x0 + 1
        ny = (torch.maximum(ay, cy) + margin).clamp_(-1.0, h - 1.0).floor_().long() - y0 + 1
        base = eb * (h * w) + y0 * w + x0
        keys = torch.full((b * h * w,), _INT64_MAX, dtype=torch.int64, device=uv.device)
        for rep, du, dv in box_pixels(nx.clamp_(min=0), ny.clamp_(min=0), max_fragments):
            col = x0.index_select(0, rep).add_(du).to(uv.dtype)
            row = y0.index_select(0, rep).add_(dv).to(uv.dtype)
            ends_at = [x.index_select(0, rep) for x in (ax, ay, cx, cy)]
            dist = _segment_distance(col, row, *ends_at, eps)
            near = torch.nonzero(dist <= margin).squeeze(1)
            bits = dist.index_select(0, near).float().view(torch.int32).to(torch.int64)
            r = rep.index_select(0, near)
            pix = base.index_select(0, r) + dv.index_select(0, near) * w + du.index_select(0, near)
            keys.scatter_reduce_(0, pix, (bits << 32) | r, "amin", include_self=True)
        pix = torch.nonzero(keys != _INT64_MAX).squeeze(1)
        winner = keys[pix] & 0xFFFFFFFF
    # differentiable distance to the winning contour edge
    local = pix - torch.div(pix, h * w, rounding_mode="floor") * (h * w)
    row = torch.div(local, w, rounding_mode="floor")
    col = local - row * w
    first, second = ends[winner, 0], ends[winner, 1]
    u, v = uv[..., 0].reshape(-1), uv[..., 1].reshape(-1)
    dist = _segment_distance(
        col.to(uv.dtype), row.to(uv.dtype), u[first], v[first], u[second], v[second], eps
    )
    sign = hard.view(-1)[pix] * 2.0 - 1.0
    soft = torch.sigmoid(sign * dist / sigma)
    return hard.view(-1).index_put((pix,), soft).view(b, h, w)
