"""How the RGB estimator copes with a camera turned about its optical axis (a rolled camera).

    python -m benchmarks.nemo_roll --data out/data/mug_ood --split test \\
        --checkpoint models/nemo/mug.pt --rolls 0 20 35 60 --max-objects 100 --threads 1 \\
        --json out/roll.json

Every image of the labelled set with objects ``evaluate-nemo`` would select is turned by each
``--rolls`` angle (deg) about its principal point, as a camera turned about its optical axis
would see it (:func:`ros_pose_estimation.core.camera_roll.rolled_view`, the whole image on a
canvas that holds it); the labels turn with it (``Q R``, ``Q t``) and each detection box is
the box of the turned visible mask (what a detector would draw). The runs, on the same
images, interleaved (``--runs``): ``plain`` (one look), ``upright`` (up to two more looks
through a camera turned upright, the lowest loss kept: ``InferenceConfig.upright``,
:mod:`ros_pose_estimation.core.upright`), ``upright-second`` (always the last upright look),
``upright-1`` (one upright look), ``gravity`` (the camera turned upright by the world's up
direction instead of a first look, as the node does with /tf: here the labels' z, the objects
standing on the table); ``upright-5`` and ``gravity-0``: the same at a 5-deg and a 0-deg
threshold (every object turned). Prints, per roll and run,
Acc@pi/6, Acc@pi/18, the median rotation error and the median latency per object, and the
device.
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

RUNS = {"plain": {"upright": False}, "upright": {"upright": True},
        "upright-second": {"upright": True, "upright_keep": "second"},
        "upright-1": {"upright": True, "upright_looks": 1},
        "gravity": {"upright": True},
        "upright-5": {"upright": True, "upright_min_deg": 5.0},
        "gravity-0": {"upright": True, "upright_min_deg": 0.0}}  # fmt: skip
#: runs given the world's up in the camera (the labels' z: the objects stand on the table)
WITH_UP = {"gravity", "gravity-0"}


def turned_frame(sample, keep, intrinsics, angle_deg: float, with_masks: bool = False):
    """``(image, intrinsics, detections, R list, t list)`` of the frame seen by the camera
    turned by ``angle_deg``: each detection the box of its turned visible mask (and, with
    ``with_masks``, the mask); objects whose turned mask is empty are left out."""
    from ros_pose_estimation.core.camera_roll import rolled_view
    from ros_pose_estimation.core.estimation import Detection

    view = rolled_view(sample.rgb, intrinsics, math.radians(angle_deg))
    dets, Rs, ts = [], [], []
    for k in keep:
        obj = sample.objects[k]
        mask = rolled_view(obj.mask_visib, intrinsics, math.radians(angle_deg),
                           nearest=True).image  # fmt: skip
        ys, xs = np.nonzero(mask)
        if len(xs) == 0:
            continue
        box = [xs.min() - 0.5, ys.min() - 0.5, xs.max() + 0.5, ys.max() + 0.5]
        dets.append(Detection(obj.category, box, mask if with_masks else None))
        Rs.append(view.Q @ obj.R)
        ts.append(view.Q @ obj.t)
    return view.image, view.intrinsics, dets, Rs, ts


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="nemo_roll", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--split", default="test")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--preset", default="default")
    p.add_argument("--rolls", type=float, nargs="+", default=[0.0, 20.0, 35.0, 60.0])
    p.add_argument("--runs", nargs="+", default=["plain", "upright"], choices=list(RUNS))
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
    from ros_pose_estimation.nemo.checkpoint import load_checkpoint
    from ros_pose_estimation.nemo.estimator import NemoEstimator
    from ros_pose_estimation.nemo.presets import InferenceConfig

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        model, _ = load_checkpoint(args.checkpoint)
        dataset = BopDataset(args.data, args.split)
        base = InferenceConfig.named(args.preset)
    except (FileNotFoundError, PoseEstimationError) as exc:
        print(f"nemo_roll: error: {exc}", file=sys.stderr)
        return 2
    estimators = {name: NemoEstimator({model.category: model}, replace(base, **RUNS[name]))
                  for name in args.runs}  # fmt: skip
    errors = {(r, n): [] for r in args.rolls for n in args.runs}
    latency = {(r, n): [] for r in args.rolls for n in args.runs}
    frames = list(detection_frames(dataset, [model.category], args.min_visib, args.max_objects))
    if not frames:
        print(f"nemo_roll: no {model.category} in {args.data}/{args.split}", file=sys.stderr)
        return 1
    for frame in frames:
        for roll in args.rolls:
            image, intr, dets, Rs, _ = turned_frame(frame.sample, frame.keep, frame.intrinsics,
                                                    roll)  # fmt: skip
            up = Rs[0][:, 2] if Rs else None
            if not dets:
                continue
            for name in args.runs:
                start = time.perf_counter()
                extra = {"up": up} if name in WITH_UP else {}
                estimates = estimators[name].estimate(image, dets, intr, **extra)
                latency[(roll, name)].append(1e3 * (time.perf_counter() - start) / len(dets))
                errors[(roll, name)] += [float(rotation_error_deg(e.R, R, model.category))
                                         for e, R in zip(estimates, Rs, strict=True)]  # fmt: skip
    device = describe("cpu")
    rows = []
    print(f"{model.category}: {args.checkpoint}, {len(frames)} images ({device})")
    print("roll (deg)  run              objects  Acc@pi/6  Acc@pi/18  median (deg)  ms/object")
    for roll in args.rolls:
        for name in args.runs:
            e = np.asarray(errors[(roll, name)])
            row = {"roll_deg": roll, "run": name, "objects": len(e),
                   "acc_pi_6": float(np.mean(e <= 30)), "acc_pi_18": float(np.mean(e <= 10)),
                   "median_deg": float(np.median(e)),
                   "ms_per_object": float(np.median(latency[(roll, name)]))}  # fmt: skip
            rows.append(dict(row, errors_deg=e.tolist()))
            print(f"{roll:10.0f}  {name:15s}  {row['objects']:7d}  {row['acc_pi_6']:8.3f}  "
                  f"{row['acc_pi_18']:9.3f}  {row['median_deg']:12.2f}  "
                  f"{row['ms_per_object']:9.1f}")  # fmt: skip
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"device": device, "args": vars(args),
                                               "rows": rows}, indent=1))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
