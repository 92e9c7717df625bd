"""The bundled NeMo models load strictly (weights_only), are what their names say, stand on the
pretrained EfficientNet-Lite0 features and stay small enough to ship seven of them."""

from pathlib import Path

import pytest
import torch

from ros_pose_estimation.nemo.checkpoint import load_checkpoint

MODELS = Path(__file__).resolve().parents[1] / "models" / "nemo"
CATEGORIES = ["mug", "camera", "bottle", "bowl", "laptop", "can", "box"]
PER_AXIS = ("box", "laptop")


@pytest.mark.parametrize("category", CATEGORIES)
def test_bundled_model_loads_and_runs(category):
    path = MODELS / f"{category}.pt"
    model, meta = load_checkpoint(path, category=category)
    assert model.config.backbone == "efficientnet_lite0" and model.config.backbone_stages == 3
    assert model.config.crop_size == 128
    assert meta["backbone_init"].startswith("backbone efficientnet_lite0: pretrained")
    assert path.stat().st_size < 6e6  # seven of them must fit the tree (device tool: 64 MiB)
    # boxes vary most in proportions: the mesh is fitted to each instance (per_axis_scale)
    assert model.config.per_axis_scale == (category in PER_AXIS)
    assert model.view_correction is not None  # every bundled model carries its correction
    with torch.no_grad():
        feats = model.features(torch.rand(1, 3, 128, 128))
    assert feats.shape == (1, model.config.dim, 16, 16)
    torch.testing.assert_close(feats.norm(dim=1), torch.ones(1, 16, 16))


@pytest.mark.parametrize("category", ["mug", "camera", "bottle", "can", "laptop", "bowl", "box"])
def test_bundled_rgbd_model_loads_in_float32_and_runs(category):
    """models/cse: stored with float16 weights (export-model --half), built in float32."""
    from ros_pose_estimation.cse.checkpoint import load_checkpoint as load_cse

    path = MODELS.parent / "cse" / f"{category}.pt"
    model, meta = load_cse(path, category=category)
    assert model.config.backbone == "efficientnet_lite0" and model.config.backbone_stages == 3
    assert meta["supervised"] is True and meta["weights_dtype"] == "float16"
    assert path.stat().st_size < 2.5e6
    assert all(p.dtype == torch.float32 for p in model.parameters())
    with torch.no_grad():
        out = model(torch.rand(1, 3, 128, 128), torch.eye(3)[None] * 150)
    assert out.features.shape == (1, model.config.dim, 32, 32)
    # proportions vary more than a template deformation follows: one scale per axis (box;
    # bottle, camera, mug: tall or short, long or short lens; BENCHMARKS "per-axis scale")
    assert model.config.per_axis_scale == (category in ("box", "bottle", "camera", "mug"))
