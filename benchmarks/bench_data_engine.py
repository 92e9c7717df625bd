"""Data engine throughput: render time per frame and bag-writing rate, on this CPU.

    python -m benchmarks.bench_data_engine [--repeats 10] [--json out.json]

Renders a 3-object scene (open3d ray casting, shadows on) at 320x240 and 640x480 with and
without sensor noise; prints the median and p90 per frame plus the device.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.device_info import describe


def bench_render(width: int, height: int, noise: bool, repeats: int) -> dict:
    from offline_training.synthetic.render import render
    from offline_training.synthetic.scene import sample_scene
    from offline_training.synthetic.sensor_noise import SensorNoise
    from offline_training.synthetic.views import camera_on_sphere, fit_distance
    from ros_pose_estimation.core.camera import Intrinsics

    rng = np.random.default_rng(0)
    scene = sample_scene(["mug", "bottle", "camera"], rng, n_objects=3, cycle_categories=True)
    f = 0.5 * width / np.tan(np.deg2rad(30))
    intr = Intrinsics(f, f, (width - 1) / 2, (height - 1) / 2, width, height)
    center, radius = scene.center_and_radius()
    dist = fit_distance(radius, f, f, width, height, 0.8)
    model = SensorNoise() if noise else None
    times = []
    for i in range(repeats + 2):
        pose = camera_on_sphere(30.0 * i, 35.0, dist, center)
        t0 = time.perf_counter()
        render(scene, pose, intr, noise=model, rng=rng)
        if i >= 2:  # warm-up
            times.append(time.perf_counter() - t0)
    ms = 1e3 * np.array(times)
    return {
        "what": f"render {width}x{height} 3 objects{' +noise' if noise else ''}",
        "median_ms": float(np.median(ms)),
        "p90_ms": float(np.percentile(ms, 90)),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--json", help="write the results here")
    args = p.parse_args(argv)
    device = describe("cpu")
    print(device)
    results = []
    for w, h in ((320, 240), (640, 480)):
        for noise in (False, True):
            r = bench_render(w, h, noise, args.repeats)
            results.append(r)
            print(f"{r['what']:40s} median {r['median_ms']:7.1f} ms  p90 {r['p90_ms']:7.1f} ms")
    if args.json:
        Path(args.json).write_text(json.dumps({"device": device, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
