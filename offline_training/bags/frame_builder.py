"""One synchronised set of messages -> one :class:`~.observations.ExtractedFrame`, or a skip.

:class:`FrameBuilder` decodes the colour image and depth (project conversions), takes the
intrinsics of the ``CameraInfo`` nearest in time, looks up the camera's pose in the fixed
frame at the image stamp, finds the objects (recorded detections, depth segmentation or the
first-box follower) and their 3D positions. A set that cannot become a frame is counted under
a reason of :data:`~.report.FRAME_SKIP_REASONS` (with the first error message as example):
a bad message never stops the extraction. Statistics accumulate until :meth:`take_stats`.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from offline_training.bags.box_tracking import BoxFollower
from offline_training.bags.config import ExtractionConfig
from offline_training.bags.observations import ExtractedFrame, ObjectObservation, object_position
from ros_pose_estimation.conversions import (
    compressed_to_rgb,
    depth_from_image,
    intrinsics_from_camera_info,
    rgb_from_image,
)
from ros_pose_estimation.conversions.poses import stamp_to_ns
from ros_pose_estimation.core.errors import InputError, IntrinsicsError
from ros_pose_estimation.core.tf_buffer import TFBuffer, TFLookupError

_NS = 1_000_000_000


class FrameBuilder:
    """Builds frames for one recording (see the module docstring).

    Args:
        mode: object source, ``detections``, ``depth`` or ``first_box``.
        tf: the recording's transforms (may be empty).
        infos: ``[(stamp_ns, CameraInfo)]`` sorted by stamp.
        follower: the first-box follower for ``mode='first_box'``.
    """

    def __init__(
        self,
        config: ExtractionConfig,
        mode: str,
        tf: TFBuffer,
        infos: list[tuple[int, object]],
        follower: BoxFollower | None = None,
    ) -> None:
        self.cfg, self.mode, self.tf, self.follower = config, mode, tf, follower
        self._info_stamps = np.array([s for s, _ in infos], dtype=np.int64)
        self._info_msgs = [m for _, m in infos]
        self._parsed: dict[int, object] = {}
        self.camera_frame: str | None = None
        self.fixed_frame: str | None = config.fixed_frame
        self._shape: tuple[int, ...] | None = None
        self._stats = self._empty_stats()

    @staticmethod
    def _empty_stats() -> dict:
        return {
            "skipped": Counter(),
            "skip_examples": {},
            "objects_skipped": Counter(),
            "objects_per_category": Counter(),
            "frames_with_camera_pose": 0,
            "frames_without_objects": 0,
            "objects_without_depth": 0,
        }

    def take_stats(self) -> dict:
        """Statistics since the last call (JSON-ready), then reset."""
        stats, self._stats = self._stats, self._empty_stats()
        return {k: dict(v) if isinstance(v, dict) else v for k, v in stats.items()}

    def state(self) -> dict[str, np.ndarray]:
        return self.follower.state() if self.follower is not None else {}

    def _skip(self, reason: str, example: str) -> None:
        self._stats["skipped"][reason] += 1
        self._stats["skip_examples"].setdefault(reason, example)

    def _intrinsics(self, stamp: int):
        """Intrinsics of the CameraInfo nearest to ``stamp``; a skip reason string if none."""
        if not len(self._info_stamps):
            return "no_camera_info", "the bag has no CameraInfo message"
        i = int(np.searchsorted(self._info_stamps, stamp))
        near = [j for j in (i - 1, i) if 0 <= j < len(self._info_stamps)]
        j = min(near, key=lambda j: abs(int(self._info_stamps[j]) - stamp))
        gap = abs(int(self._info_stamps[j]) - stamp) / _NS
        if gap > self.cfg.camera_info_tolerance:
            return "no_camera_info", (
                f"nearest CameraInfo is {gap:.3f} s from the image "
                f"(camera_info_tolerance {self.cfg.camera_info_tolerance} s)"
            )
        if j not in self._parsed:
            try:
                self._parsed[j] = intrinsics_from_camera_info(self._info_msgs[j])
            except IntrinsicsError as exc:
                self._parsed[j] = ("bad_camera_info", str(exc))
        return self._parsed[j]

    def _camera_pose(self, frame_id: str, stamp: int) -> np.ndarray | None:
        if self.camera_frame is None:
            self.camera_frame = frame_id.lstrip("/")
            if self.fixed_frame is None and self.camera_frame in self.tf.frames:
                self.fixed_frame = self.tf.root(self.camera_frame)
        if self.fixed_frame is None:
            return None
        try:
            return self.tf.lookup(self.fixed_frame, frame_id, stamp)
        except TFLookupError as exc:
            self._stats["skip_examples"].setdefault("no_camera_pose", str(exc))
            return None

    def build(self, number: int, group: tuple) -> ExtractedFrame | None:
        """The frame of synchronised set ``number`` (``group`` = rgb[, depth][, detections])."""
        rgb_msg = group[0]
        stamp = stamp_to_ns(rgb_msg.header.stamp)
        try:
            rgb = (
                compressed_to_rgb(rgb_msg)
                if hasattr(rgb_msg, "format")
                else (rgb_from_image(rgb_msg))
            )
        except InputError as exc:
            return self._skip("bad_image", str(exc))
        intr = self._intrinsics(stamp)
        if isinstance(intr, tuple):
            return self._skip(*intr)
        try:
            intr.check_image(rgb, "colour image")
        except IntrinsicsError as exc:
            return self._skip("intrinsics_mismatch", str(exc))
        if self._shape is None:
            self._shape = rgb.shape
        elif rgb.shape != self._shape:
            return self._skip(
                "size_changed", f"image is {rgb.shape}, the recording started with {self._shape}"
            )
        depth = None
        if self.cfg.modality == "rgbd":
            try:
                depth = depth_from_image(group[1])
            except InputError as exc:
                return self._skip("bad_depth", str(exc))
            if depth.shape != rgb.shape[:2]:
                return self._skip(
                    "bad_depth",
                    f"depth is {depth.shape[1]} x {depth.shape[0]}, the colour image "
                    f"{rgb.shape[1]} x {rgb.shape[0]}: record depth aligned to the colour image",
                )
        pose = self._camera_pose(str(rgb_msg.header.frame_id), stamp)
        objects = self._objects(group, rgb, depth, intr, pose)
        stats = self._stats
        stats["frames_with_camera_pose"] += pose is not None
        stats["frames_without_objects"] += not objects
        for obj in objects:
            stats["objects_per_category"][obj.category] += 1
            stats["objects_without_depth"] += depth is not None and obj.position_cam is None
        return ExtractedFrame(number, stamp, rgb, depth, intr, pose, objects)

    def _objects(self, group, rgb, depth, intr, pose) -> list[ObjectObservation]:
        found: list[tuple[str, np.ndarray, np.ndarray | None, int]] = []
        if self.mode == "detections":
            from ros_pose_estimation.conversions import detections_from_msg

            dets, skipped = detections_from_msg(group[-1], rgb.shape, self.cfg.class_map)
            self._stats["objects_skipped"].update({k: v for k, v in skipped.items() if v})
            found = [(d.category, np.asarray(d.box_xyxy), None, -1) for d in dets]
        elif self.mode == "depth":
            from offline_training.bags.segment import segment_objects

            proposals = segment_objects(depth, intr, self.cfg.segment)
            found = [(self.cfg.segment_category, p.box_xyxy, p.mask, -1) for p in proposals]
        else:
            follow = self.follower.step if self.follower.started else self.follower.start
            found = [(c, b, None, i) for i, c, b in follow(rgb, depth, intr, pose)]
        objects = []
        for category, box, mask, instance in found:
            if min(box[2] - box[0], box[3] - box[1]) < self.cfg.min_box_px:
                self._stats["objects_skipped"]["too_small"] += 1
                continue
            position = None if depth is None else object_position(depth, intr, box, mask)
            objects.append(ObjectObservation(category, box, self.mode, mask, position, instance))
        return objects
