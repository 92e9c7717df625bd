"""Render-and-compare with the rasterisation re-used between optimiser steps.

:func:`.scoring.render_compare` rasterises every pose it is given. During refinement the pose
moves by a fraction of a feature cell per step, so which face covers which pixel hardly
changes from one step to the next (:mod:`ros_pose_estimation.render.assignment`).
:class:`CachedRenderObjective` rasterises the poses of the batch every ``every``-th call
only ("refresh") and in between keeps each foreground pixel's face, recomputing its
perspective-correct barycentrics ``l [3]`` from the current pose (differentiable).

It also drops the ``D``-dimensional work from the steps. With the corner features ``f_i`` of
a pixel's face and its observed unit feature ``F``, the rendered feature is
``r = n / |n|``, ``n = sum_i l_i f_i``, so the cosine is

    o = F . r = (l . s) / sqrt(l^T G l),  s_i = F . f_i,  G_ij = f_i . f_j

with ``s [3]`` and ``G [3 x 3]`` fixed per pixel between refreshes (computed at the refresh,
``P x 3 x D`` work once). A step then costs ``O(P)`` small tensor ops for the ``P``
foreground pixels instead of a rasterisation of ``F`` faces plus ``P x D`` interpolation.

Exactness: at a refresh the loss, confidence and gradients equal :func:`.scoring.render_compare`
(same rasteriser, same formula up to float rounding). Between refreshes the foreground and
the face of each pixel are those of the last refresh: an approximation whose error grows with
the distance moved since (a pixel the outline has left still counts, with barycentrics
outside ``[0, 1]``; one it has entered does not yet). All rows of a refinement batch are
evaluated together at every step (stopped rows leave the batch and never return), so they
share the refresh cadence; rows are identified by ``rows`` (their index in the batch that
:func:`.refine.refine` started with).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ros_pose_estimation.core.errors import ConfigError, InputError, check_shape
from ros_pose_estimation.nemo.scoring import CompareResult, Observation
from ros_pose_estimation.render.assignment import perspective_barycentrics
from ros_pose_estimation.render.rasterizer import rasterize

_EPS = 1e-12  # as F.normalize: |n| below this is treated as this


class CachedRenderObjective:
    """:func:`.scoring.render_compare` as a :data:`.refine.Objective` that re-rasterises the
    batch every ``every`` calls only (see the module docstring).

    Args:
        mesh: :class:`~ros_pose_estimation.nemo.neural_mesh.NeuralMesh` (closed, CCW faces).
        obs: the ``B`` detections' observations.
        loss: ``"nemo"`` or ``"linear"`` (:mod:`.scoring`).
        every: calls per rasterisation (1: every call, the same as :func:`render_compare`).

    Attributes:
        refreshes: number of rasterisations so far (for tests and profiling).
    """

    def __init__(self, mesh, obs: Observation, loss: str = "nemo", every: int = 4) -> None:
        if loss not in ("nemo", "linear"):
            raise ConfigError(f"loss: expected 'nemo' or 'linear', got {loss!r}")
        if every < 1:
            raise ConfigError(f"every: expected >= 1 calls per rasterisation, got {every}")
        self.mesh, self.obs, self.loss, self.every = mesh, obs, loss, every
        h, w = obs.size
        clutter = obs.clutter.reshape(len(obs), h * w)
        self._clutter = clutter
        self._base = F.relu(-clutter).mean(1) if loss == "nemo" else clutter.mean(1)
        self._calls = 0
        self._cache: dict | None = None
        self._seen = torch.zeros(0, dtype=torch.long)  # rows of the last refresh
        self.refreshes = 0

    # ------------------------------------------------------------------ refresh
    @torch.no_grad()
    def _refresh(self, R: torch.Tensor, t: torch.Tensor, owner: torch.Tensor, rows) -> None:
        """Rasterise the poses and keep, per foreground pixel, what the steps need."""
        obs, mesh = self.obs, self.mesh
        h, w = obs.size
        vertices = mesh.vertices.to(R)
        frags = rasterize(
            vertices, mesh.faces, obs.K[owner].to(R), R, t, (h, w), cull_backfaces=True
        )
        slot = frags.fg_batch  # [P] position of the pixel's pose in this batch
        pix = frags.fg_index - slot * (h * w)
        det = owner[slot]
        fv = mesh.features.to(R)[frags.fg_vertex]  # [P x 3 x D]
        observed = obs.features.flatten(2).to(R)[det, :, pix]  # [P x D]
        K = obs.K.to(R)[det]  # [P x 3 x 3]
        row = torch.div(pix, w, rounding_mode="floor")
        centre = torch.stack([pix - row * w, row], 1).to(R)  # pixel centre (u, v)
        self._cache = dict(
            row=rows[slot],
            corners=vertices[frags.fg_vertex],  # [P x 3 corners x 3] model frame (m)
            focal=torch.stack([K[:, 0, 0], K[:, 1, 1]], 1),  # [P x 2]
            shift=torch.stack([K[:, 0, 2], K[:, 1, 2]], 1) - centre,  # [P x 2]
            s=(fv @ observed[:, :, None]).squeeze(2),  # [P x 3]
            gram=fv @ fv.transpose(1, 2),  # [P x 3 x 3]
            clutter=self._clutter[det, pix],  # [P]
        )
        self.refreshes += 1

    def _current(self, rows: torch.Tensor, n_rows: int) -> tuple[dict, torch.Tensor]:
        """The cache restricted to ``rows`` (rows that stopped are dropped for good) and the
        position in the batch of each cached pixel's row."""
        cache = self._cache
        where = torch.full((n_rows,), -1, dtype=torch.long, device=rows.device)
        where[rows] = torch.arange(len(rows), device=rows.device)
        slot = where[cache["row"]]
        keep = slot >= 0
        if not bool(keep.all()):
            cache = {key: value[keep] for key, value in cache.items()}
            self._cache, slot = cache, slot[keep]
        return cache, slot

    # ------------------------------------------------------------------ evaluation
    def __call__(
        self,
        R: torch.Tensor,
        t: torch.Tensor,
        owner: torch.Tensor,
        rows: torch.Tensor | None = None,
    ) -> CompareResult:
        """Loss of the poses ``R [N x 3 x 3]``, ``t [N x 3]`` of detections ``owner [N]``;
        ``rows [N]`` (distinct int64 ids, default ``0..N-1``) identify the poses across
        calls: a call between refreshes must pass rows that the last refresh saw."""
        n = check_shape("R", R, ("N", 3, 3))["N"]
        check_shape("owner", owner, (n,))
        if rows is None:
            rows = torch.arange(n, device=R.device)
        check_shape("rows", rows, (n,))
        fresh = self._calls % self.every == 0 or self._cache is None
        if fresh:
            self._refresh(R.detach(), t.detach(), owner, rows)
            self._seen = rows.clone()
        elif not bool(torch.isin(rows, self._seen).all()):
            raise InputError(
                f"rows: expected rows rasterised at the last refresh ({self._seen.tolist()}), "
                f"got {rows.tolist()}"
            )
        self._calls += 1
        n_rows = int(torch.cat([rows, self._seen]).max()) + 1 if n else 0
        cache, slot = self._current(rows, n_rows)
        res = self._evaluate(R, t, owner, cache, slot)
        res.exact = fresh
        return res

    def _evaluate(self, R, t, owner, cache, slot) -> CompareResult:
        n = R.shape[0]
        h, w = self.obs.size
        cam = torch.einsum("pij,pcj->pci", R[slot], cache["corners"]) + t[slot][:, None]
        z = cam[..., 2]  # [P x 3]
        d = cam[..., :2] / z[..., None] * cache["focal"][:, None] + cache["shift"][:, None]
        bary, _ = perspective_barycentrics(d[..., 0], d[..., 1], z)
        quad = (bary[:, :, None] * cache["gram"] * bary[:, None, :]).sum((1, 2))
        o = (bary * cache["s"]).sum(1) / quad.clamp_min(_EPS * _EPS).sqrt()
        c_fg = cache["clutter"]
        if self.loss == "nemo":
            gain = torch.maximum(o, c_fg) - c_fg - F.relu(-c_fg)
        else:
            gain = o - c_fg
        total = R.new_zeros(n).index_add(0, slot, gain)
        value = 1.0 - self._base.to(R)[owner] - total / (h * w)
        n_fg = torch.bincount(slot, minlength=n)
        cos = R.new_zeros(n).index_add(0, slot, o.detach())
        confidence = (cos / n_fg.clamp_min(1)).clamp(0.0, 1.0)
        return CompareResult(value, confidence, n_fg)
