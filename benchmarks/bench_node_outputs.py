"""What the node's per-frame post-processing costs, and what the track filter buys.

1. **Smoothing**: a static object (mug, bottle) seen with Gaussian noise (``--sigma-t`` m per
   axis, ``--sigma-r`` deg per axis) for ``--frames`` frames; the mean squared error of the
   raw estimates divided by that of the filtered poses (after a 20-frame warm-up), for
   translation and rotation (symmetry-aware for the bottle: the error of its axis). Default
   weights 0.5: the exponential moving average's theory is 3x.
2. **Timing** (median and p90 of ``--repeats`` runs, process wall clock) per frame with
   ``--objects`` objects of mixed categories: ``TrackFilter.update``, ``detection3d_array``,
   ``tf_message``, ``marker_array`` (template meshes, 300 triangles each), ``diagnostic_array``
   and ``draw_overlay`` on a 640 x 480 image (500-triangle silhouettes).

Usage::

    python -m benchmarks.bench_node_outputs                  # ~10 s on a 2-core VM
    python -m benchmarks.bench_node_outputs --objects 20 --json out.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.device_info import cpu_model
from ros_pose_estimation.core.camera import Intrinsics
from ros_pose_estimation.core.categories import get_category
from ros_pose_estimation.core.rotations import (
    axis_angle_to_matrix,
    random_rotations,
    viewpoint_to_matrix,
)
from ros_pose_estimation.core.symmetry import symmetric_angle
from ros_pose_estimation.node.stats import NodeStats
from ros_pose_estimation.pipeline.track_config import TrackFilterConfig
from ros_pose_estimation.pipeline.tracking import TrackFilter
from ros_pose_estimation.shapes import template_mesh
from ros_pose_estimation.viz.overlay import draw_overlay

CATEGORIES = ("mug", "bottle", "box", "can", "laptop", "camera", "bowl")
FRAME_NS = 33_333_333


@dataclass
class Estimate:
    category: str
    R: np.ndarray
    t: np.ndarray
    score: float
    size: np.ndarray


def smoothing_gain(category, frames, sigma_t, sigma_r_deg, seed) -> dict:
    rng = np.random.default_rng(seed)
    rot = random_rotations(1, rng=rng)[0]
    truth = np.array([0.05, -0.02, 0.7])
    cat = get_category(category)
    filt = TrackFilter(TrackFilterConfig())
    raw_t, raw_r, out_t, out_r, outliers = [], [], [], [], 0
    for k in range(frames):
        noise = axis_angle_to_matrix(rng.normal(0.0, math.radians(sigma_r_deg), 3))
        est = Estimate(
            category,
            rot @ noise,
            truth + rng.normal(0.0, sigma_t, 3),
            0.8,
            template_mesh(category).extents,
        )
        pose = filt.update(k * FRAME_NS, [est])[0]
        outliers += pose.outlier
        if k >= 20:
            raw_t.append(np.sum((est.t - truth) ** 2))
            out_t.append(np.sum((pose.t - truth) ** 2))
            raw_r.append(symmetric_angle(rot, est.R, cat) ** 2)
            out_r.append(symmetric_angle(rot, pose.R, cat) ** 2)
    return {
        "category": category,
        "translation_mse_ratio": float(np.mean(raw_t) / np.mean(out_t)),
        "rotation_mse_ratio": float(np.mean(raw_r) / np.mean(out_r)),
        "outliers": int(outliers),
    }


def _time(fn, repeats: int) -> dict:
    fn()  # warm-up (mesh decimation caches, imports)
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(1e3 * (time.perf_counter() - start))
    return {"median_ms": float(np.median(samples)), "p90_ms": float(np.percentile(samples, 90))}


def timings(objects: int, repeats: int) -> dict:
    from std_msgs.msg import Header

    from ros_pose_estimation.conversions import (
        detection3d_array,
        diagnostic_array,
        marker_array,
        tf_message,
    )

    rng = np.random.default_rng(0)
    cats = [CATEGORIES[i % len(CATEGORIES)] for i in range(objects)]
    meshes = {c: template_mesh(c) for c in set(cats)}
    ests = [
        Estimate(
            c,
            viewpoint_to_matrix(rng.uniform(-3, 3), 0.4, 0.0),
            np.array([0.25 * (i % 5) - 0.5, 0.2 * (i // 5) - 0.3, 1.5]),
            0.8,
            meshes[c].extents,
        )
        for i, c in enumerate(cats)
    ]
    filt = TrackFilter()
    frame = [0]

    def track():
        frame[0] += 1
        return filt.update(frame[0] * FRAME_NS, ests)

    poses = track()
    header = Header(frame_id="camera_color_optical_frame")
    stats = NodeStats()
    for k in range(100):
        stats.inputs.tick(k / 30)
        stats.outputs.tick(k / 30)
        stats.latency.add("total", 80.0)
    intr = Intrinsics(600.0, 600.0, 319.5, 239.5, 640, 480)
    rgb = np.full((480, 640, 3), 90, np.uint8)
    return {
        "track_filter_update": _time(track, repeats),
        "detection3d_array": _time(lambda: detection3d_array(header, poses), repeats),
        "tf_message": _time(lambda: tf_message(header, poses), repeats),
        "marker_array": _time(
            lambda: marker_array(header, poses, lifetime_s=0.5, meshes=meshes), repeats
        ),
        "diagnostic_array": _time(
            lambda: diagnostic_array(0, node_name="pose", stats=stats.snapshot(4.0)), repeats
        ),
        "draw_overlay_640x480": _time(lambda: draw_overlay(rgb, intr, poses, meshes), repeats),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=400)
    parser.add_argument("--sigma-t", type=float, default=0.01, help="m per axis")
    parser.add_argument("--sigma-r", type=float, default=2.0, help="deg per axis")
    parser.add_argument("--objects", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    result = {
        "device": {
            "cpu": cpu_model(),
            "cpu_count": os.cpu_count(),
            "load_avg_1min": os.getloadavg()[0],
        },
        "smoothing": [
            smoothing_gain(c, args.frames, args.sigma_t, args.sigma_r, seed)
            for seed, c in enumerate(("mug", "bottle"))
        ],
        "objects": args.objects,
        "timings": timings(args.objects, args.repeats),
    }
    print(f"device: {result['device']}")
    for row in result["smoothing"]:
        print(
            f"smoothing {row['category']:>6}: translation MSE / {row['translation_mse_ratio']:.2f}"
            f", rotation MSE / {row['rotation_mse_ratio']:.2f}, outliers {row['outliers']}"
        )
    for name, t in result["timings"].items():
        print(
            f"{name:>22} ({args.objects} objects): median {t['median_ms']:.2f} ms, "
            f"p90 {t['p90_ms']:.2f} ms"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
