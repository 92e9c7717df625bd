"""evaluate-cse: metric wiring (a perfect estimator scores 1), JSON output, exit codes."""

import json
import shutil

import numpy as np
import pytest
import torch

from offline_training.cse.evaluate import evaluate, main, nocs_summary
from offline_training.evaluation import SelectionReport, bop_box_to_xyxy
from offline_training.synthetic.bop_reader import BopDataset
from ros_pose_estimation.core.categories import get_category
from ros_pose_estimation.core.estimation import PoseEstimate
from ros_pose_estimation.core.metrics import evaluate_records
from ros_pose_estimation.core.rotations import axis_angle_to_matrix
from ros_pose_estimation.cse.checkpoint import save_checkpoint
from ros_pose_estimation.cse.model import CseConfig, CseModel
from test.offline_training.test_cse_data import cse_root  # noqa: F401  (fixture)


class PerfectEstimator:
    """Returns the labelled pose (bottles turned about their axis: must not matter)."""

    categories = ["bottle", "mug"]

    def __init__(self, bop):
        self.truth = {}
        for sample in bop:
            for obj in (o for o in sample.objects if o.bbox_visib is not None):
                box = tuple(bop_box_to_xyxy(obj.bbox_visib).round(3))
                info = bop.models_info[obj.obj_id]
                size = np.array([info["size_x"], info["size_y"], info["size_z"]]) * 1e-3
                self.truth[box] = (obj.R, obj.t, size, obj.category)

    def estimate(self, rgb, dets, intr, depth=None, errors="raise"):
        assert depth.dtype == np.uint16  # the default 16UC1 path
        out = []
        for det in dets:
            R, t, size, cat = self.truth[tuple(np.asarray(det.box_xyxy).round(3))]
            if get_category(cat).continuous_axes.size:
                R = R @ axis_angle_to_matrix(np.array([0.0, 0.0, 1.3]))
            out.append(PoseEstimate(cat, R, t, 0.9, size, {"total": 1.0}))
        return out


def test_a_perfect_estimator_scores_one(cse_root):  # noqa: F811
    bop = BopDataset(cse_root, "train")
    records, rows = evaluate(PerfectEstimator(bop), bop, min_visib=0.3)
    assert len(rows) > 0 and all(r["solved"] for r in rows)
    metrics = evaluate_records(records)
    for m in metrics["per_category"].values():
        assert m["iou"]["iou25"] == m["iou"]["iou50"] == 1.0
        assert all(v == 1.0 for v in m["n_deg_m_cm"].values())
    assert all(r["iou"] == pytest.approx(1.0, abs=1e-3) for r in rows)  # each one's own IoU
    assert all(np.allclose(r["t_pred"], r["t_gt"]) and len(r["t_gt"]) == 3 for r in rows)


class AxisTurnedMugs(PerfectEstimator):
    """The labelled pose with every mug turned 90 deg about its axis (wrong azimuth only)."""

    def estimate(self, rgb, dets, intr, depth=None, errors="raise"):
        out = super().estimate(rgb, dets, intr, depth, errors)
        for est in out:
            if est.category == "mug":
                est.R = est.R @ axis_angle_to_matrix(np.array([0.0, 0.0, np.pi / 2]))
        return out


def test_mugs_are_also_scored_by_the_nocs_handle_protocol(cse_root):  # noqa: F811
    bop = BopDataset(cse_root, "train")
    records, rows = evaluate(AxisTurnedMugs(bop), bop, min_visib=0.0)
    mugs = [r for r in rows if r["category"] == "mug"]
    assert mugs and all(isinstance(r["handle_visible"], bool) for r in mugs)
    assert all(r["handle_visible"] is None for r in rows if r["category"] != "mug")
    for r in mugs:  # strict: the azimuth counts; NOCS: not when the handle is hidden
        assert r["rot_err_deg"] == pytest.approx(90.0, abs=1e-3)
        assert r["rot_err_nocs_deg"] == pytest.approx(
            90.0 if r["handle_visible"] else 0.0, abs=1e-3
        )
    summary = nocs_summary(records, rows)
    hidden = np.mean([not r["handle_visible"] for r in mugs])
    assert 0.0 < hidden < 1.0  # the fixture has both kinds of view
    nocs = summary["metrics_nocs"]["per_category"]["mug"]
    assert nocs["n_deg_m_cm"]["10deg5cm"] == pytest.approx(hidden)
    assert evaluate_records(records)["per_category"]["mug"]["n_deg_m_cm"]["10deg5cm"] == 0.0
    assert summary["handle_visible_fraction"] == pytest.approx(1.0 - hidden)
    assert nocs_summary([r for r in records if r.category != "mug"],
                        [r for r in rows if r["category"] != "mug"]) == {}  # fmt: skip


def _without(src, dst, patterns):
    """A copy of dataset ``src`` without the files / folders matching ``patterns``."""
    shutil.copytree(src, dst)
    for path in (p for pattern in patterns for p in dst.glob(pattern)):
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    return dst


def test_a_perfect_estimator_scores_one_without_scene_gt_info(cse_root, tmp_path):  # noqa: F811
    """visib_fract and boxes from the masks: the same boxes, at least the same objects."""
    root = _without(cse_root, tmp_path / "bop", ["train/*/scene_gt_info.json"])
    original = BopDataset(cse_root, "train")
    _, rows_before = evaluate(PerfectEstimator(original), original, min_visib=0.3)
    bop = BopDataset(root, "train")
    report = SelectionReport()
    records, rows = evaluate(PerfectEstimator(bop), bop, min_visib=0.3, report=report)
    assert len(rows) >= len(rows_before) > 0 and all(r["solved"] for r in rows)
    assert {(r["visib_source"], r["box_source"]) for r in rows} == {("masks", "mask_visib")}
    assert report.visib_sources == {"masks": report.seen} and report.kept == len(rows)
    for m in evaluate_records(records)["per_category"].values():
        assert m["iou"]["iou25"] == m["iou"]["iou50"] == 1.0
        assert all(v == 1.0 for v in m["n_deg_m_cm"].values())


def test_an_image_without_valid_depth_is_skipped_and_counted(cse_root, tmp_path):  # noqa: F811
    """All depth zero (e.g. objects beyond the sensor's range): its objects are reported as
    skipped, the other images are still evaluated."""
    import cv2

    root = _without(cse_root, tmp_path / "bop", [])
    first = sorted((root / "train").glob("*/depth/*.png"))[0]
    cv2.imwrite(str(first), np.zeros_like(cv2.imread(str(first), cv2.IMREAD_UNCHANGED)))
    original = BopDataset(cse_root, "train")
    _, rows_before = evaluate(PerfectEstimator(original), original, min_visib=0.3)
    bop, report = BopDataset(root, "train"), SelectionReport()
    _, rows = evaluate(PerfectEstimator(bop), bop, min_visib=0.3, report=report)
    lost = report.skipped["selected objects in images without valid depth"]
    assert lost > 0 and len(rows) == len(rows_before) - lost and all(r["solved"] for r in rows)


def test_cli_on_a_dataset_without_scene_gt_info_and_masks(cse_root, tmp_path, capsys):  # noqa: F811
    torch.manual_seed(0)
    ckpt = save_checkpoint(
        tmp_path / "mug.pt", CseModel(CseConfig("mug", backbone="tiny", crop_size=64))
    )
    patterns = ["train/*/scene_gt_info.json", "train/*/mask", "train/*/mask_visib"]
    root = _without(cse_root, tmp_path / "bop", patterns)
    out = tmp_path / "eval.json"
    args = ["--data", str(root), "--split", "train", "--checkpoint", str(ckpt),
            "--threads", "1", "--quiet"]  # fmt: skip
    assert main([*args, "--max-objects", "2", "--json", str(out)]) == 0
    assert "boxes from the projected model (no masks) for" in capsys.readouterr().err
    result = json.loads(out.read_text())
    assert "treated as visible (visib_fract 1)" in result["selection"]["derivation"]
    assert len(result["objects"]) == 2
    assert all(r["visib_source"] == "assumed" and r["box_source"] == "model"
               for r in result["objects"])  # fmt: skip
    assert main([*args, "--min-visib", "2"]) == 1
    err = capsys.readouterr().err
    assert "no object of mug could be evaluated" in err and "< --min-visib 2.0" in err


def test_cli_writes_json_and_checks_arguments(cse_root, tmp_path, capsys):  # noqa: F811
    torch.manual_seed(0)
    ckpt = save_checkpoint(
        tmp_path / "mug.pt", CseModel(CseConfig("mug", backbone="tiny", crop_size=64))
    )
    out = tmp_path / "eval.json"
    args = ["--data", str(cse_root), "--split", "train", "--checkpoint", str(ckpt),
            "--threads", "1", "--quiet", "--max-objects", "4"]  # fmt: skip
    assert main([*args, "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert set(result) >= {"device", "metrics", "latency", "objects", "inference_config"}
    assert result["latency"]["median_ms"] > 0 and result["latency"]["p90_ms"] > 0
    assert len(result["objects"]) == 4
    mug = result["metrics"]["per_category"]["mug"]
    assert set(mug["n_deg_m_cm"]) == {"5deg2cm", "5deg5cm", "10deg2cm", "10deg5cm"}
    assert set(mug["iou"]) == {"iou25", "iou50"}
    assert "latency per object" in capsys.readouterr().out
    assert main([*args[:4], "--checkpoint", str(tmp_path / "none.pt"), "--quiet"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["--data", str(tmp_path), "--checkpoint", str(ckpt), "--quiet"]) == 2


@pytest.mark.parametrize("missing, named", [
    ("rgb", "rgb (nor gray/)"),
    ("scene_gt.json", "scene_gt.json, the ground-truth poses an evaluation needs"),
    ("scene_camera.json", "scene_camera.json, the camera matrices of its images"),
])  # fmt: skip
def test_cli_names_what_a_scene_lacks(cse_root, tmp_path, capsys, missing, named):  # noqa: F811
    """Found on opening the dataset (before the checkpoint is read), not mid-evaluation."""
    root = _without(cse_root, tmp_path / "bop", [f"train/*/{missing}"])
    assert main(["--data", str(root), "--split", "train", "--checkpoint",
                 str(tmp_path / "never_read.pt"), "--quiet"]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert err.startswith("evaluate-cse: error: scene 000000") and err.count("\n") == 1
    assert f"{root / 'train' / '000000'}/{named}" in err


@pytest.mark.parametrize("damage", ["missing", "garbage"])
def test_cli_names_an_image_missing_or_damaged_mid_run(cse_root, tmp_path, capsys,  # noqa: F811
                                                       damage):
    """One image file of a scene gone or unreadable: one line naming it and exit 2."""
    root = _without(cse_root, tmp_path / "bop", [])
    image = sorted(root.glob("train/000000/rgb/000000.*"))[0]
    image.unlink() if damage == "missing" else image.write_bytes(b"not an image")
    ckpt = save_checkpoint(
        tmp_path / "mug.pt", CseModel(CseConfig("mug", backbone="tiny", crop_size=64))
    )
    assert main(["--data", str(root), "--split", "train", "--checkpoint", str(ckpt),
                 "--threads", "1", "--quiet"]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert err.startswith("evaluate-cse: error: ") and err.count("\n") == 1
    assert ("is missing: restore it" if damage == "missing" else "the file is damaged") in err


class DepthCounter(PerfectEstimator):
    """The perfect estimator, noting the share of each object's mask pixels with depth."""

    kept: list

    def estimate(self, rgb, dets, intr, depth=None, errors="raise"):
        for det in dets:
            self.kept.append(float(np.mean(depth[det.mask] > 0)))
        return super().estimate(rgb, dets, intr, depth, errors)


def test_object_depth_kept_takes_most_of_each_object_s_depth_away(cse_root, capsys):  # noqa: F811
    bop = BopDataset(cse_root, "train")
    full, dark = DepthCounter(bop), DepthCounter(bop)
    full.kept, dark.kept = [], []
    evaluate(full, bop, min_visib=0.3)
    evaluate(dark, bop, min_visib=0.3, object_depth_kept=0.1)
    ratio = np.mean(dark.kept) / np.mean(full.kept)
    assert np.mean(full.kept) > 0.3 and 0.05 < ratio < 0.2  # of the depth there was, a tenth
    again = DepthCounter(bop)
    again.kept = []
    evaluate(again, bop, min_visib=0.3, object_depth_kept=0.1)
    assert again.kept == dark.kept  # seeded per image
    args = ["--data", str(cse_root), "--split", "train", "--checkpoint", "x.pt", "--quiet"]
    assert main([*args, "--object-depth-kept", "1.5"]) == 2
    assert "--object-depth-kept must lie in [0, 1]" in capsys.readouterr().err


class MaskCounter(PerfectEstimator):
    """Notes each detection's mask pixels and box; solves nothing."""

    seen: list

    def estimate(self, rgb, dets, intr, depth=None, errors="raise"):
        self.seen.extend((int(det.mask.sum()), np.asarray(det.box_xyxy)) for det in dets)
        return [None] * len(dets)


def test_mask_grow_grows_or_shrinks_each_mask_and_its_box(cse_root):  # noqa: F811
    from offline_training.evaluation import grow_mask

    bop = BopDataset(cse_root, "train")
    runs = {}
    for px in (0, 2, -1):
        runs[px] = MaskCounter(bop)
        runs[px].seen = []
        evaluate(runs[px], bop, min_visib=0.3, mask_grow=px)
    for (n0, b0), (n2, b2), (n1, b1) in zip(runs[0].seen, runs[2].seen, runs[-1].seen,
                                           strict=True):  # fmt: skip
        assert n1 < n0 < n2
        np.testing.assert_allclose(b2, b0 + [-2, -2, 2, 2])  # the box holds the grown mask
        np.testing.assert_allclose(b1, b0)
    m = np.zeros((9, 9), bool)
    m[4, 4] = True
    assert grow_mask(m, 1).sum() == 9 and grow_mask(grow_mask(m, 1), -1).sum() == 1
    assert grow_mask(None, 3) is None and grow_mask(m, 0) is m


class DepthRecorder(PerfectEstimator):
    """Notes each image's depth; solves nothing."""

    seen: list

    def estimate(self, rgb, dets, intr, depth=None, errors="raise"):
        self.seen.append(np.array(depth))
        return [None] * len(dets)


def test_depth_shift_moves_the_depth_against_the_colour(cse_root):  # noqa: F811
    from offline_training.synthetic.sensor_noise import shift_image

    bop = BopDataset(cse_root, "train")
    plain, moved = DepthRecorder(bop), DepthRecorder(bop)
    plain.seen, moved.seen = [], []
    evaluate(plain, bop, min_visib=0.3)
    evaluate(moved, bop, min_visib=0.3, depth_shift=(3, -2))
    assert len(plain.seen) == len(moved.seen) > 0
    for a, b in zip(plain.seen, moved.seen, strict=True):
        np.testing.assert_array_equal(b[:-2, 3:], a[2:, :-3])
        assert not b[-2:].any() and not b[:, :3].any()  # the uncovered border has no depth
    img = np.arange(12).reshape(3, 4)
    assert shift_image(img, (0, 0)) is img and not shift_image(img, (4, 0)).any()


def test_a_depth_shift_of_a_whole_side_is_refused(cse_root, tmp_path, capsys):  # noqa: F811
    """128 x 96 images: a shift of a whole side or more leaves no depth; the CLI refuses it
    before loading the checkpoint, a library caller gets the images skipped and counted."""
    args = ["--data", str(cse_root), "--split", "train", "--checkpoint",
            str(tmp_path / "never_read.pt"), "--quiet"]  # fmt: skip
    for shift in (["128", "0"], ["0", "-96"], ["-99999999999999999999", "5"]):
        assert main([*args, "--depth-shift", *shift]) == 2
        err = capsys.readouterr().err
        assert f"--depth-shift {' '.join(shift)} moves the depth image (128 x 96 px)" in err
        assert "|DX| < 128, |DY| < 96" in err and "Traceback" not in err
    bop, report = BopDataset(cse_root, "train"), SelectionReport()
    recorder = DepthRecorder(bop)
    recorder.seen = []
    _, rows = evaluate(recorder, bop, min_visib=0.3, report=report, depth_shift=(0, 96))
    assert rows == [] and recorder.seen == []  # no all-zero depth reaches the estimator
    assert report.skipped["selected objects in images without valid depth after --depth-shift"]


def test_set_parses_optional_numbers_and_booleans():
    from offline_training.cse.evaluate import inference_config
    from ros_pose_estimation.core.errors import ConfigError
    from ros_pose_estimation.cse.estimator import CseInferenceConfig

    cfg = inference_config(["tau=0.05", "icp_axis_scales=false", "icp_steps=3"],
                           CseInferenceConfig)  # fmt: skip
    assert cfg.tau == 0.05 and cfg.icp_axis_scales is False and cfg.icp_steps == 3
    assert inference_config(["tau=none"], CseInferenceConfig).tau is None
    optional = inference_config(["mask_support_plane=false"], CseInferenceConfig)
    assert optional.mask_support_plane is False  # an optional switch parses as one
    default = inference_config(["mask_support_plane=none"], CseInferenceConfig)
    assert default.mask_support_plane is None
    for bad in ("tau=0", "tau=cold", "icp_axis_scales=maybe"):
        with pytest.raises(ConfigError):
            inference_config([bad], CseInferenceConfig)


def test_gravity_gives_the_estimator_the_world_up_of_each_image(cse_root):  # noqa: F811
    """``evaluate(..., gravity=True)``: every call gets the world's +z in the camera from the
    image's camera pose; without it, no ``up`` argument at all."""
    bop = BopDataset(cse_root, "train")
    seen = []

    class WithUp(PerfectEstimator):
        def estimate(self, rgb, dets, intr, depth=None, errors="raise", **kw):
            seen.append(kw.get("up"))
            return super().estimate(rgb, dets, intr, depth, errors)

    evaluate(WithUp(bop), bop, min_visib=0.3)
    assert seen and all(up is None for up in seen)
    seen.clear()
    evaluate(WithUp(bop), bop, min_visib=0.3, gravity=True)
    sample = bop[0]
    np.testing.assert_allclose(seen[0], sample.T_world_cam[:3, :3].T @ [0.0, 0.0, 1.0])
