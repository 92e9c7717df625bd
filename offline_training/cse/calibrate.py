"""Fit an RGB-D (CSE) model's viewpoint bias correction on labelled synthetic views.

    generate-dataset --category mug --instances 50 --images 600 --views-per-layout 8 \\
        --objects-per-image 1..2 --out out/data/mug_rgbd_cal --seed 5000 --split val
    calibrate-cse --checkpoint models/cse/mug.pt --data out/data/mug_rgbd_cal --split val \\
        --out models/cse/mug.pt [--max-objects 1200] [--json report.json]

The model (``--checkpoint``) estimates every selected object of the calibration set as
``evaluate-cse`` does (the visible mask as the detection, ``--box-only``: the box alone), with
the estimator's defaults and any correction it already carries switched off;
:func:`ros_pose_estimation.core.view_correction.fit_view_correction` then fits the rotation,
the box-centre and the size correction from those estimates, their sizes and the set's labels
(kernel
widths by 5-fold cross-validation; estimates more than ``--max-error`` deg or
``--max-centre-error`` box diagonals off left out: a flip is not a bias), and the model is
written to ``--out`` with it (the same weights; ``meta.view_correction`` says what it was
fitted on). The node and ``evaluate-cse`` apply it from then on
(``CseInferenceConfig.view_correction``).

Use instances the model was not trained on (another ``--seed`` of ``generate-dataset``) and the
training's camera and distance ranges. The data engine's labels are free: no human label is
involved. Prints the cross-validated median errors per kernel width and the device.

Exit codes: 0 written, 1 no usable object in the data, 2 bad arguments (missing data or
checkpoint, a checkpoint of another kind, a stale ``--estimates`` cache).
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

__all__ = ["calibrate", "collect", "main", "parser"]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="calibrate-cse", description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", required=True, help="CSE checkpoint (.pt) to calibrate")
    p.add_argument("--data", required=True, help="labelled BOP RGB-D dataset (generate-dataset)")
    p.add_argument("--split", default="val")
    p.add_argument("--out", required=True, help="where to write the calibrated checkpoint")
    p.add_argument("--max-objects", type=positive_int, default=1200)
    p.add_argument("--min-visib", type=float, default=0.3)
    p.add_argument("--box-only", action="store_true", help="no masks: box + depth pixels")
    p.add_argument("--max-error", type=float, default=30.0,
                   help="estimates farther than this (deg) from their label are left out")
    p.add_argument("--max-centre-error", type=float, default=0.3,
                   help="... or whose centre is off by more than this many box diagonals")
    p.add_argument("--threads", type=nonneg_int, default=0, help="torch CPU threads (0: torch's)")
    p.add_argument("--json", default=None, help="write the fit's report here")
    p.add_argument("--estimates", default=None, metavar="NPZ",
                   help="cache of the raw estimates and labels: read when it exists and was "
                        "made from the same checkpoint, data and selection (no estimation), "
                        "else written (refit with other settings for free)")
    return p  # fmt: skip


def collect(dataset, estimator, max_objects: int, min_visib: float, box_only: bool) -> dict:
    """The solved estimates of the first ``max_objects`` objects ``evaluate-cse`` would select:
    ``R_est [M x 3 x 3]``, ``t_est [M x 3]`` (m), ``size_est [M x 3]`` (m), ``R_true``,
    ``t_true``, ``size_true`` (the instances' box extents, m)."""
    from offline_training.cse.evaluate import evaluate

    records, _ = evaluate(estimator, dataset, min_visib, max_objects, box_only)
    solved = [r for r in records if r.r_pred is not None]

    def stack(name: str, shape: tuple) -> np.ndarray:
        return np.asarray([getattr(r, name) for r in solved], dtype=np.float64).reshape(shape)

    return {"R_est": stack("r_pred", (-1, 3, 3)), "t_est": stack("t_pred", (-1, 3)),
            "size_est": stack("size_pred", (-1, 3)), "R_true": stack("r_gt", (-1, 3, 3)),
            "t_true": stack("t_gt", (-1, 3)), "size_true": stack("size_gt", (-1, 3))}  # fmt: skip


def calibrate(
    checkpoint: str | Path,
    data: str | Path,
    split: str = "val",
    out: str | Path | None = None,
    max_objects: int = 1200,
    min_visib: float = 0.3,
    box_only: bool = False,
    max_error: float = 30.0,
    max_centre_error: float = 0.3,
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
    from ros_pose_estimation.cse.checkpoint import load_checkpoint, read_checkpoint
    from ros_pose_estimation.cse.estimator import CseEstimator, CseInferenceConfig

    try:
        model, _ = load_checkpoint(checkpoint)
        # masks: the detections (and the mug's handle check)
        dataset = BopDataset(data, split, require_gt=True)
    except (FileNotFoundError, PoseEstimationError) as exc:
        raise CalibrationError(str(exc), 2) from None
    detections = "box" if box_only else "mask"

    def estimate() -> dict:
        # the raw solve, unchecked: --max-error decides what is fitted
        config = CseInferenceConfig(view_correction=False, min_box_cover=0.0)
        estimator = CseEstimator({model.category: model}, config)
        return collect(dataset, estimator, max_objects, min_visib, box_only)

    def fit(arrays: dict):
        return fit_view_correction(
            model.category, arrays["R_est"], arrays["t_est"], arrays["R_true"],
            max_error_deg=max_error, t_true=arrays["t_true"], sizes=arrays["size_est"],
            max_translation_error=max_centre_error, size_true=arrays.get("size_true"),
        )  # fmt: skip

    return fit_and_write(model.category, checkpoint, data, split, out, read_checkpoint,
                         (max_objects, min_visib, detections), estimate, fit, estimates,
                         {"detections": detections},
                         f"with visib_fract >= {min_visib} and depth solved ")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """``calibrate-cse``; returns the exit code."""
    args = parser().parse_args(argv)

    def fit() -> dict:
        return calibrate(
            args.checkpoint, args.data, args.split, args.out, args.max_objects, args.min_visib,
            args.box_only, args.max_error, args.max_centre_error, args.estimates,
        )  # fmt: skip

    return run_tool("calibrate-cse", args.threads, fit, args.out, args.json)


if __name__ == "__main__":
    sys.exit(main())
