"""End to end over real DDS: pose_estimation_node runs as its own process (the console
script's entry point with ``--ros-args``), this test publishes demo-bag frames with known
poses and checks what comes back on ``~/detections``, ``/tf`` and ``~/markers``.

Stated tolerance (bundled CPU-trained models, see BENCHMARKS.md): per category the median
rotation error (symmetry-aware) is below 25 deg and the median centre error below 10 cm over the
published frames; stamps and frame ids equal the input image's exactly.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.ros

ROOT = Path(__file__).resolve().parents[2]
DEMO_BAG = ROOT / "data" / "demo" / "demo_bag"
FRAMES = 4  # frames published, one at a time (each waits for its result)


def _require_ros():
    try:
        import rclpy  # noqa: F401
        import vision_msgs.msg  # noqa: F401
    except ImportError as exc:
        if os.environ.get("ROS_POSE_ESTIMATION_REQUIRE_ROS") == "1":
            pytest.fail(f"rclpy not importable: {exc} (ROS_POSE_ESTIMATION_REQUIRE_ROS=1)")
        pytest.skip(f"rclpy not importable: {exc}")


def _frames(count: int):
    from sensor_msgs.msg import CameraInfo, Image
    from vision_msgs.msg import Detection2DArray

    from ros_pose_estimation.tools.bag_reader import messages_by_stamp

    by_stamp = messages_by_stamp(DEMO_BAG, {
        "/camera/color/image_raw": ("image", Image),
        "/camera/color/camera_info": ("info", CameraInfo),
        "/detections": ("dets", Detection2DArray),
    })  # fmt: skip
    stamps = sorted(s for s, f in by_stamp.items() if len(f) == 3)
    picks = stamps[:: len(stamps) // count][:count]  # spread over the sweep
    return [(s, by_stamp[s]) for s in picks]


def test_node_process_publishes_poses_tf_and_markers(ros_domain, tmp_path):
    _require_ros()
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CameraInfo, Image
    from tf2_msgs.msg import TFMessage
    from vision_msgs.msg import Detection2DArray, Detection3DArray
    from visualization_msgs.msg import MarkerArray

    from ros_pose_estimation.core.rotations import quat_to_matrix
    from ros_pose_estimation.tools.ground_truth import GroundTruth

    log = open(tmp_path / "node.log", "w")  # closed in finally
    proc = subprocess.Popen(
        [sys.executable, "-m", "ros_pose_estimation.node.pose_node", "--ros-args",
         "--params-file", str(ROOT / "config" / "pose.yaml"), "-p", "device:=cpu",
         "-p", "num_threads:=1", "-r", "__ns:=/rpe_test"],
        stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)  # fmt: skip
    rclpy.init()
    node = rclpy.create_node("pose_node_e2e")
    got: dict[str, list] = {"det": [], "tf": [], "markers": []}
    reliable = QoSProfile(depth=20, reliability=ReliabilityPolicy.RELIABLE)
    base = "/rpe_test/pose_estimation_node"
    node.create_subscription(Detection3DArray, f"{base}/detections", got["det"].append, reliable)
    node.create_subscription(MarkerArray, f"{base}/markers", got["markers"].append, reliable)
    node.create_subscription(TFMessage, "/tf", got["tf"].append, reliable)
    infos_received = [0]  # what the node's /diagnostics last counted

    def on_diagnostics(msg) -> None:
        for status in msg.status:
            if status.hardware_id == "pose_estimation_node":
                value = {kv.key: kv.value for kv in status.values}["camera_infos_received"]
                infos_received[0] = int(value)

    node.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, reliable)
    pubs = {
        "image": node.create_publisher(Image, "/rpe_test/image", reliable),
        "info": node.create_publisher(CameraInfo, "/rpe_test/camera_info", reliable),
        "dets": node.create_publisher(Detection2DArray, "/rpe_test/detections", reliable),
    }
    try:
        deadline = time.monotonic() + 120.0
        while pubs["image"].get_subscription_count() == 0 or (
            pubs["dets"].get_subscription_count() == 0
        ):
            assert proc.poll() is None, (tmp_path / "node.log").read_text()
            assert time.monotonic() < deadline, "node never subscribed"
            rclpy.spin_once(node, timeout_sec=0.1)
        for _ in range(10):  # let discovery of the outputs settle
            rclpy.spin_once(node, timeout_sec=0.1)
        frames = _frames(FRAMES)
        for i, (_, f) in enumerate(frames):
            pubs["info"].publish(f["info"])
            if i == 0:
                # the node drops an image that comes before any camera_info: wait until it has
                # counted this one (a reliable message can arrive seconds late when DDS has to
                # re-send it on a loaded machine)
                deadline = time.monotonic() + 30.0
                while infos_received[0] < 1:
                    assert time.monotonic() < deadline, (tmp_path / "node.log").read_text()
                    rclpy.spin_once(node, timeout_sec=0.1)
            pubs["dets"].publish(f["dets"])
            pubs["image"].publish(f["image"])
            deadline = time.monotonic() + 90.0
            while len(got["det"]) <= i:
                assert time.monotonic() < deadline, (tmp_path / "node.log").read_text()
                rclpy.spin_once(node, timeout_sec=0.1)
        for _ in range(20):
            rclpy.spin_once(node, timeout_sec=0.05)
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()
        node.destroy_node()
        rclpy.try_shutdown()

    truth = GroundTruth(DEMO_BAG)
    errors: dict[str, list[tuple[float, float]]] = {}
    for (stamp, f), out in zip(frames, got["det"], strict=True):
        assert out.header == f["image"].header
        assert len(out.detections) == 3
        for det in out.detections:
            hyp = det.results[0]
            q = hyp.pose.pose.orientation
            p = hyp.pose.pose.position
            R = quat_to_matrix(np.array([q.x, q.y, q.z, q.w]))
            match = truth.match(stamp, hyp.hypothesis.class_id, R, np.array([p.x, p.y, p.z]))
            errors.setdefault(match.category, []).append(
                (match.rotation_error_deg, match.translation_error_m))
    assert set(errors) == {"mug", "bottle", "camera"}
    for category, pairs in errors.items():
        rot, trans = np.median(np.array(pairs), axis=0)
        assert rot < 25.0, (category, pairs)
        assert trans < 0.10, (category, pairs)
    # TF: one transform per object per frame, parent = optical frame, stamp = image stamp
    transforms = [t for msg in got["tf"] for t in msg.transforms]
    assert len(transforms) == 3 * FRAMES
    stamps = {f["image"].header.stamp.sec * 10**9 + f["image"].header.stamp.nanosec
              for _, f in frames}  # fmt: skip
    for t in transforms:
        assert t.header.frame_id == "camera_color_optical_frame"
        assert t.header.stamp.sec * 10**9 + t.header.stamp.nanosec in stamps
        category, _, track = t.child_frame_id.rpartition("_")
        assert category in errors and track.isdigit()
    # markers: a DELETEALL first, then per object one mesh and one label, ns = class
    assert got["markers"], "no markers"
    for msg in got["markers"]:
        assert msg.markers[0].action == msg.markers[0].DELETEALL
        assert {m.ns for m in msg.markers[1:]} <= {"mug", "bottle", "camera"} | {
            f"{c}_label" for c in ("mug", "bottle", "camera")}
