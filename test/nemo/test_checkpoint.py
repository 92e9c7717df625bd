"""NeMo checkpoints: one file, weights_only loading, strict and specific errors."""

import pytest
import torch

from ros_pose_estimation.core.errors import CheckpointError, ConfigError
from ros_pose_estimation.nemo.checkpoint import FORMAT_VERSION, load_checkpoint, save_checkpoint
from ros_pose_estimation.nemo.model import NemoConfig, NemoModel


@pytest.fixture
def model():
    torch.manual_seed(0)
    return NemoModel(
        NemoConfig("mug", backbone="tiny", dim=16, crop_size=64, n_vertices=200, n_clutter=32)
    )


def test_round_trip_is_exact(tmp_path, model):
    with torch.no_grad():
        model.mesh.features.mul_(-1.0)  # something the constructor would not produce
    path = save_checkpoint(tmp_path / "mug.pt", model, meta={"steps": 7})
    loaded, meta = load_checkpoint(path, category="mug")
    assert meta == {"steps": 7}
    assert loaded.config == model.config
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    x = torch.rand(2, 3, 64, 64)
    model.eval()
    torch.testing.assert_close(model.features(x), loaded.features(x))
    assert not loaded.training


def test_errors_say_what_is_wrong(tmp_path, model):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
    bad = tmp_path / "garbage.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable torch file"):
        load_checkpoint(bad)
    other = tmp_path / "other.pt"
    torch.save({"state_dict": {}}, other)
    with pytest.raises(CheckpointError, match="expected format"):
        load_checkpoint(other)
    path = save_checkpoint(tmp_path / "mug.pt", model)
    with pytest.raises(CheckpointError, match="category 'mug', but category 'bottle'"):
        load_checkpoint(path, category="bottle")
    payload = torch.load(path, weights_only=True)
    payload["format_version"] = FORMAT_VERSION + 1
    torch.save(payload, tmp_path / "newer.pt")
    with pytest.raises(CheckpointError, match="format_version"):
        load_checkpoint(tmp_path / "newer.pt")
    payload = torch.load(path, weights_only=True)
    del payload["feature_net"]["head.weight"]
    torch.save(payload, tmp_path / "missing_key.pt")
    with pytest.raises(CheckpointError, match="missing"):
        load_checkpoint(tmp_path / "missing_key.pt")
    payload = torch.load(path, weights_only=True)
    payload["config"]["dim"] = 8  # weights say 16
    torch.save(payload, tmp_path / "mismatch.pt")
    with pytest.raises(CheckpointError, match="16 channels but the config says dim=8"):
        load_checkpoint(tmp_path / "mismatch.pt")


def test_config_validation():
    with pytest.raises(ConfigError, match="multiple of stride"):
        NemoConfig("mug", crop_size=100)
    with pytest.raises(ConfigError, match="unknown NemoConfig fields"):
        NemoConfig.from_dict({"category": "mug", "colour": "red"})
