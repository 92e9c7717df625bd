"""FeatureNet: stride-8 unit features, input checks, ImageNet normalisation, weights loading."""

from __future__ import annotations

import time

import pytest
import torch

from ros_pose_estimation.core.errors import ConfigError, InputError
from ros_pose_estimation.models.feature_net import IMAGENET_MEAN, FeatureNet
from ros_pose_estimation.models.resnet import build_resnet


@pytest.fixture
def one_thread():
    """Tiny models run fastest (and with stable timings) on one intra-op thread."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def tiny() -> FeatureNet:
    torch.manual_seed(0)
    return FeatureNet("tiny", dim=16).eval()


def test_output_shape_and_unit_norm(tiny):
    with torch.no_grad():
        out = tiny(torch.rand(2, 3, 64, 96))
    assert out.shape == (2, 16, 8, 12)
    torch.testing.assert_close(out.norm(dim=1), torch.ones(2, 8, 12))


@pytest.mark.parametrize("stride", [4, 8, 16])
def test_other_strides(stride):
    net = FeatureNet("tiny", dim=8, stride=stride).eval()
    with torch.no_grad():
        assert net(torch.rand(1, 3, 64, 32)).shape == (1, 8, 64 // stride, 32 // stride)


def test_load_coarser_copies_each_stage_and_starts_the_finer_one_at_zero():
    torch.manual_seed(0)
    coarse = FeatureNet("tiny", dim=8, stride=8).eval()
    fine = FeatureNet("tiny", dim=8, stride=4).eval()
    fine.load_coarser(coarse)
    theirs, mine = coarse.state_dict(), fine.state_dict()
    for i in range(len(coarse.lateral)):  # stride 8's stage i is stride 4's stage i + 1
        torch.testing.assert_close(mine[f"lateral.{i + 1}.weight"], theirs[f"lateral.{i}.weight"])
    assert not fine.lateral[0].weight.any() and not fine.lateral[0].bias.any()
    for key in theirs:
        if not key.startswith("lateral."):
            torch.testing.assert_close(mine[key], theirs[key])
    with torch.no_grad():  # the same map, sampled twice as finely: close after pooling
        image = torch.rand(2, 3, 64, 64)
        pooled = torch.nn.functional.avg_pool2d(fine(image), 2)
        agree = (torch.nn.functional.normalize(pooled, dim=1) * coarse(image)).sum(1)
    assert agree.mean() > 0.8


def test_load_coarser_refuses_another_net_or_a_finer_one():
    fine = FeatureNet("tiny", dim=8, stride=4)
    with pytest.raises(ConfigError, match="coarser stride"):
        fine.load_coarser(FeatureNet("tiny", dim=16, stride=8))
    with pytest.raises(ConfigError, match="coarser stride"):
        FeatureNet("tiny", dim=8, stride=8).load_coarser(fine)


def test_batch_independence_in_eval_mode(tiny):
    x = torch.rand(3, 3, 64, 64)
    with torch.no_grad():
        batched = tiny(x)
        single = tiny(x[1:2])
    torch.testing.assert_close(batched[1:2], single, atol=1e-5, rtol=1e-5)


def test_imagenet_normalisation_happens_inside(tiny):
    seen = {}
    tiny.backbone.register_forward_pre_hook(lambda _m, args: seen.update(x=args[0]))
    image = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1).expand(1, 3, 32, 32).contiguous()
    with torch.no_grad():
        tiny(image)
    assert torch.allclose(seen["x"], torch.zeros_like(seen["x"]), atol=1e-6)
    assert not {"mean", "std"} & set(tiny.state_dict())  # constants, not in checkpoints


def test_tiny_forward_is_fast(tiny, one_thread):
    x = torch.rand(1, 3, 128, 128)
    with torch.no_grad():
        tiny(x)  # warm-up
        times = []
        for _ in range(5):
            start = time.perf_counter()
            tiny(x)
            times.append(time.perf_counter() - start)
    assert min(times) < 0.1


def test_gradient_reaches_backbone(tiny):
    tiny.train()
    tiny(torch.rand(2, 3, 32, 32)).sum().backward()
    assert tiny.backbone.conv1.weight.grad is not None
    assert tiny.backbone.conv1.weight.grad.abs().sum() > 0


@pytest.mark.parametrize(
    ("image", "match"),
    [
        (torch.rand(3, 64, 64), "expected \\[B x 3 x H x W\\]"),
        (torch.rand(1, 4, 64, 64), "expected \\[B x 3 x H x W\\]"),
        (torch.zeros(1, 3, 64, 64, dtype=torch.uint8), "float"),
        (torch.rand(1, 3, 60, 64), "multiples of 8, got 60 x 64"),
        ([[0.0]], "torch tensor"),
    ],
)
def test_bad_inputs_raise_input_error(tiny, image, match):
    with pytest.raises(InputError, match=match):
        tiny(image)


def test_config_errors():
    with pytest.raises(ConfigError, match="supported"):
        FeatureNet("vgg16")
    with pytest.raises(ConfigError, match="no pretrained"):
        FeatureNet("tiny", weights="/nonexistent.pth")
    with pytest.raises(ConfigError, match="stride"):
        FeatureNet("tiny", stride=32)


def test_state_dict_round_trip_and_config(tiny):
    other = FeatureNet(**tiny.config)
    other.load_state_dict(tiny.state_dict())  # strict
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(other.eval()(x), tiny(x))


def test_backbone_weights_from_a_torchvision_file(tmp_path, caplog):
    source = build_resnet("resnet18", num_classes=1000)
    torch.save(source.state_dict(), tmp_path / "resnet18-f37072fd.pth")
    net = FeatureNet("resnet18", dim=8, weights=tmp_path / "resnet18-f37072fd.pth")
    assert net.pretrained
    assert "pretrained" in net.describe_init()
    torch.testing.assert_close(net.backbone.layer4[1].conv2.weight, source.layer4[1].conv2.weight)
    with caplog.at_level("INFO"):
        random = FeatureNet("tiny", dim=8)
    assert not random.pretrained
    assert "random" in random.describe_init()
    assert any("random" in r.getMessage() for r in caplog.records)
