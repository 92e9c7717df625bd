"""NeMo checkpoints: one file, weights_only loading, strict and specific errors."""

import numpy as np
import pytest
import torch

from ros_pose_estimation.core.errors import CheckpointError, ConfigError
from ros_pose_estimation.core.view_correction import ViewCorrection
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


def test_view_correction_round_trip_and_category_check(tmp_path, model):
    views = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    residuals = np.array([[0.01, 0.0, 0.0], [0.0, 0.02, 0.0], [0.0, 0.0, 0.03]])
    model.view_correction = ViewCorrection("mug", views, residuals, 0.2, {"pairs": 3})
    path = save_checkpoint(tmp_path / "mug.pt", model)
    loaded, _ = load_checkpoint(path)
    got = loaded.view_correction
    assert got is not None and got.sigma == pytest.approx(0.2) and got.info == {"pairs": 3}
    np.testing.assert_allclose(got.views, views, atol=1e-7)
    np.testing.assert_allclose(got.residuals, residuals, atol=1e-7)
    payload = torch.load(path, weights_only=True)
    payload["view_correction"]["category"] = "bottle"
    torch.save(payload, tmp_path / "wrong.pt")
    with pytest.raises(CheckpointError, match="view_correction is for 'bottle'"):
        load_checkpoint(tmp_path / "wrong.pt")
    del payload["view_correction"]["sigma"]
    torch.save(payload, tmp_path / "broken.pt")
    with pytest.raises(CheckpointError, match="lacks"):
        load_checkpoint(tmp_path / "broken.pt")
    model.view_correction = None
    plain, _ = load_checkpoint(save_checkpoint(tmp_path / "plain.pt", model))
    assert plain.view_correction is None
