"""Where, by viewing elevation, is NeMo's rotation error? A diagnostic of the RGB estimator.

    python -m benchmarks.nemo_elevation_bias --data out/data/mug_ood --split test \\
        --checkpoint models/nemo/mug.pt --max-objects 200 --threads 1 --json out/elev.json
    python -m benchmarks.nemo_elevation_bias --oracle --checkpoint models/nemo/mug.pt \\
        --supersample 4 --per-elevation 12

For every object selected as ``evaluate-nemo`` selects them, the estimate's rotation error and
its **signed elevation error**: the elevation of a pose is the angle of the camera above the
object's horizontal plane (``asin(-ray . z_obj)``, ``ray`` the unit vector from the camera to
the object's centre, ``z_obj`` the object's up axis in the camera: 90 deg looks straight down,
0 deg from the side); the signed error is predicted minus true elevation (deg). Printed per
category and elevation band: objects, median rotation error, mean signed elevation error. A
mean near 0 in every band says the errors are unbiased in elevation; positive at low and
negative at high elevations says the estimates are pulled towards middle elevations.

``--raw``: the checkpoints' view correction off (:mod:`ros_pose_estimation.core.view_correction`;
the oracle mode always runs without it).

``--oracle``: no dataset; the model's own neural mesh gives the feature maps (what a perfect
network would output, :func:`ros_pose_estimation.nemo.scoring.oracle_features`), rendered at
``--supersample`` times the feature resolution and average-pooled down (a network that pools
what falls into each cell, including sub-cell slivers of faces seen edge-on), for synthetic
poses at fixed elevations. This separates what the feature-map resolution alone does to the
elevation from what the trained features do. Prints the device.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

from benchmarks.device_info import describe

#: Elevation bands of the summary (deg, lower bound inclusive).
BANDS = ((-90.0, 20.0), (20.0, 35.0), (35.0, 50.0), (50.0, 65.0), (65.0, 90.01))


def elevation_deg(R: np.ndarray, t: np.ndarray) -> float:
    """Viewing elevation (deg) of an object at ``R [3 x 3]``, ``t [3]`` (m) in the camera:
    the angle of the camera above the object's xy plane, 90 = looking down its -z."""
    ray = np.asarray(t, dtype=np.float64) / np.linalg.norm(t)
    return float(np.degrees(np.arcsin(np.clip(-ray @ np.asarray(R)[:, 2], -1.0, 1.0))))


def run_dataset(dataset, estimator, max_objects=None, min_visib=0.3) -> list[dict]:
    """Per object: category, true elevation, signed elevation error, rotation error (deg)."""
    from offline_training.evaluation import detection_frames
    from ros_pose_estimation.core.metrics import rotation_error_deg

    rows: list[dict] = []
    for frame in detection_frames(dataset, estimator.categories, min_visib, max_objects):
        estimates = estimator.estimate(frame.sample.rgb, frame.detections, frame.intrinsics)
        for o, est in zip(frame.objects, estimates, strict=True):
            true_el = elevation_deg(o.R, o.t)
            err = float(rotation_error_deg(est.R, o.R, o.category))
            rows.append({"category": o.category, "elevation_deg": true_el,
                         "elevation_error_deg": elevation_deg(est.R, o.t) - true_el,
                         "rot_err_deg": err})  # fmt: skip
    return rows


def run_oracle(model, supersample: int, per_elevation: int, elevations, seed: int = 0):
    """Synthetic poses at each of ``elevations`` (deg), the feature maps a perfect network
    pooling ``supersample``-times finer renders would give; rows as :func:`run_dataset`."""
    import torch
    import torch.nn.functional as F

    from ros_pose_estimation.core.camera import Intrinsics
    from ros_pose_estimation.core.crops import detection_crop
    from ros_pose_estimation.core.estimation import Detection
    from ros_pose_estimation.core.metrics import rotation_error_deg
    from ros_pose_estimation.core.rotations import viewpoint_to_matrix
    from ros_pose_estimation.nemo.estimator import NemoEstimator, feature_camera
    from ros_pose_estimation.nemo.presets import InferenceConfig
    from ros_pose_estimation.nemo.scoring import oracle_features
    from ros_pose_estimation.shapes import template_mesh

    class Maps(torch.nn.Module):  # the feature network's place: returns the set maps
        maps: torch.Tensor | None = None

        def forward(self, crops: torch.Tensor) -> torch.Tensor:
            return self.maps.to(crops.device)

    intr = Intrinsics(500.0, 500.0, 319.5, 239.5, 640, 480)
    image = np.zeros((480, 640, 3), np.uint8)
    cat, cfg, n = model.category, model.config, model.config.feature_size
    model.feature_net = Maps()
    # the oracle's maps are not the trained features the view correction was fitted to
    config = InferenceConfig.named("default").replace(view_correction=False)
    estimator = NemoEstimator({cat: model}, config)
    template = template_mesh(cat).vertices
    rng = np.random.default_rng(seed)
    rows = []
    for el in elevations:
        for _ in range(per_elevation):
            R = viewpoint_to_matrix(rng.uniform(0, 2 * math.pi), math.radians(el),
                                    math.radians(rng.uniform(-10, 10)))  # fmt: skip
            t = np.array([rng.uniform(-0.1, 0.1), rng.uniform(-0.05, 0.05), rng.uniform(0.5, 0.9)])
            uv = intr.project(template @ R.T + t)
            det = Detection(cat, np.concatenate([uv.min(0), uv.max(0)]))
            K = feature_camera(detection_crop(det.box_xyxy, intr, cfg.crop_size,
                                              cfg.crop_scale), cfg)  # fmt: skip
            fine = np.array(K, dtype=np.float64)  # pixel centres: x_fine = s (x + 0.5) - 0.5
            fine[:2] *= supersample
            fine[:2, 2] += 0.5 * (supersample - 1)
            as_t = lambda a: torch.as_tensor(np.asarray(a)[None], dtype=torch.float32)  # noqa: E731
            maps = oracle_features(model.mesh, as_t(R), as_t(t), as_t(fine),
                                   (n * supersample, n * supersample))  # fmt: skip
            model.feature_net.maps = F.normalize(F.avg_pool2d(maps, supersample), dim=1)
            (est,) = estimator.estimate(image, [det], intr)
            true_el = elevation_deg(R, t)
            rows.append({"category": cat, "elevation_deg": true_el,
                         "elevation_error_deg": elevation_deg(est.R, t) - true_el,
                         "rot_err_deg": float(rotation_error_deg(est.R, R, cat))})  # fmt: skip
    return rows


def summarize(rows: list[dict]) -> dict[str, dict]:
    """Per category and band (``"lo..hi"``): objects, median rotation error, mean signed
    elevation error (deg); ``"all"`` over the category."""
    out: dict[str, dict] = {}
    for cat in sorted({r["category"] for r in rows}):
        mine = [r for r in rows if r["category"] == cat]
        bands = {"all": mine}
        for lo, hi in BANDS:
            bands[f"{max(lo, 0):.0f}..{min(hi, 90):.0f}"] = [
                r for r in mine if lo <= r["elevation_deg"] < hi]  # fmt: skip
        out[cat] = {name: {"objects": len(sel),
                           "median_rot_err_deg": float(np.median([r["rot_err_deg"] for r in sel])),
                           "mean_elevation_error_deg": float(np.mean(
                               [r["elevation_error_deg"] for r in sel]))}
                    for name, sel in bands.items() if sel}  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.nemo_elevation_bias",
                                description=__doc__.split("\n")[0])  # fmt: skip
    p.add_argument("--data", help="BOP dataset root (not with --oracle)")
    p.add_argument("--split", default="test")
    p.add_argument("--checkpoint", action="append", required=True, help="NeMo model (repeat)")
    p.add_argument("--max-objects", type=int, default=200)
    p.add_argument("--oracle", action="store_true", help="oracle feature maps, no dataset")
    p.add_argument("--supersample", type=int, default=4, help="--oracle: render this much finer")
    p.add_argument("--per-elevation", type=int, default=12, help="--oracle: poses per elevation")
    p.add_argument("--raw", action="store_true",
                   help="without the checkpoints' view correction (the raw optimum)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    if args.oracle == bool(args.data) or args.supersample < 1 or args.per_elevation < 1:
        print("nemo_elevation_bias: error: give --data or --oracle (one of them), "
              "--supersample >= 1, --per-elevation >= 1", file=sys.stderr)  # fmt: skip
        return 2
    import torch

    from ros_pose_estimation.core.errors import CheckpointError, InputError
    from ros_pose_estimation.nemo.checkpoint import load_checkpoint
    from ros_pose_estimation.nemo.estimator import NemoEstimator
    from ros_pose_estimation.nemo.presets import InferenceConfig

    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"device: {describe('cpu')}")
    try:
        if args.oracle:
            rows = []
            for path in args.checkpoint:
                model = load_checkpoint(path)[0]
                rows += run_oracle(model, args.supersample, args.per_elevation,
                                   (5, 15, 30, 45, 60, 75))  # fmt: skip
        else:
            from offline_training.synthetic.bop_reader import BopDataset

            preset = InferenceConfig.named("default").replace(view_correction=not args.raw)
            estimator = NemoEstimator.from_checkpoints(args.checkpoint, preset)
            rows = run_dataset(BopDataset(args.data, args.split), estimator, args.max_objects)
    except (CheckpointError, InputError, FileNotFoundError) as exc:
        print(f"nemo_elevation_bias: error: {exc}", file=sys.stderr)
        return 1
    if not rows:
        print("nemo_elevation_bias: error: no object of the models' categories", file=sys.stderr)
        return 1
    summary = summarize(rows)
    for cat, bands in summary.items():
        for name, s in bands.items():
            print(f"{cat:8s} elevation {name:>7s}: {s['objects']:4d} objects, median rotation "
                  f"error {s['median_rot_err_deg']:5.1f} deg, mean elevation error "
                  f"{s['mean_elevation_error_deg']:+5.2f} deg")  # fmt: skip
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        result = {"args": vars(args), "device": describe("cpu"), "summary": summary,
                  "rows": rows}
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
