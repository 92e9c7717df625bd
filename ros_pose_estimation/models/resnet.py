"""ResNet-18/34/50 backbones in plain torch, with torchvision's parameter and buffer names.

torchvision cannot be imported on the project's CPU machines, so the backbones are defined here.
Every parameter and buffer name equals torchvision's (``conv1.weight``, ``bn1.running_mean``,
``layer1.0.conv1.weight``, ``layer2.0.downsample.0.weight``, ``layer2.0.downsample.1.*``,
``fc.*``), so ImageNet checkpoints saved by torchvision load from a file with
:func:`load_backbone_weights` (e.g. ``resnet50-0676ba61.pth``, ``resnet18-f37072fd.pth``).
Architecture: torchvision's "ResNet v1.5" (the stride of a bottleneck sits on its 3x3 conv).

``forward`` returns the four stages ``{"layer1": ..., "layer4": ...}`` at strides 4, 8, 16, 32
(or 4, 8, 8, 8 with ``replace_stride_with_dilation=(True, True, ...)`` etc., see
:attr:`ResNet.stage_strides`). The classifier ``fc`` exists only with ``num_classes`` (for
checking parameter counts against torchvision or classifying with :meth:`ResNet.classify`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import torch
from torch import nn

from ros_pose_estimation.core.errors import CheckpointError, ConfigError
from ros_pose_estimation.models.weights_file import (
    check_keys,
    mark_loaded,
    random_init,
    read_state,
)

logger = logging.getLogger(__name__)

#: torchvision's ImageNet checkpoint file names, by architecture (what a user should download).
TORCHVISION_FILES: dict[str, str] = {
    "resnet18": "resnet18-f37072fd.pth",
    "resnet34": "resnet34-b627a593.pth",
    "resnet50": "resnet50-0676ba61.pth (IMAGENET1K_V2) or resnet50-11ad3fa6.pth (V1)",
}


def _conv3x3(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation, bias=False)


def _conv1x1(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 1, stride, bias=False)


class _ResidualBlock(nn.Module):
    """``relu(body(x) + shortcut(x))``, the frame both blocks share: a subclass builds its
    ``conv*`` / ``bn*`` layers (torchvision's names, in torchvision's order) in :meth:`_build`
    and applies them in :meth:`_body`; the shortcut is ``downsample`` (None: the identity)."""

    expansion = 1

    def __init__(
        self,
        cin: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        dilation: int = 1,
    ) -> None:
        super().__init__()
        self._build(cin, planes, stride, dilation)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def _build(self, cin: int, planes: int, stride: int, dilation: int) -> None:
        raise NotImplementedError

    def _body(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(self._body(x) + identity)


class BasicBlock(_ResidualBlock):
    """Two 3x3 convs with a residual connection (ResNet-18/34)."""

    expansion = 1

    def _build(self, cin: int, planes: int, stride: int, dilation: int) -> None:
        self.conv1 = _conv3x3(cin, planes, stride, dilation)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes, 1, dilation)
        self.bn2 = nn.BatchNorm2d(planes)

    def _body(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        return self.bn2(self.conv2(out))


class Bottleneck(_ResidualBlock):
    """1x1 reduce, 3x3 (strided), 1x1 expand x4, with a residual connection (ResNet-50)."""

    expansion = 4

    def _build(self, cin: int, planes: int, stride: int, dilation: int) -> None:
        self.conv1 = _conv1x1(cin, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes, stride, dilation)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = _conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)

    def _body(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.bn3(self.conv3(out))


class ResNet(nn.Module):
    """ResNet trunk returning its four stages.

    Args:
        block: :class:`BasicBlock` or :class:`Bottleneck`.
        layers: blocks per stage, e.g. ``(2, 2, 2, 2)`` for ResNet-18.
        base_channels: width of the stem and of stage 1 (64 in torchvision; smaller values
            give tiny test models with the same names but other shapes).
        replace_stride_with_dilation: three flags for layer2..layer4, as in torchvision.
        num_classes: build ``avgpool`` + ``fc`` with this many outputs (None: no classifier).

    Input ``[B x 3 x H x W]`` (normalised as the weights expect); output a dict of
    ``[B x C_i x H/s_i x W/s_i]`` for ``layer1..layer4`` (sizes rounded up for odd inputs).
    """

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        layers: Sequence[int],
        base_channels: int = 64,
        replace_stride_with_dilation: Sequence[bool] = (False, False, False),
        num_classes: int | None = None,
    ) -> None:
        super().__init__()
        if len(layers) != 4 or len(replace_stride_with_dilation) != 3:
            raise ConfigError(
                f"expected 4 stage depths and 3 dilation flags, got {list(layers)} and "
                f"{list(replace_stride_with_dilation)}"
            )
        self.inplanes = base_channels
        self.dilation = 1
        self.conv1 = nn.Conv2d(3, base_channels, 7, 2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(base_channels)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, padding=1)
        flags = (False, *replace_stride_with_dilation)
        strides, stride = [], 4
        for i, (depth, dilate) in enumerate(zip(layers, flags, strict=True)):
            step = 1 if i == 0 else 2
            stride *= 1 if (dilate or i == 0) else 2
            strides.append(stride)
            stage = self._make_layer(block, base_channels * 2**i, depth, step, dilate)
            self.add_module(f"layer{i + 1}", stage)
        #: output stride of layer1..layer4 relative to the input
        self.stage_strides: tuple[int, ...] = tuple(strides)
        #: channels of layer1..layer4
        self.stage_channels: tuple[int, ...] = tuple(
            base_channels * 2**i * block.expansion for i in range(4)
        )
        if num_classes is not None:
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(self.stage_channels[-1], num_classes)
        random_init(self)
        #: architecture name (``build_resnet`` sets it; names the expected checkpoint file)
        self.arch = "resnet"
        #: how the weights were initialised; :func:`load_backbone_weights` updates it
        self.init_description = "random (Kaiming normal, no pretrained weights loaded)"

    def _make_layer(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        planes: int,
        depth: int,
        stride: int,
        dilate: bool,
    ) -> nn.Sequential:
        previous_dilation = self.dilation
        if dilate:
            self.dilation *= stride
            stride = 1
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                _conv1x1(self.inplanes, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion),
            )
        blocks = [block(self.inplanes, planes, stride, downsample, previous_dilation)]
        self.inplanes = planes * block.expansion
        blocks += [block(self.inplanes, planes, dilation=self.dilation) for _ in range(1, depth)]
        return nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        out = {}
        for name in ("layer1", "layer2", "layer3", "layer4"):
            x = getattr(self, name)(x)
            out[name] = x
        return out

    def early_modules(self, stages: int) -> list[nn.Module]:
        """The stem (``conv1``, ``bn1``) and ``layer1..layer<stages>`` (``stages`` in 0..4):
        what fine-tuning freezes."""
        if not 0 <= stages <= 4:
            raise ConfigError(f"stages must be in 0..4, got {stages}")
        if stages == 0:
            return []
        return [self.conv1, self.bn1, *(getattr(self, f"layer{i + 1}") for i in range(stages))]

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """``[B x 3 x H x W]`` -> ``[B x num_classes]`` logits (needs ``num_classes``)."""
        if not hasattr(self, "fc"):
            raise ConfigError("this ResNet was built without a classifier (num_classes=None)")
        return self.fc(torch.flatten(self.avgpool(self.forward(x)["layer4"]), 1))


_ARCHS: dict[str, tuple[type[BasicBlock] | type[Bottleneck], tuple[int, ...]]] = {
    "resnet18": (BasicBlock, (2, 2, 2, 2)),
    "resnet34": (BasicBlock, (3, 4, 6, 3)),
    "resnet50": (Bottleneck, (3, 4, 6, 3)),
}


def build_resnet(name: str, weights: str | os.PathLike | None = None, **kwargs) -> ResNet:
    """``resnet18`` / ``resnet34`` / ``resnet50``, optionally with weights from a local file.

    ``kwargs`` go to :class:`ResNet` (``base_channels``, ``replace_stride_with_dilation``,
    ``num_classes``). Without ``weights`` the model is randomly initialised and an INFO line is
    logged; :attr:`ResNet.init_description` says which case happened.
    """
    if name not in _ARCHS:
        raise ConfigError(f"unknown backbone {name!r}; supported: {', '.join(_ARCHS)}")
    block, layers = _ARCHS[name]
    model = ResNet(block, layers, **kwargs)
    model.arch = name
    if weights is None:
        logger.info("%s: %s", name, model.init_description)
    else:
        load_backbone_weights(model, weights)
    return model


def _unwrap(state: object, path: str) -> dict[str, torch.Tensor]:
    """The tensor dict inside a checkpoint (plain, or under ``state_dict`` / ``model``)."""
    if isinstance(state, dict):
        for key in ("state_dict", "model"):
            if isinstance(state.get(key), dict):
                state = state[key]
                break
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise CheckpointError(f"{path}: expected a state dict of tensors, got {type(state)}")
    if state and all(k.startswith("module.") for k in state):  # saved from DataParallel
        state = {k.removeprefix("module."): v for k, v in state.items()}
    return state


def load_backbone_weights(model: ResNet, path: str | os.PathLike) -> ResNet:
    """Load a torchvision ResNet checkpoint into ``model`` strictly, ignoring ``fc.*``.

    Missing ``*.num_batches_tracked`` buffers (old torchvision files predate them) are kept
    from the model; every other key must match in name and shape.

    Raises:
        CheckpointError: file missing or unreadable, or keys / shapes that do not match; the
            message lists the first offending keys and the file that was expected.
    """
    path = os.fspath(path)
    arch = model.arch
    expected = TORCHVISION_FILES.get(arch, "a torchvision ResNet state dict")
    hint = f"expected torchvision's ImageNet weights for {arch}: {expected}"
    state = read_state(path, hint)
    state = {k: v for k, v in _unwrap(state, path).items() if not k.startswith("fc.")}
    own = {k: v for k, v in model.state_dict().items() if not k.startswith("fc.")}
    for key in own:
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = own[key]
    check_keys(own, state, path, arch, hint)
    mark_loaded(model, state, path, strict=not hasattr(model, "fc"))
    return model
