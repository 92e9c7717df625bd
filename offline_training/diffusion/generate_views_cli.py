"""``generate-views``: posed views of one image per instance, for paper 000's training::

    generate-views --category mug --source synthetic --instances 40 --generator render \\
        --out data/mug_views                         # CPU stand-in, the data engine's instances
    generate-views --category mug --source images DIR --generator zero123 \\
        --weights PATH_OR_HUB_ID --out data/mug_views  # your crops: DIR/NAME.png + NAME_mask.png
    generate-views --category mug --source bag BAG [BAG ...] --generator zero123 \\
        --weights PATH_OR_HUB_ID --out data/mug_views  # one image per object track of the bags

Views: ``--views`` of the grid every ``--step`` deg within ``--azimuth`` / ``--elevation``
(published: 20 views, 15 deg, [-90, 90] both), the input view (0, 0) always among them. Output:
a views dataset (:mod:`.views_dataset`) that ``train-views`` trains on.

Exit codes: 0 success, 2 bad arguments or inputs (message says what to fix), 1 other failures.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2

from offline_training.diffusion.generators import ObjectImage
from offline_training.synthetic.cli import range_type
from ros_pose_estimation.core.errors import ConfigError

_degrees = range_type(float, "DEG", "any")  # "-90..90" -> (-90.0, 90.0)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="generate-views", description=__doc__.split("\n")[0])
    p.add_argument("--category", required=True, help="category of the objects, e.g. mug")
    p.add_argument("--out", required=True, help="views dataset folder (must be new or empty)")
    p.add_argument("--source", default=["synthetic"], nargs="+",
                   metavar="synthetic|images DIR|bag BAG [BAG ...]",
                   help="'synthetic': the data engine makes --instances objects, one input "
                   "image each; 'images DIR': DIR/NAME.png (RGB) with DIR/NAME_mask.png "
                   "(object = non-zero), one per instance; 'bag BAG [BAG ...]': recordings "
                   "extracted as pose-train does, one image per object track of --category "
                   "(its largest unoccluded view)")  # fmt: skip
    p.add_argument("--cache", default=None, help="--source bag: extraction cache (default: a "
                   "temporary folder; pose-train's OUT/cache reuses its extraction)")  # fmt: skip
    p.add_argument("--instances", type=int, default=40, help="synthetic instances (default 40)")
    p.add_argument("--generator", choices=("render", "zero123"), default="render",
                   help="render (CPU stand-in: the data engine renders the instance; synthetic "
                   "source only) or zero123 (the diffusion model; needs --weights)")  # fmt: skip
    p.add_argument(
        "--weights",
        default=None,
        help="Zero-1-to-3 weights: a local folder or a "
        "hub id in the local cache (see README, 'Diffusion-generated data')",
    )
    p.add_argument("--device", default="cpu", help="zero123: cpu or cuda (default cpu)")
    p.add_argument("--views", type=int, default=20, help="views per instance (default 20)")
    p.add_argument("--step", type=float, default=15.0, help="grid step, deg (default 15)")
    p.add_argument("--azimuth", type=_degrees, default=(-90.0, 90.0), help="deg (-90..90)")
    p.add_argument("--elevation", type=_degrees, default=(-90.0, 90.0), help="deg (-90..90)")
    p.add_argument(
        "--hfov",
        type=float,
        default=40.0,
        help="field of view of the generated "
        "images' virtual camera and of the synthetic inputs, deg (default 40)",
    )
    p.add_argument("--backgrounds", default=None, help="folder of photos to paste the views on "
                   "(default: the data engine's procedural backgrounds)")  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="instances, view draw, backgrounds")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def read_image_folder(folder: Path) -> list[ObjectImage]:
    """``folder/NAME.png`` + ``folder/NAME_mask.png`` pairs, sorted by name."""
    if not folder.is_dir():
        raise ConfigError(f"--source images {folder}: not a folder")
    out = []
    for path in sorted(folder.glob("*.png")):
        if path.stem.endswith("_mask"):
            continue
        mask_path = path.with_name(f"{path.stem}_mask.png")
        bgr, mask = cv2.imread(str(path)), cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE)
        if bgr is None or mask is None:
            raise ConfigError(f"{path}: unreadable, or its mask {mask_path.name} is missing")
        if mask.shape != bgr.shape[:2] or not mask.any():
            raise ConfigError(f"{mask_path}: empty or not the size of {path.name}")
        out.append(ObjectImage(rgb=bgr[..., ::-1].copy(), mask=mask > 0, name=path.stem))
    if not out:
        raise ConfigError(f"--source images {folder}: no NAME.png with NAME_mask.png found")
    return out


def _bag_objects(bags: list[str], category: str, args) -> list[ObjectImage]:
    import tempfile

    from offline_training.diffusion.bag_objects import bag_objects
    from ros_pose_estimation.tools.bag_errors import BagError

    try:
        if args.cache:
            return bag_objects(bags, category, args.cache, progress=not args.no_progress)
        with tempfile.TemporaryDirectory(prefix="generate_views_cache_") as cache:
            return bag_objects(bags, category, cache, progress=not args.no_progress)
    except BagError as err:
        raise ConfigError(str(err)) from err


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return _run(args)
    except (ConfigError, FileExistsError) as err:
        print(f"generate-views: {err}", file=sys.stderr)
        return 2


def _run(args) -> int:
    from offline_training.diffusion.views import view_grid
    from offline_training.diffusion.views_dataset import write_views_dataset
    from ros_pose_estimation.core.categories import get_category

    category = get_category(args.category).name
    kind, *rest = args.source
    backgrounds = tuple(sorted(str(p) for p in Path(args.backgrounds).glob("*"))) \
        if args.backgrounds else ()  # fmt: skip
    if kind == "synthetic" and not rest:
        from offline_training.diffusion.render_generator import synthetic_objects

        objects = synthetic_objects(category, args.instances, args.seed, hfov_deg=args.hfov)
    elif kind == "images" and len(rest) == 1:
        objects = read_image_folder(Path(rest[0]))
    elif kind == "bag" and rest:
        if args.generator == "render":
            raise ConfigError("--source bag: the render generator needs the data engine's "
                              "instances (--source synthetic); real images need --generator "
                              "zero123")  # fmt: skip
        objects = _bag_objects(rest, category, args)
    else:
        raise ConfigError("--source must be 'synthetic', 'images DIR' or 'bag BAG [BAG ...]', "
                          f"got {args.source}")  # fmt: skip
    if args.generator == "render":
        from offline_training.diffusion.render_generator import RenderGenerator

        generator = RenderGenerator()
    else:
        if not args.weights:
            raise ConfigError("--generator zero123 needs --weights (a local folder or a hub id "
                              "in the local cache, e.g. kxic/zero123-xl)")  # fmt: skip
        from offline_training.diffusion.zero123 import Zero123Generator

        generator = Zero123Generator(args.weights, device=args.device)
    views = view_grid(args.azimuth, args.elevation, args.step, args.views, args.seed)
    index = write_views_dataset(args.out, category, objects, generator, views, args.seed,
                                args.hfov, backgrounds, progress=not args.no_progress)  # fmt: skip
    print(f"generate-views: {len(index['instances'])} instances x {len(views)} views "
          f"({generator.name}) -> {args.out}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
