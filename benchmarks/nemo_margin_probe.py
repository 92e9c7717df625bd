"""How often does render-and-compare score a wrong rotation better than the truth?

    python -m benchmarks.nemo_margin_probe --data out/data/mug_train --split train \\
        --checkpoint models/nemo/mug.pt --crops 64 --threads 1 --json out/probe.json

For ``--crops`` labelled crops of the split (evenly spaced, plain: no augmentation; the
training crops of :class:`offline_training.nemo.data.NemoTrainingSet`), the model's features
are compared (:func:`ros_pose_estimation.nemo.scoring.render_compare`, the ``"nemo"`` loss of
every preset) with the neural mesh at the true pose and at ``--draws`` rotations per crop at
each of ``--angles`` degrees off the truth (random axes, the object's origin fixed; for a
category with a continuous symmetry axis, no rotation about it). Printed per angle: the share
of perturbed rotations that score better than the truth (a model whose loss is lowest at the
truth has 0 everywhere) and the mean loss difference. This is the ranking the pose-margin loss
trains (:mod:`offline_training.nemo.pose_margin`); the probe needs no search, so it isolates
the loss surface from the optimiser. Prints the device.

``--turns 90 270`` also turns each label about the model's up axis by those angles (the box's
quarter turns, a mug's handle side; ``--pose-margin-turns``'s negatives,
:func:`offline_training.nemo.pose_margin.turn_render_matrices`, symmetries of the instance left
out) and prints per angle the share that scores better than the truth, and the share of crops
that some turn beats. A per-axis-scaled model renders each crop's own instance (its quarter
turns with the extents kept in the camera), as its training and refinement do.

``--refine`` refines each turn first, as the estimator refines a start (the default preset;
:func:`offline_training.nemo.pose_margin.refine_turns`, kept while > 30 deg off the truth), and
the truth too: it then prints how often a refined wrong turn beats the truth and how often it
beats the refined truth (what picks the wrong pose at run time).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from benchmarks.device_info import describe


def probe(model, dataset, crops: int, angles: list[float], draws: int, seed: int = 0,
          turns: tuple[float, ...] = (), refine: bool = False) -> dict:  # fmt: skip
    """``{angle: {"better": share, "mean_gap": mean L(perturbed) - L(truth)}}`` and the mean
    loss at the truth, for the model on ``crops`` items of ``dataset``; with ``turns``, the
    same per turn about up (``"turns"``, with ``"pairs"``) and ``"turn_beats_truth"``; with
    ``refine``, the turns refined and ``"turn_beats_refined_truth"``."""
    import torch

    from offline_training.nemo.pose_margin import (
        crop_observation,
        instance_stretch,
        perturb_rotations,
        refine_poses,
        refine_turns,
        symmetry_axis,
        turn_render_matrices,
    )
    from ros_pose_estimation.nemo.scoring import render_compare

    index = np.linspace(0, len(dataset) - 1, min(crops, len(dataset))).round().astype(int)
    cfg = model.config
    margin = cfg.mesh_margin if cfg.per_axis_scale else None
    parts: dict = {"gaps": {}, "turn_gaps": [], "turn_valid": []}
    gen = torch.Generator().manual_seed(seed)
    axis = symmetry_axis(model.category)
    items = [dataset[int(i)] for i in index]
    image, K, R, t, size = (torch.stack([it[k] for it in items])
                            for k in ("image", "K", "R", "t", "size"))  # fmt: skip
    stretch = None if margin is None else instance_stretch(model.mesh, size, margin)

    def fit(M, n: int):  # the instance's mesh for a per-axis-scaled model
        return M if stretch is None else M * stretch.repeat_interleave(n, 0)[:, None]

    with torch.no_grad():
        feats = model.features(image).float()
        obs = crop_observation(feats, K, cfg.stride, model.mesh.clutter)
        owner = torch.arange(len(feats))
        truth = render_compare(model.mesh, fit(R, 1), t, obs, owner).loss
        truth_sum = float(truth.sum())
        for angle in angles:
            R_pert, _ = perturb_rotations(R, draws, angle, angle, gen, axis)
            loss = render_compare(model.mesh, fit(R_pert, draws), t.repeat_interleave(draws, 0),
                                  obs, owner.repeat_interleave(draws)).loss  # fmt: skip
            parts["gaps"][angle] = [(loss - truth.repeat_interleave(draws)).numpy()]
        if turns:
            own = owner.repeat_interleave(len(turns))
            if refine:
                M, t_turn, valid = refine_turns(model.mesh, obs, R, t, turns, model.category,
                                                size, margin)  # fmt: skip
                M_truth, t_truth, _ = refine_poses(model.mesh, obs, R, t, owner, stretch)
                parts["refined_truth"] = render_compare(model.mesh, M_truth, t_truth, obs,
                                                        owner).loss.numpy()  # fmt: skip
            else:
                M, valid = turn_render_matrices(model.mesh, R, turns, model.category, size,
                                                margin)  # fmt: skip
                t_turn = t[own]
            loss = render_compare(model.mesh, M, t_turn, obs, own).loss
            parts["turn_gaps"].append((loss - truth[own]).view(len(feats), -1).numpy())
            parts["turn_valid"].append(valid.view(len(feats), -1).numpy())
    n = len(index)
    out: dict = {"crops": n, "loss_at_truth": truth_sum / max(n, 1), "angles": {}}
    for angle in angles:
        gap = np.concatenate(parts["gaps"][angle])
        out["angles"][f"{angle:g}"] = {"better": float(np.mean(gap < 0)),
                                       "mean_gap": float(gap.mean())}  # fmt: skip
    if turns:
        G, V = np.concatenate(parts["turn_gaps"]), np.concatenate(parts["turn_valid"])
        out["turns"] = {}
        for j, turn in enumerate(turns):
            g = G[V[:, j], j]
            out["turns"][f"{turn:g}"] = {"pairs": int(len(g)),
                                         "better": float(np.mean(g < 0)) if len(g) else None,
                                         "mean_gap": float(g.mean()) if len(g) else None}
        out["turn_beats_truth"] = float(((G < 0) & V).any(1).mean())
        out["turns_refined"] = refine
        if refine:  # the gaps to the refined truth: G + L(truth) - L(refined truth)
            shift = (truth.numpy() - parts["refined_truth"])[:, None]
            out["turn_beats_refined_truth"] = float((((G + shift) < 0) & V).any(1).mean())
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.nemo_margin_probe",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", required=True, help="BOP dataset root")
    p.add_argument("--split", default="train")
    p.add_argument("--checkpoint", action="append", required=True, help="model .pt; repeat")
    p.add_argument("--crops", type=int, default=64, help="labelled crops (default 64)")
    p.add_argument("--angles", type=float, nargs="+", default=[2, 5, 10, 20, 40],
                   help="perturbation angles, deg (default 2 5 10 20 40)")
    p.add_argument("--draws", type=int, default=8, help="rotations per crop and angle")
    p.add_argument("--turns", type=float, nargs="+", default=[], metavar="DEG",
                   help="also turns about the model's up axis by these angles (e.g. 90 270)")
    p.add_argument("--refine", action="store_true",
                   help="refine the turns and the truth first (the default preset)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)  # fmt: skip

    import torch

    from offline_training.nemo.data import NemoTrainingSet
    from ros_pose_estimation.core.errors import PoseEstimationError
    from ros_pose_estimation.nemo.checkpoint import load_checkpoint

    torch.set_num_threads(args.threads)
    results = {}
    print(f"device: {describe('cpu')}")
    for path in args.checkpoint:
        try:
            model, _ = load_checkpoint(path)
            model.eval()
            cfg = model.config
            dataset = NemoTrainingSet(args.data, model.category, args.split, cfg.crop_size,
                                      cfg.crop_scale)  # fmt: skip
        except (FileNotFoundError, PoseEstimationError) as exc:
            print(f"nemo_margin_probe: error: {exc}", file=sys.stderr)
            return 2
        res = probe(model, dataset, args.crops, args.angles, args.draws,
                    turns=tuple(args.turns), refine=args.refine)  # fmt: skip
        results[path] = res
        print(f"{path} ({model.category}, {res['crops']} crops of {args.data}/{args.split}; "
              f"loss at the truth {res['loss_at_truth']:.4f})")  # fmt: skip
        for angle, r in res["angles"].items():
            print(f"  {angle:>5s} deg off: {r['better']:.3f} score better than the truth "
                  f"(mean loss gap {r['mean_gap']:+.4f})")  # fmt: skip
        for turn, r in res.get("turns", {}).items():
            if not r["pairs"]:
                print(f"  turn {turn:>5s} deg: a symmetry of every instance, not a wrong pose")
                continue
            print(f"  turn {turn:>5s} deg: {r['better']:.3f} of {r['pairs']} score better than "
                  f"the truth (mean loss gap {r['mean_gap']:+.4f})")  # fmt: skip
        if "turn_beats_truth" in res:
            what = "refined turn" if res["turns_refined"] else "turn"
            print(f"  some {what} beats the truth on {res['turn_beats_truth']:.3f} of the crops")
        if "turn_beats_refined_truth" in res:
            print(f"  some refined turn beats the refined truth on "
                  f"{res['turn_beats_refined_truth']:.3f} of the crops")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"device": describe("cpu"), "data": args.data,
                                               "split": args.split, "results": results},
                                              indent=2) + "\n")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
