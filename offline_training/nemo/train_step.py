"""One optimisation step of the NeMo trainer and the optimizer it steps (paper 000 Eqs. 4-7,
CoKe; see :mod:`offline_training.nemo.train`).

* :func:`visible_vertices`: which mesh vertices a crop sees (facing, inside, on the mask);
* :func:`train_step`: features -> contrastive loss (+ the pose margin when
  ``pose_margin_weight`` > 0, :mod:`.pose_margin`; + paper 001's domain-consistency term on
  enhanced twins when ``domain_weight`` > 0, :mod:`.domain`) -> Adam step -> momentum update of
  the vertex features and the clutter queue;
* :func:`make_optimizer`, :func:`lr_factor`, :func:`set_learning_rate`: Adam on the feature net
  in two groups (backbone, rest) and the learning-rate schedule;
* :func:`freeze_backbone_parts`: frozen backbone stages and batch norms for fine-tuning.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from offline_training import distributed
from offline_training.nemo import domain
from offline_training.nemo.pose_margin import instance_stretch, pose_margin_loss
from offline_training.nemo.symmetric_vertices import expand_observations
from offline_training.nemo.train_config import TrainConfig
from ros_pose_estimation.core.errors import ConfigError
from ros_pose_estimation.nemo.contrastive import (
    contrastive_loss,
    downsample_mask,
    image_to_feature_uv,
    sample_background_features,
    sample_vertex_features,
)
from ros_pose_estimation.nemo.model import NemoModel
from ros_pose_estimation.nemo.neural_mesh import NeuralMesh

__all__ = [
    "freeze_backbone_parts",
    "lr_factor",
    "make_optimizer",
    "set_learning_rate",
    "train_step",
    "visible_vertices",
]


def visible_vertices(
    mesh: NeuralMesh, R: torch.Tensor, t: torch.Tensor, K: torch.Tensor, mask: torch.Tensor,
    margin_px: int = 0, occlusion: bool = False, stretch: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Projections ``uv [B x V x 2]`` (crop px) and visibility ``[B x V]`` bool of the vertices.

    Visible = faces the camera, projects inside the ``[B x S x S]`` crop and onto ``mask``
    dilated by ``margin_px`` (nearest pixel); with ``occlusion`` (a non-convex mesh) also not
    hidden by the mesh itself (the rendered depth test of paper 000 Eq. 4, at crop resolution).
    ``stretch [B x 3]``: the mesh scaled per axis to each crop's instance (a ``per_axis_scale``
    model, :func:`instance_stretch`).
    """
    uv, _ = mesh.project(R, t, K, stretch)
    visible = mesh.facing_camera(R, t, stretch)
    if occlusion:
        if stretch is not None:
            raise ConfigError("per_axis_scale needs a convex (cuboid or geodesic) mesh")
        from ros_pose_estimation.render import vertex_visibility

        visible &= vertex_visibility(mesh.vertices, mesh.faces, K, R, t, tuple(mask.shape[-2:]))
    if margin_px > 0:
        k = 2 * margin_px + 1
        mask = F.max_pool2d(mask[:, None].float(), k, 1, margin_px)[:, 0] > 0
    b, h, w = mask.shape
    pix = torch.nan_to_num(uv, nan=-1.0).round().long()
    inside = (pix[..., 0] >= 0) & (pix[..., 0] < w) & (pix[..., 1] >= 0) & (pix[..., 1] < h)
    flat = pix[..., 1].clamp(0, h - 1) * w + pix[..., 0].clamp(0, w - 1)
    on_mask = torch.gather(mask.reshape(b, -1), 1, flat)
    return uv, visible & inside & on_mask & torch.isfinite(uv).all(-1)


def train_step(model, optimizer, batch, cfg: TrainConfig, neighbours, generator,
               net=None, ctx: distributed.DistContext | None = None,
               orbits: torch.Tensor | None = None) -> dict:  # fmt: skip
    """One optimisation step on ``batch`` (see module doc); returns float stats.

    ``net``: the feature net to call (its ``DistributedDataParallel`` wrapper in a distributed
    run; default ``model.feature_net``); ``ctx``: the distributed context (mesh updates from
    every rank's features); ``orbits``: ``[K x V]`` vertex orbits under the category's
    symmetries (:mod:`.symmetric_vertices`): every observation updates its whole orbit."""
    device = next(model.parameters()).device
    image = batch["image"].to(device, non_blocking=True)
    K, R, t = (batch[k].to(device) for k in ("K", "R", "t"))
    mask = batch["mask_visib"].to(device)
    stride = model.config.stride
    # twin_fmap: None unless the domain-consistency loss is on and the batch has twins
    fmap, twin_fmap = domain.feature_maps(
        net or model.feature_net, image, batch, cfg.domain_weight
    )
    if cfg.domain_self and cfg.domain_weight > 0:  # the crops are their own twins (CC3D)
        twin_fmap, batch = fmap, {**batch, "has_twin": torch.ones(len(image), dtype=torch.bool)}
    stretch = None
    if model.config.per_axis_scale:  # the mesh fitted to each crop's instance
        if "size" not in batch:
            raise ConfigError("per_axis_scale: the training items carry no instance 'size'")
        stretch = instance_stretch(model.mesh, batch["size"].to(device), model.config.mesh_margin)
    uv, visible = visible_vertices(model.mesh, R, t, K, mask, cfg.mask_margin_px,
                                   occlusion=model.config.mesh_kind == "template",
                                   stretch=stretch)  # fmt: skip
    feats, vertex_ids, _ = sample_vertex_features(fmap, image_to_feature_uv(uv, stride), visible)
    bg = sample_background_features(fmap, downsample_mask(mask, stride), cfg.bg_samples,
                                    generator)  # fmt: skip
    sub_feats, sub_ids = feats, vertex_ids
    if cfg.max_points and len(feats) > cfg.max_points:  # random subset for the loss only
        keep = torch.randperm(len(feats), generator=generator)[: cfg.max_points].to(device)
        sub_feats, sub_ids = feats[keep], vertex_ids[keep]
    loss, stats = contrastive_loss(
        sub_feats, sub_ids, model.mesh.features, model.mesh.clutter, neighbours,
        temperature=cfg.temperature, bg_feats=bg if len(bg) else None, bg_weight=cfg.bg_weight,
    )  # fmt: skip
    if cfg.pose_margin_weight > 0:  # the truth must out-score its neighbours (.pose_margin)
        margin, margin_stats = pose_margin_loss(
            model.mesh, fmap, K, R, t, stride, model.config.category, generator,
            cfg.pose_margin_poses, cfg.pose_margin_min_deg, cfg.pose_margin_max_deg,
            cfg.pose_margin_temperature, tuple(cfg.pose_margin_turns),
            batch["size"].to(device) if "size" in batch else None,
            model.config.mesh_margin if stretch is not None else None,
            "default" if cfg.pose_margin_refine else None,
        )  # fmt: skip
        loss = loss + cfg.pose_margin_weight * margin
        stats.update(margin_stats)
    if twin_fmap is not None:  # paper 001 Eq. 5 (.domain)
        uv_feat, bank = image_to_feature_uv(uv, stride), model.mesh.features
        loss = domain.add_domain_term(loss, stats, twin_fmap, uv_feat, visible, batch, bank,
                                      cfg.domain_weight)  # fmt: skip
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    feats, vertex_ids, bg = feats.detach(), vertex_ids, bg.detach()
    if ctx is not None and ctx.enabled:  # every rank applies the same, global update
        feats, bg = distributed.all_gather_rows(feats, ctx), distributed.all_gather_rows(bg, ctx)
        vertex_ids = distributed.all_gather_rows(vertex_ids, ctx)
    if orbits is not None:  # the orbit's features stay one feature
        feats, vertex_ids = expand_observations(feats, vertex_ids, orbits)
    model.mesh.update_vertex_features(feats, vertex_ids, momentum=cfg.momentum)
    model.mesh.update_clutter(bg)  # after the loss (the queue is its negatives)
    stats["loss"] = float(loss.detach())
    return stats


def make_optimizer(model: NemoModel, cfg: TrainConfig) -> torch.optim.Optimizer:
    """Adam on the feature net (vertex features follow by momentum, not by gradients).

    Two parameter groups: the backbone at ``lr * backbone_lr_scale``, the fusion layers and head
    at ``lr``; parameters without gradients (frozen) are left out. The fused kernel is ~9x
    faster than the default on a CPU (0.04 vs 0.37 s per step for resnet18 on 2 cores); older
    torch builds without it fall back to the default.
    """
    net = model.feature_net
    backbone = {id(p) for p in net.backbone.parameters()}
    trainable = [p for p in net.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in trainable if id(p) in backbone],
         "lr": cfg.lr * cfg.backbone_lr_scale},
        {"params": [p for p in trainable if id(p) not in backbone], "lr": cfg.lr},
    ]  # fmt: skip
    groups = [{**g, "base_lr": g["lr"]} for g in groups if g["params"] and g["lr"] > 0]
    try:
        return torch.optim.Adam(groups, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)


def lr_factor(cfg: TrainConfig, step: int) -> float:
    """Multiplier of every group's base learning rate at ``step`` (0-based) under
    ``cfg.lr_schedule``."""
    if cfg.lr_schedule == "constant" or cfg.steps <= 1:
        return 1.0
    progress = min(max(step / (cfg.steps - 1), 0.0), 1.0)
    lo = cfg.min_lr_fraction
    return lo + (1.0 - lo) * 0.5 * (1.0 + float(np.cos(np.pi * progress)))


def set_learning_rate(optimizer: torch.optim.Optimizer, cfg: TrainConfig, step: int) -> None:
    """Set each parameter group's ``lr`` to its ``base_lr`` x :func:`lr_factor`."""
    factor = lr_factor(cfg, step)
    for group in optimizer.param_groups:
        group["lr"] = group["base_lr"] * factor


def freeze_backbone_parts(model: NemoModel, cfg: TrainConfig) -> None:
    """Apply ``backbone_lr_scale == 0`` (no gradient to the backbone), ``frozen_stages`` (no
    gradient and eval-mode batch norms in the stem and the first stages) and
    ``freeze_backbone_bn`` (every backbone batch norm in eval mode without gradients); call
    after every ``model.train()`` and before :func:`make_optimizer`."""
    backbone = model.feature_net.backbone
    if cfg.backbone_lr_scale == 0:
        backbone.requires_grad_(False)
    for module in backbone.early_modules(cfg.frozen_stages):
        module.requires_grad_(False)
        module.eval()
    if cfg.freeze_backbone_bn:
        for m in backbone.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.eval()
                m.requires_grad_(False)
