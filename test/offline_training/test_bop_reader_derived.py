"""BopDataset on BOP data written by others: visib_fract and visible boxes derived from what
is there (px counts, masks, the projected model) and the source of each recorded."""

import json
import shutil

import numpy as np
import pytest

from offline_training.synthetic.bop import BopWriter
from offline_training.synthetic.bop_reader import BopDataset, projected_box
from offline_training.synthetic.render import bop_bbox, render
from offline_training.synthetic.scene import ObjectModel, box_mesh, camera_on_sphere, sample_scene
from ros_pose_estimation.core.camera import Intrinsics

INTR = Intrinsics(fx=70.0, fy=70.0, cx=31.5, cy=23.5, width=64, height=48)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """Two images written by the project's writer: three objects (one occluded, one cut by
    the image border: px_count_all > its in-image mask) and two (one occluded)."""
    models = {
        "box": [ObjectModel(1, "box", box_mesh([-0.1, -0.05, -0.04], [0.1, 0.05, 0.04]))],
        "can": [ObjectModel(2, "can", box_mesh([-0.03, -0.03, -0.06], [0.03, 0.03, 0.06]))],
    }
    root = tmp_path_factory.mktemp("bop_derived")
    results = []
    with BopWriter(root, "test") as w:
        w.write_models([m for pool in models.values() for m in pool])
        for im_id, (seed, n, dist) in enumerate([(3, 3, 0.4), (0, 2, 0.6)]):
            scene = sample_scene(["box", "can"], np.random.default_rng(seed), n, models=models,
                                 spread=0.7)  # fmt: skip
            T_wc = camera_on_sphere(40, 35, dist, scene.center_and_radius()[0])
            results.append(render(scene, T_wc, INTR))
            w.add_render(0, im_id, results[-1], scene, T_wc)
    truncated = [r.px_count_all > r.mask_full.sum(axis=(1, 2)) for r in results]
    assert any(t.any() for t in truncated) and any(r.visib_fract.min() < 0.9 for r in results)
    return root, results


def _copy(written, tmp_path, drop_keys=(), drop_files=(), drop_dirs=()):
    """A copy of the written dataset without some scene_gt_info keys, files or folders."""
    root = tmp_path / "data"
    shutil.copytree(written[0], root)
    scene = root / "test" / "000000"
    info_path = scene / "scene_gt_info.json"
    info = json.loads(info_path.read_text())
    for entries in info.values():
        for entry in entries:
            for key in drop_keys:
                del entry[key]
    info_path.write_text(json.dumps(info))
    for name in drop_files:
        for path in root.glob(name):
            path.unlink()
    for name in drop_dirs:
        shutil.rmtree(scene / name)
    return root


@pytest.fixture
def objects_of(written):
    """``read(root, load_masks)`` -> ``[(render result, object index, BopObject)]``."""

    def read(root, load_masks=True):
        ds = BopDataset(root, "test", load_masks=load_masks)
        return [(written[1][s.im_id], i, o) for s in ds for i, o in enumerate(s.objects)]

    return read


def _mask_box(mask):
    v, u = np.nonzero(mask)
    return bop_bbox(u, v).tolist()


def _contains(outer, inner):
    (x, y, w, h), (xi, yi, wi, hi) = outer, inner
    return x <= xi and y <= yi and x + w >= xi + wi and y + h >= yi + hi


def test_stored_values_are_used_as_they_are(written, objects_of):
    for res, i, obj in objects_of(written[0]):
        assert (obj.visib_source, obj.bbox_source) == ("info", "info")
        assert obj.visib_fract == pytest.approx(res.visib_fract[i], abs=1e-12)
        assert list(obj.bbox_visib) == res.bbox_visib[i].tolist()


def test_visib_fract_from_px_counts(written, objects_of, tmp_path):
    root = _copy(written, tmp_path, drop_keys=["visib_fract"])
    for res, i, obj in objects_of(root):
        assert obj.visib_source == "px_count" and obj.bbox_source == "info"
        assert obj.visib_fract == pytest.approx(res.px_count_visib[i] / res.px_count_all[i])
        assert obj.visib_fract == pytest.approx(res.visib_fract[i], abs=1e-12)


@pytest.mark.parametrize("load_masks", [True, False])
def test_visib_fract_from_masks_without_px_count_all(written, objects_of, tmp_path, load_masks):
    root = _copy(written, tmp_path, drop_keys=["visib_fract", "px_count_all"])
    for res, i, obj in objects_of(root, load_masks):
        assert obj.visib_source == "masks" and obj.bbox_source == "info"
        n_mask = res.mask_full[i].sum()
        assert obj.visib_fract == pytest.approx((res.instance == i).sum() / n_mask, abs=1e-12)
        if n_mask == res.px_count_all[i]:  # wholly in the image: BOP's own definition
            assert obj.visib_fract == pytest.approx(res.visib_fract[i], abs=1e-12)
        else:  # cut by the border: the masks do not see the part outside the image
            assert obj.visib_fract > res.visib_fract[i]
        assert (obj.mask is None) == (not load_masks)  # masks read for the derivation only


def test_no_scene_gt_info(written, objects_of, tmp_path):
    root = _copy(written, tmp_path, drop_files=["test/*/scene_gt_info.json"])
    for res, i, obj in objects_of(root, load_masks=False):
        assert obj.info == {} and obj.visib_source == "masks"
        assert obj.bbox_source == "mask_visib"
        assert list(obj.bbox_visib) == res.bbox_visib[i].tolist()


def test_no_scene_gt_info_and_only_full_masks(written, objects_of, tmp_path):
    root = _copy(written, tmp_path, drop_files=["test/*/scene_gt_info.json"],
                 drop_dirs=["mask_visib"])  # fmt: skip
    for res, i, obj in objects_of(root):
        assert obj.visib_source == "assumed" and obj.visib_fract == 1.0
        assert obj.bbox_source == "mask" and list(obj.bbox_visib) == _mask_box(res.mask_full[i])
        assert _contains(obj.bbox_visib, res.bbox_visib[i])


def test_no_scene_gt_info_no_masks_projects_the_model(written, objects_of, tmp_path):
    root = _copy(written, tmp_path, drop_files=["test/*/scene_gt_info.json"],
                 drop_dirs=["mask", "mask_visib"])  # fmt: skip
    for res, i, obj in objects_of(root):
        assert obj.visib_source == "assumed" and obj.visib_fract == 1.0
        assert obj.bbox_source == "model" and obj.no_box_reason == ""
        silhouette = _mask_box(res.mask_full[i])  # in-image part of the whole silhouette
        assert _contains(obj.bbox_visib, silhouette)
        assert _contains(obj.bbox_visib, res.bbox_visib[i])
        # Tight: at most 2 px larger on each side (outward rounding; a corner thinner than a
        # pixel covers no pixel centre) than the whole silhouette's box (bbox_obj, which reaches
        # outside the image) clipped to the image.
        x, y, w, h = obj.bbox_visib
        ox, oy, ow, oh = res.bbox_obj[i]
        x1, y1 = min(ox + ow, INTR.width - 1), min(oy + oh, INTR.height - 1)
        assert max(max(ox, 0) - x, max(oy, 0) - y, x + w - x1, y + h - y1) <= 2


def test_no_box_and_a_reason_when_nothing_is_left(written, objects_of, tmp_path):
    root = _copy(written, tmp_path, drop_files=["test/*/scene_gt_info.json", "models/*.ply"],
                 drop_dirs=["mask", "mask_visib"])  # fmt: skip
    for _, _, obj in objects_of(root):
        assert obj.bbox_visib is None and obj.bbox_source is None
        assert "no model to project" in obj.no_box_reason


def test_no_visible_pixel_means_no_box(written, tmp_path):
    root = _copy(written, tmp_path, drop_keys=["visib_fract", "bbox_visib"])
    info_path = root / "test/000000/scene_gt_info.json"
    info = json.loads(info_path.read_text())
    info["0"][0]["px_count_visib"] = 0
    info["1"][0]["bbox_visib"] = [-1, -1, -1, -1]
    info_path.write_text(json.dumps(info))
    first, second = BopDataset(root, "test")
    assert first.objects[0].visib_fract == 0.0 and first.objects[0].bbox_visib is None
    assert "no visible pixel" in first.objects[0].no_box_reason
    assert second.objects[0].bbox_visib is None and second.objects[0].bbox_source == "info"
    assert "no visible pixel" in second.objects[0].no_box_reason
    assert first.objects[1].bbox_source == "mask_visib"  # the others: boxes from mask_visib
    assert list(first.objects[1].bbox_visib) == written[1][0].bbox_visib[1].tolist()


def test_projected_box():
    K = np.array([[100.0, 0.0, 50.0], [0.0, 100.0, 40.0], [0.0, 0.0, 1.0]])
    square = np.array([[x, y, 0.0] for x in (-0.1, 0.1) for y in (-0.1, 0.1)])  # 0.2 m side
    box, reason = projected_box(square, np.eye(3), np.array([0.0, 0.0, 1.0]), K, 100, 80)
    assert box == (40, 30, 20, 20) and reason == ""  # 50 +- 10 px, 40 +- 10 px at 1 m
    box, _ = projected_box(square, np.eye(3), np.array([0.0, 0.0, 0.9]), K, 100, 80)
    assert box == (38, 28, 24, 24)  # 50 +- 11.1 px: rounded outwards
    box, _ = projected_box(square, np.eye(3), np.array([0.45, 0.0, 1.0]), K, 100, 80)
    assert box == (85, 30, 14, 20)  # 85..105 px clipped at the right border (x = 99)
    box, reason = projected_box(square, np.eye(3), np.array([2.0, 0.0, 1.0]), K, 100, 80)
    assert box is None and "outside the image" in reason
    tilted = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]) @ np.array(
        [[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]]
    )  # the square's plane contains the optical axis: it reaches behind the camera
    box, reason = projected_box(square, tilted, np.array([0.0, 0.0, 0.05]), K, 100, 80)
    assert box is None and "behind the camera" in reason
