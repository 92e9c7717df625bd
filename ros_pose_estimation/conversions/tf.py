"""Tracked poses -> ``tf2_msgs/TFMessage``, exactly what ``tf2_ros.TransformBroadcaster``
publishes on ``/tf`` (its ``sendTransform`` wraps the ``TransformStamped`` list in one
``TFMessage``), so the node can publish it itself or hand ``msg.transforms`` to a broadcaster.

Per tracked pose, one ``geometry_msgs/TransformStamped``:

* ``header.frame_id`` = the image's frame (the camera's optical frame), ``header.stamp`` = the
  image stamp (never ``now()``: TF look-ups at the image time must find it);
* ``child_frame_id`` = ``<prefix><category>_<track_id>`` (:func:`object_frame_id`): stable for
  as long as the track lives, never numbered by order in the frame;
* ``transform`` = the object's canonical frame in the camera frame (``x_c = R x_m + t``).

Poses without a track (``track_id < 1``: low score, out-of-order frame) get no transform: their
frame name would not be stable.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ros_pose_estimation.conversions.poses import pose_msgs, require_frame_id
from ros_pose_estimation.core.errors import ConfigError


def check_prefix(prefix: str) -> str:
    """``prefix`` if usable in a TF frame id, else :class:`ConfigError` saying why."""
    return check_frame_id("tf_prefix", prefix)


def check_frame_id(name: str, frame: str) -> str:
    """``frame`` if usable in a tf2 frame id (no leading ``/``, no whitespace; empty is
    allowed), else :class:`ConfigError` naming the parameter ``name``."""
    if not isinstance(frame, str):
        raise ConfigError(f"{name}: expected a string, got {frame!r}")
    if frame.startswith("/"):
        raise ConfigError(f"{name}: tf2 frame ids must not start with '/', got {frame!r}")
    if any(ch.isspace() for ch in frame):
        raise ConfigError(f"{name}: expected no whitespace, got {frame!r}")
    return frame


def object_frame_id(prefix: str, category: str, track_id: int) -> str:
    """``<prefix><category>_<track_id>``, e.g. ``obj/mug_3``."""
    return f"{check_prefix(prefix)}{category}_{int(track_id)}"


def tf_message(header, poses: Sequence[Any], prefix: str = ""):
    """One ``TransformStamped`` per tracked pose -> ``tf2_msgs.msg.TFMessage``.

    Args:
        header: the source image's ``std_msgs/Header``.
        poses: :class:`~ros_pose_estimation.pipeline.tracks.TrackedPose` (or alike).
        prefix: prepended to every child frame id (e.g. ``"obj/"``; no leading ``/``).

    Raises:
        InputError: empty ``header.frame_id`` or a pose with wrong shapes / non-finite values.
        ConfigError: a prefix with a leading ``/`` or whitespace.
    """
    from geometry_msgs.msg import TransformStamped
    from tf2_msgs.msg import TFMessage

    frame = require_frame_id(header, "/tf")
    check_prefix(prefix)
    tracked = [p for p in poses if int(p.track_id) >= 1]
    transforms = []
    if tracked:
        for pose, msg in zip(tracked, pose_msgs(tracked), strict=True):
            ts = TransformStamped()
            ts.header.stamp = header.stamp
            ts.header.frame_id = frame
            ts.child_frame_id = object_frame_id(prefix, pose.category, pose.track_id)
            tr, rot = ts.transform.translation, ts.transform.rotation
            tr.x, tr.y, tr.z = msg.position.x, msg.position.y, msg.position.z
            rot.x, rot.y, rot.z, rot.w = (
                msg.orientation.x,
                msg.orientation.y,
                msg.orientation.z,
                msg.orientation.w,
            )
            transforms.append(ts)
    return TFMessage(transforms=transforms)
