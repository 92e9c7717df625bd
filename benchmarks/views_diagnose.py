"""Where a ``train-views`` model works: its median rotation error on the generated views of
chosen instances of its own views dataset (synthetic inputs only: the truth of each view is
its label composed with the instance's true frame, ``R_m @ R_frame_true``)::

    python -m benchmarks.views_diagnose --data out/data/mug_views \\
        --checkpoint out/runs/mug_views/mug.pt --instances 34 23 8 [--json out.json]

Instance indices are 0-based (``obj_id - 1``); ``merge.json`` of the run says which were the
anchor and which merged.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from offline_training.diffusion.views_dataset import read_instances
from offline_training.evaluation import bop_box_to_xyxy
from offline_training.synthetic.bop_reader import BopDataset
from ros_pose_estimation.core.camera import Intrinsics
from ros_pose_estimation.core.estimation import Detection
from ros_pose_estimation.core.metrics import rotation_error_deg
from ros_pose_estimation.nemo.estimator import NemoEstimator


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="views_diagnose", description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="views dataset (generate-views)")
    p.add_argument("--checkpoint", required=True, help="train-views checkpoint")
    p.add_argument("--instances", type=int, nargs="+", required=True, help="0-based indices")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", help="write the per-instance errors here")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    index = read_instances(args.data)
    category = index["category"]
    est = NemoEstimator.from_checkpoints([args.checkpoint])
    ds = BopDataset(args.data, "train", load_masks=False)
    wanted = {i + 1: np.asarray(index["instances"][i]["R_frame_true"]) for i in args.instances}
    errors: dict[int, list[float]] = {i: [] for i in args.instances}
    for k in range(len(ds)):
        sample = ds[k]
        obj = sample.objects[0]
        if obj.obj_id not in wanted:
            continue
        h, w = sample.rgb.shape[:2]
        det = Detection(category, bop_box_to_xyxy(obj.bbox_visib))
        pose = est.estimate(sample.rgb, [det], Intrinsics.from_K(sample.K, w, h))[0]
        truth = obj.R @ wanted[obj.obj_id]
        errors[obj.obj_id - 1].append(float(rotation_error_deg(pose.R, truth, category)))
    print(f"{args.checkpoint} on {args.data} ({category}), per instance:")
    for i, errs in errors.items():
        acc = np.mean(np.asarray(errs) < 30.0)
        print(f"  instance {i}: {len(errs)} views, median {np.median(errs):.1f} deg, "
              f"Acc@pi/6 {acc:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({str(i): e for i, e in errors.items()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
