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
    assert model.config.backbone == "efficientnet_lite0" and model.config.backbone_stages in (3, 4)
    assert model.config.crop_size == 128
    assert meta["backbone_init"].startswith("backbone efficientnet_lite0: pretrained")
    if model.config.backbone_stages == 3:  # up to stride 16: a quarter of Lite0's weights
        assert path.stat().st_size < 6e6
    else:  # the whole backbone (the laptop: BENCHMARKS "The stride-32 stage"), float16 weights
        assert meta["weights_dtype"] == "float16" and path.stat().st_size < 9e6
    assert all(p.dtype == torch.float32 for p in model.parameters())
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


def test_all_bundled_models_fit_the_tree():
    """Every bundled model (RGB and RGB-D) together stays under the device tool's 64 MiB."""
    total = sum(p.stat().st_size for p in MODELS.parent.glob("*/*.pt"))
    assert total < 60e6, f"models/ holds {total / 1e6:.1f} MB"
