"""The render generator (a perfect stand-in for Zero-1-to-3) and the views dataset it feeds."""

from __future__ import annotations

import json

import numpy as np
import pytest

from offline_training.diffusion.generators import ObjectImage, ViewGenerator
from offline_training.diffusion.render_generator import (
    RenderGenerator,
    synthetic_objects,
    view_camera,
)
from offline_training.diffusion.views import RelativeView, view_grid
from offline_training.diffusion.views_dataset import (
    instance_radius,
    read_instances,
    write_views_dataset,
)
from offline_training.nemo.data import NemoTrainingSet
from ros_pose_estimation.core.errors import ConfigError


@pytest.fixture(scope="module")
def objects():
    return synthetic_objects("mug", 2, seed=7, size=64)


def test_generator_follows_the_contract():
    assert isinstance(RenderGenerator(), ViewGenerator)


def test_view_camera_sees_the_object_at_the_labelled_pose(objects):
    src = objects[0].source
    T_world_obj = src.scene.objects[0].T_world_obj
    for view in (RelativeView(0.0, 0.0), RelativeView(45.0, -30.0), RelativeView(-90.0, 75.0)):
        T_view_obj = np.linalg.inv(view_camera(src.T_world_cam, src.distance, view)) @ T_world_obj
        assert np.allclose(T_view_obj[:3, :3], view.rotation @ src.R_cam_obj, atol=1e-9)
        assert np.allclose(T_view_obj[:3, 3], [0.0, 0.0, src.distance], atol=1e-9)


def test_input_view_reproduces_the_input_silhouette(objects):
    obj = objects[0]
    (same,) = RenderGenerator().generate(obj, [RelativeView(0.0, 0.0)])
    inter = (same.mask & obj.mask).sum()
    union = (same.mask | obj.mask).sum()
    assert inter / union > 0.9  # the table may hide a sliver of the input
    assert (same.rgb[~same.mask] == 255).all()  # alone on white, like Zero-1-to-3's output
    (turned,) = RenderGenerator().generate(obj, [RelativeView(90.0, 0.0)])
    assert (turned.mask != same.mask).sum() > 0.05 * union


def test_real_images_need_the_diffusion_generator():
    img = ObjectImage(np.zeros((8, 8, 3), np.uint8), np.ones((8, 8), bool), name="photo")
    with pytest.raises(ConfigError, match="zero123"):
        RenderGenerator().generate(img, [RelativeView(0.0, 0.0)])


def test_views_dataset_labels_and_layout(objects, tmp_path):
    views = view_grid(n=4, seed=1)
    index = write_views_dataset(tmp_path / "v", "mug", objects, RenderGenerator(), views,
                                progress=False)  # fmt: skip
    assert read_instances(tmp_path / "v") == json.loads(json.dumps(index))
    ds = NemoTrainingSet(tmp_path / "v", "mug", crop_size=32)
    assert len(ds) == 2 * 4
    per_instance: dict[int, list] = {}
    for i in range(len(ds)):
        item = ds[i]
        per_instance.setdefault(int(item["obj_id"]), []).append(item)
    for obj_id, items in per_instance.items():
        matched = sorted(
            next(k for k, v in enumerate(views) if np.allclose(it["R"].numpy(), v.rotation,
                                                               atol=1e-6))
            for it in items
        )  # fmt: skip
        assert matched == list(range(len(views)))  # every view once, labelled with its LookAt
        d = index["instances"][obj_id - 1]["label_distance_m"]
        for it in items:  # one distance per instance, on the optical axis
            assert np.allclose(it["t"].numpy(), [0.0, 0.0, d], atol=1e-6)
        truth = np.asarray(index["instances"][obj_id - 1]["R_frame_true"])
        assert np.allclose(truth, objects[obj_id - 1].source.R_cam_obj)
    # the label distance makes the instance sphere as large as the object appears
    src, d = objects[0].source, index["instances"][0]["label_distance_m"]
    true_radius = 0.5 * np.linalg.norm(src.scene.objects[0].mesh.extents)
    assert 0.5 < (instance_radius("mug") / d) / (true_radius / src.distance) < 2.0
    info = json.loads((tmp_path / "v" / "models" / "models_info.json").read_text())
    assert info["1"]["category"] == "mug" and "symmetries_continuous" not in info["1"]
    with pytest.raises(FileExistsError):
        write_views_dataset(tmp_path / "v", "mug", objects, RenderGenerator(), views,
                            progress=False)  # fmt: skip


def test_views_are_pasted_on_backgrounds(objects, tmp_path):
    import cv2

    write_views_dataset(tmp_path / "v", "mug", objects[:1], RenderGenerator(),
                        [RelativeView(0.0, 0.0)], progress=False)  # fmt: skip
    rgb = cv2.imread(str(tmp_path / "v" / "train" / "000000" / "rgb" / "000000.png"))
    mask = cv2.imread(str(tmp_path / "v" / "train" / "000000" / "mask_visib" /
                          "000000_000000.png"), cv2.IMREAD_GRAYSCALE) > 0  # fmt: skip
    assert mask.any() and not (rgb[~mask] == 255).all()
