"""How the RGB-D estimator copes with objects partly hidden by something in front of them.

    python -m benchmarks.cse_occlusion --data out/data/mug_rgbd_final --split test \\
        --checkpoint models/cse/mug.pt --photos out/data/photos --max-objects 100 \\
        --threads 1 --json out/cse_occlusion.json

The RGB-D twin of :mod:`benchmarks.nemo_occlusion`: every object ``evaluate-cse`` would select
is estimated on the frame as it is and on a copy in which an occluder cut from one of the
``--photos`` hides part of it (:func:`benchmarks.nemo_occlusion.occluded_view`, the same draws
per ``[--seed, image, object]``). The occluder stands in front: the depth under it is the
object's median depth less 5-20 cm. The detection is what an instance segmenter gives, the
object's visible mask (the occluder's pixels left out) and its box; with ``--box-only`` only
the unoccluded object's box (the estimator then separates the object by depth). Prints per
bin of hidden share the median rotation and centre errors and 10deg5cm, and the device.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from benchmarks.device_info import describe
from benchmarks.nemo_occlusion import bin_name, occluded_objects
from offline_training.cse.augment import occluder_depth


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="cse_occlusion", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--split", default="test")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--photos", required=True, help="folder of photographs for the occluders")
    p.add_argument("--box-only", action="store_true", help="detections without masks")
    p.add_argument("--max-objects", type=int, default=100)
    p.add_argument("--min-visib", type=float, default=0.3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="override an inference setting (repeat), as evaluate-cse's --set")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)

    import torch

    from offline_training.cse.evaluate import inference_config
    from offline_training.evaluation import detection_frames
    from offline_training.synthetic.bop_reader import BopDataset
    from ros_pose_estimation.core.errors import PoseEstimationError
    from ros_pose_estimation.core.estimation import Detection
    from ros_pose_estimation.core.metrics import rotation_error_deg
    from ros_pose_estimation.cse.checkpoint import load_checkpoint
    from ros_pose_estimation.cse.estimator import CseEstimator, CseInferenceConfig

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        model, _ = load_checkpoint(args.checkpoint)
        dataset = BopDataset(args.data, args.split)
        config = inference_config(args.set, CseInferenceConfig)
    except (FileNotFoundError, PoseEstimationError) as exc:
        print(f"cse_occlusion: error: {exc}", file=sys.stderr)
        return 2
    category = model.category
    estimator = CseEstimator({category: model}, config)
    rows: dict[str, list[tuple[float, float]]] = {}
    hidden_all = []
    frames = [f for f in detection_frames(dataset, [category], args.min_visib, args.max_objects)
              if f.sample.depth is not None]  # fmt: skip
    try:
        for frame, det, obj, key, hidden_img, hidden, left in occluded_objects(
                frames, args.photos, args.seed):
            image, depth = frame.sample.rgb, frame.sample.depth.astype(np.float32)
            mask = np.asarray(obj.mask_visib, dtype=bool)
            occluder = (hidden_img != image).any(axis=2) | (mask & ~left)
            hidden_depth = occluder_depth(depth, mask, occluder, np.random.default_rng(key))
            hidden_all.append(hidden)
            views = ((image, depth, mask, 0.0), (hidden_img, hidden_depth, left, hidden))
            for view, view_depth, visible, share in views:
                shown = Detection(category, det.box_xyxy, None if args.box_only else visible)
                (e,) = estimator.estimate(view, [shown], frame.intrinsics, view_depth,
                                          errors="none")  # fmt: skip
                err = (180.0, 1.0) if e is None else (
                    float(rotation_error_deg(e.R, obj.R, category,
                                             size=dataset.instance_size(obj.obj_id))),
                    float(np.linalg.norm(e.t - obj.t)))  # fmt: skip
                rows.setdefault(bin_name(share), []).append(err)
    except FileNotFoundError as exc:
        print(f"cse_occlusion: error: {exc}", file=sys.stderr)
        return 2
    device = describe("cpu")
    print(f"{category}: {args.checkpoint} on {args.data}/{args.split}, {len(hidden_all)} "
          f"objects, hidden share median {np.median(hidden_all):.2f}, "
          f"{'boxes only' if args.box_only else 'visible masks'} ({device})")  # fmt: skip
    print("hidden    objects  10deg5cm  <=10 deg  median (deg)  median (cm)")
    table = []
    for b in sorted(rows, key=lambda n: (n != "none", n)):
        e = np.asarray(rows[b])
        row = {"hidden": b, "objects": len(e),
               "10deg5cm": float(np.mean((e[:, 0] <= 10) & (e[:, 1] <= 0.05))),
               "within_10deg": float(np.mean(e[:, 0] <= 10)),
               "median_deg": float(np.median(e[:, 0])),
               "median_cm": 100 * float(np.median(e[:, 1])),
               "errors_deg": e[:, 0].tolist(), "errors_m": e[:, 1].tolist()}  # fmt: skip
        table.append(row)
        print(f"{b:8s} {len(e):8d}  {row['10deg5cm']:8.2f}  {row['within_10deg']:8.2f}  "
              f"{row['median_deg']:12.2f}  {row['median_cm']:11.2f}")  # fmt: skip
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"device": device, "args": vars(args),
                                               "rows": table}, indent=1))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
