"""``python -m offline_training.cse.pictures``: what a CSE model maps each pixel to, as a picture.

    python -m offline_training.cse.pictures --data out/data/cse_train --category mug \\
        --checkpoint out/runs/cse_mug_sup/mug.pt --out docs/images/cse_mug.png [--frames 6]

For ``--frames`` labelled crops of the RGB-D sequences (BOP root, split ``--split``), one row
each: the crop | the true surface point of every object cell | the model's point
(``W2d3d @ vertices``, paper 003's phi) | the error. Points are coloured by their model-frame
coordinates (x -> red, y -> green, z -> blue, each scaled over the category template's box),
so a correct model paints the same colours as the truth; a flipped frame shows as swapped
colours (an upside-down mug turns the blue gradient around), an azimuth error as the red/green
pattern turned about the mug's axis. The error column is ``|phi(p) - X(p)| / diameter`` from
black (0) to white (>= 0.5 diameter). Cells are the model's feature cells (``crop / stride``),
shown enlarged; cells off the mask or without depth are grey.

Prints per frame the mean error over object cells (/ diameter) and that of the mean point
(a model that learned nothing).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch

#: Grey of cells without a label (off the object or no depth), 0-255.
NO_LABEL = 96


def point_colours(points: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """``[N x 3]`` model-frame points (m) -> ``[N x 3]`` uint8 RGB: each axis scaled from
    ``[low, high]`` (the template box) to 0-255, clipped."""
    scaled = (points - low) / np.maximum(high - low, 1e-9)
    return (255 * np.clip(scaled, 0.0, 1.0)).astype(np.uint8)


@torch.no_grad()
def frame_maps(model, item: dict, frame: int) -> dict:
    """For crop ``frame`` of a labelled :class:`~.data.CseSequenceSet` item: ``[n x n x 3]``
    true and predicted model points (m, NaN off the labelled cells), the cell mask and the
    crop ``[S x S x 3]`` uint8. The true points are those the training compares with: in the
    stretched template frame for a ``per_axis_scale`` model, and for a finite symmetry group
    (box) the equivalent labels nearest the prediction."""
    from offline_training.cse import losses as L
    from ros_pose_estimation.core.categories import get_category
    from ros_pose_estimation.cse.correspondence import (
        cell_centres,
        correspondences,
        pixel_embeddings,
    )

    mc = model.config
    n = mc.feature_size
    out = model(item["image"][frame : frame + 1], item["K"][frame : frame + 1])
    frac, cell_depth, _ = L.cell_observations(
        item["mask"][frame : frame + 1], item["depth"][frame : frame + 1],
        item["image"][frame : frame + 1], mc.stride,
    )  # fmt: skip
    cells = (frac[0].reshape(-1) >= 0.5) & (cell_depth[0].reshape(-1) > 0)
    K, xy = item["K"][frame], cell_centres(n, n, mc.stride)
    z = cell_depth[0].reshape(-1)
    stretch = model.axis_stretch(item["size"][frame : frame + 1]) if mc.per_axis_scale else None
    truth = L.true_model_points(K[None], xy[None], z[None], item["R"][frame : frame + 1],
                                item["t"][frame : frame + 1], stretch)[0]  # fmt: skip
    corr = correspondences(pixel_embeddings(out.features), out.embeddings, None, mc.tau)
    pred = (corr.w2d3d @ out.vertices)[0]
    if len(get_category(mc.category).discrete) > 1:
        truth = L.nearest_equivalent_truth(truth[None], pred[None], cells[None],
                                           mc.category)[0][0]  # fmt: skip
    nan = torch.full_like(truth, float("nan"))
    truth = torch.where(cells[:, None], truth, nan).reshape(n, n, 3).numpy()
    pred = torch.where(cells[:, None], pred, nan).reshape(n, n, 3).numpy()
    crop = (item["image"][frame].permute(1, 2, 0).numpy() * 255).clip(0, 255).astype(np.uint8)
    return {"truth": truth, "pred": pred, "cells": cells.reshape(n, n).numpy(), "crop": crop}


def render_row(maps: dict, low, high, diameter: float) -> np.ndarray:
    """One picture row ``[S x 4S x 3]`` uint8: crop | truth | prediction | error."""
    import cv2

    size = maps["crop"].shape[0]
    cells = maps["cells"]
    panels = [maps["crop"]]
    for key in ("truth", "pred"):
        img = np.full(cells.shape + (3,), NO_LABEL, np.uint8)
        img[cells] = point_colours(maps[key][cells], low, high)
        panels.append(cv2.resize(img, (size, size), interpolation=cv2.INTER_NEAREST))
    err = np.full(cells.shape + (3,), NO_LABEL, np.uint8)
    dist = np.linalg.norm(maps["pred"][cells] - maps["truth"][cells], axis=-1) / diameter
    err[cells] = (255 * np.clip(dist / 0.5, 0, 1))[:, None].astype(np.uint8)
    panels.append(cv2.resize(err, (size, size), interpolation=cv2.INTER_NEAREST))
    return np.concatenate(panels, axis=1)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cse-pictures", description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="labelled RGB-D sequences (BOP root)")
    p.add_argument("--split", default="train")
    p.add_argument("--category", required=True)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--out", required=True, help="PNG to write")
    p.add_argument("--frames", type=int, default=6, help="rows (crops from different tracks)")
    p.add_argument("--views-per-layout", type=int, default=8)
    return p


def main(argv: list[str] | None = None) -> int:
    import cv2

    from offline_training.cse.data import CseSequenceSet
    from ros_pose_estimation.core.errors import PoseEstimationError
    from ros_pose_estimation.cse.checkpoint import load_checkpoint

    args = parser().parse_args(argv)
    if args.frames < 1:
        print("cse-pictures: --frames must be >= 1", file=sys.stderr)
        return 2
    try:
        model = load_checkpoint(args.checkpoint)[0].eval()
        mc = model.config
        data = CseSequenceSet(args.data, model.category, args.split, args.views_per_layout,
                              crop_size=mc.crop_size, crop_scale=mc.crop_scale,
                              stride=mc.stride, with_labels=True)  # fmt: skip
    except (PoseEstimationError, OSError) as exc:
        print(f"cse-pictures: {exc}", file=sys.stderr)
        return 2
    verts = model.template.double().numpy()  # [V x 3] template vertices (m)
    low, high = verts.min(0), verts.max(0)
    diameter = float(model.diameter)
    rows = []
    step = max(len(data) // args.frames, 1)
    for i in range(0, min(len(data), step * args.frames), step):
        maps = frame_maps(model, data[i], 0)
        cells = maps["cells"]
        if cells.sum() < 2:
            continue
        truth = maps["truth"][cells]
        err = np.linalg.norm(maps["pred"][cells] - truth, axis=-1).mean() / diameter
        base = np.linalg.norm(truth - truth.mean(0), axis=-1).mean() / diameter
        print(f"{model.category} track {i}: error {err:.3f} diameters (mean point {base:.3f})")
        rows.append(render_row(maps, low, high, diameter))
    if not rows:
        print(f"cse-pictures: no labelled {model.category} crop in {args.data}", file=sys.stderr)
        return 1
    picture = np.concatenate(rows, axis=0)
    if not cv2.imwrite(args.out, cv2.cvtColor(picture, cv2.COLOR_RGB2BGR)):
        print(f"cse-pictures: could not write {args.out}", file=sys.stderr)
        return 2
    print(f"wrote {args.out} ({len(rows)} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
