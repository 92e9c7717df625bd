"""Build ROS 2 messages as ``rosbags`` dataclasses (no ROS install needed).

Every builder takes plain arrays in the project's conventions (``core.conventions``) and returns
an instance of the typestore's class for that message type; :func:`serialize` turns it into CDR
bytes for a rosbag2 writer. Stamps are integer nanoseconds.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from offline_training.ros_types import typestore

_NS = 1_000_000_000


def _cls(name: str):
    return typestore().types[name]


def header(stamp_ns: int, frame_id: str):
    """``std_msgs/Header`` at ``stamp_ns`` nanoseconds in ``frame_id``."""
    time = _cls("builtin_interfaces/msg/Time")(
        sec=int(stamp_ns // _NS), nanosec=int(stamp_ns % _NS)
    )
    return _cls("std_msgs/msg/Header")(stamp=time, frame_id=frame_id)


def image(array: np.ndarray, encoding: str, stamp_ns: int, frame_id: str):
    """``sensor_msgs/Image`` from ``[H x W x 3]`` uint8 (rgb8), ``[H x W]`` uint16 (16UC1, mm)
    or ``[H x W]`` float32 (32FC1, m)."""
    expected = {
        "rgb8": (np.uint8, 3),
        "bgr8": (np.uint8, 3),
        "mono8": (np.uint8, 1),
        "16UC1": (np.uint16, 1),
        "32FC1": (np.float32, 1),
    }
    if encoding not in expected:
        raise ValueError(f"unsupported encoding {encoding!r}; supported: {sorted(expected)}")
    dtype, channels = expected[encoding]
    arr = np.ascontiguousarray(array)
    if (
        arr.dtype != dtype
        or (arr.ndim == 3 and arr.shape[2] != channels)
        or (channels == 1 and arr.ndim != 2)
    ):
        raise ValueError(
            f"{encoding} needs [H x W{' x 3' if channels == 3 else ''}] {np.dtype(dtype).name}, "
            f"got {arr.shape} {arr.dtype}"
        )
    height, width = arr.shape[:2]
    return _cls("sensor_msgs/msg/Image")(
        header=header(stamp_ns, frame_id),
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=0,
        step=int(arr.strides[0]),
        data=arr.reshape(-1).view(np.uint8),
    )


def camera_info(k: np.ndarray, width: int, height: int, stamp_ns: int, frame_id: str):
    """``sensor_msgs/CameraInfo`` of an ideal (rectified, distortion-free) pinhole camera."""
    k = np.asarray(k, dtype=np.float64).reshape(3, 3)
    p = np.zeros((3, 4))
    p[:, :3] = k
    roi = _cls("sensor_msgs/msg/RegionOfInterest")(
        x_offset=0, y_offset=0, height=0, width=0, do_rectify=False
    )
    return _cls("sensor_msgs/msg/CameraInfo")(
        header=header(stamp_ns, frame_id),
        height=int(height),
        width=int(width),
        distortion_model="plumb_bob",
        d=np.zeros(5),
        k=k.reshape(-1),
        r=np.eye(3).reshape(-1),
        p=p.reshape(-1),
        binning_x=0,
        binning_y=0,
        roi=roi,
    )


def _pose(transform: np.ndarray):
    x, y, z, w = Rotation.from_matrix(transform[:3, :3]).as_quat()  # scipy order: x, y, z, w
    point = _cls("geometry_msgs/msg/Point")(
        x=float(transform[0, 3]), y=float(transform[1, 3]), z=float(transform[2, 3])
    )
    quat = _cls("geometry_msgs/msg/Quaternion")(x=float(x), y=float(y), z=float(z), w=float(w))
    return _cls("geometry_msgs/msg/Pose")(position=point, orientation=quat)


def tf_message(transforms: list[tuple[str, str, np.ndarray]], stamp_ns: int):
    """``tf2_msgs/TFMessage`` from ``(parent, child, [4 x 4] T_parent_child)`` triples."""
    stamped = []
    for parent, child, t in transforms:
        pose = _pose(np.asarray(t, dtype=np.float64))
        trans = _cls("geometry_msgs/msg/Vector3")(
            x=pose.position.x, y=pose.position.y, z=pose.position.z
        )
        stamped.append(
            _cls("geometry_msgs/msg/TransformStamped")(
                header=header(stamp_ns, parent),
                child_frame_id=child,
                transform=_cls("geometry_msgs/msg/Transform")(
                    translation=trans, rotation=pose.orientation
                ),
            )
        )
    return _cls("tf2_msgs/msg/TFMessage")(transforms=stamped)


def _hypothesis(class_id: str, score: float, transform: np.ndarray | None):
    cov = np.zeros(36)
    pose = _pose(np.eye(4) if transform is None else transform)
    return _cls("vision_msgs/msg/ObjectHypothesisWithPose")(
        hypothesis=_cls("vision_msgs/msg/ObjectHypothesis")(class_id=class_id, score=float(score)),
        pose=_cls("geometry_msgs/msg/PoseWithCovariance")(pose=pose, covariance=cov),
    )


def detection2d_array(
    boxes_xywh: list,
    class_ids: list[str],
    ids: list[str],
    stamp_ns: int,
    frame_id: str,
    scores: list[float] | None = None,
):
    """``vision_msgs/Detection2DArray``; boxes ``(x, y, w, h)`` in pixels (top-left corner).

    The box centre follows the pixel-centre convention: a box covering pixels ``x .. x+w-1``
    has centre ``x + (w - 1) / 2`` and size ``w``.
    """
    scores = [1.0] * len(boxes_xywh) if scores is None else scores
    detections = []
    for (x, y, w, h), cls_id, det_id, score in zip(
        boxes_xywh, class_ids, ids, scores, strict=True
    ):
        point = _cls("vision_msgs/msg/Point2D")(x=float(x + (w - 1) / 2), y=float(y + (h - 1) / 2))
        bbox = _cls("vision_msgs/msg/BoundingBox2D")(
            center=_cls("vision_msgs/msg/Pose2D")(position=point, theta=0.0),
            size_x=float(w),
            size_y=float(h),
        )
        detections.append(
            _cls("vision_msgs/msg/Detection2D")(
                header=header(stamp_ns, frame_id),
                results=[_hypothesis(cls_id, score, None)],
                bbox=bbox,
                id=det_id,
            )
        )
    return _cls("vision_msgs/msg/Detection2DArray")(
        header=header(stamp_ns, frame_id), detections=detections
    )


def detection3d_array(
    poses: list[np.ndarray],
    sizes: list[np.ndarray],
    class_ids: list[str],
    ids: list[str],
    stamp_ns: int,
    frame_id: str,
):
    """``vision_msgs/Detection3DArray``: ``[4 x 4]`` object poses in ``frame_id``, ``[3]`` sizes
    (m) of the object's bounding box in its canonical frame."""
    detections = []
    for t, size, cls_id, det_id in zip(poses, sizes, class_ids, ids, strict=True):
        pose = _pose(np.asarray(t, dtype=np.float64))
        bbox = _cls("vision_msgs/msg/BoundingBox3D")(
            center=pose,
            size=_cls("geometry_msgs/msg/Vector3")(
                x=float(size[0]), y=float(size[1]), z=float(size[2])
            ),
        )
        detections.append(
            _cls("vision_msgs/msg/Detection3D")(
                header=header(stamp_ns, frame_id),
                results=[_hypothesis(cls_id, 1.0, t)],
                bbox=bbox,
                id=det_id,
            )
        )
    return _cls("vision_msgs/msg/Detection3DArray")(
        header=header(stamp_ns, frame_id), detections=detections
    )


def serialize(msg) -> bytes:
    """CDR bytes of a typestore message."""
    return bytes(typestore().serialize_cdr(msg, msg.__msgtype__))
