"""EVALUATION ONLY: ground-truth labels of a generated recording's tracks.

Reads ``evaluation_only/ground_truth.json`` (copied there by ``extract_bag(...,
copy_ground_truth=True)`` from a ``generate-bag`` recording) and matches its objects to the
extracted tracks by position in the fixed frame. Used (a) to score pseudo-labels, (b) to build
the held-out evaluation set and (c) for the clearly marked ``--supervised`` upper bound. The
unsupervised path never calls this module.
"""

from __future__ import annotations

import numpy as np

from offline_training.bags.pseudo_labels import TrackLabel
from ros_pose_estimation.core.metrics import rotation_error_deg
from ros_pose_estimation.tools.bag_errors import BagError
from ros_pose_estimation.tools.ground_truth import GroundTruth


def ground_truth_labels(recording, categories, max_distance: float = 0.1) -> list[TrackLabel]:
    """One accepted :class:`TrackLabel` per non-short track of ``categories`` matched to a GT
    object (nearest centre within ``max_distance`` m of the track's mean surface position).

    Raises:
        BagError: no ground truth was copied, or it is in another frame than the tracks.
    """
    path = recording.ground_truth_path
    if path is None:
        raise BagError(f"{recording.directory} has no evaluation_only/ground_truth.json: extract "
                       "with ground truth copied (a generate-bag recording)")  # fmt: skip
    truth = GroundTruth(path)
    if truth.world_frame != recording.fixed_frame:
        raise BagError(f"{path}: ground truth is in frame {truth.world_frame!r} but camera "
                       f"poses are in {recording.fixed_frame!r}")  # fmt: skip
    centres = np.array([T[:3, 3] for _, T, _ in truth.objects])
    labels = []
    in_box = None  # RGB-only recordings: tracks have no 3D position (computed once, if needed)
    for track in recording.tracks:
        if track.category not in categories or track.short:
            continue
        wrong = [cat != track.category for cat, _, _ in truth.objects]
        label = TrackLabel(recording.directory.name, int(track.track_id), track.category, False)
        if track.position_fixed is not None:
            dist = np.linalg.norm(centres - np.asarray(track.position_fixed), axis=1)
            dist[wrong] = np.inf
            k = int(np.argmin(dist))
            miss = dist[k] > max_distance
            reason = f"no ground-truth object within {max_distance} m"
        else:
            if in_box is None:
                in_box = _centre_hits(recording, centres)
            hits, seen = in_box.get(int(track.track_id), (np.zeros(len(centres)), 0))
            hits = np.where(wrong, -1, hits)
            k = int(np.argmax(hits))
            miss = seen == 0 or hits[k] < 0.5 * seen
            reason = "no ground-truth object projects into most of the track's boxes"
        if miss:
            label.reason = reason
        else:
            _, T_world_obj, size = truth.objects[k]
            label.accepted, label.reason = True, f"ground truth object {k}"
            label.T_fixed_obj, label.extents = T_world_obj.tolist(), size.tolist()
        labels.append(label)
    return labels


def compare_labels(labels: list[TrackLabel], truth: list[TrackLabel]) -> list[dict]:
    """Per fitted track: rotation error (deg, symmetry-aware), translation error (m) and
    extents error (m, max over axes) against the ground-truth label of the same track."""
    by_track = {t.track_id: t for t in truth if t.accepted}
    rows = []
    for lb in labels:
        gt = by_track.get(lb.track_id)
        if lb.T_fixed_obj is None or gt is None:
            continue
        P, G = lb.pose(), gt.pose()
        rows.append({
            "recording": lb.recording, "track_id": lb.track_id, "accepted": lb.accepted,
            "rot_err_deg": float(rotation_error_deg(P[:3, :3], G[:3, :3], lb.category)),
            "trans_err_m": float(np.linalg.norm(P[:3, 3] - G[:3, 3])),
            "extent_err_m": float(np.abs(np.subtract(lb.extents, gt.extents)).max()),
            "inlier_ratio": lb.inlier_ratio,
        })  # fmt: skip
    return rows


def _centre_hits(recording, centres: np.ndarray) -> dict[int, tuple[np.ndarray, int]]:
    """``{track_id: (hits [K], frames)}``: in how many of a track's frames each ground-truth
    object's centre (``centres [K x 3]``, fixed frame, m) projects into the track's box (how an
    RGB-only track, which has no 3D position, is matched)."""
    out: dict[int, tuple[np.ndarray, int]] = {}
    for frame in recording.frames(images=False):
        if frame.T_fixed_cam is None:
            continue
        T_cam_fixed = np.linalg.inv(frame.T_fixed_cam)
        uv = frame.intrinsics.project(centres @ T_cam_fixed[:3, :3].T + T_cam_fixed[:3, 3])
        u, v = uv[:, 0], uv[:, 1]  # NaN behind the camera
        for obj in frame.objects:
            if obj.track_id < 0:
                continue
            x0, y0, x1, y1 = obj.box_xyxy
            inside = (u >= x0) & (u <= x1) & (v >= y0) & (v <= y1)  # NaN (behind): False
            hits, seen = out.get(int(obj.track_id), (np.zeros(len(centres)), 0))
            out[int(obj.track_id)] = (hits + inside, seen + 1)
    return out
