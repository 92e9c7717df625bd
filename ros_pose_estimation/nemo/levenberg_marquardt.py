"""Batched Levenberg-Marquardt refinement of render-and-compare poses.

The render-and-compare loss is, up to constants, a sum of squares: for unit rendered and
observed features ``1 - r . F = |r - F|^2 / 2``, summed over the pixels whose gain depends on
the pose (:mod:`.scoring`). Gauss-Newton therefore models it well near a minimum, and
Levenberg-Marquardt converges there in a handful of iterations where Adam, whose step is
about ``lr`` per parameter whatever the gradient, needs tens to hundreds (the published
schedule takes 300). Each iteration, for every active hypothesis at once:

1. rasterise the trial parameters ``x + dx`` and evaluate the exact loss, its gradient ``g``
   and the Gauss-Newton Hessian ``H`` (:meth:`.fixed_compare.CachedRenderObjective
   .normal_equations`: forward-mode derivatives of the barycentrics, ``3 x 3`` algebra per
   pixel, no backward pass);
2. accept where the loss fell (the hypothesis moves there, its damping ``lambda`` x 1/3, and
   ``g``, ``H`` become its linearisation), else reject (it stays, ``lambda`` x 4, the old
   linearisation is kept);
3. solve ``(H + lambda diag(H) + eps I) dx = -g`` per hypothesis (``6 x 6``), shorten ``dx``
   so that no parameter moves by more than ``max_step``, and clamp to the bounds.

Marquardt's ``diag(H)`` scaling makes the step independent of the parameters' units, so the
per-column lr multipliers of Adam (:func:`.refine.param_scale`) only matter where they are 0:
those parameters stay fixed (the distance in a ``fixed_distance`` stage, the offset when it is
not optimised). Stopping and pruning follow :func:`.refine.refine` (a rejected step counts as
an evaluation without improvement), and so does the result (:class:`.refine.RefineResult`).
The derivatives hold the pixels' faces fixed (hard rasteriser), as autograd's do for Adam.
"""

from __future__ import annotations

import math

import torch

from ros_pose_estimation.core.errors import InputError, check_shape
from ros_pose_estimation.nemo.fixed_compare import CachedRenderObjective
from ros_pose_estimation.nemo.pose_param import LOG_D, N_PARAMS, OFFSET, compose_pose
from ros_pose_estimation.nemo.presets import Schedule
from ros_pose_estimation.nemo.refine import RefineResult
from ros_pose_estimation.nemo.scoring import Observation

_UP, _DOWN = 4.0, 1.0 / 3.0  # damping after a rejected / accepted step
_MIN_DAMPING = 1e-6
_RIDGE = 1e-9  # added to H's diagonal: a parameter no pixel depends on does not move


def solve_step(
    g: torch.Tensor, H: torch.Tensor, damping: torch.Tensor, free: torch.Tensor, max_step: float
) -> torch.Tensor:
    """``[N x K]`` damped Gauss-Newton steps ``-(H + lambda diag(H) + eps I)^-1 g``.

    Args:
        g: ``[N x K]`` gradients; H: ``[N x K x K]`` Gauss-Newton Hessians (PSD).
        damping: ``[N]`` ``lambda`` per row; free: ``[K]`` bool, the parameters that move
            (the others get a zero step).
        max_step: the largest ``|dx_j|`` of a row; longer steps are scaled down to it.
    """
    mask = free.to(g)
    outer = mask[:, None] * mask[None, :]
    diag = torch.diagonal(H, dim1=1, dim2=2)
    scale = diag.abs().amax(1, keepdim=True).clamp_min(1.0) * _RIDGE
    system = H * outer + torch.diag_embed(damping[:, None] * diag * mask + scale * mask)
    system = system + torch.diag_embed((1.0 - mask).expand_as(g))
    step = -torch.linalg.solve(system, (g * mask)[:, :, None]).squeeze(2)
    longest = step.abs().amax(1, keepdim=True)
    return step * (max_step / longest.clamp_min(1e-12)).clamp(max=1.0)


def refine_lm(
    objective: CachedRenderObjective,
    obs: Observation,
    x0: torch.Tensor,
    base_rotation: torch.Tensor,
    schedule: Schedule,
    scale: torch.Tensor,
    max_offset: float = math.inf,
) -> RefineResult:
    """Refine ``k`` hypotheses of each of the ``B`` detections of ``obs`` in one batch by
    Levenberg-Marquardt (see the module docstring); arguments as :func:`.refine.refine`
    (``schedule.method`` is not checked here; ``steps`` = iterations, each one exact
    evaluation; ``scale`` only marks fixed parameters, its zeros).
    """
    sizes = check_shape("x0", x0, ("B", "k", N_PARAMS))
    b, k = sizes["B"], sizes["k"]
    if b != len(obs):
        raise InputError(f"x0: expected {len(obs)} detections like obs, got {b}")
    check_shape("base_rotation", base_rotation, (b, k, 3, 3))
    check_shape("scale", scale, (N_PARAMS,))
    n = b * k
    dev, dtype = x0.device, x0.dtype
    best_x = x0.detach().reshape(n, N_PARAMS).clone()
    r0 = base_rotation.detach().reshape(n, 3, 3).to(best_x)
    owner = torch.arange(b, device=dev).repeat_interleave(k)
    K_all, anchor_all = obs.K.to(best_x)[owner], obs.anchor.to(best_x)[owner]
    unit_all = obs.offset_unit.to(best_x)[owner]
    lo = torch.full_like(best_x, -math.inf)
    hi = torch.full_like(best_x, math.inf)
    lo[:, OFFSET], hi[:, OFFSET] = -max_offset, max_offset
    if obs.log_d_range is not None:
        lo[:, LOG_D], hi[:, LOG_D] = obs.log_d_range.to(best_x)[owner].unbind(-1)
    free = scale.to(dev) != 0
    if schedule.fixed_distance:
        free[LOG_D] = False
    best_loss = torch.full((n,), math.inf, device=dev, dtype=dtype)
    best_conf = torch.zeros(n, device=dev, dtype=dtype)
    grad = torch.zeros_like(best_x)
    hess = torch.zeros(n, N_PARAMS, N_PARAMS, device=dev, dtype=dtype)
    damping = torch.full((n,), schedule.damping, device=dev, dtype=dtype)
    calm = torch.zeros(n, dtype=torch.long, device=dev)
    taken = torch.zeros(n, dtype=torch.long, device=dev)
    active = torch.ones(n, dtype=torch.bool, device=dev)
    history = torch.full((schedule.steps + 1, n), math.nan, device=dev, dtype=dtype)
    idx = torch.arange(n, device=dev)
    trial = best_x.clone()
    for step in range(schedule.steps + 1):

        def pose(params, index, rows=idx):
            rows = rows[index]
            parts = (r0[rows], K_all[rows], anchor_all[rows], unit_all[rows])
            return compose_pose(params, *(part.to(params) for part in parts))

        res, g, H = objective.normal_equations(pose, trial[idx], owner[idx])
        loss = res.loss
        history[step, idx] = loss
        gain = best_loss[idx] - loss  # > 0: improvement (inf at the first evaluation)
        calm[idx] = torch.where(gain > schedule.tol, 0, calm[idx] + 1)
        better = gain > 0
        sel = idx[better]
        best_loss[sel], best_x[sel] = loss[better], trial[sel]
        best_conf[sel] = res.confidence[better]
        grad[sel], hess[sel] = g[better], H[better]
        if step > 0:  # the first evaluation is the start, not a step
            damping[idx] = torch.where(
                better, (damping[idx] * _DOWN).clamp_min(_MIN_DAMPING), damping[idx] * _UP
            )
        if step == schedule.steps:
            break
        taken[idx] += 1
        if schedule.early_stop:
            active &= ~((calm >= schedule.patience) & (taken >= schedule.min_steps))
        if schedule.prune_after and step + 1 == schedule.prune_after and k > 1:
            det_best = best_loss.view(b, k).amin(1)
            active &= best_loss <= det_best[owner] + schedule.prune_margin
        idx = active.nonzero().squeeze(1)
        if idx.numel() == 0:
            break
        dx = solve_step(grad[idx], hess[idx], damping[idx], free, schedule.max_step)
        trial[idx] = torch.maximum(torch.minimum(best_x[idx] + dx, hi[idx]), lo[idx])
    return RefineResult(
        x=best_x.view(b, k, N_PARAMS),
        base_rotation=r0.view(b, k, 3, 3),
        loss=best_loss.view(b, k),
        confidence=best_conf.view(b, k),
        steps=taken.view(b, k),
        converged=(calm >= schedule.patience).view(b, k),
        history=history.view(-1, b, k),
    )
