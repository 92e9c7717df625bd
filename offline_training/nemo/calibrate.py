"""Fit a NeMo model's viewpoint bias correction on labelled synthetic views.

    generate-dataset --category mug --instances 50 --images 1500 --out out/data/mug_cal \\
        --seed 5000 --split val --hfov 40..75 --fill 0.25..0.9
    calibrate-nemo --checkpoint models/nemo/mug.pt --data out/data/mug_cal --split val \\
        --out models/nemo/mug.pt [--max-objects 3000] [--json report.json]

The model (``--checkpoint``) estimates every selected object of the calibration set with its
raw render-and-compare optimum (the ``--preset``'s search, any correction it already carries
switched off); :func:`ros_pose_estimation.core.view_correction.fit_view_correction` then fits
the correction from those estimates and the set's labels (kernel width by 5-fold
cross-validation; estimates more than ``--max-error`` deg off left out), and the model is
written to ``--out`` with it (the same weights; ``meta.view_correction`` says what it was fitted
on). The node and ``evaluate-nemo`` apply it from then on (``InferenceConfig.view_correction``).

Use instances the model was not trained on (another ``--seed`` of ``generate-dataset``) and the
training's camera and distance ranges; a few thousand objects. The data engine's labels are
free: no human label is involved. Prints the cross-validated median rotation error per kernel
width and the device.

Exit codes: 0 written, 1 no usable object in the data, 2 bad arguments (missing data or
checkpoint, a checkpoint of another kind).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from offline_training.calibration import (
    CalibrationError,
    fit_and_write,
    run_tool,
)
from offline_training.cli_args import nonneg_int, positive_int

__all__ = ["CalibrationError", "calibrate", "collect", "main", "parser"]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="calibrate-nemo", description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", required=True, help="NeMo checkpoint (.pt) to calibrate")
    p.add_argument("--data", required=True, help="labelled BOP dataset (generate-dataset)")
    p.add_argument("--split", default="val")
    p.add_argument("--out", required=True, help="where to write the calibrated checkpoint")
    p.add_argument("--preset", default="default", help="search preset of the estimates")
    p.add_argument("--max-objects", type=positive_int, default=3000)
    p.add_argument("--min-visib", type=float, default=0.3)
    p.add_argument("--max-error", type=float, default=30.0,
                   help="estimates farther than this (deg) from their label are left out")
    p.add_argument("--threads", type=nonneg_int, default=0, help="torch CPU threads (0: torch's)")
    p.add_argument("--json", default=None, help="write the fit's report here")
    p.add_argument("--estimates", default=None, metavar="NPZ",
                   help="cache of the raw estimates and labels: read when it exists and was "
                        "made from the same checkpoint, data and selection (no estimation), "
                        "else written (refit with other settings for free)")
    return p  # fmt: skip


def collect(dataset, estimator, max_objects: int, min_visib: float):
    """``(R_est [M x 3 x 3], t_est [M x 3], R_true [M x 3 x 3])`` over the first ``max_objects``
    objects ``evaluate-nemo`` would select, one estimator call per image."""
    from offline_training.evaluation import detection_frames

    R_est, t_est, R_true = [], [], []
    for frame in detection_frames(dataset, estimator.categories, min_visib, max_objects):
        estimates = estimator.estimate(frame.sample.rgb, frame.detections, frame.intrinsics)
        for obj, est in zip(frame.objects, estimates, strict=True):
            R_est.append(est.R)
            t_est.append(est.t)
            R_true.append(obj.R)
    shape = (-1, 3, 3)
    return (np.asarray(R_est).reshape(shape), np.asarray(t_est).reshape(-1, 3),
            np.asarray(R_true).reshape(shape))  # fmt: skip


def calibrate(
    checkpoint: str | Path,
    data: str | Path,
    split: str = "val",
    out: str | Path | None = None,
    preset: str = "default",
    max_objects: int = 3000,
    min_visib: float = 0.3,
    max_error: float = 30.0,
    estimates: str | Path | None = None,
) -> dict:
    """Fit ``checkpoint``'s view correction on ``data``/``split`` and write the model with it
    to ``out`` (default: ``checkpoint`` itself); returns the fit's ``info`` (JSON-like).

    Raises:
        CalibrationError: a missing or wrong checkpoint or dataset, a stale ``estimates``
            cache (code 2); no usable object (code 1).
    """
    from offline_training.synthetic.bop_reader import BopDataset
    from ros_pose_estimation.core.errors import PoseEstimationError
    from ros_pose_estimation.core.view_correction import fit_view_correction
    from ros_pose_estimation.nemo.checkpoint import load_checkpoint, read_checkpoint
    from ros_pose_estimation.nemo.estimator import NemoEstimator
    from ros_pose_estimation.nemo.presets import InferenceConfig

    try:
        model, _ = load_checkpoint(checkpoint)
        dataset = BopDataset(data, split, load_masks=False, require_gt=True)
        config = InferenceConfig.named(preset).replace(view_correction=False)
    except (FileNotFoundError, PoseEstimationError) as exc:
        raise CalibrationError(str(exc), 2) from None

    def estimate() -> dict:
        estimator = NemoEstimator({model.category: model}, config)
        R_est, t_est, R_true = collect(dataset, estimator, max_objects, min_visib)
        return {"R_est": R_est, "t_est": t_est, "R_true": R_true}

    def fit(arrays: dict):
        return fit_view_correction(model.category, arrays["R_est"], arrays["t_est"],
                                   arrays["R_true"], max_error_deg=max_error)  # fmt: skip

    return fit_and_write(model.category, checkpoint, data, split, out, read_checkpoint,
                         (preset, max_objects, min_visib), estimate, fit, estimates,
                         {"preset": preset}, f"with visib_fract >= {min_visib} ")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """``calibrate-nemo``; returns the exit code."""
    args = parser().parse_args(argv)

    def fit() -> dict:
        return calibrate(
            args.checkpoint, args.data, args.split, args.out, args.preset, args.max_objects,
            args.min_visib, args.max_error, args.estimates,
        )  # fmt: skip

    return run_tool("calibrate-nemo", args.threads, fit, args.out, args.json)


if __name__ == "__main__":
    sys.exit(main())
