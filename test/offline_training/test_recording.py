"""Generated rosbag2 recordings read back with the project's bag reader (rosbags): types, stamps,
frames, TF, ground truth; the summary of a folder and of its single storage file."""

import json
from pathlib import Path

import numpy as np
import pytest

from offline_training.ros_types import typestore
from offline_training.synthetic.inspect_bag import summarize_bag, tf_children
from offline_training.synthetic.recording import DEFAULT_TOPICS, RecordingConfig, write_recording
from offline_training.synthetic.recording_cli import main as bag_main
from offline_training.synthetic.trajectories import OPTICAL_FRAME
from ros_pose_estimation.core.conventions import depth_to_metres

pytest.importorskip("rosbags", reason="rosbags is part of the 'data' extra")


def _config(**kw) -> RecordingConfig:
    base = dict(
        categories=["mug", "can"],
        n_objects=2,
        duration=1.0,
        rate=5.0,
        tf_rate=15.0,
        width=80,
        height=60,
        seed=3,
    )
    base.update(kw)
    return RecordingConfig(**base)


def _messages(path: Path, topic: str):
    from ros_pose_estimation.tools.bag_reader import BagReader

    with BagReader(path, typestore=typestore()) as reader:
        return [(t, msg) for _, t, msg in reader.messages([topic], deserialize=True)]


@pytest.mark.parametrize(("storage", "encoding"), [("sqlite3", "16UC1"), ("mcap", "32FC1")])
def test_bag_reads_back_with_types_stamps_frames_and_tf(tmp_path, storage, encoding):
    out = tmp_path / "rec"
    summary = write_recording(
        _config(storage=storage, depth_encoding=encoding), out, progress=False
    )
    assert summary.frames == 5
    bag = summarize_bag(out)
    assert bag.storage == f"{storage}, message compression"
    expected_types = {
        DEFAULT_TOPICS["rgb"]: "sensor_msgs/msg/Image",
        DEFAULT_TOPICS["depth"]: "sensor_msgs/msg/Image",
        DEFAULT_TOPICS["camera_info"]: "sensor_msgs/msg/CameraInfo",
        DEFAULT_TOPICS["detections"]: "vision_msgs/msg/Detection2DArray",
        DEFAULT_TOPICS["ground_truth"]: "vision_msgs/msg/Detection3DArray",
        "/tf": "tf2_msgs/msg/TFMessage",
        "/tf_static": "tf2_msgs/msg/TFMessage",
    }
    for topic, msgtype in expected_types.items():
        assert bag.topics[topic].msgtype == msgtype
    for key in ("rgb", "depth", "camera_info", "detections", "ground_truth"):
        s = bag.topics[DEFAULT_TOPICS[key]]
        assert s.count == 5
        assert s.frame_ids == {OPTICAL_FRAME}
        assert s.rate_hz == pytest.approx(5.0)
    assert bag.topics["/tf"].count == 15
    assert bag.topics["/tf"].rate_hz == pytest.approx(15.0)
    assert bag.header_matches_bag_time  # header stamps == bag receive time, nothing is now()
    assert tf_children(bag) == {
        "world": ["base_link"],
        "base_link": ["tool0"],
        "tool0": ["camera_link"],
        "camera_link": [OPTICAL_FRAME],
    }
    assert ("camera_link", OPTICAL_FRAME) in bag.static_tf_edges
    (single,) = out.glob("*.mcap" if storage == "mcap" else "*.db3")
    alone = summarize_bag(single)  # a single storage file summarises like its folder
    assert alone.storage == bag.storage  # per-message zstd found without metadata.yaml
    assert {t: s.count for t, s in alone.topics.items()} == {
        t: s.count for t, s in bag.topics.items()
    }
    assert alone.tf_edges == bag.tf_edges and alone.static_tf_edges == bag.static_tf_edges

    images = _messages(out, DEFAULT_TOPICS["rgb"])
    depths = _messages(out, DEFAULT_TOPICS["depth"])
    infos = _messages(out, DEFAULT_TOPICS["camera_info"])
    _, img = images[0]
    assert (img.encoding, img.height, img.width, img.step) == ("rgb8", 60, 80, 240)
    _, depth = depths[0]
    assert depth.encoding == encoding
    dtype = np.uint16 if encoding == "16UC1" else np.float32
    d = depth_to_metres(depth.data.view(dtype).reshape(60, 80), encoding)
    assert 0.2 < np.median(d[d > 0]) < 2.0  # metres, whatever the encoding
    _, info = infos[0]
    k = info.k.reshape(3, 3)
    assert k[0, 0] > 0 and k[0, 2] == pytest.approx(39.5) and k[1, 2] == pytest.approx(29.5)
    np.testing.assert_allclose(info.p.reshape(3, 4)[:, :3], k)


def test_ground_truth_matches_tf_and_detections(tmp_path):
    out = tmp_path / "rec"
    write_recording(_config(trajectory="base_pass", noise="none"), out, progress=False)
    gt = json.loads((out / "ground_truth.json").read_text())
    assert sorted(o["category"] for o in gt["objects"]) == ["can", "mug"]
    frames = gt["frames"]
    gt_msgs = _messages(out, DEFAULT_TOPICS["ground_truth"])
    det_msgs = _messages(out, DEFAULT_TOPICS["detections"])
    assert len(frames) == len(gt_msgs) == len(det_msgs) == 5
    for frame, (_, gt_msg), (_, det_msg) in zip(frames, gt_msgs, det_msgs, strict=True):
        T_world_cam = np.array(frame["T_world_cam"])
        for obj, det3d in zip(gt["objects"], gt_msg.detections, strict=True):
            # T_cam_obj on the topic == inverse(T_world_cam) @ T_world_obj from the sidecar
            expected = np.linalg.inv(T_world_cam) @ np.array(obj["T_world_obj"])
            p = det3d.results[0].pose.pose.position
            np.testing.assert_allclose([p.x, p.y, p.z], expected[:3, 3], atol=1e-6)
            assert det3d.results[0].hypothesis.class_id == obj["category"]
        visible = [i for i, v in enumerate(frame["visib_fract"]) if v >= 0.15]
        assert len(det_msg.detections) == len(visible)
        for det, i in zip(det_msg.detections, visible, strict=True):
            x, y, w, h = frame["bbox_visib"][i]
            assert det.bbox.size_x == w and det.bbox.size_y == h
            assert det.bbox.center.position.x == pytest.approx(x + (w - 1) / 2)
            assert det.results[0].hypothesis.class_id == gt["objects"][i]["category"]


def test_same_seed_same_bag_content(tmp_path):
    a = write_recording(_config(noise="full"), tmp_path / "a", progress=False)
    b = write_recording(_config(noise="full", compress="file"), tmp_path / "b", progress=False)
    ra = _messages(Path(a.path), DEFAULT_TOPICS["depth"])
    rb = _messages(Path(b.path), DEFAULT_TOPICS["depth"])
    assert all(np.array_equal(x.data, y.data) for (_, x), (_, y) in zip(ra, rb, strict=True))


def test_objects_seed_films_the_same_objects_again(tmp_path):
    """--objects-seed: the objects of another recording (sizes, ids) in a new arrangement."""
    first = write_recording(_config(), tmp_path / "first", progress=False)
    again = write_recording(_config(seed=9, objects_seed=3), tmp_path / "again", progress=False)
    other = write_recording(_config(seed=9), tmp_path / "other", progress=False)
    assert [o["size"] for o in again.objects] == [o["size"] for o in first.objects]
    assert [o["size"] for o in other.objects] != [o["size"] for o in first.objects]
    moved = [not np.allclose(a["T_world_obj"], b["T_world_obj"])
             for a, b in zip(first.objects, again.objects, strict=True)]  # fmt: skip
    assert all(moved)


def test_cli_writes_bag_and_rejects_bad_input(tmp_path, capsys):
    out = tmp_path / "cli_bag"
    args = [
        "--out",
        str(out),
        "--category",
        "bottle",
        "--objects",
        "1",
        "--duration",
        "0.4",
        "--rate",
        "5",
        "--width",
        "64",
        "--height",
        "48",
        "--quiet",
    ]
    assert bag_main(args) == 0
    assert "wrote 2 frames" in capsys.readouterr().out
    assert bag_main(args) == 2  # exists already: refuse to overwrite
    assert "exists" in capsys.readouterr().err
    assert bag_main(["--out", str(tmp_path / "x"), "--category", "teapot"]) == 2
    assert "unknown category 'teapot'" in capsys.readouterr().err


def test_look_changes_rgb_only(tmp_path):
    from offline_training.synthetic.look import Look

    plain = write_recording(_config(noise="none"), tmp_path / "plain", progress=False)
    look = Look(gain=(0.4, 0.5), gamma=1.2, jpeg_quality=40)
    dark = write_recording(_config(noise="none", look=look), tmp_path / "dark", progress=False)
    for key in ("depth", "ground_truth", "detections"):
        a = _messages(Path(plain.path), DEFAULT_TOPICS[key])
        b = _messages(Path(dark.path), DEFAULT_TOPICS[key])
        assert [t for t, _ in a] == [t for t, _ in b]
    depth_a = _messages(Path(plain.path), DEFAULT_TOPICS["depth"])
    depth_b = _messages(Path(dark.path), DEFAULT_TOPICS["depth"])
    assert all(np.array_equal(x.data, y.data) for (_, x), (_, y) in zip(depth_a, depth_b,
                                                                          strict=True))
    rgb_a = [m.data.astype(float) for _, m in _messages(Path(plain.path), DEFAULT_TOPICS["rgb"])]
    rgb_b = [m.data.astype(float) for _, m in _messages(Path(dark.path), DEFAULT_TOPICS["rgb"])]
    for a, b in zip(rgb_a, rgb_b, strict=True):
        assert b.mean() < 0.6 * a.mean()  # darker: gain 0.4-0.5 and gamma 1.2
    gt = json.loads((Path(dark.path) / "ground_truth.json").read_text())
    assert gt["config"]["look"]["jpeg_quality"] == 40


def test_cli_look_options(tmp_path, capsys):
    args = ["--out", str(tmp_path / "b"), "--category", "mug", "--objects", "1", "--duration",
            "0.2", "--rate", "5", "--width", "48", "--height", "36", "--quiet",
            "--light-gain", "0.5..0.6", "--jpeg-quality", "50"]  # fmt: skip
    assert bag_main(args) == 0
    gt = json.loads((tmp_path / "b" / "ground_truth.json").read_text())
    assert gt["config"]["look"]["gain"] == [0.5, 0.6]
    bad = ["--out", str(tmp_path / "c"), "--category", "mug", "--jpeg-quality", "0", "--quiet"]
    assert bag_main(bad) == 2
    assert "jpeg_quality" in capsys.readouterr().err
