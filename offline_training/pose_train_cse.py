"""``pose-train --method cse``: unlabeled RGB-D recordings -> sequences with the depth + TF
pseudo-labels -> the CSE trainer -> ``OUT/<category>.pt`` (see :mod:`offline_training.pose_train`).

Supervision, none of it a human label: paper 003's self-supervised terms on every track (the
cross-time pairs come from the camera motion in /tf); the depth + TF labeller's poses on the
tracks it accepts (``--labels depth``, the default: :mod:`offline_training.bags.pseudo_labels`,
the ``pseudo`` term; ``--labels none``: self-supervised only); and an upright prior from /tf
(``--gravity-weight``: the fixed frame's up, REP 103, against the model's +z through the pose
heads). ``--replay-data`` mixes a labelled synthetic set (e.g. the one the
``--init-checkpoint`` was trained on) into every batch, its exact poses through the same
``pseudo`` term, so that a few recorded instances do not make the model forget the category.
``--eval-bag`` recordings with ground truth are evaluated with the node's RGB-D estimator
(:mod:`offline_training.bags.evaluate_bag`); the report holds the pseudo-label error against
ground truth where the training bags have it (evaluation only).

Under ``torchrun`` (several processes, :mod:`offline_training.distributed`) rank 0 extracts,
labels and exports, every rank trains its share of each batch, and rank 0 alone evaluates and
writes the model and the report.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from offline_training.pose_train_stages import (
    backbone_weights,
    cached_labels,
    check_run,
    export_once,
    extract,
    keep_model,
    label_quality,
    log,
    track_labels,
    write_report,
)


def run_cse(args) -> dict:
    """``--method cse``: extract -> pseudo-label (unless ``--labels none``) -> RGB-D sequences
    -> CSE training -> evaluation on ``--eval-bag``; returns the report (under ``torchrun``:
    rank 0's; the other ranks return an empty one).

    Raises:
        ConfigError: NeMo-only options; under ``torchrun`` a batch size not divisible by the
            number of processes.
    """
    from offline_training import distributed
    from ros_pose_estimation.core.errors import ConfigError

    if args.supervised:
        raise ConfigError("--supervised: NeMo-only option; --method cse trains without ground "
                          "truth (evaluate a CSE model with --eval-bag)")  # fmt: skip
    ctx = distributed.setup(args.device, args.batch_size)
    try:
        return _run_main(args, ctx) if ctx.is_main else _train_rank(args, ctx)
    finally:
        ctx.close()


def _train_rank(args, ctx) -> dict:
    """A rank other than 0: waits for rank 0's data, then trains its share of every batch."""
    from offline_training.cse.train import train

    ctx.barrier()  # rank 0 has extracted, labelled and exported the data
    out = Path(args.out)
    views = json.loads((out / "data" / "export.json").read_text())["views_per_sequence"]
    train(_cse_config(args, out, views))
    return {}


def _run_main(args, ctx) -> dict:
    """The whole pipeline on rank 0 (or a single process)."""
    from offline_training.bags.export_cse import export_cse
    from offline_training.cse.train import train
    from ros_pose_estimation.cse.checkpoint import read_checkpoint

    out = Path(args.out)
    labelled = args.labels == "depth"
    report: dict = {"mode": "self-supervised CSE (RGB-D) + depth/TF pseudo-labels" if labelled
                    else "self-supervised CSE (RGB-D, no pose labels)", "method": "cse",
                    "seconds": {}}  # fmt: skip
    t = time.perf_counter()
    check_run(out, args)
    pairs = extract(args.bags, Path(args.cache), not args.no_progress)
    recs = [r for r, _ in pairs]
    report["extraction"] = [rep for _, rep in pairs]
    report["seconds"]["extract"] = time.perf_counter() - t
    labels = None
    if labelled:
        t_label = time.perf_counter()
        labels = cached_labels(out / "labels.json",
                               lambda: track_labels(recs, args.category, False, args.seed))
        report["labels"] = [lb.to_dict() for g in labels for lb in g]
        report["label_error_vs_ground_truth"] = label_quality(recs, labels, args.category)
        report["seconds"]["label"] = time.perf_counter() - t_label
    t_export = time.perf_counter()
    report["export"] = export_once(
        out / "data",
        lambda data: export_cse(data, recs, args.category, args.views_per_sequence,
                                args.every_nth, seed=args.seed, labels=labels),
    )  # fmt: skip
    report["seconds"]["export"] = time.perf_counter() - t_export
    ctx.barrier()  # the other ranks start training on the exported data
    t_train = time.perf_counter()
    final = train(_cse_config(args, out, report["export"]["views_per_sequence"]))
    report["seconds"]["train"] = time.perf_counter() - t_train
    model = keep_model(out, args.category, final, report, read_checkpoint)
    if args.eval_bag:
        t_eval = time.perf_counter()
        report["evaluation"] = _evaluate(args, model)
        report["seconds"]["evaluate"] = time.perf_counter() - t_eval
    return write_report(out, report, t)


def _evaluate(args, checkpoint: Path) -> dict:
    """The node's RGB-D estimator with ``checkpoint`` on the ``--eval-bag`` recordings."""
    from offline_training.bags.evaluate_bag import (
        evaluate_recordings,
        format_summary,
        make_estimator,
    )

    recs = [r for r, _ in extract(args.eval_bag, Path(args.cache), False)]
    estimator = make_estimator("cse", [str(checkpoint)], args.device)
    result = evaluate_recordings(estimator, recs, [args.category], args.eval_every_nth)
    log(format_summary(result))
    return {"bags": list(args.eval_bag), "checkpoint": str(checkpoint), **result}


def _cse_config(args, out: Path, views: int):
    """The trainer's settings; with ``--init-checkpoint`` (a CSE checkpoint, e.g. the bundled
    synthetic model) the model settings are the checkpoint's and training starts from it."""
    from offline_training.cse.losses import DEFAULT_WEIGHTS
    from offline_training.cse.train import MODEL_FIELDS, CseTrainConfig

    model: dict = {"backbone": args.backbone, "crop_size": args.crop_size,
                   "n_vertices": args.n_vertices}  # fmt: skip
    if args.init_checkpoint:
        from ros_pose_estimation.cse.checkpoint import read_checkpoint

        stored = read_checkpoint(args.init_checkpoint)["config"]
        model = {k: stored[k] for k in MODEL_FIELDS if k in stored}
    return CseTrainConfig(
        data=str(out / "data"), category=args.category, out=str(out / "train"),
        views_per_layout=views, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
        seed=args.seed, num_threads=args.num_threads, device=args.device,
        num_workers=args.num_workers, **model,
        backbone_weights=None if args.init_checkpoint else backbone_weights(
            args.backbone, args.backbone_weights),
        init_checkpoint=args.init_checkpoint, checkpoint_every=args.checkpoint_every,
        progress=not args.no_progress, resume=(out / "train" / "resume.pt").exists(),
        min_visib_fract=0.0,  # label-free masks: the visible fraction is unknown (written 1.0)
        # replayed tracks carry exact poses through the pseudo term: the layout needs it on
        pseudo_labels=args.labels == "depth" or args.replay_data is not None,
        replay_data=args.replay_data, replay_fraction=args.replay_fraction,
        replay_views_per_layout=args.replay_views_per_layout, photometric=args.photometric,
        weights={**DEFAULT_WEIGHTS, "gravity": args.gravity_weight},
    )  # fmt: skip
