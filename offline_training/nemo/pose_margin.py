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

**Turns about up** (``turns_deg``): the misses left after the search are not small rotations
but whole turns about the object's up axis (+z of the model frame): a mug's handle side, a
laptop seen front for back, a box's quarter turn. Each crop also gets, per angle ``a``, the
negative ``R_b Rz(a)``, unless that is a symmetry of the crop's instance (the box's half turn;
its quarter turn when its footprint is square within 1 %,
:func:`ros_pose_estimation.core.categories.instance_symmetries`; any turn of a body of
revolution): such pairs are left out of the mean.

**Per-axis-scaled models** (``stretch_margin``; the factors ``s [B x 3]`` of
:func:`instance_stretch`): the mesh is fitted to each crop's instance, as the contrastive term
sees it: every pose renders ``R diag(s)`` (render-and-compare takes any linear map; refinement
fits the proportions the same way). A quarter turn of a cuboid mesh keeps the instance's
extents *in the camera* (its x and y factors computed from the swapped extents): the pose a
refinement of the proportions reaches, with the truth's silhouette, which only the features can
tell apart.

**Refined turns** (``refine_preset``, :func:`refine_turns`): at run time a wrong turn is
refined before it competes, so each turn is first refined as the estimator refines a start (on
the crop's features, without gradients) and dropped if it comes back within 30 deg of the
truth. Measured on the bundled mug and box: refined wrong turns beat the refined truth on about
one calibration crop in ten, their share of misses; neither kind of turn trains that ranking
away (BENCHMARKS.md, "Turns about up as the margin's negatives").
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from offline_training.cse.losses import feature_K
from ros_pose_estimation.core.categories import get_category
from ros_pose_estimation.core.errors import ConfigError
from ros_pose_estimation.core.metrics import rotation_error_deg
from ros_pose_estimation.nemo.pose_param import rodrigues
from ros_pose_estimation.nemo.scoring import Observation, clutter_similarity, render_compare

__all__ = [
    "crop_observation",
    "instance_stretch",
    "perturb_rotations",
    "pose_margin_loss",
    "refine_poses",
    "refine_turns",
    "symmetry_axis",
    "turn_negatives",
    "turn_render_matrices",
]

_SYMMETRIC_DEG = 1.0  # a turn this close to a symmetry of the instance is not a wrong pose


def instance_stretch(mesh, size: torch.Tensor, margin: float) -> torch.Tensor:
    """``[B x 3]`` per-axis factors that turn the category's neural mesh into each instance's:
    the instance extents ``size [B x 3]`` (m) enlarged by the mesh's relative ``margin``, over
    the mesh's own extents. Every vertex then sits at the same relative place on every
    instance's cuboid (a corner on a corner, whatever the proportions)."""
    verts = mesh.vertices.to(size)
    extent = verts.amax(0) - verts.amin(0)
    return size * (1.0 + margin) / extent


def _check_sizes(size: torch.Tensor | None, stretch_margin: float | None) -> None:
    if stretch_margin is not None and size is None:
        raise ConfigError("a per-axis-scaled pose margin needs the instances' sizes")


def _rot_z(deg: float) -> torch.Tensor:
    a = math.radians(deg)
    c, s = math.cos(a), math.sin(a)
    return torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _is_quarter_turn(deg: float) -> bool:
    return abs((deg / 90.0) - round(deg / 90.0)) < 1e-6 and round(deg / 90.0) % 2 == 1


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


def turn_negatives(
    R: torch.Tensor,
    turns_deg: tuple[float, ...],
    category: str,
    size: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Turns of each label about the model's up axis, and which of them are wrong poses.

    Args:
        R: ``[B x 3 x 3]`` labels (model -> camera); turns_deg: angles about model +z (deg).
        category: whose symmetries (with the instance's own, from ``size``) a turn may be.
        size: ``[B x 3]`` instance extents (m), or None (the category's symmetries only).

    Returns:
        ``(R' [B*T x 3 x 3], angle [B*T] (deg), valid [B*T] bool)``, row ``b*T + j`` turning
        ``R[b]`` by ``turns_deg[j]``; ``valid`` is False where the turn is within 1 deg of a
        symmetry of the instance.
    """
    Rz = torch.stack([_rot_z(a) for a in turns_deg]).to(R)  # [T x 3 x 3]
    turned = (R[:, None] @ Rz[None]).reshape(-1, 3, 3)
    angle = R.new_tensor(list(turns_deg)).repeat(R.shape[0])
    owner = torch.arange(R.shape[0], device=R.device).repeat_interleave(len(turns_deg))
    valid = _errors_deg(turned, R[owner], category, size, owner) > _SYMMETRIC_DEG
    return turned, angle, valid


def _errors_deg(R_a: torch.Tensor, R_b: torch.Tensor, category: str, size: torch.Tensor | None,
                owner: torch.Tensor) -> torch.Tensor:  # fmt: skip
    """``[N]`` symmetry-aware angles (deg) between ``R_a[i]`` and ``R_b[i]`` (``[N x 3 x 3]``),
    with the symmetries of instance ``size[owner[i]]`` (``size [B x 3]``, or None)."""
    a, b = R_a.detach().double().cpu().numpy(), R_b.detach().double().cpu().numpy()
    sizes = None if size is None else size.detach().double().cpu().numpy()
    rows = owner.cpu().numpy()
    err = [rotation_error_deg(a[i], b[i], category, size=None if sizes is None else sizes[rows[i]])
           for i in range(len(a))]  # fmt: skip
    return torch.as_tensor(np.asarray(err, dtype=np.float64).reshape(-1), device=R_a.device)


def _turn_factors(mesh, size: torch.Tensor, turns_deg: tuple[float, ...],
                  stretch_margin: float) -> torch.Tensor:  # fmt: skip
    """``[B*T x 3]`` a per-axis-scaled mesh's factors for each label's turns: the instance's
    own, a quarter turn's from the swapped x and y extents (its extents kept in the camera)."""
    n = len(turns_deg)
    factors = instance_stretch(mesh, size, stretch_margin).repeat_interleave(n, 0)
    swapped = instance_stretch(mesh, size[:, [1, 0, 2]], stretch_margin).repeat_interleave(n, 0)
    quarter = torch.tensor([_is_quarter_turn(a) for a in turns_deg]).repeat(size.shape[0])
    return torch.where(quarter[:, None].to(size.device), swapped, factors)


def turn_render_matrices(
    mesh,
    R: torch.Tensor,
    turns_deg: tuple[float, ...],
    category: str,
    size: torch.Tensor | None,
    stretch_margin: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """What :func:`render_compare` renders for each label's turns (:func:`turn_negatives`):
    ``(M [B*T x 3 x 3], valid [B*T])``. ``M`` is the turned rotation, times the instance's
    per-axis factors when ``stretch_margin`` is given, a quarter turn's computed from the
    swapped x and y extents (the instance's extents kept in the camera)."""
    _check_sizes(size, stretch_margin)
    turned, _, valid = turn_negatives(R, turns_deg, category, size)
    if stretch_margin is None:
        return turned, valid
    return turned * _turn_factors(mesh, size.to(R), turns_deg, stretch_margin)[:, None], valid


@torch.no_grad()
def refine_poses(
    mesh,
    obs: Observation,
    R: torch.Tensor,
    t: torch.Tensor,
    owner: torch.Tensor,
    factors: torch.Tensor | None = None,
    preset: str = "default",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Refine ``N`` starts ``R [N x 3 x 3]``, ``t [N x 3]`` (m) on crops ``owner [N]`` of
    ``obs`` as the estimator refines (``preset``'s refinement,
    :func:`ros_pose_estimation.nemo.refine.refine`; Levenberg-Marquardt for the default).
    ``factors [N x 3]``: a per-axis-scaled mesh's factors at the start (its proportions are
    then refined too); None: the mesh as it is.

    Returns:
        ``(M [N x 3 x 3], t' [N x 3], R' [N x 3 x 3])``: what :func:`render_compare` renders
        (the rotation times the per-axis factors), where, and the refined rotation.
    """
    from ros_pose_estimation.nemo.gauss_newton import GaussNewtonRenderCompare
    from ros_pose_estimation.nemo.presets import InferenceConfig, LMSchedule
    from ros_pose_estimation.nemo.refine import (
        param_scale,
        poses_of,
        refine,
        start_params,
        stretches_of,
    )
    from ros_pose_estimation.nemo.scoring import RenderObjective

    config = InferenceConfig.named(preset)
    rows = Observation(features=obs.features[owner], clutter=obs.clutter[owner], K=obs.K[owner],
                       anchor=obs.anchor[owner], box_side=obs.box_side[owner])  # fmt: skip
    ratio = shape = None
    if factors is not None:  # the same image: the mesh's geometric mean 1, the distance scaled
        ratio = factors.prod(-1) ** (-1.0 / 3.0)
        shape = torch.log(factors[:, 1:] / factors[:, :1])
    x0 = start_params(rows, t, ratio, shape)
    schedule = config.refinement
    objective = (GaussNewtonRenderCompare(mesh, rows, config.loss)
                 if isinstance(schedule, LMSchedule) else RenderObjective(mesh, rows, config.loss))
    result = refine(objective, rows, x0[:, None], R[:, None], schedule,
                    param_scale(config, x0), proportion_prior=config.proportion_prior)  # fmt: skip
    R_ref, t_ref = poses_of(result, rows)
    R_ref, t_ref = R_ref[:, 0], t_ref[:, 0]
    M = R_ref if factors is None else R_ref * stretches_of(result)[:, 0][:, None]
    return M, t_ref, R_ref


def refine_turns(
    mesh,
    obs: Observation,
    R: torch.Tensor,
    t: torch.Tensor,
    turns_deg: tuple[float, ...],
    category: str,
    size: torch.Tensor | None,
    stretch_margin: float | None = None,
    preset: str = "default",
    min_error_deg: float = 30.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each label's turns about up, refined as the estimator refines a start: the wrong poses
    that win at run time ("Second opinions" in BENCHMARKS.md), not the turns of the truth.

    Every turn of :func:`turn_render_matrices` (a per-axis-scaled model: with its proportions
    as parameters, started from the turned extents) goes through :func:`refine_poses` on
    ``obs`` (whole crops, :func:`crop_observation`; the features are only read).

    Returns:
        ``(M [B*T x 3 x 3], t' [B*T x 3], valid [B*T])``: what :func:`render_compare` renders
        for the refined turns (the rotation times the mesh's per-axis factors) and where;
        ``valid`` is False where the turn is a symmetry of the instance or where refinement
        brought it back within ``min_error_deg`` of the truth (then it is no wrong pose).
    """
    _check_sizes(size, stretch_margin)
    turned, _, valid = turn_negatives(R, turns_deg, category, size)
    owner = torch.arange(R.shape[0], device=R.device).repeat_interleave(len(turns_deg))
    factors = (None if stretch_margin is None
               else _turn_factors(mesh, size.to(R), turns_deg, stretch_margin))  # fmt: skip
    M, t_ref, R_ref = refine_poses(mesh, obs, turned, t[owner], owner, factors, preset)
    far = _errors_deg(R_ref, R[owner], category, size, owner) > min_error_deg
    return M, t_ref, valid & far


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
    turns_deg: tuple[float, ...] = (),
    size: torch.Tensor | None = None,
    stretch_margin: float | None = None,
    refine_preset: str | None = None,
) -> tuple[torch.Tensor, dict]:
    """The module's ``L_margin`` and its stats.

    Args:
        mesh: the model's :class:`~ros_pose_estimation.nemo.neural_mesh.NeuralMesh`.
        fmap: ``[B x D x h x w]`` unit features of the crops (with gradients).
        K: ``[B x 3 x 3]`` crop intrinsics (px); R: ``[B x 3 x 3]``; t: ``[B x 3]`` (m) labels.
        stride: the feature map's stride (crop px per cell).
        category: its continuous symmetry axis (if any) is not perturbed about.
        generator: CPU generator of the perturbations.
        turns_deg: angles (deg) of the turns about model +z added per crop (module docstring).
        size: ``[B x 3]`` instance extents (m): their symmetries are not negatives, and with
            ``stretch_margin`` the mesh is fitted to them.
        stretch_margin: the mesh's relative margin for a per-axis-scaled model
            (:func:`instance_stretch`); None renders the category mesh as it is.
        refine_preset: refine each turn first with this preset's refinement
            (:func:`refine_turns`; e.g. ``"default"``), on the crop's features without
            gradients; None: the turns of the truth as they are.

    Returns:
        ``(loss, stats)``: stats ``margin_loss``, ``margin_win`` (share of pairs the truth
        already wins) and, with turns, ``margin_turn_win`` (the same over the turn pairs;
        NaN when no turn of the batch is a wrong pose), floats.
    """
    if temperature <= 0 or n_poses < 1:
        raise ConfigError(f"need temperature > 0 and n_poses >= 1, got {temperature}, {n_poses}")
    _check_sizes(size, stretch_margin)
    b = fmap.shape[0]
    R_pert, _ = perturb_rotations(R, n_poses, min_deg, max_deg, generator,
                                  symmetry_axis(category))  # fmt: skip
    stretch = None if stretch_margin is None else instance_stretch(mesh, size.to(R),
                                                                   stretch_margin)  # fmt: skip
    # render matrices: R diag(stretch) (the instance's mesh) or R
    truth_M = R if stretch is None else R * stretch[:, None, :]
    pert_M = R_pert if stretch is None else R_pert * stretch.repeat_interleave(n_poses, 0)[:, None]
    neg_M, neg_owner = [pert_M], [torch.arange(b, device=R.device).repeat_interleave(n_poses)]
    n_turn_pairs = 0
    valid = torch.ones(b * n_poses, dtype=torch.bool, device=R.device)
    neg_t = [t.repeat_interleave(n_poses, 0)]
    if turns_deg:
        turn_owner = torch.arange(b, device=R.device).repeat_interleave(len(turns_deg))
        if refine_preset is None:
            turned, turn_valid = turn_render_matrices(mesh, R, tuple(turns_deg), category, size,
                                                      stretch_margin)  # fmt: skip
            turned_t = t[turn_owner]
        else:
            still = crop_observation(fmap.detach(), K, stride, mesh.clutter.detach())
            turned, turned_t, turn_valid = refine_turns(
                mesh, still, R, t, tuple(turns_deg), category, size, stretch_margin,
                refine_preset,
            )  # fmt: skip
        neg_M.append(turned)
        neg_t.append(turned_t)
        neg_owner.append(turn_owner)
        valid = torch.cat([valid, turn_valid])
        n_turn_pairs = len(turned)
    obs = crop_observation(fmap, K, stride, mesh.clutter.detach())
    owner = torch.arange(b, device=fmap.device)
    neg_owner_t = torch.cat(neg_owner)
    poses_M = torch.cat([truth_M, *neg_M])
    poses_t = torch.cat([t, *neg_t])
    owners = torch.cat([owner, neg_owner_t])
    loss = render_compare(mesh, poses_M, poses_t, obs, owners).loss
    truth, neg = loss[:b][neg_owner_t], loss[b:]
    gap = (truth - neg) / temperature  # > 0: the wrong pose scores better
    value = F.softplus(gap[valid]).mean()
    won = (gap < 0).float()
    stats = {"margin_loss": float(value.detach()), "margin_win": float(won[valid].mean())}
    if turns_deg:
        tv = valid[-n_turn_pairs:]
        stats["margin_turn_win"] = float(won[-n_turn_pairs:][tv].mean()) if tv.any() else math.nan
    return value, stats
