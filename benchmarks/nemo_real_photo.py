"""The RGB mug model on a real photograph: the one this machine has.

    python -m benchmarks.nemo_real_photo --run bundled=models/nemo/mug.pt --threads 1 \\
        --json benchmarks/results/nemo_real_photo_mug_cpu.json

Every figure of the RGB models is measured on rendered images. scikit-image ships one
photograph of a category object: ``skimage.data.coffee()`` (600 x 400 px), an espresso cup on
its saucer, seen from above at an angle, its handle towards the camera and to the left. Its pose
is annotated here from the image, not by hand-picking numbers:

- **elevation** (the angle between the line of sight and the cup's rim plane) and **roll** (the
  tilt of the cup's axis in the image) from an ellipse fitted to the white rim
  (:func:`rim_ellipse`): a circle seen at elevation ``e`` is an ellipse whose axes have the ratio
  ``sin e`` (53.7 deg here; the saucer's ellipse gives 52), its minor axis along the projected
  axis of the cup (5.7 deg from the image's vertical, its top to the right);
- **handle azimuth** (from the horizontal direction towards the camera, negative to the image's
  left): the handle's centre is 64 px left of the rim's centre, at about 1.3 rim radii from the
  cup's axis (the handle stands out ~0.3 radii): ``asin(-64 / (1.3 * 117)) = -25`` deg; where it
  joins the body (40 px left, one radius) -20 deg; :data:`HANDLE_AZIMUTH_DEG` is -22.

The annotation is good to about 5-10 deg (the ellipse under perspective, the handle's extent).
The focal length of the photo is unknown: each run is measured at f = 600, 800 and 1000 px
(horizontal field of view 53, 41 and 33 deg), with the principal point at the centre. The
detection is a tight box around the cup and its handle (:data:`BOX`), as a detector gives; the
saucer and the spoon are in it and around it. Prints, per run and focal length, the rotation
error against the annotation (the mug's metric: the handle is in view), the estimate's elevation
and handle azimuth, and the device. One photo is a smoke test of the gap between rendered and
real images, not a benchmark of accuracy.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from benchmarks.device_info import describe
from benchmarks.nemo_compare import parse_run, preset_config

#: tight box around the cup and its handle (x0, y0, x1, y1, px): the rim's left, top and right
#: edges and the handle's lowest pixel
BOX = (174.0, 18.0, 408.0, 306.0)
#: the cup's centre in the image (px): the rim's centre, half-way down to the base
CENTRE_PX = (291.0, 162.0)
#: the handle's azimuth from the horizontal direction towards the camera (deg, - = image left)
HANDLE_AZIMUTH_DEG = -22.0
FOCALS_PX = (600.0, 800.0, 1000.0)


def coffee_photo() -> np.ndarray:
    """``[400 x 600 x 3]`` uint8 RGB: scikit-image's espresso cup."""
    from skimage import data

    return np.ascontiguousarray(data.coffee())


def rim_ellipse(image: np.ndarray) -> tuple[float, float]:
    """(elevation, roll) in degrees from the cup's white rim in ``image`` (``[H x W x 3]``
    uint8 RGB): the largest bright, unsaturated region, its convex hull fitted by an ellipse.
    Elevation ``asin(minor / major)``; roll: the minor axis's angle from the image's vertical,
    positive when its upper end leans to the image's right."""
    import cv2

    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
    white = ((hsv[..., 1] < 60) & (hsv[..., 2] > 170)).astype(np.uint8)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(white)
    rim = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    ys, xs = np.nonzero(labels == rim)
    hull = cv2.convexHull(np.stack([xs, ys], 1).astype(np.float32))
    _, (w, h), angle = cv2.fitEllipse(hull)
    minor_angle = angle if w < h else angle + 90.0  # of the minor axis from the image's +x
    # the minor axis as the direction pointing up the image (y down): its lean from vertical
    d = np.array([np.cos(np.radians(minor_angle)), np.sin(np.radians(minor_angle))])
    d = d if d[1] < 0 else -d
    roll = float(np.degrees(np.arctan2(d[0], -d[1])))
    return float(np.degrees(np.arcsin(min(w, h) / max(w, h)))), roll


def _towards_camera(ray: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Unit direction in the object's horizontal plane (normal ``z``) towards the camera that
    looks along ``ray``."""
    towards = (ray @ z) * z - ray
    return towards / np.linalg.norm(towards)


def annotated_rotation(ray: np.ndarray, elevation: float, azimuth: float, roll: float):
    """``[3 x 3]`` model -> camera rotation of a mug (z up, x towards the handle) whose centre is
    on the unit ``ray`` (camera frame), seen at ``elevation`` (deg) with its handle at
    ``azimuth`` (deg from the horizontal direction towards the camera, positive towards the
    camera's +x) and its axis leaning ``roll`` deg towards the image's right."""
    e, a, r = np.radians([elevation, azimuth, roll])
    up = np.array([0.0, -1.0, 0.0])
    u = up - (up @ ray) * ray
    u /= np.linalg.norm(u)
    u = np.cos(r) * u + np.sin(r) * np.cross(ray, u)
    z = np.sin(e) * -ray + np.cos(e) * u
    towards = _towards_camera(ray, z)
    x = np.cos(a) * towards + np.sin(a) * np.cross(z, towards)
    return np.stack([x, np.cross(z, x), z], 1)


def view_angles(R: np.ndarray, ray: np.ndarray) -> tuple[float, float]:
    """(elevation, handle azimuth) in degrees of a mug at rotation ``R`` on the unit ``ray``,
    as :func:`annotated_rotation` defines them."""
    z, x = R[:, 2], R[:, 0]
    elevation = np.degrees(np.arcsin(np.clip(-ray @ z, -1.0, 1.0)))
    towards = _towards_camera(ray, z)
    xh = x - (x @ z) * z
    azimuth = np.degrees(np.arctan2(np.cross(towards, xh) @ z, towards @ xh))
    return float(elevation), float(azimuth)


def centre_ray(f: float, width: int, height: int) -> np.ndarray:
    """Unit ray through :data:`CENTRE_PX` for focal length ``f`` (px), centred principal point."""
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    ray = np.array([(CENTRE_PX[0] - cx) / f, (CENTRE_PX[1] - cy) / f, 1.0])
    return ray / np.linalg.norm(ray)


def measure(estimator, image: np.ndarray, elevation: float, roll: float) -> list[dict]:
    """One row per focal length of :data:`FOCALS_PX`: the mug ``estimator``'s error (deg)
    against the annotation, its elevation and handle azimuth."""
    from ros_pose_estimation.core.camera import Intrinsics
    from ros_pose_estimation.core.estimation import Detection
    from ros_pose_estimation.core.metrics import rotation_error_deg

    h, w = image.shape[:2]
    rows = []
    for f in FOCALS_PX:
        K = Intrinsics(f, f, (w - 1) / 2.0, (h - 1) / 2.0, w, h)
        (est,) = estimator.estimate(image, [Detection("mug", np.asarray(BOX))], K)
        ray = centre_ray(f, w, h)
        truth = annotated_rotation(ray, elevation, HANDLE_AZIMUTH_DEG, roll)
        elev, azim = view_angles(est.R, ray)
        rows.append({"focal_px": f, "error_deg": float(rotation_error_deg(est.R, truth, "mug")),
                     "elevation_deg": elev, "handle_azimuth_deg": azim,
                     "score": float(est.score)})  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="nemo_real_photo", description=__doc__.split("\n\n")[0])
    p.add_argument("--run", action="append", required=True, type=parse_run,
                   metavar="NAME=CHECKPOINT[:PRESET]", help="a mug model (nemo_compare's form)")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)

    import torch

    from ros_pose_estimation.core.errors import PoseEstimationError
    from ros_pose_estimation.nemo.checkpoint import load_checkpoint
    from ros_pose_estimation.nemo.estimator import NemoEstimator

    if args.threads:
        torch.set_num_threads(args.threads)
    image = coffee_photo()
    elevation, roll = rim_ellipse(image)
    print(f"annotation: elevation {elevation:.1f} deg, roll {roll:.1f} deg, handle azimuth "
          f"{HANDLE_AZIMUTH_DEG:.0f} deg ({describe('cpu')})")  # fmt: skip
    print("run          f (px)  error (deg)  elevation  handle azimuth  score")
    table = []
    for name, path, preset in args.run:
        try:
            model, _ = load_checkpoint(path, category="mug")
        except PoseEstimationError as exc:
            print(f"nemo_real_photo: error: {exc}", file=sys.stderr)
            return 2
        estimator = NemoEstimator({"mug": model}, preset_config(preset))
        for row in measure(estimator, image, elevation, roll):
            row = {"run": name, "checkpoint": path, "preset": preset, **row}
            table.append(row)
            print(f"{name:<12} {row['focal_px']:6.0f}  {row['error_deg']:11.1f}  "
                  f"{row['elevation_deg']:9.1f}  {row['handle_azimuth_deg']:14.1f}  "
                  f"{row['score']:.2f}")  # fmt: skip
    if args.json:
        out = {"device": describe("cpu"), "elevation_deg": elevation, "roll_deg": roll,
               "handle_azimuth_deg": HANDLE_AZIMUTH_DEG, "box_xyxy": list(BOX), "rows": table}
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
