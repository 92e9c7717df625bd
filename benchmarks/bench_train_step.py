"""NeMo training step cost of several backbones, interleaved step by step on the same batches.

    python -m benchmarks.bench_train_step --data out/data/mug_train --category mug \\
        --backbone efficientnet_lite0 --backbone efficientnet_lite0:1:3 --backbone small \
        --steps 20 --threads 1 [--json F]

Each backbone gets its own model and optimizer (the bundled models' settings: 128 px crops,
batch 16, D = 128, 64 fused channels, at most 1024 vertex observations in the loss;
``BACKBONE:K[:N]`` freezes the stem and first K stages, ``--frozen-stages K``, and keeps N
stages, ``--backbone-stages N``); every
batch (augmented crops from the dataset, decoded once) goes through one ``train_step`` of each
backbone in turn, so all see the same machine load. Prints the median and p90 seconds per step
and the ratio to the first backbone: with the learning curves of ``benchmarks.nemo_compare
--curve`` (accuracy against steps) this gives accuracy at equal training time. Only the
optimisation step is timed (data loading happens once, before). Prints the device.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.device_info import describe


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_train_step", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="BOP training dataset root")
    p.add_argument("--split", default="train")
    p.add_argument("--category", required=True)
    p.add_argument("--backbone", action="append", required=True, metavar="NAME[:K[:N]]",
                   help="backbone, optionally with its frozen stages K and its stages N; "
                   "repeat to compare")
    p.add_argument("--steps", type=int, default=20, help="timed steps per backbone")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)  # fmt: skip

    import torch

    from offline_training.nemo.augment import AugmentConfig
    from offline_training.nemo.data import NemoTrainingSet
    from offline_training.nemo.train_config import TrainConfig
    from offline_training.nemo.train_step import freeze_backbone_parts, make_optimizer, train_step
    from ros_pose_estimation.nemo.model import NemoModel

    torch.set_num_threads(args.threads)
    cfg = {}
    for spec in args.backbone:
        name, frozen, stages = (spec.split(":") + ["", ""])[:3]
        cfg[spec] = TrainConfig(data=args.data, category=args.category, out="", backbone=name,
                                fuse_channels=64, max_points=1024, batch_size=args.batch_size,
                                frozen_stages=int(frozen or 0),
                                backbone_stages=int(stages or 4))  # fmt: skip
    first = cfg[args.backbone[0]]
    dataset = NemoTrainingSet(args.data, args.category, args.split, first.crop_size,
                              first.crop_scale, augment=AugmentConfig(), seed=0)  # fmt: skip
    rng = np.random.default_rng(0)
    n_batches = args.steps + args.warmup
    batches = []
    for _ in range(n_batches):
        items = [dataset[int(i)] for i in rng.integers(0, len(dataset), args.batch_size)]
        batches.append(torch.utils.data.default_collate(items))
    states = {}
    for b, c in cfg.items():
        torch.manual_seed(0)
        model = NemoModel(c.nemo_config()).train()
        freeze_backbone_parts(model, c)
        states[b] = (model, make_optimizer(model, c), model.mesh.neighbour_mask(0.1),
                     torch.Generator().manual_seed(0))  # fmt: skip
    times: dict[str, list[float]] = {b: [] for b in cfg}
    for i, batch in enumerate(batches):
        for b, (model, opt, neighbours, gen) in states.items():
            start = time.perf_counter()
            train_step(model, opt, batch, cfg[b], neighbours, gen)
            if i >= args.warmup:
                times[b].append(time.perf_counter() - start)
    device = describe("cpu")
    ref = float(np.median(times[args.backbone[0]]))
    rows = {b: {"median_s": float(np.median(t)), "p90_s": float(np.percentile(t, 90)),
                "ratio_to_first": float(np.median(t)) / ref,
                "parameters": sum(p.numel() for p in states[b][0].feature_net.parameters())}
            for b, t in times.items()}  # fmt: skip
    print(device)
    print(f"{'backbone':20s} {'s/step':>8s} {'p90':>8s} {'ratio':>6s} {'params':>10s}")
    for b, r in rows.items():
        print(f"{b:20s} {r['median_s']:8.3f} {r['p90_s']:8.3f} {r['ratio_to_first']:6.2f} "
              f"{r['parameters']:10d}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"device": device, "batch_size": args.batch_size,
                                               "steps": args.steps, "results": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
