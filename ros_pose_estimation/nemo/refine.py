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
(:func:`param_scale`). The per-row bookkeeping (bounds, best values, stopping, pruning) is
:mod:`.refine_state`'s, shared with :mod:`.levenberg_marquardt`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ros_pose_estimation.core.errors import check_shape
from ros_pose_estimation.nemo.pose_param import LOG_D, N_PARAMS, OFFSET, compose_pose
from ros_pose_estimation.nemo.presets import InferenceConfig, Schedule
from ros_pose_estimation.nemo.refine_state import RefineResult, RowBatch, Tracker
from ros_pose_estimation.nemo.scoring import CompareResult, Observation

__all__ = ["Objective", "RefineResult", "param_scale", "poses_of", "refine"]

_ADAM_EPS = 1e-8

#: ``objective(R [N x 3 x 3], t [N x 3], owner [N], rows [N]) -> CompareResult`` (differentiable
#: loss); ``rows`` are the poses' indices in the batch (``B * k`` rows; the active ones are
#: evaluated, in increasing order), for objectives that keep state per row
#: (:class:`.fixed_compare.CachedRenderObjective`).
Objective = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], CompareResult]


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
    batch = RowBatch(obs, x0, base_rotation, max_offset)
    check_shape("scale", scale, (N_PARAMS,))
    track = Tracker(batch, schedule)
    x = batch.x0.clone()
    scale = scale.to(x).clone()
    if schedule.fixed_distance:
        scale[LOG_D] = 0.0
    m1, m2 = torch.zeros_like(x), torch.zeros_like(x)
    beta1, beta2 = schedule.betas
    idx = torch.arange(batch.n, device=x.device)
    for step in range(schedule.steps + 1):
        last = step == schedule.steps
        xa = x[idx].requires_grad_(not last)
        with torch.set_grad_enabled(not last):
            res = objective(*batch.pose(xa, idx), batch.owner[idx], idx)
        track.record(step, idx, res.loss.detach(), res.confidence, x[idx], res.exact)
        if last:
            break
        if res.loss.requires_grad:
            (grad,) = torch.autograd.grad(res.loss.sum(), xa)
            g = grad.nan_to_num(0.0)
        else:  # nothing rendered for any active row: no gradient
            g = torch.zeros_like(xa)
        t_row = track.taken[idx].to(x.dtype)[:, None] + 1.0
        m1[idx] = beta1 * m1[idx] + (1.0 - beta1) * g
        m2[idx] = beta2 * m2[idx] + (1.0 - beta2) * g * g
        m_hat = m1[idx] / (1.0 - beta1**t_row)
        v_hat = m2[idx] / (1.0 - beta2**t_row)
        lr = schedule.learning_rate(step)
        x[idx] = batch.clamp(x[idx] - lr * scale * m_hat / (v_hat.sqrt() + _ADAM_EPS), idx)
        idx = track.advance(step, idx)
        if idx.numel() == 0:
            break
    return track.result()


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
