"""Tracked poses -> ``vision_msgs/Detection3DArray`` (the node's ``~/detections``).

Per pose (duck-typed on :class:`ros_pose_estimation.pipeline.tracks.TrackedPose`: ``category``,
``track_id``, ``R``, ``t``, ``size``, ``score``, ``covariance``), one ``Detection3D``:

* ``header``: the image's header (its stamp and optical frame), also on the array;
* ``id``: ``str(track_id)``, stable across frames; ``""`` (vision_msgs: "may be empty") for a
  pose without a track (``track_id < 1``);
* ``results``: one ``ObjectHypothesisWithPose``: ``hypothesis.class_id`` = category,
  ``hypothesis.score`` = the estimate's score in [0, 1] (``PoseEstimate.score``),
  ``pose.pose`` = the object's canonical frame in the camera frame (quaternion x, y, z, w);
* ``pose.covariance``: the 6x6 matrix row-major (x, y, z, rotation about x, y, z; m^2,
  rad^2), as ``geometry_msgs/PoseWithCovariance`` defines it. ``geometry_msgs`` defines no
  "unknown" value; like ``sensor_msgs/Imu`` ("a covariance matrix of all zeros will be
  interpreted as covariance unknown") an unknown covariance is **all zeros**;
* ``bbox``: ``center`` = the pose (the box is aligned with the object's model axes, centred on
  the canonical origin, i.e. the bounding-box centre), ``size`` = estimated extents (m).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np

from ros_pose_estimation.conversions.poses import pose_from_Rt, pose_msgs, require_frame_id
from ros_pose_estimation.core.errors import check_finite, check_shape


def covariance_field(covariance) -> list[float]:
    """``[6 x 6]`` covariance (or None) -> the 36 row-major floats (all zeros when unknown)."""
    if covariance is None:
        return [0.0] * 36
    cov = np.asarray(covariance, dtype=np.float64)
    check_shape("covariance", cov, (6, 6))
    check_finite("covariance", cov)
    return [float(v) for v in cov.reshape(-1)]


def detection3d(header, pose: Any, pose_msg=None):
    """One tracked pose -> ``vision_msgs.msg.Detection3D`` (fields: module docstring).

    ``pose_msg``: the pose's ``geometry_msgs/Pose`` when already converted (None: here)."""
    from vision_msgs.msg import Detection3D, ObjectHypothesisWithPose

    size = np.asarray(pose.size, dtype=np.float64)
    check_shape("size", size, (3,))
    check_finite("size", size)
    det = Detection3D()
    det.header = header
    det.id = str(int(pose.track_id)) if int(pose.track_id) >= 1 else ""
    hyp = ObjectHypothesisWithPose()
    hyp.hypothesis.class_id = str(pose.category)
    hyp.hypothesis.score = float(pose.score)
    hyp.pose.pose = pose_from_Rt(pose.R, pose.t) if pose_msg is None else pose_msg
    hyp.pose.covariance = covariance_field(pose.covariance)
    det.results = [hyp]
    det.bbox.center = copy.deepcopy(hyp.pose.pose)
    det.bbox.size.x, det.bbox.size.y, det.bbox.size.z = (float(v) for v in size)
    return det


def detection3d_array(header, poses: Sequence[Any]):
    """Tracked poses of one image -> ``vision_msgs.msg.Detection3DArray``.

    Args:
        header: the source image's ``std_msgs/Header`` (never ``now()``).
        poses: :class:`~ros_pose_estimation.pipeline.tracks.TrackedPose` (or alike), in output
            order.

    Raises:
        InputError: empty ``header.frame_id``, or a pose with wrong shapes / non-finite values.
    """
    from vision_msgs.msg import Detection3DArray

    require_frame_id(header, "~/detections")
    msg = Detection3DArray()
    msg.header = header
    poses = list(poses)
    msgs = pose_msgs(poses)
    msg.detections = [detection3d(header, p, m) for p, m in zip(poses, msgs, strict=True)]
    return msg
