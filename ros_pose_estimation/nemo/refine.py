"""Batched pose refinement: every hypothesis of every detection at once, by Adam or
Levenberg-Marquardt.

All ``B x k`` hypotheses (``k`` per detection) are one batch of ``n = B x k`` independent rows
(:class:`.refine_state.RowBatch`). :func:`refine` runs the stage its schedule describes:

* :class:`.presets.AdamSchedule`: each step evaluates the active rows together with an
  objective (render-and-compare, :class:`.scoring.RenderObjective`), back-propagates the sum
  of their losses (each depends on its own row only) and applies Adam row-wise
  (:func:`adam_steps`). Adam is written out here (a few tensor ops) so that rows can stop on
  their own. The learning rate follows :meth:`.presets.AdamSchedule.learning_rate`, times a
  per-column multiplier (:func:`param_scale`).
* :class:`.presets.LMSchedule`: Levenberg-Marquardt on the Gauss-Newton normal equations
  (:func:`.levenberg_marquardt.lm_steps`, objective
  :class:`.gauss_newton.GaussNewtonRenderCompare`).

Both share the per-row bookkeeping of :mod:`.refine_state`: bounds, each row's best
parameters (Adam is noisy, with betas (0.4, 0.6) especially), early stopping, pruning;
stopped rows are no longer evaluated, so the batch shrinks as the search settles. A
detection's result is its row with the lowest loss.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ros_pose_estimation.core.errors import ConfigError, check_shape
from ros_pose_estimation.nemo.gauss_newton import GaussNewtonRenderCompare
from ros_pose_estimation.nemo.levenberg_marquardt import lm_steps
from ros_pose_estimation.nemo.pose_param import (
    LOG_D,
    N_PARAMS,
    N_SHAPE_PARAMS,
    OFFSET,
    SHAPE,
    compose_pose,
    initial_params,
    stretch_of,
)
from ros_pose_estimation.nemo.presets import AdamSchedule, InferenceConfig, LMSchedule
from ros_pose_estimation.nemo.refine_state import (
    RefineResult,
    RowBatch,
    RowProgress,
    with_proportion_prior,
)
from ros_pose_estimation.nemo.scoring import CompareResult, Observation

__all__ = ["Objective", "RefineResult", "adam_steps", "param_scale", "poses_of", "refine",
           "start_params", "stretches_of"]

_ADAM_EPS = 1e-8

#: ``objective(R [N x 3 x 3], t [N x 3], owner [N]) -> CompareResult``: a differentiable loss
#: of poses in the feature maps' cameras (Adam's objective, :class:`.scoring.RenderObjective`).
Objective = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], CompareResult]


def param_scale(config: InferenceConfig, like: torch.Tensor) -> torch.Tensor:
    """``[K]`` lr multipliers (device and dtype of ``like``): 1 (rotation),
    ``lr_scale_distance`` (log d), ``lr_scale_offset`` (offset; 0 when ``optimise_offset`` is
    off), and for the log proportions when ``like`` holds rows of 8 (K = 8; else K = 6) 1, or
    0 when ``refine_proportions`` is off."""
    n = N_SHAPE_PARAMS if like.dim() and like.shape[-1] == N_SHAPE_PARAMS else N_PARAMS
    scale = torch.ones(n, device=like.device, dtype=like.dtype)
    scale[LOG_D] = config.lr_scale_distance
    scale[OFFSET] = config.lr_scale_offset if config.optimise_offset else 0.0
    if n == N_SHAPE_PARAMS:
        scale[SHAPE] = 1.0 if config.refine_proportions else 0.0
    return scale


def refine(
    objective: Objective | GaussNewtonRenderCompare,
    obs: Observation,
    x0: torch.Tensor,
    base_rotation: torch.Tensor,
    schedule: AdamSchedule | LMSchedule,
    scale: torch.Tensor,
    max_offset: float = math.inf,
    proportion_prior: float = 0.0,
) -> RefineResult:
    """Refine ``k`` hypotheses of each of the ``B`` detections of ``obs`` in one batch.

    Args:
        objective: Adam: the loss of poses (:data:`Objective`); Levenberg-Marquardt: a
            :class:`.gauss_newton.GaussNewtonRenderCompare`.
        obs: observations (feature-map cameras and anchors), :class:`.scoring.Observation`.
        x0: ``[B x k x K]`` initial parameters (:mod:`.pose_param`; K = 6, or 8 with the
            log proportions of a per-axis-scaled mesh).
        base_rotation: ``[B x k x 3 x 3]`` their base rotations ``R0``.
        schedule: the optimiser, its steps and stopping rules.
        scale: ``[K]`` per-column lr multipliers (:func:`param_scale`); Levenberg-Marquardt
            only uses its zeros (those parameters stay fixed).
        max_offset: bound of each offset component (units of half the box side); ``log d``
            is kept within ``obs.log_d_range`` when given. Keeps hopeless hypotheses (and
            untrained models) from drifting off to absurd translations.
        proportion_prior: ``w``: ``w / 2 |x[SHAPE]|^2`` is added to the loss of rows with log
            proportions (:func:`.refine_state.with_proportion_prior`); 0: none.

    Raises:
        InputError: shapes that do not match ``obs`` or each other; ConfigError: a schedule
            that is neither Adam's nor Levenberg-Marquardt's.
    """
    batch = RowBatch(obs, x0, base_rotation, max_offset)
    check_shape("scale", scale, (batch.x0.shape[1],))
    scale = scale.to(batch.x0).clone()
    if schedule.fixed_distance:
        scale[LOG_D] = 0.0
    progress = RowProgress(batch, schedule)
    if proportion_prior < 0:
        raise ConfigError(f"proportion_prior: expected >= 0, got {proportion_prior}")
    prior = proportion_prior if batch.x0.shape[1] == N_SHAPE_PARAMS else 0.0
    if isinstance(schedule, LMSchedule):
        lm_steps(objective, batch, progress, schedule, scale != 0, prior)
    elif isinstance(schedule, AdamSchedule):
        adam_steps(objective, batch, progress, schedule, scale, prior)
    else:
        raise ConfigError(f"schedule: expected an AdamSchedule or LMSchedule, got {schedule}")
    return progress.result()


def adam_steps(
    objective: Objective,
    batch: RowBatch,
    progress: RowProgress,
    schedule: AdamSchedule,
    scale: torch.Tensor,
    proportion_prior: float = 0.0,
) -> None:
    """Adam on the rows of ``batch`` from ``batch.x0`` (``scale [6]``: per-column lr
    multipliers), recording every evaluation in ``progress`` until the steps run out or every
    row has stopped."""
    x = batch.x0.clone()
    m1, m2 = torch.zeros_like(x), torch.zeros_like(x)
    beta1, beta2 = schedule.betas
    idx = torch.arange(batch.n, device=x.device)
    for step in range(schedule.steps + 1):
        last = step == schedule.steps
        xa = x[idx].requires_grad_(not last)
        with torch.set_grad_enabled(not last):
            res = objective(*batch.pose(xa, idx), batch.owner[idx])
            if proportion_prior:
                res = with_proportion_prior(res, xa, proportion_prior)[0]
        progress.record(step, idx, res.loss.detach(), res.confidence, x[idx])
        if last:
            break
        if res.loss.requires_grad:
            (grad,) = torch.autograd.grad(res.loss.sum(), xa)
            g = grad.nan_to_num(0.0)
        else:  # nothing rendered for any active row: no gradient
            g = torch.zeros_like(xa)
        t_row = progress.taken[idx].to(x.dtype)[:, None] + 1.0
        m1[idx] = beta1 * m1[idx] + (1.0 - beta1) * g
        m2[idx] = beta2 * m2[idx] + (1.0 - beta2) * g * g
        m_hat = m1[idx] / (1.0 - beta1**t_row)
        v_hat = m2[idx] / (1.0 - beta2**t_row)
        lr = schedule.learning_rate(step)
        x[idx] = batch.clamp(x[idx] - lr * scale * m_hat / (v_hat.sqrt() + _ADAM_EPS), idx)
        idx = progress.advance(step, idx)
        if idx.numel() == 0:
            break


def poses_of(result: RefineResult, obs: Observation) -> tuple[torch.Tensor, torch.Tensor]:
    """``R [B x k x 3 x 3]`` (rotations), ``t [B x k x 3]`` (m) of every hypothesis of
    ``result``."""
    b, k = result.loss.shape
    owner = torch.arange(b, device=result.x.device).repeat_interleave(k)
    x = result.x.reshape(b * k, -1)
    with torch.no_grad():
        R, t = compose_pose(
            x, result.base_rotation.reshape(-1, 3, 3), obs.K.to(x)[owner],
            obs.anchor.to(x)[owner], obs.offset_unit.to(x)[owner],
        )  # fmt: skip
    return R.view(b, k, 3, 3), t.view(b, k, 3)


def start_params(obs: Observation, t: torch.Tensor, ratio: torch.Tensor | None = None,
                 shape: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
    """The inverse of :func:`poses_of` for one start per row: ``[B x K]`` parameters
    (:mod:`.pose_param`, no rotation residual: the rotation is the base) that place the neural
    mesh's centre on ``t [B x 3]`` (m) in ``obs``'s cameras, at the distance ``t_z x ratio``
    (``ratio [B]``, 1 if None); with the log proportions ``shape [B x 2]`` of a
    per-axis-scaled mesh (K = 8), else K = 6."""
    d = t[:, 2] if ratio is None else t[:, 2] * ratio
    uv = (obs.K @ t[:, :, None])[:, :, 0]
    x0 = initial_params(d, shape=shape is not None)
    x0[:, OFFSET] = (uv[:, :2] / uv[:, 2:] - obs.anchor) / obs.offset_unit[:, None]
    if shape is not None:
        x0[:, SHAPE] = shape
    return x0


def stretches_of(result: RefineResult) -> torch.Tensor:
    """``[B x k x 3]`` per-axis factors of the mesh of every hypothesis of ``result`` (ones
    for a mesh of fixed proportions, :func:`.pose_param.stretch_of`)."""
    return stretch_of(result.x.detach())
