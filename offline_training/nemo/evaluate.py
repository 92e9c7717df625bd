"""Evaluate RGB render-and-compare pose estimation on a BOP dataset: accuracy and latency.

    evaluate-nemo --data DIR --split test --checkpoint mug.pt [--checkpoint laptop.pt] \\
        --preset default [--preset reference] [--max-objects N] [--min-visib 0.3] \\
        [--device cpu] [--json out.json]

Every annotated object of a category with a model, ``visib_fract >= --min-visib`` and a
visible box is a detection, with its ``bbox_visib`` as the detector box (BOP ``[x, y, w, h]``
px with ``w = x_max - x_min`` -> project pixel-centre box ``[x - 0.5, y - 0.5, x + w + 0.5,
y + h + 0.5]``). Datasets written by others may lack ``visib_fract``, the pixel counts, the
boxes or ``scene_gt_info.json`` altogether: the reader then derives them from the pixel
counts, the masks or the projected model, or treats the object as visible
(:mod:`offline_training.synthetic.bop_reader`); how many objects got which is printed to
stderr and stored in the JSON (``selection``), and when nothing is left the error says why.

All selected objects of an image go to the estimator in one call (per-frame batching, as a
ROS node does), once per preset, presets interleaved image by image so that they see the same
machine load. The first image is run once untimed (warm-up).

Metrics per preset and category (papers 000 / 001, ``core.metrics``): Acc@pi/6, Acc@pi/18 and
the median of the symmetry-aware rotation error (deg; mugs are scored as if the handle were
visible), the median translation error (cm), the mean confidence, and the latency per object =
the image's estimation time / its number of objects (median, p90; ms). Mugs are also scored by
the NOCS protocol (``nocs_mug``: a mug whose handle is hidden counts as symmetric about its
axis; the handle's visibility from the ground-truth mesh, pose and visible mask,
:mod:`offline_training.handle_visibility`), printed as a second row.

Exit codes: 0 success, 1 nothing could be evaluated, 2 bad arguments (missing dataset or
checkpoint, unknown preset).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from offline_training.cli_args import device_problem, nonneg_int, output_problem, positive_int
from offline_training.evaluation import (
    SelectionReport,
    describe_device,
    detection_frames,
)
from ros_pose_estimation.core.metrics import pose_accuracy, rotation_error_deg
from ros_pose_estimation.core.standing import up_in_camera
from ros_pose_estimation.nemo.presets import PRESETS


@dataclass
class ObjectResult:
    """One object of one image under one preset (errors: deg, m; latency: ms per object;
    ``stages_ms``: the estimator's stage times of the image divided by its objects; ``loss``:
    the final render-and-compare loss, comparable between presets with the same ``loss``;
    ``visib_source`` / ``box_source``: where the reader took ``visib_fract`` and the box from,
    see :mod:`offline_training.synthetic.bop_reader`)."""

    preset: str
    category: str
    scene_id: int
    im_id: int
    gt_index: int
    visib_fract: float
    rot_err_deg: float
    trans_err_m: float
    score: float
    latency_ms: float
    steps: int
    converged: bool
    stages_ms: dict[str, float] = field(default_factory=dict)
    loss: float = float("nan")
    visib_source: str = "info"
    box_source: str = "info"
    handle_visible: bool | None = None
    rot_err_nocs_deg: float | None = None


def evaluate(
    dataset,
    estimators: Mapping,
    min_visib: float = 0.3,
    max_objects: int | None = None,
    use_masks: bool = False,
    log: Callable[[str], None] | None = None,
    report: SelectionReport | None = None,
    gravity: bool | Collection[str] = False,
) -> list[ObjectResult]:
    """Run every estimator (preset name -> :class:`NemoEstimator`) on ``dataset``
    (:class:`~offline_training.synthetic.bop_reader.BopDataset`); see the module docstring.

    ``max_objects`` caps the objects per preset (the same objects for every preset); with
    ``use_masks`` the ``mask_visib`` of each object is passed to the estimator too;
    ``report`` (if given) counts the objects seen, their sources and why any were skipped.
    ``gravity``: pass each estimator (True; or those named) the world's up (+z of the dataset's
    world) in the camera, from the image's camera pose (``cam_R_w2c``), as a robot's /tf would
    give it; an image without a camera pose is estimated without it.
    """
    from offline_training.handle_visibility import MugHandles

    handles = MugHandles(dataset)
    with_up = set(estimators) if gravity is True else set(gravity or ())
    categories = set.intersection(*(set(e.categories) for e in estimators.values()))
    results: list[ObjectResult] = []
    done, warm = 0, False
    frames = detection_frames(dataset, categories, min_visib, max_objects, report, use_masks)
    for frame in frames:
        sample, keep, dets, intr = frame.sample, frame.keep, frame.detections, frame.intrinsics
        if not warm:  # first call builds caches and warms up the allocator: not timed
            for estimator in estimators.values():
                estimator.estimate(sample.rgb, dets[:1], intr)
            warm = True
        visible = [handles(sample, sample.objects[i]) for i in keep]
        # the true extents: a square box's quarter turns count (core.metrics.symmetry_of)
        sizes = [dataset.instance_size(sample.objects[i].obj_id) for i in keep]
        up = None
        if with_up and sample.T_world_cam is not None:
            up = up_in_camera(sample.T_world_cam)
        for name, estimator in estimators.items():
            start = time.perf_counter()
            estimates = estimator.estimate(sample.rgb, dets, intr,
                                           up=up if name in with_up else None)  # fmt: skip
            per_object = 1e3 * (time.perf_counter() - start) / len(dets)
            for i, est, hv, size in zip(keep, estimates, visible, sizes, strict=True):
                obj = sample.objects[i]
                nocs = (None if hv is None
                        else rotation_error_deg(est.R, obj.R, obj.category, hv, size))  # fmt: skip
                results.append(ObjectResult(
                    preset=name, category=obj.category, scene_id=sample.scene_id,
                    im_id=sample.im_id, gt_index=i, visib_fract=float(obj.visib_fract),
                    rot_err_deg=float(rotation_error_deg(est.R, obj.R, obj.category, size=size)),
                    trans_err_m=float(np.linalg.norm(est.t - obj.t)), score=est.score,
                    latency_ms=per_object, steps=est.steps, converged=est.converged,
                    stages_ms={k: v / len(dets) for k, v in est.timings.items()},
                    loss=float(est.loss), visib_source=obj.visib_source,
                    box_source=str(obj.bbox_source), handle_visible=hv,
                    rot_err_nocs_deg=None if nocs is None else float(nocs),
                ))  # fmt: skip
        done += len(keep)
        if log is not None:
            log(f"image {frame.index + 1}/{len(dataset)}: {done} objects")
    return results


def _nocs_metrics(rows: list[ObjectResult]) -> dict | None:
    """Rotation metrics by the NOCS mug protocol (objects without a handle verdict keep their
    strict error), or None when no object has one."""
    judged = [r.handle_visible for r in rows if r.handle_visible is not None]
    if not judged:
        return None
    acc = pose_accuracy([
        r.rot_err_deg if r.rot_err_nocs_deg is None else r.rot_err_nocs_deg for r in rows
    ])  # fmt: skip
    return {
        "handle_judged": len(judged),
        "handle_visible_fraction": float(np.mean(judged)),
        "acc_pi_6": acc["acc_pi_6"],
        "acc_pi_18": acc["acc_pi_18"],
        "median_rot_deg": acc["median_deg"],
    }


def _metrics(rows: list[ObjectResult]) -> dict:
    acc = pose_accuracy([r.rot_err_deg for r in rows])
    trans = np.array([r.trans_err_m for r in rows])
    lat = np.array([r.latency_ms for r in rows])
    nocs = _nocs_metrics(rows)
    extra = {} if nocs is None else {"nocs_mug": nocs}
    return {
        "count": acc["count"],
        "acc_pi_6": acc["acc_pi_6"],
        "acc_pi_18": acc["acc_pi_18"],
        "median_rot_deg": acc["median_deg"],
        "median_trans_cm": float(100 * np.median(trans)) if rows else float("nan"),
        "mean_score": float(np.mean([r.score for r in rows])) if rows else float("nan"),
        "latency_ms_median": float(np.median(lat)) if rows else float("nan"),
        "latency_ms_p90": float(np.percentile(lat, 90)) if rows else float("nan"),
        "mean_steps": float(np.mean([r.steps for r in rows])) if rows else float("nan"),
        "stages_ms_mean": {
            k: float(np.mean([r.stages_ms.get(k, np.nan) for r in rows]))
            for k in (rows[0].stages_ms if rows else {})
        },
        **extra,
    }


def summarize(results: list[ObjectResult]) -> dict[str, dict[str, dict]]:
    """``{preset: {category: metrics, "all": metrics}}`` (see :func:`_metrics` keys)."""
    out: dict[str, dict[str, dict]] = {}
    for preset in dict.fromkeys(r.preset for r in results):
        rows = [r for r in results if r.preset == preset]
        cats = sorted({r.category for r in rows})
        out[preset] = {c: _metrics([r for r in rows if r.category == c]) for c in cats}
        out[preset]["all"] = _metrics(rows)
    return out


def format_summary(summary: dict, device: str) -> str:
    """A plain-text table of :func:`summarize` output."""
    head = (
        f"{'preset':10s} {'category':10s} {'n':>5s} {'Acc@pi/6':>9s} {'Acc@pi/18':>9s} "
        f"{'med deg':>8s} {'med cm':>7s} {'score':>6s} {'ms/obj':>8s} {'p90 ms':>8s}"
    )
    lines = [f"device: {device}", head, "-" * len(head)]
    for preset, cats in summary.items():
        for cat, m in cats.items():
            lines.append(
                f"{preset:10s} {cat:10s} {m['count']:5d} {m['acc_pi_6']:9.3f} "
                f"{m['acc_pi_18']:9.3f} {m['median_rot_deg']:8.2f} {m['median_trans_cm']:7.2f} "
                f"{m['mean_score']:6.3f} {m['latency_ms_median']:8.1f} {m['latency_ms_p90']:8.1f}"
            )
            if cat != "all" and "nocs_mug" in m:
                n = m["nocs_mug"]
                lines.append(
                    f"{'':10s} {'  NOCS':10s} {m['count']:5d} {n['acc_pi_6']:9.3f} "
                    f"{n['acc_pi_18']:9.3f} {n['median_rot_deg']:8.2f}  (handle visible in "
                    f"{n['handle_visible_fraction']:.0%} of {n['handle_judged']})"
                )
    return "\n".join(lines)


def parse_variants(items: Iterable[str]) -> dict:
    """``["NAME=JSON", ...]`` -> ``{NAME: InferenceConfig().replace(**JSON)}`` (the default
    preset with the JSON object's fields; ``"refinement"`` as an object with ``method``,
    ``"adam"`` or ``"lm"``, and the fields of that schedule,
    :func:`ros_pose_estimation.nemo.presets.schedule_from_dict`).

    Raises:
        ConfigError: not ``NAME=JSON``, JSON not an object, unknown or invalid fields.
    """
    from ros_pose_estimation.core.errors import ConfigError
    from ros_pose_estimation.nemo.presets import InferenceConfig

    out = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise ConfigError(f"--variant: expected NAME=JSON, got {item!r}")
        try:
            changes = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"--variant {name}: invalid JSON ({exc})") from None
        if not isinstance(changes, dict):
            raise ConfigError(f"--variant {name}: expected a JSON object, got {text!r}")
        try:
            out[name] = InferenceConfig().replace(**changes)
        except TypeError as exc:
            raise ConfigError(f"--variant {name}: {exc}") from None
    return out


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="evaluate-nemo",
        description="Evaluate NeMo render-and-compare pose estimation on a BOP dataset "
        "(rotation accuracy, translation error, latency per object).",
    )
    p.add_argument("--data", required=True, help="BOP dataset root")
    p.add_argument("--split", default="test", help="split folder (default test)")
    p.add_argument(
        "--checkpoint",
        action="append",
        required=True,
        help="model checkpoint (.pt), one per category; repeat",
    )
    p.add_argument(
        "--preset",
        action="append",
        choices=tuple(PRESETS),
        help="inference preset; repeat to compare (default: default)",
    )
    p.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=JSON",
        help="also evaluate the default preset with these InferenceConfig changes (a JSON "
        'object of fields; "refinement" given as an object with "method" ("adam", the '
        'default, or "lm") replaces the whole schedule, unset fields at their defaults); '
        "repeat",
    )
    p.add_argument("--max-objects", type=positive_int, default=None, help="stop after N objects")
    p.add_argument(
        "--min-visib",
        type=float,
        default=0.3,
        help="skip objects less visible than this (default 0.3)",
    )
    p.add_argument("--use-masks", action="store_true", help="pass mask_visib to the estimator")
    p.add_argument("--gravity", action="store_true", help="pass the world's up (+z) in the "
                   "camera from the images' camera poses (cam_R_w2c), as /tf gives it to the "
                   "node: rolled cameras are turned upright by it and objects stood upright "
                   "(InferenceConfig.stand_upright)")  # fmt: skip
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ... (default cpu)")
    p.add_argument("--threads", type=nonneg_int, default=None, help="torch CPU threads")
    p.add_argument("--json", help="write the summary and per-object results here")
    p.add_argument("--quiet", action="store_true", help="no per-image progress")
    return p  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """``evaluate-nemo``; returns the exit code."""
    args = parser().parse_args(argv)
    import torch

    from offline_training.synthetic.bop_reader import BopDataset
    from ros_pose_estimation.core.errors import PoseEstimationError
    from ros_pose_estimation.nemo.estimator import NemoEstimator
    from ros_pose_estimation.nemo.presets import InferenceConfig

    if args.threads:
        torch.set_num_threads(args.threads)
    presets = list(dict.fromkeys(args.preset or ["default"]))
    problem = device_problem(args.device) or output_problem(args.json, "--json")
    if problem:
        print(f"evaluate-nemo: error: {problem}", file=sys.stderr)
        return 2
    try:
        # masks: the mug handle's visibility; a scene without poses is refused
        dataset = BopDataset(args.data, args.split, require_gt=True)
        configs = {name: InferenceConfig.named(name) for name in presets}
        configs.update(parse_variants(args.variant))
        estimators = {
            name: NemoEstimator.from_checkpoints(args.checkpoint, config, args.device)
            for name, config in configs.items()
        }
    except (FileNotFoundError, PoseEstimationError) as exc:
        print(f"evaluate-nemo: error: {exc}", file=sys.stderr)
        return 2
    log = None if args.quiet else (lambda msg: print(msg, file=sys.stderr))
    report = SelectionReport()
    if args.gravity and len(dataset) and dataset[0].T_world_cam is None:
        print(f"evaluate-nemo: warning: --gravity, but {args.data}/{args.split} stores no camera "
              "poses (cam_R_w2c): estimating without gravity", file=sys.stderr)  # fmt: skip
    try:
        results = evaluate(
            dataset, estimators, args.min_visib, args.max_objects, args.use_masks, log, report,
            args.gravity,
        )
    except OSError as exc:  # an image of the dataset missing or damaged, found on reading it
        print(f"evaluate-nemo: error: {exc}", file=sys.stderr)
        return 2
    if report.derivation():
        print(f"evaluate-nemo: {report.derivation()}", file=sys.stderr)
    if not results:
        cats = ", ".join(next(iter(estimators.values())).categories)
        print(
            f"evaluate-nemo: no object of {cats} with visib_fract >= {args.min_visib} and a "
            f"visible box in {args.data}/{args.split}: {report.why_none(args.min_visib)}",
            file=sys.stderr,
        )
        return 1
    device = describe_device(args.device)
    summary = summarize(results)
    print(format_summary(summary, device))
    if args.json:
        payload = {
            "device": device,
            "data": str(Path(args.data).resolve()),
            "split": args.split,
            "checkpoints": [str(c) for c in args.checkpoint],
            "min_visib": args.min_visib,
            "selection": report.to_dict(),
            "presets": {n: c.to_dict() for n, c in configs.items()},
            "summary": summary,
            "objects": [asdict(r) for r in results],
        }
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(payload, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
