"""Where the RGB-D mug's error comes from on a recording: azimuth or tilt, and the handle's depth.

    python -m benchmarks.mug_handle_bag data/demo/demo_bag --checkpoint models/cse/mug.pt \\
        --threads 1 --json out/mug_handle_bag.json

For every frame of a recording with ground truth (``generate-bag``'s; the detections as
recorded) the RGB-D estimator (:class:`~ros_pose_estimation.cse.estimator.CseEstimator`, its
defaults) estimates each mug. Its rotation error is split, about the *true* frame, into the
tilt (the angle between the estimated and the true up axes, deg) and the azimuth (the signed
angle about the true up axis from the true +x, towards the handle, to the estimated one, deg).
Next to it: the viewing direction in the true frame (elevation, and azimuth from the handle,
deg) and how many of the depth pixels the estimator was given lie where the handle is. Those
are the pixels that :func:`ros_pose_estimation.cse.handle_depth.handle_turn` looks for,
counted in the true frame with the true size: between 1.25 and the handle's reach body radii
from the body's axis, within its 12-95 % of height. Prints the medians and a table over the
viewing azimuth (30-deg bins), and the device.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

from benchmarks.device_info import describe

BIN_DEG = 30.0


def split_error(R_true: np.ndarray, R_est: np.ndarray) -> tuple[float, float, float]:
    """``(total, tilt, azimuth)`` (deg) of the estimate ``R_est`` against ``R_true`` (both
    model -> camera, ``[3 x 3]``): the whole angle, the angle between the up (z) axes, and the
    signed turn about the true z from the true +x to the estimate's +x laid into that plane."""
    E = R_true.T @ R_est
    total = math.degrees(math.acos(float(np.clip((np.trace(E) - 1.0) / 2.0, -1.0, 1.0))))
    tilt = math.degrees(math.acos(float(np.clip(E[2, 2], -1.0, 1.0))))
    azimuth = math.degrees(math.atan2(E[1, 0], E[0, 0]))
    return total, tilt, azimuth


def handle_pixels(points: np.ndarray, R: np.ndarray, t: np.ndarray, size: np.ndarray) -> int:
    """How many of ``points`` (``[N x 3]`` camera frame, m) lie where the mug's handle is,
    for the pose ``R`` (``[3 x 3]``), box centre ``t`` (``[3]``, m) and extents ``size``
    (``[3]``, m): the region that :func:`~ros_pose_estimation.cse.handle_depth.handle_turn`
    searches (``margin`` 0.25), here in the given frame."""
    sx, sy, sz = (float(v) for v in size)
    r = 0.5 * sy
    q = (np.asarray(points, dtype=np.float64) - t) @ R
    dist = np.hypot(q[:, 0] - (-0.5 * sx + r), q[:, 1])
    reach = r + max(sx - sy, 0.3 * r) + 0.01
    band = (q[:, 2] > -0.5 * sz + 0.12 * sz) & (q[:, 2] < 0.5 * sz - 0.05 * sz)
    return int(np.count_nonzero(band & (dist > 1.25 * r) & (dist < reach)))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.mug_handle_bag", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("bags", nargs="+", help="recordings with ground truth (generate-bag's)")
    p.add_argument("--checkpoint", default="models/cse/mug.pt")
    p.add_argument("--cache", default="out/cache/mug_handle_bag", help="extraction cache")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=None)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    import torch

    import ros_pose_estimation.cse.estimator as cse_estimator
    from offline_training.bags.ground_truth import ground_truth_labels
    from offline_training.pose_train_stages import extract
    from ros_pose_estimation.core.conventions import metres_to_depth
    from ros_pose_estimation.core.errors import PoseEstimationError
    from ros_pose_estimation.core.estimation import Detection
    from ros_pose_estimation.cse.estimator import CseEstimator, CseInferenceConfig
    from ros_pose_estimation.tools.bag_errors import BagError

    torch.set_num_threads(args.threads)
    try:
        estimator = CseEstimator.from_checkpoints([args.checkpoint], CseInferenceConfig(), "cpu")
        recordings = [r for r, _ in extract(args.bags, Path(args.cache), False, "rgbd")]
    except (PoseEstimationError, BagError) as exc:
        print(f"mug_handle_bag: error: {exc}", file=sys.stderr)
        return 1
    seen: list[np.ndarray] = []  # the depth pixels of the last handle_turn call
    handle_turn = cse_estimator.handle_turn

    def recording_turn(points, *rest):
        seen[:] = [np.asarray(points)]
        return handle_turn(points, *rest)

    cse_estimator.handle_turn = recording_turn  # the points the estimator itself used
    rows = []
    try:
        for rec in recordings:
            truth = {lb.track_id: lb for lb in ground_truth_labels(rec, ["mug"]) if lb.accepted}
            for pos, frame in enumerate(rec.frames(images=True)):
                objs = [o for o in frame.objects if o.track_id in truth]
                if not objs or frame.T_fixed_cam is None or frame.depth is None:
                    continue
                T_cam_fixed = np.linalg.inv(frame.T_fixed_cam)
                depth = metres_to_depth(frame.depth, "16UC1")
                for o in objs:
                    seen.clear()
                    det = Detection("mug", o.box_xyxy, o.mask)
                    (est,) = estimator.estimate(frame.rgb, [det], frame.intrinsics, depth,
                                                errors="none")  # fmt: skip
                    if est is None:
                        continue
                    lb = truth[o.track_id]
                    T = T_cam_fixed @ lb.pose()
                    R, t, size = T[:3, :3], T[:3, 3], np.asarray(lb.extents, dtype=np.float64)
                    total, tilt, azimuth = split_error(R, est.R)
                    view = R.T @ (-t / np.linalg.norm(t))
                    rows.append({
                        "recording": rec.directory.name, "frame": pos, "track_id": o.track_id,
                        "rot_err_deg": total, "tilt_deg": tilt, "azimuth_deg": azimuth,
                        "view_elevation_deg": math.degrees(math.asin(float(view[2]))),
                        "view_azimuth_deg": math.degrees(math.atan2(view[1], view[0])),
                        "handle_pixels": handle_pixels(seen[0], R, t, size) if seen else None,
                        "object_pixels": len(seen[0]) if seen else None,
                    })  # fmt: skip
    finally:
        cse_estimator.handle_turn = handle_turn
    if not rows:
        print("mug_handle_bag: error: no mug with ground truth was estimated", file=sys.stderr)
        return 1
    tot, tilt, az = (np.array([r[k] for r in rows]) for k in
                     ("rot_err_deg", "tilt_deg", "azimuth_deg"))  # fmt: skip
    handle = np.array([r["handle_pixels"] or 0 for r in rows])
    summary = {"estimates": len(rows), "median_rot_err_deg": float(np.median(tot)),
               "median_tilt_deg": float(np.median(tilt)),
               "median_abs_azimuth_deg": float(np.median(np.abs(az))),
               "share_with_handle_pixels": float(np.mean(handle >= 8))}  # fmt: skip
    bins = []
    view_az = np.array([r["view_azimuth_deg"] for r in rows])
    for lo in np.arange(-180.0, 180.0, BIN_DEG):
        sel = (view_az >= lo) & (view_az < lo + BIN_DEG)
        if sel.any():
            bins.append({"view_azimuth_deg": [float(lo), float(lo + BIN_DEG)],
                         "estimates": int(sel.sum()), "median_rot_err_deg": float(np.median(
                             tot[sel])), "median_azimuth_deg": float(np.median(az[sel])),
                         "median_handle_pixels": float(np.median(handle[sel]))})  # fmt: skip
    device = describe("cpu")
    print(f"{len(rows)} mug estimates: median {summary['median_rot_err_deg']:.1f} deg, of it "
          f"tilt {summary['median_tilt_deg']:.1f} and |azimuth| "
          f"{summary['median_abs_azimuth_deg']:.1f}; >= 8 depth pixels on the handle in "
          f"{summary['share_with_handle_pixels']:.0%} of them")  # fmt: skip
    print("view azimuth from the handle | estimates | median error | median azimuth error | "
          "median handle pixels")  # fmt: skip
    for b in bins:
        lo, hi = b["view_azimuth_deg"]
        print(f"  {lo:+5.0f}..{hi:+5.0f} deg | {b['estimates']:3d} | "
              f"{b['median_rot_err_deg']:5.1f} deg | {b['median_azimuth_deg']:+6.1f} deg | "
              f"{b['median_handle_pixels']:.0f}")  # fmt: skip
    print(f"device: {device}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"device": device, "args": vars(args),
                                               "summary": summary, "by_view_azimuth": bins,
                                               "rows": rows}, indent=1))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
