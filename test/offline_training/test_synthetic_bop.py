"""BOP writer/reader: round trip of our own data and reading datasets written by others."""

import json
import re

import cv2
import numpy as np
import pytest

from offline_training.synthetic.bop import BopDataset, BopWriter
from offline_training.synthetic.render import render
from offline_training.synthetic.scene import ObjectModel, box_mesh, camera_on_sphere, sample_scene
from ros_pose_estimation.core.camera import Intrinsics

INTR = Intrinsics(fx=70.0, fy=70.0, cx=31.5, cy=23.5, width=64, height=48)


@pytest.fixture(scope="module")
def rendered():
    models = {
        "box": [ObjectModel(1, "box", box_mesh([-0.1, -0.05, -0.04], [0.1, 0.05, 0.04]))],
        "can": [ObjectModel(2, "can", box_mesh([-0.03, -0.03, -0.06], [0.03, 0.03, 0.06]))],
    }
    scene = sample_scene(["box", "can"], np.random.default_rng(0), 2, models=models, spread=0.7)
    centre, _ = scene.center_and_radius()
    T_wc = camera_on_sphere(40, 35, 0.6, centre)
    return models, scene, T_wc, render(scene, T_wc, INTR)


def test_round_trip(tmp_path, rendered):
    models, scene, T_wc, res = rendered
    with BopWriter(tmp_path, "train") as w:
        w.write_models([m for pool in models.values() for m in pool])
        w.add_render(3, 7, res, scene, T_wc)
    assert (tmp_path / "train/000003/rgb/000007.png").exists()
    assert (tmp_path / "train/000003/mask_visib/000007_000001.png").exists()
    raw = cv2.imread(str(tmp_path / "train/000003/depth/000007.png"), cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.uint16
    cam = json.loads((tmp_path / "train/000003/scene_camera.json").read_text())["7"]
    assert cam["depth_scale"] == 0.1

    ds = BopDataset(tmp_path, "train")
    assert len(ds) == 1
    s = ds[0]
    assert (s.scene_id, s.im_id) == (3, 7)
    np.testing.assert_array_equal(s.K, INTR.K)  # exact
    np.testing.assert_array_equal(s.rgb, res.rgb)  # png is lossless
    assert np.abs(s.depth - res.depth).max() < 1e-3
    assert np.array_equal(s.depth > 0, res.depth > 0)
    np.testing.assert_allclose(s.T_world_cam, T_wc, atol=1e-9)
    assert len(s.objects) == len(scene.objects)
    for i, (obj, gt) in enumerate(zip(s.objects, scene.objects, strict=True)):
        assert obj.obj_id == gt.obj_id and obj.category == gt.category
        np.testing.assert_allclose(obj.R, res.T_cam_obj[i][:3, :3], atol=1e-6)
        np.testing.assert_allclose(obj.t, res.T_cam_obj[i][:3, 3], atol=1e-6)
        np.testing.assert_array_equal(obj.mask_visib, res.instance == i)
        np.testing.assert_array_equal(obj.mask, res.mask_full[i])
        assert obj.visib_fract == pytest.approx(res.visib_fract[i])
        assert obj.info["bbox_visib"] == res.bbox_visib[i].tolist()
        assert obj.bbox_visib == tuple(res.bbox_visib[i]) and obj.bbox_source == "info"
    # Models: millimetres on disk, metres back; info from the geometry and the category.
    mesh = ds.load_model(1)
    np.testing.assert_allclose(mesh.vertices, models["box"][0].mesh.vertices, atol=1e-6)
    info = ds.models_info[1]
    assert info["size_x"] == pytest.approx(200.0) and info["min_z"] == pytest.approx(-40.0)
    assert info["diameter"] == pytest.approx(np.linalg.norm([200, 100, 80]))
    assert len(info["symmetries_discrete"]) == 3  # box: 180 deg about x, y, z
    assert ds.models_info[2]["symmetries_continuous"][0]["axis"] == [0.0, 0.0, 1.0]
    assert ds.category(2) == "can"


def test_writer_extends_an_existing_scene(tmp_path, rendered):
    _, scene, T_wc, res = rendered
    with BopWriter(tmp_path, "test") as w:
        w.add_render(0, 0, res, scene, T_wc)
    with BopWriter(tmp_path, "test") as w:
        w.add_render(0, 1, res, scene, T_wc)
    assert [s.im_id for s in BopDataset(tmp_path, "test", load_masks=False)] == [0, 1]


def test_reads_a_dataset_written_by_others(tmp_path):
    """jpg images, depth_scale 0.1, no category, no mask_visib, no scene_gt_info, no T_w2c."""
    (tmp_path / "models").mkdir()
    (tmp_path / "models/models_info.json").write_text(json.dumps({"5": {"diameter": 100.0}}))
    d = tmp_path / "test_primesense" / "000002"
    for sub in ("rgb", "depth", "mask"):
        (d / sub).mkdir(parents=True)
    rgb = np.zeros((48, 64, 3), np.uint8)
    rgb[..., 0] = 200  # red in RGB
    cv2.imwrite(str(d / "rgb/000004.jpg"), rgb[..., ::-1])
    depth = np.full((48, 64), 12345, np.uint16)
    depth[0, 0] = 0
    cv2.imwrite(str(d / "depth/000004.png"), depth)
    mask = np.zeros((48, 64), np.uint8)
    mask[10:20, 5:15] = 255
    cv2.imwrite(str(d / "mask/000004_000000.png"), mask)
    K = [500.0, 0.0, 320.0, 0.0, 501.0, 240.0, 0.0, 0.0, 1.0]
    (d / "scene_camera.json").write_text(json.dumps({"4": {"cam_K": K, "depth_scale": 0.1}}))
    R = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    gt = {"4": [{"cam_R_m2c": R.reshape(-1).tolist(), "cam_t_m2c": [10.0, -20.0, 700.0],
                 "obj_id": 5}]}
    (d / "scene_gt.json").write_text(json.dumps(gt))

    ds = BopDataset(tmp_path, "test_primesense")
    assert len(ds) == 1
    s = ds[0]
    assert (s.scene_id, s.im_id) == (2, 4)
    assert s.rgb.shape == (48, 64, 3)
    assert abs(int(s.rgb[24, 32, 0]) - 200) <= 3 and s.rgb[24, 32, 2] <= 3  # RGB, not BGR
    assert s.depth[5, 5] == pytest.approx(1.2345, abs=1e-6)  # 12345 * 0.1 mm
    assert s.depth[0, 0] == 0.0
    np.testing.assert_array_equal(s.K.reshape(-1), K)
    assert s.T_world_cam is None
    (obj,) = s.objects
    assert obj.obj_id == 5 and obj.category is None
    np.testing.assert_array_equal(obj.R, R)
    np.testing.assert_allclose(obj.t, [0.01, -0.02, 0.7])
    assert obj.mask.sum() == 100 and obj.mask[15, 10]
    assert obj.mask_visib is None and obj.info == {}
    # No scene_gt_info, no mask_visib: treated as visible, the box from the full mask.
    assert (obj.visib_fract, obj.visib_source) == (1.0, "assumed")
    assert (obj.bbox_visib, obj.bbox_source) == ((5, 10, 9, 9), "mask")


def test_missing_split_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no split folder"):
        BopDataset(tmp_path, "train")


def test_a_square_box_lists_its_quarter_turns_among_its_symmetries():
    from offline_training.synthetic.bop import model_info

    square = ObjectModel(3, "box", box_mesh([-0.1, -0.1, -0.03], [0.1, 0.1, 0.03]))
    turns = [np.array(T).reshape(4, 4)[:3, :3] for T in model_info(square)["symmetries_discrete"]]
    assert len(turns) == 7  # the 8 rotations of a square prism, less the identity
    assert any(np.allclose(R, [[0, -1, 0], [1, 0, 0], [0, 0, 1]]) for R in turns)


def test_instance_size_without_sizes_in_models_info_reads_each_model_once(tmp_path, rendered):
    models, scene, T_wc, res = rendered
    with BopWriter(tmp_path, "train") as w:
        w.write_models([m for pool in models.values() for m in pool])
        w.add_render(3, 7, res, scene, T_wc)
    ds = BopDataset(tmp_path, "train")
    for info in ds.models_info.values():  # as in BOP sets written by others
        for axis in "xyz":
            info.pop(f"size_{axis}")
    reads = []
    load = ds.load_model
    ds.load_model = lambda obj_id: reads.append(obj_id) or load(obj_id)
    for _ in range(3):
        np.testing.assert_allclose(ds.instance_size(1), [0.2, 0.1, 0.08], atol=1e-6)
    assert reads == [1]


def test_a_damaged_annotation_file_is_named_not_a_json_traceback(tmp_path):
    from ros_pose_estimation.core.errors import InputError

    d = tmp_path / "test" / "000000"
    (d / "rgb").mkdir(parents=True)
    K = [500.0, 0.0, 32.0, 0.0, 500.0, 24.0, 0.0, 0.0, 1.0]
    (d / "scene_camera.json").write_text(json.dumps({"0": {"cam_K": K}}))
    (d / "scene_gt.json").write_text('{"0": [{"cam_R_m2c": [1, 0')  # cut off mid-write
    with pytest.raises(InputError, match=r"scene_gt\.json is not valid JSON.*damaged"):
        BopDataset(tmp_path, "test")


def _written(root, rendered):
    """``root`` with one scene (000000, one image) written by the project's writer."""
    models, scene, T_wc, res = rendered
    with BopWriter(root, "test") as w:
        w.write_models([m for pool in models.values() for m in pool])
        w.add_render(0, 0, res, scene, T_wc)
    return root / "test" / "000000"


def test_a_scene_without_its_images_or_cameras_is_refused_on_opening(tmp_path, rendered):
    """Found when the dataset is opened, with the missing path, not at the first image."""
    import shutil

    from ros_pose_estimation.core.errors import InputError

    d = _written(tmp_path, rendered)
    (d / "rgb").rename(d / "gray")  # a grey-image dataset is fine
    assert len(BopDataset(tmp_path, "test")) == 1
    shutil.rmtree(d / "gray")
    with pytest.raises(InputError, match=r"scene 000000 \(1 images\) has no image folder "
                       + re.escape(f"{d / 'rgb'} (nor gray/)")):
        BopDataset(tmp_path, "test")
    (d / "scene_camera.json").unlink()
    with pytest.raises(InputError, match=re.escape(f"scene 000000 has no {d}/scene_camera.json")
                       + r", the camera matrices.*generate-dataset.*remove the incomplete scene"):
        BopDataset(tmp_path, "test")


def test_a_scene_without_scene_gt_is_refused_where_poses_are_required(tmp_path, rendered):
    from ros_pose_estimation.core.errors import InputError

    d = _written(tmp_path, rendered)
    (d / "scene_gt.json").unlink()
    assert BopDataset(tmp_path, "test")[0].objects == []  # read as images without annotations
    with pytest.raises(InputError, match=re.escape(f"scene 000000 (1 images) has no {d}/"
                       "scene_gt.json, the ground-truth poses") + r".*written with the images "
                       r"by the data engine \(generate-dataset\).*BOP toolkit"):
        BopDataset(tmp_path, "test", require_gt=True)
