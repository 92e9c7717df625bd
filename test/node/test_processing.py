"""FrameProcessor without a ROS node: a stand-in node (logger, clock, topic names), a stand-in
pipeline, real sensor_msgs / vision_msgs messages. Checks drops (counted, warned with the
throttle per reason), skipped detections logged per reason, bad CameraInfo, clock skew, the
camera_info timeout, stamp order and time jumps, intrinsics caching."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest

from ros_pose_estimation.node.params import PARAMS
from ros_pose_estimation.node.processing import THROTTLE_S, Frame, FrameProcessor

pytestmark = pytest.mark.ros

H, W = 48, 64


class Logger:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str, float | None]] = []

    def warning(self, text, throttle_duration_sec=None) -> None:
        self.lines.append(("warning", text, throttle_duration_sec))

    def info(self, text) -> None:
        self.lines.append(("info", text, None))


class Clock:
    """The node's clock: wall time plus ``offset_ns`` (negative: behind the image stamps)."""

    def __init__(self, offset_ns: int = 0) -> None:
        self.offset_ns = offset_ns

    def now(self):
        class _Now:
            nanoseconds = time.time_ns() + self.offset_ns

        return _Now()


class StandInNode:
    def __init__(self) -> None:
        self.logger = Logger()
        self.clock = Clock()

    def get_logger(self) -> Logger:
        return self.logger

    def get_clock(self) -> Clock:
        return self.clock

    def resolve_topic_name(self, name: str) -> str:
        return f"/cam/{name}"


class StandInPipeline:
    """Records stamps; each frame's result skips ``skips`` ((reason, text) pairs)."""

    fusion = None  # off

    def __init__(self, skips=(), warnings=()) -> None:
        self.stamps: list[int] = []
        self.resets = 0
        self.skips = list(skips)
        self.warnings = list(warnings)

    def reset(self) -> None:
        self.resets += 1

    def process(self, rgb, detections, intrinsics, stamp_ns, depth, up=None):
        from ros_pose_estimation.pipeline.pose_pipeline import FrameResult

        assert rgb.shape == (H, W, 3) and depth is None
        self.stamps.append(stamp_ns)
        self.ups = [*getattr(self, "ups", []), up]
        result = FrameResult(timings={"total": 1.0})
        for reason, text in self.skips:
            result.skip(reason, text)
        result.warnings = list(self.warnings)
        return result


@pytest.fixture
def msgs():
    try:
        from sensor_msgs.msg import CameraInfo
        from vision_msgs.msg import Detection2DArray
    except ImportError as exc:
        pytest.skip(f"sensor_msgs / vision_msgs not importable: {exc}")
    from ros_pose_estimation.conversions import numpy_to_image

    def image(sec: int, width: int = W):
        msg = numpy_to_image(np.zeros((H, width, 3), np.uint8), "rgb8")
        msg.header.stamp.sec = sec
        msg.header.frame_id = "cam_optical"
        return msg

    def info(fx: float = 50.0):
        msg = CameraInfo(width=W, height=H, distortion_model="plumb_bob")
        msg.k = [fx, 0.0, W / 2, 0.0, fx, H / 2, 0.0, 0.0, 1.0]
        msg.d = [0.0] * 5
        return msg

    return image, info, Detection2DArray


def make(**overrides):
    from ros_pose_estimation.conversions.detections import SKIP_REASONS
    from ros_pose_estimation.conversions.masks import MASK_SKIP_REASONS
    from ros_pose_estimation.node.frames import FRAME_DROPS
    from ros_pose_estimation.node.stats import NodeStats
    from ros_pose_estimation.pipeline.pose_pipeline import PIPELINE_SKIPS

    values = {p.name: p.default for p in PARAMS} | overrides
    node = StandInNode()
    stats = NodeStats(10.0, 512, FRAME_DROPS, SKIP_REASONS + MASK_SKIP_REASONS + PIPELINE_SKIPS)
    published = []
    processor = FrameProcessor(node, values.__getitem__, stats,
                               lambda *args: published.append(args))  # fmt: skip
    return processor, node, stats, published


def frame(image, dets):
    return Frame(image, dets, None, time.monotonic())


def test_nothing_happens_without_a_pipeline(msgs):
    image, info, dets = msgs
    processor, node, stats, published = make()
    processor.camera_info = info()
    processor.process(frame(image(10), dets()), None)
    assert not published and not node.logger.lines and stats.dropped.get("stale") == 0


def test_a_frame_is_estimated_and_published_with_the_image_header(msgs):
    image, info, dets = msgs
    processor, node, stats, published = make()
    pipeline = StandInPipeline(skips=[("failed", "detection 0 (mug): failed: no convergence")])
    processor.camera_info = info()
    msg = image(10)
    processor.process(frame(msg, dets()), pipeline)
    ((header, rgb, intrinsics, _),) = published
    assert header is msg.header and rgb.shape == (H, W, 3) and intrinsics.K[0, 0] == 50.0
    assert pipeline.stamps == [10 * 1_000_000_000]
    assert node.logger.lines == [("warning", "skipped 1 detection(s) of a frame (failed): "
                                  "detection 0 (mug): failed: no convergence", None)]
    assert stats.skipped.get("failed") == 1
    assert {"convert", "total", "publish", "receive_to_publish", "stamp_to_publish"} <= set(
        stats.latency.stages)
    assert stats.latency.summary("receive_to_publish").count == 1


def test_an_estimate_s_warning_is_logged_throttled(msgs):
    image, info, dets = msgs
    processor, node, stats, published = make()
    pipeline = StandInPipeline(warnings=["detection 0 (mug): pose from the image",
                                         "detection 2 (mug): pose from the image"])
    processor.camera_info = info()
    for stamp in (10, 11):
        processor.process(frame(image(stamp), dets()), pipeline)
    assert len(published) == 2
    assert node.logger.lines == [("warning", "detection 0 (mug): pose from the image (and 1 "
                                  "more in this frame)", None)]  # fmt: skip


def test_missing_camera_info_is_counted_then_warned_after_the_timeout(msgs):
    image, info, dets = msgs
    processor, node, stats, published = make(camera_info_timeout=5.0)
    pipeline = StandInPipeline()
    processor.image_arrived()
    processor.process(frame(image(10), dets()), pipeline)
    assert stats.dropped.get("no_camera_info") == 1 and not node.logger.lines  # still waiting
    processor.first_image_time -= 12.0
    processor.process(frame(image(11), dets()), pipeline)
    assert stats.dropped.get("no_camera_info") == 2
    ((level, text, _),) = node.logger.lines
    assert level == "warning"
    assert text == "frame dropped (no_camera_info): no camera_info received on " \
        "/cam/camera_info for 12 s"  # fmt: skip
    processor.camera_info = info()
    processor.process(frame(image(12), dets()), pipeline)
    assert len(published) == 1 and pipeline.stamps == [12 * 1_000_000_000]


def test_out_of_order_is_dropped_and_a_time_jump_resets_the_tracks(msgs):
    image, info, dets = msgs
    processor, node, stats, published = make(time_jump_reset=1.0)
    pipeline = StandInPipeline()
    processor.camera_info = info()
    processor.process(frame(image(100), dets()), pipeline)
    processor.process(frame(image(100), dets()), pipeline)  # same stamp: not newer
    assert stats.dropped.get("out_of_order") == 1 and len(published) == 1
    assert node.logger.lines[-1][1].startswith("frame dropped (out_of_order)")
    processor.process(frame(image(10), dets()), pipeline)  # 90 s back: bag loop
    assert pipeline.resets == 1 and len(published) == 2
    assert ("info", "time jumped back: tracks and queues reset", None) in node.logger.lines


def test_intrinsics_are_parsed_once_per_camera_info_change(msgs):
    image, info, dets = msgs
    processor, _, _, published = make()
    pipeline = StandInPipeline()
    processor.camera_info = info()
    processor.process(frame(image(1), dets()), pipeline)
    processor.camera_info = info()  # a new message, same calibration
    processor.process(frame(image(2), dets()), pipeline)
    processor.camera_info = info(fx=60.0)
    processor.process(frame(image(3), dets()), pipeline)
    first, second, third = (p[2] for p in published)
    assert first is second and third is not first and third.K[0, 0] == 60.0


def test_bad_image_is_dropped_with_its_reason(msgs):
    image, info, dets = msgs
    processor, node, stats, published = make()
    processor.camera_info = info()
    bad = image(5)
    bad.encoding = "not_an_encoding"
    processor.process(frame(bad, dets()), StandInPipeline())
    assert stats.dropped.get("bad_image") == 1 and not published
    assert node.logger.lines[0][1].startswith("frame dropped (bad_image): ")


def test_each_drop_reason_is_warned_on_its_own_and_repeats_are_counted(msgs):
    """rclpy throttles per call site; here every reason gets its own throttle period."""
    image, info, dets = msgs
    processor, node, stats, published = make()
    processor.camera_info = info()
    pipeline = StandInPipeline()
    bad = image(5)
    bad.encoding = "not_an_encoding"
    for sec in (5, 6):
        bad.header.stamp.sec = sec
        processor.process(frame(bad, dets()), pipeline)  # bad_image twice: one line
    processor.process(frame(image(7, width=W // 2), dets()), pipeline)  # bad_camera_info
    texts = [t for _, t, _ in node.logger.lines]
    assert stats.dropped.get("bad_image") == 2 and stats.dropped.get("bad_camera_info") == 1
    assert len(texts) == 2 and texts[0].startswith("frame dropped (bad_image): ")
    assert texts[1] == ("frame dropped (bad_camera_info): camera_info is 64x48 but the image "
                        "32x48: expected the camera_info of this image")
    processor._throttle._last = {k: v - THROTTLE_S for k, v in processor._throttle._last.items()}
    processor.process(frame(bad, dets()), pipeline)  # the period is over: reported again
    assert node.logger.lines[-1][1].endswith("(and 1 more since the last report)")
    assert not published


@pytest.mark.parametrize("problem", ["zero_k", "nan_k", "inf_p", "zero_width"])
def test_bad_camera_info_drops_the_frame_with_its_reason(msgs, problem):
    image, info, dets = msgs
    processor, node, stats, published = make()
    msg = info()
    if problem == "zero_k":
        msg.k = [0.0] * 9
    elif problem == "nan_k":
        msg.k[0] = float("nan")
    elif problem == "inf_p":
        msg.p = [50.0, 0.0, W / 2, 0.0, 0.0, float("inf"), H / 2, 0.0, 0.0, 0.0, 1.0, 0.0]
    else:
        msg.width = 0
    processor.camera_info = msg
    processor.process(frame(image(1), dets()), StandInPipeline())
    processor.process(frame(image(2), dets()), StandInPipeline())
    assert stats.dropped.get("bad_camera_info") == 2 and stats.dropped.get("error") == 0
    assert not published
    ((level, text, _),) = node.logger.lines  # the second drop is within the throttle period
    expected = {"zero_k": "all-zero K", "nan_k": "K has NaN or infinite values",
                "inf_p": "P has NaN or infinite values", "zero_width": "width must be"}[problem]
    assert level == "warning" and text.startswith("frame dropped (bad_camera_info): "
                                                  "/cam/camera_info: ") and expected in text
    processor.camera_info = info()  # a good one again: frames flow
    processor.process(frame(image(3), dets()), StandInPipeline())
    assert len(published) == 1


def test_every_skip_reason_is_logged_with_its_first_detection(msgs):
    from vision_msgs.msg import Detection2D, ObjectHypothesisWithPose

    image, info, dets = msgs
    processor, node, stats, published = make()
    processor.class_map = {"mug": "mug"}
    processor.camera_info = info()

    def det(class_id, cx, cy, w, h):
        d = Detection2D()
        if class_id is not None:
            d.results = [ObjectHypothesisWithPose()]
            d.results[0].hypothesis.class_id = class_id
        d.bbox.center.position.x, d.bbox.center.position.y = cx, cy
        d.bbox.size_x, d.bbox.size_y = w, h
        return d

    msg = dets()
    msg.detections = [
        det("mug", -500.0, 10.0, 8.0, 8.0), det("mug", 10.0, 10.0, 0.0, 8.0),
        det("mug", float("nan"), 10.0, 8.0, 8.0), det("teapot", 10.0, 10.0, 8.0, 8.0),
        det(None, 10.0, 10.0, 8.0, 8.0), det("mug", 20.0, 20.0, 8.0, 8.0),
    ]  # fmt: skip
    processor.process(frame(image(1), msg), StandInPipeline())
    assert len(published) == 1
    lines = {re.search(r"of a frame \((\w+)\)", t)[1]: t for _, t, _ in node.logger.lines}
    assert set(lines) == {"outside_image", "empty_box", "unknown_class", "no_hypothesis"}
    assert lines["empty_box"].startswith("skipped 2 detection(s) of a frame (empty_box): "
                                         "detection 1 (mug): box [10.0, 6.0, 10.0, 14.0]")
    assert "detection 0 (mug): box [-504.0, 6.0, -496.0, 14.0] (x0, y0, x1, y1 px) lies " \
        "outside the 64x48 image" in lines["outside_image"]  # fmt: skip
    assert "class_id 'teapot' is not mapped to a category" in lines["unknown_class"]
    skipped = stats.skipped.as_dict()
    assert (skipped["outside_image"], skipped["empty_box"], skipped["unknown_class"],
            skipped["no_hypothesis"]) == (1, 2, 1, 1)  # fmt: skip


def test_stamps_ahead_of_the_clock_are_clock_skew_not_a_failed_frame(msgs):
    image, info, dets = msgs
    processor, node, stats, published = make()
    processor.camera_info = info()
    now = time.time_ns()
    ahead = now + 3600 * 1_000_000_000  # the camera's clock is 1 h ahead of the node's
    for k in range(3):
        msg = image(0)
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(ahead + k * 10**8, 10**9)
        processor.process(frame(msg, dets()), StandInPipeline())
    assert len(published) == 3 and stats.dropped.total == 0
    assert stats.clock_skew_s == pytest.approx(3600.0, abs=60.0)
    ((level, text, _),) = node.logger.lines  # one warning, naming the offset
    assert level == "warning" and re.match(r"clock skew: image stamps are 3(599|600)\.\d{3} s "
                                           "ahead of this node's clock", text)
    assert "stamp_to_publish" not in stats.latency.stages
    assert stats.snapshot(time.monotonic()).frames["published"] == 3
    node.clock.offset_ns = 3601 * 1_000_000_000  # clocks agree again (the node's is ahead)
    msg = image(0)
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(ahead + 10**9, 10**9)
    processor.process(frame(msg, dets()), StandInPipeline())
    assert stats.clock_skew_s == 0.0 and stats.latency.summary("stamp_to_publish").count == 1


def test_a_statistic_that_cannot_be_recorded_does_not_fail_the_frame(msgs):
    image, info, dets = msgs
    processor, node, stats, published = make()
    processor.camera_info = info()
    pipeline = StandInPipeline()
    from ros_pose_estimation.pipeline.pose_pipeline import FrameResult

    # an estimator reporting a broken timing
    pipeline.process = lambda *a, **k: FrameResult(timings={"total": float("nan")})
    processor.process(frame(image(1), dets()), pipeline)
    assert len(published) == 1 and stats.outputs.total == 1
    ((level, text, _),) = node.logger.lines
    assert text.startswith("statistics of a frame not recorded: latency of 'total'")


class StandInCameraPose:
    """``lookup`` gives ``T`` or raises ``error``; records its calls."""

    def __init__(self, T=None, error=None) -> None:
        self.T, self.error, self.calls = T, error, []

    def lookup(self, fixed, camera, stamp_ns, timeout_s):
        self.calls.append((fixed, camera, stamp_ns, timeout_s))
        if self.error is not None:
            raise self.error
        return self.T


class FusingPipeline(StandInPipeline):
    fusion = object()  # enabled

    def __init__(self) -> None:
        super().__init__()
        self.fused: list = []

    def fuse(self, result, stamp_ns, T) -> None:
        self.fused.append((stamp_ns, T))
        result.fused, result.T_fixed_cam = [], T


def test_fusion_looks_up_the_camera_at_the_image_stamp_and_fuses(msgs):
    image, info, dets = msgs
    processor, node, _, published = make(fixed_frame="odom", fixed_frame_timeout=0.2)
    T = np.eye(4)
    processor.camera_pose = StandInCameraPose(T)
    pipeline = FusingPipeline()
    processor.camera_info = info()
    processor.process(frame(image(10), dets()), pipeline)
    call = ("odom", "cam_optical", 10_000_000_000, 0.2)
    assert processor.camera_pose.calls == [call]  # one lookup: gravity and fusion share it
    np.testing.assert_allclose(pipeline.ups[0], [0.0, 0.0, 1.0])
    assert pipeline.fused == [(10_000_000_000, T)] and published[0][3].fused == []
    assert not [line for line in node.logger.lines if line[0] == "warning"]


def test_no_transform_publishes_the_frame_unfused_with_a_throttled_warning(msgs):
    from ros_pose_estimation.core.tf_buffer import TFLookupError

    image, info, dets = msgs
    processor, node, _, published = make(fixed_frame="map", fixed_frame_timeout=0.0)
    processor.camera_pose = StandInCameraPose(error=TFLookupError("frame 'map' is not in TF"))
    pipeline = FusingPipeline()
    processor.camera_info = info()
    for sec in (10, 11, 12):
        processor.process(frame(image(sec), dets()), pipeline)
    assert len(published) == 3 and all(p[3].fused is None for p in published)
    assert not pipeline.fused
    assert len(processor.camera_pose.calls) == 3  # a missing transform is waited for once
    warnings = [text for level, text, _ in node.logger.lines if level == "warning"]
    assert len(warnings) == 1  # throttled
    assert re.search(r"unfused .*cam_optical.*no transform map <- cam_optical.*not in TF",
                     warnings[0])  # fmt: skip


def test_fusion_off_never_looks_up(msgs):
    image, info, dets = msgs
    processor, _, _, published = make()
    pipeline = FusingPipeline()
    processor.camera_info = info()
    processor.process(frame(image(10), dets()), pipeline)
    assert published and not pipeline.fused and processor.camera_pose is None


def test_gravity_is_the_up_frames_z_in_the_camera_at_the_image_stamp(msgs):
    image, info, dets = msgs
    processor, node, _, published = make(up_frame="base_link", fixed_frame_timeout=0.1)
    T = np.eye(4)  # an optical frame looking forward, rolled 30 deg: base z is up-ish in -y
    R_base_cam = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
    c, s_ = np.cos(np.radians(30)), np.sin(np.radians(30))
    T[:3, :3] = R_base_cam @ np.array([[c, -s_, 0.0], [s_, c, 0.0], [0.0, 0.0, 1.0]])
    processor.camera_pose = StandInCameraPose(T)
    pipeline = StandInPipeline()
    processor.camera_info = info()
    processor.process(frame(image(10), dets()), pipeline)
    assert processor.camera_pose.calls == [("base_link", "cam_optical", 10_000_000_000, 0.1)]
    np.testing.assert_allclose(pipeline.ups[0], T[:3, :3].T @ [0.0, 0.0, 1.0])
    np.testing.assert_allclose(pipeline.ups[0], [-s_, -c, 0.0], atol=1e-12)
    assert published


def test_without_the_up_transform_the_frame_is_estimated_without_gravity(msgs):
    from ros_pose_estimation.core.tf_buffer import TFLookupError

    image, info, dets = msgs
    processor, node, _, published = make(up_frame="base_link", fixed_frame_timeout=0.0)
    processor.camera_pose = StandInCameraPose(error=TFLookupError("no base_link"))
    pipeline = StandInPipeline()
    processor.camera_info = info()
    for sec in (10, 11):
        processor.process(frame(image(sec), dets()), pipeline)
    assert pipeline.ups == [None, None] and len(published) == 2
    warnings = [text for level, text, _ in node.logger.lines if level == "warning"]
    assert len(warnings) == 1 and "without gravity" in warnings[0] and "base_link" in warnings[0]
