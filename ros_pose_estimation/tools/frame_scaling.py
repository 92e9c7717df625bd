"""A recorded frame at another camera resolution: image, depth, CameraInfo and boxes together.

For benchmarks and tests of the node at camera resolutions (320x240, 640x480, 1280x720) from
the demo bag's 320x240 frames. The image is scaled by one factor ``s`` (aspect kept) and
centred on a canvas of the target size, black (depth 0 = invalid) around it, so the frame stays
a true pinhole image: with pixel centres at integer coordinates
(:mod:`ros_pose_estimation.core.conventions`) a point at ``u`` moves to
``s * (u + 0.5) - 0.5 + pad_x``; ``fx``/``fy`` scale by ``s``, ``cx``/``cy`` move like a point,
box sizes scale by ``s``. Poses do not change.

Messages are rclpy's (``sensor_msgs/Image`` rgb8/bgr8/mono8/16UC1/32FC1, ``CameraInfo``,
``vision_msgs/Detection2DArray``); the inputs are not modified (scaled copies are returned).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from ros_pose_estimation.core.errors import InputError

__all__ = ["Scaling", "scale_camera_info", "scale_detections", "scale_frame", "scale_image",
           "scaling_for"]  # fmt: skip


@dataclass(frozen=True)
class Scaling:
    """``u' = scale * (u + 0.5) - 0.5 + pad_x`` (same for v with ``pad_y``), onto a
    ``width x height`` canvas (pixels)."""

    scale: float
    pad_x: int
    pad_y: int
    width: int
    height: int

    def u(self, u: float) -> float:
        return self.scale * (u + 0.5) - 0.5 + self.pad_x

    def v(self, v: float) -> float:
        return self.scale * (v + 0.5) - 0.5 + self.pad_y


def scaling_for(width: int, height: int, new_width: int, new_height: int) -> Scaling:
    """The largest aspect-keeping scale of a ``width x height`` image that fits
    ``new_width x new_height``, centred (integer padding)."""
    if min(width, height, new_width, new_height) <= 0:
        raise InputError(f"image sizes must be positive, got {width}x{height} -> "
                         f"{new_width}x{new_height}")  # fmt: skip
    scale = min(new_width / width, new_height / height)
    inner_w, inner_h = round(width * scale), round(height * scale)
    return Scaling(scale, (new_width - inner_w) // 2, (new_height - inner_h) // 2, new_width,
                   new_height)  # fmt: skip


def scale_image(msg, scaling: Scaling, nearest: bool = False):
    """A scaled, padded copy of a ``sensor_msgs/Image`` (same encoding and header);
    ``nearest`` for depth and label images (no blending across edges)."""
    import cv2

    from ros_pose_estimation.conversions import image_to_numpy, numpy_to_image

    array, encoding = image_to_numpy(msg)
    inner = (round(msg.width * scaling.scale), round(msg.height * scaling.scale))
    interp = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    resized = cv2.resize(np.ascontiguousarray(array), inner, interpolation=interp)
    canvas = np.zeros((scaling.height, scaling.width) + array.shape[2:], dtype=array.dtype)
    canvas[scaling.pad_y: scaling.pad_y + inner[1], scaling.pad_x: scaling.pad_x + inner[0]] = (
        resized.reshape(inner[1], inner[0], *array.shape[2:]))  # fmt: skip
    return numpy_to_image(canvas, encoding, copy.deepcopy(msg.header))


def scale_camera_info(info, scaling: Scaling):
    """A copy of ``CameraInfo`` for the scaled image: K and P focal lengths times ``scale``,
    principal points moved like a pixel; width, height of the canvas."""
    out = copy.deepcopy(info)
    k = np.asarray(info.k, dtype=np.float64).reshape(3, 3).copy()
    k[0, 0] *= scaling.scale
    k[1, 1] *= scaling.scale
    k[0, 2], k[1, 2] = scaling.u(k[0, 2]), scaling.v(k[1, 2])
    out.k = k.reshape(-1).tolist()
    p = np.asarray(info.p, dtype=np.float64).reshape(3, 4).copy()
    if p[0, 0] != 0.0:
        p[0, 0] *= scaling.scale
        p[1, 1] *= scaling.scale
        p[0, 2], p[1, 2] = scaling.u(p[0, 2]), scaling.v(p[1, 2])
        p[0, 3] *= scaling.scale  # Tx = -fx' * baseline
        p[1, 3] *= scaling.scale
    out.p = p.reshape(-1).tolist()
    out.width, out.height = scaling.width, scaling.height
    return out


def scale_detections(dets, scaling: Scaling):
    """A copy of a ``Detection2DArray`` with box centres moved and sizes scaled."""
    out = copy.deepcopy(dets)
    for det in out.detections:
        centre = det.bbox.center.position
        centre.x, centre.y = scaling.u(centre.x), scaling.v(centre.y)
        det.bbox.size_x *= scaling.scale
        det.bbox.size_y *= scaling.scale
    return out


def scale_frame(width: int, height: int, image, info, dets, depth=None):
    """``(image, info, dets, depth)`` of one frame at ``width x height`` (depth None when not
    given); see the module docstring."""
    scaling = scaling_for(image.width, image.height, width, height)
    return (scale_image(image, scaling), scale_camera_info(info, scaling),
            scale_detections(dets, scaling),
            None if depth is None else scale_image(depth, scaling, nearest=True))  # fmt: skip
