"""The bundled NeMo models load strictly (weights_only), are what their names say, stand on the
pretrained EfficientNet-Lite0 features and stay small enough to ship seven of them."""

from pathlib import Path

import pytest
import torch

from ros_pose_estimation.nemo.checkpoint import load_checkpoint

MODELS = Path(__file__).resolve().parents[1] / "models" / "nemo"
CATEGORIES = ["mug", "camera", "bottle", "bowl", "laptop", "can", "box"]


@pytest.mark.parametrize("category", CATEGORIES)
def test_bundled_model_loads_and_runs(category):
    path = MODELS / f"{category}.pt"
    model, meta = load_checkpoint(path, category=category)
    assert model.config.backbone == "efficientnet_lite0" and model.config.backbone_stages == 3
    assert model.config.crop_size == 128
    assert meta["backbone_init"].startswith("backbone efficientnet_lite0: pretrained")
    assert path.stat().st_size < 6e6  # seven of them must fit the tree (device tool: 64 MiB)
    with torch.no_grad():
        feats = model.features(torch.rand(1, 3, 128, 128))
    assert feats.shape == (1, model.config.dim, 16, 16)
    torch.testing.assert_close(feats.norm(dim=1), torch.ones(1, 16, 16))
