"""Message conversions: ROS 2 messages <-> the core's numpy arrays and dataclasses.

The middle of the three layers (core / conversions / nodes). Every reader is duck-typed on the
message's fields, so it accepts rclpy messages and ``rosbags`` dataclasses alike and needs no
ROS install; only the writers that build rclpy messages import them (inside the function).
Errors are the core's (:mod:`ros_pose_estimation.core.errors`), so a node catches
``PoseEstimationError``, logs a throttled warning and drops the frame.

* :mod:`.image`: ``sensor_msgs/Image`` / ``CompressedImage`` <-> numpy (RGB, depth in metres).
* :mod:`.camera_info`: ``sensor_msgs/CameraInfo`` -> ``core.camera.Intrinsics``.
* :mod:`.detections`: ``vision_msgs/Detection2DArray`` -> the estimators' ``Detection`` list
  (:mod:`ros_pose_estimation.core.estimation`, numpy only: no conversion imports torch).

Outputs (builders of rclpy messages; the message packages are imported when called, and the
modules themselves lazily here):

* :mod:`.poses`: ``R, t`` -> ``Pose`` / ``Transform`` (quaternion x, y, z, w), stamps, durations.
* :mod:`.detection3d`: tracked poses -> ``vision_msgs/Detection3DArray`` (``~/detections``).
* :mod:`.tf`: tracked poses -> ``tf2_msgs/TFMessage`` (``/tf``), child ``<prefix><class>_<id>``.
* :mod:`.markers`: tracked poses -> ``visualization_msgs/MarkerArray`` (``~/markers``).
* :mod:`.diagnostics`: node statistics -> ``diagnostic_msgs/DiagnosticArray``.
"""

from importlib import import_module

from .camera_info import intrinsics_from_camera_info
from .detections import SKIP_REASONS, bbox_from_box, box_from_bbox, detections_from_msg
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
    "DiagnosticRules",
    "bbox_from_box",
    "box_from_bbox",
    "compressed_to_rgb",
    "depth_from_image",
    "detection3d_array",
    "detections_from_msg",
    "diagnostic_array",
    "image_to_numpy",
    "intrinsics_from_camera_info",
    "marker_array",
    "numpy_to_image",
    "object_frame_id",
    "pose_from_Rt",
    "rgb_from_image",
    "tf_message",
    "transform_from_Rt",
]

#: lazily imported name -> its module (relative to this package).
_LAZY = {
    "detection3d_array": "detection3d",
    "DiagnosticRules": "diagnostics",
    "diagnostic_array": "diagnostics",
    "marker_array": "markers",
    "object_frame_id": "tf",
    "pose_from_Rt": "poses",
    "tf_message": "tf",
    "transform_from_Rt": "poses",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
