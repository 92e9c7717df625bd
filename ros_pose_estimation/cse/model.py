"""The RGB-D category model of paper 003: image encoder, decoder, shape prior, surface embedding.

Per object crop (``[B x 3 x S x S]`` RGB in [0, 1], object centred):

* image encoder = the project's ResNet (:mod:`ros_pose_estimation.models`; shared with the RGB
  estimator, one implementation) and a decoder fusing its stages at stride 4 (the
  :class:`~ros_pose_estimation.models.feature_net.FeatureNet` lateral/smooth/head modules):
  per-pixel unit features ``[B x D x S/4 x S/4]`` (D = 64 published);
* global heads on the average-pooled last stage: a 4-layer MLP (hidden 128) -> 6D rotation,
  a linear translation head and a linear shape code (64);
* the category template (``[V x 3]`` m, :mod:`.template`) deformed per instance by
  :class:`~.pointnet.DeformationMLP`, then encoded by :class:`~.pointnet.PointNetEncoder` into
  the per-vertex Categorical Surface Embedding ``[B x V x D]``.

Translation is predicted relative to the crop (a crop is a pinhole camera, so this is exact):
``u = cx_c + a S / 2``, ``v = cy_c + b S / 2`` around the crop centre and
``z = z_ref exp(c)`` with ``z_ref = fx_crop * diameter * crop_scale / S`` (the distance at which
the template's diameter spans the box inside the crop); ``t = z K^-1 [u, v, 1]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ros_pose_estimation.core.errors import ConfigError, check_shape
from ros_pose_estimation.core.mesh import TriMesh
from ros_pose_estimation.core.model_config import CropModelConfig
from ros_pose_estimation.core.rotations import rot6d_to_matrix
from ros_pose_estimation.core.view_correction import ViewCorrection
from ros_pose_estimation.models.feature_net import FeatureNet

from .pointnet import DeformationMLP, PointNetEncoder
from .template import DEFAULT_TEMPLATE_VERTICES, category_template


@dataclass
class CseConfig(CropModelConfig):
    """Everything needed to rebuild a CSE model and prepare its inputs.

    Attributes:
        category: registered category name.
        backbone: ``resnet18`` (published), ``resnet34``, ``resnet50``, ``small`` (half-width
            ResNet-18, CPU training) or ``tiny`` (tests).
        backbone_stages: deepest backbone stage used (4: up to stride 32; 3: up to stride 16,
            EfficientNet-Lite only: a quarter of Lite0's weights, the pose heads read stage 3).
        dim: embedding channels D (64 published).
        stride: feature stride (4 published: 256 -> 64 x 64).
        fuse_channels: decoder width (None: 2 x dim).
        crop_size: crop side S (px, multiple of 32); crop_scale: crop side / box longer side.
        code_dim: shape code width (64); pose_hidden: pose MLP width (128);
        deform_hidden / deform_layers: deformation MLP (5 layers published);
        max_offset: bound of a vertex offset, fraction of the template diameter;
        pointnet_width: PointNet hidden width.
        centre_embeddings: remove the vertices' mean embedding before normalising
            (:mod:`.pointnet`; off by default: it fixes a degenerate start of Eq. 1 but is not
            yet a clear win on every category, see the module doc there).
        n_vertices: template vertex budget (for building from the category's shape).
        tau: softmax temperature of Eq. 1 (0.1 published).
        per_axis_scale: correspondences live in the template's frame stretched per axis
            (NOCS-style normalised coordinates: the instance is ``diag(s)`` x the template,
            :mod:`.axis_scale`); the template is not deformed and the estimator recovers the
            three scales from depth. For categories whose proportions vary more than a bounded
            deformation follows (``box``). Off: paper 003's deformed template, one scale.
        inference_tau: Eq. 1's temperature for the estimator with this model (None: ``tau``),
            chosen on validation data when the model is exported (``export-model
            --inference-tau``; BENCHMARKS "Inference temperature").
        box_layers: depth layers of a box-only detection the estimator tries with this model
            (None: one; :class:`~ros_pose_estimation.cse.estimator.CseInferenceConfig`
            ``box_layers``), chosen on validation data when the model is exported
            (``export-model --box-layers``; BENCHMARKS "Box-only detections behind an
            occluder").
    """

    category: str
    backbone: str = "resnet18"
    backbone_stages: int = 4
    dim: int = 64
    stride: int = 4
    fuse_channels: int | None = None
    crop_size: int = 128
    crop_scale: float = 1.2
    code_dim: int = 64
    pose_hidden: int = 128
    deform_hidden: int = 128
    deform_layers: int = 5
    max_offset: float = 0.2
    pointnet_width: int = 128
    centre_embeddings: bool = False
    n_vertices: int = DEFAULT_TEMPLATE_VERTICES
    tau: float = 0.1
    per_axis_scale: bool = False
    inference_tau: float | None = None
    box_layers: int | None = None

    def __post_init__(self) -> None:
        self.check_category_and_crop()
        if self.crop_size % 32 or self.crop_size < 32:
            raise ConfigError(f"crop_size must be a positive multiple of 32, got {self.crop_size}")
        if self.tau <= 0 or (self.inference_tau is not None and not self.inference_tau > 0):
            raise ConfigError(f"tau and inference_tau must be > 0, got {self.tau}, "
                              f"{self.inference_tau}")  # fmt: skip
        if self.box_layers is not None and self.box_layers < 1:
            raise ConfigError(f"box_layers must be >= 1 (or None), got {self.box_layers}")


@dataclass
class CseOutput:
    """One forward pass (``B`` crops, ``V`` vertices, feature map ``h x w``).

    Attributes:
        features: ``[B x D x h x w]`` unit pixel embeddings.
        R: ``[B x 3 x 3]`` predicted rotation (model -> crop camera); t: ``[B x 3]`` (m).
        code: ``[B x C]`` shape code.
        offsets: ``[B x V x 3]`` vertex offsets (m).
        vertices: ``[B x V x 3]`` deformed template (m, canonical frame).
        embeddings: ``[B x V x D]`` unit vertex embeddings (the CSE).
    """

    features: torch.Tensor
    R: torch.Tensor
    t: torch.Tensor
    code: torch.Tensor
    offsets: torch.Tensor
    vertices: torch.Tensor
    embeddings: torch.Tensor


class CseModel(nn.Module):
    """The CSE network of one category.

    Args:
        config: settings.
        template: shape prior in the canonical frame (m); default: the category's typical
            procedural instance simplified to ``config.n_vertices``.
        backbone_weights: optional local torchvision checkpoint of the ResNet.
    """

    def __init__(
        self,
        config: CseConfig,
        template: TriMesh | None = None,
        backbone_weights: str | None = None,
    ):
        super().__init__()
        self.config = config
        if template is None:
            template = category_template(config.category, config.n_vertices)
        self.register_buffer("template", torch.as_tensor(template.vertices, dtype=torch.float32))
        self.register_buffer("faces", torch.as_tensor(template.faces, dtype=torch.int64))
        diam = float(np.linalg.norm(template.extents))
        self.register_buffer("diameter", torch.tensor(diam, dtype=torch.float32))
        self.feature_net = FeatureNet(
            config.backbone, config.dim, config.stride, backbone_weights, config.fuse_channels,
            backbone_stages=config.backbone_stages,
        )
        width = self.feature_net.backbone.stage_channels[-1]
        h = config.pose_hidden
        self.pose_head = nn.Sequential(
            nn.Linear(width, h), nn.ReLU(True), nn.Linear(h, h), nn.ReLU(True),
            nn.Linear(h, h), nn.ReLU(True), nn.Linear(h, 6),
        )  # fmt: skip
        self.trans_head = nn.Linear(width, 3)
        nn.init.zeros_(self.trans_head.weight)
        nn.init.zeros_(self.trans_head.bias)
        self.code_head = nn.Linear(width, config.code_dim)
        self.deform = DeformationMLP(
            config.code_dim, config.deform_hidden, config.deform_layers, config.max_offset
        )
        #: viewpoint-dependent rotation and centre bias correction fitted on synthetic views
        #: (:mod:`ros_pose_estimation.core.view_correction`); None until ``calibrate-cse``
        #: fits one.
        self.view_correction: ViewCorrection | None = None
        self.mesh_encoder = PointNetEncoder(
            config.dim, config.pointnet_width, config.centre_embeddings
        )

    @property
    def category(self) -> str:
        return self.config.category

    @property
    def n_vertices(self) -> int:
        return int(self.template.shape[0])

    def template_mesh(self) -> TriMesh:
        return TriMesh(self.template.double().cpu().numpy(), self.faces.cpu().numpy())

    def template_extents(self) -> torch.Tensor:
        """``[3]`` extents (m) of the category template along the model axes."""
        return self.template.max(0).values - self.template.min(0).values

    def axis_stretch(self, size: torch.Tensor) -> torch.Tensor:
        """Instance extents ``size [N x 3]`` (m) -> ``[N x 3]`` template extents / instance
        extents per model axis: what maps an instance's true model points into the template
        frame of a ``per_axis_scale`` model (its labels)."""
        return self.template_extents()[None] / size.clamp(min=1e-6)

    def encode_image(self, crops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``[B x 3 x S x S]`` -> pixel features ``[B x D x S/4 x S/4]`` and the global feature
        (``[B x C]``, the deepest stage averaged)."""
        features, stages = self.feature_net.features_and_stages(crops)
        return features, stages[f"layer{len(stages)}"].mean((2, 3))

    def translation(self, raw: torch.Tensor, K: torch.Tensor, size: int) -> torch.Tensor:
        """Head output ``[B x 3]`` -> translation ``[B x 3]`` (m) in the crop camera ``K``."""
        z_ref = K[:, 0, 0] * self.diameter * self.config.crop_scale / size
        z = z_ref * torch.exp(raw[:, 2].clamp(-3.0, 3.0))
        centre = (size - 1) / 2.0
        u = centre + raw[:, 0] * size / 2.0
        v = centre + raw[:, 1] * size / 2.0
        x = (u - K[:, 0, 2]) / K[:, 0, 0] * z
        y = (v - K[:, 1, 2]) / K[:, 1, 1] * z
        return torch.stack([x, y, z], -1)

    def deformed(self, code: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Shape code ``[B x C]`` -> offsets and deformed vertices, ``[B x V x 3]`` each (m);
        zero offsets with ``per_axis_scale`` (the frame is normalised, not deformed)."""
        if self.config.per_axis_scale:
            offsets = torch.zeros(code.shape[0], *self.template.shape).to(self.template)
            return offsets, self.template[None] + offsets
        offsets = self.deform(self.template / self.diameter, code) * self.diameter
        return offsets, self.template[None] + offsets

    def forward(self, crops: torch.Tensor, K: torch.Tensor) -> CseOutput:
        """``crops [B x 3 x S x S]`` in [0, 1] and their intrinsics ``K [B x 3 x 3]`` (px)."""
        b = check_shape("crops", crops, ("B", 3, "S", "S"))["B"]
        check_shape("K", K, (b, 3, 3))
        features, glob = self.encode_image(crops)
        R = rot6d_to_matrix(self.pose_head(glob))
        t = self.translation(self.trans_head(glob), K.to(glob.dtype), crops.shape[-1])
        code = self.code_head(glob)
        offsets, vertices = self.deformed(code)
        embeddings = self.mesh_encoder(vertices / self.diameter)
        return CseOutput(features, R, t, code, offsets, vertices, embeddings)
