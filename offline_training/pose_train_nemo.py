"""``pose-train --method nemo`` (the default): unlabeled recordings -> pseudo-labels -> a BOP
dataset -> the NeMo trainer -> ``OUT/<category>.pt`` (and an evaluation on held-out bags with
ground truth); see :mod:`offline_training.pose_train` for the stages.
"""

from __future__ import annotations

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


def run_nemo(args) -> dict:
    """The NeMo pipeline (under ``torchrun``: rank 0 prepares the data, every rank trains);
    returns the report."""
    from offline_training import distributed
    from offline_training.bags.export_bop import export_bop
    from offline_training.nemo.train import train
    from ros_pose_estimation.core.errors import InputError
    from ros_pose_estimation.nemo.checkpoint import read_checkpoint

    out = Path(args.out)
    ctx = distributed.setup(args.device, args.batch_size)
    report: dict = {"mode": "SUPERVISED UPPER BOUND (ground-truth poses)" if args.supervised
                    else "unsupervised (tf-consensus pseudo-labels, RGB only)"
                    if getattr(args, "labels", "depth") == "tf-consensus"
                    else "unsupervised (pseudo-labels)", "seconds": {}}  # fmt: skip
    t = time.perf_counter()
    try:
        if ctx.is_main:
            check_run(out, args)
            consensus = getattr(args, "labels", "depth") == "tf-consensus"
            pairs = extract(args.bags, Path(args.cache), not args.no_progress,
                            "rgb" if consensus else "rgbd")
            recs = [r for r, _ in pairs]
            report["extraction"] = [rep for _, rep in pairs]
            report["seconds"]["extract"] = time.perf_counter() - t
            labels_path = out / "labels.json"
            labels = cached_labels(labels_path, lambda: (
                _consensus_labels(recs, args) if consensus else
                track_labels(recs, args.category, args.supervised, args.seed)))  # fmt: skip
            report["labels"] = [lb.to_dict() for g in labels for lb in g]
            report["label_error_vs_ground_truth"] = (
                None if args.supervised else label_quality(recs, labels, args.category))
            report["seconds"]["label"] = time.perf_counter() - t - report["seconds"]["extract"]
            if not any(lb.accepted for g in labels for lb in g):
                raise InputError(f"no track of category {args.category!r} could be labelled in "
                                 f"{args.bags}; see the reasons in {labels_path}")  # fmt: skip
            t_export = time.perf_counter()
            report["export"] = export_once(
                out / "data", lambda data: export_bop(data, recs, labels, every_nth=args.every_nth)
            )
            report["seconds"]["export"] = time.perf_counter() - t_export
        ctx.barrier()
        t_train = time.perf_counter()
        final = train(_train_config(args, out))
        report["seconds"]["train"] = time.perf_counter() - t_train
        if not ctx.is_main:
            return report
        model = keep_model(out, args.category, final, report, read_checkpoint)
        if getattr(args, "calibrate_data", None):
            from offline_training.nemo import calibrate

            t_cal = time.perf_counter()
            try:
                report["view_correction"] = calibrate.calibrate(
                    model, args.calibrate_data, args.calibrate_split)
            except calibrate.CalibrationError as exc:
                raise InputError(f"trained {model}, but its calibration failed: {exc}") from None
            report["seconds"]["calibrate"] = time.perf_counter() - t_cal
        if args.eval_bag:
            t_eval = time.perf_counter()
            report["evaluation"] = _evaluate(args, model, out)
            report["seconds"]["evaluate"] = time.perf_counter() - t_eval
        return write_report(out, report, t)
    finally:
        ctx.close()


def _consensus_labels(recordings, args) -> list[list]:
    """``--labels tf-consensus``: the ``--label-model``'s estimates of every frame, consensus
    per static object (:mod:`offline_training.bags.consensus_labels`)."""
    from offline_training.bags.consensus_labels import consensus_labels, rgb_estimates
    from ros_pose_estimation.nemo.estimator import NemoEstimator
    from ros_pose_estimation.nemo.presets import InferenceConfig

    estimator = NemoEstimator.from_checkpoints([args.label_model], InferenceConfig.named(
        args.label_preset), args.device)  # fmt: skip
    out = []
    for rec in recordings:
        log(f"estimating {args.category} in {rec.directory.name} with {args.label_model}")
        est = rgb_estimates(rec, args.category, estimator, args.every_nth)
        group = consensus_labels(rec.directory.name, args.category, est)
        for lb in group:
            log(f"  track {lb.track_id}: {'ok' if lb.accepted else 'REJECTED ' + lb.reason} "
                f"(estimates {lb.n_views}, object {lb.extra['object']}: inliers "
                f"{lb.extra['inliers']}/{lb.extra['estimates']})")
        out.append(group)
    return out


def _evaluate(args, checkpoint: Path, out: Path) -> dict:
    """Accuracy of ``checkpoint`` on the ``--eval-bag`` recordings (ground-truth poses)."""
    from offline_training.bags.export_bop import export_bop
    from offline_training.bags.ground_truth import ground_truth_labels
    from offline_training.nemo.evaluate import evaluate, format_summary, summarize
    from offline_training.synthetic.bop_reader import BopDataset
    from ros_pose_estimation.nemo.estimator import NemoEstimator
    from ros_pose_estimation.nemo.presets import InferenceConfig

    pairs = extract(args.eval_bag, Path(args.cache), False)
    recs = [r for r, _ in pairs]

    def write(data: Path) -> dict:
        labels = [ground_truth_labels(r, [args.category]) for r in recs]
        return export_bop(data, recs, labels, split="test", every_nth=args.eval_every_nth)

    data = out / "eval_data"
    export_once(data, write)
    estimator = NemoEstimator.from_checkpoints([checkpoint], InferenceConfig.named(
        args.eval_preset), args.device)  # fmt: skip
    start = time.perf_counter()
    results = evaluate(BopDataset(data, "test"), {args.eval_preset: estimator}, 0.3)
    summary = summarize(results)
    log(format_summary(summary, args.device))
    return {"bags": list(args.eval_bag), "checkpoint": str(checkpoint), "objects": len(results),
            "summary": summary, "seconds": time.perf_counter() - start}  # fmt: skip


def _train_config(args, out: Path):
    from offline_training.nemo.train_config import MODEL_FIELDS, TrainConfig
    from ros_pose_estimation.nemo.checkpoint import read_checkpoint

    model = {"backbone": args.backbone, "crop_size": args.crop_size}
    weights = backbone_weights(args.backbone, args.backbone_weights)
    if args.init_checkpoint:  # fine-tuning keeps the checkpoint's model settings
        saved = read_checkpoint(args.init_checkpoint)["config"]
        model = {k: saved[k] for k in MODEL_FIELDS if k in saved}
        weights = None  # the checkpoint holds the backbone
    pretrained = weights is not None or bool(args.init_checkpoint)
    return TrainConfig(
        data=str(out / "data"), category=args.category, out=str(out / "train"), steps=args.steps,
        batch_size=args.batch_size, lr=args.lr, seed=args.seed, device=args.device,
        num_threads=args.num_threads, num_workers=args.num_workers, max_points=1024,
        checkpoint_every=args.checkpoint_every,
        progress=not args.no_progress, init_checkpoint=args.init_checkpoint, **model,
        resume=(out / "train" / "resume.pt").exists(), backbone_weights=weights,
        frozen_stages=1 if pretrained and model["backbone"].startswith("efficientnet") else 0,
        replay_data=args.replay_data, replay_fraction=args.replay_fraction,
    )  # fmt: skip
