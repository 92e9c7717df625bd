"""What a batched pose refinement keeps per hypothesis, whatever the optimiser.

Both optimisers (:func:`.refine.adam_steps`, Adam; :func:`.levenberg_marquardt.lm_steps`) treat
the ``k`` hypotheses of each of ``B`` detections as ``n = B x k`` independent rows:

* :class:`RowBatch`: what does not change while they are refined: each row's detection, base
  rotation, camera, anchor and bounds; composes poses (:func:`.pose_param.compose_pose`; for
  rows with the two log proportions of a per-axis-scaled mesh, the map ``R diag(stretch)``
  the mesh is drawn with) and clamps parameters;
* :class:`RowProgress`: what does: each row's best loss, parameters and confidence, the loss
  history, steps taken, and the stopping rules of :class:`.presets.StoppingRules`:

  * early stopping (``early_stop``): a row stops once its best loss has not improved by more
    than ``tol`` for ``patience`` consecutive evaluations, after ``min_steps`` steps;
  * pruning (``prune_after``): after that many steps, rows whose best loss is worse than
    their detection's best by more than ``prune_margin`` stop;

  stopped rows are no longer evaluated, so the batch shrinks as the search settles;
* :class:`RefineResult`: every hypothesis after a stage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch

from ros_pose_estimation.core.errors import InputError, check_shape
from ros_pose_estimation.nemo.pose_param import (
    LOG_D,
    MAX_LOG_PROPORTION,
    N_PARAMS,
    N_SHAPE_PARAMS,
    OFFSET,
    SHAPE,
    compose_pose,
    stretch_of,
)
from ros_pose_estimation.nemo.presets import StoppingRules
from ros_pose_estimation.nemo.scoring import CompareResult, Observation


@dataclass
class RefineResult:
    """Every hypothesis after a stage (``B`` detections x ``k`` hypotheses).

    Attributes:
        x: ``[B x k x K]`` best parameters of each hypothesis (K = 6, or 8 with the log
            proportions of a per-axis-scaled mesh); base_rotation ``[B x k x 3 x 3]``.
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


class RowBatch:
    """The ``n = B x k`` rows of a refinement and their fixed inputs.

    Args:
        obs: the ``B`` detections' observations.
        x0: ``[B x k x K]`` initial parameters (K = 6, or 8 with the log proportions,
            :mod:`.pose_param`); base_rotation: ``[B x k x 3 x 3]`` ``R0``.
        max_offset: bound of each offset component (units of half the box side); ``log d``
            is kept within ``obs.log_d_range`` when given.

    Attributes:
        b, k, n: detections, hypotheses per detection, rows.
        x0: ``[n x K]`` initial parameters (a copy); owner: ``[n]`` detection of each row.
        lo, hi: ``[n x K]`` bounds of the parameters.

    Raises:
        InputError: shapes that do not match ``obs`` or each other.
    """

    def __init__(
        self,
        obs: Observation,
        x0: torch.Tensor,
        base_rotation: torch.Tensor,
        max_offset: float = math.inf,
    ) -> None:
        sizes = check_shape("x0", x0, ("B", "k", "K"))
        b, k, n_params = sizes["B"], sizes["k"], sizes["K"]
        if n_params not in (N_PARAMS, N_SHAPE_PARAMS):
            raise InputError(f"x0: expected {N_PARAMS} or {N_SHAPE_PARAMS} parameters per row, "
                             f"got {n_params}")  # fmt: skip
        if b != len(obs):
            raise InputError(f"x0: expected {len(obs)} detections like obs, got {b}")
        check_shape("base_rotation", base_rotation, (b, k, 3, 3))
        self.b, self.k, self.n = b, k, b * k
        x = x0.detach().reshape(self.n, n_params).clone()
        self.x0 = x
        self.base_rotation = base_rotation.detach().reshape(self.n, 3, 3).to(x)
        self.owner = torch.arange(b, device=x.device).repeat_interleave(k)
        self._K = obs.K.to(x)[self.owner]
        self._anchor = obs.anchor.to(x)[self.owner]
        self._unit = obs.offset_unit.to(x)[self.owner]
        self.lo = torch.full_like(x, -math.inf)
        self.hi = torch.full_like(x, math.inf)
        self.lo[:, OFFSET], self.hi[:, OFFSET] = -max_offset, max_offset
        if n_params == N_SHAPE_PARAMS:
            self.lo[:, SHAPE], self.hi[:, SHAPE] = -MAX_LOG_PROPORTION, MAX_LOG_PROPORTION
        if obs.log_d_range is not None:
            self.lo[:, LOG_D], self.hi[:, LOG_D] = obs.log_d_range.to(x)[self.owner].unbind(-1)

    def pose(self, x: torch.Tensor, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``R [m x 3 x 3]``, ``t [m x 3]`` of parameters ``x [m x K]`` (any float dtype,
        differentiable) for the rows ``rows [m]``. With the log proportions (K = 8) ``R`` is
        the map the mesh is drawn with, ``rotation @ diag(stretch)``, not a rotation."""
        parts = (self.base_rotation[rows], self._K[rows], self._anchor[rows], self._unit[rows])
        R, t = compose_pose(x, *(part.to(x) for part in parts))
        if x.shape[1] == N_SHAPE_PARAMS:
            R = R * stretch_of(x)[:, None, :]
        return R, t

    def clamp(self, x: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """``x [m x K]`` of the rows ``rows`` within their bounds."""
        return torch.maximum(torch.minimum(x, self.hi[rows]), self.lo[rows])


class RowProgress:
    """How far each row of one refinement stage has got: its best loss, parameters and
    confidence, its loss history, the steps it took, and whether it is still refined (the
    stopping rules, see the module docstring).

    Args:
        batch: the rows; schedule: the stage's :class:`.presets.StoppingRules` (``steps``,
            ``early_stop``, ``tol``, ``patience``, ``min_steps``, ``prune_after``,
            ``prune_margin``).

    Attributes:
        best_x: ``[n x K]``; best_loss, best_conf: ``[n]`` (``inf`` / 0 before an evaluation).
        calm: ``[n]`` evaluations in a row without an improvement above ``tol``.
        taken: ``[n]`` steps taken; active: ``[n]`` rows still refined.
        history: ``[steps + 1 x n]`` loss at each evaluation (NaN where not evaluated).
    """

    def __init__(self, batch: RowBatch, schedule: StoppingRules) -> None:
        n, x = batch.n, batch.x0
        dev, dtype = x.device, x.dtype
        self.batch, self.schedule = batch, schedule
        self.best_x = x.clone()
        self.best_loss = torch.full((n,), math.inf, device=dev, dtype=dtype)
        self.best_conf = torch.zeros(n, device=dev, dtype=dtype)
        self.calm = torch.zeros(n, dtype=torch.long, device=dev)
        self.taken = torch.zeros(n, dtype=torch.long, device=dev)
        self.active = torch.ones(n, dtype=torch.bool, device=dev)
        self.history = torch.full((schedule.steps + 1, n), math.nan, device=dev, dtype=dtype)

    def record(
        self,
        step: int,
        rows: torch.Tensor,
        loss: torch.Tensor,
        confidence: torch.Tensor,
        x: torch.Tensor,
    ) -> torch.Tensor:
        """Log the evaluation ``step`` of ``rows [m]`` (``loss``, ``confidence [m]`` at the
        parameters ``x [m x 6]``): updates the best values and ``calm``; returns ``[m]`` bool,
        the rows whose best loss it lowered."""
        self.history[step, rows] = loss
        gain = self.best_loss[rows] - loss  # > 0: improvement (inf at the first evaluation)
        self.calm[rows] = torch.where(gain > self.schedule.tol, 0, self.calm[rows] + 1)
        better = gain > 0
        sel = rows[better]
        self.best_loss[sel], self.best_x[sel] = loss[better], x[better]
        self.best_conf[sel] = confidence[better]
        return better

    def advance(self, step: int, rows: torch.Tensor) -> torch.Tensor:
        """Count a step taken by ``rows`` (after evaluation ``step``), apply the stopping rules;
        returns the rows still active (increasing)."""
        schedule, k = self.schedule, self.batch.k
        self.taken[rows] += 1
        if schedule.early_stop:
            settled = (self.calm >= schedule.patience) & (self.taken >= schedule.min_steps)
            self.active &= ~settled
        if schedule.prune_after and step + 1 == schedule.prune_after and k > 1:
            det_best = self.best_loss.view(self.batch.b, k).amin(1)
            self.active &= self.best_loss <= det_best[self.batch.owner] + schedule.prune_margin
        return self.active.nonzero().squeeze(1)

    def result(self) -> RefineResult:
        b, k = self.batch.b, self.batch.k
        return RefineResult(
            x=self.best_x.view(b, k, -1),
            base_rotation=self.batch.base_rotation.view(b, k, 3, 3),
            loss=self.best_loss.view(b, k),
            confidence=self.best_conf.view(b, k),
            steps=self.taken.view(b, k),
            converged=(self.calm >= self.schedule.patience).view(b, k),
            history=self.history.view(-1, b, k),
        )


def with_proportion_prior(
    res: CompareResult, x: torch.Tensor, weight: float,
    g: torch.Tensor | None = None, H: torch.Tensor | None = None,
) -> tuple[CompareResult, torch.Tensor | None, torch.Tensor | None]:
    """``res`` with ``weight / 2 |x[:, SHAPE]|^2`` added to its loss (``x [N x 8]`` rows with
    log proportions; differentiable), and the gradient ``g [N x 8]`` and Gauss-Newton Hessian
    ``H [N x 8 x 8]`` of the sum, when given (new tensors; the prior's are exact)."""
    shape = x[:, SHAPE]
    res = replace(res, loss=res.loss + 0.5 * weight * (shape * shape).sum(-1))
    if g is not None and H is not None:
        g, H = g.clone(), H.clone()
        g[:, SHAPE] += weight * shape
        H[:, SHAPE, SHAPE] += weight * torch.eye(shape.shape[1], dtype=H.dtype, device=H.device)
    return res, g, H
