"""Batched Levenberg-Marquardt refinement of render-and-compare poses.

The render-and-compare loss is, up to constants, a sum of squares: for unit rendered and
observed features ``1 - r . F = |r - F|^2 / 2``, summed over the pixels whose gain depends on
the pose (:mod:`.scoring`). Gauss-Newton therefore models it well near a minimum, and
Levenberg-Marquardt converges there in a handful of iterations where Adam, whose step is
about ``lr`` per parameter whatever the gradient, needs tens to hundreds (the published
schedule takes 300). Each iteration, for every active hypothesis at once:

1. rasterise the trial parameters ``x + dx`` and evaluate the exact loss, its gradient ``g``
   and the Gauss-Newton Hessian ``H`` (:meth:`.gauss_newton.GaussNewtonRenderCompare
   .linearise`: forward differences of the barycentrics in float64, ``3 x 3`` algebra per
   pixel, no backward pass);
2. accept where the loss fell (the hypothesis moves there, its damping ``lambda`` x 1/3, and
   ``g``, ``H`` become its linearisation), else reject (it stays, ``lambda`` x 4, the old
   linearisation is kept);
3. solve ``(H + lambda diag(H) + eps I) dx = -g`` per hypothesis (``6 x 6``), shorten ``dx``
   so that no parameter moves by more than ``max_step``, and clamp to the bounds.

Marquardt's ``diag(H)`` scaling makes the step independent of the parameters' units, so the
per-column lr multipliers of Adam (:func:`.refine.param_scale`) only matter where they are 0:
those parameters stay fixed (the distance in a ``fixed_distance`` stage, the offset when it is
not optimised). Stopping, pruning and the result are those of Adam's (:func:`.refine.refine`,
:mod:`.refine_state`; a rejected step counts as an evaluation without improvement).
The derivatives hold the pixels' faces fixed (hard rasteriser), as autograd's do for Adam.
"""

from __future__ import annotations

import torch

from ros_pose_estimation.nemo.gauss_newton import GaussNewtonRenderCompare
from ros_pose_estimation.nemo.presets import LMSchedule
from ros_pose_estimation.nemo.refine_state import RowBatch, RowProgress, with_proportion_prior

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


def lm_steps(
    objective: GaussNewtonRenderCompare,
    batch: RowBatch,
    progress: RowProgress,
    schedule: LMSchedule,
    free: torch.Tensor,
    proportion_prior: float = 0.0,
) -> None:
    """Levenberg-Marquardt on the rows of ``batch`` from ``batch.x0`` (see the module
    docstring; ``steps`` = iterations, each one exact evaluation), recording every evaluation
    in ``progress`` until the iterations run out or every row has stopped. ``free``: ``[K]``
    bool, the parameters that move; ``proportion_prior``: the weight of the log proportions'
    prior (:func:`.refine_state.with_proportion_prior`). Called by :func:`.refine.refine`."""
    n, dev, dtype = batch.n, batch.x0.device, batch.x0.dtype
    grad = torch.zeros_like(batch.x0)
    k = batch.x0.shape[1]  # 6 pose parameters (+ 2 log proportions)
    hess = torch.zeros(n, k, k, device=dev, dtype=dtype)
    damping = torch.full((n,), schedule.damping, device=dev, dtype=dtype)
    idx = torch.arange(n, device=dev)
    trial = batch.x0.clone()
    for step in range(schedule.steps + 1):

        def pose(params, index, rows=idx):
            return batch.pose(params, rows[index])

        res, g, H = objective.linearise(pose, trial[idx], batch.owner[idx])
        if proportion_prior:
            res, g, H = with_proportion_prior(res, trial[idx], proportion_prior, g, H)
        better = progress.record(step, idx, res.loss, res.confidence, trial[idx])
        sel = idx[better]
        grad[sel], hess[sel] = g[better], H[better]
        if step > 0:  # the first evaluation is the start, not a step
            damping[idx] = torch.where(
                better, (damping[idx] * _DOWN).clamp_min(_MIN_DAMPING), damping[idx] * _UP
            )
        if step == schedule.steps:
            break
        idx = progress.advance(step, idx)
        if idx.numel() == 0:
            break
        dx = solve_step(grad[idx], hess[idx], damping[idx], free, schedule.max_step)
        trial[idx] = batch.clamp(progress.best_x[idx] + dx, idx)
