"""Message conversions: ROS 2 messages <-> the core's numpy arrays and dataclasses.

The middle of the three layers (core / conversions / nodes). Every reader is duck-typed on the
message's fields, so it accepts rclpy messages and ``rosbags`` dataclasses alike and needs no
ROS install; only the writers that build rclpy messages import them (inside the function).
Errors are the core's (:mod:`ros_pose_estimation.core.errors`), so a node catches
``PoseEstimationError``, logs a throttled warning and drops the frame.

* :mod:`.image`: ``sensor_msgs/Image`` / ``CompressedImage`` <-> numpy (RGB, depth in metres).
* :mod:`.camera_info`: ``sensor_msgs/CameraInfo`` -> ``core.camera.Intrinsics``.
* :mod:`.detections`: ``vision_msgs/Detection2DArray`` -> NeMo ``Detection`` list. Its names
  are imported lazily here: :mod:`ros_pose_estimation.nemo.detection` pulls in torch, which
  the image and camera-info conversions do not need.
"""

from importlib import import_module

from .camera_info import intrinsics_from_camera_info
from .image import (
    IMAGE_ENCODINGS,
    compressed_to_rgb,
    depth_from_image,
    image_to_numpy,
    numpy_to_image,
    rgb_from_image,
)

__all__ = [
    "IMAGE_ENCODINGS",
    "SKIP_REASONS",
    "bbox_from_box",
    "box_from_bbox",
    "compressed_to_rgb",
    "depth_from_image",
    "detections_from_msg",
    "image_to_numpy",
    "intrinsics_from_camera_info",
    "numpy_to_image",
    "rgb_from_image",
]

_LAZY = {"SKIP_REASONS", "bbox_from_box", "box_from_bbox", "detections_from_msg"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(f"{__name__}.detections"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
