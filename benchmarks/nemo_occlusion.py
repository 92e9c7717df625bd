"""How the RGB estimator copes with objects partly hidden by something it has never seen.

    python -m benchmarks.nemo_occlusion --data out/data/camera_ood --split test \\
        --run ctrl=out/runs/camera_occ_ctrl/camera.pt --run occ=out/runs/camera_occ/camera.pt \\
        --photos out/data/photos --max-objects 200 --threads 1 --json out/occlusion.json

Every object ``evaluate-nemo`` would select is estimated twice by every ``--run
NAME=CHECKPOINT[:PRESET]`` (as in :mod:`benchmarks.nemo_compare`, ``-raw``: without the view
correction; ``-gravity``: given the world's up from the image's camera pose): on the image as
it is, and on a copy in which an occluder hides part of it. The
occluder (:func:`offline_training.nemo.augment.occlude`) is an ellipse or a convex polygon
centred on a random visible pixel of the object, its area 0.3-1.2x the object's visible area,
cut from one of the ``--photos`` (photographs: unlike the procedural textures of training
occluders); the detection box stays the one of the unoccluded object, as a detector that
sees the object would give. Each object draws its occluder from ``[--seed, image, object]``,
so every run sees the same occluders. ``--masks``: each detection also carries the object's
visible mask (what an instance segmenter gives: the occluder's pixels left out). Errors are
binned by the share of the object's visible pixels the occluder hides. Prints per run and bin
Acc@pi/6, Acc@pi/18 and the median rotation error, and the device.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from benchmarks.device_info import describe
from benchmarks.nemo_compare import parse_run, preset_config, wants_gravity

#: upper edges of the bins of hidden share (the last bin takes everything above)
BINS = (0.0, 0.2, 0.4, 0.6)


def bin_name(hidden: float) -> str:
    """The bin of a hidden share: ``"none"`` for 0, else ``"lo-hi"`` of :data:`BINS`."""
    if hidden <= 0.0:
        return "none"
    for lo, hi in zip(BINS, BINS[1:], strict=False):
        if lo < hidden <= hi:
            return f"{lo:.1f}-{hi:.1f}"
    return f">{BINS[-1]:.1f}"


def load_photos(folder: str, width: int, height: int) -> list[np.ndarray]:
    """The images of ``folder`` (png/jpg) as ``[height x width x 3]`` uint8 RGB."""
    import cv2

    photos = []
    for path in sorted(Path(folder).iterdir()):
        if path.suffix.lower() in (".png", ".jpg", ".jpeg"):
            img = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if img is not None:
                photos.append(cv2.resize(img, (width, height))[..., ::-1].copy())
    return photos


def occluded_view(image: np.ndarray, mask: np.ndarray, photos: list[np.ndarray], key) -> tuple:
    """``(image', hidden, mask')``: ``image`` ``[H x W x 3]`` with an occluder cut from one of
    ``photos`` over the object of visible ``mask`` ``[H x W]`` (module docstring; the draw is
    ``numpy.random.default_rng(key)``), the share of the mask it hides and what stays
    visible."""
    from offline_training.nemo.augment import AugmentConfig, occlude

    rng = np.random.default_rng(key)
    mask = np.asarray(mask, dtype=bool)
    fill = photos[int(rng.integers(len(photos)))]
    out, left = occlude(image, mask, AugmentConfig(occlude_fraction=(0.3, 1.2)), rng, fill)
    return out, 1.0 - float(left.sum()) / max(int(mask.sum()), 1), left


def occluded_objects(frames, photos_folder: str, seed: int):
    """For each selected object of ``frames`` (:func:`offline_training.evaluation.
    detection_frames`): ``(frame, detection, object, its draw key, occluded image, hidden
    share, visible mask)``, the occluder cut from the photos of ``photos_folder`` (loaded
    once, at the first image's size) and drawn from the key ``[seed, image index, object
    index]``.

    Raises:
        FileNotFoundError: ``photos_folder`` holds no photo.
    """
    photos = None
    for frame in frames:
        image = frame.sample.rgb
        if photos is None:
            photos = load_photos(photos_folder, image.shape[1], image.shape[0])
            if not photos:
                raise FileNotFoundError(f"no photos in {photos_folder}")
        for det, obj, k in zip(frame.detections, frame.objects, frame.keep, strict=True):
            key = [seed, frame.index, k]
            hidden_img, hidden, left = occluded_view(image, obj.mask_visib, photos, key)
            yield frame, det, obj, key, hidden_img, hidden, left


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="nemo_occlusion", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--split", default="test")
    p.add_argument("--run", action="append", required=True, type=parse_run,
                   metavar="NAME=CHECKPOINT[:PRESET]")  # fmt: skip
    p.add_argument("--photos", required=True, help="folder of photographs for the occluders")
    p.add_argument("--max-objects", type=int, default=200)
    p.add_argument("--min-visib", type=float, default=0.3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--masks", action="store_true",
                   help="detections carry the object's visible mask (after the occluder), as "
                        "an instance segmenter gives (default: boxes only)")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)

    import torch

    from offline_training.evaluation import detection_frames
    from offline_training.synthetic.bop_reader import BopDataset
    from ros_pose_estimation.core.errors import PoseEstimationError
    from ros_pose_estimation.core.metrics import rotation_error_deg
    from ros_pose_estimation.core.standing import up_in_camera
    from ros_pose_estimation.nemo.checkpoint import load_checkpoint
    from ros_pose_estimation.nemo.estimator import NemoEstimator

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        dataset = BopDataset(args.data, args.split)
        estimators, category, with_up = {}, None, set()
        for name, path, preset in args.run:
            model, _ = load_checkpoint(path)
            category = category or model.category
            if model.category != category:
                raise PoseEstimationError(f"{path}: a {model.category} model, not {category}")
            estimators[name] = NemoEstimator({category: model}, preset_config(preset))
            if wants_gravity(preset):
                with_up.add(name)
    except (FileNotFoundError, PoseEstimationError) as exc:
        print(f"nemo_occlusion: error: {exc}", file=sys.stderr)
        return 2
    rows: dict[tuple[str, str], list[float]] = {}
    hidden_all = []
    frames = detection_frames(dataset, [category], args.min_visib, args.max_objects)
    try:
        for frame, det, obj, _, hidden_img, hidden, left in occluded_objects(
                frames, args.photos, args.seed):
            hidden_all.append(hidden)
            image, pose = frame.sample.rgb, frame.sample.T_world_cam
            up = None if pose is None else up_in_camera(pose)
            views = ((image, 0.0, np.asarray(obj.mask_visib, bool)), (hidden_img, hidden, left))
            for view, share, visible in views:
                shown = replace(det, mask=visible if args.masks else None)
                for name, est in estimators.items():
                    (e,) = est.estimate(view, [shown], frame.intrinsics,
                                        up=up if name in with_up else None)  # fmt: skip
                    err = 180.0 if e is None else float(rotation_error_deg(
                        e.R, obj.R, category, size=dataset.instance_size(obj.obj_id)))
                    rows.setdefault((name, bin_name(share)), []).append(err)
    except FileNotFoundError as exc:
        print(f"nemo_occlusion: error: {exc}", file=sys.stderr)
        return 2
    device = describe("cpu")
    print(f"{category}: {args.data}/{args.split}, {len(hidden_all)} objects, hidden share "
          f"median {np.median(hidden_all):.2f} ({device})")  # fmt: skip
    print("run          hidden    objects  Acc@pi/6  Acc@pi/18  median (deg)")
    table = []
    order = ["none"] + [bin_name(b + 1e-9) for b in BINS]
    for name in estimators:
        for b in order:
            e = np.asarray(rows.get((name, b), []))
            if not len(e):
                continue
            row = {"run": name, "hidden": b, "objects": len(e),
                   "acc_pi_6": float(np.mean(e <= 30)), "acc_pi_18": float(np.mean(e <= 10)),
                   "median_deg": float(np.median(e)), "errors_deg": e.tolist()}  # fmt: skip
            table.append(row)
            print(f"{name:12s} {b:8s} {len(e):8d}  {row['acc_pi_6']:8.3f}  "
                  f"{row['acc_pi_18']:9.3f}  {row['median_deg']:12.2f}")  # fmt: skip
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"device": device, "args": vars(args),
                                               "rows": table}, indent=1))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
