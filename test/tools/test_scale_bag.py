"""scale-bag: the demo bag at 640x480 with stamps shifted: sizes, intrinsics, boxes, stamps;
sizes it cannot make are refused before anything is written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "data" / "demo" / "demo_bag"
HOUR = 3600 * 10**9


@pytest.mark.ros
def test_demo_bag_at_640x480_an_hour_later(tmp_path):
    pytest.importorskip("rosbags", reason="rosbags not installed")
    try:
        from sensor_msgs.msg import CameraInfo, Image
        from tf2_msgs.msg import TFMessage
        from vision_msgs.msg import Detection2DArray
    except ImportError as exc:
        pytest.skip(f"ROS messages not importable: {exc}")
    from rclpy.serialization import deserialize_message

    from ros_pose_estimation.tools.bag_reader import BagReader, messages_by_stamp
    from ros_pose_estimation.tools.scale_bag import main

    out = tmp_path / "demo_640"
    assert main([str(DEMO), str(out), "--size", "640x480", "--shift-stamps", "3600"]) == 0
    assert main([str(DEMO), str(out), "--size", "640x480"]) == 2  # the output exists
    types = {"/camera/color/image_raw": ("image", Image),
             "/camera/aligned_depth/image_raw": ("depth", Image),
             "/camera/color/camera_info": ("info", CameraInfo),
             "/detections": ("dets", Detection2DArray)}  # fmt: skip
    before, after = messages_by_stamp(DEMO, types), messages_by_stamp(out, types)
    assert sorted(after) == [s + HOUR for s in sorted(before)]
    stamp = min(before)
    old, new = before[stamp], after[stamp + HOUR]
    assert (new["image"].width, new["image"].height, new["image"].encoding) == (640, 480, "rgb8")
    assert (new["depth"].width, new["depth"].encoding) == (640, old["depth"].encoding)
    k_old, k_new = np.reshape(old["info"].k, (3, 3)), np.reshape(new["info"].k, (3, 3))
    assert k_new[0, 0] == pytest.approx(2 * k_old[0, 0])  # 320x240 -> 640x480: scale 2
    assert k_new[0, 2] == pytest.approx(2 * (k_old[0, 2] + 0.5) - 0.5)
    box_old, box_new = old["dets"].detections[0].bbox, new["dets"].detections[0].bbox
    assert box_new.size_x == pytest.approx(2 * box_old.size_x)
    assert box_new.center.position.y == pytest.approx(2 * (box_old.center.position.y + 0.5) - 0.5)
    with BagReader(DEMO) as a, BagReader(out) as b:  # every topic copied, times shifted
        assert {t: v.count for t, v in a.topics.items()} == {
            t: v.count for t, v in b.topics.items()}
        assert b.start_ns == a.start_ns + HOUR
        (_, _, raw_a), (_, _, raw_b) = (next(s.messages(["/tf"])) for s in (a, b))
    tf_a, tf_b = (deserialize_message(r, TFMessage) for r in (raw_a, raw_b))
    stamps = [(t.header.stamp.sec * 10**9 + t.header.stamp.nanosec) for t in
              (tf_a.transforms[0], tf_b.transforms[0])]  # fmt: skip
    assert stamps[1] == stamps[0] + HOUR
    truth = json.loads((out / "ground_truth.json").read_text())
    assert min(int(f["stamp_ns"]) for f in truth["frames"]) == stamp + HOUR


@pytest.mark.parametrize("size", ["100000x100000", "99999999999999999999x1", "8193x480",
                                  "640x0", "0x0", "-640x480", "640x", "\u00b2x1", "640"])
def test_a_size_it_cannot_make_is_refused_before_anything_is_written(tmp_path, capsys, size):
    from ros_pose_estimation.tools.scale_bag import main

    out = tmp_path / "scaled"
    with pytest.raises(SystemExit) as exit_:
        main([str(DEMO), str(out), f"--size={size}"])
    assert exit_.value.code == 2 and not out.exists()
    err = capsys.readouterr().err
    assert "argument --size: " in err and repr(size) in err and "Traceback" not in err
    if size in ("100000x100000", "99999999999999999999x1", "8193x480"):
        assert "each side must lie in 1..8192 px" in err  # not an allocation failure later
    else:
        assert "expected WIDTHxHEIGHT" in err or "each side must lie in 1..8192 px" in err
