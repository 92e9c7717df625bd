"""Contrastive vertex / background loss of neural mesh models (paper 000 Eq. 6, CoKe).

A feature observed at a vertex's projection must be closer to that vertex's feature than to the
features of vertices far from it and to clutter (background) features:

    L_fg = mean_i -log( exp(f_i . theta_k(i) / T)
                        / sum_{l not near k(i)} exp(f_i . theta_l / T) + sum_c exp(f_i . c / T) )

(Eq. 6 sums over observations; a mean keeps the scale independent of the batch). ``T = 0.07``.
The positive vertex stays in the denominator; vertices "near" it are left out, by a 3D radius on
the mesh (:func:`neighbour_mask`, default 0.1 of the mesh scale) and/or a pixel radius between
projections in the image (:func:`pixel_neighbour_exclusion`, published 48 px).
Background features sampled outside the object are pushed away from every vertex:

    L_bg = mean_j -log( sum_c exp(b_j . c / T) / (sum_l exp(b_j . theta_l / T) + sum_c ...) )

i.e. each background feature is classified as "clutter" (any queue entry) versus any vertex.
Push the batch's background features into the clutter queue *after* computing the loss.

Coordinates: ``uv`` on the feature map are feature-pixel coordinates with integers at feature
pixel centres; :func:`image_to_feature_uv` converts from image pixels (project convention).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ros_pose_estimation.core.errors import ConfigError, InputError, check_shape


def image_to_feature_uv(uv: torch.Tensor, stride: int) -> torch.Tensor:
    """Image pixel coordinates -> feature-map coordinates of a map at ``stride``."""
    return (uv + 0.5) / stride - 0.5


def downsample_mask(mask: torch.Tensor, stride: int) -> torch.Tensor:
    """``[B x H x W]`` bool mask -> ``[B x H/s x W/s]``: True where any pixel of the cell is."""
    check_shape("mask", mask, ("B", "H", "W"))
    return F.max_pool2d(mask[:, None].float(), stride, stride, ceil_mode=True)[:, 0] > 0


def sample_vertex_features(
    feature_map: torch.Tensor, uv: torch.Tensor, visible: torch.Tensor, normalize: bool = True
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Bilinearly sample the features at visible projected vertices.

    Args:
        feature_map: ``[B x D x h x w]``.
        uv: ``[B x V x 2]`` vertex positions in feature-map pixels (u right, v down).
        visible: ``[B x V]`` bool; projections outside ``[-0.5, w - 0.5] x [-0.5, h - 0.5]``
            or non-finite are dropped as well.
        normalize: L2-normalise the sampled features (bilinear mixing shortens unit vectors).

    Returns:
        ``features [N x D]`` (differentiable w.r.t. the map), ``vertex_ids [N]`` and
        ``batch_ids [N]`` (int64) of the N kept observations.
    """
    check_shape("feature_map", feature_map, ("B", "D", "h", "w"))
    b, _, h, w = feature_map.shape
    v = check_shape("uv", uv, (b, "V", 2))["V"]
    check_shape("visible", visible, (b, v), dtype=torch.bool)
    u, y = uv[..., 0], uv[..., 1]
    inside = torch.isfinite(uv).all(-1) & (u >= -0.5) & (u <= w - 0.5)
    inside &= (y >= -0.5) & (y <= h - 0.5)
    keep = visible & inside
    size = torch.tensor([w, h], dtype=feature_map.dtype, device=uv.device)
    grid = (2.0 * torch.nan_to_num(uv.to(size)) + 1.0) / size - 1.0  # align_corners=False
    sampled = F.grid_sample(
        feature_map, grid[:, :, None], mode="bilinear", padding_mode="border", align_corners=False
    )[..., 0]  # [B x D x V]
    batch_ids, vertex_ids = keep.nonzero(as_tuple=True)
    sampled = sampled.transpose(1, 2)[batch_ids, vertex_ids]  # [N x D]
    if normalize:
        sampled = F.normalize(sampled, dim=1)
    return sampled, vertex_ids, batch_ids


def sample_background_features(
    feature_map: torch.Tensor,
    object_mask: torch.Tensor,
    n: int = 5,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """``n`` features per image drawn uniformly, without replacement, outside the object.

    ``object_mask`` is ``[B x h x w]`` bool at the feature map's resolution (see
    :func:`downsample_mask`). Returns ``[K x D]`` with ``K <= B * n`` (fewer when an image has
    fewer than ``n`` background pixels).
    """
    check_shape("feature_map", feature_map, ("B", "D", "h", "w"))
    b, d, h, w = feature_map.shape
    check_shape("object_mask", object_mask, (b, h, w), dtype=torch.bool)
    n = min(int(n), h * w)
    if n <= 0:
        return feature_map.new_zeros(0, d)
    device = feature_map.device if generator is None else generator.device
    score = torch.rand(b, h * w, generator=generator, device=device).to(feature_map.device)
    score = score.masked_fill(object_mask.reshape(b, -1), -1.0)
    top, idx = score.topk(n, dim=1)
    flat = feature_map.flatten(2).transpose(1, 2)  # [B x hw x D]
    picked = torch.gather(flat, 1, idx[..., None].expand(-1, -1, d))  # [B x n x D]
    return picked[top >= 0]


def neighbour_mask(vertices: torch.Tensor, radius: float) -> torch.Tensor:
    """``[V x V]`` bool: vertices closer than ``radius`` (m) to each other (diagonal True).

    Compute once per mesh; the default radius of NeMo is 0.1 x the mesh scale
    (:meth:`NeuralMesh.scale`).
    """
    check_shape("vertices", vertices, ("V", 3))
    if radius < 0:
        raise ConfigError(f"radius must be >= 0, got {radius}")
    return torch.cdist(vertices.double(), vertices.double()) < radius


def pixel_neighbour_exclusion(
    uv: torch.Tensor,
    vertex_ids: torch.Tensor,
    batch_ids: torch.Tensor,
    radius_px: float = 48.0,
) -> torch.Tensor:
    """``[N x V]`` bool: vertices projecting within ``radius_px`` of each observation's vertex.

    ``uv`` is ``[B x V x 2]`` in image pixels at input resolution (non-finite projections are
    never excluded); ``vertex_ids`` / ``batch_ids`` as returned by
    :func:`sample_vertex_features`.
    """
    check_shape("uv", uv, ("B", "V", 2))
    own = uv[batch_ids, vertex_ids]  # [N x 2]
    dist = torch.linalg.vector_norm(uv[batch_ids] - own[:, None], dim=-1)  # [N x V]
    return torch.nan_to_num(dist, nan=float("inf")) < radius_px


def contrastive_loss(
    point_feats: torch.Tensor,
    vertex_ids: torch.Tensor,
    vertex_feats: torch.Tensor,
    clutter: torch.Tensor,
    neighbours: torch.Tensor | None = None,
    exclude: torch.Tensor | None = None,
    temperature: float = 0.07,
    bg_feats: torch.Tensor | None = None,
    bg_weight: float = 1.0,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Foreground (Eq. 6) + background contrastive loss; see the module docstring.

    Args:
        point_feats: ``[N x D]`` features observed at projected visible vertices.
        vertex_ids: ``[N]`` int64 vertex of each observation (the positive class).
        vertex_feats: ``[V x D]`` unit vertex features (a buffer: no gradient needed).
        clutter: ``[M x D]`` clutter features (``M`` may be 0 without a background term).
        neighbours: ``[V x V]`` bool from :func:`neighbour_mask`: row ``k`` = negatives left
            out for positive ``k``.
        exclude: ``[N x V]`` bool per observation (e.g. :func:`pixel_neighbour_exclusion`);
            OR-ed with ``neighbours``. The positive itself is never excluded.
        temperature: softmax temperature ``T`` (published 0.07, i.e. kappa = 1 / T).
        bg_feats: ``[K x D]`` background features, or None for no background term.
        bg_weight: weight of the background term.

    Returns:
        ``(loss, stats)``: a scalar tensor, and floats ``loss_fg``, ``loss_bg``, ``accuracy``
        (share of observations whose best class is their own vertex), ``n_points``, ``n_bg``.
    """
    sizes = check_shape("point_feats", point_feats, ("N", "D"))
    n, d = sizes["N"], sizes["D"]
    v = check_shape("vertex_feats", vertex_feats, ("V", d))["V"]
    check_shape("vertex_ids", vertex_ids, (n,))
    m = check_shape("clutter", clutter, ("M", d))["M"]
    if temperature <= 0:
        raise ConfigError(f"temperature must be > 0, got {temperature}")
    bank = torch.cat([vertex_feats, clutter]).to(point_feats)
    ids = vertex_ids.long()
    stats = {"n_points": float(n), "n_bg": 0.0}
    if n > 0:
        logits = point_feats @ bank.T / temperature  # [N x (V + M)]
        drop = torch.zeros(n, v, dtype=torch.bool, device=logits.device)
        if neighbours is not None:
            check_shape("neighbours", neighbours, (v, v), dtype=torch.bool)
            drop |= neighbours.to(logits.device)[ids]
        if exclude is not None:
            check_shape("exclude", exclude, (n, v), dtype=torch.bool)
            drop |= exclude.to(logits.device)
        drop[torch.arange(n, device=drop.device), ids] = False
        drop = torch.cat([drop, drop.new_zeros(n, m)], dim=1)
        logits = logits.masked_fill(drop, float("-inf"))
        loss_fg = F.cross_entropy(logits, ids)
        stats["accuracy"] = float((logits.argmax(1) == ids).float().mean())
    else:
        loss_fg = point_feats.sum() * 0.0  # keeps the graph, zero gradient
        stats["accuracy"] = float("nan")
    loss = loss_fg
    stats["loss_fg"] = float(loss_fg.detach())
    stats["loss_bg"] = 0.0
    if bg_feats is not None and len(bg_feats) > 0:
        check_shape("bg_feats", bg_feats, ("K", d))
        if m == 0:
            raise InputError("clutter: the background term needs at least one clutter feature")
        logits_bg = bg_feats @ bank.T / temperature  # [K x (V + M)]
        log_p_clutter = logits_bg[:, v:].logsumexp(1) - logits_bg.logsumexp(1)
        loss_bg = -log_p_clutter.mean()
        loss = loss + bg_weight * loss_bg
        stats["loss_bg"] = float(loss_bg.detach())
        stats["n_bg"] = float(len(bg_feats))
    return loss, stats
