"""FrameProcessor without a ROS node: a stand-in node (logger, clock, topic names), a stand-in
pipeline, real sensor_msgs / vision_msgs messages. Checks drops (counted, warned with the
throttle), the camera_info timeout, stamp order and time jumps, intrinsics caching."""

from __future__ import annotations

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
    class _Now:
        def __init__(self) -> None:
            self.nanoseconds = time.time_ns()

    def now(self):
        return Clock._Now()


class StandInNode:
    def __init__(self) -> None:
        self.logger = Logger()

    def get_logger(self) -> Logger:
        return self.logger

    def get_clock(self) -> Clock:
        return Clock()

    def resolve_topic_name(self, name: str) -> str:
        return f"/cam/{name}"


class StandInPipeline:
    def __init__(self, errors=()) -> None:
        self.stamps: list[int] = []
        self.resets = 0
        self.errors = list(errors)

    def reset(self) -> None:
        self.resets += 1

    def process(self, rgb, detections, intrinsics, stamp_ns, depth):
        from ros_pose_estimation.pipeline import FrameResult

        assert rgb.shape == (H, W, 3) and depth is None
        self.stamps.append(stamp_ns)
        return FrameResult(errors=list(self.errors), timings={"total": 1.0})


@pytest.fixture
def msgs():
    try:
        from sensor_msgs.msg import CameraInfo
        from vision_msgs.msg import Detection2DArray
    except ImportError as exc:
        pytest.skip(f"sensor_msgs / vision_msgs not importable: {exc}")
    from ros_pose_estimation.conversions import numpy_to_image

    def image(sec: int):
        msg = numpy_to_image(np.zeros((H, W, 3), np.uint8), "rgb8")
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
    from ros_pose_estimation.pipeline import PIPELINE_SKIPS
    from ros_pose_estimation.stats import NodeStats

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
    pipeline = StandInPipeline(errors=["mug: refine failed"])
    processor.camera_info = info()
    msg = image(10)
    processor.process(frame(msg, dets()), pipeline)
    ((header, rgb, intrinsics, _),) = published
    assert header is msg.header and rgb.shape == (H, W, 3) and intrinsics.K[0, 0] == 50.0
    assert pipeline.stamps == [10 * 1_000_000_000]
    assert node.logger.lines == [("warning", "mug: refine failed", THROTTLE_S)]
    assert {"convert", "total", "publish", "receive_to_publish", "stamp_to_publish"} <= set(
        stats.latency.stages)
    assert stats.latency.summary("receive_to_publish").count == 1


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
    ((level, text, throttle),) = node.logger.lines
    assert level == "warning" and throttle == THROTTLE_S
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
