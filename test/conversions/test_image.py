"""Image conversions: round trips over encodings with rosbags and rclpy messages, step padding,
big-endian data, depth validity, wrong encodings/sizes, compressed images."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import numpy as np
import pytest

from ros_pose_estimation.conversions.image import (
    IMAGE_ENCODINGS,
    compressed_to_rgb,
    depth_from_image,
    image_to_numpy,
    numpy_to_image,
    rgb_from_image,
)
from ros_pose_estimation.core.errors import EncodingError, InputError


def _ros_image():
    try:
        from sensor_msgs.msg import Image
    except ImportError as exc:
        pytest.skip(f"sensor_msgs (rclpy) not importable: {exc}")
    return Image


def _sample(encoding: str, h: int = 3, w: int = 5) -> np.ndarray:
    dtype, channels = IMAGE_ENCODINGS[encoding]
    shape = (h, w) if channels == 1 else (h, w, channels)
    values = np.arange(int(np.prod(shape))).reshape(shape)
    if dtype == np.uint16:
        return (values * 997 % 65536).astype(np.uint16)
    if dtype == np.float32:
        return (values * 0.25 + 0.125).astype(np.float32)
    return (values * 7 % 256).astype(np.uint8)


def _bag_image(array, encoding, step=None, bigendian=False, data=None):
    """rosbags ``sensor_msgs/Image`` built field by field (rows padded to ``step``)."""
    from offline_training.ros_types import typestore

    types = typestore().types
    h, w = array.shape[:2]
    dtype = array.dtype.newbyteorder(">" if bigendian else "<")
    raw = np.ascontiguousarray(array, dtype=dtype).view(np.uint8).reshape(h, -1)
    step = raw.shape[1] if step is None else step
    padded = np.full((h, step), 0xAB, dtype=np.uint8)
    padded[:, : raw.shape[1]] = raw
    header = types["std_msgs/msg/Header"](
        stamp=types["builtin_interfaces/msg/Time"](sec=1, nanosec=2), frame_id="cam"
    )
    return types["sensor_msgs/msg/Image"](
        header=header,
        height=h,
        width=w,
        encoding=encoding,
        is_bigendian=int(bigendian),
        step=step,
        data=padded.reshape(-1) if data is None else data,
    )


@pytest.mark.parametrize("encoding", list(IMAGE_ENCODINGS))
@pytest.mark.parametrize("bigendian", [False, True])
@pytest.mark.parametrize("pad", [0, 3])
def test_rosbags_round_trip_with_padding_and_endianness(encoding, bigendian, pad):
    array = _sample(encoding)
    row = array.strides[0]
    msg = _bag_image(array, encoding, step=row + pad, bigendian=bigendian)
    out, enc = image_to_numpy(msg)
    assert enc == encoding
    assert out.dtype == array.dtype and out.dtype.isnative
    np.testing.assert_array_equal(out, array)
    out[...] = 0  # a copy, never a view of the message buffer
    assert image_to_numpy(msg)[0].any()


@pytest.mark.ros
@pytest.mark.parametrize("encoding", list(IMAGE_ENCODINGS))
def test_rclpy_round_trip(encoding):
    image_cls = _ros_image()
    from std_msgs.msg import Header

    array = _sample(encoding, h=4, w=6)
    header = Header(frame_id="camera_optical_frame")
    header.stamp.sec, header.stamp.nanosec = 12, 345
    msg = numpy_to_image(array, encoding, header=header)
    assert isinstance(msg, image_cls)
    assert msg.header.frame_id == "camera_optical_frame" and msg.header.stamp.nanosec == 345
    assert msg.is_bigendian == 0 and msg.step == array.strides[0]
    out, enc = image_to_numpy(msg)
    assert enc == encoding
    np.testing.assert_array_equal(out, array)


@pytest.mark.ros
def test_rclpy_message_with_padding_and_big_endian():
    image_cls = _ros_image()
    depth = _sample("16UC1")
    bag = _bag_image(depth, "16UC1", step=depth.strides[0] + 2, bigendian=True)
    msg = image_cls(
        height=bag.height,
        width=bag.width,
        encoding="16UC1",
        is_bigendian=1,
        step=bag.step,
        data=bag.data.tobytes(),
    )
    np.testing.assert_allclose(depth_from_image(msg), depth * 1e-3, rtol=1e-6)


@pytest.mark.ros
def test_numpy_to_image_rejects_wrong_dtype_and_shape():
    _ros_image()
    with pytest.raises(InputError, match=r"expected \[H x W\] uint16, got \(2, 2\) float32"):
        numpy_to_image(np.zeros((2, 2), np.float32), "16UC1")
    with pytest.raises(InputError, match=r"expected \[H x W x 3\] uint8"):
        numpy_to_image(np.zeros((2, 2, 4), np.uint8), "rgb8")
    with pytest.raises(EncodingError, match="supported: rgb8"):
        numpy_to_image(np.zeros((2, 2), np.uint8), "yuv422")


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [
        ("rgb8", lambda a: a),
        ("bgr8", lambda a: a[:, :, ::-1]),
        ("rgba8", lambda a: a[:, :, :3]),
        ("bgra8", lambda a: a[:, :, 2::-1]),
        ("mono8", lambda a: np.repeat(a[:, :, None], 3, axis=2)),
    ],
)
def test_rgb_from_image(encoding, expected):
    array = _sample(encoding)
    rgb = rgb_from_image(_bag_image(array, encoding, step=array.strides[0] + 1))
    assert rgb.shape == (3, 5, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb, expected(array))


def test_depth_16uc1_millimetres_zero_invalid():
    mm = np.array([[0, 1, 1500], [65535, 2, 0]], dtype=np.uint16)
    depth = depth_from_image(_bag_image(mm, "16UC1"))
    assert depth.dtype == np.float32
    np.testing.assert_allclose(depth, [[0, 0.001, 1.5], [65.535, 0.002, 0]], rtol=1e-6)


def test_depth_32fc1_nan_inf_negative_become_zero():
    m = np.array([[np.nan, np.inf, -np.inf], [-1.0, 0.0, 2.5]], dtype=np.float32)
    depth = depth_from_image(_bag_image(m, "32FC1", bigendian=True))
    np.testing.assert_array_equal(depth, [[0, 0, 0], [0, 0, 2.5]])


def test_wrong_image_kind_on_topic():
    rgb = _bag_image(_sample("rgb8"), "rgb8")
    depth = _bag_image(_sample("16UC1"), "16UC1")
    with pytest.raises(EncodingError, match=r"expected a depth image \(16UC1, mono16, 32FC1\)"):
        depth_from_image(rgb)
    with pytest.raises(EncodingError, match=r"expected a colour image .* depth encoding '16UC1'"):
        rgb_from_image(depth)


def test_unsupported_encoding_names_supported_ones():
    msg = SimpleNamespace(height=1, width=1, encoding="yuv422", is_bigendian=0, step=2, data=b"ab")
    with pytest.raises(EncodingError, match="encoding 'yuv422'; supported: rgb8"):
        image_to_numpy(msg)


def test_wrong_data_length_step_and_zero_size():
    array = _sample("rgb8")
    short = _bag_image(array, "rgb8", data=np.zeros(44, np.uint8))
    with pytest.raises(InputError, match=r"expected step \* height = 15 \* 3 = 45 bytes.*got 44"):
        image_to_numpy(short)
    bad_step = _bag_image(array, "rgb8")
    bad_step.step = 14
    with pytest.raises(InputError, match=r"step must be >= .* = 15, got 14"):
        image_to_numpy(bad_step)
    empty = SimpleNamespace(height=0, width=4, encoding="mono8", is_bigendian=0, step=4, data=b"")
    with pytest.raises(InputError, match="expected a non-empty image, got 4 x 0"):
        image_to_numpy(empty)


def test_plain_python_data_types():
    """``data`` as bytes, list or array.array (what rclpy holds) all decode."""
    import array as pyarray

    values = [1, 2, 3, 4]
    for data in (bytes(values), values, pyarray.array("B", values)):
        msg = SimpleNamespace(
            height=2, width=2, encoding="mono8", is_bigendian=0, step=2, data=data
        )
        np.testing.assert_array_equal(image_to_numpy(msg)[0], [[1, 2], [3, 4]])


@pytest.mark.parametrize("fmt", ["png", "rgb8; png compressed bgr8", "bgr8; png compressed"])
def test_compressed_png_round_trip(fmt):
    cv2 = pytest.importorskip("cv2")
    rgb = _sample("rgb8", h=6, w=7)
    ok, buf = cv2.imencode(".png", rgb[:, :, ::-1])
    assert ok
    msg = SimpleNamespace(format=fmt, data=buf.reshape(-1))
    np.testing.assert_array_equal(compressed_to_rgb(msg), rgb)


def test_compressed_jpeg_and_errors():
    cv2 = pytest.importorskip("cv2")
    rgb = np.zeros((16, 16, 3), np.uint8)
    rgb[..., 0] = 200  # red
    ok, buf = cv2.imencode(".jpg", rgb[:, :, ::-1])
    out = compressed_to_rgb(SimpleNamespace(format="jpeg", data=buf.tobytes()))
    assert out.shape == (16, 16, 3) and abs(int(out[8, 8, 0]) - 200) <= 3 and out[8, 8, 2] < 10
    with pytest.raises(EncodingError, match="compressedDepth"):
        compressed_to_rgb(SimpleNamespace(format="16UC1; compressedDepth", data=buf.tobytes()))
    with pytest.raises(EncodingError, match="expected JPEG or PNG"):
        compressed_to_rgb(SimpleNamespace(format="jpeg", data=b"not an image"))
    with pytest.raises(InputError, match="got 0 bytes"):
        compressed_to_rgb(SimpleNamespace(format="jpeg", data=b""))


def test_conversions_do_not_import_rclpy():
    import subprocess

    code = (
        "import sys, ros_pose_estimation.conversions, ros_pose_estimation.node.time_sync;"
        "print('rclpy' in sys.modules, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
