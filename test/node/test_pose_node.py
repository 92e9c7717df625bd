"""pose_estimation_node in-process: configure failures, every kind of bad input, outputs.

The node is built in the test process; frames go straight to its worker function and its
publishers are replaced by recorders, so each case checks exactly what would be published (the
DDS round trip is covered by ``test/ros/test_pose_node_dds.py``). Frames come from the bundled
demo bag, estimated with the bundled mug / bottle / camera models.
"""

from __future__ import annotations

import copy
import math
import re
import time

import numpy as np
import pytest

pytestmark = pytest.mark.ros

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


@pytest.fixture
def node(rclpy_ctx):
    from rclpy.lifecycle import TransitionCallbackReturn

    node = make_node(rclpy_ctx)
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    node._pubs = {name: Recorder() for name in node._pubs}
    yield node
    node.destroy_node()


def frame(image, detections, depth=None):
    from ros_pose_estimation.node.pose_node import Frame

    return Frame(image, detections, depth, time.monotonic())


def test_frame_in_poses_tf_markers_debug_out(node, demo_frames):
    image, info, dets, _ = demo_frames[0]
    node._on_camera_info(info)
    node._process(frame(image, dets))
    (out,) = node._pubs["detections"].messages
    assert out.header == image.header  # stamp and optical frame of the image
    assert out.header.frame_id == "camera_color_optical_frame"
    assert len(out.detections) == len(dets.detections) == 3
    classes = sorted(d.results[0].hypothesis.class_id for d in out.detections)
    assert classes == ["bottle", "camera", "mug"]
    for det in out.detections:
        q = det.results[0].pose.pose.orientation
        assert math.isclose(q.x**2 + q.y**2 + q.z**2 + q.w**2, 1.0, rel_tol=1e-6)
        assert 0.0 <= det.results[0].hypothesis.score <= 1.0
        assert det.bbox.size.x > 0 and det.id
    (tf,) = node._pubs["tf"].messages
    assert {t.child_frame_id for t in tf.transforms} == {
        f"{d.results[0].hypothesis.class_id}_{d.id}" for d in out.detections}
    assert all(t.header.stamp == image.header.stamp for t in tf.transforms)
    assert all(t.header.frame_id == image.header.frame_id for t in tf.transforms)
    (markers,) = node._pubs["markers"].messages
    assert markers.markers[0].action == markers.markers[0].DELETEALL
    (debug,) = node._pubs["debug"].messages
    assert (debug.width, debug.height, debug.encoding) == (image.width, image.height, "rgb8")
    assert node.processed == 0  # direct call, not through the worker


def test_label_info_lists_the_categories(node):
    info = node._label_info(node._specs)  # published once at configure, transient local
    assert sorted(c.class_name for c in info.class_map) == ["bottle", "camera", "mug"]
    assert len({c.class_id for c in info.class_map}) == 3 and info.threshold == 0.0


def test_track_ids_are_stable_across_frames(node, demo_frames):
    ids = []
    for image, info, dets, _ in demo_frames[:3]:
        node._on_camera_info(info)
        node._process(frame(image, dets))
        out = node._pubs["detections"].messages[-1]
        ids.append({d.results[0].hypothesis.class_id: d.id for d in out.detections})
    assert ids[0] == ids[1] == ids[2]


def test_no_subscribers_means_no_markers_or_debug_image(node, demo_frames):
    image, info, dets, _ = demo_frames[0]
    node._pubs["markers"].subscribers = node._pubs["debug"].subscribers = 0
    node._on_camera_info(info)
    node._process(frame(image, dets))
    assert not node._pubs["markers"].messages and not node._pubs["debug"].messages
    assert node._pubs["detections"].messages


def test_missing_camera_info_waits_then_works(node, demo_frames):
    image, info, dets, _ = demo_frames[0]
    node._process(frame(image, dets))
    assert not node._pubs["detections"].messages
    assert node._stats.dropped.get("no_camera_info") == 1
    node._on_camera_info(info)
    node._process(frame(demo_frames[1][0], demo_frames[1][2]))
    assert len(node._pubs["detections"].messages) == 1


def test_unsupported_encoding_is_dropped_and_next_frame_works(node, demo_frames):
    image, info, dets, _ = demo_frames[0]
    node._on_camera_info(info)
    bad = copy.deepcopy(image)
    bad.encoding = "yuv422_yuy2_weird"
    node._process(frame(bad, dets))
    depth_as_colour = copy.deepcopy(demo_frames[0][3])
    node._process(frame(depth_as_colour, dets))
    assert node._stats.dropped.get("bad_image") == 2
    node._process(frame(demo_frames[1][0], demo_frames[1][2]))
    assert len(node._pubs["detections"].messages) == 1


def test_bad_camera_info_is_its_own_class_not_an_error(node, demo_frames):
    """Image size not the camera_info's, an all-zero K, a NaN in K: dropped as
    bad_camera_info (not as an unexpected error), and frames flow again with a good one."""
    image, info, dets, _ = demo_frames[0]
    small = copy.deepcopy(info)
    small.width, small.height = info.width // 2, info.height // 2
    zero = copy.deepcopy(info)
    zero.k = [0.0] * 9
    zero.p = [0.0] * 12
    nan = copy.deepcopy(info)
    nan.k[0] = float("nan")
    for bad in (small, zero, nan):
        node._on_camera_info(bad)
        node._process(frame(image, dets))
    dropped = node._stats.dropped
    assert dropped.get("bad_camera_info") == 3 and dropped.get("error") == 0
    assert dropped.get("size_mismatch") == 0 and not node._pubs["detections"].messages
    node._on_camera_info(info)
    node._process(frame(image, dets))
    assert len(node._pubs["detections"].messages) == 1


def test_empty_detection_array_publishes_empty_outputs(node, demo_frames):
    image, info, dets, _ = demo_frames[0]
    node._on_camera_info(info)
    empty = copy.deepcopy(dets)
    empty.detections = []
    node._process(frame(image, empty))
    (out,) = node._pubs["detections"].messages
    assert out.detections == [] and out.header == image.header
    (markers,) = node._pubs["markers"].messages
    assert [m.action for m in markers.markers] == [markers.markers[0].DELETEALL]


def test_boxes_outside_zero_area_and_unknown_classes_are_skipped_and_counted(node, demo_frames):
    image, info, dets, _ = demo_frames[0]
    node._on_camera_info(info)
    msg = copy.deepcopy(dets)
    outside, zero, unknown, partly = (copy.deepcopy(msg.detections[0]) for _ in range(4))
    outside.bbox.center.position.x = -500.0
    zero.bbox.size_x = 0.0
    unknown.results[0].hypothesis.class_id = "teapot"
    partly.bbox.center.position.x = 2.0  # half outside the left border: clipped, estimated
    msg.detections = [outside, zero, unknown, partly]
    node._process(frame(image, msg))
    (out,) = node._pubs["detections"].messages
    assert len(out.detections) == 1
    skipped = node._stats.skipped.as_dict()
    assert skipped["outside_image"] == 1 and skipped["empty_box"] == 1
    assert skipped["unknown_class"] == 1


def test_out_of_order_and_time_jump(node, demo_frames):
    node._on_camera_info(demo_frames[0][1])
    node._process(frame(demo_frames[5][0], demo_frames[5][2]))
    before = {int(d.id) for d in node._pubs["detections"].messages[-1].detections}
    assert len(before) == 3 and {t.track_id for t in node.pipeline.tracker.tracks} == before
    node._process(frame(demo_frames[4][0], demo_frames[4][2]))  # 0.1 s older: dropped
    assert node._stats.dropped.get("out_of_order") == 1
    assert len(node._pubs["detections"].messages) == 1
    old = copy.deepcopy(demo_frames[0][0])
    old.header.stamp.sec -= 100  # bag restarted: tracks reset, frame processed
    old_dets = copy.deepcopy(demo_frames[0][2])
    old_dets.header.stamp = old.header.stamp
    node._process(frame(old, old_dets))
    assert len(node._pubs["detections"].messages) == 2
    # the old tracks are gone: every object starts a new track (ids are never reused); without
    # the reset the filter would have returned the older frame's poses untracked (id "")
    after = {int(d.id) for d in node._pubs["detections"].messages[-1].detections}
    assert len(after) == 3 and min(after) > max(before)
    assert {t.track_id for t in node.pipeline.tracker.tracks} == after


def test_rgbd_mode_with_bad_depth(rclpy_ctx, demo_frames):
    from rclpy.lifecycle import TransitionCallbackReturn

    node = make_node(rclpy_ctx, mode="rgbd")
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    node._pubs = {name: Recorder() for name in node._pubs}
    image, info, dets, depth = demo_frames[0]
    node._on_camera_info(info)
    wrong = copy.deepcopy(depth)
    wrong.encoding = "rgb8"
    node._process(frame(image, dets, wrong))
    cropped = copy.deepcopy(depth)
    cropped.width, cropped.step = depth.width // 2, depth.step // 2
    cropped.data = np.frombuffer(bytes(depth.data), np.uint8).reshape(depth.height, -1)[
        :, : cropped.step].tobytes()
    node._process(frame(image, dets, cropped))
    dropped = node._stats.dropped
    assert dropped.get("bad_depth") == 1 and dropped.get("size_mismatch") == 1
    zero = copy.deepcopy(depth)
    zero.data = bytes(len(depth.data))  # all-zero depth: nemo models do not need it
    node._process(frame(image, dets, zero))
    assert len(node._pubs["detections"].messages) == 1
    node.destroy_node()


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


def test_mask_input_instead_of_detections(rclpy_ctx, demo_frames):
    from rclpy.lifecycle import TransitionCallbackReturn

    from ros_pose_estimation.conversions import numpy_to_image

    node = make_node(rclpy_ctx, mask_input=True, mask_category="mug")
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    node._pubs = {name: Recorder() for name in node._pubs}
    image, info, dets, _ = demo_frames[0]
    node._on_camera_info(info)
    mug = next(d for d in dets.detections if d.results[0].hypothesis.class_id == "mug")
    cx, cy, w, h = (mug.bbox.center.position.x, mug.bbox.center.position.y, mug.bbox.size_x,
                    mug.bbox.size_y)  # fmt: skip
    labels = np.zeros((image.height, image.width), np.uint8)
    labels[int(cy - h / 2 + 0.5): int(cy + h / 2 + 0.5), int(cx - w / 2 + 0.5):
           int(cx + w / 2 + 0.5)] = 3  # fmt: skip
    labels[0:2, 0:2] = 7  # 4 pixels: below min_mask_pixels
    mask = numpy_to_image(labels, "mono8", image.header)
    node._process(frame(image, mask))
    (out,) = node._pubs["detections"].messages
    assert [d.results[0].hypothesis.class_id for d in out.detections] == ["mug"]
    assert node._stats.skipped.get("small_mask") == 1
    wrong = copy.deepcopy(mask)
    wrong.encoding = "rgb8"
    node._process(frame(demo_frames[1][0], wrong))
    assert node._stats.dropped.get("bad_mask") == 1
    node.destroy_node()
    bad = make_node(rclpy_ctx, mask_input=True, mask_category="can")
    assert bad.trigger_configure() == TransitionCallbackReturn.FAILURE
    bad.destroy_node()


def test_compressed_image_input(rclpy_ctx, demo_frames):
    import cv2
    from rclpy.lifecycle import TransitionCallbackReturn
    from sensor_msgs.msg import CompressedImage

    from ros_pose_estimation.conversions import rgb_from_image

    node = make_node(rclpy_ctx, use_compressed=True)
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    node._pubs = {name: Recorder() for name in node._pubs}
    image, info, dets, _ = demo_frames[0]
    node._on_camera_info(info)
    ok, png = cv2.imencode(".png", cv2.cvtColor(rgb_from_image(image), cv2.COLOR_RGB2BGR))
    assert ok
    msg = CompressedImage(header=image.header, format="png", data=png.tobytes())
    node._process(frame(msg, dets))
    (out,) = node._pubs["detections"].messages
    assert len(out.detections) == 3 and out.header == image.header
    broken = CompressedImage(header=demo_frames[1][0].header, format="png", data=b"not a png")
    node._process(frame(broken, demo_frames[1][2]))
    assert node._stats.dropped.get("bad_image") == 1
    node.destroy_node()


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


def test_rgbd_mode_with_a_cse_model(rclpy_ctx, demo_frames):
    """mode rgbd: the bottle through the bundled RGB-D (CSE) model, which needs the depth image,
    the mug and camera through their NeMo models, in one frame; the bottle's pose comes with
    its metric size; zero depth only costs the CSE detection (skipped as no_depth), not the
    frame; an RGB node refuses a CSE model."""
    from rclpy.lifecycle import TransitionCallbackReturn

    path = "models/cse/bottle.pt"
    node = make_node(rclpy_ctx, mode="rgbd", **{"models.bottle.checkpoint": path,
                                                "models.bottle.method": "cse"})  # fmt: skip
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    assert node.pipeline.needs_depth
    node._pubs = {name: Recorder() for name in node._pubs}
    image, info, dets, depth = demo_frames[0]
    node._on_camera_info(info)
    node._process(frame(image, dets, depth))
    (out,) = node._pubs["detections"].messages
    by_class = {d.results[0].hypothesis.class_id: d for d in out.detections}
    assert sorted(by_class) == ["bottle", "camera", "mug"]
    size = by_class["bottle"].bbox.size
    assert 0.1 < max(size.x, size.y, size.z) < 0.4  # a bottle's height, metres
    assert sum(node._stats.skipped.as_dict().values()) == 0
    zero = copy.deepcopy(demo_frames[1][3])
    zero.data = bytes(len(zero.data))
    node._process(frame(demo_frames[1][0], demo_frames[1][2], zero))
    out = node._pubs["detections"].messages[-1]
    assert sorted(d.results[0].hypothesis.class_id for d in out.detections) == ["camera", "mug"]
    assert node._stats.skipped.get("no_depth") == 1
    node.destroy_node()
    rgb_only = make_node(rclpy_ctx, **{"models.bottle.checkpoint": path,
                                       "models.bottle.method": "cse"})  # fmt: skip
    assert rgb_only.trigger_configure() == TransitionCallbackReturn.FAILURE  # needs mode rgbd
    rgb_only.destroy_node()


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
