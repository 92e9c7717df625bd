"""``sensor_msgs/Image`` and ``CompressedImage`` <-> numpy, in the project's conventions.

Readers are duck-typed on the message fields (``height``, ``width``, ``encoding``,
``is_bigendian``, ``step``, ``data``), so rclpy messages and ``rosbags`` dataclasses both work.
They honour ``step`` (rows padded beyond ``width * channels * itemsize``) and
``is_bigendian`` (16-bit and float data), and always return a fresh native-order array that
does not alias the message's buffer.

Supported encodings (:data:`IMAGE_ENCODINGS`): colour ``rgb8``, ``bgr8``, ``rgba8``, ``bgra8``,
``mono8`` (uint8) and depth ``16UC1`` / ``mono16`` (uint16 mm), ``32FC1`` (float32 m); units and
invalid-depth rules are in :mod:`ros_pose_estimation.core.conventions`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

import numpy as np

from ros_pose_estimation.core.conventions import (
    COLOR_ENCODINGS,
    DEPTH_ENCODINGS,
    color_to_rgb8,
    depth_to_metres,
)
from ros_pose_estimation.core.errors import EncodingError, InputError, check_shape

#: encoding -> (numpy dtype, channels) of every encoding the project reads and writes.
IMAGE_ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    **{enc: (np.dtype(np.uint8), ch) for enc, ch in COLOR_ENCODINGS.items()},
    "16UC1": (np.dtype(np.uint16), 1),
    "mono16": (np.dtype(np.uint16), 1),
    "32FC1": (np.dtype(np.float32), 1),
}


def _layout(encoding: str) -> tuple[np.dtype, int]:
    if encoding not in IMAGE_ENCODINGS:
        raise EncodingError(
            f"unsupported image encoding {encoding!r}; supported: {', '.join(IMAGE_ENCODINGS)}"
        )
    return IMAGE_ENCODINGS[encoding]


def _as_bytes(data) -> np.ndarray:
    """``[N]`` uint8 view of a message's ``data`` (bytes, array.array, numpy array, list)."""
    try:
        return np.frombuffer(data, dtype=np.uint8)
    except (TypeError, ValueError):
        return np.asarray(data, dtype=np.uint8).reshape(-1)


def image_to_numpy(msg) -> tuple[np.ndarray, str]:
    """Decode a ``sensor_msgs/Image`` into a numpy array.

    Args:
        msg: anything with ``height``, ``width``, ``encoding``, ``is_bigendian``, ``step`` and
            ``data`` (rclpy message or rosbags dataclass).

    Returns:
        ``(array, encoding)``: ``[H x W x C]`` (``C`` = 3 or 4) or ``[H x W]`` (mono, depth)
        array of the encoding's dtype in native byte order (a copy), and the encoding string.

    Raises:
        EncodingError: the encoding is not one of :data:`IMAGE_ENCODINGS`.
        InputError: zero height/width, ``step`` shorter than a row, or ``len(data)`` not
            ``step * height``.
    """
    encoding = str(msg.encoding)
    dtype, channels = _layout(encoding)
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise InputError(f"image ({encoding}): expected a non-empty image, got {width} x {height}")
    row_bytes = width * channels * dtype.itemsize
    if step < row_bytes:
        raise InputError(
            f"image ({encoding}, {width} x {height}): step must be >= width * channels * "
            f"itemsize = {width} * {channels} * {dtype.itemsize} = {row_bytes}, got {step}"
        )
    buf = _as_bytes(msg.data)
    if buf.size != step * height:
        raise InputError(
            f"image ({encoding}, {width} x {height}): expected step * height = {step} * {height}"
            f" = {step * height} bytes of data, got {buf.size}"
        )
    rows = np.ascontiguousarray(buf.reshape(height, step)[:, :row_bytes])
    stored = dtype.newbyteorder(">" if msg.is_bigendian else "<")
    shape = (height, width) if channels == 1 else (height, width, channels)
    array = rows.view(stored).reshape(shape).astype(dtype.newbyteorder("="))
    return array, encoding


def rgb_from_image(msg) -> np.ndarray:
    """A colour ``sensor_msgs/Image`` -> ``[H x W x 3]`` uint8 RGB (alpha dropped, mono8
    replicated).

    Raises:
        EncodingError: not a colour encoding (``rgb8``, ``bgr8``, ``rgba8``, ``bgra8``,
            ``mono8``); a depth image on the colour topic gets a message saying so.
    """
    return _decode_kind(msg, ("colour", COLOR_ENCODINGS), ("depth", DEPTH_ENCODINGS),
                        color_to_rgb8)  # fmt: skip


def depth_from_image(msg) -> np.ndarray:
    """A depth ``sensor_msgs/Image`` -> ``[H x W]`` float32 metres, 0 where invalid.

    ``16UC1``/``mono16`` are millimetres (0 invalid); ``32FC1`` metres (0, negative, NaN and
    +-inf become 0).

    Raises:
        EncodingError: not ``16UC1``, ``mono16`` or ``32FC1``.
    """
    return _decode_kind(msg, ("depth", DEPTH_ENCODINGS), ("colour", COLOR_ENCODINGS),
                        depth_to_metres)  # fmt: skip


def _decode_kind(msg, wanted: tuple[str, Collection[str]], other: tuple[str, Collection[str]],
                 convert: Callable[[np.ndarray, str], np.ndarray]) -> np.ndarray:  # fmt: skip
    """Decode ``msg`` if its encoding is of the ``wanted`` kind (``(name, encodings)``), then
    ``convert(array, encoding)``; else EncodingError naming the kind (``other``'s name when the
    encoding is of that kind, e.g. a depth image on the colour topic)."""
    encoding = str(msg.encoding)
    (kind, accepted), (other_kind, others) = wanted, other
    if encoding not in accepted:
        got = f"a {other_kind}" if encoding in others else "an unsupported"
        raise EncodingError(
            f"expected a {kind} image ({', '.join(accepted)}), got {got} encoding {encoding!r}"
        )
    array, encoding = image_to_numpy(msg)
    return convert(array, encoding)


def numpy_to_image(array: np.ndarray, encoding: str, header=None):
    """Build an rclpy ``sensor_msgs.msg.Image`` (little-endian, unpadded rows).

    Args:
        array: ``[H x W x C]`` / ``[H x W]`` array of the encoding's dtype (uint8 colour,
            uint16 ``16UC1``/``mono16``, float32 ``32FC1``); use
            :func:`~ros_pose_estimation.core.conventions.metres_to_depth` for depth in metres.
        encoding: one of :data:`IMAGE_ENCODINGS`.
        header: optional ``std_msgs/Header`` copied into the message (the source image's, so
            stamp and frame stay those of the input).

    Raises:
        EncodingError: unsupported encoding.
        InputError: shape or dtype do not match the encoding, or the image is empty.
    """
    from sensor_msgs.msg import Image

    dtype, channels = _layout(encoding)
    expected = ("H", "W") if channels == 1 else ("H", "W", channels)
    check_shape(f"{encoding} image", array, expected, dtype=dtype)
    height, width = int(array.shape[0]), int(array.shape[1])
    if height == 0 or width == 0:
        raise InputError(f"{encoding} image: expected a non-empty image, got {array.shape}")
    data = np.ascontiguousarray(array, dtype=dtype.newbyteorder("<"))
    msg = Image()
    if header is not None:
        msg.header = header
    msg.height, msg.width, msg.encoding = height, width, encoding
    msg.is_bigendian = 0
    msg.step = width * channels * dtype.itemsize
    msg.data = data.tobytes()
    return msg


def compressed_to_rgb(msg) -> np.ndarray:
    """A ``sensor_msgs/CompressedImage`` (JPEG/PNG, any ``format`` image_transport writes, e.g.
    ``"jpeg"``, ``"png"``, ``"rgb8; jpeg compressed bgr8"``) -> ``[H x W x 3]`` uint8 RGB.

    The bytes are decoded with OpenCV (always to BGR, alpha dropped, grey replicated), so the
    original encoding before ``;`` needs no special handling.

    Raises:
        EncodingError: ``compressedDepth`` (depth) data or a format OpenCV cannot decode.
        InputError: empty data.
    """
    import cv2

    fmt = str(getattr(msg, "format", ""))
    if "compresseddepth" in fmt.replace(" ", "").lower():
        raise EncodingError(
            f"compressed image format {fmt!r} is compressedDepth; expected a colour JPEG or PNG "
            "(subscribe to the raw depth topic instead)"
        )
    buf = _as_bytes(msg.data)
    if buf.size == 0:
        raise InputError(f"compressed image (format {fmt!r}): expected data, got 0 bytes")
    bgr = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if bgr is None:
        raise EncodingError(
            f"could not decode {buf.size} bytes of compressed image (format {fmt!r}); "
            "expected JPEG or PNG data"
        )
    return np.ascontiguousarray(bgr[:, :, ::-1])
