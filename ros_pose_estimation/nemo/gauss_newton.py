"""The render-and-compare loss and its Gauss-Newton model, for Levenberg-Marquardt.

:class:`GaussNewtonRenderCompare` evaluates :func:`.scoring.render_compare` at a batch of poses
(one rasterisation) and linearises it there: gradient ``g`` and Gauss-Newton Hessian ``H`` with
respect to the pose parameters (:meth:`GaussNewtonRenderCompare.linearise`), the normal
equations that :mod:`.levenberg_marquardt` solves.

It works per foreground pixel, without the ``D``-dimensional features. With the corner
features ``f_i`` of a pixel's face, its perspective-correct barycentrics ``l [3]`` and its
observed unit feature ``F``, the rendered feature is ``r = n / |n|``, ``n = sum_i l_i f_i``, so
the cosine is

    o = F . r = (l . s) / sqrt(l^T G l),  s_i = F . f_i,  G_ij = f_i . f_j

with ``s [3]`` and ``G [3 x 3]`` gathered once per pixel after the rasterisation (from the
vertex-pixel similarities ``F_p . f_v`` and the per-face Gram matrices, computed once per
detection batch). The derivatives hold each pixel's face fixed (hard rasteriser), as
autograd's through :func:`.scoring.render_compare` do; the loss, confidence and foreground
equal :func:`.scoring.render_compare`'s up to float rounding.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ros_pose_estimation.core.errors import ConfigError, check_shape
from ros_pose_estimation.nemo.scoring import CompareResult, Observation
from ros_pose_estimation.render.assignment import perspective_barycentrics
from ros_pose_estimation.render.rasterizer import rasterize

_EPS = 1e-12  # as F.normalize: |n| below this is treated as this
_FD_STEP = 1e-6  # forward-difference step of the Gauss-Newton Jacobian (float64)


class GaussNewtonRenderCompare:
    """:func:`.scoring.render_compare` of a mesh against ``B`` detections, with its
    Gauss-Newton linearisation (see the module docstring).

    Args:
        mesh: :class:`~ros_pose_estimation.nemo.neural_mesh.NeuralMesh` (closed, CCW faces).
        obs: the ``B`` detections' observations.
        loss: ``"nemo"`` or ``"linear"`` (:mod:`.scoring`).
        similarity: optional ``[B x V x hw]`` ``F_p . f_v`` of every vertex and pixel, when
            already computed (:attr:`.hypotheses.ScoreMaps.similarity`); else computed here.

    Raises:
        ConfigError: an unknown ``loss``; InputError: ``similarity`` of the wrong shape.
    """

    def __init__(
        self,
        mesh,
        obs: Observation,
        loss: str = "nemo",
        similarity: torch.Tensor | None = None,
    ) -> None:
        if loss not in ("nemo", "linear"):
            raise ConfigError(f"loss: expected 'nemo' or 'linear', got {loss!r}")
        self.mesh, self.obs, self.loss = mesh, obs, loss
        h, w = obs.size
        clutter = obs.clutter.reshape(len(obs), h * w)
        self._clutter = clutter
        self._base = F.relu(-clutter).mean(1) if loss == "nemo" else clutter.mean(1)
        # what the rasterisation gathers per pixel, computed once: F_p . f_v for every vertex
        # and pixel ([B x V x hw], one matrix product per detection) and f_i . f_j per face
        vertex_features = mesh.features.to(obs.features)
        if similarity is None:
            similarity = vertex_features @ obs.features.flatten(2)
        check_shape("similarity", similarity, (len(obs), len(vertex_features), h * w))
        self._similarity = similarity
        corner_features = vertex_features[mesh.faces]  # [F x 3 x D]
        self._face_gram = corner_features @ corner_features.transpose(1, 2)  # [F x 3 x 3]

    @torch.no_grad()
    def _rasterise(self, R: torch.Tensor, t: torch.Tensor, owner: torch.Tensor) -> dict:
        """Rasterise the poses ``R [N x 3 x 3]``, ``t [N x 3]`` of detections ``owner [N]``;
        returns, per foreground pixel ``[P ...]``, what the loss and its derivatives need:
        ``slot`` (its pose), ``corners`` (its face's vertices, model frame, m), ``focal``,
        ``shift`` (camera terms relative to the pixel centre, px), ``s``, ``gram`` and
        ``clutter`` (see the module docstring)."""
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
        return dict(
            slot=slot,
            corners=vertices[frags.fg_vertex],  # [P x 3 corners x 3] model frame (m)
            focal=torch.stack([K[:, 0, 0], K[:, 1, 1]], 1),  # [P x 2]
            shift=torch.stack([K[:, 0, 2], K[:, 1, 2]], 1) - centre,  # [P x 2]
            s=self._similarity.to(R)[det[:, None], frags.fg_vertex, pix[:, None]],  # [P x 3]
            gram=self._face_gram.to(R)[face],  # [P x 3 x 3]
            clutter=self._clutter[det, pix],  # [P]
        )

    # ------------------------------------------------------------------ per pixel
    def _barycentrics(self, R, t, pixels: dict, slot) -> torch.Tensor:
        """``[P x 3]`` perspective-correct barycentrics of the rasterised pixels (``pixels``
        of :meth:`_rasterise`) in their faces at the poses ``R [N x 3 x 3]``, ``t [N x 3]``
        (``slot [P]``: each pixel's pose)."""
        cam = torch.einsum("pij,pcj->pci", R[slot], pixels["corners"]) + t[slot][:, None]
        z = cam[..., 2]  # [P x 3]
        d = cam[..., :2] / z[..., None] * pixels["focal"][:, None] + pixels["shift"][:, None]
        bary, _ = perspective_barycentrics(d[..., 0], d[..., 1], z)
        return bary

    def _compare(self, bary, owner, pixels: dict, slot):
        """The :class:`CompareResult` of the ``N = len(owner)`` poses from the barycentrics
        ``bary [P x 3]`` of their foreground pixels (``pixels`` of :meth:`_rasterise`), and
        per pixel ``o [P]`` (cosine), ``G l [P x 3]`` and ``q = l^T G l [P]``."""
        n = owner.shape[0]
        h, w = self.obs.size
        gl = (pixels["gram"] @ bary[:, :, None]).squeeze(2)
        quad = (bary * gl).sum(1).clamp_min(_EPS * _EPS)
        o = (bary * pixels["s"]).sum(1) / quad.sqrt()
        c_fg = pixels["clutter"]
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
    def linearise(
        self,
        pose: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
        x: torch.Tensor,
        owner: torch.Tensor,
    ) -> tuple[CompareResult, torch.Tensor, torch.Tensor]:
        """Exact loss, gradient and Gauss-Newton Hessian of ``N`` poses ``pose(x)``.

        The loss is that of a fresh rasterisation of the poses; the derivatives are those of
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
            the :class:`CompareResult` at ``x``, ``g [N x K]``, ``H [N x K x K]``.
        """
        n, k = x.shape
        h, w = self.obs.size
        rows = torch.arange(n, device=x.device)
        R, t = pose(x, rows)
        pixels = self._rasterise(R, t, owner)
        slot = pixels["slot"]

        # forward differences in float64, the K shifted copies of every pose in one batch
        x64 = x.detach().double()
        shifted = torch.cat(
            [x64, (x64[None] + _FD_STEP * torch.eye(k).to(x64)[:, None]).flatten(0, 1)]
        )
        R64, t64 = pose(shifted, rows.repeat(k + 1))
        slots = (slot[None] + n * torch.arange(k + 1, device=x.device)[:, None]).flatten()
        pixels64 = {key: pixels[key].double() for key in ("corners", "focal", "shift")}
        tiled = {
            key: value.repeat(k + 1, *([1] * (value.dim() - 1))) for key, value in pixels64.items()
        }
        bary_all = self._barycentrics(R64, t64, tiled, slots).view(k + 1, -1, 3)
        A = ((bary_all[1:] - bary_all[0]) / _FD_STEP).permute(1, 2, 0).to(x)  # [P x 3 x K]
        res, o, gl, q = self._compare(bary_all[0].to(x), owner, pixels, slot)
        gram, s = pixels["gram"], pixels["s"]
        if self.loss == "nemo":
            active = (o > pixels["clutter"]).to(x)
        else:
            active = torch.ones_like(o)
        do_dl = s / q.sqrt()[:, None] - (o / q)[:, None] * gl  # [P x 3]
        grad_p = (A.transpose(1, 2) @ do_dl[:, :, None]).squeeze(2) * active[:, None]
        g = -x.new_zeros(n, k).index_add(0, slot, grad_p) / (h * w)
        M = (gram - gl[:, :, None] * gl[:, None, :] / q[:, None, None]) / q[:, None, None]
        hess_p = A.transpose(1, 2) @ M @ A * active[:, None, None]
        H = x.new_zeros(n, k, k).index_add(0, slot, hess_p) / (h * w)
        return res, g.nan_to_num(0.0), H.nan_to_num(0.0)
