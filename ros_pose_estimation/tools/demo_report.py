"""What the demo makes of the node's outputs: the score table, the report, the overlay video.

* :func:`score`: every published pose against the bag's ground truth
  (:class:`~.ground_truth.GroundTruth`), per category;
* :func:`format_report`: the printed summary of ``results.json`` (frames, rates, the score
  table, the node's latency);
* :func:`write_overlays`: ``overlay.mp4`` and the ``overlay.png`` montage of the debug images.

No rclpy: messages are read by their fields.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def score(detections, truth) -> dict:
    """Per category: estimates, median rotation error (deg), median centre error (cm), share
    of estimates within 30 deg and within 10 deg, within 10 deg and 5 cm, and the share whose
    3D box (``bbox.size``, metric for RGB-D models) has IoU >= 0.5 with the true one, over every
    published detection. Detections in the recording's world frame (the node's world-frame
    fusion with ``fixed_frame`` = that frame) are brought into the camera with the recorded
    camera pose first."""
    from ros_pose_estimation.core.rotations import quat_to_matrix

    errors: dict[str, list[tuple[float, float, float]]] = {}
    for msg in detections:
        stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        for det in msg.detections:
            hyp = det.results[0]
            pose = hyp.pose.pose
            q = pose.orientation
            R = quat_to_matrix(np.array([q.x, q.y, q.z, q.w]))
            t = np.array([pose.position.x, pose.position.y, pose.position.z])
            if msg.header.frame_id == truth.world_frame and stamp in truth.frames:
                T_cam_world = np.linalg.inv(truth.frames[stamp][0])
                R, t = T_cam_world[:3, :3] @ R, T_cam_world[:3, :3] @ t + T_cam_world[:3, 3]
            size = np.array([det.bbox.size.x, det.bbox.size.y, det.bbox.size.z])
            match = truth.match(stamp, hyp.hypothesis.class_id, R, t, size)
            if match is not None:
                errors.setdefault(match.category, []).append(
                    (match.rotation_error_deg, match.translation_error_m, match.iou)
                )
    table = {}
    for category, pairs in sorted(errors.items()):
        rot = np.array([p[0] for p in pairs])
        trans = np.array([p[1] for p in pairs])
        table[category] = {
            "estimates": len(pairs),
            "median_rotation_error_deg": float(np.median(rot)),
            "median_translation_error_cm": float(100 * np.median(trans)),
            "within_30deg": float(np.mean(rot <= 30.0)),
            "within_10deg": float(np.mean(rot <= 10.0)),
            "10deg5cm": float(np.mean((rot <= 10.0) & (trans <= 0.05))),
            "iou50": float(np.mean([p[2] >= 0.5 for p in pairs])),
        }
    return table


def write_overlays(images: list[np.ndarray], out: Path, fps: float) -> list[str]:
    """``overlay.mp4`` of all debug images and ``overlay.png``, a 2 x 2 montage of four of
    them; returns the files written."""
    import cv2

    if not images:
        return []
    written = []
    h, w = images[0].shape[:2]
    video = out / "overlay.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    if writer.isOpened():
        for img in images:
            if img.shape[:2] == (h, w):
                writer.write(cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        writer.release()
        written.append(str(video))
    picks = [images[int(i)] for i in np.linspace(0, len(images) - 1, 4)]
    picks = [p if p.shape[:2] == (h, w) else cv2.resize(p, (w, h)) for p in picks]
    montage = np.vstack([np.hstack(picks[:2]), np.hstack(picks[2:])])
    cv2.imwrite(str(out / "overlay.png"), cv2.cvtColor(montage, cv2.COLOR_RGB2BGR))
    written.append(str(out / "overlay.png"))
    return written


def format_report(result: dict) -> str:
    diag = result["node_diagnostics"]
    lines = [
        f"frames: {result['frames_out']} of {result['frames_in_bag']} bag images got results "
        f"(the node drops frames it cannot keep up with), {result.get('frames_with_poses', 0)} "
        f"with poses ({result.get('poses', 0)} poses), at {result['output_rate_hz']:.2f} Hz; "
        f"{result['tf_transforms']} TF transforms, {result['marker_arrays']} marker arrays",
        f"node: {diag.get('frames_received', '?')} images received, "
        f"{diag.get('frames_synchronised', '?')} synchronised with detections, "
        f"{diag.get('frames_published', '?')} published; dropped: "
        + (", ".join(f"{k.removeprefix('dropped_frames_')} {v}" for k, v in diag.items()
                     if k.startswith("dropped_frames_") and k != "dropped_frames_total"
                     and v != "0") or "none"),
        "",
    ]
    if not result.get("scored", True):
        lines.append("(no ground_truth.json beside the bag: poses not scored)")
    else:
        lines.append(f"{'category':<10}{'estimates':>10}{'median rot':>12}{'median t':>10}"
                     f"{'<=30 deg':>10}{'<=10 deg':>10}{'10deg5cm':>10}{'IoU50':>8}")  # fmt: skip
    for category, row in result["per_category"].items():
        lines.append(
            f"{category:<10}{row['estimates']:>10}{row['median_rotation_error_deg']:>10.1f}"
            f" deg{row['median_translation_error_cm']:>7.1f} cm{row['within_30deg']:>10.2f}"
            f"{row['within_10deg']:>10.2f}{row.get('10deg5cm', float('nan')):>10.2f}"
            f"{row.get('iou50', float('nan')):>8.2f}"
        )
    # stamp_to_publish is left out: the bag's stamps are from the time it was recorded
    keys = [k for k in diag if "latency" in k and ("median" in k or "p90" in k)
            and "stamp_to_publish" not in k]  # fmt: skip
    if keys:
        lines += ["", "node latency (ms):"] + [f"  {k}: {diag[k]}" for k in sorted(keys)]
    lines += ["", "wrote: " + ", ".join(result["files"] + ["results.json"])]
    return "\n".join(lines)
