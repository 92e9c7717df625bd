"""``sensor_msgs/CameraInfo`` -> :class:`~ros_pose_estimation.core.camera.Intrinsics`.

Parse once per camera (or when the message changes) and pass the typed intrinsics around.
Duck-typed on ``k``, ``p``, ``d``, ``width``, ``height``, ``distortion_model`` (and, when
present, ``binning_x``/``binning_y``/``roi``), so rclpy and rosbags messages both work.
"""

from __future__ import annotations

import numpy as np

from ros_pose_estimation.core.camera import Intrinsics
from ros_pose_estimation.core.errors import IntrinsicsError


def _check_binning_roi(msg) -> None:
    binning = (int(getattr(msg, "binning_x", 0)), int(getattr(msg, "binning_y", 0)))
    if any(b > 1 for b in binning):
        raise IntrinsicsError(
            f"camera_info binning must be 0 or 1 (unsupported), got {binning[0]} x {binning[1]}"
        )
    roi = getattr(msg, "roi", None)
    if roi is None:
        return
    full = (int(roi.width), int(roi.height)) in ((0, 0), (int(msg.width), int(msg.height)))
    if not full or int(roi.x_offset) or int(roi.y_offset):
        raise IntrinsicsError(
            "camera_info roi must be unset or the full image (unsupported), got "
            f"x_offset={roi.x_offset}, y_offset={roi.y_offset}, {roi.width} x {roi.height}"
        )


def intrinsics_from_camera_info(msg) -> Intrinsics:
    """Intrinsics of a ``CameraInfo``: ``P[:3, :3]`` (rectified camera) when P is set, else K.

    Non-zero distortion emits ``DistortionWarning`` (the project assumes rectified images).

    Raises:
        IntrinsicsError: all-zero K (uncalibrated camera), NaN or infinite values in K or P,
            wrong K/P lengths, zero focal length, bad size, binning or a partial ROI.
    """
    k = np.asarray(msg.k, dtype=np.float64).reshape(-1)
    if k.size == 9 and not np.any(k):
        raise IntrinsicsError("camera_info has an all-zero K: is the camera calibrated?")
    p = getattr(msg, "p", None)
    for name, values in (("K", k), ("P", p)):
        if values is not None and not np.all(np.isfinite(np.asarray(values, np.float64))):
            raise IntrinsicsError(f"camera_info {name} has NaN or infinite values: "
                                  f"{np.asarray(values, np.float64).tolist()}")  # fmt: skip
    _check_binning_roi(msg)
    return Intrinsics.from_camera_info_fields(
        k,
        int(msg.width),
        int(msg.height),
        p=None if p is None else np.asarray(p, dtype=np.float64),
        distortion_model=str(getattr(msg, "distortion_model", "")),
        d=np.asarray(getattr(msg, "d", ()), dtype=np.float64),
    )
