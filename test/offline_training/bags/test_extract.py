"""Extraction of generated bags (sqlite3 and mcap), checked against the ground truth the
generator wrote (read here only, never by the extractor)."""

import shutil

import numpy as np
import pytest

from offline_training.bags.box_tracking import InitialBox
from offline_training.bags.cache import ExtractedRecording
from offline_training.bags.config import ExtractionConfig
from offline_training.bags.extract import extract_bag
from offline_training.bags.tracking import box_iou


def _gt_object(tools, gt, frame, box) -> int:
    ious = [box_iou(box, b) for b in tools.gt_boxes(gt, frame)]
    return int(np.argmax(ious)) if max(ious) > 0.5 else -1


@pytest.mark.parametrize("name", ["sqlite3", "mcap"])
def test_frames_poses_objects_and_tracks_match_ground_truth(bags, tools, tmp_path, name):
    bag = bags[name]
    report = extract_bag(bag, tmp_path / "cache", ExtractionConfig(chunk_frames=4))
    assert report.status == "complete"
    assert report.frames == report.synchronised_sets == report.frames_with_camera_pose == 10
    assert report.object_source == "detections"
    assert report.fixed_frame == "world" and report.camera_frame == "camera_color_optical_frame"
    assert "/ground_truth/objects" in report.ignored_topics
    gt = tools.ground_truth(bag)
    rec = ExtractedRecording(report.cache_dir)
    assert len(rec) == 10
    identity: dict[int, set[int]] = {}
    for i, frame in enumerate(rec.frames()):
        truth = gt["frames"][i]
        assert frame.stamp_ns == truth["stamp_ns"]
        assert frame.rgb.shape == (120, 160, 3) and frame.rgb.dtype == np.uint8
        assert frame.depth.shape == (120, 160) and frame.depth.dtype == np.float32
        assert 0.2 < np.median(frame.depth[frame.depth > 0]) < 3.0  # metres, not mm
        np.testing.assert_allclose(frame.intrinsics.K, gt["K"], atol=1e-9)
        np.testing.assert_allclose(frame.T_fixed_cam, truth["T_world_cam"], atol=1e-6)
        visible = [v >= 0.15 for v in truth["visib_fract"]]
        assert len(frame.objects) == sum(visible)
        for obj in frame.objects:
            k = _gt_object(tools, gt, i, obj.box_xyxy)
            assert box_iou(obj.box_xyxy, tools.gt_boxes(gt, i)[k]) > 0.99
            assert obj.category == gt["objects"][k]["category"]
            assert obj.position_cam is not None
            identity.setdefault(obj.track_id, set()).add(k)
    # one track per physical object, each track one object
    assert len(rec.tracks) == 3 and all(len(v) == 1 for v in identity.values())
    assert sorted(report.tracks_per_category.items()) == [("bottle", 1), ("box", 1), ("mug", 1)]


def test_ground_truth_is_not_used_and_only_copied_when_asked(bags, tools, tmp_path):
    bare = tools.copy_bag(bags["sqlite3"], tmp_path / "bare")
    (bare / "ground_truth.json").unlink()
    a = extract_bag(bare, tmp_path / "c1")
    b = extract_bag(bags["sqlite3"], tmp_path / "c2", copy_ground_truth=True)
    assert (a.frames, a.objects, a.tracks) == (b.frames, b.objects, b.tracks)
    assert ExtractedRecording(a.cache_dir).ground_truth_path is None
    copied = ExtractedRecording(b.cache_dir).ground_truth_path
    assert copied is not None and copied.parent.name == "evaluation_only"


def test_depth_segmentation_when_the_bag_has_no_detections(bags, tools, tmp_path):
    bag = bags["no_det"]
    report = extract_bag(bag, tmp_path / "c", ExtractionConfig(segment_category="thing"))
    assert report.object_source == "depth" and report.topics["detections"] is None
    rec = ExtractedRecording(report.cache_dir)
    gt = tools.ground_truth(bag)
    matched, total = 0, 0
    for frame in rec.frames():
        for obj in frame.objects:
            total += 1
            assert obj.category == "thing" and obj.mask is not None and obj.source == "depth"
            matched += _gt_object(tools, gt, frame.index, obj.box_xyxy) >= 0
    assert total >= 15 and matched / total >= 0.7
    assert 2 <= sum(1 for t in rec.tracks if not t.short) <= 4


@pytest.mark.parametrize("modality", ["rgbd", "rgb"])
def test_first_frame_boxes_are_followed(bags, tools, tmp_path, modality):
    bag = bags["no_det"]
    gt = tools.ground_truth(bag)
    first = tools.gt_boxes(gt, 0)
    cats = [o["category"] for o in gt["objects"]]
    chosen = [2, 0]  # the box and the mug
    cfg = ExtractionConfig(
        modality=modality,
        objects="first_box",
        initial_boxes=[InitialBox(cats[k], tuple(first[k])) for k in chosen],
        chunk_frames=3,
    )
    report = extract_bag(bag, tmp_path / "c", cfg)
    rec = ExtractedRecording(report.cache_dir)
    assert [t.category for t in rec.tracks] == [cats[k] for k in chosen]
    ious = {0: [], 1: []}
    for frame in rec.frames(images=False):
        for obj in frame.objects:
            ious[obj.track_id].append(
                box_iou(obj.box_xyxy, tools.gt_boxes(gt, frame.index)[chosen[obj.track_id]])
            )
    assert ious[0][0] == pytest.approx(1.0) and ious[1][0] == pytest.approx(1.0)
    if modality == "rgbd":  # 3D reprojection with /tf: no drift over the whole sweep
        assert len(ious[0]) == 10 and min(ious[0]) > 0.5
        assert np.mean(np.array(ious[1]) > 0.4) >= 0.6
    else:  # 2D template matching: follows the first frames, drifts on this fast 5 Hz sweep
        assert min(ious[0][:3]) > 0.7 and min(ious[1][:3]) > 0.7


def test_rgb_modality_without_tf_tracks_in_2d(bags, tools, tmp_path):
    cfg = ExtractionConfig(modality="rgb", topics={"tf": "", "tf_static": ""})
    report = extract_bag(bags["mcap"], tmp_path / "c", cfg)
    assert report.frames == 10 and report.frames_with_camera_pose == 0
    rec = ExtractedRecording(report.cache_dir)
    frame = rec.frame(3)
    assert frame.depth is None and frame.T_fixed_cam is None
    assert all(o.position_cam is None for o in frame.objects)
    assert len(rec.tracks) >= 3 and sorted(report.tracks_per_category) == ["bottle", "box", "mug"]


def test_two_bags_share_a_cache_root(bags, tmp_path):
    from offline_training.bags.cache import list_recordings

    for name in ("sqlite3", "mcap"):
        extract_bag(bags[name], tmp_path / "c")
    assert len(list_recordings(tmp_path / "c")) == 2
    shutil.rmtree(tmp_path / "c")


def test_a_single_mcap_file_extracts_like_its_folder(bags, tmp_path):
    """Extraction takes a single .mcap file (no metadata.yaml), the path forms play-bag takes."""
    (single,) = bags["mcap"].glob("*.mcap")
    a = extract_bag(bags["mcap"], tmp_path / "c")
    b = extract_bag(single, tmp_path / "c")
    assert b.status == "complete" and b.cache_dir != a.cache_dir
    assert (b.frames, b.objects, b.tracks, b.topics) == (a.frames, a.objects, a.tracks, a.topics)
    assert b.storage == a.storage == "rosbag2 mcap, message compression"
    for fa, fb in zip(
        ExtractedRecording(a.cache_dir).frames(),
        ExtractedRecording(b.cache_dir).frames(),
        strict=True,
    ):
        assert fa.stamp_ns == fb.stamp_ns and np.array_equal(fa.rgb, fb.rgb)
        np.testing.assert_array_equal(fa.T_fixed_cam, fb.T_fixed_cam)
