"""A CSE model whose correspondences are exact by construction (tests and diagnosis only).

The oracle's vertex embeddings are a Fourier encoding of the template's vertex positions; its
pixel features are those embeddings rendered (interpolated) at a *given* pose into the crop's
feature grid. Eq. 1-2 then map every object cell to (about) the template point the given pose
puts there, so :class:`~ros_pose_estimation.cse.estimator.CseEstimator` must recover that pose.
Given the ground-truth pose of a data-engine image, this checks that the category template's
frame, the ground-truth frame and the crop / pixel conventions agree
(``python -m offline_training.cse.diagnose``).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ros_pose_estimation.cse.model import CseConfig, CseModel, CseOutput
from ros_pose_estimation.render import render_features


def fourier_codes(points: torch.Tensor, scale: float, dim: int = 64) -> torch.Tensor:
    """``[V x 3]`` -> ``[V x dim]`` unit Fourier features (deterministic frequencies)."""
    gen = torch.Generator().manual_seed(0)
    freqs = torch.randn(3, dim // 2, generator=gen) * 6.0 / scale
    ang = points @ freqs
    return F.normalize(torch.cat([ang.sin(), ang.cos()], 1), dim=1)


class OracleModel(CseModel):
    """Renders exact features for the object at ``R`` ``[3 x 3]``, ``t`` ``[3]`` (m; model ->
    camera frame of the full image; crops only change the intrinsics). ``kw``: CseConfig.
    ``stretch [3]``: the object is the template scaled per axis (a ``per_axis_scale`` model: the
    stretched mesh carries the template's codes, so cells map into the template frame)."""

    def __init__(self, category: str, R: np.ndarray, t: np.ndarray,
                 stretch: np.ndarray | None = None, **kw):  # fmt: skip
        super().__init__(CseConfig(category, backbone="tiny", **kw))
        scale = np.ones(3) if stretch is None else np.asarray(stretch, dtype=np.float64)
        self.stretch = torch.as_tensor(scale, dtype=torch.float32)
        self.R_true = torch.as_tensor(R, dtype=torch.float32)
        self.t_true = torch.as_tensor(t, dtype=torch.float32)
        self.codes = fourier_codes(self.template, float(self.diameter), self.config.dim)

    def forward(self, crops, K):
        b, n, s = crops.shape[0], self.config.feature_size, self.config.stride
        Kf = K.clone().float()
        Kf[:, :2, :2] /= s
        Kf[:, :2, 2] = (Kf[:, :2, 2] + 0.5) / s - 0.5
        R, t = self.R_true.expand(b, 3, 3), self.t_true.expand(b, 3)
        shape = self.template * self.stretch
        rend = render_features(shape, self.faces, self.codes, Kf, R, t, (n, n))
        feats = F.normalize(rend.features.contiguous() + 1e-6, dim=1)
        v = self.template[None].expand(b, -1, -1)
        zeros = torch.zeros(b, self.config.code_dim)
        return CseOutput(feats, R, t, zeros, torch.zeros_like(v), v, self.codes.expand(b, -1, -1))
