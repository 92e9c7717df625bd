"""How the RGB-D estimator copes with a camera turned about its optical axis (a rolled camera).

    python -m benchmarks.cse_roll --data out/data/mug_rgbd_final --split test \\
        --checkpoint models/cse/mug.pt --rolls 0 30 60 --max-objects 100 --threads 1 \\
        --json out/cse_roll.json

The RGB-D twin of :mod:`benchmarks.nemo_roll`: every image with objects ``evaluate-cse`` would
select is turned by each ``--rolls`` angle (deg) about its principal point, with its depth
(nearest neighbour: a turn about the optical axis keeps every depth) and the visible masks
(the detections: the turned mask and its box); the labels turn with it. Runs, interleaved on
the same images: ``plain`` (one look), ``upright`` (a second look through the camera turned
upright by the first look: ``CseInferenceConfig.upright``) and ``gravity`` (turned by the
world's up instead, as the node does with /tf: the labels' z, the objects standing on the
table). Prints, per roll and run, the median rotation and centre errors, 10deg5cm and the
median latency per object, and the device.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from benchmarks.device_info import describe
from benchmarks.nemo_roll import turned_frame

RUNS = {"plain": {"upright": False}, "upright": {"upright": True},
        "gravity": {"upright": True}}  # fmt: skip
WITH_UP = {"gravity"}


def turned_rgbd(sample, keep, intrinsics, angle_deg: float):
    """``(image, depth_m, intrinsics, detections, R list, t list)`` seen by the camera turned
    by ``angle_deg`` (:func:`benchmarks.nemo_roll.turned_frame` with the masks, and the depth
    turned with nearest-neighbour sampling: a turn about the optical axis keeps every depth)."""
    from ros_pose_estimation.core.camera_roll import rolled_view

    image, intr, dets, Rs, ts = turned_frame(sample, keep, intrinsics, angle_deg, True)
    depth = rolled_view(sample.depth.astype(np.float32), intrinsics, math.radians(angle_deg),
                        nearest=True).image  # fmt: skip
    return image, depth, intr, dets, Rs, ts

def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="cse_roll", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--split", default="test")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--rolls", type=float, nargs="+", default=[0.0, 30.0, 60.0])
    p.add_argument("--runs", nargs="+", default=list(RUNS), choices=list(RUNS))
    p.add_argument("--max-objects", type=int, default=100)
    p.add_argument("--min-visib", type=float, default=0.3)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)

    import torch

    from offline_training.evaluation import detection_frames
    from offline_training.synthetic.bop_reader import BopDataset
    from ros_pose_estimation.core.errors import PoseEstimationError
    from ros_pose_estimation.core.metrics import rotation_error_deg
    from ros_pose_estimation.cse.checkpoint import load_checkpoint
    from ros_pose_estimation.cse.estimator import CseEstimator, CseInferenceConfig

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        model, _ = load_checkpoint(args.checkpoint)
        dataset = BopDataset(args.data, args.split)
    except (FileNotFoundError, PoseEstimationError) as exc:
        print(f"cse_roll: error: {exc}", file=sys.stderr)
        return 2
    base = CseInferenceConfig()
    estimators = {name: CseEstimator({model.category: model}, replace(base, **RUNS[name]))
                  for name in args.runs}  # fmt: skip
    keys = [(r, n) for r in args.rolls for n in args.runs]
    rot, cen, latency = ({k: [] for k in keys} for _ in range(3))
    frames = [f for f in detection_frames(dataset, [model.category], args.min_visib,
                                          args.max_objects) if f.sample.depth is not None]
    if not frames:
        print(f"cse_roll: no {model.category} with depth in {args.data}/{args.split}",
              file=sys.stderr)  # fmt: skip
        return 1
    for frame in frames:
        for roll in args.rolls:
            image, depth, intr, dets, Rs, ts = turned_rgbd(frame.sample, frame.keep,
                                                           frame.intrinsics, roll)  # fmt: skip
            if not dets:
                continue
            for name in args.runs:
                extra = {"up": Rs[0][:, 2]} if name in WITH_UP else {}
                start = time.perf_counter()
                preds = estimators[name].estimate(image, dets, intr, depth, errors="none",
                                                  **extra)  # fmt: skip
                latency[(roll, name)].append(1e3 * (time.perf_counter() - start) / len(dets))
                for pred, R, t in zip(preds, Rs, ts, strict=True):
                    solved = pred is not None
                    rot[(roll, name)].append(float(rotation_error_deg(pred.R, R, model.category))
                                             if solved else 180.0)  # fmt: skip
                    cen[(roll, name)].append(float(np.linalg.norm(pred.t - t)) if solved
                                             else 1.0)  # fmt: skip
    device = describe("cpu")
    rows = []
    print(f"{model.category}: {args.checkpoint}, {len(frames)} images ({device})")
    print("roll (deg)  run       objects  10deg5cm  median (deg)  median (cm)  ms/object")
    for roll, name in keys:
        e, c = np.asarray(rot[(roll, name)]), np.asarray(cen[(roll, name)])
        row = {"roll_deg": roll, "run": name, "objects": len(e),
               "10deg5cm": float(np.mean((e <= 10) & (c <= 0.05))),
               "median_deg": float(np.median(e)), "median_cm": 100 * float(np.median(c)),
               "ms_per_object": float(np.median(latency[(roll, name)]))}  # fmt: skip
        rows.append(row)
        print(f"{roll:10.0f}  {name:8s}  {row['objects']:7d}  {row['10deg5cm']:8.2f}  "
              f"{row['median_deg']:12.2f}  {row['median_cm']:11.2f}  "
              f"{row['ms_per_object']:9.1f}")  # fmt: skip
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"device": device, "args": vars(args),
                                               "rows": rows}, indent=1))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
