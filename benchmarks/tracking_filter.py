"""The track filter's smoothing on recorded bags: error of the published poses, and their jitter.

    python -m benchmarks.tracking_filter --bag data/demo/demo_bag [--bag BAG2 ...] \\
        [--method cse|nemo] [--cache out/tracking_filter] [--params config/pose_rgbd.yaml] \\
        [--setting NAME:FIELD=VALUE,FIELD=VALUE ...] [--json F]

Per bag (a recording made by ``generate-bag``, with ``ground_truth.json``):

1. **Estimates** (cached in ``<cache>/<bag>_<method>.npz``, reused when present): every
   synchronised frame's detections estimated by the bundled models of ``--method``
   (:func:`benchmarks.world_fusion.estimate_bag`, the node's pipeline; ``cse`` with the bag's
   aligned depth).
2. **Replay**, per setting: the :class:`~ros_pose_estimation.pipeline.tracking.TrackFilter` of
   ``--params``'s ``tracking.*`` (the node's config file) with the setting's fields changed,
   one update per frame in stamp order, as the node runs it. ``raw`` is the estimates
   themselves (no filter).
3. **Scores** per category, pooled over the bags: the median rotation (deg, symmetry-aware) and
   centre (cm) error of the published poses against ground truth, and the **jitter**: between
   consecutive frames of one object, how much the published pose's error changes (rotation
   deg, symmetry-aware; centre mm), the median. A still camera's poses should not jitter; a
   moving camera's should follow the truth without lag (a lagging pose has a larger error).

Prints the device and one table per bag and setting group; ``--json`` writes the figures.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import fields, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def parse_setting(text: str) -> tuple[str, dict]:
    """``NAME:FIELD=VALUE,FIELD=VALUE`` (or ``NAME:`` for the file's values) -> ``(NAME,
    {FIELD: value of the field's type})``."""
    from ros_pose_estimation.pipeline.track_config import TrackFilterConfig

    name, _, rest = text.partition(":")
    known = {f.name: type(f.default) for f in fields(TrackFilterConfig)}
    values = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        if key not in known:
            raise SystemExit(f"tracking_filter: unknown tracking field {key!r} in {text!r}")
        values[key] = known[key](float(value))
    if not name:
        raise SystemExit(f"tracking_filter: a setting needs a name: {text!r}")
    return name, values


def replay(est: dict, truth, config) -> dict:
    """Per category: ``{"raw" | "tracked": [(series key, stamp, rot err deg, centre err m,
    E [3 x 3], d [3])]}`` where ``E = R_gt^T R`` and ``d = t - t_gt``; ``config`` None: only
    the raw estimates."""
    from benchmarks.world_fusion import frame_estimates
    from ros_pose_estimation.pipeline.tracking import TrackFilter

    tracker = TrackFilter(config) if config is not None else None
    rows: dict[str, list] = {}
    for stamp in (int(s) for s in est["frames"]):
        estimates = frame_estimates(est, stamp)
        poses = estimates if tracker is None else tracker.update(stamp, estimates)
        in_camera = truth.poses_in_camera(stamp)
        for e, p in zip(estimates, poses, strict=True):
            m = truth.match(stamp, e.category, p.R, p.t)
            if m is None:
                continue
            _, R_gt, t_gt, _ = in_camera[m.index]
            rows.setdefault(e.category, []).append(
                (m.index, stamp, m.rotation_error_deg, m.translation_error_m,
                 R_gt.T @ np.asarray(p.R), np.asarray(p.t) - t_gt))  # fmt: skip
    return rows


def scores(rows: list, category: str) -> dict:
    """Median errors and jitter of one category's rows (:func:`replay`)."""
    from ros_pose_estimation.core.metrics import rotation_error_deg

    rot = np.array([r[2] for r in rows])
    trans = np.array([r[3] for r in rows])
    jitter_r, jitter_t = [], []
    series: dict[int, list] = {}
    for r in rows:
        series.setdefault(r[0], []).append(r)
    for items in series.values():
        items.sort(key=lambda r: r[1])
        for a, b in zip(items, items[1:], strict=False):
            jitter_r.append(float(rotation_error_deg(b[4], a[4], category)))
            jitter_t.append(float(np.linalg.norm(b[5] - a[5])))
    return {
        "poses": len(rows),
        "rot_deg": float(np.median(rot)),
        "trans_cm": float(100 * np.median(trans)),
        "within_10deg": float(np.mean(rot <= 10.0)),
        "jitter_deg": float(np.median(jitter_r)) if jitter_r else None,
        "jitter_mm": float(1000 * np.median(jitter_t)) if jitter_t else None,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.tracking_filter",
                                description=__doc__.split("\n")[0])  # fmt: skip
    p.add_argument("--bag", action="append", required=True, help="generate-bag recording")
    p.add_argument("--method", choices=("cse", "nemo"), default="cse")
    p.add_argument("--cache", default="out/tracking_filter")
    p.add_argument("--params", default=None,
                   help="node parameters file (default: config/pose_rgbd.yaml for cse, "
                        "config/pose.yaml for nemo)")  # fmt: skip
    p.add_argument("--setting", action="append", default=[],
                   help="NAME:FIELD=VALUE,... tracking fields over the file's (NAME: alone: the "
                        "file's own); default: the file's")  # fmt: skip
    p.add_argument("--preset", default="default", help="NeMo preset")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    import torch

    from benchmarks.device_info import describe
    from benchmarks.world_fusion import estimate_bag, file_tracking_config
    from ros_pose_estimation.tools.ground_truth import GroundTruth

    torch.set_num_threads(args.threads)
    default_params = "pose_rgbd.yaml" if args.method == "cse" else "pose.yaml"
    params = Path(args.params) if args.params else ROOT / "config" / default_params
    base = file_tracking_config(params)
    settings = [parse_setting(s) for s in (args.setting or ["file:"])]
    device = describe("cpu")
    print(f"device: {device}")
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    pooled: dict[str, dict[str, list]] = {}
    per_bag = {}
    for bag in map(Path, args.bag):
        truth = GroundTruth(bag)
        categories = sorted({o[0] for o in truth.objects})
        npz = cache / f"{bag.name}_{args.method}.npz"
        if npz.is_file():
            est = dict(np.load(npz))
        else:
            print(f"estimating {bag} ({args.method}, {', '.join(categories)})", flush=True)
            est = estimate_bag(bag, categories, args.preset, "cpu", method=args.method)
            np.savez(npz, **est)
        runs = {"raw": replay(est, truth, None)}
        for name, values in settings:
            runs[name] = replay(est, truth, replace(base, **values).validate())
        per_bag[bag.name] = {}
        for name, by_cat in runs.items():
            for category, rows in by_cat.items():
                # series keys are per bag: a bag's object indices must not meet another's
                keyed = [((bag.name, r[0]), *r[1:]) for r in rows]
                pooled.setdefault(name, {}).setdefault(category, []).extend(keyed)
                per_bag[bag.name].setdefault(name, {})[category] = scores(rows, category)
    table = {name: {c: scores(rows, c) for c, rows in sorted(by_cat.items())}
             for name, by_cat in pooled.items()}  # fmt: skip
    print("\npooled over " + ", ".join(per_bag) + f" ({args.method}, {params.name})")
    print("| setting | category | poses | rotation (deg) | centre (cm) | <= 10 deg | "
          "jitter rotation (deg) | jitter centre (mm) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for name, by_cat in table.items():
        for c, s in by_cat.items():
            print(f"| {name} | {c} | {s['poses']} | {s['rot_deg']:.2f} | {s['trans_cm']:.2f} | "
                  f"{s['within_10deg']:.2f} | {s['jitter_deg']:.2f} | {s['jitter_mm']:.1f} |")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({
            "device": device, "args": vars(args), "settings": dict(settings),
            "pooled": table, "per_bag": per_bag}, indent=1))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
