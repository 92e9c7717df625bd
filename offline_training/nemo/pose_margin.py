"""Pose-margin loss: the true pose must out-score the poses next to it (issue 12).

The contrastive loss of paper 000 (Eqs. 4-7) trains each pixel's feature to pick out its own
vertex, but nothing asks that render-and-compare's loss be *lowest at the true pose*. Measured
on the bundled mug model's own training crops, 16 % of rotations 10 deg off the truth (random
axes) and 29 % of those 5 deg off score better than the truth itself
(``benchmarks/nemo_margin_probe.py``), which is why refinement started at the truth walks
~8 deg away (``benchmarks/nemo_truth_drift.py``).

This term trains that ranking directly. For each crop ``b`` with label ``(R_b, t_b)`` the
neural mesh is rendered (:func:`ros_pose_estimation.nemo.scoring.render_compare`, the ``"nemo"``
loss every preset uses, on the crop's own unit features) at the truth and at ``P`` perturbed
rotations ``R' = exp(a k^) R_b`` about the object's origin (``t`` unchanged), with unit axes
``k`` drawn uniformly and angles ``a`` log-uniform in ``[min_deg, max_deg]``:

    L_margin = mean_{b, j} softplus((L(R_b, t_b) - L(R'_bj, t_b)) / T)

``L`` is render-and-compare's loss (lower is better), so each pair costs ``log 2`` when the two
poses tie and tends to 0 as the truth wins by several ``T``. Gradients reach the feature net
through the observed features (both the cosines and the clutter similarity); the vertex
features stay momentum averages (paper 000), as in :mod:`.train_step`.

For a category with a continuous symmetry axis (bottle, can, bowl), the component of ``k`` along
that axis (in the model frame) is removed first: rotations about it are not wrong poses.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from offline_training.cse.losses import feature_K
from ros_pose_estimation.core.categories import get_category
from ros_pose_estimation.core.errors import ConfigError
from ros_pose_estimation.nemo.pose_param import rodrigues
from ros_pose_estimation.nemo.scoring import Observation, clutter_similarity, render_compare

__all__ = ["crop_observation", "perturb_rotations", "pose_margin_loss", "symmetry_axis"]


def symmetry_axis(category: str) -> torch.Tensor | None:
    """``[3]`` model-frame axis of the category's continuous symmetry, or None."""
    cat = get_category(category)
    if not cat.has_continuous_symmetry:
        return None
    return torch.as_tensor(cat.continuous_axes[0], dtype=torch.float32)


def crop_observation(fmap: torch.Tensor, K: torch.Tensor, stride: int,
                     clutter: torch.Tensor) -> Observation:  # fmt: skip
    """What :func:`render_compare` compares with for whole training crops: ``fmap [B x D x h x
    w]`` unit features, crop intrinsics ``K [B x 3 x 3]`` (px) scaled to the map
    (:func:`offline_training.cse.losses.feature_K`), the neural mesh's ``clutter [M x D]``; the
    anchor is the map's centre and the box the whole map."""
    b, _, h, w = fmap.shape
    return Observation(
        features=fmap,
        clutter=clutter_similarity(fmap, clutter.to(fmap)),
        K=feature_K(K, stride),
        anchor=fmap.new_tensor([[(w - 1) / 2.0, (h - 1) / 2.0]]).expand(b, 2),
        box_side=fmap.new_full((b,), float(max(h, w))),
    )


def perturb_rotations(
    R: torch.Tensor,
    n: int,
    min_deg: float,
    max_deg: float,
    generator: torch.Generator,
    symmetry_axis: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` perturbations of each rotation ``R [B x 3 x 3]`` (model -> camera).

    Returns ``(R' [B*n x 3 x 3], angle [B*n])`` (rad), row ``b*n + j`` perturbing ``R[b]`` by
    ``exp(a k^)`` applied in the camera frame, ``a`` log-uniform in ``[min_deg, max_deg]``.
    ``symmetry_axis`` ``[3]``: a model-frame axis of continuous symmetry whose component is
    removed from ``k`` before normalising (so no perturbation is a symmetric copy).
    """
    if not 0 < min_deg <= max_deg:
        raise ConfigError(f"need 0 < min_deg <= max_deg, got {min_deg}, {max_deg}")
    b = R.shape[0]
    Rn = R.repeat_interleave(n, 0)
    axis = torch.randn(b * n, 3, generator=generator).to(R)
    if symmetry_axis is not None:
        s = (Rn @ symmetry_axis.to(R)[:, None])[..., 0]  # the axis in the camera frame
        axis = axis - (axis * s).sum(-1, keepdim=True) * s
    axis = F.normalize(axis, dim=-1)
    u = torch.rand(b * n, generator=generator).to(R)
    lo, hi = math.log(math.radians(min_deg)), math.log(math.radians(max_deg))
    angle = torch.exp(lo + (hi - lo) * u)
    return rodrigues(axis * angle[:, None]) @ Rn, angle


def pose_margin_loss(
    mesh,
    fmap: torch.Tensor,
    K: torch.Tensor,
    R: torch.Tensor,
    t: torch.Tensor,
    stride: int,
    category: str,
    generator: torch.Generator,
    n_poses: int = 4,
    min_deg: float = 2.0,
    max_deg: float = 30.0,
    temperature: float = 0.005,
) -> tuple[torch.Tensor, dict]:
    """The module's ``L_margin`` and its stats.

    Args:
        mesh: the model's :class:`~ros_pose_estimation.nemo.neural_mesh.NeuralMesh`.
        fmap: ``[B x D x h x w]`` unit features of the crops (with gradients).
        K: ``[B x 3 x 3]`` crop intrinsics (px); R: ``[B x 3 x 3]``; t: ``[B x 3]`` (m) labels.
        stride: the feature map's stride (crop px per cell).
        category: its continuous symmetry axis (if any) is not perturbed about.
        generator: CPU generator of the perturbations.

    Returns:
        ``(loss, stats)``: stats ``margin_loss`` and ``margin_win`` (share of pairs the truth
        already wins), floats.
    """
    if temperature <= 0 or n_poses < 1:
        raise ConfigError(f"need temperature > 0 and n_poses >= 1, got {temperature}, {n_poses}")
    b = fmap.shape[0]
    R_pert, _ = perturb_rotations(R, n_poses, min_deg, max_deg, generator,
                                  symmetry_axis(category))  # fmt: skip
    obs = crop_observation(fmap, K, stride, mesh.clutter.detach())
    owner = torch.arange(b, device=fmap.device)
    poses_R = torch.cat([R, R_pert])
    poses_t = torch.cat([t, t.repeat_interleave(n_poses, 0)])
    owners = torch.cat([owner, owner.repeat_interleave(n_poses)])
    loss = render_compare(mesh, poses_R, poses_t, obs, owners).loss
    truth, pert = loss[:b].repeat_interleave(n_poses), loss[b:]
    gap = (truth - pert) / temperature  # > 0: the perturbed pose scores better
    value = F.softplus(gap).mean()
    stats = {"margin_loss": float(value.detach()), "margin_win": float((gap < 0).float().mean())}
    return value, stats
