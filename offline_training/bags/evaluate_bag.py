"""Accuracy of a model on recordings that carry ground truth (``pose-train --eval-bag``).

For each ``every_nth`` frame of an extracted recording (:mod:`.cache`) with a camera pose, every
object of a tracked category that ground truth matches (:func:`.ground_truth.ground_truth_labels`:
the track's object, its pose in the fixed frame and its size) is one detection: the frame's box
(and mask when the source gave one); all of a frame's detections go to one
``estimator.estimate`` call, as in the node. The truth in the camera is
``T_cam_obj = T_fixed_cam^-1 T_fixed_obj``. The metrics are
:func:`ros_pose_estimation.core.metrics.evaluate_records`'s (symmetry-aware rotation error, 3D
IoU with the true size when the estimator gives a size, nDegmCm). Ground truth is read for
evaluation only.

    python -m offline_training.bags.evaluate_bag BAG [BAG ...] --checkpoint models/cse/mug.pt \\
        --method cse [--every-nth 3] [--json out.json] [--cache DIR]

Exit codes: 0 success, 1 nothing could be evaluated, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from offline_training.cli_args import nonneg_int, positive_int


def evaluate_recordings(estimator, recordings: Sequence, categories: Sequence[str],
                        every_nth: int = 1, depth_encoding: str = "16UC1",
                        gravity: bool = False) -> dict:  # fmt: skip
    """Run ``estimator`` (NeMo or CSE: ``estimate(rgb, detections, intrinsics[, depth])``) over
    ``recordings``; returns ``{"objects": N, "frames": F, "metrics": evaluate_records(...),
    "median_rot_deg": ..., "median_trans_cm": ..., "per_object_ms": median latency, "rows":
    [per-object dicts]}``. RGB-only estimators get no depth (``estimator.needs_depth`` False
    or absent and the recording has none). ``gravity``: each frame's estimate is given the
    fixed frame's up (+z, REP 103) in the camera from the recording's /tf, as the node's
    ``up_frame`` gives it.

    Raises:
        BagError: a recording without ground truth.
        InputError: nothing to evaluate (no ground-truth-matched object in any used frame).
    """
    from offline_training.bags.ground_truth import ground_truth_labels
    from ros_pose_estimation.core.conventions import metres_to_depth
    from ros_pose_estimation.core.errors import InputError
    from ros_pose_estimation.core.estimation import Detection
    from ros_pose_estimation.core.metrics import (
        PoseRecord,
        evaluate_records,
        record_iou,
        rotation_error_deg,
    )
    from ros_pose_estimation.core.standing import up_in_camera

    wants_depth = bool(getattr(estimator, "needs_depth", False))
    records, rows, frames = [], [], 0
    for rec in recordings:
        truth = {lb.track_id: lb for lb in ground_truth_labels(rec, list(categories))
                 if lb.accepted}  # fmt: skip
        for pos, frame in enumerate(rec.frames(images=True)):
            if pos % every_nth or frame.T_fixed_cam is None:
                continue
            objs = [o for o in frame.objects if o.track_id in truth]
            if not objs or (wants_depth and frame.depth is None):
                continue
            dets = [Detection(o.category, o.box_xyxy, o.mask) for o in objs]
            extra = ((metres_to_depth(frame.depth, depth_encoding),) if wants_depth else ())
            up = {"up": up_in_camera(frame.T_fixed_cam)} if gravity else {}
            start = time.perf_counter()
            preds = estimator.estimate(frame.rgb, dets, frame.intrinsics, *extra, errors="none",
                                       **up)  # fmt: skip
            ms = 1e3 * (time.perf_counter() - start) / len(objs)
            frames += 1
            T_cam_fixed = np.linalg.inv(frame.T_fixed_cam)
            for o, pred in zip(objs, preds, strict=True):
                lb = truth[o.track_id]
                T = T_cam_fixed @ lb.pose()
                rec_ = PoseRecord(o.category, T[:3, :3], T[:3, 3],
                                  size_gt=np.asarray(lb.extents, dtype=np.float64))  # fmt: skip
                row = {"recording": rec.directory.name, "frame": pos, "track_id": o.track_id,
                       "category": o.category, "latency_ms": ms, "solved": pred is not None}
                if pred is not None:
                    rec_.r_pred, rec_.t_pred = pred.R, pred.t
                    rec_.size_pred = getattr(pred, "size", None)
                    row["rot_err_deg"] = float(rotation_error_deg(pred.R, T[:3, :3], o.category,
                                                                  size=rec_.size_gt))
                    row["trans_err_cm"] = float(100 * np.linalg.norm(pred.t - T[:3, 3]))
                    row["t_pred"] = np.asarray(pred.t, float).tolist()
                    row["t_gt"] = T[:3, 3].tolist()
                    if rec_.size_pred is not None:
                        row["size_pred"] = np.asarray(rec_.size_pred, float).tolist()
                        row["size_gt"] = rec_.size_gt.tolist()
                        row["iou"] = float(record_iou(rec_, o.category))
                records.append(rec_)
                rows.append(row)
    if not records:
        raise InputError(f"no object of {', '.join(categories)} with ground truth in every "
                         f"{every_nth}-th frame of the evaluation recordings")  # fmt: skip
    solved = [r for r in rows if r["solved"]]
    return {
        "objects": len(rows), "frames": frames, "solved": len(solved),
        "metrics": evaluate_records(records),
        "median_rot_deg": float(np.median([r["rot_err_deg"] for r in solved])) if solved
        else None,
        "median_trans_cm": float(np.median([r["trans_err_cm"] for r in solved])) if solved
        else None,
        "per_object_ms": float(np.median([r["latency_ms"] for r in rows])),
        "rows": rows,
    }  # fmt: skip


def format_summary(result: dict) -> str:
    """Two lines: counts and medians, then the per-category accuracies."""
    def num(x) -> str:
        return "-" if x is None else f"{x:.1f}"

    lines = [f"{result['objects']} objects in {result['frames']} frames, {result['solved']} "
             f"solved; median of the solved: rotation {num(result['median_rot_deg'])} deg, "
             f"translation {num(result['median_trans_cm'])} cm; "
             f"{result['per_object_ms']:.1f} ms/object"]  # fmt: skip
    for cat, m in result["metrics"]["per_category"].items():
        rot, parts = m["rotation"], []
        parts.append(f"Acc@pi/6 {rot['acc_pi_6']:.2f}, median {num(rot['median_deg'])} deg")
        parts += [f"{k} {v:.2f}" for k, v in m.get("iou", {}).items() if v is not None]
        parts += [f"{k} {v:.2f}" for k, v in m["n_deg_m_cm"].items() if v is not None]
        lines.append(f"  {cat} ({m['count']}): " + ", ".join(parts))
    return "\n".join(lines)


def make_estimator(method: str, checkpoints: Sequence[str], device: str = "cpu",
                   preset: str = "default", settings: Sequence[str] = ()):  # fmt: skip
    """The node's estimator of ``method`` (``nemo``: RGB, ``cse``: RGB-D) on ``checkpoints``;
    ``settings``: ``NAME=VALUE`` overrides of the CSE inference settings (``evaluate-cse
    --set``)."""
    if method == "cse":
        from offline_training.cse.evaluate import inference_config
        from ros_pose_estimation.cse.estimator import CseEstimator, CseInferenceConfig

        config = inference_config(list(settings), CseInferenceConfig)
        return CseEstimator.from_checkpoints(list(checkpoints), config, device)
    if settings:
        from ros_pose_estimation.core.errors import ConfigError

        raise ConfigError("--set applies to --method cse only (use --preset for nemo)")
    from ros_pose_estimation.nemo.estimator import NemoEstimator
    from ros_pose_estimation.nemo.presets import InferenceConfig

    return NemoEstimator.from_checkpoints(list(checkpoints), InferenceConfig.named(preset),
                                          device)  # fmt: skip


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m offline_training.bags.evaluate_bag",
                                description=__doc__.split("\n")[0])  # fmt: skip
    p.add_argument("bags", nargs="+", help="recordings with ground truth (generate-bag's)")
    p.add_argument("--checkpoint", action="append", required=True, help="model (repeat)")
    p.add_argument("--method", choices=("nemo", "cse"), default="cse")
    p.add_argument("--every-nth", type=positive_int, default=3)
    p.add_argument("--preset", default="default", help="NeMo inference preset (--method nemo)")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="override a CSE inference setting (repeat), e.g. icp_steps=5; names: "
                   "the fields of cse.estimator.CseInferenceConfig")  # fmt: skip
    p.add_argument("--gravity", action="store_true",
                   help="give the estimator the fixed frame's up (+z) from the recording's /tf, "
                   "as the node's up_frame does")  # fmt: skip
    p.add_argument("--cache", default="out/cache/eval_bags", help="extraction cache")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=nonneg_int, default=None)
    p.add_argument("--json", default=None, help="write the result here")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    import torch

    from offline_training.pose_train_stages import extract
    from ros_pose_estimation.core.errors import CheckpointError, ConfigError, InputError
    from ros_pose_estimation.tools.bag_errors import BagError

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.every_nth < 1:
        print("evaluate_bag: error: --every-nth must be >= 1", file=sys.stderr)
        return 2
    try:
        estimator = make_estimator(args.method, args.checkpoint, args.device, args.preset,
                                   args.set)  # fmt: skip
    except (CheckpointError, ConfigError) as exc:
        print(f"evaluate_bag: error: {exc}", file=sys.stderr)
        return 2
    try:
        recs = [r for r, _ in extract(args.bags, Path(args.cache), False,
                                      "rgbd" if args.method == "cse" else "rgb")]  # fmt: skip
        result = evaluate_recordings(estimator, recs, estimator.categories, args.every_nth,
                                     gravity=args.gravity)
    except (BagError, InputError) as exc:
        print(f"evaluate_bag: error: {exc}", file=sys.stderr)
        return 1
    print(format_summary(result))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"args": vars(args), **result}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
