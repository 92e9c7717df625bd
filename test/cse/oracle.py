"""A CSE model whose correspondences are exact by construction, and a rendered RGB-D frame.

The oracle's vertex embeddings are a Fourier encoding of the template's vertex positions; its
pixel features are those embeddings rendered (interpolated) at the true pose into the crop's
feature grid. Eq. 1-2 then map every object cell to (about) its true template point, so the
estimator's back end must recover the true pose, size and centre.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ros_pose_estimation.core.camera import Intrinsics
from ros_pose_estimation.core.rotations import random_rotations
from ros_pose_estimation.cse.model import CseConfig, CseModel, CseOutput
from ros_pose_estimation.render import rasterize, render_features


def fourier_codes(points: torch.Tensor, scale: float, dim: int = 64) -> torch.Tensor:
    """``[V x 3]`` -> ``[V x dim]`` unit Fourier features (deterministic frequencies)."""
    gen = torch.Generator().manual_seed(0)
    freqs = torch.randn(3, dim // 2, generator=gen) * 6.0 / scale
    ang = points @ freqs
    return F.normalize(torch.cat([ang.sin(), ang.cos()], 1), dim=1)


class OracleModel(CseModel):
    """Renders exact features for the object at ``R``, ``t`` (camera frame of the full image)."""

    def __init__(self, category: str, R: np.ndarray, t: np.ndarray, **kw):
        super().__init__(CseConfig(category, backbone="tiny", **kw))
        self.R_true = torch.as_tensor(R, dtype=torch.float32)
        self.t_true = torch.as_tensor(t, dtype=torch.float32)
        self.codes = fourier_codes(self.template, float(self.diameter), self.config.dim)

    def forward(self, crops, K):
        b, n, s = crops.shape[0], self.config.feature_size, self.config.stride
        Kf = K.clone().float()
        Kf[:, :2, :2] /= s
        Kf[:, :2, 2] = (Kf[:, :2, 2] + 0.5) / s - 0.5
        R, t = self.R_true.expand(b, 3, 3), self.t_true.expand(b, 3)
        rend = render_features(self.template, self.faces, self.codes, Kf, R, t, (n, n))
        feats = F.normalize(rend.features.contiguous() + 1e-6, dim=1)
        v = self.template[None].expand(b, -1, -1)
        zeros = torch.zeros(b, self.config.code_dim)
        return CseOutput(feats, R, t, zeros, torch.zeros_like(v), v, self.codes.expand(b, -1, -1))


def oracle_frame(category: str = "mug", seed: int = 0, wall: float | None = 0.9):
    """A 320 x 240 frame: ``(model, rgb, depth_m, mask, intrinsics, R, t)`` with the category's
    template at a random rotation ~0.5 m in front of the camera and (optionally) a wall."""
    rng = np.random.default_rng(seed)
    intr = Intrinsics(277.0, 277.0, 159.5, 119.5, 320, 240)
    R = random_rotations(1, rng)[0]
    t = np.array([rng.uniform(-0.05, 0.05), rng.uniform(-0.04, 0.04), rng.uniform(0.45, 0.6)])
    model = OracleModel(category, R, t)
    K = torch.as_tensor(intr.K, dtype=torch.float32)
    frag = rasterize(
        model.template, model.faces, K, torch.as_tensor(R, dtype=torch.float32)[None],
        torch.as_tensor(t, dtype=torch.float32)[None], (240, 320),
    )  # fmt: skip
    mask = frag.mask[0].numpy()
    depth = frag.depth[0].numpy().astype(np.float32)
    if wall is not None:
        depth[~mask] = wall
    rgb = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
    return model, rgb, depth, mask, intr, R, t


def mask_box(mask: np.ndarray) -> list[float]:
    rows, cols = np.nonzero(mask)
    return [cols.min() - 0.5, rows.min() - 0.5, cols.max() + 0.5, rows.max() + 0.5]
