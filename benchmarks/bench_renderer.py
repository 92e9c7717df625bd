"""Time the plain-torch renderer on a neural-mesh-like cuboid (~1000 vertices, ~2000 faces).

For each batch size B and feature-map size, times (median of ``--repeats`` runs after a warm-up):

* ``raster``: :func:`rasterize` (z-buffer, barycentrics, depth), with and without back-face
  culling (exact for this closed mesh);
* ``features``: dense ``[B x D x H x W]`` feature map (:func:`render_features`), forward and
  forward + backward (to an axis-angle + translation pose and the vertex features);
* ``similarity``: per-pixel dot product with one observed ``[D x H x W]`` map
  (:func:`feature_similarity`, the hypothesis-scoring path), forward and forward + backward.

Both wall-clock and process CPU time are reported: on a shared machine the CPU time is the
better estimate of the uncontended cost (the 1-minute load average is printed too).

Usage::

    python -m benchmarks.bench_renderer                      # CPU, about a minute
    python -m benchmarks.bench_renderer --full               # also B = 1024 at 64 x 64
    python -m benchmarks.bench_renderer --device cuda --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.device_info import cpu_model
from ros_pose_estimation.core.rotations import (
    axis_angle_to_matrix,
    random_rotations,
    viewpoint_to_pose,
)
from ros_pose_estimation.render import (
    feature_similarity,
    interpolate,
    rasterize,
)
from ros_pose_estimation.shapes.primitives import box

SIZE = (0.2, 0.1, 0.15)  # cuboid (m), ~NeMo's car-like aspect


def device_info(device: torch.device) -> dict:
    info = {
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "device": str(device),
        "load_avg_1min": os.getloadavg()[0],
    }
    if device.type == "cuda":
        info["cuda_device"] = torch.cuda.get_device_name(device)
    return info


def poses(b: int, distance: float, device, dtype=torch.float32):
    """NeMo's 144 initial poses (12 azimuths x 4 elevations x 3 in-plane) for B = 144, random
    rotations otherwise; the object centred at ``distance`` (m)."""
    if b == 144:
        az, el, th = np.meshgrid(
            np.linspace(0, 2 * np.pi, 12, endpoint=False),
            np.radians([-30, 0, 30, 60]),
            np.radians([-30, 0, 30]),
            indexing="ij",
        )
        R, _ = viewpoint_to_pose(az.ravel(), el.ravel(), th.ravel(), distance)
    else:
        R = random_rotations(b, 0)
    t = np.tile([0.0, 0.0, distance], (b, 1))
    return (
        torch.tensor(np.asarray(R), dtype=dtype, device=device),
        torch.tensor(t, dtype=dtype, device=device),
    )


def timed(fn, repeats: int, device) -> dict:
    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    fn()  # warm-up
    sync()
    walls, cpus = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        sync()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return {
        "wall_ms": 1e3 * statistics.median(walls),
        "wall_min_ms": 1e3 * min(walls),
        "cpu_ms": 1e3 * statistics.median(cpus),
    }


def bench_case(b, res, d, verts, faces, device, repeats, max_dense_mb):
    K = torch.tensor(
        [[1.6 * res, 0, (res - 1) / 2], [0, 1.6 * res, (res - 1) / 2], [0, 0, 1]], device=device
    )
    R0, t0 = poses(b, distance=0.46, device=device)  # the cuboid spans ~70 % of the width
    gen = torch.Generator(device="cpu").manual_seed(0)
    feats = torch.nn.functional.normalize(torch.randn(len(verts), d, generator=gen), dim=1)
    feats = feats.to(device)
    observed = torch.nn.functional.normalize(torch.randn(d, res, res, generator=gen), dim=0)
    observed = observed.to(device)
    size = (res, res)
    out = {}
    frag = rasterize(verts, faces, K, R0, t0, size)
    out["fg_pixels_per_pose"] = int(frag.fg_index.numel()) / b
    with torch.no_grad():
        out["raster"] = timed(lambda: rasterize(verts, faces, K, R0, t0, size), repeats, device)
        out["raster_culled"] = timed(
            lambda: rasterize(verts, faces, K, R0, t0, size, cull_backfaces=True), repeats, device
        )
        out["similarity_fwd"] = timed(
            lambda: feature_similarity(rasterize(verts, faces, K, R0, t0, size), feats, observed),
            repeats,
            device,
        )

    def similarity_fwd_bwd():
        rv = torch.zeros(b, 3, device=device, requires_grad=True)
        t = t0.clone().requires_grad_(True)
        f = feats.clone().requires_grad_(True)
        frag = rasterize(verts, faces, K, axis_angle_to_matrix(rv) @ R0, t, size)
        feature_similarity(frag, f, observed).sum().backward()

    out["similarity_fwd_bwd"] = timed(similarity_fwd_bwd, repeats, device)
    dense_mb = b * d * res * res * 4 / 2**20
    out["dense_map_mb"] = dense_mb
    if dense_mb <= max_dense_mb:
        with torch.no_grad():
            out["features_fwd"] = timed(
                lambda: interpolate(rasterize(verts, faces, K, R0, t0, size), feats),
                repeats,
                device,
            )

        def features_fwd_bwd():
            rv = torch.zeros(b, 3, device=device, requires_grad=True)
            t = t0.clone().requires_grad_(True)
            f = feats.clone().requires_grad_(True)
            frag = rasterize(verts, faces, K, axis_angle_to_matrix(rv) @ R0, t, size)
            maps = interpolate(frag, f)
            (maps * observed).sum().backward()

        out["features_fwd_bwd"] = timed(features_fwd_bwd, repeats, device)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:i]")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 144, 1024])
    parser.add_argument("--resolutions", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--features", type=int, default=128, help="feature channels D")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1: the renderer's ops are small and memory-bound; "
        "intra-op threads gain little and collapse when the cores are shared; 0 = torch default)",
    )
    parser.add_argument(
        "--max-dense-mb",
        type=float,
        default=300.0,
        help="skip dense feature maps larger than this (MB)",
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help="also run cases above 1024 poses x 32 x 32 pixels (slow on CPU)",
    )
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if args.threads > 0 and device.type == "cpu":
        torch.set_num_threads(args.threads)
    mesh = box(np.asarray(SIZE), max_step=0.012)
    verts = torch.tensor(mesh.vertices, dtype=torch.float32, device=device)
    faces = torch.tensor(mesh.faces, device=device)
    info = device_info(device)
    info.update(vertices=len(verts), faces=len(faces), features=args.features)
    print(" | ".join(f"{k}: {v}" for k, v in info.items()))
    results = []
    start = time.perf_counter()
    for res in args.resolutions:
        for b in args.batch_sizes:
            if b * res * res > 1024 * 32 * 32 and not args.full and device.type == "cpu":
                print(f"B={b:5d} {res}x{res} skipped on CPU (use --full)")
                continue
            repeats = args.repeats if b <= 144 else max(3, args.repeats // 2)
            row = dict(batch=b, resolution=res)
            row.update(
                bench_case(b, res, args.features, verts, faces, device, repeats, args.max_dense_mb)
            )
            results.append(row)
            cells = [f"B={b:5d} {res}x{res} (fg {row['fg_pixels_per_pose']:.0f} px/pose)"]
            for key in (
                "raster",
                "raster_culled",
                "similarity_fwd",
                "similarity_fwd_bwd",
                "features_fwd",
                "features_fwd_bwd",
            ):
                if key in row:
                    r = row[key]
                    cells.append(
                        f"{key:18s} {r['wall_ms']:8.1f} ms (min {r['wall_min_ms']:.1f}, "
                        f"cpu {r['cpu_ms']:.1f})"
                    )
                else:
                    cells.append(f"{key} skipped ({row['dense_map_mb']:.0f} MB map)")
            print("\n  ".join(cells), flush=True)
    info["total_s"] = time.perf_counter() - start
    info["load_avg_1min_end"] = os.getloadavg()[0]
    print(f"total {info['total_s']:.1f} s, load average {info['load_avg_1min_end']:.2f}")
    if args.json:
        args.json.write_text(json.dumps({"info": info, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
