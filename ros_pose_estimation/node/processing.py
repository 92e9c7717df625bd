"""The worker thread's work on one synchronised frame: order check, decode, estimate, publish.

:class:`FrameProcessor` is a plain object, not the node. Like tf2_ros' helpers it takes the
node only for its logger, clock and topic names; besides that it gets the node's checked
parameter read ``value(name)``, its :class:`~ros_pose_estimation.stats.NodeStats` and a
``publish(header, rgb, intrinsics, result)`` function (the node's, which calls
:func:`.outputs.publish_result`). It keeps what outlives one frame: the latest ``CameraInfo``
(parsed into :class:`~ros_pose_estimation.core.camera.Intrinsics` once per change), the
detector class map set on configure, when the first image arrived and the stamp of the last
estimated frame.

A frame that cannot be used (:class:`.frames.FrameDrop`, an image stamp not newer than the
previous one) is counted by reason and logged as a throttled warning; a stamp far older than
the previous one (bag loop, simulation reset) resets the pipeline's tracks instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ros_pose_estimation import conversions as conv
from ros_pose_estimation.node.frames import FrameDrop, ObjectSource, decode_frame
from ros_pose_estimation.stats import NodeStats

#: Seconds between two repeats of the same warning in the log.
THROTTLE_S = 5.0


@dataclass
class Frame:
    """One synchronised input set, as the worker receives it."""

    image: Any
    detections: Any
    depth: Any
    received: float  # time.monotonic() when the last message of the set arrived


class FrameProcessor:
    """Turns one :class:`Frame` into published outputs (see the module docstring).

    Args:
        node: the rclpy node (logger, clock, ``resolve_topic_name``).
        value: the node's checked parameter read, called per frame (changes apply at once).
        stats: where drops, skips, rates and latencies are counted.
        publish: ``publish(header, rgb [H x W x 3] uint8, intrinsics, result)``.
    """

    def __init__(
        self,
        node: Any,
        value: Callable[[str], Any],
        stats: NodeStats,
        publish: Callable[[Any, Any, Any, Any], None],
    ) -> None:
        self._node = node
        self._value = value
        self._stats = stats
        self._publish = publish
        self.camera_info = None  # the latest sensor_msgs/CameraInfo
        self.class_map: dict[str, str] = {}  # detector class id -> category (set on configure)
        self.first_image_time: float | None = None  # time.monotonic() of the first image
        self._intrinsics = None
        self._intrinsics_key = None
        self._last_stamp_ns: int | None = None

    def image_arrived(self) -> None:
        """Note the first image's arrival (the camera_info timeout counts from it)."""
        if self.first_image_time is None:
            self.first_image_time = time.monotonic()

    def _object_source(self) -> ObjectSource:
        if self._value("mask_input"):
            return ObjectSource(None, self._value("mask_category"), self._value("min_mask_pixels"))
        return ObjectSource(self.class_map)

    def _intrinsics_for(self):
        info = self.camera_info
        if info is None:
            return None
        key = (tuple(info.k), tuple(info.p), info.width, info.height, info.binning_x,
               info.binning_y)  # fmt: skip
        if key != self._intrinsics_key:
            self._intrinsics = conv.intrinsics_from_camera_info(info)
            self._intrinsics_key = key
        return self._intrinsics

    def _warn(self, reason: str, text: str) -> None:
        self._stats.dropped.add(reason)
        self._node.get_logger().warning(f"frame dropped ({reason}): {text}",
                                        throttle_duration_sec=THROTTLE_S)  # fmt: skip

    def process(self, frame: Frame, pipeline) -> None:
        """Estimate ``frame`` with ``pipeline`` and publish; nothing while ``pipeline`` is None
        (not configured)."""
        if pipeline is None:
            return
        header = frame.image.header
        stamp_ns = header.stamp.sec * 1_000_000_000 + header.stamp.nanosec
        if self._last_stamp_ns is not None and stamp_ns <= self._last_stamp_ns:
            if self._last_stamp_ns - stamp_ns > self._value("time_jump_reset") * 1e9:
                self._node.get_logger().info("time jumped back: tracks and queues reset")
                pipeline.reset()
            else:
                self._warn("out_of_order", "image stamp is not newer than the previous frame")
                return
        start = time.perf_counter()
        try:
            decoded = decode_frame(frame.image, frame.detections, frame.depth,
                                   self._intrinsics_for(), self._object_source())  # fmt: skip
        except FrameDrop as drop:
            if drop.reason != "no_camera_info":
                self._warn(drop.reason, str(drop))
                return
            waited = time.monotonic() - (self.first_image_time or time.monotonic())
            if waited > self._value("camera_info_timeout"):
                topic = self._node.resolve_topic_name("camera_info")
                self._warn("no_camera_info", f"no camera_info received on {topic} for "
                           f"{waited:.0f} s")  # fmt: skip
            else:
                self._stats.dropped.add("no_camera_info")
            return
        rgb, intrinsics = decoded.rgb, decoded.intrinsics
        converted = time.perf_counter()
        result = pipeline.process(rgb, decoded.detections, intrinsics, stamp_ns, decoded.depth)
        self._last_stamp_ns = stamp_ns
        self._stats.skipped.add_all({**decoded.skipped, **result.skipped})
        for line in result.errors:
            self._node.get_logger().warning(line, throttle_duration_sec=THROTTLE_S)
        published = time.perf_counter()
        self._publish(header, rgb, intrinsics, result)
        self._stats.latency.add("publish", 1e3 * (time.perf_counter() - published))
        self._stats.outputs.tick(time.monotonic())
        latency = self._stats.latency
        latency.add("convert", 1e3 * (converted - start))
        latency.add_all(result.timings)
        latency.add("receive_to_publish", 1e3 * (time.monotonic() - frame.received))
        latency.add("stamp_to_publish",
                    (self._node.get_clock().now().nanoseconds - stamp_ns) / 1e6)
