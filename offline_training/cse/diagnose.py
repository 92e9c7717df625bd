"""``python -m offline_training.cse.diagnose``: why does a CSE model get a category wrong?

    python -m offline_training.cse.diagnose --data out/data/mug_test --split test \\
        --category mug [--checkpoint out/runs/cse_mug_sup/mug.pt] [--max-objects 30] \\
        [--pairs-data out/data/cse_train [--views-per-layout 8]] [--threads 1] [--json out.json]

Three checks, each printed as one summary line (``--json``: with the per-object rows):

* ``oracle``: :class:`~ros_pose_estimation.cse.estimator.CseEstimator` with the oracle model
  (:mod:`.oracle`: exact features rendered at the *ground-truth* pose) on every object of the
  category. Small errors mean the category template's frame, the data engine's ground-truth
  frame, the crops and the estimator's back end agree; the remaining error is the back end's
  floor (template vs instance shape, RANSAC, depth quantisation). With ``--per-axis-scale``
  (or a ``per_axis_scale`` checkpoint) the oracle is such a model: its features come from the
  template stretched to each instance's extents, and the back end fits one scale per axis.
* ``model`` (``--checkpoint``): the same objects through the trained model (the estimator's
  defaults, plus ``--min-confidence``), and per object the relative rotation
  ``R_gt^T R_pred`` as angle + unit axis *in the model frame*. A consistent flip shows as many
  angles near 180 deg about one family of axes: ``|axis_z| ~ 0`` (an axis in the xy plane)
  means the object is predicted upside down, ``|axis_z| ~ 1`` that it is turned about its up
  axis (mug: handle on the wrong side).
* ``correspondence`` (``--checkpoint`` and ``--pairs-data``, labelled sequences): the labelled
  upper bound's correspondence term (:func:`~.losses.supervised_loss` without the pose heads:
  ``|phi(p) - X_true(p)|^2 / diameter^2`` over object cells) vs the error of mapping every
  cell to the crop's mean true point (what a model that learned nothing scores).

Rotation errors are plain geodesic angles (``core.metrics.rotation_error_deg``, symmetry-aware
for bottle / bowl / can). Exit codes: 0 success, 1 no object of the category, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

import numpy as np
import torch

from offline_training.cli_args import nonneg_int, positive_int


def _objects(bop, category: str, min_visib: float, max_objects: int):
    """``(sample, object index)`` of the first ``max_objects`` objects of ``category``."""
    found = 0
    for i in range(len(bop)):
        sample = bop[i]
        if sample.depth is None:
            continue
        for k, obj in enumerate(sample.objects):
            if obj.category == category and obj.visib_fract >= min_visib:
                yield sample, k
                found += 1
                if found >= max_objects:
                    return


def pose_rows(make_estimator, bop, category, min_visib=0.3, max_objects=30) -> list[dict]:
    """Per object: rotation error (deg), relative-rotation axis in the model frame, translation
    error (cm), score; ``make_estimator(obj)`` returns the estimator for that object."""
    from offline_training.evaluation import bop_box_to_xyxy
    from ros_pose_estimation.core.camera import Intrinsics
    from ros_pose_estimation.core.conventions import metres_to_depth
    from ros_pose_estimation.core.estimation import Detection
    from ros_pose_estimation.core.metrics import rotation_error_deg
    from ros_pose_estimation.core.rotations import matrix_to_axis_angle

    rows = []
    for sample, k in _objects(bop, category, min_visib, max_objects):
        obj = sample.objects[k]
        h, w = sample.rgb.shape[:2]
        det = Detection(category, bop_box_to_xyxy(obj.info["bbox_visib"]), obj.mask_visib)
        est = make_estimator(obj).estimate(
            sample.rgb, [det], Intrinsics.from_K(sample.K, w, h),
            metres_to_depth(sample.depth, "16UC1"), errors="none",
        )[0]  # fmt: skip
        row = {"scene_id": sample.scene_id, "im_id": sample.im_id, "gt_index": k,
               "solved": est is not None}  # fmt: skip
        if est is not None:
            aa = matrix_to_axis_angle(obj.R.T @ est.R)
            angle = float(np.linalg.norm(aa))
            row.update(rot_err_deg=float(rotation_error_deg(est.R, obj.R, category)),
                       rel_axis_model=(aa / max(angle, 1e-12)).tolist(),
                       trans_err_cm=float(100 * np.linalg.norm(est.t - obj.t)),
                       score=float(est.score))  # fmt: skip
        rows.append(row)
    return rows


def summarise_poses(rows: list[dict]) -> dict:
    """Median errors, and among the solved objects with an error > 120 deg (flips): how many,
    and the median ``|z|`` of their relative-rotation axis (model frame)."""
    done = [r for r in rows if r["solved"]]
    flips = [r for r in done if r["rot_err_deg"] > 120.0]
    return {
        "objects": len(rows),
        "solved": len(done),
        "median_rot_deg": float(np.median([r["rot_err_deg"] for r in done])) if done else None,
        "median_trans_cm": float(np.median([r["trans_err_cm"] for r in done])) if done else None,
        "over_120deg": len(flips),
        "flip_axis_abs_z_median": (
            float(np.median([abs(r["rel_axis_model"][2]) for r in flips])) if flips else None
        ),
    }


@torch.no_grad()
def correspondence_error(model, dataset, items: int = 12) -> dict:
    """Mean supervised correspondence error of ``model`` on ``items`` labelled pairs of
    ``dataset`` (:class:`~.data.CseSequenceSet` with labels) vs the mean-point baseline, both
    ``|.|^2 / diameter^2`` averaged over object cells with depth."""
    from offline_training.cse import losses as L
    from ros_pose_estimation.cse.correspondence import (
        cell_centres,
        correspondences,
        pixel_embeddings,
    )

    mc = model.config
    n = mc.feature_size
    xy_all = cell_centres(n, n, mc.stride)
    err, base = [], []
    step = max(len(dataset) // items, 1)
    for i in range(0, min(len(dataset), step * items), step):
        item = dataset[i]
        out = model(item["image"], item["K"])
        frac, cell_depth, _ = L.cell_observations(item["mask"], item["depth"], item["image"],
                                                  mc.stride)  # fmt: skip
        for f in range(item["image"].shape[0]):
            cells = (frac[f].reshape(-1) >= 0.5) & (cell_depth[f].reshape(-1) > 0)
            if int(cells.sum()) < 2:
                continue
            K, xy, z = item["K"][f], xy_all[cells], cell_depth[f].reshape(-1)[cells]
            truth = L.true_model_points(K[None], xy[None], z[None], item["R"][f : f + 1],
                                        item["t"][f : f + 1])[0]  # fmt: skip
            feats = pixel_embeddings(out.features[f : f + 1])[:, cells]
            corr = correspondences(feats, out.embeddings[f : f + 1], None, mc.tau)
            q = (corr.w2d3d @ out.vertices[f : f + 1])[0]
            d2 = float(model.diameter) ** 2
            err.append(float(((q - truth) ** 2).sum(-1).mean()) / d2)
            base.append(float(((truth - truth.mean(0)) ** 2).sum(-1).mean()) / d2)
    if not err:
        from offline_training.bop_objects import NoSamplesError

        raise NoSamplesError("no labelled frame with object cells in the pairs data")
    return {"frames": len(err), "error": float(np.mean(err)), "mean_point_baseline":
            float(np.mean(base))}  # fmt: skip


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="diagnose-cse", description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="BOP dataset root with ground truth")
    p.add_argument("--split", default="test")
    p.add_argument("--category", required=True)
    p.add_argument("--checkpoint", default=None, help="trained model of the category")
    p.add_argument("--min-confidence", type=float, default=None,
                   help="override the Eq. 7 threshold of the model check")  # fmt: skip
    p.add_argument("--pairs-data", default=None,
                   help="labelled RGB-D sequences (BOP root, split train) for the "
                        "correspondence check")  # fmt: skip
    p.add_argument("--views-per-layout", type=int, default=8, help="of --pairs-data")
    p.add_argument("--per-axis-scale", action="store_true",
                   help="oracle of a per_axis_scale model (default: as the checkpoint)")
    p.add_argument("--min-visib", type=float, default=0.3)
    p.add_argument("--max-objects", type=positive_int, default=30)
    p.add_argument("--threads", type=nonneg_int, default=None)
    p.add_argument("--json", default=None)
    return p


def main(argv: list[str] | None = None) -> int:
    from offline_training.cse.oracle import OracleModel
    from offline_training.synthetic.bop_reader import BopDataset
    from ros_pose_estimation.core.categories import UnknownCategoryError, get_category
    from ros_pose_estimation.core.errors import PoseEstimationError
    from ros_pose_estimation.cse.checkpoint import load_checkpoint
    from ros_pose_estimation.cse.estimator import CseEstimator, CseInferenceConfig
    from ros_pose_estimation.cse.model import CseConfig
    from ros_pose_estimation.cse.template import category_template

    args = parser().parse_args(argv)
    try:
        category = get_category(args.category).name
        if args.threads:
            torch.set_num_threads(args.threads)
        bop = BopDataset(args.data, args.split, load_masks=True)
        model = (load_checkpoint(args.checkpoint, category=category)[0].eval()
                 if args.checkpoint else None)  # fmt: skip
        cfg = CseInferenceConfig()
        if args.min_confidence is not None:
            cfg = dataclasses.replace(cfg, min_confidence=args.min_confidence)  # re-validated
    except (PoseEstimationError, UnknownCategoryError, OSError) as exc:
        print(f"diagnose-cse: {exc}", file=sys.stderr)
        return 2
    size = model.config.crop_size if model is not None else 128
    axes = args.per_axis_scale or (model is not None and model.config.per_axis_scale)
    # the oracle's template (CseConfig's default vertex budget), built once for its extents
    extents = category_template(category, CseConfig(category).n_vertices).extents

    def oracle_estimator(obj):
        # per axis: the instance = the oracle's template stretched to the instance's extents
        stretch = bop.instance_size(obj.obj_id) / extents if axes else None
        oracle = OracleModel(category, obj.R, obj.t, stretch, crop_size=size, per_axis_scale=axes)
        return CseEstimator({category: oracle})

    oracle = pose_rows(oracle_estimator, bop, category, args.min_visib, args.max_objects)
    if not oracle:
        print(f"diagnose-cse: no {category} in {args.data}/{args.split}", file=sys.stderr)
        return 1
    result = {"category": category, "oracle": summarise_poses(oracle)}
    rows = {"oracle": oracle}
    if model is not None:
        est = CseEstimator({category: model}, cfg)
        rows["model"] = pose_rows(lambda obj: est, bop, category, args.min_visib,
                                  args.max_objects)  # fmt: skip
        result["model"] = summarise_poses(rows["model"])
        if args.pairs_data:
            from offline_training.cse.data import CseSequenceSet

            mc = model.config
            pairs = CseSequenceSet(args.pairs_data, category, "train", args.views_per_layout,
                                   crop_size=mc.crop_size, crop_scale=mc.crop_scale,
                                   stride=mc.stride, with_labels=True)  # fmt: skip
            result["correspondence"] = correspondence_error(model, pairs)
    for key, value in result.items():
        if key != "category":
            print(f"{category} {key}: {json.dumps(value)}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({**result, "args": vars(args), "objects": rows}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
