"""``evaluate-cse``: RGB-D (CSE) pose accuracy and latency on a BOP dataset, JSON output.

    evaluate-cse --data out/data/mug_test --split test --checkpoint out/runs/cse_mug/mug.pt \\
        [--checkpoint bottle.pt] [--max-objects N] [--min-visib 0.3] [--box-only] \\
        [--threads 1] [--json out.json]

Every annotated object of a category with a model, ``visib_fract >= --min-visib`` and a
visible box is a detection: its ``bbox_visib`` (px) as the box and its ``mask_visib`` as the
mask (``--box-only``, or a dataset without ``mask_visib``: no mask; the estimator then takes
the box's pixels at the object's depth). A ``visib_fract`` or box missing from the dataset is
derived by the reader (pixel counts, masks, projected model) or the object treated as visible,
as for ``evaluate-nemo``; the counts are printed to stderr and stored in the JSON
(``selection``), and when nothing is left the error says why. All objects of an
image go to one :meth:`CseEstimator.estimate` call (per-frame batching, as the node does);
the first image is run once untimed (warm-up). A detection the estimator cannot solve counts
as a miss. Depth is passed as the camera gives it (``--depth-encoding 16UC1``: uint16 mm, the
default; ``32FC1``: float32 m).

Metrics per category (``core.metrics.evaluate_records``, symmetry-aware: rotation about the
bottle/bowl/can axis is ignored; mugs scored with their handle): accuracy at 3D IoU 25 / 50 %
(exact oriented-box IoU of the predicted size and pose vs the instance's true box), 5deg2cm,
5deg5cm, 10deg2cm, 10deg5cm, median errors, and the AP variants; latency per object = the
image's estimation time / its objects (median, p90, ms) with the stage means. Mugs are also
scored by the NOCS protocol (``metrics_nocs``, a second table row): a mug whose handle is
hidden counts as symmetric about its axis, the handle's visibility judged from the
ground-truth mesh, pose and visible mask (:mod:`offline_training.handle_visibility`).
The JSON's per-object rows carry each solved object's errors, sizes and its own 3D IoU
(``iou``, :func:`~ros_pose_estimation.core.metrics.record_iou`), so the misses behind a
figure can be found.

Exit codes: 0 success, 1 nothing could be evaluated, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from offline_training.cli_args import device_problem, nonneg_int, output_problem, positive_int


def evaluate(estimator, bop, min_visib=0.3, max_objects=None, box_only=False,
             depth_encoding="16UC1", progress=None, report=None,
             object_depth_kept: float = 1.0, gravity: bool = False,
             mask_grow: int = 0, depth_shift: tuple[int, int] = (0, 0),
             ) -> tuple[list, list[dict]]:  # fmt: skip
    """Run ``estimator`` over ``bop``; returns ``(PoseRecord list, per-object dicts)``.
    ``report``: a :class:`~offline_training.evaluation.SelectionReport` to fill in.
    ``object_depth_kept`` < 1: of each selected object's visible pixels only this fraction
    keeps its depth (drawn per image, seeded by its index; the rest 0): a black or glossy
    object whose depth the sensor mostly misses. ``gravity``: give the estimator the world's up
    (+z) in the camera from each image's camera pose (``cam_R_w2c``), as /tf gives it to the
    node. ``mask_grow`` (px): each detection's mask grown by that many pixels (negative: shrunk,
    :func:`~offline_training.evaluation.grow_mask`), a detector's mask that spills onto what is
    around the object or falls short of its edge. ``depth_shift`` ``(dx, dy)`` (px): the depth
    image moved by that many pixels against the colour (:func:`~offline_training.synthetic.
    sensor_noise.shift_image`, the data engine's misregistered depth camera; the uncovered
    border without depth), a depth camera registered to the colour one with a small
    calibration error; an image left without valid depth by the shift is skipped and counted
    in ``report``."""
    from offline_training.evaluation import bop_box_to_xyxy, grow_mask, select_objects
    from offline_training.handle_visibility import MugHandles
    from offline_training.synthetic.sensor_noise import shift_image
    from ros_pose_estimation.core.camera import Intrinsics
    from ros_pose_estimation.core.conventions import metres_to_depth
    from ros_pose_estimation.core.estimation import Detection
    from ros_pose_estimation.core.metrics import PoseRecord, record_iou, rotation_error_deg
    from ros_pose_estimation.core.standing import up_in_camera

    records, rows, warm = [], [], False
    handles = MugHandles(bop)
    for i in range(len(bop)):
        if max_objects is not None and len(rows) >= max_objects:
            break
        sample = bop[i]
        keep = select_objects(sample, estimator.categories, min_visib, report)
        if max_objects is not None:
            keep = keep[: max_objects - len(rows)]
        has_depth = sample.depth is not None and bool(np.any(sample.depth > 0))
        if keep and not has_depth and report is not None:  # none, or out of the sensor's range
            report.skipped["selected objects in images without valid depth"] += len(keep)
        if not keep or not has_depth:
            continue
        h, w = sample.rgb.shape[:2]
        intr = Intrinsics.from_K(sample.K, w, h)
        metres = sample.depth
        if object_depth_kept < 1.0:
            metres = metres.copy()
            gen = np.random.default_rng(i)
            for k in keep:
                rows_, cols_ = np.nonzero(sample.objects[k].mask_visib)
                lost = gen.random(len(rows_)) >= object_depth_kept
                metres[rows_[lost], cols_[lost]] = 0.0
        metres = shift_image(metres, depth_shift)
        if not np.any(metres > 0):  # the shift moved all of the valid depth out of the image
            if report is not None:
                report.skipped["selected objects in images without valid depth after "
                               "--depth-shift"] += len(keep)  # fmt: skip
            continue
        depth = metres_to_depth(metres, depth_encoding)
        grow = np.array([-1.0, -1.0, 1.0, 1.0]) * max(mask_grow, 0)  # the box holds the mask
        dets = [
            Detection(sample.objects[k].category,
                      bop_box_to_xyxy(sample.objects[k].bbox_visib) + grow,
                      None if box_only else grow_mask(sample.objects[k].mask_visib, mask_grow))
            for k in keep
        ]  # fmt: skip
        extra = {}
        if gravity and sample.T_world_cam is not None:
            extra["up"] = up_in_camera(sample.T_world_cam)
        if not warm:
            estimator.estimate(sample.rgb, dets, intr, depth, errors="none", **extra)
            warm = True
        start = time.perf_counter()
        preds = estimator.estimate(sample.rgb, dets, intr, depth, errors="none", **extra)
        per_object_ms = 1e3 * (time.perf_counter() - start) / len(keep)
        for k, pred in zip(keep, preds, strict=True):
            obj = sample.objects[k]
            size_gt = bop.instance_size(obj.obj_id)
            rec = PoseRecord(obj.category, obj.R, obj.t, size_gt=size_gt)
            hv = handles(sample, obj)
            row = {"scene_id": sample.scene_id, "im_id": sample.im_id, "gt_index": k,
                   "category": obj.category, "visib_fract": obj.visib_fract,
                   "visib_source": obj.visib_source, "box_source": obj.bbox_source,
                   "latency_ms": per_object_ms, "solved": pred is not None,
                   "handle_visible": hv}  # fmt: skip
            if pred is not None:
                rec.r_pred, rec.t_pred, rec.size_pred = pred.R, pred.t, pred.size
                rec.score = pred.score
                row.update(
                    rot_err_deg=float(rotation_error_deg(pred.R, obj.R, obj.category,
                                                         size=size_gt)),
                    trans_err_cm=float(100 * np.linalg.norm(pred.t - obj.t)),
                    t_pred=np.asarray(pred.t, float).tolist(),
                    t_gt=np.asarray(obj.t, float).tolist(),
                    size_pred=pred.size.tolist(),
                    size_gt=size_gt.tolist(),
                    score=pred.score,
                    stages_ms={k2: v / len(keep) for k2, v in pred.timings.items()},
                )
                row["iou"] = float(record_iou(rec, obj.category))
                if hv is not None:
                    row["rot_err_nocs_deg"] = float(
                        rotation_error_deg(pred.R, obj.R, obj.category, hv, size_gt)
                    )
            records.append(rec)
            rows.append(row)
        if progress:
            progress(len(rows))
    return records, rows


def depth_shift_problem(shift: tuple[int, int], width: int, height: int) -> str | None:
    """Why ``--depth-shift`` ``(dx, dy)`` (px) is unusable on ``width x height`` images: a
    shift of a whole side or more moves all of the depth out of the image; None when fine."""
    dx, dy = shift
    if abs(dx) < width and abs(dy) < height:
        return None
    return (f"--depth-shift {dx} {dy} moves the depth image ({width} x {height} px) out of the "
            f"image: each shift must be smaller than the side, |DX| < {width}, |DY| < {height}")


def nocs_records(records: list, rows: list[dict]) -> list | None:
    """``records`` with each mug's handle verdict of ``rows`` applied (NOCS protocol), or None
    when no row has one (no mug, or no readable mug model)."""
    if all(r.get("handle_visible") is None for r in rows):
        return None
    return [
        replace(rec, handle_visible=bool(row["handle_visible"]))
        if row.get("handle_visible") is not None else rec
        for rec, row in zip(records, rows, strict=True)
    ]  # fmt: skip


def nocs_summary(records: list, rows: list[dict]) -> dict:
    """``{"metrics_nocs": ..., "handle_visible_fraction": ...}`` (empty without a verdict)."""
    from ros_pose_estimation.core.metrics import evaluate_records

    nocs = nocs_records(records, rows)
    if nocs is None:
        return {}
    judged = [r["handle_visible"] for r in rows if r.get("handle_visible") is not None]
    return {"metrics_nocs": evaluate_records(nocs),
            "handle_visible_fraction": float(np.mean(judged))}  # fmt: skip


def latency_summary(rows: list[dict]) -> dict:
    """Median / p90 latency per object (ms) and mean stage times of the solved objects."""
    lat = np.array([r["latency_ms"] for r in rows])
    stages: dict[str, list[float]] = {}
    for r in rows:
        for k, v in r.get("stages_ms", {}).items():
            stages.setdefault(k, []).append(v)
    return {
        "median_ms": float(np.median(lat)) if len(lat) else None,
        "p90_ms": float(np.percentile(lat, 90)) if len(lat) else None,
        "stage_mean_ms": {k: float(np.mean(v)) for k, v in stages.items()},
    }


def format_table(result: dict) -> str:
    keys = ("iou25", "iou50", "5deg2cm", "5deg5cm", "10deg2cm", "10deg5cm")
    head = f"{'category':9s} {'n':>4s} {'solved':>6s} " + " ".join(f"{k:>8s}" for k in keys)
    lines = [head + f" {'med deg':>8s} {'med cm':>7s}"]

    def row(name: str, m: dict) -> str:
        acc = {**(m.get("iou") or {}), **m["n_deg_m_cm"]}
        vals = " ".join(f"{acc.get(k, float('nan')):8.3f}" for k in keys)
        med = m["rotation"]["median_deg"]
        return (f"{name:9s} {m['count']:4d} {m['detected']:6d} {vals} "
                f"{med if med is not None else float('nan'):8.2f} "
                f"{m['translation_median_cm'] or float('nan'):7.2f}")  # fmt: skip

    nocs = (result.get("metrics_nocs") or {}).get("per_category", {})
    for cat, m in result["metrics"]["per_category"].items():
        lines.append(row(cat, m))
        if cat == "mug" and cat in nocs:
            lines.append(
                row("  NOCS", nocs[cat]) + f"  (handle visible in "
                f"{result['handle_visible_fraction']:.0%} of the judged mugs)"
            )
    lat = result["latency"]
    lines.append(f"latency per object: median {lat['median_ms']:.1f} ms, p90 {lat['p90_ms']:.1f} "
                 f"ms ({result['device']})")  # fmt: skip
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="evaluate-cse", description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="BOP dataset root")
    p.add_argument("--split", default="test")
    p.add_argument("--checkpoint", action="append", required=True, help="repeat per category")
    p.add_argument("--min-visib", type=float, default=0.3)
    p.add_argument("--max-objects", type=positive_int, default=None)
    p.add_argument("--box-only", action="store_true", help="no masks: box + depth pixels")
    p.add_argument("--depth-encoding", choices=("16UC1", "32FC1"), default="16UC1")
    p.add_argument("--gravity", action="store_true",
                   help="give the estimator the world's up (+z) from the images' camera poses "
                   "(cam_R_w2c), as /tf gives it to the node (up_frame)")  # fmt: skip
    p.add_argument("--object-depth-kept", type=float, default=1.0, metavar="FRACTION",
                   help="keep the depth of only this fraction of each object's visible pixels "
                   "(random; a black or glossy object), default 1")
    p.add_argument("--mask-grow", type=int, default=0, metavar="PX",
                   help="grow each mask by PX pixels (negative: shrink it), as a detector's "
                   "mask that spills onto the background or misses the object's edge; default 0")
    p.add_argument("--depth-shift", type=int, nargs=2, default=(0, 0), metavar=("DX", "DY"),
                   help="move the depth image by DX, DY pixels against the colour image (a "
                   "registration error between the two cameras; each smaller than the image's "
                   "side); default 0 0")
    p.add_argument("--icp-steps", type=int, default=None, help="override the refinement steps")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="override an inference setting (repeat), e.g. min_confidence=0.3; "
                   "names: the fields of cse.estimator.CseInferenceConfig")  # fmt: skip
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=nonneg_int, default=None)
    p.add_argument("--json", help="write metrics, latency and per-object rows here")
    p.add_argument("--quiet", action="store_true")
    return p


def inference_config(items: list[str], config_class):
    """``config_class()`` with ``["name=value", ...]`` applied (each value converted to the
    field's type, the whole config re-validated); ConfigError names a bad item."""
    import dataclasses

    from ros_pose_estimation.core.errors import ConfigError

    fields = {f.name: f for f in dataclasses.fields(config_class)}
    kinds = {name: type(f.default) for name, f in fields.items()}
    values = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or name not in kinds:
            raise ConfigError(f"--set {item!r}: expected NAME=VALUE with NAME one of "
                              f"{', '.join(kinds)}")  # fmt: skip
        kind = kinds[name]
        try:
            declared = str(fields[name].type)
            if kind is type(None) and text.lower() == "none":  # optional: the default
                values[name] = None
            elif kind is bool or (kind is type(None) and declared.startswith("bool")):
                if text.lower() not in ("true", "false", "1", "0"):
                    raise ValueError(text)
                values[name] = text.lower() in ("true", "1")
            elif kind is type(None):  # an optional number
                values[name] = (int if declared.startswith("int") else float)(text)
            else:
                values[name] = kind(text)
        except ValueError:
            raise ConfigError(f"--set {item!r}: {text!r} is not a {kind.__name__}") from None
    return config_class(**values)


def main(argv: list[str] | None = None) -> int:
    """``evaluate-cse``; returns the exit code."""
    args = parser().parse_args(argv)
    if not 0.0 <= args.object_depth_kept <= 1.0:
        print(f"evaluate-cse: error: --object-depth-kept must lie in [0, 1], got "
              f"{args.object_depth_kept}", file=sys.stderr)  # fmt: skip
        return 2
    import torch

    from offline_training.evaluation import SelectionReport, describe_device
    from offline_training.synthetic.bop_reader import BopDataset
    from ros_pose_estimation.core.errors import CheckpointError, ConfigError, InputError
    from ros_pose_estimation.core.metrics import evaluate_records
    from ros_pose_estimation.cse.estimator import CseEstimator, CseInferenceConfig

    if args.threads:
        torch.set_num_threads(args.threads)
    problem = device_problem(args.device) or output_problem(args.json, "--json")
    if problem:
        print(f"evaluate-cse: error: {problem}", file=sys.stderr)
        return 2
    try:
        # masks also judge the mug handle's visibility; a scene without poses is refused
        bop = BopDataset(args.data, args.split, require_gt=True)
    except (FileNotFoundError, InputError) as exc:
        print(f"evaluate-cse: error: {exc}", file=sys.stderr)
        return 2
    if any(args.depth_shift) and len(bop):  # the first image's size
        problem = depth_shift_problem(args.depth_shift, *bop[0].rgb.shape[1::-1])
        if problem:
            print(f"evaluate-cse: error: {problem}", file=sys.stderr)
            return 2
    try:
        config = inference_config(args.set, CseInferenceConfig)
    except ConfigError as exc:
        print(f"evaluate-cse: error: {exc}", file=sys.stderr)
        return 2
    if args.icp_steps is not None:
        config.icp_steps = args.icp_steps
    try:
        estimator = CseEstimator.from_checkpoints(args.checkpoint, config, args.device)
    except CheckpointError as exc:
        print(f"evaluate-cse: error: {exc}", file=sys.stderr)
        return 2
    if args.gravity and len(bop) and bop[0].T_world_cam is None:
        print(f"evaluate-cse: warning: --gravity, but {args.data}/{args.split} stores no camera "
              "poses (cam_R_w2c): estimating without gravity", file=sys.stderr)  # fmt: skip
    say = None if args.quiet else (lambda n: print(f"\r{n} objects", end="", file=sys.stderr))
    report = SelectionReport()
    try:
        records, rows = evaluate(estimator, bop, args.min_visib, args.max_objects, args.box_only,
                                 args.depth_encoding, say, report, args.object_depth_kept,
                                 args.gravity, args.mask_grow,
                                 tuple(args.depth_shift))  # fmt: skip
    except OSError as exc:  # an image of the dataset missing or damaged, found on reading it
        print(f"evaluate-cse: error: {exc}", file=sys.stderr)
        return 2
    if not args.quiet and rows:
        print(file=sys.stderr)
    if report.derivation():
        print(f"evaluate-cse: {report.derivation()}", file=sys.stderr)
    if not records:
        print(f"evaluate-cse: no object of {', '.join(estimator.categories)} could be evaluated "
              f"in {args.data}/{args.split}: {report.why_none(args.min_visib)}",
              file=sys.stderr)  # fmt: skip
        return 1
    result = {
        "device": describe_device(args.device),
        "args": vars(args),
        "inference_config": vars(config),
        "metrics": evaluate_records(records),
        "latency": latency_summary(rows),
        **nocs_summary(records, rows),
        "selection": report.to_dict(),
        "objects": rows,
    }
    print(format_table(result))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
