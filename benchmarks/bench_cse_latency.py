"""RGB-D (CSE) inference latency with 1 and 5 objects; untrained models: speed only.

    python -m benchmarks.bench_cse_latency [--objects 1 5] [--device cuda] [--frames 20]
    python -m benchmarks.bench_cse_latency --checkpoint mug_cse.pt --checkpoint ...  # trained

No CSE model is bundled yet, so by default every category of the frame (mug, bottle, camera)
gets a randomly initialised :class:`~ros_pose_estimation.cse.model.CseModel` in the
configuration ``train-cse`` trains by default (``CseTrainConfig``: backbone, crop size,
template vertices; ``--backbone`` / ``--crop-size`` override them). Its poses are meaningless
("UNTRAINED: speed only"), and its correspondences are not confident, so ``min_confidence`` is
set to 0: RANSAC and ICP then run on every object cell, the most work the solver can get. With
``--checkpoint`` the trained models and the published inference settings are used instead.

Frame: the synthetic RGB-D frame of ``benchmarks.bench_pipeline`` (template meshes rendered
~0.7 m away in front of a wall, exact depth in metres; ``--width`` x ``--height``); detections
are boxes without masks, as a detector gives them (the estimator cuts the object out of the
box by depth). Timed: :meth:`CseEstimator.estimate` per frame after ``--warmup`` untimed
frames, median / p90 ms per frame and per object, and the estimator's mean stage times.
Prints the device; ``--json`` writes everything.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np

from benchmarks.bench_pipeline import frame_summary, synthetic_frame, timed_calls, with_objects
from benchmarks.device_info import describe

CATEGORIES = ("mug", "bottle", "camera")


def untrained_models(categories, device: str, backbone: str | None = None,
                     crop_size: int | None = None, seed: int = 0) -> dict:  # fmt: skip
    """Category -> randomly initialised :class:`CseModel` (train-cse's default config)."""
    import torch

    from offline_training.cse.train import CseTrainConfig
    from ros_pose_estimation.cse.model import CseModel

    torch.manual_seed(seed)
    models = {}
    for c in categories:
        cfg = CseTrainConfig(data="", category=c, out="")
        if backbone:
            cfg.backbone = backbone
        if crop_size:
            cfg.crop_size = crop_size
        models[c] = CseModel(cfg.model_config()).to(device).eval()
    return models


def run(estimator, frame, objects: int, frames: int, warmup: int) -> dict:
    """Time ``frames`` calls of ``estimator.estimate`` on ``frame`` with ``objects`` boxes."""
    dets = with_objects(frame.detections, objects)
    frame_ms, results = timed_calls(
        lambda _: estimator.estimate(frame.rgb, dets, frame.intrinsics, frame.depth,
                                     errors="none"), frames, warmup)  # fmt: skip
    solved, stages = [], {}
    for estimates in results:
        done = [e for e in estimates if e is not None]
        solved.append(len(done))
        if done:  # every estimate of a call carries the call's stage times
            for stage, ms in done[0].timings.items():
                stages[stage] = stages.get(stage, 0.0) + ms / frames
    return {**frame_summary(objects, frames, warmup, frame_ms, stages),
            "solved_per_frame": float(np.mean(solved))}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--objects", type=int, nargs="+", default=[1, 5])
    p.add_argument("--frames", type=int, default=20, help="timed frames per object count")
    p.add_argument("--warmup", type=int, default=3, help="untimed frames first")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    p.add_argument("--checkpoint", action="append", help="trained CSE model; repeat")
    p.add_argument("--backbone", default=None, help="untrained model's backbone")
    p.add_argument("--crop-size", type=int, default=None, help="untrained model's crop size")
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    if min(args.objects) < 1 or args.frames < 1 or args.warmup < 0:
        p.error("need --objects >= 1, --frames >= 1, --warmup >= 0")

    import torch

    from ros_pose_estimation.cse.estimator import CseEstimator, CseInferenceConfig

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("bench_cse_latency: error: --device cuda but CUDA is not available", file=sys.stderr)
        return 2
    if args.checkpoint:
        estimator = CseEstimator.from_checkpoints(args.checkpoint, device=args.device)
        label = "trained: " + ", ".join(args.checkpoint)
    else:
        models = untrained_models(CATEGORIES, args.device, args.backbone, args.crop_size,
                                  args.seed)  # fmt: skip
        estimator = CseEstimator(models, CseInferenceConfig(min_confidence=0.0), args.device)
        label = "UNTRAINED: speed only"
    cats = estimator.categories
    frame = synthetic_frame(cats, max(args.objects), args.width, args.height, args.seed)
    model = next(iter(estimator.models.values())).config
    print(f"device: {describe(args.device)}")
    print(f"{label}; {', '.join(cats)}: backbone {model.backbone}, crop {model.crop_size} px, "
          f"stride {model.stride}, {model.n_vertices} template vertices; frame: {frame.source}",
          flush=True)  # fmt: skip
    results = []
    for n in args.objects:
        r = run(estimator, frame, n, args.frames, args.warmup)
        results.append(r)
        print(f"{n} object(s): {r['frame_ms_median']:.1f} ms per frame median, p90 "
              f"{r['frame_ms_p90']:.1f} ms ({r['object_ms_median']:.1f} ms per object; "
              f"{r['solved_per_frame']:.1f} solved per frame, {args.frames} frames)",
              flush=True)  # fmt: skip
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "device": describe(args.device), "models": label, "model_config": model.to_dict(),
            "inference_config": asdict(estimator.config), "frame": frame.source,
            "results": results,
        }, indent=2))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
