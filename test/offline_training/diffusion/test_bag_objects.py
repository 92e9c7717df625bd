"""``generate-views --source bag``: one object image per track of the category, from a bag."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("rosbags", reason="rosbags is part of the 'data' extra")

from offline_training.diffusion.bag_objects import bag_objects
from offline_training.diffusion.generate_views_cli import main
from offline_training.synthetic.recording import RecordingConfig, write_recording


@pytest.fixture(scope="module")
def bag(tmp_path_factory):
    """Mugs and bottles, 1.6 s at 5 Hz (8 frames, 160 x 120), with /detections and depth."""
    root = tmp_path_factory.mktemp("bag_objects")
    cfg = RecordingConfig(categories=["mug", "bottle"], n_objects=3, duration=1.6, rate=5.0,
                          tf_rate=15.0, width=160, height=120, noise="depth", seed=1)  # fmt: skip
    write_recording(cfg, root / "scene", progress=False)
    return root / "scene"


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One extraction cache for the module (each extraction is made once)."""
    return tmp_path_factory.mktemp("bag_objects_cache")


def _box_pixels(box, shape):
    ys, xs = np.mgrid[: shape[0], : shape[1]]
    return (xs >= box[0]) & (xs <= box[2]) & (ys >= box[1]) & (ys <= box[3])


@pytest.mark.parametrize("modality", ["rgbd", "rgb"])
def test_one_masked_image_per_object_of_the_category(bag, cache, capsys, modality):
    gt = json.loads((bag / "ground_truth.json").read_text())
    mugs = sum(o["category"] == "mug" for o in gt["objects"])
    assert mugs >= 1
    objects = bag_objects([bag], "mug", cache, modality=modality)
    assert len(objects) == mugs
    assert len({o.name for o in objects}) == mugs
    assert all(o.name.startswith("scene_") for o in objects)
    for obj in objects:
        assert obj.rgb.shape == (120, 160, 3) and obj.rgb.dtype == np.uint8
        assert obj.mask.shape == (120, 160) and obj.mask.dtype == bool
        assert obj.mask.any()
    warned = "the mask is the whole box" in capsys.readouterr().err
    if modality == "rgbd":  # depth gives object masks (not whole boxes), and the elevation
        assert not warned
        for obj in objects:
            ys, xs = np.nonzero(obj.mask)
            assert obj.mask.sum() < (np.ptp(xs) + 1) * (np.ptp(ys) + 1)
            assert obj.elevation_deg is not None and 0 < obj.elevation_deg < 90
    else:
        assert warned


def test_masks_lie_inside_the_tracked_boxes(bag, cache):
    from offline_training.bags.cache import ExtractedRecording, list_recordings

    objects = bag_objects([bag], "mug", cache)
    [recording] = [r for r in list_recordings(cache) if r.report.modality == "rgbd"]
    assert isinstance(recording, ExtractedRecording)
    boxes = {}
    for frame in recording.frames(images=False):
        for obj in frame.objects:
            boxes.setdefault(obj.track_id, []).append(obj.box_xyxy)
    for obj in objects:
        track = int(obj.name.rsplit("_", 1)[1])
        assert any(not (obj.mask & ~_box_pixels(b, obj.mask.shape)).any() for b in boxes[track])


def test_cli_bag_source_needs_zero123(bag, tmp_path, capsys):
    code = main(["--category", "mug", "--source", "bag", str(bag), "--generator", "render",
                 "--out", str(tmp_path / "views"), "--no-progress"])  # fmt: skip
    assert code == 2
    assert "zero123" in capsys.readouterr().err
    assert not (tmp_path / "views").exists()


def test_cli_bag_without_category_exits_2(bag, cache, tmp_path, capsys):
    code = main(["--category", "box", "--source", "bag", str(bag), "--generator", "zero123",
                 "--weights", "unused", "--cache", str(cache), "--out",
                 str(tmp_path / "views"), "--no-progress"])  # fmt: skip
    assert code == 2
    assert "no track of category 'box'" in capsys.readouterr().err
