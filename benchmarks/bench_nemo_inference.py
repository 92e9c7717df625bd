"""RGB render-and-compare inference: default vs reference preset, same run, same objects.

    python -m benchmarks.bench_nemo_inference --data DIR --split test \\
        --checkpoint mug.pt [--checkpoint laptop.pt] [--max-objects 20] [--device cuda]
    python -m benchmarks.bench_nemo_inference            # untrained model: speed only

Prints the device, per preset the latency per object (median, p90; image time / objects, the
objects of an image estimated in one call), the mean time per stage, the median rotation and
translation errors, and the speed-up of the default preset over the reference one (ratio of
median latencies). Presets are interleaved image by image, so both see the same machine load.

Without ``--data`` / ``--checkpoint`` it generates a small dataset (``generate-dataset``, mug
and camera, 320 x 240) in a temporary folder and builds randomly initialised models
(``--backbone``, default resnet18, 128 px crops, 1000 vertices, 128-d features): the timings
are those of a real-size model, the errors are meaningless ("UNTRAINED: speed only").
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from benchmarks.device_info import describe


def _untrained_setup(workdir: Path, backbone: str, images: int, seed: int) -> tuple[str, list]:
    import torch

    from offline_training.synthetic.cli import dataset_main
    from ros_pose_estimation.nemo.checkpoint import save_checkpoint
    from ros_pose_estimation.nemo.model import NemoConfig, NemoModel

    data = workdir / "data"
    cats = ["mug", "camera"]
    argv = ["--out", str(data), "--instances", "2", "--images", str(images), "--seed", str(seed),
            "--split", "test", "--objects-per-image", "1..3", "--no-progress"]  # fmt: skip
    for c in cats:
        argv += ["--category", c]
    if dataset_main(argv) != 0:
        raise RuntimeError("generate-dataset failed")
    torch.manual_seed(seed)
    ckpts = [
        save_checkpoint(workdir / f"{c}.pt", NemoModel(NemoConfig(c, backbone=backbone)))
        for c in cats
    ]
    return str(data), [str(p) for p in ckpts]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", help="BOP dataset root (default: generate one, untrained model)")
    p.add_argument("--split", default="test")
    p.add_argument("--checkpoint", action="append", help="checkpoint per category; repeat")
    p.add_argument(
        "--preset",
        action="append",
        choices=("default", "fast", "reference"),
        help="presets to compare (default: default and reference)",
    )
    p.add_argument("--max-objects", type=int, default=12)
    p.add_argument("--min-visib", type=float, default=0.3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--backbone", default="resnet18", help="untrained model's backbone")
    p.add_argument("--images", type=int, default=8, help="images of the generated dataset")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help="write the results here")
    args = p.parse_args(argv)  # fmt: skip
    if bool(args.data) != bool(args.checkpoint):
        p.error("give both --data and --checkpoint, or neither (untrained speed benchmark)")

    import torch

    from offline_training.nemo.evaluate import evaluate, format_summary, summarize
    from offline_training.synthetic.bop_reader import BopDataset
    from ros_pose_estimation.nemo.estimator import NemoEstimator
    from ros_pose_estimation.nemo.presets import InferenceConfig

    if args.threads:
        torch.set_num_threads(args.threads)
    presets = list(dict.fromkeys(args.preset or ["default", "reference"]))
    with tempfile.TemporaryDirectory(prefix="bench_nemo_") as tmp:
        untrained = not args.data
        data, ckpts = (args.data, args.checkpoint)
        if untrained:
            data, ckpts = _untrained_setup(Path(tmp), args.backbone, args.images, args.seed)
        estimators = {
            n: NemoEstimator.from_checkpoints(ckpts, InferenceConfig.named(n), args.device)
            for n in presets
        }
        dataset = BopDataset(data, args.split, load_masks=False)
        results = evaluate(dataset, estimators, args.min_visib, args.max_objects)
    if not results:
        print("no objects to evaluate", file=sys.stderr)
        return 1
    device = describe(args.device)
    label = (f"UNTRAINED {args.backbone} models: speed only, errors meaningless"
             if untrained else f"checkpoints {', '.join(ckpts)}")  # fmt: skip
    summary = summarize(results)
    print(label)
    print(format_summary(summary, device))
    for name in presets:
        stages = summary[name]["all"]["stages_ms_mean"]
        text = ", ".join(f"{k} {v:.1f}" for k, v in stages.items())
        print(f"{name:10s} mean ms per object by stage: {text}")
    speedup = None
    if "default" in summary and "reference" in summary:
        ref = summary["reference"]["all"]["latency_ms_median"]
        fast = summary["default"]["all"]["latency_ms_median"]
        speedup = ref / fast
        print(f"speed-up default vs reference (median latency per object): {speedup:.1f}x")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "device": device, "label": label, "untrained": untrained, "summary": summary,
            "speedup_default_vs_reference": speedup,
        }, indent=1))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
