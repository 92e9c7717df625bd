"""vision_msgs / tf2_msgs with ROS 2: the generated packages carry upstream's type hashes,
rclpy and rosbags serialise the same bytes, and messages cross real DDS between processes
(with upstream's type hash announced in discovery).

Definitions and rosbags CDR without ROS are tested in test_interfaces.py; the shared values
and upstream's hashes are in interface_kit.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from test.ros.interface_kit import (
    COVARIANCE,
    DET_CENTER,
    DET_CLASS,
    DET_FRAME,
    DET_ID,
    DET_POSE_Z,
    DET_SCORE,
    DET_SIZE,
    STAMP,
    TF_CHILD,
    TF_PARENT,
    TF_XYZ,
    UPSTREAM_RIHS01,
    _assert_same,
    _rosbags_detection2d_array,
)


def _ros_unavailable(what: str, exc: BaseException) -> None:
    reason = f"{what} not importable: {type(exc).__name__}: {exc}"
    if os.environ.get("ROS_POSE_ESTIMATION_REQUIRE_ROS") == "1":
        pytest.fail(f"{reason} (ROS_POSE_ESTIMATION_REQUIRE_ROS=1)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def ros():
    """The ROS 2 Python modules the tests use, or a skip naming the import error."""
    try:
        import rclpy
        import rclpy.serialization
    except Exception as exc:  # ImportError, or OSError from a missing shared library
        _ros_unavailable("rclpy", exc)
    try:
        import tf2_msgs.msg
        import vision_msgs.msg
    except Exception as exc:
        _ros_unavailable("generated tf2_msgs / vision_msgs", exc)
    return rclpy, tf2_msgs.msg, vision_msgs.msg


def _share_dir(package: str, module) -> Path:
    try:
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory(package))
    except Exception:  # not on AMENT_PREFIX_PATH (env.sh not sourced): derive from module
        # <prefix>/lib/pythonX.Y/site-packages/<package>/msg/__init__.py
        prefix = Path(module.__file__).resolve().parents[5]
        return prefix / "share" / package


@pytest.mark.ros
def test_generated_type_hashes_match_upstream(ros):
    _, tf2_msg, vision_msg = ros
    for typename, expected in UPSTREAM_RIHS01.items():
        package, _, name = typename.split("/")
        module = tf2_msg if package == "tf2_msgs" else vision_msg
        description = _share_dir(package, module) / "msg" / f"{name}.json"
        hashes = json.loads(description.read_text())["type_hashes"]
        assert hashes[0]["type_name"] == typename
        assert hashes[0]["hash_string"] == expected, typename


@pytest.mark.ros
def test_rclpy_and_rosbags_are_wire_compatible(ros, store):
    _, _, vision_msg = ros
    from rclpy.serialization import deserialize_message, serialize_message

    typename = "vision_msgs/msg/Detection2DArray"
    expected = _rosbags_detection2d_array(store)
    from_rosbags = deserialize_message(
        bytes(store.serialize_cdr(expected, typename)), vision_msg.Detection2DArray
    )
    _check_detections(from_rosbags)
    from_rclpy = store.deserialize_cdr(serialize_message(from_rosbags), typename)
    _assert_same(expected, from_rclpy)


PUBLISHER = textwrap.dedent(
    """
    import json, sys, time
    import rclpy
    from geometry_msgs.msg import TransformStamped
    from tf2_msgs.msg import TFMessage
    from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose

    v = json.loads(sys.argv[1])
    rclpy.init()
    node = rclpy.create_node("rpe_test_publisher")
    tf_pub = node.create_publisher(TFMessage, "rpe_test/tf", 10)
    det_pub = node.create_publisher(Detection2DArray, "rpe_test/detections", 10)

    t = TransformStamped()
    t.header.stamp.sec, t.header.stamp.nanosec = v["STAMP"]
    t.header.frame_id, t.child_frame_id = v["TF_PARENT"], v["TF_CHILD"]
    t.transform.translation.x, t.transform.translation.y, t.transform.translation.z = v["TF_XYZ"]
    t.transform.rotation.w = 1.0
    tf_msg = TFMessage(transforms=[t])

    h = ObjectHypothesisWithPose()
    h.hypothesis.class_id, h.hypothesis.score = v["DET_CLASS"], v["DET_SCORE"]
    h.pose.pose.position.z = v["DET_POSE_Z"]
    h.pose.pose.orientation.w = 1.0
    h.pose.covariance = v["COVARIANCE"]
    d = Detection2D(results=[h], id=v["DET_ID"])
    d.header.stamp.sec, d.header.stamp.nanosec = v["STAMP"]
    d.header.frame_id = v["DET_FRAME"]
    d.bbox.center.position.x, d.bbox.center.position.y, d.bbox.center.theta = v["DET_CENTER"]
    d.bbox.size_x, d.bbox.size_y = v["DET_SIZE"]
    det_msg = Detection2DArray(header=d.header, detections=[d])

    deadline = time.monotonic() + 60.0  # the test stops us much earlier
    while rclpy.ok() and time.monotonic() < deadline:
        tf_pub.publish(tf_msg)
        det_pub.publish(det_msg)
        rclpy.spin_once(node, timeout_sec=0.1)
    """
)


def _check_detections(msg) -> None:
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == STAMP
    assert msg.header.frame_id == DET_FRAME
    assert len(msg.detections) == 1
    d = msg.detections[0]
    assert d.id == DET_ID and d.header.frame_id == DET_FRAME
    box = d.bbox
    center = (box.center.position.x, box.center.position.y, box.center.theta)
    assert center == pytest.approx(DET_CENTER)
    assert (box.size_x, box.size_y) == pytest.approx(DET_SIZE)
    (h,) = d.results
    assert (h.hypothesis.class_id, h.hypothesis.score) == (DET_CLASS, pytest.approx(DET_SCORE))
    assert h.pose.pose.position.z == pytest.approx(DET_POSE_Z)
    assert h.pose.pose.orientation.w == 1.0
    assert np.allclose(h.pose.covariance, COVARIANCE)


@pytest.mark.ros
def test_dds_between_processes(ros, ros_domain, tmp_path):
    """A second process publishes TFMessage and Detection2DArray; we receive both over DDS."""
    rclpy, tf2_msg, vision_msg = ros
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor

    values = {
        "STAMP": STAMP, "TF_PARENT": TF_PARENT, "TF_CHILD": TF_CHILD, "TF_XYZ": TF_XYZ,
        "DET_FRAME": DET_FRAME, "DET_CLASS": DET_CLASS, "DET_SCORE": DET_SCORE,
        "DET_ID": DET_ID, "DET_CENTER": DET_CENTER, "DET_SIZE": DET_SIZE,
        "DET_POSE_Z": DET_POSE_Z, "COVARIANCE": COVARIANCE,
    }  # fmt: skip
    script = tmp_path / "publisher.py"
    script.write_text(PUBLISHER)
    log = tmp_path / "publisher.log"
    with log.open("w") as log_file:
        publisher = subprocess.Popen(
            [sys.executable, str(script), json.dumps(values)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=dict(os.environ),  # carries the fixture's ROS_DOMAIN_ID
        )
    context = Context()
    rclpy.init(context=context, domain_id=ros_domain)
    received = {}
    try:
        node = rclpy.create_node("rpe_test_subscriber", context=context)
        node.create_subscription(
            tf2_msg.TFMessage, "rpe_test/tf", lambda m: received.setdefault("tf", m), 10
        )
        node.create_subscription(
            vision_msg.Detection2DArray,
            "rpe_test/detections",
            lambda m: received.setdefault("det", m),
            10,
        )
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        deadline = time.monotonic() + 20.0
        while len(received) < 2 and time.monotonic() < deadline and publisher.poll() is None:
            executor.spin_once(timeout_sec=0.1)
        endpoints = node.get_publishers_info_by_topic("/rpe_test/detections")
        executor.shutdown()
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
        publisher.terminate()
        try:
            publisher.wait(timeout=10)
        except subprocess.TimeoutExpired:
            publisher.kill()
            publisher.wait()

    assert set(received) == {"tf", "det"}, (
        f"received only {sorted(received)} within 20 s on ROS_DOMAIN_ID={ros_domain}; "
        f"publisher exit code {publisher.returncode}, output:\n{log.read_text()[-3000:]}"
    )
    (transform,) = received["tf"].transforms
    assert transform.header.frame_id == TF_PARENT and transform.child_frame_id == TF_CHILD
    assert (transform.header.stamp.sec, transform.header.stamp.nanosec) == STAMP
    translation = transform.transform.translation
    assert (translation.x, translation.y, translation.z) == pytest.approx(TF_XYZ)
    _check_detections(received["det"])

    # The type hash the other process announced during discovery is upstream's.
    assert [str(info.topic_type_hash) for info in endpoints] == [
        UPSTREAM_RIHS01["vision_msgs/msg/Detection2DArray"]
    ]
