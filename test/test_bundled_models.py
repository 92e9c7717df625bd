"""The bundled NeMo models load strictly (weights_only) and are what their names say."""

from pathlib import Path

import pytest
import torch

from ros_pose_estimation.nemo.checkpoint import load_checkpoint

MODELS = Path(__file__).resolve().parents[1] / "models" / "nemo"


@pytest.mark.parametrize("category", ["mug", "camera", "bottle"])
def test_bundled_model_loads_and_runs(category):
    model, meta = load_checkpoint(MODELS / f"{category}.pt", category=category)
    assert model.config.backbone == "small" and model.config.crop_size == 128
    assert meta["train_config"]["steps"] == 1500
    with torch.no_grad():
        feats = model.features(torch.rand(1, 3, 128, 128))
    assert feats.shape == (1, model.config.dim, 16, 16)
    torch.testing.assert_close(feats.norm(dim=1), torch.ones(1, 16, 16))
