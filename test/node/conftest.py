"""Fixtures of the node tests: rclpy (or a skip/fail naming why not), demo-bag frames and a
configured in-process node with recorders for publishers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from test.node.pose_node_kit import Recorder, make_node

ROOT = Path(__file__).resolve().parents[2]
DEMO_BAG = ROOT / "data" / "demo" / "demo_bag"


def _unavailable(reason: str) -> None:
    if os.environ.get("ROS_POSE_ESTIMATION_REQUIRE_ROS") == "1":
        pytest.fail(f"{reason} (ROS_POSE_ESTIMATION_REQUIRE_ROS=1)")
    pytest.skip(reason)


@pytest.fixture
def rclpy_ctx(ros_domain):
    """An initialised rclpy (own DDS domain), shut down after the test."""
    try:
        import rclpy
        import vision_msgs.msg  # noqa: F401
    except ImportError as exc:
        _unavailable(f"rclpy / vision_msgs not importable: {exc}")
    rclpy.init()
    yield rclpy
    rclpy.try_shutdown()


@pytest.fixture(scope="session")
def demo_frames():
    """The demo bag's first 12 frames as rclpy messages:
    ``[(image, camera_info, detections, depth)]`` matched by stamp."""
    try:
        from sensor_msgs.msg import CameraInfo, Image
        from vision_msgs.msg import Detection2DArray

        from ros_pose_estimation.tools.bag_reader import messages_by_stamp
    except ImportError as exc:
        _unavailable(f"rclpy / rosbags not importable: {exc}")
    by_stamp = messages_by_stamp(DEMO_BAG, {
        "/camera/color/image_raw": ("image", Image),
        "/camera/color/camera_info": ("camera_info", CameraInfo),
        "/detections": ("detections", Detection2DArray),
        "/camera/aligned_depth/image_raw": ("depth", Image),
    })  # fmt: skip
    frames = [by_stamp[s] for s in sorted(by_stamp) if len(by_stamp[s]) == 4][:12]
    return [(f["image"], f["camera_info"], f["detections"], f["depth"]) for f in frames]


@pytest.fixture
def node(rclpy_ctx):
    """A configured PoseEstimationNode (bundled models, CPU) whose publishers are recorders."""
    from rclpy.lifecycle import TransitionCallbackReturn

    node = make_node(rclpy_ctx)
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    node._pubs = {name: Recorder() for name in node._pubs}
    yield node
    node.destroy_node()
