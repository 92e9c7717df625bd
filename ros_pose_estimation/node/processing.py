"""The worker thread's work on one synchronised frame: order check, decode, estimate, publish.

:class:`FrameProcessor` is a plain object, not the node. Like tf2_ros' helpers it takes the
node only for its logger, clock and topic names; besides that it gets the node's checked
parameter read ``value(name)``, its :class:`~ros_pose_estimation.node.stats.NodeStats` and a
``publish(header, rgb, intrinsics, result)`` function (the node's, which calls
:func:`.outputs.publish_result`). It keeps what outlives one frame: the latest ``CameraInfo``
(parsed into :class:`~ros_pose_estimation.core.camera.Intrinsics` once per change), the
detector class map set on configure, when the first image arrived and the stamp of the last
estimated frame.

A frame that cannot be used (:class:`.frames.FrameDrop`: bad image, depth, mask or
camera_info, an image stamp not newer than the previous one) is counted by reason and logged as
a warning throttled per reason (:class:`.throttle.KeyedThrottle`); so is every reason a
detection was skipped for (with its first detection described). A stamp far older than the
previous one (bag loop, simulation reset) resets the pipeline's tracks instead.

World-frame fusion (``fixed_frame`` set; the node sets :attr:`FrameProcessor.camera_pose` on
activate): after estimation the camera's pose in ``fixed_frame`` at the image stamp is looked
up (:class:`.camera_pose.CameraPoseSource`, waiting up to ``fixed_frame_timeout``) and the
pipeline fuses (:meth:`~ros_pose_estimation.pipeline.pose_pipeline.PosePipeline.fuse`); when
the transform is not available the frame is published unfused, with a warning throttled per
reason naming the frames and why.

Gravity (``up_frame``, else ``fixed_frame``, set): before estimation the camera's orientation in
that frame at the image stamp gives the world's up in the camera (its +z), which the
estimators turn a rolled camera upright by (:func:`ros_pose_estimation.core.upright.
gravity_look`); without the transform the frame is estimated without it (throttled warning).

Statistics never fail a frame: they are recorded after the frame was published, and an image
stamp ahead of the node's clock (clock skew: a camera or recording machine whose clock is
ahead of this host's, or ``use_sim_time`` before the first ``/clock``) is not a negative
latency but a skew: one warning naming the offset, the offset in ``/diagnostics``
(``clock_skew_s``), the frame processed and published as any other.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ros_pose_estimation import conversions as conv
from ros_pose_estimation.core.errors import InputError, IntrinsicsError
from ros_pose_estimation.core.standing import up_in_camera
from ros_pose_estimation.node.frames import FrameDrop, ObjectSource, decode_frame
from ros_pose_estimation.node.stats import NodeStats
from ros_pose_estimation.node.throttle import KeyedThrottle

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
        self._intrinsics = None  # Intrinsics, or the IntrinsicsError of a bad CameraInfo
        self._intrinsics_key = None
        self._last_stamp_ns: int | None = None
        self._throttle = KeyedThrottle(THROTTLE_S)
        self._skew_warned = False
        self.camera_pose = None  # CameraPoseSource while fusion is on (set on activate)
        self._last_lookup: tuple | None = None  # ((frame, camera frame, stamp), T or error)

    def image_arrived(self) -> None:
        """Note the first image's arrival (the camera_info timeout counts from it)."""
        if self.first_image_time is None:
            self.first_image_time = time.monotonic()

    def _object_source(self) -> ObjectSource:
        if self._value("mask_input"):
            return ObjectSource(None, self._value("mask_category"), self._value("min_mask_pixels"))
        return ObjectSource(self.class_map)

    def _intrinsics_for(self):
        """Intrinsics of the latest CameraInfo (parsed once per change), None before the
        first; raises FrameDrop ``bad_camera_info`` for one that cannot describe a camera."""
        info = self.camera_info
        if info is None:
            return None
        key = (tuple(info.k), tuple(info.p), info.width, info.height, info.binning_x,
               info.binning_y, info.roi.x_offset, info.roi.y_offset, info.roi.width,
               info.roi.height)  # fmt: skip
        if key != self._intrinsics_key:
            try:
                self._intrinsics = conv.intrinsics_from_camera_info(info)
            except IntrinsicsError as exc:
                self._intrinsics = exc
            self._intrinsics_key = key
        if isinstance(self._intrinsics, IntrinsicsError):
            topic = self._node.resolve_topic_name("camera_info")
            raise FrameDrop("bad_camera_info", f"{topic}: {self._intrinsics}")
        return self._intrinsics

    def _log(self, key: str, text: str) -> None:
        """A warning, at most one per ``key`` every :data:`THROTTLE_S` seconds."""
        held = self._throttle.due(key, time.monotonic())
        if held is not None:
            more = f" (and {held} more since the last report)" if held else ""
            self._node.get_logger().warning(text + more)

    def _warn(self, reason: str, text: str) -> None:
        self._stats.dropped.add(reason)
        self._log(f"dropped:{reason}", f"frame dropped ({reason}): {text}")

    def _report_skips(self, counts: dict[str, int], notes: dict[str, str]) -> None:
        for reason, n in counts.items():
            if n:
                note = notes.get(reason, "")
                self._log(f"skipped:{reason}", f"skipped {n} detection(s) of a frame "
                          f"({reason}){': ' + note if note else ''}")  # fmt: skip

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
        up = self._gravity(header.frame_id, stamp_ns) if self.camera_pose is not None else None
        result = pipeline.process(rgb, decoded.detections, intrinsics, stamp_ns, decoded.depth,
                                  up=up)  # fmt: skip
        self._last_stamp_ns = stamp_ns
        if self.camera_pose is not None and pipeline.fusion is not None:
            self._fuse(pipeline, result, header.frame_id, stamp_ns)
        skipped = {**decoded.skipped, **result.skipped}
        self._report_skips(skipped, {**decoded.notes, **result.notes})
        if result.warnings:
            more = f" (and {len(result.warnings) - 1} more in this frame)" * (
                len(result.warnings) > 1)
            self._log("warning", result.warnings[0] + more)
        published = time.perf_counter()
        self._publish(header, rgb, intrinsics, result)
        done = time.perf_counter()
        now_ns = self._node.get_clock().now().nanoseconds
        try:
            self._record(frame, stamp_ns, now_ns, skipped, result.timings,
                         {"convert": converted - start, "publish": done - published})
        except InputError as exc:  # a statistic never fails a frame that was published
            self._log("statistics", f"statistics of a frame not recorded: {exc}")

    def _lookup(self, frame: str, camera_frame: str, stamp_ns: int) -> np.ndarray:
        """The camera's pose in ``frame`` at the stamp (waiting up to ``fixed_frame_timeout``),
        looked up once per frame and stamp: gravity and fusion share it, and a missing
        transform is waited for once. Raises the lookup's InputError."""
        key = (frame, camera_frame, stamp_ns)
        if self._last_lookup is None or self._last_lookup[0] != key:
            try:
                found = self.camera_pose.lookup(frame, camera_frame, stamp_ns,
                                                self._value("fixed_frame_timeout"))  # fmt: skip
            except InputError as exc:
                found = exc
            self._last_lookup = (key, found)
        found = self._last_lookup[1]
        if isinstance(found, InputError):
            raise found
        return found

    def _gravity(self, camera_frame: str, stamp_ns: int) -> np.ndarray | None:
        """``[3]`` the up direction (+z of ``up_frame``, else ``fixed_frame``) in the camera
        frame at the stamp; None without such a frame, or (with a throttled warning) when its
        transform is not there in time."""
        frame = self._value("up_frame") or self._value("fixed_frame")
        if not frame:
            return None
        try:
            T = self._lookup(frame, camera_frame, stamp_ns)
        except InputError as exc:  # TFLookupError, or a transform that is not rigid
            if self._value("up_frame"):  # (fixed_frame's own lookup warns on its own)
                self._log("no_gravity", f"frame estimated without gravity (a rolled camera is "
                          f"turned upright by a first look): no transform {frame} <- "
                          f"{camera_frame or 'an empty frame'} at the image stamp: "
                          f"{exc}")  # fmt: skip
            return None
        return up_in_camera(T)

    def _fuse(self, pipeline, result, camera_frame: str, stamp_ns: int) -> None:
        """World-frame fusion of ``result`` (module docstring); unfused when the camera's
        transform into ``fixed_frame`` at the stamp is not there in time."""
        fixed = self._value("fixed_frame")
        try:
            T = self._lookup(fixed, camera_frame, stamp_ns)
            pipeline.fuse(result, stamp_ns, T)
        except InputError as exc:  # TFLookupError, or a transform that is not rigid
            self._log("unfused", f"frame published unfused (per-frame poses in "
                      f"{camera_frame or 'an empty frame'}): no transform {fixed} <- "
                      f"{camera_frame} at the image stamp: {exc}")  # fmt: skip

    def _record(self, frame: Frame, stamp_ns: int, now_ns: int, skipped: dict[str, int],
                timings: dict[str, float], own_s: dict[str, float]) -> None:
        """Count and time one published frame (``own_s``: this processor's stages, s)."""
        stats = self._stats
        stats.outputs.tick(time.monotonic())
        stats.skipped.add_all(skipped)
        latency = stats.latency
        latency.add_all({stage: 1e3 * s for stage, s in own_s.items()})
        latency.add_all(timings)
        latency.add("receive_to_publish", 1e3 * (time.monotonic() - frame.received))
        ahead_s = (stamp_ns - now_ns) / 1e9
        stats.clock_skew_s = max(ahead_s, 0.0)
        if ahead_s <= 0.0:
            latency.add("stamp_to_publish", -1e3 * ahead_s)
        elif not self._skew_warned:
            self._skew_warned = True
            hint = (" (the node's clock reads 0: use_sim_time without /clock?)" if now_ns == 0
                    else "")  # fmt: skip
            self._node.get_logger().warning(
                f"clock skew: image stamps are {ahead_s:.3f} s ahead of this node's clock{hint}."
                " Frames are processed and published as usual; stamp_to_publish latency is not "
                "measured while stamps are ahead (clock_skew_s in /diagnostics). Synchronise "
                "the camera's (or recording machine's) clock with this host (chrony, PTP)")
