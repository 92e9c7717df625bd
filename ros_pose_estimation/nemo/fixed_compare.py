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

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ros_pose_estimation.core.errors import ConfigError, InputError, check_shape
from ros_pose_estimation.nemo.scoring import CompareResult, Observation
from ros_pose_estimation.render.assignment import perspective_barycentrics
from ros_pose_estimation.render.rasterizer import rasterize

_EPS = 1e-12  # as F.normalize: |n| below this is treated as this
_FD_STEP = 1e-6  # forward-difference step of the Gauss-Newton Jacobian (float64)


class CachedRenderObjective:
    """:func:`.scoring.render_compare` as a :data:`.refine.Objective` that re-rasterises the
    batch every ``every`` calls only (see the module docstring).

    Args:
        mesh: :class:`~ros_pose_estimation.nemo.neural_mesh.NeuralMesh` (closed, CCW faces).
        obs: the ``B`` detections' observations.
        loss: ``"nemo"`` or ``"linear"`` (:mod:`.scoring`).
        every: calls per rasterisation (1: every call, the same as :func:`render_compare`).
        similarity: optional ``[B x V x hw]`` ``F_p . f_v`` of every vertex and pixel, when
            already computed (:attr:`.hypotheses.ScoreMaps.similarity`); else computed here.

    Attributes:
        refreshes: number of rasterisations so far (for tests and profiling).
    """

    def __init__(
        self,
        mesh,
        obs: Observation,
        loss: str = "nemo",
        every: int = 4,
        similarity: torch.Tensor | None = None,
    ) -> None:
        if loss not in ("nemo", "linear"):
            raise ConfigError(f"loss: expected 'nemo' or 'linear', got {loss!r}")
        if every < 1:
            raise ConfigError(f"every: expected >= 1 calls per rasterisation, got {every}")
        self.mesh, self.obs, self.loss, self.every = mesh, obs, loss, every
        h, w = obs.size
        clutter = obs.clutter.reshape(len(obs), h * w)
        self._clutter = clutter
        self._base = F.relu(-clutter).mean(1) if loss == "nemo" else clutter.mean(1)
        # what a refresh gathers per pixel, computed once: F_p . f_v for every vertex and
        # pixel ([B x V x hw], one matrix product per detection) and f_i . f_j per face
        vertex_features = mesh.features.to(obs.features)
        if similarity is None:
            similarity = vertex_features @ obs.features.flatten(2)
        check_shape("similarity", similarity, (len(obs), len(vertex_features), h * w))
        self._similarity = similarity
        corner_features = vertex_features[mesh.faces]  # [F x 3 x D]
        self._face_gram = corner_features @ corner_features.transpose(1, 2)  # [F x 3 x 3]
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
        face = frags.pix_to_face.view(-1)[frags.fg_index]  # [P]
        K = obs.K.to(R)[det]  # [P x 3 x 3]
        row = torch.div(pix, w, rounding_mode="floor")
        centre = torch.stack([pix - row * w, row], 1).to(R)  # pixel centre (u, v)
        self._cache = dict(
            row=rows[slot],
            corners=vertices[frags.fg_vertex],  # [P x 3 corners x 3] model frame (m)
            focal=torch.stack([K[:, 0, 0], K[:, 1, 1]], 1),  # [P x 2]
            shift=torch.stack([K[:, 0, 2], K[:, 1, 2]], 1) - centre,  # [P x 2]
            s=self._similarity.to(R)[det[:, None], frags.fg_vertex, pix[:, None]],  # [P x 3]
            gram=self._face_gram.to(R)[face],  # [P x 3 x 3]
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

    def _barycentrics(self, R, t, cache, slot) -> torch.Tensor:
        """``[P x 3]`` perspective-correct barycentrics of the cached pixels in their cached
        faces at the poses ``R [N x 3 x 3]``, ``t [N x 3]`` (``slot [P]``: each pixel's pose)."""
        cam = torch.einsum("pij,pcj->pci", R[slot], cache["corners"]) + t[slot][:, None]
        z = cam[..., 2]  # [P x 3]
        d = cam[..., :2] / z[..., None] * cache["focal"][:, None] + cache["shift"][:, None]
        bary, _ = perspective_barycentrics(d[..., 0], d[..., 1], z)
        return bary

    def _evaluate(self, R, t, owner, cache, slot) -> CompareResult:
        return self._compare(self._barycentrics(R, t, cache, slot), owner, cache, slot)[0]

    def _compare(self, bary, owner, cache, slot):
        """The :class:`CompareResult` of the ``N = len(owner)`` poses from the barycentrics
        ``bary [P x 3]`` of their cached pixels, and per pixel ``o [P]`` (cosine),
        ``G l [P x 3]`` and ``q = l^T G l [P]``."""
        n = owner.shape[0]
        h, w = self.obs.size
        gl = (cache["gram"] @ bary[:, :, None]).squeeze(2)
        quad = (bary * gl).sum(1).clamp_min(_EPS * _EPS)
        o = (bary * cache["s"]).sum(1) / quad.sqrt()
        c_fg = cache["clutter"]
        if self.loss == "nemo":
            gain = torch.maximum(o, c_fg) - c_fg - F.relu(-c_fg)
        else:
            gain = o - c_fg
        total = bary.new_zeros(n).index_add(0, slot, gain)
        value = 1.0 - self._base.to(bary)[owner] - total / (h * w)
        n_fg = torch.bincount(slot, minlength=n)
        cos = bary.new_zeros(n).index_add(0, slot, o.detach())
        confidence = (cos / n_fg.clamp_min(1)).clamp(0.0, 1.0)
        return CompareResult(value, confidence, n_fg), o, gl, quad

    # ------------------------------------------------------------------ Gauss-Newton
    @torch.no_grad()
    def normal_equations(
        self,
        pose: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
        x: torch.Tensor,
        owner: torch.Tensor,
    ) -> tuple[CompareResult, torch.Tensor, torch.Tensor]:
        """Exact loss, gradient and Gauss-Newton Hessian of ``N`` poses ``pose(x)``.

        Rasterises the poses (a refresh), so the loss is exact; the derivatives are those of
        the loss with the pixels' faces held fixed (as autograd's through the hard
        rasteriser). With ``A_p = dl_p / dx [3 x K]`` (forward differences in float64, the
        ``K`` shifted copies of every pose evaluated in one batch) and, per pixel,
        ``q = l^T G l``, ``o = l . s / sqrt(q)``:

        * gradient ``g = -(1 / hw) sum_p a_p A_p^T (s / sqrt(q) - o G l / q)``, with
          ``a_p = 1`` where the pixel's gain depends on ``o`` (``"nemo"``: ``o > c_p``);
        * Hessian ``H = (1 / hw) sum_p a_p A_p^T M_p A_p``, ``M = (G - G l l^T G / q) / q``:
          ``1 - o = |r - F|^2 / 2`` for unit ``r``, ``F``, and ``M = (dr/dl)^T dr/dl`` for
          ``r = Phi l / |Phi l|`` (``Phi [D x 3]`` the corner features, ``G = Phi^T Phi``),
          so ``H`` is the Gauss-Newton approximation (positive semi-definite).

        Args:
            pose: ``(params [M x K], index [M]) -> (R [M x 3 x 3], t [M x 3])``: the pose of
                parameters ``params[j]`` for the pose ``index[j]`` (in ``0..N-1``; its base
                rotation, camera, anchor).
            x: ``[N x K]`` parameters; owner: ``[N]`` detection of each pose.

        Returns:
            the :class:`CompareResult` at ``x`` (``exact``), ``g [N x K]``, ``H [N x K x K]``.
        """
        n, k = x.shape
        h, w = self.obs.size
        rows = torch.arange(n, device=x.device)
        R, t = pose(x, rows)
        self._refresh(R, t, owner, rows)
        self._seen, self._calls = rows, self._calls + 1
        cache = self._cache
        slot = cache["row"]

        # forward differences in float64, the K shifted copies of every pose in one batch
        x64 = x.detach().double()
        shifted = torch.cat(
            [x64, (x64[None] + _FD_STEP * torch.eye(k).to(x64)[:, None]).flatten(0, 1)]
        )
        R64, t64 = pose(shifted, rows.repeat(k + 1))
        slots = (slot[None] + n * torch.arange(k + 1, device=x.device)[:, None]).flatten()
        cache64 = {key: cache[key].double() for key in ("corners", "focal", "shift")}
        tiled = {
            key: value.repeat(k + 1, *([1] * (value.dim() - 1))) for key, value in cache64.items()
        }
        bary_all = self._barycentrics(R64, t64, tiled, slots).view(k + 1, -1, 3)
        A = ((bary_all[1:] - bary_all[0]) / _FD_STEP).permute(1, 2, 0).to(x)  # [P x 3 x K]
        res, o, gl, q = self._compare(bary_all[0].to(x), owner, cache, slot)
        gram, s = cache["gram"], cache["s"]
        if self.loss == "nemo":
            active = (o > cache["clutter"]).to(x)
        else:
            active = torch.ones_like(o)
        do_dl = s / q.sqrt()[:, None] - (o / q)[:, None] * gl  # [P x 3]
        grad_p = (A.transpose(1, 2) @ do_dl[:, :, None]).squeeze(2) * active[:, None]
        g = -x.new_zeros(n, k).index_add(0, slot, grad_p) / (h * w)
        M = (gram - gl[:, :, None] * gl[:, None, :] / q[:, None, None]) / q[:, None, None]
        hess_p = A.transpose(1, 2) @ M @ A * active[:, None, None]
        H = x.new_zeros(n, k, k).index_add(0, slot, hess_p) / (h * w)
        return res, g.nan_to_num(0.0), H.nan_to_num(0.0)
