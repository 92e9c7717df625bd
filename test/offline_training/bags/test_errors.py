"""Damaged bags, missing topics and foreign message types: clear errors, extraction kept."""

import os
from pathlib import Path

import numpy as np
import pytest

from offline_training.bags.cache import ExtractedRecording
from offline_training.bags.config import ExtractionConfig
from offline_training.bags.extract import extract_bag
from offline_training.ros_types import typestore
from ros_pose_estimation.tools.bag_errors import BagError, CorruptBagError


def _truncate(bag: Path, fraction: float) -> Path:
    (storage,) = [p for p in bag.iterdir() if p.suffix in (".db3", ".mcap")]
    os.truncate(storage, int(storage.stat().st_size * fraction))
    return storage


@pytest.mark.parametrize("name", ["sqlite3", "mcap"])
def test_truncated_bag_names_the_file_and_keeps_what_was_extracted(bags, tools, tmp_path, name):
    bag = tools.copy_bag(bags[name], tmp_path / "cut")
    storage = _truncate(bag, 0.6)
    with pytest.raises(CorruptBagError) as info:
        extract_bag(bag, tmp_path / "c", ExtractionConfig(chunk_frames=2))
    err = info.value
    assert err.path == storage and storage.name in str(err)
    report = err.report
    assert report.status == "truncated" and 2 <= report.frames < 10
    assert "salvaged" in report.storage and report.error
    rec = ExtractedRecording(report.cache_dir)  # what was read is a usable dataset
    assert len(rec) == report.frames and rec.report.status == "truncated"
    gt = tools.ground_truth(bags[name])
    for frame in rec.frames():  # and it is right
        np.testing.assert_allclose(
            frame.T_fixed_cam, gt["frames"][frame.index]["T_world_cam"], atol=1e-6
        )
    with pytest.raises(CorruptBagError, match="kept in"):  # reused: same error, no decoding
        extract_bag(bag, tmp_path / "c", ExtractionConfig(chunk_frames=2))


def test_bag_cut_before_any_image_still_raises_clearly(bags, tools, tmp_path):
    bag = tools.copy_bag(bags["mcap"], tmp_path / "cut")
    storage = _truncate(bag, 0.02)
    with pytest.raises(CorruptBagError, match=storage.name) as info:
        extract_bag(bag, tmp_path / "c")
    assert info.value.report is None or info.value.report.frames == 0


def _rewrite(src: Path, dst: Path, keep=None, extra=None) -> Path:
    """Copy the topics ``keep`` of ``src`` to a new bag; ``extra``: (topic, type, msgdef, msg)."""
    from rosbags.rosbag2 import Writer
    from rosbags.typesys import get_types_from_msg

    from ros_pose_estimation.tools.bag_reader import BagReader

    store = typestore()
    with BagReader(src) as reader, Writer(dst, version=9) as writer:
        types = {t: m for t, m in reader.connections.items() if keep is None or t in keep}
        conns = {t: writer.add_connection(t, m, typestore=store) for t, m in types.items()}
        if extra is not None:
            from rosbags.typesys import Stores, get_typestore

            topic, msgtype, msgdef, fields = extra
            own = get_typestore(Stores.EMPTY)
            own.register(get_types_from_msg(msgdef, msgtype))
            conn = writer.add_connection(topic, msgtype, typestore=own)
            blob = own.serialize_cdr(own.types[msgtype](**fields), msgtype)
            writer.write(conn, reader.start_ns, blob)
        for topic, t, raw in reader.messages(conns):
            writer.write(conns[topic], t, raw)
    return dst


def test_bag_without_depth_for_rgbd_and_the_rgb_fallback(bags, tmp_path):
    keep = {
        "/camera/color/image_raw",
        "/camera/color/camera_info",
        "/detections",
        "/tf",
        "/tf_static",
    }
    bag = _rewrite(bags["sqlite3"], tmp_path / "nodepth", keep)
    with pytest.raises(BagError, match="no depth topic.*modality 'rgb'"):
        extract_bag(bag, tmp_path / "c")
    report = extract_bag(bag, tmp_path / "c", ExtractionConfig(modality="rgb"))
    assert report.frames == 10 and report.frames_with_camera_pose == 10


def test_missing_camera_info_and_missing_objects_source(bags, tmp_path):
    bag = _rewrite(bags["sqlite3"], tmp_path / "noinfo", {"/camera/color/image_raw", "/tf"})
    with pytest.raises(BagError, match="no camera_info topic"):
        extract_bag(bag, tmp_path / "c", ExtractionConfig(modality="rgb"))
    bag = _rewrite(
        bags["sqlite3"],
        tmp_path / "nodet",
        {"/camera/color/image_raw", "/camera/color/camera_info"},
    )
    with pytest.raises(BagError, match="nothing to find objects with"):
        extract_bag(bag, tmp_path / "c", ExtractionConfig(modality="rgb"))
    with pytest.raises(BagError, match="no such file or folder"):
        extract_bag(tmp_path / "missing", tmp_path / "c")


def test_unknown_message_types_are_ignored_or_refused_by_role(bags, tmp_path):
    extra = (
        "/robot/blob",
        "my_msgs/msg/Blob",
        "uint8[] payload\nstring note",
        {"payload": np.zeros(3, np.uint8), "note": "x"},
    )
    bag = _rewrite(bags["sqlite3"], tmp_path / "custom", extra=extra)
    report = extract_bag(bag, tmp_path / "c")
    assert report.frames == 10 and report.ignored_topics["/robot/blob"] == "my_msgs/msg/Blob"
    with pytest.raises(BagError, match="has type my_msgs/msg/Blob"):
        extract_bag(bag, tmp_path / "c", ExtractionConfig(topics={"rgb": "/robot/blob"}))


def test_ros1_bag_is_refused_with_the_conversion_command(tmp_path):
    ros1 = tmp_path / "old.bag"
    ros1.write_bytes(b"#ROSBAG V2.0\n")
    with pytest.raises(BagError, match="rosbags-convert"):
        extract_bag(ros1, tmp_path / "c")


def test_unsupported_encoding_frames_are_skipped_with_a_reason(bags, tmp_path):
    """Depth published on the colour topic: every frame skipped as bad_image, example kept."""
    cfg = ExtractionConfig(
        topics={"rgb": "/camera/aligned_depth/image_raw"}, modality="rgb", objects="detections"
    )
    report = extract_bag(bags["sqlite3"], tmp_path / "c", cfg)
    assert report.frames == 0 and report.skipped["bad_image"] == 10
    assert "depth" in report.skip_examples["bad_image"]
