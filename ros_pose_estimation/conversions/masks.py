"""An instance-label mask image -> detections, for pipelines that segment instead of boxing.

The mask is a ``sensor_msgs/Image`` aligned to the colour image, ``mono8`` / ``8UC1`` /
``mono16`` / ``16UC1`` / ``32SC1``, where every pixel holds an instance label: 0 = background,
``k > 0`` = instance ``k`` (the usual output of instance-segmentation nodes). Each label with
at least ``min_pixels`` pixels becomes a :class:`~ros_pose_estimation.core.estimation.Detection`
of ``category`` with its box (the pixels' extent, project pixel-centre convention:
``[x_min - 0.5, y_min - 0.5, x_max + 0.5, y_max + 0.5]``) and its mask; smaller ones are skipped
as ``small_mask``. Detections come in increasing label order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ros_pose_estimation.core.errors import EncodingError, InputError
from ros_pose_estimation.core.estimation import Detection

#: mask encoding -> numpy dtype of a label.
MASK_ENCODINGS = {
    "mono8": np.uint8, "8UC1": np.uint8, "mono16": np.uint16, "16UC1": np.uint16,
    "32SC1": np.int32,
}  # fmt: skip

#: Why a mask instance was skipped.
MASK_SKIP_REASONS = ("small_mask",)


def labels_from_image(msg) -> np.ndarray:
    """``sensor_msgs/Image`` instance-label mask -> ``[H x W]`` int64 labels.

    Raises:
        EncodingError: not one of :data:`MASK_ENCODINGS`.
        InputError: ``data`` / ``step`` inconsistent with the size.
    """
    encoding = str(msg.encoding)
    if encoding not in MASK_ENCODINGS:
        supported = ", ".join(MASK_ENCODINGS)
        raise EncodingError(
            f"mask: expected an instance-label image ({supported}), got encoding {encoding!r}"
        )
    dtype = np.dtype(MASK_ENCODINGS[encoding])
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    raw = np.frombuffer(bytes(msg.data), dtype=np.uint8)
    if height <= 0 or width <= 0 or step < width * dtype.itemsize or raw.size < height * step:
        raise InputError(f"mask: {width}x{height} {encoding} with step {step} does not fit "
                         f"{raw.size} bytes of data")  # fmt: skip
    rows = raw[: height * step].reshape(height, step)[:, : width * dtype.itemsize]
    order = ">" if getattr(msg, "is_bigendian", False) else "<"
    labels = np.ascontiguousarray(rows).view(dtype.newbyteorder(order)).reshape(height, width)
    return labels.astype(np.int64)


def detections_from_labels(
    labels: np.ndarray,
    category: str,
    image_shape: Sequence[int],
    min_pixels: int = 20,
    notes: dict[str, str] | None = None,
):
    """Detections of every instance in ``labels`` (``[H x W]`` ints, 0 = background).

    ``notes``, when given, gets one line per skip reason met (its first instance), for logs.

    Returns:
        ``(detections, skipped)``: one ``Detection(category, box, mask)`` per label with at
        least ``min_pixels`` pixels; ``skipped`` counts :data:`MASK_SKIP_REASONS`.

    Raises:
        InputError: the mask's size differs from the image's.
    """
    if tuple(labels.shape) != tuple(image_shape[:2]):
        raise InputError(f"mask {labels.shape[1]}x{labels.shape[0]} vs image "
                         f"{image_shape[1]}x{image_shape[0]}: expected the mask aligned to the "
                         "image")  # fmt: skip
    skipped = dict.fromkeys(MASK_SKIP_REASONS, 0)
    detections = []
    for label in np.unique(labels):
        if label <= 0:
            continue
        mask = labels == label
        ys, xs = np.nonzero(mask)
        if ys.size < min_pixels:
            skipped["small_mask"] += 1
            if notes is not None:
                notes.setdefault("small_mask", f"mask instance {label}: {ys.size} pixels < "
                                 f"min_mask_pixels {min_pixels}")  # fmt: skip
            continue
        box = np.array([xs.min() - 0.5, ys.min() - 0.5, xs.max() + 0.5, ys.max() + 0.5])
        detections.append(Detection(category, box, mask))
    return detections, skipped
