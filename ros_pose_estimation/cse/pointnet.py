"""Mesh-side networks of the CSE model (paper 003 Sec. 3.1-3.2, appendix A.1).

* :class:`DeformationMLP`: ``f_shape: [xyz, shape code] -> dxyz`` per template vertex, 5 fully
  connected layers (published), so ``V = V_template + dV``.
* :class:`PointNetEncoder`: 3-layer PointNet on the deformed vertices -> the per-vertex
  Categorical Surface Embedding (``D`` channels, L2-normalised). Segmentation-style: a shared
  per-point layer, a global max-pooled feature concatenated back to every point, two more
  shared layers. With ``centre`` the mean over the vertices is removed before the
  normalisation: the part shared by all vertices says nothing about *which* vertex a pixel
  is, and at initialisation it dominates (uncentred, the embeddings of all vertices have
  cosine ~0.995, so Eq. 1's softmax at tau 0.1 is uniform, every pixel maps to the template's
  centroid and the correspondence gradients vanish; centred: cosine ~0, logit range ~19).
  Measured (200 CPU steps, one seed): mugs learn faster with it, bottles scored lower, so it
  is opt-in (``CseConfig.centre_embeddings``, ``train-cse --centre-embeddings``).

Coordinates enter both networks divided by the template's diameter (unit-free, ~[-0.5, 0.5]).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ros_pose_estimation.core.errors import ConfigError, check_shape


def _mlp(sizes: list[int], last_activation: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2 or last_activation:
            layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class DeformationMLP(nn.Module):
    """Per-vertex offsets from ``[xyz / diameter, shape code]``.

    Args:
        code_dim: shape code width (64 published).
        hidden: hidden width; layers: number of fully connected layers (5 published).
        max_offset: offsets are ``max_offset * tanh(.)`` in units of the template diameter.
    """

    def __init__(
        self, code_dim: int = 64, hidden: int = 128, layers: int = 5, max_offset: float = 0.2
    ):
        super().__init__()
        if layers < 2:
            raise ConfigError(f"the deformation MLP needs >= 2 layers, got {layers}")
        self.net = _mlp([3 + code_dim] + [hidden] * (layers - 1) + [3])
        nn.init.normal_(self.net[-1].weight, std=1e-4)  # start (almost) at the template
        nn.init.zeros_(self.net[-1].bias)
        self.max_offset = float(max_offset)

    def forward(self, points: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        """``points [V x 3]``, ``code [B x C]`` -> offsets ``[B x V x 3]`` (all unit-free)."""
        check_shape("points", points, ("V", 3))
        b, v = code.shape[0], points.shape[0]
        x = torch.cat([points[None].expand(b, v, 3), code[:, None].expand(b, v, -1)], -1)
        return self.max_offset * torch.tanh(self.net(x))


class PointNetEncoder(nn.Module):
    """``[B x V x 3]`` points (unit-free) -> ``[B x V x D]`` unit per-vertex embeddings;
    ``centre``: remove the mean over the vertices before normalising (module doc)."""

    def __init__(self, dim: int = 64, width: int = 128, centre: bool = False):
        super().__init__()
        self.local = _mlp([3, width // 2, width], last_activation=True)
        self.head = _mlp([2 * width, width, dim])
        self.dim = dim
        self.centre = bool(centre)

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        check_shape("points", points, ("B", "V", 3))
        local = self.local(points)  # [B x V x W]
        glob = local.amax(1, keepdim=True).expand_as(local)
        out = self.head(torch.cat([local, glob], -1))
        if self.centre:
            out = out - out.mean(1, keepdim=True)
        return F.normalize(out, dim=-1)
