"""One optimisation step over several neural meshes that share one encoder (paper 000 Eq. 7).

Every batch item belongs to one instance (``obj_id``); its features are compared with *its*
instance's mesh (Eq. 6: positives at its projected visible vertices, negatives its other
vertices away from the positive and the clutter queue), and the per-instance losses are
averaged over all observations of the batch. Background features are pushed away from the
vertices of every instance in the batch (the background term of :mod:`...nemo.contrastive`).
Vertex features follow by momentum per instance (Eq. 5) and the clutter queue is shared.

With a single mesh and every item mapped to it, this is the NeMo trainer's step (stage 2 of
:mod:`.train_views`, where merged instances' images train the anchor).
"""

from __future__ import annotations

import torch

from offline_training.nemo.train_config import TrainConfig
from offline_training.nemo.train_step import visible_vertices
from ros_pose_estimation.nemo.contrastive import (
    contrastive_loss,
    downsample_mask,
    image_to_feature_uv,
    sample_background_features,
    sample_vertex_features,
)
from ros_pose_estimation.nemo.model import NemoModel
from ros_pose_estimation.nemo.neural_mesh import NeuralMesh

__all__ = ["multi_mesh_step"]


def multi_mesh_step(
    model: NemoModel, meshes: list[NeuralMesh], mesh_index: torch.Tensor, optimizer,
    batch: dict, cfg: TrainConfig, neighbours: torch.Tensor, generator: torch.Generator,
) -> dict:  # fmt: skip
    """One step (see the module doc). ``mesh_index [B]`` int64: the mesh of each item;
    ``neighbours [V x V]``: the 3D exclusion mask of the (same-sized) meshes; the clutter queue
    is ``model.mesh.clutter``. Returns float stats (``loss``, ``loss_fg``, ``loss_bg``,
    ``accuracy``, ``n_points``, ``n_meshes``)."""
    image = batch["image"]
    K, R, t, mask = batch["K"], batch["R"], batch["t"], batch["mask_visib"]
    fmap = model.feature_net(image)
    stride = model.config.stride
    clutter = model.mesh.clutter
    observed, weighted, points, correct = [], 0.0, 0, 0.0
    groups = torch.unique(mesh_index).tolist()
    cap = max(1, cfg.max_points // len(groups)) if cfg.max_points else None
    for y in groups:
        sel = (mesh_index == y).nonzero(as_tuple=True)[0]
        mesh = meshes[y]
        uv, vis = visible_vertices(mesh, R[sel], t[sel], K[sel], mask[sel], cfg.mask_margin_px)
        feats, ids, _ = sample_vertex_features(fmap[sel], image_to_feature_uv(uv, stride), vis)
        observed.append((y, feats.detach(), ids))
        if cap is not None and len(feats) > cap:  # random subset for the loss only
            keep = torch.randperm(len(feats), generator=generator)[:cap]
            feats, ids = feats[keep], ids[keep]
        if len(feats) == 0:
            continue
        loss_y, stats_y = contrastive_loss(feats, ids, mesh.features, clutter, neighbours,
                                           temperature=cfg.temperature)  # fmt: skip
        weighted = weighted + loss_y * len(feats)
        points += len(feats)
        correct += stats_y["accuracy"] * len(feats)
    loss_fg = weighted / points if points else fmap.sum() * 0.0
    bg = sample_background_features(fmap, downsample_mask(mask, stride), cfg.bg_samples,
                                    generator)  # fmt: skip
    loss_bg = fmap.new_zeros(())
    if len(bg):
        bank = torch.cat([meshes[y].features for y, _, _ in observed])
        empty = bg.new_zeros(0, bg.shape[1])
        loss_bg, _ = contrastive_loss(empty, torch.zeros(0, dtype=torch.int64), bank, clutter,
                                      temperature=cfg.temperature, bg_feats=bg)  # fmt: skip
    loss = loss_fg + cfg.bg_weight * loss_bg
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    for y, feats, ids in observed:
        if len(feats):
            meshes[y].update_vertex_features(feats, ids, momentum=cfg.momentum)
    model.mesh.update_clutter(bg.detach())
    return {
        "loss": float(loss.detach()), "loss_fg": float(loss_fg.detach()),
        "loss_bg": float(loss_bg.detach()), "n_points": float(points),
        "accuracy": correct / points if points else float("nan"),
        "n_meshes": float(len(observed)),
    }  # fmt: skip
