"""Part-level shape memory of paper 004 (PSR, Eqs. 1-3) as a training-only teacher of the CSE
deformation.

Paper 004: the image feature map is cut into ``N`` patches, each average-pooled into a
descriptor, ``z_e [N x C]``; each descriptor is replaced by its nearest code of a memory
``e [K x C]`` (Eq. 1); the ``N`` codes, concatenated (``N C``), go through a 3-layer MLP that
decodes the object's point cloud, trained with the Chamfer distance (Eq. 2) plus the VQ-VAE
codebook and commitment terms (Eq. 3) with straight-through gradients to the encoder and a
moving-average codebook.

Here (no ShapeNet pretraining, no shape labels, the CSE model unchanged):

* patches: the CSE pixel features ``[B x D x n x n]`` averaged over the object cells of a
  ``g x g`` grid (a patch without object cell takes the crop's object mean), then a linear map
  ``D -> C``;
* decoder: a 3-layer MLP -> per-vertex offsets of the category template ``[V x 3]`` (bounded by
  ``max_offset`` diameters like the CSE deformation; the last layer starts at zero, so the
  memory starts at the template). The memory's shape and the CSE's deformed mesh share their
  vertices;
* Eq. 2's target: the observed object (cells with depth back-projected and put into the model
  frame by the predicted pose, no gradient through the pose): a partial Chamfer distance, every
  observed point to its nearest memory vertex and every vertex visible at the predicted pose to
  its nearest observed point (one view shows part of the object only);
* the memory deforms the runtime model through ``memory_deform``:
  ``||x_i - sg[x_mem,i]||^2 / diameter^2``, the CSE's deformed vertices pulled to the memory's.

The memory is no part of the CSE checkpoint (inference uses the deformation MLP alone): the
trainer keeps it beside the model and in ``resume.pt``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from offline_training.cse import losses as L
from ros_pose_estimation.core.errors import ConfigError, check_shape


@dataclass
class Quantised:
    """Eq. 1 for ``M`` descriptors: ``codes [.. x C]`` (straight-through: the values of the
    chosen codes, the gradient of the descriptors), ``index [..]`` int64 and the Eq. 3 terms
    ``codebook`` = mean ``||sg[z_e] - e||^2`` and ``commitment`` = mean ``beta ||z_e - sg[e]||^2``.
    """

    codes: torch.Tensor
    index: torch.Tensor
    codebook: torch.Tensor
    commitment: torch.Tensor


class VectorQuantizer(nn.Module):
    """A memory of ``n_codes`` codes of ``dim`` channels (Eq. 1) with the Eq. 3 terms.

    Args:
        beta: commitment weight (Eq. 3).
        decay: moving-average factor of the codebook update (paper 004 / VQ-VAE); ``None``:
            the codes are a parameter trained by the codebook term instead.
        eps: Laplace smoothing of the code counts.

    With ``decay`` the codes start from the first training batch's descriptors (random picks,
    so no code starts unused) and are updated in training mode only.
    """

    def __init__(self, n_codes: int, dim: int, beta: float = 0.25, decay: float | None = 0.99,
                 eps: float = 1e-5) -> None:  # fmt: skip
        super().__init__()
        if n_codes < 1 or dim < 1:
            raise ConfigError(f"shape memory needs n_codes, dim >= 1, got {n_codes}, {dim}")
        if decay is not None and not 0.0 <= decay < 1.0:
            raise ConfigError(f"codebook decay must be in [0, 1) or None, got {decay}")
        self.beta, self.decay, self.eps = beta, decay, eps
        codes = torch.randn(n_codes, dim) / dim**0.5
        if decay is None:
            self.codes = nn.Parameter(codes)
        else:
            self.register_buffer("codes", codes)
            self.register_buffer("ema_count", torch.ones(n_codes))
            self.register_buffer("ema_sum", codes.clone())
            self.register_buffer("started", torch.tensor(False))

    def nearest(self, z: torch.Tensor) -> torch.Tensor:
        """Eq. 1: index ``[..]`` of the code nearest (L2) each descriptor ``z [.. x C]``."""
        flat = z.detach().reshape(-1, z.shape[-1])
        return torch.cdist(flat, self.codes.detach()).argmin(-1).reshape(z.shape[:-1])

    def forward(self, z: torch.Tensor) -> Quantised:
        """Descriptors ``z [.. x C]`` -> :class:`Quantised`."""
        check_shape("descriptors", z, ("...", self.codes.shape[1]))
        if self.decay is not None and self.training:
            self._update(z.detach().reshape(-1, z.shape[-1]))
        index = self.nearest(z)
        e = self.codes[index]
        codebook = ((z.detach() - e) ** 2).sum(-1).mean()
        commitment = self.beta * ((z - e.detach()) ** 2).sum(-1).mean()
        return Quantised(z + (e - z).detach(), index, codebook, commitment)

    @torch.no_grad()
    def _update(self, flat: torch.Tensor) -> None:
        """Moving averages of each code's count and descriptor sum (Laplace-smoothed)."""
        k = self.codes.shape[0]
        if not bool(self.started):
            pick = torch.randint(0, flat.shape[0], (k,), device=flat.device)
            self.codes.copy_(flat[pick])
            self.ema_sum.copy_(flat[pick])
            self.ema_count.fill_(1.0)
            self.started.fill_(True)
        onehot = F.one_hot(self.nearest(flat), k).to(flat.dtype)  # [M x K]
        self.ema_count.mul_(self.decay).add_(onehot.sum(0), alpha=1 - self.decay)
        self.ema_sum.mul_(self.decay).add_(onehot.t() @ flat, alpha=1 - self.decay)
        n = self.ema_count.sum()
        count = (self.ema_count + self.eps) / (n + k * self.eps) * n
        self.codes.copy_(self.ema_sum / count[:, None])


@dataclass
class MemoryShape:
    """The memory's reconstruction of ``B`` crops: ``vertices [B x V x 3]`` (m, canonical frame;
    the template's vertices moved) and its :class:`Quantised` codes (``index [B x N]``)."""

    vertices: torch.Tensor
    quantised: Quantised


class PartShapeMemory(nn.Module):
    """Patches of the pixel features -> nearest codes -> template offsets (see the module doc).

    Args:
        feature_dim: channels ``D`` of the pixel features; n_vertices: template vertices ``V``.
        grid: patches per side (``N = grid^2``); dim: code channels ``C``; n_codes: ``K``.
        hidden: decoder width; max_offset: bound of an offset (template diameters).
        beta, decay: :class:`VectorQuantizer`.
    """

    def __init__(self, feature_dim: int, n_vertices: int, grid: int = 2, dim: int = 32,
                 n_codes: int = 64, hidden: int = 256, max_offset: float = 0.2,
                 beta: float = 0.25, decay: float | None = 0.99) -> None:  # fmt: skip
        super().__init__()
        if grid < 1:
            raise ConfigError(f"shape memory grid must be >= 1, got {grid}")
        self.grid, self.max_offset, self.n_vertices = grid, max_offset, n_vertices
        self.project = nn.Linear(feature_dim, dim)
        self.quantizer = VectorQuantizer(n_codes, dim, beta, decay)
        self.decoder = nn.Sequential(
            nn.Linear(grid * grid * dim, hidden), nn.ReLU(True), nn.Linear(hidden, hidden),
            nn.ReLU(True), nn.Linear(hidden, n_vertices * 3),
        )  # fmt: skip
        nn.init.zeros_(self.decoder[-1].weight)
        nn.init.zeros_(self.decoder[-1].bias)

    def descriptors(self, features: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
        """``z_e [B x N x C]``: ``features [B x D x n x n]`` averaged over the object cells
        (weights ``cells [B x n x n]`` >= 0) of each patch of the ``grid x grid`` partition."""
        b, d, n = check_shape("features", features, ("B", "D", "n", "n")).values()
        check_shape("cells", cells, (b, n, n))
        w = cells.to(features.dtype)[:, None]
        total = F.adaptive_avg_pool2d(features * w, self.grid)
        weight = F.adaptive_avg_pool2d(w, self.grid)
        whole = (features * w).sum((2, 3)) / w.sum((2, 3)).clamp(min=1e-6)  # [B x D]
        mean = torch.where(weight > 1e-6, total / weight.clamp(min=1e-6), whole[..., None, None])
        return self.project(mean.flatten(2).transpose(1, 2))

    def forward(self, features: torch.Tensor, cells: torch.Tensor, template: torch.Tensor,
                diameter: torch.Tensor) -> MemoryShape:  # fmt: skip
        """Pixel features ``[B x D x n x n]``, object cells ``[B x n x n]``, the template
        ``[V x 3]`` (m) and its diameter (m) -> :class:`MemoryShape`."""
        check_shape("template", template, (self.n_vertices, 3))
        q = self.quantizer(self.descriptors(features, cells))
        raw = self.decoder(q.codes.flatten(1)).reshape(-1, self.n_vertices, 3)
        offsets = self.max_offset * torch.tanh(raw) * diameter
        return MemoryShape(template[None] + offsets, q)


def partial_chamfer(vertices, points, points_ok, visible, diameter) -> torch.Tensor:
    """Eq. 2 against one view: mean squared distance (diameters^2) of each observed point
    ``points [B x P x 3]`` (where ``points_ok [B x P]``) to its nearest vertex of
    ``vertices [B x V x 3]``, plus that of each vertex ``visible [B x V]`` to its nearest
    observed point (crops without observed point are skipped)."""
    d = torch.cdist(points, vertices) ** 2 / diameter**2  # [B x P x V]
    ok = points_ok.to(d.dtype)
    to_mesh = (d.min(2).values * ok).sum() / ok.sum().clamp(min=1.0)
    far = torch.where(points_ok[..., None], d, torch.full_like(d, float("inf")))
    seen = visible & points_ok.any(1, keepdim=True)
    nearest = torch.where(seen, far.min(1).values, torch.zeros_like(d[:, 0]))
    to_points = nearest.sum() / seen.sum().clamp(min=1)
    return to_mesh + to_points


def memory_losses(memory: PartShapeMemory, model, out, frac, K, xy, cell_depth, index, ok,
                  visible) -> dict:  # fmt: skip
    """The loss terms ``{"memory": Eq. 3, "memory_deform": CSE vertices -> memory shape}`` of a
    batch of ``B`` crops: ``out`` the model's :class:`~ros_pose_estimation.cse.model.CseOutput`,
    ``frac`` / ``cell_depth`` ``[B x n x n]`` mask fraction and depth (m) per cell, ``K``
    ``[B x 3 x 3]`` crop intrinsics, the object cells ``index [B x P]`` (row-major ids) at crop
    px ``xy [B x P x 2]`` where ``ok [B x P]``, ``visible [B x V]`` the vertices visible at the
    predicted pose. Observed points: cells with depth, put into the model frame by the
    predicted pose (no gradient through it)."""
    z = torch.gather(cell_depth.flatten(1), 1, index)
    points = L.true_model_points(K, xy, z, out.R.detach(), out.t.detach())
    shape = memory(out.features, (frac >= 0.5).float(), model.template, model.diameter)
    q = shape.quantised
    recon = partial_chamfer(shape.vertices, points, ok & (z > 0), visible, model.diameter)
    pull = ((out.vertices - shape.vertices.detach()) ** 2).sum(-1).mean() / model.diameter**2
    return {"memory": recon + q.codebook + q.commitment, "memory_deform": pull}


def build_memory(model, cfg) -> PartShapeMemory | None:
    """The trainer's memory for ``model`` from the ``memory_*`` settings of ``cfg``
    (:class:`~offline_training.cse.train.CseTrainConfig`); None when both memory weights are
    0 (the default: the losses are then those without it)."""
    if not (cfg.weights.get("memory", 0.0) or cfg.weights.get("memory_deform", 0.0)):
        return None
    mc = model.config
    memory = PartShapeMemory(
        mc.dim, model.n_vertices, cfg.memory_grid, cfg.memory_dim, cfg.memory_codes,
        max_offset=mc.max_offset, beta=cfg.memory_beta, decay=cfg.memory_decay,
    )  # fmt: skip
    return memory.to(model.template.device)
