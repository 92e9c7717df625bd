"""The losses of one CSE training step (paper 003; see :mod:`offline_training.cse.train`).

:func:`compute_losses`: ``B`` two-frame items -> ``2B`` crops through the model (plus ``B``
rotated copies of the first frames for the auxiliary cycle) -> Eq. 1 correspondences on each
crop's object cells (:func:`gather_cells`) -> every loss term of :mod:`.losses`, weighted by
the config's ``weights``; the cross-instance cycle pairs first frames of different sequences
through a frozen DINO ViT when :class:`StepContext` holds one.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

from offline_training.cse import losses as L
from offline_training.cse.hungarian_labels import c2f_losses
from offline_training.cse.instance_pairs import instance_pairs, partner_index, patch_masks
from offline_training.cse.shape_memory import memory_losses
from ros_pose_estimation.cse.correspondence import (
    Correspondence,
    cell_centres,
    correspondences,
    pixel_embeddings,
)
from ros_pose_estimation.cse.model import CseModel
from ros_pose_estimation.render import mesh_edges

if TYPE_CHECKING:
    from offline_training.cse.train import CseTrainConfig

__all__ = ["StepContext", "compute_losses", "gather_cells"]


class StepContext:
    """Per-model constants of the loss (mesh edges, symmetry maps, cell grid) and the frozen
    DINO ViT of the cross-instance cycle (None: that term is off)."""

    def __init__(self, model: CseModel, dino: torch.nn.Module | None = None,
                 net: torch.nn.Module | None = None,
                 memory: torch.nn.Module | None = None) -> None:  # fmt: skip
        self.dino = dino
        self.net = net or model  # the module the step calls (under torchrun: its DDP wrapper)
        self.memory = memory  # paper 004 part-level shape memory (.shape_memory) or None
        self.edges = mesh_edges(model.faces)
        self.unique_edges = self.edges[0]
        self.symmetry = L.symmetry_transforms(model.category)
        n = model.config.feature_size
        self.xy = cell_centres(n, n, model.config.stride, model.template.device)


def gather_cells(cells: torch.Tensor):
    """Object cells of each crop, padded: ``index [B x P']`` (row-major cell ids, padding
    repeats a valid one), ``valid [B x P']`` bool and ``where [B x n*n]`` (position of a cell in
    ``index``, -1 if absent). Training works on these only (about half the grid)."""
    b, p = cells.shape
    count = cells.sum(1)
    width = int(count.max())
    order = torch.argsort((~cells).to(torch.int8), dim=1, stable=True)[:, :width]
    dev = cells.device
    valid = torch.arange(width, device=dev)[None] < count[:, None]
    index = torch.where(valid, order, order[:, :1])
    where = torch.full((b, p), -1, dtype=torch.long, device=dev)
    rows = torch.arange(b, device=dev)[:, None].expand(b, width)
    where[rows[valid], index[valid]] = torch.arange(width, device=dev).expand(b, width)[valid]
    return index, valid, where


def compute_losses(model: CseModel, batch: dict, cfg: CseTrainConfig, ctx: StepContext, gen):
    """All loss terms of one batch: ``(total, {term: float})``."""
    mc = model.config
    S, stride, n = mc.crop_size, mc.stride, mc.feature_size
    b = batch["image"].shape[0]
    image = batch["image"].flatten(0, 1)  # [2B x 3 x S x S]: a0, b0, a1, b1, ...
    depth, mask, K = (batch[k].flatten(0, 1) for k in ("depth", "mask", "K"))
    angles = None
    if cfg.aux_rotation:
        angles = ((torch.rand(b, generator=gen) * 2 - 1) * math.pi).to(image.device)  # CPU gen
        rot_img, rot_mask, rot_depth = L.rotate_crops(image[0::2], mask[0::2], depth[0::2], angles)
        image, mask = torch.cat([image, rot_img]), torch.cat([mask, rot_mask])
        depth, K = torch.cat([depth, rot_depth]), torch.cat([K, K[0::2]])
    out = ctx.net(image, K)
    frac, cell_depth, colours = L.cell_observations(mask, depth, image, stride)
    cells = frac.flatten(1) >= 0.5
    empty = ~cells.any(1)
    cells = cells | empty[:, None]  # an empty crop keeps a valid softmax; its terms are masked
    index, valid_px, where = gather_cells(cells)
    feats = torch.gather(
        pixel_embeddings(out.features), 1, index[..., None].expand(-1, -1, mc.dim)
    )
    corr = correspondences(feats, out.embeddings, valid_px, mc.tau)
    xy = ctx.xy[index]  # [N x P' x 2] crop px of the gathered cells
    Kf = L.feature_K(K, stride)
    diam = model.diameter
    terms = {}
    # a per_axis_scale model's template is the instance only up to a stretch per axis, so the
    # terms that render or project the template at the predicted pose are left out for it
    metric = not mc.per_axis_scale
    visible = None
    if metric:
        terms["cycle_2d3d"] = L.cycle_2d3d(corr, out.vertices, out.R, out.t, K, xy, S)
        visible = L.visible_vertices(out.vertices, model.faces, Kf, out.R, out.t, n)
        terms["cycle_3d2d"] = L.cycle_3d2d(
            corr, out.vertices, out.R, out.t, K, xy, cell_depth, visible, stride, diam
        )
        px_colours = torch.gather(
            colours.flatten(2).transpose(1, 2), 1, index[..., None].expand(-1, -1, 3)
        )
        terms.update(L.reconstruction(
            model.faces, out.vertices, out.R, out.t, Kf, frac, cell_depth, colours, px_colours,
            corr, diam, ctx.edges,
        ))  # fmt: skip
        terms["deform"] = L.deformation_loss(out.offsets, diam)
        terms["laplacian"] = L.laplacian_loss(out.offsets, ctx.unique_edges, diam)
        terms["symmetry"] = L.symmetry_loss(out.vertices, ctx.symmetry, diam)
    idx = torch.arange(2 * b)
    src, tgt = _select(corr, idx[0::2]), _select(corr, idx[1::2])
    src_pos = torch.gather(where[0::2][:b], 1, batch["pair_cell"])
    valid = batch["pair_valid"] & (src_pos >= 0)
    valid &= ~empty[0 : 2 * b : 2, None] & ~empty[1 : 2 * b : 2, None]
    terms["time"] = L.transfer_cycle(
        src, tgt, src_pos.clamp(min=0), batch["pair_uv"], valid, xy[1 : 2 * b : 2], S
    )
    extra = {}
    if ctx.dino is not None:
        a = slice(0, 2 * b, 2)
        terms["inst"], extra["inst_pairs"] = _cross_instance(
            ctx.dino, batch, image[a], mask[a], corr, where[a], empty[a], xy[a], cfg, mc
        )
    if angles is not None:
        k = cfg.n_pairs
        pick = torch.multinomial(src.mask.float().cpu(), k, replacement=True, generator=gen)
        pick = pick.to(image.device)  # drawn with the CPU generator ``gen``
        uv = L.rotate_points(torch.gather(xy[0 : 2 * b : 2], 1, pick[..., None].expand(-1, -1, 2)),
                             angles, S)  # fmt: skip
        rot_ids = 2 * b + torch.arange(b)
        rot = _select(corr, rot_ids)
        inside = ((uv >= 0) & (uv <= S - 1)).all(-1) & ~empty[0 : 2 * b : 2, None]
        terms["aux"] = L.transfer_cycle(src, rot, pick, uv, inside, xy[rot_ids], S)
    if cfg.supervised:
        R_gt, t_gt = batch["R"].flatten(0, 1), batch["t"].flatten(0, 1)
        m = 2 * b
        z = torch.gather(cell_depth.flatten(1)[:m], 1, index[:m])
        labelled = _select(corr, idx)
        stretch = None if metric else model.axis_stretch(batch["size"].flatten(0, 1))
        terms["supervised"] = L.supervised_loss(
            labelled, out.vertices[:m], out.R[:m], out.t[:m], K[:m], xy[:m], z, R_gt,
            t_gt, mc.category, diam, stretch,
        )  # fmt: skip
        if cfg.weights.get("supervised_ce", 0.0):
            terms["supervised_ce"] = L.nearest_vertex_ce(
                labelled, out.vertices[:m], K[:m], xy[:m], z, R_gt, t_gt, mc.category, stretch
            )
    if "labelled" in batch:  # pose-train's depth + TF pseudo-labels, on some tracks only
        terms["pseudo"] = _pseudo_term(batch, corr, out, K, xy, cell_depth, index, mc, diam)
    if cfg.weights.get("gravity", 0.0):
        terms["gravity"] = L.gravity_prior(out.R[: 2 * b], batch["up"].flatten(0, 1))
    if ctx.memory is not None and metric:  # paper 004 shape memory (.shape_memory)
        terms.update(memory_losses(ctx.memory, model, out, frac, K, xy, cell_depth, index,
                                   valid_px & ~empty[:, None], visible))  # fmt: skip
    if cfg.weights.get("c2f_coarse", 0.0) or cfg.weights.get("c2f_fine", 0.0):  # paper 004
        terms.update(c2f_losses(out.features, frac, out.embeddings, cfg.c2f_pool, mc.tau))
    total = sum(cfg.weights.get(k, 0.0) * v for k, v in terms.items())
    stats = {k: float(v.detach()) for k, v in terms.items()}
    stats["loss"] = float(total.detach())
    stats.update(extra)
    return total, stats


def _pseudo_term(batch, corr, out, K, xy, cell_depth, index, mc, diam) -> torch.Tensor:
    """:func:`~.losses.supervised_loss` on the crops (of the ``2B`` frames) whose track has a
    pseudo-label (``batch["labelled"] [B x 2]``); 0 when none has."""
    sel = torch.nonzero(batch["labelled"].flatten()).flatten()
    if len(sel) == 0:
        return torch.zeros((), device=out.R.device)
    R_gt, t_gt = batch["R"].flatten(0, 1)[sel], batch["t"].flatten(0, 1)[sel]
    z = torch.gather(cell_depth.flatten(1)[sel], 1, index[sel])
    return L.supervised_loss(
        _select(corr, sel), out.vertices[sel], out.R[sel], out.t[sel], K[sel], xy[sel], z, R_gt,
        t_gt, mc.category, diam,
    )  # fmt: skip


def _cross_instance(dino, batch, images, masks, corr, where, empty, xy, cfg, mc):
    """``L_inst`` between first frames: item ``i`` -> the next item of another sequence
    (``batch["sequence"]``; without it every item counts as its own sequence). ``images``,
    ``masks``, ``where``, ``empty``, ``xy``: those of the ``B`` first frames (crops ``0, 2,
    ...``). Returns the loss and the mean number of valid pairs per crop pair."""
    b = images.shape[0]
    seq = batch.get("sequence")
    partner = partner_index(torch.arange(b, device=images.device) if seq is None
                            else seq.reshape(b))  # fmt: skip
    j = partner.clamp(min=0)
    grid = cfg.instance_grid or mc.feature_size
    with torch.no_grad():
        desc = dino.descriptors(images, grid)
        pm = patch_masks(masks, grid)
        pairs = instance_pairs(desc, pm, desc[j], pm[j], cfg.n_pairs, mc.crop_size, mc.stride)
    src_pos = torch.gather(where, 1, pairs.cells)
    valid = pairs.valid & (src_pos >= 0) & (partner >= 0)[:, None]
    valid &= ~empty[:, None] & ~empty[j, None]
    ids = 2 * torch.arange(b, device=images.device)
    loss = L.transfer_cycle(_select(corr, ids), _select(corr, ids[j]), src_pos.clamp(min=0),
                            pairs.uv, valid, xy[j], mc.crop_size)  # fmt: skip
    return loss, float(valid.sum(1).float().mean())


def _select(corr: Correspondence, index: torch.Tensor) -> Correspondence:
    """The correspondences of crops ``index``."""
    return Correspondence(corr.w2d3d[index], corr.w3d2d[index], corr.mask[index])
