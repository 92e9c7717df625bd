"""demo_report.score: a pose published in the camera frame and the same pose in the
recording's world frame (the node's world-frame fusion) score the same."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace as NS

import numpy as np

from ros_pose_estimation.core.rotations import matrix_to_quat
from ros_pose_estimation.tools.demo_report import score
from ros_pose_estimation.tools.ground_truth import GroundTruth

DEMO_BAG = Path(__file__).resolve().parents[2] / "data" / "demo" / "demo_bag"


def _array(frame_id: str, stamp_ns: int, category: str, T: np.ndarray):
    """A duck-typed Detection3DArray with one detection at pose ``T`` ``[4 x 4]``."""
    x, y, z, w = (float(v) for v in matrix_to_quat(T[:3, :3]))
    pose = NS(orientation=NS(x=x, y=y, z=z, w=w),
              position=NS(x=T[0, 3], y=T[1, 3], z=T[2, 3]))  # fmt: skip
    det = NS(results=[NS(pose=NS(pose=pose), hypothesis=NS(class_id=category))],
             bbox=NS(size=NS(x=0.1, y=0.1, z=0.1)))  # fmt: skip
    stamp = NS(sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000)
    return NS(header=NS(frame_id=frame_id, stamp=stamp), detections=[det])


def test_world_frame_detections_are_scored_in_the_camera():
    truth = GroundTruth(DEMO_BAG)
    stamp = truth.stamps[10]
    category, T_world_obj, _ = truth.objects[0]
    err = np.eye(4)
    err[:3, 3] = [0.02, 0.0, 0.0]  # 2 cm off in the world
    T_world = err @ T_world_obj
    T_cam = np.linalg.inv(truth.frames[stamp][0]) @ T_world
    in_camera = score([_array(truth.frame_id, stamp, category, T_cam)], truth)[category]
    in_world = score([_array(truth.world_frame, stamp, category, T_world)], truth)[category]
    for key, value in in_camera.items():
        assert abs(in_world[key] - value) < 1e-6, key
    assert abs(in_world["median_translation_error_cm"] - 2.0) < 1e-6
