"""Regression fingerprint of the estimators: record NeMo and CSE estimates on fixed objects,
compare two recordings.

    python -m benchmarks.estimate_fingerprint record OUT.npz [--data out/data/mug_ood] \\
        [--split test] [--category mug] [--objects 20] [--nemo-checkpoint models/nemo/mug.pt] \\
        [--preset default]
    python -m benchmarks.estimate_fingerprint compare A.npz B.npz

``record`` takes the first ``--objects`` objects of ``--category`` (``visib_fract >= 0.3``,
a visible box) of the images with depth of a BOP split, in dataset order; every other one
(by object number) gets its ``mask_visib`` as the detection mask and the others none, so both
paths of each estimator run. It estimates them per image (one call per image, as the node
does; one torch thread) with

* NeMo: ``--nemo-checkpoint`` under the inference preset ``--preset``;
* CSE: an untrained tiny model built from seed 0 (``backbone="tiny"``, 64 px crops, 200
  template vertices; ``min_confidence`` 0), so that the whole RGB-D path (crops, network,
  correspondences, RANSAC, Umeyama, ICP) is covered without a trained checkpoint;
  ``errors="none"``: an unsolved detection is recorded as NaN (``cse_ok`` False).

and saves ``OUT.npz`` with the arrays ``nemo_R [N x 3 x 3]``, ``nemo_t [N x 3]`` (m),
``nemo_score``, ``nemo_size [N x 3]`` (m), ``nemo_loss``, ``nemo_steps`` ``[N]``, ``cse_ok``,
``cse_R``, ``cse_t``, ``cse_score``, ``cse_size``, ``cse_loss`` (same shapes).

``compare`` prints, per array, its shape and the largest absolute difference (NaNs at the same
places count as equal), and exits 0 when the two files hold the same arrays with identical
values, 1 on any difference (a value, a shape, an array only in one file), 2 on bad
arguments. Use it before and after a refactoring that must not change the estimates.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

__all__ = ["compare", "main", "record"]


def _frames(data: str, split: str, category: str, n_objects: int, min_visib: float = 0.3):
    """``[(rgb, depth uint16 mm, Intrinsics, [Detection])]`` of the first ``n_objects``
    objects of ``category`` in the images with depth (see the module docstring)."""
    from offline_training.evaluation import bop_box_to_xyxy, select_objects
    from offline_training.synthetic.bop_reader import BopDataset
    from ros_pose_estimation.core.camera import Intrinsics
    from ros_pose_estimation.core.conventions import metres_to_depth
    from ros_pose_estimation.core.estimation import Detection

    bop = BopDataset(data, split)
    frames, n = [], 0
    for i in range(len(bop)):
        if n >= n_objects:
            break
        sample = bop[i]
        keep = select_objects(sample, {category}, min_visib, None)[: n_objects - n]
        if not keep or sample.depth is None:
            continue
        h, w = sample.rgb.shape[:2]
        dets = [
            Detection(category, bop_box_to_xyxy(sample.objects[k].bbox_visib),
                      sample.objects[k].mask_visib if (n + j) % 2 else None)
            for j, k in enumerate(keep)
        ]  # fmt: skip
        depth = metres_to_depth(sample.depth, "16UC1")
        frames.append((sample.rgb, depth, Intrinsics.from_K(sample.K, w, h), dets))
        n += len(keep)
    return frames, n


def record(
    out: str | Path,
    data: str = "out/data/mug_ood",
    split: str = "test",
    category: str = "mug",
    n_objects: int = 20,
    nemo_checkpoint: str = "models/nemo/mug.pt",
    preset: str = "default",
    log=print,
) -> dict[str, np.ndarray]:
    """Estimate the fixed objects with both estimators and save the arrays to ``out`` (see
    the module docstring); returns them."""
    import torch

    from ros_pose_estimation.cse.estimator import CseEstimator, CseInferenceConfig
    from ros_pose_estimation.cse.model import CseConfig, CseModel
    from ros_pose_estimation.nemo import InferenceConfig, NemoEstimator

    torch.set_num_threads(1)
    frames, n = _frames(data, split, category, n_objects)
    log(f"{data}/{split}: {n} objects of {category} in {len(frames)} images")
    arrays: dict[str, np.ndarray] = {}

    nemo = NemoEstimator.from_checkpoints([nemo_checkpoint], InferenceConfig.named(preset))
    start, rows = time.perf_counter(), []
    for rgb, _, intr, dets in frames:
        rows += nemo.estimate(rgb, dets, intr)
    log(f"nemo ({preset}): {time.perf_counter() - start:.2f} s")
    for key in ("R", "t", "score", "size", "loss", "steps"):
        arrays[f"nemo_{key}"] = np.array([getattr(e, key) for e in rows])

    torch.manual_seed(0)
    model = CseModel(CseConfig(category, backbone="tiny", crop_size=64, n_vertices=200)).eval()
    cse = CseEstimator({category: model}, CseInferenceConfig(min_confidence=0.0))
    start, rows = time.perf_counter(), []
    for rgb, depth, intr, dets in frames:
        rows += cse.estimate(rgb, dets, intr, depth, errors="none")
    ok = np.array([e is not None for e in rows], dtype=bool)
    log(f"cse: {time.perf_counter() - start:.2f} s, {int(ok.sum())} of {len(ok)} solved")
    nan3 = np.full(3, np.nan)
    arrays["cse_ok"] = ok
    arrays["cse_R"] = np.array([np.full((3, 3), np.nan) if e is None else e.R for e in rows])
    for key, empty in (("t", nan3), ("score", np.nan), ("size", nan3), ("loss", np.nan)):
        arrays[f"cse_{key}"] = np.array([empty if e is None else getattr(e, key) for e in rows])
    np.savez(out, **arrays)
    return arrays


def compare(a: str | Path, b: str | Path, log=print) -> bool:
    """True when the recordings ``a`` and ``b`` hold the same arrays with identical values
    (NaN == NaN); prints one line per array with the largest absolute difference."""
    with np.load(a) as fa, np.load(b) as fb:
        left, right = dict(fa), dict(fb)
    same = True
    for key in sorted(set(left) | set(right)):
        if key not in left or key not in right:
            log(f"{key}: only in {a if key in left else b}")
            same = False
            continue
        x, y = left[key], right[key]
        if x.shape != y.shape:
            log(f"{key}: shapes differ, {x.shape} vs {y.shape}")
            same = False
            continue
        xf, yf = x.astype(np.float64), y.astype(np.float64)
        both_nan = np.isnan(xf) & np.isnan(yf)
        diff = np.where(both_nan, 0.0, np.abs(xf - yf))
        worst = float(np.nanmax(diff, initial=0.0)) if diff.size else 0.0
        unequal = int(np.count_nonzero(~both_nan & (xf != yf)))
        log(f"{key}: shape {x.shape}, max |difference| {worst:.3g}"
            + (f", {unequal} values differ" if unequal else ""))  # fmt: skip
        same &= unequal == 0
    log("identical" if same else "DIFFERENT")
    return same


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="estimate_fingerprint", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("record", help="estimate the fixed objects, save OUT.npz")
    r.add_argument("out", help="output .npz")
    r.add_argument("--data", default="out/data/mug_ood", help="BOP dataset root")
    r.add_argument("--split", default="test")
    r.add_argument("--category", default="mug")
    r.add_argument("--objects", type=int, default=20, help="objects to estimate (default 20)")
    r.add_argument("--nemo-checkpoint", default="models/nemo/mug.pt")
    r.add_argument("--preset", default="default", help="NeMo inference preset")
    c = sub.add_parser("compare", help="exit 1 unless A and B are identical")
    c.add_argument("a")
    c.add_argument("b")
    return p


def main(argv: list[str] | None = None) -> int:
    """The command line; returns the exit code."""
    args = parser().parse_args(argv)
    if args.command == "compare":
        for path in (args.a, args.b):
            if not Path(path).is_file():
                print(f"estimate_fingerprint: error: {path} does not exist", file=sys.stderr)
                return 2
        return 0 if compare(args.a, args.b) else 1
    record(args.out, args.data, args.split, args.category, args.objects, args.nemo_checkpoint,
           args.preset)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
