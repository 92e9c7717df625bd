"""Shared by the in-process node tests (``test_pose_node.py``, ``test_pose_node_lifecycle.py``
and the ``node`` fixture in conftest.py): the bundled models, a recording stand-in for a
publisher, a node built with test parameters, and a frame for the node's worker function.
"""

from __future__ import annotations

import time

MODELS = {c: f"models/nemo/{c}.pt" for c in ("mug", "bottle", "camera")}


class Recorder:
    """Stands in for a publisher; ``subscribers`` is what get_subscription_count reports."""

    def __init__(self, subscribers: int = 1) -> None:
        self.messages: list = []
        self.subscribers = subscribers

    def publish(self, msg) -> None:
        self.messages.append(msg)

    def get_subscription_count(self) -> int:
        return self.subscribers


def make_node(rclpy_ctx, **params):
    from rclpy.parameter import Parameter

    from ros_pose_estimation.node.pose_node import PoseEstimationNode

    values = {"categories": list(MODELS), "autostart": False, "device": "cpu",
              "num_threads": 1, "preset": "fast"}  # fmt: skip
    for category, path in MODELS.items():
        values[f"models.{category}.checkpoint"] = path
    values.update(params)
    overrides = [Parameter(k, value=v) for k, v in values.items()]
    return PoseEstimationNode(parameter_overrides=overrides)



def frame(image, detections, depth=None):
    from ros_pose_estimation.node.pose_node import Frame

    return Frame(image, detections, depth, time.monotonic())
