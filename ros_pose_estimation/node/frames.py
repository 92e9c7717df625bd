"""One synchronised set of messages -> the arrays the pipeline takes, or why the frame is dropped.

Pure (message conversions only, no rclpy): :func:`decode_frame` turns the colour image (raw or
compressed), the optional aligned depth and the detections (or an instance-label mask) into
``rgb [H x W x 3] uint8``, ``depth [H x W] float32 m`` (or None), the camera's
:class:`~ros_pose_estimation.core.camera.Intrinsics` and the detections, checking that sizes
agree. A frame that cannot be used raises :class:`FrameDrop` with the reason (a key of
``/diagnostics``' dropped-frame counters) and a message saying what was wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ros_pose_estimation import conversions as conv
from ros_pose_estimation.core.camera import Intrinsics
from ros_pose_estimation.core.errors import PoseEstimationError

#: Why a whole frame was dropped (diagnostics keys ``dropped_frames_<reason>``).
#: ``bad_camera_info``: K all zero or not finite, size zero or not the image's, binning/ROI.
FRAME_DROPS = (
    "no_camera_info", "bad_camera_info", "bad_image", "bad_depth", "bad_mask", "size_mismatch",
    "out_of_order", "stale", "error",
)  # fmt: skip


class FrameDrop(Exception):
    """The frame cannot be used: ``reason`` (one of :data:`FRAME_DROPS`) and a message."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass
class DecodedFrame:
    """A frame ready for
    :meth:`ros_pose_estimation.pipeline.pose_pipeline.PosePipeline.process`."""

    rgb: np.ndarray
    depth: np.ndarray | None
    intrinsics: Intrinsics
    detections: list
    skipped: dict[str, int] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)  # skip reason -> first example


@dataclass
class ObjectSource:
    """Where a frame's objects come from: a ``Detection2DArray`` mapped by ``class_map``, or,
    with ``mask_category`` set, an instance-label mask whose instances are all of that
    category (at least ``min_mask_pixels`` pixels each)."""

    class_map: Mapping[str, str] | None = None
    mask_category: str | None = None
    min_mask_pixels: int = 20


def decode_image(msg) -> np.ndarray:
    """``sensor_msgs/Image`` or ``CompressedImage`` -> ``[H x W x 3]`` uint8 RGB."""
    if hasattr(msg, "format") and not hasattr(msg, "encoding"):
        return conv.compressed_to_rgb(msg)
    return conv.rgb_from_image(msg)


def decode_frame(
    image: Any,
    objects: Any,
    depth: Any,
    intrinsics: Intrinsics | None,
    source: ObjectSource,
) -> DecodedFrame:
    """Decode one synchronised set (see the module docstring).

    Args:
        image: the colour ``Image`` / ``CompressedImage``.
        objects: the ``Detection2DArray``, or the mask ``Image`` (``source.mask_category``).
        depth: the aligned depth ``Image`` or None.
        intrinsics: from the latest ``CameraInfo``, None when none has arrived.

    Raises:
        FrameDrop: ``bad_image``, ``no_camera_info``, ``bad_camera_info`` (its size is not
            the image's), ``size_mismatch`` (depth or mask vs image), ``bad_depth``,
            ``bad_mask``.
    """
    try:
        rgb = decode_image(image)
    except PoseEstimationError as exc:
        raise FrameDrop("bad_image", str(exc)) from None
    if intrinsics is None:
        raise FrameDrop("no_camera_info", "no camera_info received yet")
    if rgb.shape[:2] != intrinsics.shape:
        raise FrameDrop("bad_camera_info", f"camera_info is {intrinsics.width}x"
                        f"{intrinsics.height} but the image {rgb.shape[1]}x{rgb.shape[0]}: "
                        "expected the camera_info of this image")  # fmt: skip
    depth_m = None
    if depth is not None:
        try:
            depth_m = conv.depth_from_image(depth)
        except PoseEstimationError as exc:
            raise FrameDrop("bad_depth", str(exc)) from None
        if depth_m.shape != rgb.shape[:2]:
            raise FrameDrop("size_mismatch", f"depth {depth_m.shape[1]}x{depth_m.shape[0]} vs "
                            f"image {rgb.shape[1]}x{rgb.shape[0]}: expected depth aligned to "
                            "the image")  # fmt: skip
    notes: dict[str, str] = {}
    if source.mask_category:
        from ros_pose_estimation.conversions.masks import detections_from_labels, labels_from_image

        try:
            labels = labels_from_image(objects)
        except PoseEstimationError as exc:
            raise FrameDrop("bad_mask", str(exc)) from None
        try:
            dets, skipped = detections_from_labels(labels, source.mask_category, rgb.shape,
                                                   source.min_mask_pixels, notes)  # fmt: skip
        except PoseEstimationError as exc:
            raise FrameDrop("size_mismatch", str(exc)) from None
    else:
        dets, skipped = conv.detections_from_msg(objects, rgb.shape, source.class_map, notes)
    return DecodedFrame(rgb, depth_m, intrinsics, dets, skipped, notes)
