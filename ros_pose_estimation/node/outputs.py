"""What ``pose_estimation_node`` publishes: its publishers (topics, QoS) and the messages.

* :func:`create_publishers` (on configure): ``~/detections``, ``~/detections_per_frame``,
  ``~/markers``, ``~/debug_image``, ``/diagnostics`` (reliable, depth 5), ``/tf`` (reliable,
  volatile, depth 100) and ``~/label_info`` (reliable, transient local, depth 1), by key.
* :func:`label_info`: the categories and the score threshold, published once on configure.
* :func:`publish_result`: one frame's poses as Detection3DArray (always), TF (``publish_tf``),
  markers and the debug overlay (only computed when someone subscribes). With world-frame
  fusion (``fixed_frame`` set) and the frame fused, ``~/detections``, ``/tf`` and the markers
  carry the fused poses in ``fixed_frame`` (header: the image's stamp, ``fixed_frame``; TF
  parent ``fixed_frame``), the debug image draws them (back in the camera), and
  ``~/detections_per_frame`` carries the per-frame poses in the camera frame (what
  ``~/detections`` carries without fusion). A frame that could not be fused (no transform)
  is published per frame in the camera frame on both topics, without object TF (each object
  frame keeps one parent, ``fixed_frame``).
* :func:`publish_diagnostics`: the node's statistics as a DiagnosticArray.

Functions that take the node or the publishers dict, no state of their own: the node keeps its
publishers (tests swap them for recorders) and reads parameters per frame through ``value``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from tf2_msgs.msg import TFMessage
from vision_msgs.msg import Detection3DArray, LabelInfo, VisionClass
from visualization_msgs.msg import MarkerArray

from ros_pose_estimation import conversions as conv
from ros_pose_estimation.pipeline.world_fusion import in_frame
from ros_pose_estimation.viz.overlay import draw_overlay


def create_publishers(node: Any) -> dict[str, Any]:
    """The node's publishers by key: detections, detections_per_frame, markers, debug, tf,
    diagnostics, label_info."""
    reliable = QoSProfile(depth=5, history=HistoryPolicy.KEEP_LAST,
                          reliability=ReliabilityPolicy.RELIABLE)  # fmt: skip
    return {
        "detections": node.create_publisher(Detection3DArray, "~/detections", reliable),
        "detections_per_frame": node.create_publisher(
            Detection3DArray, "~/detections_per_frame", reliable),
        "markers": node.create_publisher(MarkerArray, "~/markers", reliable),
        "debug": node.create_publisher(Image, "~/debug_image", reliable),
        "tf": node.create_publisher(TFMessage, "/tf", QoSProfile(
            depth=100, durability=DurabilityPolicy.VOLATILE,
            reliability=ReliabilityPolicy.RELIABLE)),
        "diagnostics": node.create_publisher(DiagnosticArray, "/diagnostics", reliable),
        "label_info": node.create_publisher(LabelInfo, "~/label_info", QoSProfile(
            depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL,
            reliability=ReliabilityPolicy.RELIABLE)),
    }  # fmt: skip


def label_info(specs, threshold: float, stamp) -> LabelInfo:
    """The categories the node reports (``class_id`` = the registry's id, ``class_name`` = the
    ``class_id`` string of ``~/detections``) and ``min_score`` (``threshold``) as threshold.

    Args:
        specs: the :class:`~ros_pose_estimation.pipeline.estimators.ModelSpec` list of configure.
        stamp: ``builtin_interfaces/Time`` of the header.
    """
    from ros_pose_estimation.core.categories import get_category

    msg = LabelInfo(threshold=float(threshold))
    msg.header.stamp = stamp
    msg.class_map = [VisionClass(class_id=get_category(s.category).class_id,
                                 class_name=s.category) for s in specs]  # fmt: skip
    return msg


def publish_result(
    pubs: Mapping[str, Any],
    value: Callable[[str], Any],
    meshes: dict,
    header,
    rgb,
    intrinsics,
    result,
) -> None:
    """Publish one frame's :class:`~ros_pose_estimation.pipeline.pose_pipeline.FrameResult`.

    Args:
        pubs: the publishers of :func:`create_publishers` (or stand-ins with ``publish`` and
            ``get_subscription_count``).
        value: the node's checked parameter read (``publish_tf``, ``tf_prefix``,
            ``marker_mesh``, ``marker_lifetime``, ``debug_image``, ``fixed_frame``).
        meshes: category -> template mesh for markers / overlay (may be empty).
        header: the image's header (stamp, optical frame) stamped on every output.
        rgb: ``[H x W x 3]`` uint8, the image the overlay is drawn on.
        intrinsics: the image's :class:`~ros_pose_estimation.core.camera.Intrinsics`.
    """
    poses, fused, fixed = result.poses, result.fused, value("fixed_frame")
    if fixed:  # fusion on: the per-frame output stays available
        pubs["detections_per_frame"].publish(conv.detection3d_array(header, poses))
    out_header, out_poses, cam_poses = header, poses, poses
    if fused is not None:
        out_header = Header(stamp=header.stamp, frame_id=fixed)
        out_poses = fused
        cam_poses = in_frame(fused, np.linalg.inv(result.T_fixed_cam))
    pubs["detections"].publish(conv.detection3d_array(out_header, out_poses))
    if value("publish_tf") and out_poses and (fused is not None or not fixed):
        pubs["tf"].publish(conv.tf_message(out_header, out_poses, value("tf_prefix")))
    if pubs["markers"].get_subscription_count():
        marker_meshes = meshes if value("marker_mesh") else None
        pubs["markers"].publish(conv.marker_array(
            out_header, out_poses, lifetime_s=value("marker_lifetime"), meshes=marker_meshes))
    if value("debug_image") and pubs["debug"].get_subscription_count():
        overlay = draw_overlay(rgb, intrinsics, cam_poses, meshes or None)
        pubs["debug"].publish(conv.numpy_to_image(overlay, "rgb8", header))


def publish_diagnostics(pub, stamp, node_name: str, stats, camera_info_timeout_s: float) -> None:
    """Publish ``stats`` (a :class:`~ros_pose_estimation.node.stats.StatsSnapshot`) on ``pub`` as a
    DiagnosticArray (a missing camera_info warns after ``camera_info_timeout_s``)."""
    from ros_pose_estimation.conversions.diagnostics import DiagnosticRules

    rules = DiagnosticRules(camera_info_timeout_s=camera_info_timeout_s)
    pub.publish(conv.diagnostic_array(stamp, node_name=node_name, stats=stats, rules=rules))
