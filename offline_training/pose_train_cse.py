"""``pose-train --method cse``: unlabeled RGB-D recordings -> label-free sequences -> the CSE
trainer -> ``OUT/<category>.pt``; no pose label is read (see :mod:`offline_training.pose_train`).
"""

from __future__ import annotations

import time
from pathlib import Path

from offline_training.pose_train_stages import (
    backbone_weights,
    check_run,
    export_once,
    extract,
    keep_model,
    write_report,
)


def run_cse(args) -> dict:
    """``--method cse``: extract -> label-free RGB-D sequences -> CSE training (no pose read);
    returns the report.

    Raises:
        ConfigError: NeMo-only options, or a device other than the CPU.
    """
    from offline_training.bags.export_cse import export_cse
    from offline_training.cse.train import train
    from ros_pose_estimation.core.errors import ConfigError
    from ros_pose_estimation.cse.checkpoint import read_checkpoint

    nemo_only = [f"--{k.replace('_', '-')}" for k in ("supervised", "eval_bag")
                 if getattr(args, k)]  # fmt: skip
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
    check_run(out, args)
    pairs = extract(args.bags, Path(args.cache), not args.no_progress)
    report["extraction"] = [rep for _, rep in pairs]
    report["seconds"]["extract"] = time.perf_counter() - t
    t_export = time.perf_counter()
    report["export"] = export_once(
        out / "data",
        lambda data: export_cse(data, [r for r, _ in pairs], args.category,
                                args.views_per_sequence, args.every_nth, seed=args.seed),
    )  # fmt: skip
    report["seconds"]["export"] = time.perf_counter() - t_export
    t_train = time.perf_counter()
    final = train(_cse_config(args, out, report["export"]["views_per_sequence"]))
    report["seconds"]["train"] = time.perf_counter() - t_train
    keep_model(out, args.category, final, report, read_checkpoint)
    return write_report(out, report, t)


def _cse_config(args, out: Path, views: int):
    """The trainer's settings; with ``--init-checkpoint`` (a CSE checkpoint, e.g. the bundled
    synthetic model) the model settings are the checkpoint's and training starts from it."""
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
        seed=args.seed, num_threads=args.num_threads,
        num_workers=args.num_workers, **model,
        backbone_weights=None if args.init_checkpoint else backbone_weights(
            args.backbone, args.backbone_weights),
        init_checkpoint=args.init_checkpoint, checkpoint_every=args.checkpoint_every,
        progress=not args.no_progress, resume=(out / "train" / "resume.pt").exists(),
        min_visib_fract=0.0,  # label-free masks: the visible fraction is unknown (written 1.0)
    )  # fmt: skip
