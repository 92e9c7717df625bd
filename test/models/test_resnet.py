"""ResNet backbones: torchvision names and sizes, strict checkpoint loading, stage shapes."""

from __future__ import annotations

import functools
import logging

import pytest
import torch

from ros_pose_estimation.core.errors import CheckpointError, ConfigError
from ros_pose_estimation.models.resnet import (
    BasicBlock,
    ResNet,
    build_resnet,
    load_backbone_weights,
)


@functools.cache
def _full_size(name: str) -> ResNet:
    """A torchvision-sized model with its 1000-class classifier (built once per module)."""
    return build_resnet(name, num_classes=1000)


@pytest.mark.parametrize(
    ("name", "params", "keys"),
    [("resnet18", 11_689_512, 122), ("resnet34", 21_797_672, 218), ("resnet50", 25_557_032, 320)],
)
def test_parameter_count_and_key_count_equal_torchvision(name, params, keys):
    model = _full_size(name)
    assert sum(p.numel() for p in model.parameters()) == params
    assert len(model.state_dict()) == keys  # parameters + BN buffers incl. num_batches_tracked


def test_resnet50_names_and_shapes_equal_torchvision():
    state = _full_size("resnet50").state_dict()
    expected = {
        "conv1.weight": (64, 3, 7, 7),
        "bn1.running_mean": (64,),
        "bn1.num_batches_tracked": (),
        "layer1.0.conv1.weight": (64, 64, 1, 1),
        "layer1.0.conv2.weight": (64, 64, 3, 3),
        "layer1.0.conv3.weight": (256, 64, 1, 1),
        "layer1.0.downsample.0.weight": (256, 64, 1, 1),
        "layer1.0.downsample.1.running_var": (256,),
        "layer2.0.conv2.weight": (128, 128, 3, 3),
        "layer4.0.downsample.0.weight": (2048, 1024, 1, 1),
        "layer4.2.bn3.bias": (2048,),
        "fc.weight": (1000, 2048),
        "fc.bias": (1000,),
    }
    for key, shape in expected.items():
        assert tuple(state[key].shape) == shape, key
    assert "layer1.1.downsample.0.weight" not in state


def test_resnet18_has_no_downsample_in_layer1():
    state = _full_size("resnet18").state_dict()
    assert "layer2.0.downsample.0.weight" in state
    assert not any(k.startswith("layer1.0.downsample") for k in state)
    assert not any(
        k.startswith("fc.") for k in build_resnet("resnet18", base_channels=8).state_dict()
    )


def test_stage_shapes_and_strides():
    model = build_resnet("resnet18", base_channels=16).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, 64, 96))
    assert model.stage_strides == (4, 8, 16, 32)
    assert model.stage_channels == (16, 32, 64, 128)
    for (name, feat), s, c in zip(
        out.items(), model.stage_strides, model.stage_channels, strict=True
    ):
        assert name.startswith("layer")
        assert feat.shape == (2, c, 64 // s, 96 // s)


def test_bottleneck_stage_channels_and_dilation():
    model = build_resnet(
        "resnet50", base_channels=8, replace_stride_with_dilation=(False, True, True)
    )
    assert model.stage_channels == (32, 64, 128, 256)
    assert model.stage_strides == (4, 8, 8, 8)
    with torch.no_grad():
        out = model.eval()(torch.rand(1, 3, 64, 64))
    assert [tuple(v.shape[1:]) for v in out.values()] == [
        (32, 16, 16),
        (64, 8, 8),
        (128, 8, 8),
        (256, 8, 8),
    ]
    # dilation changes no names: a dilated model takes the plain model's weights
    plain = build_resnet("resnet50", base_channels=8)
    model.load_state_dict(plain.state_dict())


def _randomised(model: torch.nn.Module) -> torch.nn.Module:
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for buf in model.buffers():
            if buf.is_floating_point():
                buf.copy_(torch.rand(buf.shape, generator=gen) + 0.5)
    return model


def test_torchvision_style_checkpoint_round_trips_strictly(tmp_path):
    source = _randomised(build_resnet("resnet18", base_channels=8, num_classes=1000))
    path = tmp_path / "resnet18-f37072fd.pth"
    torch.save(source.state_dict(), path)
    target = build_resnet("resnet18", base_channels=8, weights=path)
    assert target.init_description.startswith("pretrained")
    for key, value in target.state_dict().items():
        assert torch.equal(value, source.state_dict()[key]), key
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(source.eval()(x)["layer4"], target.eval()(x)["layer4"])


def test_old_checkpoint_without_num_batches_tracked_loads(tmp_path):
    state = build_resnet("resnet18", base_channels=8).state_dict()
    state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    torch.save({"state_dict": state}, tmp_path / "w.pth")
    load_backbone_weights(build_resnet("resnet18", base_channels=8), tmp_path / "w.pth")


@pytest.mark.parametrize("edit", ["rename", "drop", "extra"])
def test_wrong_key_set_raises_checkpoint_error(tmp_path, edit):
    state = build_resnet("resnet18", base_channels=8).state_dict()
    if edit == "rename":
        state["layer1.0.conv9.weight"] = state.pop("layer1.0.conv1.weight")
    elif edit == "drop":
        del state["layer3.1.bn2.weight"]
    else:
        state["head.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "w.pth")
    with pytest.raises(CheckpointError) as err:
        load_backbone_weights(build_resnet("resnet18", base_channels=8), tmp_path / "w.pth")
    message = str(err.value)
    assert "resnet18-f37072fd.pth" in message
    assert {"rename": "layer1.0.conv9.weight", "drop": "layer3.1.bn2.weight", "extra": "head"}[
        edit
    ] in message


def test_wrong_architecture_raises(tmp_path):
    torch.save(build_resnet("resnet18", base_channels=8).state_dict(), tmp_path / "r18.pth")
    with pytest.raises(CheckpointError, match="resnet50-0676ba61.pth"):
        build_resnet("resnet50", base_channels=8, weights=tmp_path / "r18.pth")
    torch.save(ResNet(BasicBlock, (2, 2, 2, 2), base_channels=8).state_dict(), tmp_path / "s.pth")
    with pytest.raises(CheckpointError, match="conv1.weight: \\(8, 3, 7, 7\\) vs model"):
        build_resnet("resnet18", base_channels=16, weights=tmp_path / "s.pth")


def test_missing_or_unreadable_file_raises(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        build_resnet("resnet18", base_channels=8, weights=tmp_path / "nope.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="is not a readable torch file"):
        build_resnet("resnet18", base_channels=8, weights=tmp_path / "junk.pth")
    torch.save([torch.zeros(1)], tmp_path / "list.pth")
    with pytest.raises(CheckpointError, match="state dict"):
        build_resnet("resnet18", base_channels=8, weights=tmp_path / "list.pth")


def test_random_init_is_logged(caplog):
    with caplog.at_level(logging.INFO, logger="ros_pose_estimation.models.resnet"):
        model = build_resnet("resnet18", base_channels=8)
    assert "random" in model.init_description
    assert any("random" in r.getMessage() for r in caplog.records)


def test_config_errors():
    with pytest.raises(ConfigError, match="resnet50"):
        build_resnet("resnet101")
    with pytest.raises(ConfigError):
        build_resnet("resnet18", base_channels=8).classify(torch.rand(1, 3, 32, 32))
    logits = build_resnet("resnet18", base_channels=8, num_classes=5).classify(
        torch.rand(2, 3, 32, 32)
    )
    assert logits.shape == (2, 5)
