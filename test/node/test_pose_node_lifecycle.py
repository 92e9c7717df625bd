"""pose_estimation_node in-process, around the frame path: configure failures that say why,
parameter validation, read-only parameters, worker errors, the synchroniser (built-in or
message_filters, through a time jump) and input QoS that follows a best-effort publisher.

The node is built in the test process with recorders for publishers (the ``node`` fixture in
conftest.py); frames come from the bundled demo bag. Outputs and bad inputs are in
``test_pose_node.py``.
"""

from __future__ import annotations

import copy
import re
import time

import pytest

from test.node.pose_node_kit import MODELS, make_node

pytestmark = pytest.mark.ros


class LogRecorder:
    """Stands in for the node's logger: keeps ``(level, text)`` of every call."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def __getattr__(self, level: str):
        return lambda text, **_: self.lines.append((level, str(text)))


@pytest.mark.parametrize(
    ("problem", "reason"),
    [
        ("missing", r"models\.mug\.checkpoint: no file at '.*model\.pt'"),
        ("corrupt", r"model\.pt is not a readable torch file"),
        ("wrong_category", r"models\.mug\.checkpoint: .*bottle\.pt' holds a 'bottle' model, "
                           r"not 'mug'"),
    ],
)  # fmt: skip
def test_configure_fails_and_says_why(rclpy_ctx, tmp_path, problem, reason):
    from rclpy.lifecycle import TransitionCallbackReturn

    path = tmp_path / "model.pt"
    if problem == "corrupt":
        path.write_bytes(b"\x00garbage")
    elif problem == "wrong_category":
        path = MODELS["bottle"]
    node = make_node(rclpy_ctx, categories=["mug"], **{"models.mug.checkpoint": str(path)})
    log = LogRecorder()
    node.get_logger = lambda: log
    assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
    assert node.pipeline is None
    errors = [text for level, text in log.lines if level == "error"]
    assert len(errors) == 1 and errors[0].startswith("configure failed: "), log.lines
    assert re.search(reason, errors[0]), errors[0]
    node.destroy_node()


@pytest.mark.parametrize("bad", [{"slop": -1.0}, {"queue_size": 0}, {"slop": "fast"}])
def test_bad_parameter_values_fail_start_up_with_the_parameter_named(rclpy_ctx, bad):
    from ros_pose_estimation.core.errors import ConfigError

    name = next(iter(bad))
    with pytest.raises(ConfigError, match=name):
        make_node(rclpy_ctx, **bad)


def test_read_only_parameters_are_refused_while_configured(node):
    from rclpy.parameter import Parameter

    (result,) = node.set_parameters([Parameter("device", value="cuda")])
    assert not result.successful and "fixed while the node is configured" in result.reason
    (result,) = node.set_parameters([Parameter("slop", value=-1.0)])
    assert not result.successful
    (result,) = node.set_parameters([Parameter("slop", value=0.02)])
    assert result.successful


def test_worker_errors_do_not_kill_the_node(node, demo_frames):
    node.trigger_activate()
    try:
        node._worker.submit("not a frame")  # an unexpected error inside the worker
        node._worker.wait_idle(10.0)
        assert node._stats.dropped.get("error") == 1
        image, info, dets, _ = demo_frames[0]
        node._on_camera_info(info)
        node._on_frame(image, dets)
        node._worker.wait_idle(60.0)
        assert node.processed == 1 and node._pubs["detections"].messages
    finally:
        node.trigger_deactivate()



def _stamped(msg, sec):
    out = copy.deepcopy(msg)
    out.header.stamp.sec = sec
    return out


def test_frames_through_the_synchroniser_survive_a_time_jump(node, demo_frames):
    """Image + detections go through the built-in synchroniser and the worker; a bag loop
    (stamps 100 s back) resets the synchroniser instead of blocking every older stamp."""
    assert node.trigger_activate().name == "SUCCESS"
    assert node.sync_backend == "builtin"  # no message_filters in this environment
    try:
        image, info, dets, _ = demo_frames[0]
        node._on_camera_info(info)
        sec = image.header.stamp.sec
        for shift in (0, 1, -100):  # the last one: time jumped back
            node._add(1, _stamped(dets, sec + shift))
            node._add(0, _stamped(image, sec + shift))
            assert node._worker.wait_idle(60.0)
        assert node.processed == 3
        assert [m.header.stamp.sec - sec for m in node._pubs["detections"].messages] == [0, 1,
                                                                                         -100]
    finally:
        node.trigger_deactivate()


def test_message_filters_is_used_when_installed(rclpy_ctx, monkeypatch, demo_frames):
    import sys
    import types

    from rclpy.lifecycle import TransitionCallbackReturn

    made = {}

    class SimpleFilter:
        def __init__(self):
            self.callbacks = []

        def registerCallback(self, cb):
            self.callbacks.append(cb)

        def signalMessage(self, msg):
            made.setdefault("signalled", []).append(msg)

    class ApproximateTimeSynchronizer(SimpleFilter):
        def __init__(self, inputs, queue_size, slop):
            super().__init__()
            made["approx"] = (len(inputs), queue_size, slop)

    fake = types.ModuleType("message_filters")
    fake.SimpleFilter = SimpleFilter
    fake.ApproximateTimeSynchronizer = ApproximateTimeSynchronizer
    fake.TimeSynchronizer = None
    monkeypatch.setitem(sys.modules, "message_filters", fake)
    node = make_node(rclpy_ctx, queue_size=7, slop=0.02)
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
    assert node.sync_backend == "message_filters" and made["approx"] == (2, 7, 0.02)
    node._add(0, demo_frames[0][0])
    assert made["signalled"] == [demo_frames[0][0]]
    node.trigger_deactivate()
    node.destroy_node()
    monkeypatch.setitem(sys.modules, "message_filters", None)  # not installed
    node = make_node(rclpy_ctx, sync_backend="message_filters")
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    assert node.trigger_activate() == TransitionCallbackReturn.FAILURE
    node.destroy_node()



def test_auto_input_qos_follows_a_best_effort_publisher(node, demo_frames):
    """input_qos auto: reliable while no publisher offers only best effort; a best-effort camera
    makes the image input best effort (and its images arrive), reliable again when it leaves."""
    import rclpy
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    assert node.trigger_activate().name == "SUCCESS"
    camera = rclpy.create_node("best_effort_camera")
    try:
        topic = node.resolve_topic_name("image")
        assert node._inputs.reliabilities[topic] == "reliable"

        def until(wanted: str) -> None:
            deadline = time.monotonic() + 10.0
            while node._inputs.reliabilities[topic] != wanted:
                assert time.monotonic() < deadline, node._inputs.reliabilities
                node._inputs.check()
                time.sleep(0.05)

        pub = camera.create_publisher(Image, topic, qos_profile_sensor_data)
        until("best_effort")
        deadline = time.monotonic() + 10.0
        while node._stats.inputs.total == 0:  # a best-effort publisher now reaches the node
            assert time.monotonic() < deadline, "no image arrived"
            pub.publish(demo_frames[0][0])
            rclpy.spin_once(node, timeout_sec=0.1)
        camera.destroy_publisher(pub)
        until("reliable")
    finally:
        camera.destroy_node()
        node.trigger_deactivate()
