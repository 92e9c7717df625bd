"""The shipped parameter files: pose_coco.yaml is pose.yaml with the COCO classes mapped to
bundled models, and every model it names loads; pose_rgbd.yaml and pose_rgbd_coco.yaml are
their RGB-D twins with the bundled CSE models; pose.rviz shows the node's outputs."""

import math
from pathlib import Path

import pytest
import yaml

from ros_pose_estimation.nemo.checkpoint import load_checkpoint
from ros_pose_estimation.pipeline.estimators import ModelSpec

ROOT = Path(__file__).resolve().parents[1]

# COCO's 80 training classes, 0-based (YOLO / Detectron2 numbering), of the package's categories
COCO80 = {"cup": 41, "bottle": 39, "bowl": 45, "laptop": 63}


def _params(name: str) -> dict:
    return yaml.safe_load((ROOT / "config" / name).read_text())["/**"]["ros__parameters"]


def test_coco_config_differs_from_pose_yaml_only_in_categories_and_models():
    base, coco = _params("pose.yaml"), _params("pose_coco.yaml")
    assert set(base) == set(coco)
    for key in base:
        if key not in ("categories", "models"):
            assert coco[key] == base[key], key
    assert coco["categories"] == ["mug", "bottle", "bowl", "laptop"]
    assert set(coco["models"]) == set(coco["categories"])


def test_coco_classes_map_to_bundled_models_that_load():
    coco = _params("pose_coco.yaml")
    mapped = {}
    for category, entry in coco["models"].items():
        spec = ModelSpec(category, entry["checkpoint"], entry["method"], entry["class_ids"])
        spec.validate()  # the checkpoint resolves to a file
        model, _ = load_checkpoint(spec.checkpoint, category=category)
        assert model.category == category
        for class_id in entry["class_ids"]:
            mapped[class_id] = category
    expected = {"cup": "mug", "bottle": "bottle", "bowl": "bowl", "laptop": "laptop"}
    for name, category in expected.items():
        assert mapped[name] == category
        assert mapped[str(COCO80[name])] == category
    assert len(mapped) == 8  # no id names two categories


def test_rviz_config_shows_image_debug_image_tf_and_markers():
    rviz = yaml.safe_load((ROOT / "config" / "pose.rviz").read_text())
    displays = rviz["Visualization Manager"]["Displays"]
    topics = [d["Topic"]["Value"] for d in displays if "Topic" in d]
    assert "rviz_default_plugins/TF" in {d["Class"] for d in displays}
    assert "/pose_estimation_node/debug_image" in topics
    assert "/pose_estimation_node/markers" in topics
    assert any(t.endswith("image_raw") for t in topics)
    setup = (ROOT / "setup.py").read_text()
    assert 'glob("config/*.rviz")' in setup


def _same_fusion_but_depth_sigma(rgb: dict, rgbd: dict) -> None:
    """RGB-D models measure the depth: their fusion trusts the centre along the ray more."""
    assert rgbd["fusion"]["depth_sigma_ratio"] == 0.02 < rgb["fusion"]["depth_sigma_ratio"]
    for key, value in rgb["fusion"].items():
        if key != "depth_sigma_ratio":
            assert rgbd["fusion"][key] == value, key


@pytest.mark.parametrize(
    ("rgb_name", "rgbd_name", "methods"),
    [
        ("pose.yaml", "pose_rgbd.yaml", {"mug": "cse", "bottle": "cse", "camera": "cse"}),
        ("pose_coco.yaml", "pose_rgbd_coco.yaml",
         {"mug": "cse", "bottle": "cse", "laptop": "cse", "bowl": "cse"}),
    ],
)  # fmt: skip
def test_rgbd_config_is_its_rgb_twin_with_depth_and_the_bundled_cse_models_that_load(
    rgb_name, rgbd_name, methods
):
    """Same parameters and class ids as the RGB file but mode rgbd, the fusion's depth trust,
    and every category with a bundled RGB-D model on it (float16 files); the others keep their
    RGB model."""
    from ros_pose_estimation.cse.checkpoint import load_checkpoint as load_cse

    rgb, rgbd = _params(rgb_name), _params(rgbd_name)
    assert set(rgb) == set(rgbd) and rgbd["mode"] == "rgbd"
    for key in rgb:
        if key not in ("mode", "models", "fusion", "tracking"):
            assert rgbd[key] == rgb[key], key
    follow = ("follow_speed_m_s", "follow_speed_deg_s")  # the RGB-D estimates jitter less
    assert {k: v for k, v in rgbd["tracking"].items() if k not in follow} == {
        k: v for k, v in rgb["tracking"].items() if k not in follow}  # fmt: skip
    assert all(rgb["tracking"][k] == math.inf > rgbd["tracking"][k] > 0 for k in follow)
    _same_fusion_but_depth_sigma(rgb, rgbd)
    assert set(rgbd["models"]) == set(rgbd["categories"]) == set(methods)
    for category, entry in rgbd["models"].items():
        assert entry["method"] == methods[category]
        assert entry["class_ids"] == rgb["models"][category]["class_ids"]
        spec = ModelSpec(category, entry["checkpoint"], entry["method"], entry["class_ids"])
        spec.validate()
        bundled_cse = (ROOT / "models" / "cse" / f"{category}.pt").exists()
        assert bundled_cse == (entry["method"] == "cse"), category
        if entry["method"] == "cse":
            model, meta = load_cse(spec.checkpoint, category=category)
            assert meta["weights_dtype"] == "float16"
        else:
            assert entry["checkpoint"] == rgb["models"][category]["checkpoint"]
            model, _ = load_checkpoint(spec.checkpoint, category=category)
        assert model.category == category
