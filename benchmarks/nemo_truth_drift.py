"""Where does render-and-compare go from the true pose? A diagnostic of NeMo's precision.

    python -m benchmarks.nemo_truth_drift --data out/data/mug_ood --split test \\
        --checkpoint models/nemo/mug.pt --max-objects 100 --threads 1 --json out/drift.json

For every selected object (as ``evaluate-nemo`` selects them; ``--use-masks`` passes the
visible masks) the estimator runs twice on the same features: the normal estimate (viewpoint
grid, then refinement; its rotation error is what ``evaluate-nemo`` reports), and the
refinement alone started at the ground truth (:meth:`NemoEstimator.refine_from` with the
instance's true pose and size). The second shows where the preset's render-and-compare
optimum lies, whatever the search: if refinement walks away from the truth to a lower loss,
the model's loss minimum itself is off by that much, and no initialisation, step count or
optimiser can give a smaller error. Printed per category: the normal median error, the median
drift from the truth (deg) and the fractions under 5 / 10 deg, and how often the normal
estimate's loss is below the best loss the true rotation reaches (refinement from the truth
with the rotation held: distance and centre optimised), i.e. how often the model prefers its
own, wrong, rotation (the JSON also has how often refinement from the truth lowers the loss).
Prints the device.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from benchmarks.device_info import describe


def run(dataset, estimator, max_objects=None, min_visib=0.3, use_masks=False) -> list[dict]:
    """Per object: category, the normal estimate's error, the drift from the truth, the losses
    at the truth and after refinement from it."""
    from offline_training.evaluation import bop_box_to_xyxy, select_objects
    from ros_pose_estimation.core.camera import Intrinsics
    from ros_pose_estimation.core.estimation import Detection, PoseEstimate
    from ros_pose_estimation.core.metrics import rotation_error_deg

    rows: list[dict] = []
    for index in range(len(dataset)):
        if max_objects is not None and len(rows) >= max_objects:
            break
        sample = dataset[index]
        keep = select_objects(sample, estimator.categories, min_visib)
        if max_objects is not None:
            keep = keep[: max_objects - len(rows)]
        if not keep:
            continue
        h, w = sample.rgb.shape[:2]
        intr = Intrinsics.from_K(sample.K, w, h)
        objs = [sample.objects[i] for i in keep]
        dets = [Detection(o.category, bop_box_to_xyxy(o.bbox_visib),
                          o.mask_visib if use_masks else None) for o in objs]  # fmt: skip
        normal = estimator.estimate(sample.rgb, dets, intr)
        truth = [PoseEstimate(o.category, o.R, o.t, 1.0, dataset.instance_size(o.obj_id))
                 for o in objs]  # fmt: skip
        refined, start_losses = estimator.refine_from(sample.rgb, dets, intr, truth)
        placed, _ = estimator.refine_from(sample.rgb, dets, intr, truth, fix_rotation=True)
        for o, est, ref, loss0, fixed in zip(objs, normal, refined, start_losses, placed,
                                             strict=True):  # fmt: skip
            rows.append({
                "category": o.category, "scene_id": sample.scene_id, "im_id": sample.im_id,
                "error_deg": float(rotation_error_deg(est.R, o.R, o.category)),
                "drift_deg": float(rotation_error_deg(ref.R, o.R, o.category)),
                "loss_at_truth": loss0, "loss_true_rotation": fixed.loss,
                "loss_refined": ref.loss, "loss_estimate": est.loss,
            })  # fmt: skip
    return rows


def summarize(rows: list[dict]) -> dict[str, dict]:
    """Per category: objects, normal median error, drift median and fractions, and how often
    the model prefers a wrong pose (refined loss below the loss at the truth)."""
    out = {}
    for cat in sorted({r["category"] for r in rows}):
        rs = [r for r in rows if r["category"] == cat]
        drift = np.array([r["drift_deg"] for r in rs])
        out[cat] = {
            "objects": len(rs),
            "median_error_deg": float(np.median([r["error_deg"] for r in rs])),
            "median_drift_deg": float(np.median(drift)),
            "drift_below_5deg": float(np.mean(drift < 5.0)),
            "drift_below_10deg": float(np.mean(drift < 10.0)),
            "refined_loss_below_truth": float(
                np.mean([r["loss_refined"] < r["loss_at_truth"] for r in rs])
            ),
            "estimate_loss_below_true_rotation": float(
                np.mean([r["loss_estimate"] < r["loss_true_rotation"] for r in rs])
            ),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.nemo_truth_drift",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", required=True, help="BOP dataset root")
    p.add_argument("--split", default="test")
    p.add_argument("--checkpoint", action="append", required=True, help="model .pt; repeat")
    p.add_argument("--preset", default="default", help="inference preset (default: default)")
    p.add_argument("--max-objects", type=int, default=None)
    p.add_argument("--min-visib", type=float, default=0.3)
    p.add_argument("--use-masks", action="store_true", help="pass mask_visib to the estimator")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)  # fmt: skip

    import torch

    from offline_training.synthetic.bop_reader import BopDataset
    from ros_pose_estimation.core.errors import PoseEstimationError
    from ros_pose_estimation.nemo.estimator import NemoEstimator
    from ros_pose_estimation.nemo.presets import InferenceConfig

    torch.set_num_threads(args.threads)
    try:
        dataset = BopDataset(args.data, args.split, load_masks=args.use_masks)
        estimator = NemoEstimator.from_checkpoints(
            args.checkpoint, InferenceConfig.named(args.preset), args.device
        )
    except (FileNotFoundError, PoseEstimationError) as exc:
        print(f"nemo_truth_drift: error: {exc}", file=sys.stderr)
        return 2
    rows = run(dataset, estimator, args.max_objects, args.min_visib, args.use_masks)
    if not rows:
        print(f"nemo_truth_drift: no object of {', '.join(estimator.categories)} in "
              f"{args.data}/{args.split}", file=sys.stderr)  # fmt: skip
        return 1
    summary = summarize(rows)
    print(f"device: {describe(args.device)}; preset {args.preset}")
    print(f"{'category':9s} {'n':>4s} {'error':>7s} {'drift':>7s} {'<5deg':>6s} {'<10deg':>6s} "
          f"{'estimate beats truth':>20s}")  # fmt: skip
    for cat, m in summary.items():
        beats = m["estimate_loss_below_true_rotation"]
        print(f"{cat:9s} {m['objects']:4d} {m['median_error_deg']:7.2f} "
              f"{m['median_drift_deg']:7.2f} {m['drift_below_5deg']:6.2f} "
              f"{m['drift_below_10deg']:6.2f} {beats:20.2f}")  # fmt: skip
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({
            "device": describe(args.device), "data": args.data, "split": args.split,
            "checkpoints": args.checkpoint, "preset": args.preset, "summary": summary,
            "objects": rows,
        }, indent=1))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
