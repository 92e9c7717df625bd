"""Ground truth of a recording made by the data engine, for scoring the node's output.

``offline_training.synthetic.recording`` writes ``ground_truth.json`` into the bag folder: the
camera intrinsics, the static objects' poses in the world (``T_world_obj``, model frame of
:mod:`ros_pose_estimation.core.categories`), and per image stamp the camera pose
``T_world_cam`` (optical frame) and each object's visible fraction. This module turns that into
object poses in the camera at a stamp and scores an estimate against the nearest object of its
category (symmetry-aware rotation error, centre distance). Pure numpy + json.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ros_pose_estimation.core.errors import InputError
from ros_pose_estimation.core.metrics import rotation_error_deg

FILE_NAME = "ground_truth.json"


@dataclass
class Match:
    """An estimate scored against ground truth: object ``index``, symmetry-aware rotation
    error (deg), centre distance (m), that object's visible fraction in the frame and, when the
    estimate has a size, the symmetry-aware 3D IoU of its box with the true one (else None)."""

    index: int
    category: str
    rotation_error_deg: float
    translation_error_m: float
    visib_fract: float
    iou: float | None = None


class GroundTruth:
    """Object poses of a recording (see the module docstring).

    Args:
        path: the bag folder (holding ``ground_truth.json``) or the json file itself.

    Raises:
        InputError: no ground-truth file, or one without the expected fields.
    """

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        file = path / FILE_NAME if path.is_dir() else path
        if not file.is_file():
            raise InputError(f"no ground truth at {file}: only recordings made by "
                             "`generate-bag` carry one")  # fmt: skip
        try:
            data = json.loads(file.read_text())
            self.frame_id: str = data["frame_id"]
            self.world_frame: str = data.get("world_frame", "world")
            self.K = np.asarray(data["K"], dtype=np.float64)
            self.objects = [
                (str(o["category"]), np.asarray(o["T_world_obj"], dtype=np.float64),
                 np.asarray(o["size"], dtype=np.float64))
                for o in data["objects"]
            ]  # fmt: skip
            self.frames = {
                int(f["stamp_ns"]): (np.asarray(f["T_world_cam"], dtype=np.float64),
                                     list(f.get("visib_fract", [1.0] * len(self.objects))))
                for f in data["frames"]
            }  # fmt: skip
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{file}: not a ground-truth file of this project ({exc})") from None
        self.path = file

    @property
    def stamps(self) -> list[int]:
        return sorted(self.frames)

    def poses_in_camera(self, stamp_ns: int) -> list[tuple[str, np.ndarray, np.ndarray, float]]:
        """``(category, R [3x3], t [3] m, visib_fract)`` of every object in the camera frame
        at image stamp ``stamp_ns``.

        Raises:
            InputError: no image with that stamp in the recording.
        """
        if stamp_ns not in self.frames:
            raise InputError(f"no ground-truth frame at stamp {stamp_ns} ns")
        T_world_cam, visib = self.frames[stamp_ns]
        T_cam_world = np.linalg.inv(T_world_cam)
        out = []
        for (category, T_world_obj, _), v in zip(self.objects, visib, strict=True):
            T = T_cam_world @ T_world_obj
            out.append((category, T[:3, :3], T[:3, 3], float(v)))
        return out

    def match(self, stamp_ns: int, category: str, R: np.ndarray, t: np.ndarray,
              size: np.ndarray | None = None) -> Match | None:  # fmt: skip
        """Score an estimate (model -> camera ``R``, ``t`` in m, box ``size`` [3] in m if
        known) against the object of the same category whose centre is nearest to ``t``; None
        when the recording has no such object."""
        from ros_pose_estimation.core.iou3d import OrientedBox, symmetric_iou_3d

        best = None
        for index, (cat, R_gt, t_gt, visib) in enumerate(self.poses_in_camera(stamp_ns)):
            if cat != category:
                continue
            dist = float(np.linalg.norm(np.asarray(t, dtype=np.float64) - t_gt))
            if best is None or dist < best.translation_error_m:
                R = np.asarray(R, dtype=np.float64)
                rot = float(rotation_error_deg(R, R_gt, cat, size=self.objects[index][2]))
                iou = None
                if size is not None:
                    iou = float(symmetric_iou_3d(
                        OrientedBox(R, np.asarray(t, dtype=np.float64), np.asarray(size, float)),
                        OrientedBox(R_gt, t_gt, self.objects[index][2]), cat))  # fmt: skip
                best = Match(index, cat, rot, dist, visib, iou)
        return best
