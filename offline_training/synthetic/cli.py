"""Console entry points of the synthetic data engine (``setup.py`` points at these).

``generate-dataset`` writes a BOP RGB-D dataset (see :mod:`.dataset`)::

    generate-dataset --category mug --category bottle --instances 50 --images 2000 \\
        --out data/synth --seed 0 --width 320 --height 240 --objects-per-image 1..3

``generate-bag`` writes a rosbag2 recording (see :mod:`.recording_cli`).

Exit codes: 0 success, 1 runtime failure (e.g. the output split is not empty), 2 bad arguments
(unknown category, malformed range; argparse's convention).
"""

from __future__ import annotations

import argparse
import math
import sys

from offline_training.cli_args import positive_int


def range_type(cast, name: str, lowest: str):
    """An argparse type for ``"LO..HI"`` or ``"X"`` (= ``X..X``) of ``cast`` values with
    ``lowest`` (``"0 <"``, ``"0 <="``, ``"1 <="`` or ``"any"``) ``LO <= HI``; returns
    ``(lo, hi)``."""

    def parse(text: str) -> tuple:
        try:
            lo, _, hi = text.partition("..")
            lo_v, hi_v = cast(lo), cast(hi or lo)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {name} or LO..HI, got {text!r}") from None
        low_ok = {"0 <": lo_v > 0, "0 <=": lo_v >= 0, "any": True}.get(lowest, lo_v >= 1)
        if not (low_ok and lo_v <= hi_v):
            need = "LO <= HI" if lowest == "any" else f"{lowest} LO <= HI"
            raise argparse.ArgumentTypeError(f"need {need}, got {text!r}")
        return lo_v, hi_v

    return parse


#: ``"45..75"`` -> (45.0, 75.0); ``"60"`` -> (60.0, 60.0)
_float_range = range_type(float, "X", "0 <")
#: ``"0..9"`` -> (0.0, 9.0): like ``_float_range`` but LO may be 0
_nonneg_range = range_type(float, "X", "0 <=")
#: ``"-10..90"`` -> (-10.0, 90.0): any LO <= HI (checked further by the config)
_any_range = range_type(float, "X", "any")
#: ``"1..3"`` -> (1, 3); ``"2"`` -> (2, 2)
_int_range = range_type(int, "N", "1 <=")


def _pair(text: str) -> tuple[float, float]:
    """``"1.5,-1"`` -> (1.5, -1.0): two finite numbers separated by a comma."""
    try:
        a, b = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected DX,DY, got {text!r}") from None
    if not (math.isfinite(a) and math.isfinite(b)):
        raise argparse.ArgumentTypeError(f"expected two finite numbers DX,DY, got {text!r}")
    return a, b


def dataset_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="generate-dataset",
        description="Render a synthetic RGB-D dataset of procedural category instances "
        "(BOP format: rgb, depth, masks, poses, models).",
    )
    p.add_argument("--category", action="append", dest="categories", required=True,
                   help="category to render (repeat for several)")
    p.add_argument("--out", required=True, help="dataset root (models/ and SPLIT/ go here)")
    p.add_argument("--instances", type=int, default=50, help="shapes per category (default 50)")
    p.add_argument("--images", type=int, default=2000, help="images to render (default 2000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--width", type=positive_int, default=320)
    p.add_argument("--height", type=positive_int, default=240)
    p.add_argument("--hfov", type=_float_range, default=(60.0, 60.0), metavar="DEG|LO..HI",
                   help="horizontal field of view (deg); a range LO..HI draws one per image "
                   "(several cameras in one dataset; default 60)")
    p.add_argument("--fill", type=_float_range, default=(0.4, 0.9), metavar="LO..HI",
                   help="scene size / shorter image side, drawn per image: smaller is farther "
                   "(default 0.4..0.9)")
    p.add_argument("--max-distance", type=float, default=None, metavar="M",
                   help="farthest camera from the scene centre (m), e.g. a depth sensor's "
                   "range: a spread-out layout that --fill would put farther is framed closer "
                   "(it fills more of the image); default: no cap")
    p.add_argument("--elevation", type=_any_range, default=(10.0, 80.0), metavar="LO..HI",
                   help="camera elevation above the table (deg; 90 looks straight down), drawn "
                   "per image (default 10..80)")
    p.add_argument("--objects-per-image", type=_int_range, default=(1, 3), metavar="LO..HI",
                   help="objects per image, e.g. 1..3 (default) or 2")
    p.add_argument("--split", default="train", help="split folder (default train)")
    p.add_argument("--noise", action=argparse.BooleanOptionalAction, default=True,
                   help="sensor noise on RGB and depth (default on)")
    p.add_argument("--shadows", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--table", action=argparse.BooleanOptionalAction, default=True,
                   help="objects on a table (default) or floating over the background")
    p.add_argument("--views-per-layout", type=int, default=1,
                   help="images of each object arrangement (default 1)")
    p.add_argument("--backgrounds", default=None,
                   help="folder of photos to mix with the procedural backgrounds")
    p.add_argument("--jpg", action="store_true", help="write rgb as .jpg instead of .png")
    add_look_args(p)
    add_sensor_args(p)
    gloss = p.add_argument_group(
        "glossy objects", "a Blinn-Phong highlight on some objects (offline_training.synthetic."
        "gloss); drawn from its own generator: geometry and labels stay those of the seed")
    gloss.add_argument("--gloss", type=float, default=0.0, metavar="SHARE",
                       help="probability that an object is glossy (default 0: all matte)")
    gloss.add_argument("--gloss-strength", type=_nonneg_range, default=(0.2, 0.8),
                       metavar="LO..HI", help="highlight peak, share of the light (default "
                       "0.2..0.8)")  # fmt: skip
    gloss.add_argument("--gloss-shininess", type=_float_range, default=(10.0, 200.0),
                       metavar="LO..HI", help="Blinn-Phong exponent, drawn log-uniformly "
                       "(default 10..200: broad sheen to small hot spot)")  # fmt: skip
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p



def add_look_args(p: argparse.ArgumentParser) -> None:
    """The target-domain look options (:class:`.look.Look`) of ``generate-dataset`` and
    ``generate-bag``; :func:`look_from_args` reads them back."""
    look = p.add_argument_group(
        "target-domain look", "post-render RGB changes (offline_training.synthetic.look); "
        "depth, masks and poses stay exact; all off by default")
    look.add_argument("--light-gain", type=_float_range, default=(1.0, 1.0), metavar="LO..HI",
                      help="brightness factor drawn per image, e.g. 0.3..0.7 (darker lighting)")
    look.add_argument("--light-tint", type=float, default=0.0, metavar="T",
                      help="colour cast: each channel x (1 + T u), u in [-1, 1] per image")
    look.add_argument("--gamma", type=float, default=1.0, help="tone curve exponent")
    look.add_argument("--motion-blur", type=_nonneg_range, default=(0.0, 0.0), metavar="LO..HI",
                      help="linear motion blur length (px) drawn per image, random direction")
    look.add_argument("--rgb-noise", type=float, default=0.0, metavar="SIGMA",
                      help="extra Gaussian RGB noise (0-255 units)")
    look.add_argument("--jpeg-quality", type=int, default=None, metavar="Q",
                      help="JPEG-compress every image at quality Q (1-100) before writing")


def add_sensor_args(p: argparse.ArgumentParser) -> None:
    """Another depth camera's artefacts (:class:`.sensor_noise.SensorNoise`), options of
    ``generate-dataset`` and ``generate-bag``; :func:`sensor_from_args` reads them back."""
    sensor = p.add_argument_group(
        "depth sensor artefacts", "another depth camera's (offline_training.synthetic."
        "sensor_noise); with sensor noise on only; all off by default")
    sensor.add_argument("--depth-noise-scale", type=float, default=0.0, metavar="PX",
                        help="width (px) over which the depth noise is correlated (stereo)")
    sensor.add_argument("--depth-fatten", type=int, default=0, metavar="PX",
                        help="a nearer surface's depth spreads this far over a farther one "
                        "(stereo edge fattening)")  # fmt: skip
    sensor.add_argument("--depth-flying", type=float, default=0.0, metavar="SHARE",
                        help="share of the discontinuity pixels with a depth between the two "
                        "surfaces (flying pixels)")  # fmt: skip
    sensor.add_argument("--depth-shift", type=_pair, default=(0.0, 0.0), metavar="DX,DY",
                        help="depth image shifted against the colour image (px; "
                        "misregistration)")  # fmt: skip


def sensor_from_args(args: argparse.Namespace):
    """The :class:`.sensor_noise.SensorNoise` of :func:`add_sensor_args`'s options (the default
    sensor with those artefacts); ValueError when one is out of range."""
    from .sensor_noise import SensorNoise

    return SensorNoise(noise_scale_px=args.depth_noise_scale, fatten_px=args.depth_fatten,
                       flying=args.depth_flying, shift_px=args.depth_shift)  # fmt: skip


def look_from_args(args: argparse.Namespace):
    """The :class:`.look.Look` of :func:`add_look_args`'s options."""
    from .look import Look

    return Look(args.light_gain, args.light_tint, args.gamma, args.motion_blur, args.rgb_noise,
                args.jpeg_quality)  # fmt: skip

def dataset_main(argv: list[str] | None = None) -> int:
    """``generate-dataset``; returns the exit code."""
    from pathlib import Path

    from ros_pose_estimation.core.categories import get_category
    from ros_pose_estimation.shapes import SHAPE_CATEGORIES

    args = dataset_parser().parse_args(argv)
    for cat in args.categories:
        name = cat.strip().lower()
        if name not in SHAPE_CATEGORIES:
            print(f"generate-dataset: error: unknown category {cat!r}; known categories: "
                  f"{', '.join(SHAPE_CATEGORIES)}", file=sys.stderr)
            return 2
        get_category(name)
    from .dataset import DatasetConfig, generate_dataset
    from .gloss import GlossConfig

    if not 0.0 < args.hfov[0] <= args.hfov[1] < 180.0:
        print(f"generate-dataset: error: --hfov must lie in (0, 180) deg, got "
              f"{args.hfov[0]:g}..{args.hfov[1]:g}", file=sys.stderr)  # fmt: skip
        return 2
    backgrounds = []
    if args.backgrounds:
        exts = {".png", ".jpg", ".jpeg", ".bmp"}
        backgrounds = sorted(str(p) for p in Path(args.backgrounds).rglob("*")
                             if p.suffix.lower() in exts)
        if not backgrounds:
            print(f"generate-dataset: error: --backgrounds {args.backgrounds} holds no "
                  ".png / .jpg / .bmp photo (or does not exist)", file=sys.stderr)  # fmt: skip
            return 2
    try:
        sensor = sensor_from_args(args)
    except ValueError as err:
        print(f"generate-dataset: error: {err}", file=sys.stderr)
        return 2
    cfg = DatasetConfig(
        categories=[c.strip().lower() for c in args.categories], out=args.out,
        instances=args.instances, images=args.images, seed=args.seed, width=args.width,
        height=args.height, hfov_deg=args.hfov[0],
        hfov_range=args.hfov if args.hfov[0] != args.hfov[1] else None, fill=args.fill,
        max_distance=args.max_distance, elevation_deg=args.elevation,
        objects_per_image=args.objects_per_image,
        split=args.split, noise=args.noise, shadows=args.shadows, with_table=args.table,
        views_per_layout=args.views_per_layout, background_images=backgrounds,
        rgb_ext=".jpg" if args.jpg else ".png",
        look=look_from_args(args),
        gloss=GlossConfig(args.gloss, args.gloss_strength, args.gloss_shininess),
        sensor=sensor,
    )  # fmt: skip
    try:
        cfg.validate()
    except ValueError as err:
        print(f"generate-dataset: error: {err}", file=sys.stderr)
        return 2
    try:
        summary = generate_dataset(cfg, progress=not args.no_progress)
    except FileExistsError as err:
        print(f"generate-dataset: error: {err}", file=sys.stderr)
        return 1
    print(summary)
    return 0


# ---------------------------------------------------------------------------------------------
# bag_main (generate-bag): LEAD'S SPOT. The lead adds ``bag_main(argv=None) -> int`` here
# (e.g. delegating to ``recording_cli``); keep the dataset code above and in dataset.py.
# ---------------------------------------------------------------------------------------------


if __name__ == "__main__":
    sys.exit(dataset_main())
