"""Render a contact sheet of every category (RGB, depth, mask) for the README.

    python -m offline_training.synthetic.samples --out docs/images/samples.png
"""

from __future__ import annotations

import argparse
import sys

import numpy as np


def sample_sheet(categories: list[str], instances: int = 2, size: tuple[int, int] = (160, 120),
                 seed: int = 0) -> np.ndarray:
    """``[H x W x 3]`` uint8 sheet: one row per category, (RGB, depth, mask) per instance."""
    from offline_training.synthetic.preview import contact_sheet, depth_to_rgb, mask_to_rgb
    from offline_training.synthetic.render import render
    from offline_training.synthetic.scene import sample_scene
    from offline_training.synthetic.sensor_noise import SensorNoise
    from offline_training.synthetic.views import camera_on_sphere, fit_distance
    from ros_pose_estimation.core.camera import Intrinsics

    width, height = size
    f = 0.5 * width / np.tan(np.deg2rad(30.0))
    intr = Intrinsics(f, f, (width - 1) / 2, (height - 1) / 2, width, height)
    rows, titles = [], []
    for c, category in enumerate(categories):
        row = []
        for i in range(instances):
            rng = np.random.default_rng([seed, c, i])
            scene = sample_scene([category], rng, n_objects=1)
            center, radius = scene.center_and_radius()
            dist = fit_distance(radius, f, f, width, height, fill=0.8)
            pose = camera_on_sphere(rng.uniform(0, 360), rng.uniform(20, 45), dist, center)
            res = render(scene, pose, intr, noise=SensorNoise(), rng=rng)
            row += [res.rgb, depth_to_rgb(res.depth), mask_to_rgb(res.instance)]
        rows.append(row)
        titles.append(f"{category}: RGB | depth | mask  (x{instances} instances)")
    return contact_sheet(rows, titles)


def main(argv: list[str] | None = None) -> int:
    import cv2

    from ros_pose_estimation.core.categories import BUILTIN_CATEGORIES

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True, help="PNG file to write")
    p.add_argument("--instances", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    sheet = sample_sheet(list(BUILTIN_CATEGORIES), args.instances, seed=args.seed)
    if not cv2.imwrite(args.out, sheet[..., ::-1]):
        print(f"samples: could not write {args.out}", file=sys.stderr)
        return 1
    print(f"wrote {args.out} ({sheet.shape[1]}x{sheet.shape[0]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
