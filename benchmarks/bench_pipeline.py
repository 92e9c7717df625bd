"""The node's per-frame work without ROS: :class:`PosePipeline` latency with 1 and 5 objects.

    python -m benchmarks.bench_pipeline [--objects 1 5] [--device cuda] [--frames 20]
    python -m benchmarks.bench_pipeline --data out/data/mug_ood --device cuda --json out.json
    python -m benchmarks.bench_pipeline --device cuda --first-calls 6    # + first-call costs

The pipeline is built as the node's configure step builds it
(:func:`ros_pose_estimation.node.pipeline_factory.build_pipeline`) from ``config/pose.yaml``:
the bundled mug / bottle / camera models, the preset of that file (``--preset`` overrides it).
Only ``device`` and ``num_threads`` are replaced by ``--device`` / ``--threads`` (and ``cudnn``
by ``--cudnn``: cuDNN on for the convolutions, as before the node parameter existed).

Frame: by default a synthetic ``--width`` x ``--height`` frame (hfov 60 deg): the categories'
template meshes rendered flat-shaded at random rotations in a row ~0.7 m away, in front of a
textured wall; boxes from the visible silhouettes. With ``--data`` the first image of a BOP
dataset that has annotated objects of the configured categories, with their visible boxes. With
``N`` objects the frame's detections are repeated with a 2 px shift until there are ``N``, as
``benchmarks.bench_node`` does. No accuracy is measured here (``evaluate-nemo`` does that).

Timed: :meth:`PosePipeline.process` per frame (stamps 100 ms apart, so the tracker sees a
stream), after ``--warmup`` untimed frames: median / p90 ms per frame, per object, and the mean
of the pipeline's stage timings. That is the node's work per frame minus the message
conversions and DDS (``benchmarks.bench_node`` measures the node itself, with ROS).
Prints the device (``benchmarks.device_info.describe``); ``--json`` writes everything.

``--first-calls K`` first times, for 1..K objects in turn (the frame's first object repeated,
so one model sees a batch of K), the first call that sees that many detections and a repeat of
it (tracker reset before each): on a GPU a batch shape the process has not run yet costs kernel
selection and loading once, which a node pays whenever a frame brings a number of objects of a
category that it has not seen before.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.device_info import describe

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config" / "pose.yaml"
LIGHT = np.array([0.3, -0.5, -0.8]) / np.linalg.norm([0.3, -0.5, -0.8])  # camera frame


@dataclass
class Frame:
    """One input frame: ``rgb`` ``[H x W x 3]`` uint8, ``depth`` ``[H x W]`` float32 m (None
    without depth), its intrinsics, the detections and where it came from."""

    rgb: np.ndarray
    depth: np.ndarray | None
    intrinsics: object  # ros_pose_estimation.core.camera.Intrinsics
    detections: list
    source: str


def _box(mask: np.ndarray) -> list[float]:
    """Pixel-centre box ``[x0, y0, x1, y1]`` covering the True pixels of ``mask``."""
    rows, cols = np.nonzero(mask)
    return [cols.min() - 0.5, rows.min() - 0.5, cols.max() + 0.5, rows.max() + 0.5]


def synthetic_frame(categories, n: int, width: int = 640, height: int = 480,
                    seed: int = 0) -> Frame:  # fmt: skip
    """``n`` objects (categories cycled) rendered with the project's rasteriser in a row ~0.7 m
    in front of the camera, wall at 1.0 m; flat Lambert shading, noisy texture elsewhere."""
    import cv2
    import torch

    from ros_pose_estimation.core.camera import Intrinsics
    from ros_pose_estimation.core.estimation import Detection
    from ros_pose_estimation.core.rotations import random_rotations
    from ros_pose_estimation.render import rasterize
    from ros_pose_estimation.shapes import template_mesh

    rng = np.random.default_rng(seed)
    f = 0.5 * width / np.tan(np.radians(30.0))
    intr = Intrinsics(f, f, (width - 1) / 2, (height - 1) / 2, width, height)
    K = torch.as_tensor(intr.K, dtype=torch.float32)
    noise = rng.normal(0.0, 1.0, (height // 8, width // 8, 3)).astype(np.float32)
    rgb = 110 + 40 * cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)
    rgb += rng.normal(0.0, 6.0, rgb.shape)
    depth = np.full((height, width), 1.0, np.float32)
    half_width = 0.65 * 0.7 * width / (2 * f)  # the row spans 65 % of the view at 0.7 m
    xs = np.linspace(-half_width, half_width, n) if n > 1 else np.zeros(1)
    cats = [categories[i % len(categories)] for i in range(n)]
    owner = np.full((height, width), -1)
    for i, (cat, R) in enumerate(zip(cats, random_rotations(n, rng), strict=True)):
        mesh = template_mesh(cat)
        t = np.array([xs[i], 0.06 * (-1) ** i, 0.7 + 0.05 * (i % 3)])
        frag = rasterize(
            torch.as_tensor(mesh.vertices, dtype=torch.float32),
            torch.as_tensor(mesh.faces, dtype=torch.int64), K,
            torch.as_tensor(R, dtype=torch.float32)[None],
            torch.as_tensor(t, dtype=torch.float32)[None], (height, width),
        )  # fmt: skip
        face = frag.pix_to_face[0].numpy()
        z = frag.depth[0].numpy()
        front = (face >= 0) & (z < depth)
        v = mesh.vertices @ R.T
        tri = v[mesh.faces]
        normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        normal /= np.linalg.norm(normal, axis=1, keepdims=True) + 1e-12
        shade = 0.3 + 0.7 * np.abs(normal @ LIGHT)
        colour = rng.uniform(60, 230, 3)
        rgb[front] = shade[face[front], None] * colour
        depth[front] = z[front]
        owner[front] = i
    detections = [Detection(cat, _box(owner == i)) for i, cat in enumerate(cats)
                  if (owner == i).any()]  # fmt: skip
    source = f"synthetic {width}x{height}, {len(detections)} rendered templates"
    return Frame(np.clip(rgb, 0, 255).astype(np.uint8), depth, intr, detections, source)


def bop_frame(root: str, split: str, categories) -> Frame:
    """The first image of a BOP dataset with visible objects of ``categories``."""
    from offline_training.evaluation import bop_box_to_xyxy
    from offline_training.synthetic.bop_reader import BopDataset
    from ros_pose_estimation.core.camera import Intrinsics
    from ros_pose_estimation.core.estimation import Detection

    dataset = BopDataset(root, split, load_masks=False)
    for i in range(len(dataset)):
        s = dataset[i]
        dets = [Detection(o.category, bop_box_to_xyxy(o.bbox_visib)) for o in s.objects
                if o.category in categories and o.bbox_visib is not None]  # fmt: skip
        if dets:
            h, w = s.rgb.shape[:2]
            intr = Intrinsics(s.K[0, 0], s.K[1, 1], s.K[0, 2], s.K[1, 2], w, h)
            return Frame(s.rgb, s.depth, intr, dets,
                         f"{root}/{split} scene {s.scene_id} image {s.im_id}")  # fmt: skip
    raise SystemExit(f"bench_pipeline: no object of {sorted(categories)} in {root}/{split}")


def with_objects(detections: list, n: int) -> list:
    """``n`` detections: ``detections`` repeated, each repeat shifted right by 2 px more."""
    out = []
    for i in range(n):
        d = copy.deepcopy(detections[i % len(detections)])
        shift = 2.0 * (i // len(detections))
        d.box_xyxy = np.asarray(d.box_xyxy, dtype=np.float64) + [shift, 0.0, shift, 0.0]
        out.append(d)
    return out


def node_params(config: Path, overrides: dict):
    """The node's checked parameter read over a parameters file: ``name -> value`` (defaults
    and checks of :mod:`ros_pose_estimation.node.params`, values of ``config``, ``overrides``)."""
    import yaml

    from ros_pose_estimation.node.params import flat_parameters, parameter_reader

    values = flat_parameters(yaml.safe_load(config.read_text())["/**"]["ros__parameters"])
    return parameter_reader({**values, **overrides})


def timed_calls(call, frames: int, warmup: int) -> tuple[dict, list]:
    """Run ``call(k)`` ``warmup + frames`` times; returns the median and p90 (ms) of the timed
    calls and their results (``frames`` of them)."""
    times, results = [], []
    for k in range(warmup + frames):
        t0 = time.perf_counter()
        out = call(k)
        if k >= warmup:
            times.append(1e3 * (time.perf_counter() - t0))
            results.append(out)
    ms = np.asarray(times, dtype=float)
    return {"median": float(np.median(ms)), "p90": float(np.percentile(ms, 90))}, results


def frame_summary(objects: int, frames: int, warmup: int, frame_ms: dict, stages: dict) -> dict:
    """The per-object-count record both latency benchmarks write (ms)."""
    return {
        "objects": objects, "frames": frames, "warmup": warmup,
        "frame_ms_median": frame_ms["median"], "frame_ms_p90": frame_ms["p90"],
        "object_ms_median": frame_ms["median"] / objects, "stage_ms_mean": stages,
    }  # fmt: skip


def run(pipeline, frame: Frame, objects: int, frames: int, warmup: int) -> dict:
    """Time ``frames`` calls of ``pipeline.process`` on ``frame`` with ``objects`` detections."""
    dets = with_objects(frame.detections, objects)
    pipeline.reset()
    start = 1_800_000_000 * 10**9  # stamps 0.1 s apart
    frame_ms, results = timed_calls(
        lambda k: pipeline.process(frame.rgb, dets, frame.intrinsics, start + k * 100_000_000,
                                   frame.depth), frames, warmup)  # fmt: skip
    stages = {}
    for result in results:
        for key, ms in result.timings.items():
            stages[key] = stages.get(key, 0.0) + ms / frames
    return {**frame_summary(objects, frames, warmup, frame_ms, stages),
            "estimated_per_frame": float(np.mean([len(r.estimates) for r in results])),
            "skipped_last_frame": results[-1].skipped}  # fmt: skip


def first_calls(pipeline, frame: Frame, k: int) -> list[dict]:
    """For ``n`` = 1..``k`` objects: ms of the first ``pipeline.process`` call with ``n``
    detections (the frame's first, repeated) and of the same call repeated (tracker reset
    before each)."""
    rows = []
    for n in range(1, k + 1):
        dets = with_objects(frame.detections[:1], n)
        ms = []
        for _ in range(2):
            pipeline.reset()
            t0 = time.perf_counter()
            pipeline.process(frame.rgb, dets, frame.intrinsics, 1_800_000_000 * 10**9,
                             frame.depth)  # fmt: skip
            ms.append(1e3 * (time.perf_counter() - t0))
        rows.append({"objects": n, "first_ms": ms[0], "repeat_ms": ms[1]})
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--objects", type=int, nargs="+", default=[1, 5])
    p.add_argument("--frames", type=int, default=20, help="timed frames per object count")
    p.add_argument("--warmup", type=int, default=3, help="untimed frames first")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N, auto")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    p.add_argument("--config", type=Path, default=CONFIG, help="node parameters file")
    p.add_argument("--preset", default=None, help="override the file's NeMo preset")
    p.add_argument("--data", help="BOP dataset root to take the frame from (default: synthetic)")
    p.add_argument("--split", default="test")
    p.add_argument("--width", type=int, default=640, help="synthetic frame width")
    p.add_argument("--height", type=int, default=480, help="synthetic frame height")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cudnn", action="store_true", help="cuDNN on (the file says off)")
    p.add_argument("--first-calls", type=int, default=0, metavar="K",
                   help="first: time the first and a repeated call with 1..K objects")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    if min(args.objects) < 1 or args.frames < 1 or args.warmup < 0 or args.first_calls < 0:
        p.error("need --objects >= 1, --frames >= 1, --warmup >= 0, --first-calls >= 0")

    import torch

    from ros_pose_estimation.core.errors import PoseEstimationError
    from ros_pose_estimation.node.pipeline_factory import build_pipeline

    overrides = {"device": args.device, "num_threads": args.threads,
                 "max_objects": max(20, *args.objects)}  # fmt: skip
    if args.preset:
        overrides["preset"] = args.preset
    if args.cudnn:
        overrides["cudnn"] = True
    value = node_params(args.config, overrides)
    t0 = time.perf_counter()
    try:
        pipeline, specs, device = build_pipeline(value)
    except PoseEstimationError as exc:
        print(f"bench_pipeline: error: {exc}", file=sys.stderr)
        return 2
    load_s = time.perf_counter() - t0
    cats = [s.category for s in specs]
    if args.data:
        frame = bop_frame(args.data, args.split, cats)
    else:
        frame = synthetic_frame(cats, max(args.objects), args.width, args.height, args.seed)
    print(f"device: {describe(device)}")
    print(
        f"models: {', '.join(f'{s.category} ({s.method})' for s in specs)}, preset "
        f"{value('preset')}, loaded in {load_s:.1f} s; frame: {frame.source}"
        + (f"; cuDNN {'on' if value('cudnn') else 'off'}" if device.startswith("cuda") else ""),
        flush=True,
    )
    first = first_calls(pipeline, frame, args.first_calls)
    for r in first:
        print(f"{r['objects']} object(s), first call: {r['first_ms']:.1f} ms, repeated: "
              f"{r['repeat_ms']:.1f} ms", flush=True)  # fmt: skip
    results = []
    for n in args.objects:
        if device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats(device)
        r = run(pipeline, frame, n, args.frames, args.warmup)
        if device.startswith("cuda"):
            r["cuda_peak_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
        results.append(r)
        print(f"{n} object(s): {r['frame_ms_median']:.1f} ms per frame median, p90 "
              f"{r['frame_ms_p90']:.1f} ms ({r['object_ms_median']:.1f} ms per object; "
              f"{r['estimated_per_frame']:.1f} estimates per frame, {args.frames} frames)",
              flush=True)  # fmt: skip
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "device": describe(device), "config": str(args.config), "preset": value("preset"),
            "cudnn": bool(value("cudnn")) if device.startswith("cuda") else None,
            "models": {s.category: s.checkpoint for s in specs}, "frame": frame.source,
            "load_s": load_s, "first_calls": first, "results": results,
        }, indent=2))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
