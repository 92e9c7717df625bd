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
the image's estimation time / its number of objects (median, p90; ms).

Exit codes: 0 success, 1 nothing could be evaluated, 2 bad arguments (missing dataset or
checkpoint, unknown preset).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ros_pose_estimation.core.camera import Intrinsics
from ros_pose_estimation.core.metrics import pose_accuracy, rotation_error_deg

PRESET_NAMES = ("default", "fast", "reference")


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


def bop_box_to_xyxy(bbox) -> np.ndarray:
    """BOP ``[x, y, w, h]`` (``w = x_max - x_min``, pixel indices) -> ``[x0, y0, x1, y1]`` in
    the project's pixel-centre convention (covering the whole border pixels)."""
    x, y, w, h = (float(v) for v in bbox)
    return np.array([x - 0.5, y - 0.5, x + w + 0.5, y + h + 0.5])


_VISIB_WORDS = {  # BopObject.visib_source -> (what, why), in the reader's order of preference
    "px_count": ("visib_fract derived from px_count_visib / px_count_all", ""),
    "masks": ("visib_fract derived from masks (mask_visib / mask pixels)", ""),
    "assumed": ("treated as visible (visib_fract 1)", " (no visib_fract, px counts or masks)"),
}
_BOX_WORDS = {  # BopObject.bbox_source -> what
    "mask_visib": "boxes from mask_visib",
    "mask": "boxes from the full mask (no mask_visib)",
    "model": "boxes from the projected model (no masks)",
}


@dataclass
class SelectionReport:
    """What :func:`select_objects` saw, filled in over a run.

    Attributes:
        seen: annotated objects of the evaluated categories.
        kept: those selected (a box and ``visib_fract >= min_visib``).
        visib_sources: ``{BopObject.visib_source: count}`` over ``seen``.
        box_sources: ``{BopObject.bbox_source: count}`` over ``seen`` with a box.
        no_box: ``{reason: count}`` of the objects skipped for lack of a visible box.
        below_min_visib: objects with a box skipped for ``visib_fract < min_visib``.
        other_categories: ``{category: count}`` of annotated objects not evaluated
            (``"None"``: the dataset's ``models_info.json`` gives no category).
        skipped: ``{reason: count}`` of selected objects dropped later (e.g. no depth image).
    """

    seen: int = 0
    kept: int = 0
    visib_sources: Counter = field(default_factory=Counter)
    box_sources: Counter = field(default_factory=Counter)
    no_box: Counter = field(default_factory=Counter)
    below_min_visib: int = 0
    other_categories: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)

    def derivation(self) -> str:
        """``"visib_fract derived from masks for 3 objects; ..."`` for the objects whose
        visibility or box is not from ``scene_gt_info``, or "" when all are."""
        parts = [
            f"{what} for {self.visib_sources[k]} objects{why}"
            for k, (what, why) in _VISIB_WORDS.items()
            if self.visib_sources.get(k)
        ]
        parts += [
            f"{what} for {self.box_sources[k]} objects"
            for k, what in _BOX_WORDS.items()
            if self.box_sources.get(k)
        ]
        return f"{self.seen} objects seen; " + "; ".join(parts) if parts else ""

    def why_none(self, min_visib: float) -> str:
        """Why nothing was selected: counts of objects without a box, below ``min_visib``,
        dropped later, and of other categories."""
        parts = [f"{self.seen} objects of these categories annotated"]
        if self.no_box:
            reasons = ", ".join(f"{n}: {r}" for r, n in self.no_box.most_common())
            parts.append(f"{sum(self.no_box.values())} without a visible box ({reasons})")
        if self.below_min_visib:
            parts.append(f"{self.below_min_visib} with visib_fract < --min-visib {min_visib}")
        parts += [f"{n} {r}" for r, n in self.skipped.items()]
        if self.other_categories:
            cats = ", ".join(f"{c}: {n}" for c, n in self.other_categories.most_common())
            parts.append(f"objects of other categories: {cats}")
        return "; ".join(parts)

    def to_dict(self) -> dict:
        """Plain JSON-ready dict of the counts plus the :meth:`derivation` text."""
        out = {k: dict(v) if isinstance(v, Counter) else v for k, v in vars(self).items()}
        return {**out, "derivation": self.derivation()}


def select_objects(
    sample, categories: Iterable[str], min_visib: float, report: SelectionReport | None = None
) -> list[int]:
    """Indices of ``sample``'s objects of a known category, visible enough, with a visible box
    at least 2 px wide and high; ``report`` (if given) counts what was seen and skipped."""
    known = set(categories)
    report = SelectionReport() if report is None else report
    keep = []
    for i, obj in enumerate(sample.objects):
        if obj.category not in known:
            report.other_categories[str(obj.category)] += 1
            continue
        report.seen += 1
        report.visib_sources[obj.visib_source] += 1
        box = obj.bbox_visib
        if box is not None:
            report.box_sources[obj.bbox_source] += 1
        if box is None or min(box[2], box[3]) <= 0:
            reason = obj.no_box_reason if box is None else "box under 2 px wide or high"
            report.no_box[reason or "no box"] += 1
        elif obj.visib_fract < min_visib:
            report.below_min_visib += 1
        else:
            report.kept += 1
            keep.append(i)
    return keep


def evaluate(
    dataset,
    estimators: Mapping,
    min_visib: float = 0.3,
    max_objects: int | None = None,
    use_masks: bool = False,
    log: Callable[[str], None] | None = None,
    report: SelectionReport | None = None,
) -> list[ObjectResult]:
    """Run every estimator (preset name -> :class:`NemoEstimator`) on ``dataset``
    (:class:`~offline_training.synthetic.bop_reader.BopDataset`); see the module docstring.

    ``max_objects`` caps the objects per preset (the same objects for every preset); with
    ``use_masks`` the ``mask_visib`` of each object is passed to the estimator too;
    ``report`` (if given) counts the objects seen, their sources and why any were skipped.
    """
    from ros_pose_estimation.core.estimation import Detection

    categories = set.intersection(*(set(e.categories) for e in estimators.values()))
    results: list[ObjectResult] = []
    done, warm = 0, False
    for index in range(len(dataset)):
        if max_objects is not None and done >= max_objects:
            break
        sample = dataset[index]
        keep = select_objects(sample, categories, min_visib, report)
        if max_objects is not None:
            keep = keep[: max_objects - done]
        if not keep:
            continue
        h, w = sample.rgb.shape[:2]
        intr = Intrinsics.from_K(sample.K, w, h)
        dets = [
            Detection(
                sample.objects[i].category,
                bop_box_to_xyxy(sample.objects[i].bbox_visib),
                sample.objects[i].mask_visib if use_masks else None,
            )
            for i in keep
        ]
        if not warm:  # first call builds caches and warms up the allocator: not timed
            for estimator in estimators.values():
                estimator.estimate(sample.rgb, dets[:1], intr)
            warm = True
        for name, estimator in estimators.items():
            start = time.perf_counter()
            estimates = estimator.estimate(sample.rgb, dets, intr)
            per_object = 1e3 * (time.perf_counter() - start) / len(dets)
            for i, est in zip(keep, estimates, strict=True):
                obj = sample.objects[i]
                results.append(ObjectResult(
                    preset=name, category=obj.category, scene_id=sample.scene_id,
                    im_id=sample.im_id, gt_index=i, visib_fract=float(obj.visib_fract),
                    rot_err_deg=float(rotation_error_deg(est.R, obj.R, obj.category)),
                    trans_err_m=float(np.linalg.norm(est.t - obj.t)), score=est.score,
                    latency_ms=per_object, steps=est.steps, converged=est.converged,
                    stages_ms={k: v / len(dets) for k, v in est.timings.items()},
                    loss=float(est.loss), visib_source=obj.visib_source,
                    box_source=str(obj.bbox_source),
                ))  # fmt: skip
        done += len(keep)
        if log is not None:
            log(f"image {index + 1}/{len(dataset)}: {done} objects")
    return results


def _metrics(rows: list[ObjectResult]) -> dict:
    acc = pose_accuracy([r.rot_err_deg for r in rows])
    trans = np.array([r.trans_err_m for r in rows])
    lat = np.array([r.latency_ms for r in rows])
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
    return "\n".join(lines)


def describe_device(device: str) -> str:
    """``"cuda:0 (NVIDIA H100 ...)"`` or ``"cpu (model name, N threads)"``."""
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(
                (ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), model
            )
    except OSError:
        pass
    return f"{device} ({model}, {torch.get_num_threads()} torch threads)"


def parse_variants(items: Iterable[str]) -> dict:
    """``["NAME=JSON", ...]`` -> ``{NAME: InferenceConfig.default().replace(**JSON)}``.

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
            out[name] = InferenceConfig.default().replace(**changes)
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
        choices=PRESET_NAMES,
        help="inference preset; repeat to compare (default: default)",
    )
    p.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=JSON",
        help="also evaluate the default preset with these InferenceConfig changes (a JSON "
        "object of fields; a stage given as an object replaces the whole Schedule, unset "
        "fields at their Schedule defaults); repeat",
    )
    p.add_argument("--max-objects", type=int, default=None, help="stop after N objects")
    p.add_argument(
        "--min-visib",
        type=float,
        default=0.3,
        help="skip objects less visible than this (default 0.3)",
    )
    p.add_argument("--use-masks", action="store_true", help="pass mask_visib to the estimator")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ... (default cpu)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
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
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("evaluate-nemo: error: --device cuda but CUDA is not available", file=sys.stderr)
        return 2
    try:
        dataset = BopDataset(args.data, args.split, load_masks=args.use_masks)
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
    results = evaluate(
        dataset, estimators, args.min_visib, args.max_objects, args.use_masks, log, report
    )
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
