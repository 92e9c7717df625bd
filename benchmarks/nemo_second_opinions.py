"""Second opinions on NeMo's estimate: can another pose, judged by the same render-and-compare
loss, by the detection box or averaged over crops, catch the estimate's misses (issue 12)? A
diagnostic; none of the five rules is in the estimator, because none helps (BENCHMARKS
"Second opinions").

    python -m benchmarks.nemo_second_opinions --data out/data/box_cal --split val \\
        --checkpoint models/nemo/box.pt --max-objects 150 --gravity --threads 1 \\
        --json out/second_opinions_box.json

For every selected object (as ``evaluate-nemo`` selects them) the default estimate is made
(given the world's up from the image's camera pose with ``--gravity``), then:

* **turns**: the estimate stood fully upright (on the world's up with ``--gravity``, else on
  its own z; a box first relabelled so that its axis nearest up is z), turned about that axis
  by each of ``--turns`` (deg; a box's x and y extents swapped at odd quarter turns), each
  refined (:meth:`NemoEstimator.refine_from`). The candidate with the lowest loss replaces the
  estimate when it is lower than the estimate's by more than a margin. The "oracle" row keeps
  the candidate with the smallest true error: what a perfect judge would reach.
* **behind** (mug): the estimate turned about its axis so that its handle points straight away
  from the camera (where a hidden handle is), placed with its rotation held (distance and
  centre optimised); it replaces the estimate when its loss is below the estimate's, placed
  the same way, plus a margin.
* **mirror**: the image mirrored left-right (boxes, masks, principal point) and estimated
  afresh; the pose mirrored back (:func:`offline_training.nemo.augment.mirror_pose`: exact for
  instances symmetric about their xz plane, ``Category.mirror_symmetric``; the camera's are
  not, and it is run on them all the same). Kept: the lower loss of the two; or their
  chordal mean when within ``--mean-within`` deg (else the lower loss; else the estimate).
* **jitter**: the estimate made again from detection boxes moved by 6 % of their width or
  height (left, right, up, down) and scaled by 0.92 and 1.1 about their centre
  (:data:`JITTERS`); kept: the symmetric mean of those within ``--mean-within`` deg of the
  estimate, with the estimate (a test-time average over crops).
* **box agreement** (cuboid categories: box): the estimate with its longer horizontal edge put
  on the other horizontal axis (``R Rz(90 deg)``, the extents kept: another box in space),
  refined; it replaces the estimate when its 3D box, projected, overlaps the detection box
  more (IoU, :mod:`ros_pose_estimation.core.box_consistency`) by more than a margin.

Printed per rule (and margin): Acc@pi/6, Acc@pi/18, median rotation error (deg) and how many
estimates were replaced; the device.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

from benchmarks.device_info import describe
from offline_training.nemo.augment import CAMERA_MIRROR, mirror_pose
from ros_pose_estimation.core.rotation_averaging import chordal_mean
from ros_pose_estimation.core.rotations import axis_angle_to_matrix

MARGINS = (0.0, 0.005, 0.01)
#: Detection-box jitters of the "jitter" rule: (scale about the centre, shift right, shift
#: down), shifts in units of the box's width and height.
JITTERS = ((1.0, 0.06, 0.0), (1.0, -0.06, 0.0), (1.0, 0.0, 0.06), (1.0, 0.0, -0.06),
           (0.92, 0.0, 0.0), (1.1, 0.0, 0.0))  # fmt: skip
#: IoU margins of the "box agreement" rule.
IOU_MARGINS = (0.0, 0.02, 0.05)
#: ``R @ QUARTER`` puts a box's frame a quarter turn about its own z (new x = old y).
QUARTER = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])


def turned_upright(R, size, up, turns_deg, cuboid: bool) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(R', size')`` per turn of ``turns_deg``: ``R [3 x 3]`` (model -> camera) stood fully
    upright on ``up [3]`` (camera frame; a cuboid first relabelled so that its axis nearest
    ``up`` is z), then turned about ``up`` by the turn (deg). ``size [3]`` (m) follows the
    relabelling, and a cuboid's x and y swap at odd quarter turns (the same box, its frame
    turned), so that x stays the longer horizontal edge's label."""
    from ros_pose_estimation.core.standing import rest_axis_up, stand_upright

    up = np.asarray(up, dtype=np.float64) / np.linalg.norm(up)
    size = np.asarray(size, dtype=np.float64)
    if cuboid:
        R, size = rest_axis_up(R, size, up, 180.0)
    R = stand_upright(R, up, 180.0)
    out = []
    for turn in turns_deg:
        swap = cuboid and round(turn / 90.0) % 2 == 1
        turned = np.asarray(axis_angle_to_matrix(up * math.radians(turn))) @ R
        out.append((turned, size[[1, 0, 2]] if swap else size))
    return out


def handle_behind(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``R [3 x 3]`` turned about its own z so that its +x (a mug's handle) points away from
    the camera along the horizontal part of the viewing ray to ``t [3]`` (m); ``R`` unchanged
    when that ray runs along z (a mug seen from straight above)."""
    z, x = R[:, 2], R[:, 0]
    away = np.asarray(t, dtype=np.float64) / np.linalg.norm(t)
    a = away - z * (z @ away)
    if np.linalg.norm(a) < 1e-6:
        return R.copy()
    a /= np.linalg.norm(a)
    angle = math.atan2(float(z @ np.cross(x, a)), float(x @ a))
    return np.asarray(axis_angle_to_matrix(z * angle)) @ R


def mirror_inputs(rgb: np.ndarray, detections, intrinsics):
    """``(rgb', detections', intrinsics')`` of the image flipped left-right: pixel column ``u``
    goes to ``W - 1 - u`` (the project's pixel-centre convention), as do the boxes, the masks
    and the principal point."""
    from ros_pose_estimation.core.camera import Intrinsics
    from ros_pose_estimation.core.estimation import Detection

    w = intrinsics.width
    flipped = Intrinsics(intrinsics.fx, intrinsics.fy, w - 1 - intrinsics.cx, intrinsics.cy,
                         intrinsics.width, intrinsics.height)  # fmt: skip
    dets = []
    for det in detections:
        x0, y0, x1, y1 = (float(v) for v in det.box_xyxy)
        mask = None if det.mask is None else np.ascontiguousarray(det.mask[:, ::-1])
        dets.append(Detection(det.category, np.array([w - 1 - x1, y0, w - 1 - x0, y1]), mask))
    return np.ascontiguousarray(rgb[:, ::-1]), dets, flipped


def jittered_box(box_xyxy, scale: float, right: float, down: float) -> np.ndarray:
    """``[4]`` the box ``(x0, y0, x1, y1)`` (px) scaled by ``scale`` about its centre, then
    moved by ``right`` of its width and ``down`` of its height."""
    b = np.asarray(box_xyxy, dtype=np.float64)
    size = b[2:] - b[:2]
    centre = (b[:2] + b[2:]) / 2.0 + np.array([right, down]) * size
    return np.concatenate([centre - scale * size / 2.0, centre + scale * size / 2.0])


def box_overlap(R, t, size, box_xyxy, intrinsics) -> float:
    """IoU of the 3D box ``(R [3 x 3], t [3] m, size [3] m)`` projected into the image with the
    detection box ``[4]`` (px); 0 when nothing of it projects."""
    from ros_pose_estimation.core.box_consistency import box_iou, projected_box

    projected = projected_box(R, t, size, intrinsics)
    return 0.0 if projected is None else float(box_iou(projected, np.asarray(box_xyxy, float)))


def run(dataset, estimator, turns_deg, max_objects=None, min_visib=0.3, gravity=False,
        mean_within_deg: float = 20.0) -> list[dict]:  # fmt: skip
    """Per object: the estimate's error and loss, and what each rule's candidates give (see
    the module docstring)."""
    from dataclasses import replace

    from offline_training.evaluation import detection_frames
    from ros_pose_estimation.core.categories import get_category
    from ros_pose_estimation.core.estimation import PoseEstimate
    from ros_pose_estimation.core.metrics import rotation_error_deg
    from ros_pose_estimation.core.rotation_averaging import symmetric_angle, symmetric_mean
    from ros_pose_estimation.core.standing import up_in_camera

    rows: list[dict] = []
    for frame in detection_frames(dataset, set(estimator.categories), min_visib, max_objects,
                                  None, False):  # fmt: skip
        sample, dets, intr = frame.sample, frame.detections, frame.intrinsics
        objs = [sample.objects[i] for i in frame.keep]
        up = up_in_camera(sample.T_world_cam) if gravity and sample.T_world_cam is not None \
            else None  # fmt: skip
        found = estimator.estimate(sample.rgb, dets, intr, up=up)
        # turns: every candidate of every detection in one refinement call
        starts, owner = [], []
        for j, (o, est) in enumerate(zip(objs, found, strict=True)):
            axis = up if up is not None else est.R[:, 2]
            for R, size in turned_upright(est.R, est.size, axis, turns_deg,
                                          get_category(o.category).cuboid):  # fmt: skip
                starts.append(PoseEstimate(o.category, R, est.t, est.score, size))
                owner.append(j)
        turned, _ = estimator.refine_from(sample.rgb, [dets[j] for j in owner], intr, starts)
        # behind: both poses placed with their rotation held
        behind = [replace(est, R=handle_behind(est.R, est.t)) for est in found]
        held, _ = estimator.refine_from(sample.rgb, dets, intr, found, fix_rotation=True)
        held_behind, _ = estimator.refine_from(sample.rgb, dets, intr, behind, fix_rotation=True)
        # mirror
        rgb_m, dets_m, intr_m = mirror_inputs(sample.rgb, dets, intr)
        up_m = None if up is None else CAMERA_MIRROR @ up
        mirrored = estimator.estimate(rgb_m, dets_m, intr_m, up=up_m)
        # jitter: the estimate again from moved and scaled boxes
        jittered = [
            estimator.estimate(sample.rgb, [replace(d, box_xyxy=jittered_box(d.box_xyxy, *j))
                                            for d in dets], intr, up=up)
            for j in JITTERS
        ]  # fmt: skip
        # box agreement: the longer horizontal edge on the other axis, refined
        cuboids = [j for j, o in enumerate(objs) if get_category(o.category).cuboid]
        other = {}
        if cuboids:
            starts = [replace(found[j], R=found[j].R @ QUARTER) for j in cuboids]
            refined, _ = estimator.refine_from(sample.rgb, [dets[j] for j in cuboids], intr,
                                               starts)  # fmt: skip
            other = dict(zip(cuboids, refined, strict=True))
        for j, (o, est) in enumerate(zip(objs, found, strict=True)):
            size = dataset.instance_size(o.obj_id)
            cat = get_category(o.category)
            close = [est.R] + [
                run_[j].R for run_ in jittered
                if math.degrees(symmetric_angle(est.R, run_[j].R, cat)) < mean_within_deg
            ]  # fmt: skip
            agree = {}
            if j in other:
                box = dets[j].box_xyxy
                agree = {
                    "agree_error_deg": float(rotation_error_deg(other[j].R, o.R, o.category,
                                                                size=size)),
                    "agree_iou": box_overlap(other[j].R, other[j].t, other[j].size, box, intr),
                    "estimate_iou": box_overlap(est.R, est.t, est.size, box, intr),
                }  # fmt: skip

            def err(R, o=o, size=size):
                return float(rotation_error_deg(R, o.R, o.category, size=size))

            cands = [c for c, w in zip(turned, owner, strict=True) if w == j]
            back_R, _ = mirror_pose(mirrored[j].R, mirrored[j].t)
            gap = float(rotation_error_deg(est.R, back_R, None))
            rows.append({
                "category": o.category, "scene_id": sample.scene_id, "im_id": sample.im_id,
                "error_deg": err(est.R), "loss": float(est.loss),
                "turn_errors_deg": [err(c.R) for c in cands],
                "turn_losses": [float(c.loss) for c in cands],
                "behind_error_deg": err(behind[j].R),
                "behind_loss_gap": float(held_behind[j].loss - held[j].loss),
                "mirror_error_deg": err(back_R), "mirror_loss": float(mirrored[j].loss),
                "mirror_gap_deg": gap,
                "mirror_mean_error_deg": err(chordal_mean([est.R, back_R]))
                if gap < mean_within_deg else None,
                "jitter_errors_deg": [float(rotation_error_deg(run_[j].R, o.R, o.category,
                                                               size=size))
                                      for run_ in jittered],
                "jitter_mean_error_deg": float(rotation_error_deg(
                    symmetric_mean(est.R, np.stack(close), cat), o.R, o.category, size=size)),
                "jitter_kept": len(close),
                **agree,
            })  # fmt: skip
    return rows


def _figures(errors) -> dict:
    e = np.asarray(errors, dtype=np.float64)
    return {"acc_pi_6": float(np.mean(e < 30.0)), "acc_pi_18": float(np.mean(e < 10.0)),
            "median_deg": float(np.median(e))}  # fmt: skip


def summarize(rows: list[dict], margins=MARGINS) -> dict[str, dict]:
    """Rule name -> figures (:func:`_figures`) and ``replaced`` (how many estimates the rule
    changed), over ``rows`` of one category."""
    out = {"estimate": {**_figures([r["error_deg"] for r in rows]), "replaced": 0}}
    best = [int(np.argmin(r["turn_losses"])) for r in rows]
    for m in margins:
        swap = [r["turn_losses"][k] < r["loss"] - m for r, k in zip(rows, best, strict=True)]
        errs = [r["turn_errors_deg"][k] if s else r["error_deg"]
                for r, k, s in zip(rows, best, swap, strict=True)]  # fmt: skip
        out[f"turns, margin {m:g}"] = {**_figures(errs), "replaced": int(sum(swap))}
    out["turns, oracle"] = {
        **_figures([min([r["error_deg"], *r["turn_errors_deg"]]) for r in rows]),
        "replaced": None,
    }
    if rows and rows[0]["category"] == "mug":
        for m in margins:
            swap = [r["behind_loss_gap"] < m for r in rows]
            errs = [r["behind_error_deg"] if s else r["error_deg"]
                    for r, s in zip(rows, swap, strict=True)]  # fmt: skip
            out[f"behind, margin {m:g}"] = {**_figures(errs), "replaced": int(sum(swap))}
    lower = [r["mirror_loss"] < r["loss"] for r in rows]
    out["mirror, lower loss"] = {
        **_figures([r["mirror_error_deg"] if s else r["error_deg"]
                    for r, s in zip(rows, lower, strict=True)]),
        "replaced": int(sum(lower)),
    }  # fmt: skip
    out["mirror alone"] = {**_figures([r["mirror_error_deg"] for r in rows]), "replaced": None}
    mean = [r["mirror_mean_error_deg"] if r["mirror_mean_error_deg"] is not None
            else (r["mirror_error_deg"] if s else r["error_deg"])
            for r, s in zip(rows, lower, strict=True)]  # fmt: skip
    out["mirror, mean if close"] = {**_figures(mean), "replaced": len(rows)}
    if rows and "jitter_mean_error_deg" in rows[0]:
        out["jitter, mean if close"] = {
            **_figures([r["jitter_mean_error_deg"] for r in rows]),
            "replaced": sum(r["jitter_kept"] > 1 for r in rows),
        }
    if rows and "agree_iou" in rows[0]:
        for m in IOU_MARGINS:
            swap = [r["agree_iou"] > r["estimate_iou"] + m for r in rows]
            errs = [r["agree_error_deg"] if s else r["error_deg"]
                    for r, s in zip(rows, swap, strict=True)]  # fmt: skip
            out[f"box agreement, margin {m:g}"] = {**_figures(errs), "replaced": int(sum(swap))}
        out["box agreement, oracle"] = {
            **_figures([min(r["error_deg"], r["agree_error_deg"]) for r in rows]),
            "replaced": None,
        }
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.nemo_second_opinions",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", required=True, help="BOP dataset root")
    p.add_argument("--split", default="test")
    p.add_argument("--checkpoint", required=True, help="model .pt (one category)")
    p.add_argument("--max-objects", type=int, default=None)
    p.add_argument("--min-visib", type=float, default=0.3)
    p.add_argument("--gravity", action="store_true",
                   help="give the estimator the world's up from the images' camera poses")
    p.add_argument("--turns", type=float, nargs="+", default=[0.0, 90.0, 180.0, 270.0],
                   help="turns (deg) about up of the upright candidates (default 0 90 180 270)")
    p.add_argument("--mean-within", type=float, default=20.0,
                   help="mirror and jitter: average the rotations when within this (deg)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)

    import torch

    from offline_training.synthetic.bop_reader import BopDataset
    from ros_pose_estimation.core.errors import PoseEstimationError
    from ros_pose_estimation.nemo.estimator import NemoEstimator

    torch.set_num_threads(args.threads)
    try:
        dataset = BopDataset(args.data, args.split)
        estimator = NemoEstimator.from_checkpoints([args.checkpoint], device=args.device)
    except (FileNotFoundError, PoseEstimationError) as exc:
        print(f"nemo_second_opinions: error: {exc}", file=sys.stderr)
        return 2
    rows = run(dataset, estimator, args.turns, args.max_objects, args.min_visib, args.gravity,
               args.mean_within)  # fmt: skip
    if not rows:
        print(f"nemo_second_opinions: no object of {', '.join(estimator.categories)} in "
              f"{args.data}/{args.split}", file=sys.stderr)  # fmt: skip
        return 1
    summary = summarize(rows)
    device = describe(args.device)
    print(f"device: {device}; {len(rows)} objects of {rows[0]['category']}; "
          f"gravity {'on' if args.gravity else 'off'}")  # fmt: skip
    print(f"{'rule':24s} {'Acc@pi/6':>8s} {'Acc@pi/18':>9s} {'median':>7s} {'replaced':>8s}")
    for name, m in summary.items():
        replaced = "-" if m["replaced"] is None else str(m["replaced"])
        print(f"{name:24s} {m['acc_pi_6']:8.3f} {m['acc_pi_18']:9.3f} {m['median_deg']:7.2f} "
              f"{replaced:>8s}")  # fmt: skip
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({
            "device": device, "data": args.data, "split": args.split,
            "checkpoint": args.checkpoint, "gravity": args.gravity, "turns_deg": args.turns,
            "summary": summary, "objects": rows,
        }, indent=1))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
