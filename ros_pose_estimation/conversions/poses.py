"""Poses, stamps and frame ids -> ``geometry_msgs`` / ``builtin_interfaces`` messages.

Shared by the output builders (:mod:`.detection3d`, :mod:`.tf`, :mod:`.markers`,
:mod:`.diagnostics`). Rotations become quaternions **(x, y, z, w)** with ``w >= 0``
(:func:`ros_pose_estimation.core.rotations.matrix_to_quat`); translations stay in metres.
The message classes are imported inside the functions, so importing this module needs no ROS.
"""

from __future__ import annotations

import math

import numpy as np

from ros_pose_estimation.core.errors import InputError, check_finite, check_shape
from ros_pose_estimation.core.rotations import matrix_to_quat


def _rt(rotation, translation) -> tuple[np.ndarray, np.ndarray]:
    rot = np.asarray(rotation, dtype=np.float64)
    trans = np.asarray(translation, dtype=np.float64)
    check_shape("R", rot, (3, 3))
    check_shape("t", trans, (3,))
    check_finite("R", rot)
    check_finite("t", trans)
    return rot, trans


def pose_from_Rt(rotation, translation):
    """``R`` ``[3 x 3]`` and ``t`` ``[3]`` (m) -> ``geometry_msgs.msg.Pose``."""
    from geometry_msgs.msg import Pose

    rot, trans = _rt(rotation, translation)
    pose = Pose()
    pose.position.x, pose.position.y, pose.position.z = (float(v) for v in trans)
    q = matrix_to_quat(rot)
    o = pose.orientation
    o.x, o.y, o.z, o.w = (float(v) for v in q)
    return pose


def transform_from_Rt(rotation, translation):
    """``R`` ``[3 x 3]`` and ``t`` ``[3]`` (m) -> ``geometry_msgs.msg.Transform``."""
    from geometry_msgs.msg import Transform

    rot, trans = _rt(rotation, translation)
    tf = Transform()
    tf.translation.x, tf.translation.y, tf.translation.z = (float(v) for v in trans)
    r = tf.rotation
    r.x, r.y, r.z, r.w = (float(v) for v in matrix_to_quat(rot))
    return tf


def poses_from_Rt(rotations, translations) -> list:
    """``[N x 3 x 3]`` and ``[N x 3]`` (m) -> N ``geometry_msgs.msg.Pose`` (one quaternion
    conversion for the batch)."""
    from geometry_msgs.msg import Pose

    rots = np.asarray(rotations, dtype=np.float64).reshape(-1, 3, 3)
    trans = np.asarray(translations, dtype=np.float64).reshape(-1, 3)
    check_shape("t", trans, (len(rots), 3))
    check_finite("R", rots)
    check_finite("t", trans)
    quats = matrix_to_quat(rots).tolist() if len(rots) else []
    out = []
    for (qx, qy, qz, qw), (x, y, z) in zip(quats, trans.tolist(), strict=True):
        pose = Pose()
        pose.position.x, pose.position.y, pose.position.z = x, y, z
        o = pose.orientation
        o.x, o.y, o.z, o.w = qx, qy, qz, qw
        out.append(pose)
    return out


def pose_msgs(poses) -> list:
    """``geometry_msgs/Pose`` of objects with ``R`` ``[3 x 3]`` and ``t`` ``[3]`` (m) (e.g.
    ``TrackedPose``), converted as one batch; :class:`InputError` names a malformed one."""
    rots, trans = [], []
    for i, pose in enumerate(poses):
        rots.append(np.asarray(pose.R, dtype=np.float64))
        trans.append(np.asarray(pose.t, dtype=np.float64))
        check_shape(f"poses[{i}].R", rots[-1], (3, 3))
        check_shape(f"poses[{i}].t", trans[-1], (3,))
    return poses_from_Rt(np.stack(rots), np.stack(trans)) if rots else []


def stamp_to_ns(stamp) -> int:
    """A ``builtin_interfaces/Time`` (``sec``, ``nanosec``) or an int of ns -> int ns."""
    if isinstance(stamp, (int, np.integer)) and not isinstance(stamp, bool):
        return int(stamp)
    try:
        return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)
    except AttributeError:
        raise InputError(
            f"stamp: expected builtin_interfaces/Time or int nanoseconds, got {type(stamp)}"
        ) from None


def time_msg(stamp):
    """``builtin_interfaces.msg.Time`` of an int (ns >= 0) or a copy of a ``Time``."""
    from builtin_interfaces.msg import Time

    ns = stamp_to_ns(stamp)
    if ns < 0:
        raise InputError(f"stamp: expected a time >= 0, got {ns} ns")
    return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def duration_msg(seconds: float):
    """``builtin_interfaces.msg.Duration`` of ``seconds`` (finite, >= 0)."""
    from builtin_interfaces.msg import Duration

    value = float(seconds)
    if not math.isfinite(value) or value < 0:
        raise InputError(f"duration: expected a finite time >= 0 (s), got {seconds}")
    ns = round(value * 1e9)
    return Duration(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def require_frame_id(header, what: str) -> str:
    """The header's ``frame_id``; :class:`InputError` when it is empty (no frame to publish
    ``what`` in: set the camera driver's frame id)."""
    frame = str(header.frame_id)
    if not frame:
        raise InputError(
            f"{what}: the image header has an empty frame_id; set the camera driver's "
            "frame_id (the camera's optical frame)"
        )
    return frame
