"""Batched pose refinement: Adam on every hypothesis of every detection at once.

All ``B x k`` hypotheses (``k`` per detection) are one batch: each step evaluates the active
ones together with an objective (render-and-compare, :class:`.scoring.RenderObjective`, or the
score-map approximation, :class:`.scoring.ScoreMapObjective`), back-propagates the sum of their
losses (each depends on its own row only, so these are ``B x k`` independent optimisations)
and applies Adam row-wise. Adam is written out here (a few tensor ops) so that rows can stop
on their own:

* early stopping (``schedule.early_stop``): a row stops once its best loss has not improved
  by more than ``tol`` for ``patience`` consecutive evaluations, after ``min_steps`` (robust
  to Adam's oscillations, unlike a test on the change between two steps);
* pruning (``schedule.prune_after``): after that many steps, rows whose best loss is worse
  than their detection's best by more than ``prune_margin`` stop;

stopped rows are no longer evaluated, so the batch shrinks as the search settles. An objective
may return approximate values (``CompareResult.exact`` False, a stale cached rasterisation):
they give the step's gradient but are not used to rank, stop or prune. Each row keeps
the best parameters it has seen (Adam is noisy, with betas (0.4, 0.6) especially); a
detection's result is its row with the lowest loss. The learning rate follows
:meth:`.presets.Schedule.learning_rate`, times a per-column multiplier ``param_scale``
(:func:`param_scale`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ros_pose_estimation.core.errors import InputError, check_shape
from ros_pose_estimation.nemo.pose_param import LOG_D, N_PARAMS, OFFSET, compose_pose
from ros_pose_estimation.nemo.presets import InferenceConfig, Schedule
from ros_pose_estimation.nemo.scoring import CompareResult, Observation

_ADAM_EPS = 1e-8

#: ``objective(R [N x 3 x 3], t [N x 3], owner [N], rows [N]) -> CompareResult`` (differentiable
#: loss); ``rows`` are the poses' indices in the batch (``B * k`` rows; the active ones are
#: evaluated, in increasing order), for objectives that keep state per row
#: (:class:`.fixed_compare.CachedRenderObjective`).
Objective = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], CompareResult]


@dataclass
class RefineResult:
    """Every hypothesis after a stage (``B`` detections x ``k`` hypotheses).

    Attributes:
        x: ``[B x k x 6]`` best parameters of each hypothesis; base_rotation ``[B x k x 3 x 3]``.
        loss: ``[B x k]`` their loss; confidence: ``[B x k]`` their confidence in [0, 1].
        steps: ``[B x k]`` int optimiser steps taken.
        converged: ``[B x k]`` bool, the loss settled (best loss not improved by more than
            ``tol`` for ``patience`` evaluations), whether or not the row stopped.
        history: ``[steps + 1 x B x k]`` loss at each evaluation (NaN once a row stopped).
    """

    x: torch.Tensor
    base_rotation: torch.Tensor
    loss: torch.Tensor
    confidence: torch.Tensor
    steps: torch.Tensor
    converged: torch.Tensor
    history: torch.Tensor

    @property
    def best(self) -> torch.Tensor:
        """``[B]`` index of each detection's lowest-loss hypothesis."""
        return self.loss.argmin(1)

    def take(self, index: torch.Tensor) -> RefineResult:
        """The hypotheses ``index [B x k']`` of each detection (history dropped)."""

        def pick(a):
            shape = index.shape + a.shape[2:]
            flat = index.reshape(index.shape + (1,) * (a.dim() - 2)).expand(shape)
            return torch.gather(a, 1, flat)

        return RefineResult(
            pick(self.x), pick(self.base_rotation), pick(self.loss), pick(self.confidence),
            pick(self.steps), pick(self.converged), self.history[:0],
        )  # fmt: skip


def param_scale(config: InferenceConfig, like: torch.Tensor) -> torch.Tensor:
    """``[6]`` lr multipliers: 1 (rotation), ``lr_scale_distance`` (log d),
    ``lr_scale_offset`` (offset; 0 when ``optimise_offset`` is off)."""
    scale = torch.ones(N_PARAMS, device=like.device, dtype=like.dtype)
    scale[LOG_D] = config.lr_scale_distance
    scale[OFFSET] = config.lr_scale_offset if config.optimise_offset else 0.0
    return scale


def refine(
    objective: Objective,
    obs: Observation,
    x0: torch.Tensor,
    base_rotation: torch.Tensor,
    schedule: Schedule,
    scale: torch.Tensor,
    max_offset: float = math.inf,
) -> RefineResult:
    """Refine ``k`` hypotheses of each of the ``B`` detections of ``obs`` in one batch.

    Args:
        objective: loss of poses in the feature maps' cameras (see :data:`Objective`).
        obs: observations (feature-map cameras and anchors), :class:`.scoring.Observation`.
        x0: ``[B x k x 6]`` initial parameters (:mod:`.pose_param`).
        base_rotation: ``[B x k x 3 x 3]`` their base rotations ``R0``.
        schedule: steps, learning rate, stopping rules.
        scale: ``[6]`` per-column lr multipliers (:func:`param_scale`).
        max_offset: bound of each offset component (units of half the box side); ``log d``
            is kept within ``obs.log_d_range`` when given. Keeps hopeless hypotheses (and
            untrained models) from drifting off to absurd translations.
    """
    sizes = check_shape("x0", x0, ("B", "k", N_PARAMS))
    b, k = sizes["B"], sizes["k"]
    if b != len(obs):
        raise InputError(f"x0: expected {len(obs)} detections like obs, got {b}")
    check_shape("base_rotation", base_rotation, (b, k, 3, 3))
    check_shape("scale", scale, (N_PARAMS,))
    n = b * k
    dev, dtype = x0.device, x0.dtype
    x = x0.detach().reshape(n, N_PARAMS).clone()
    r0 = base_rotation.detach().reshape(n, 3, 3).to(x)
    owner = torch.arange(b, device=dev).repeat_interleave(k)
    K_all, anchor_all = obs.K.to(x)[owner], obs.anchor.to(x)[owner]
    unit_all = obs.offset_unit.to(x)[owner]
    lo = torch.full_like(x, -math.inf)
    hi = torch.full_like(x, math.inf)
    lo[:, OFFSET], hi[:, OFFSET] = -max_offset, max_offset
    if obs.log_d_range is not None:
        lo[:, LOG_D], hi[:, LOG_D] = obs.log_d_range.to(x)[owner].unbind(-1)
    scale = scale.to(x).clone()
    if schedule.fixed_distance:
        scale[LOG_D] = 0.0
    m1, m2 = torch.zeros_like(x), torch.zeros_like(x)
    best_x, best_loss = x.clone(), torch.full((n,), math.inf, device=dev, dtype=dtype)
    best_conf = torch.zeros(n, device=dev, dtype=dtype)
    calm = torch.zeros(n, dtype=torch.long, device=dev)
    taken = torch.zeros(n, dtype=torch.long, device=dev)
    active = torch.ones(n, dtype=torch.bool, device=dev)
    history = torch.full((schedule.steps + 1, n), math.nan, device=dev, dtype=dtype)
    beta1, beta2 = schedule.betas
    idx = torch.arange(n, device=dev)
    for step in range(schedule.steps + 1):
        last = step == schedule.steps
        xa = x[idx].requires_grad_(not last)
        with torch.set_grad_enabled(not last):
            R, t = compose_pose(xa, r0[idx], K_all[idx], anchor_all[idx], unit_all[idx])
            res = objective(R, t, owner[idx], idx)
        loss = res.loss.detach()
        history[step, idx] = loss
        if res.exact:  # else an approximation: a gradient, nothing to rank or stop on
            gain = best_loss[idx] - loss  # > 0: improvement (inf at the first evaluation)
            calm[idx] = torch.where(gain > schedule.tol, 0, calm[idx] + 1)
            better = gain > 0
            sel = idx[better]
            best_loss[sel], best_x[sel] = loss[better], x[sel]
            best_conf[sel] = res.confidence[better]
        if last:
            break
        if res.loss.requires_grad:
            (grad,) = torch.autograd.grad(res.loss.sum(), xa)
            g = grad.nan_to_num(0.0)
        else:  # nothing rendered for any active row: no gradient
            g = torch.zeros_like(xa)
        t_row = taken[idx].to(dtype)[:, None] + 1.0
        m1[idx] = beta1 * m1[idx] + (1.0 - beta1) * g
        m2[idx] = beta2 * m2[idx] + (1.0 - beta2) * g * g
        m_hat = m1[idx] / (1.0 - beta1**t_row)
        v_hat = m2[idx] / (1.0 - beta2**t_row)
        lr = schedule.learning_rate(step)
        step_x = x[idx] - lr * scale * m_hat / (v_hat.sqrt() + _ADAM_EPS)
        x[idx] = torch.maximum(torch.minimum(step_x, hi[idx]), lo[idx])
        taken[idx] += 1
        if schedule.early_stop:
            active &= ~((calm >= schedule.patience) & (taken >= schedule.min_steps))
        if schedule.prune_after and step + 1 == schedule.prune_after and k > 1:
            det_best = best_loss.view(b, k).amin(1)
            active &= best_loss <= det_best[owner] + schedule.prune_margin
        idx = active.nonzero().squeeze(1)
        if idx.numel() == 0:
            break
    return RefineResult(
        x=best_x.view(b, k, N_PARAMS),
        base_rotation=r0.view(b, k, 3, 3),
        loss=best_loss.view(b, k),
        confidence=best_conf.view(b, k),
        steps=taken.view(b, k),
        converged=(calm >= schedule.patience).view(b, k),
        history=history.view(-1, b, k),
    )


def poses_of(result: RefineResult, obs: Observation) -> tuple[torch.Tensor, torch.Tensor]:
    """``R [B x k x 3 x 3]``, ``t [B x k x 3]`` (m) of every hypothesis of ``result``."""
    b, k = result.loss.shape
    owner = torch.arange(b, device=result.x.device).repeat_interleave(k)
    x = result.x.reshape(b * k, N_PARAMS)
    with torch.no_grad():
        R, t = compose_pose(
            x, result.base_rotation.reshape(-1, 3, 3), obs.K.to(x)[owner],
            obs.anchor.to(x)[owner], obs.offset_unit.to(x)[owner],
        )  # fmt: skip
    return R.view(b, k, 3, 3), t.view(b, k, 3)
