"""``generate-bag``: write a robot-like rosbag2 recording of a synthetic scene.

Example::

    generate-bag --category mug --category bottle --objects 3 --duration 10 --rate 10 \\
        --trajectory arm_sweep --storage mcap --out /tmp/mug_scene

The target-domain look options of ``generate-dataset`` (``--light-gain``, ``--light-tint``,
``--gamma``, ``--motion-blur``, ``--rgb-noise``, ``--jpeg-quality``) change the RGB images only:
a recording whose look the synthetic training data never saw. Its depth camera options
(``--depth-noise-scale``, ``--depth-fatten``, ``--depth-flying``, ``--depth-shift``) give the
depth another camera's artefacts (:mod:`.sensor_noise`).
"""

from __future__ import annotations

import argparse
import sys

from ros_pose_estimation.core.categories import UnknownCategoryError, get_category


def build_parser() -> argparse.ArgumentParser:
    from offline_training.synthetic.cli import add_look_args, add_sensor_args
    from offline_training.synthetic.recording import RecordingConfig
    from offline_training.synthetic.trajectories import TRAJECTORIES

    d = RecordingConfig()
    p = argparse.ArgumentParser(prog="generate-bag", description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True, help="bag folder to create (must not exist)")
    p.add_argument(
        "--category",
        action="append",
        dest="categories",
        help="category to place (repeat; default: mug, bottle, box)",
    )
    p.add_argument("--objects", type=int, default=d.n_objects, help="objects on the table")
    p.add_argument("--trajectory", choices=sorted(TRAJECTORIES), default=d.trajectory)
    p.add_argument("--duration", type=float, default=d.duration, help="seconds")
    p.add_argument("--rate", type=float, default=d.rate, help="image rate (Hz)")
    p.add_argument("--tf-rate", type=float, default=d.tf_rate, help="/tf rate (Hz)")
    p.add_argument("--width", type=int, default=d.width)
    p.add_argument("--height", type=int, default=d.height)
    p.add_argument("--hfov", type=float, default=d.hfov_deg, help="horizontal field of view (deg)")
    p.add_argument("--depth-encoding", choices=["16UC1", "32FC1"], default=d.depth_encoding)
    p.add_argument("--storage", choices=["sqlite3", "mcap"], default=d.storage)
    p.add_argument(
        "--compress",
        choices=["none", "message", "file"],
        default=d.compress,
        help="zstd compression per message, of the whole file, or none",
    )
    p.add_argument(
        "--noise",
        choices=["full", "depth", "none"],
        default=d.noise,
        help="sensor noise: RGB and depth, depth only (noise and holes), or none",
    )
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument(
        "--objects-seed",
        type=int,
        default=None,
        metavar="SEED",
        help="film the objects (shapes, textures) of the recording made with --seed SEED, "
        "arranged, lit and filmed anew by --seed: a second recording of the same objects "
        "(needs the same --category and --objects as that recording)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_look_args(p)
    add_sensor_args(p)
    return p


def main(argv: list[str] | None = None) -> int:
    from offline_training.synthetic.cli import look_from_args, sensor_from_args
    from offline_training.synthetic.inspect_bag import summarize_bag
    from offline_training.synthetic.recording import RecordingConfig, write_recording

    args = build_parser().parse_args(argv)
    categories = args.categories or RecordingConfig().categories
    try:
        categories = [get_category(c).name for c in categories]
    except UnknownCategoryError as exc:
        print(f"generate-bag: {exc}", file=sys.stderr)
        return 2
    try:
        sensor = sensor_from_args(args)
    except ValueError as exc:
        print(f"generate-bag: {exc}", file=sys.stderr)
        return 2
    cfg = RecordingConfig(
        categories=categories,
        n_objects=args.objects,
        trajectory=args.trajectory,
        duration=args.duration,
        rate=args.rate,
        tf_rate=args.tf_rate,
        width=args.width,
        height=args.height,
        hfov_deg=args.hfov,
        depth_encoding=args.depth_encoding,
        storage=args.storage,
        compress=args.compress,
        noise=args.noise,
        seed=args.seed,
        objects_seed=args.objects_seed,
        look=look_from_args(args),
        sensor=sensor,
    )
    try:
        cfg.validate()
        summary = write_recording(cfg, args.out, progress=not args.quiet)
    except (ValueError, FileExistsError) as exc:
        print(f"generate-bag: {exc}", file=sys.stderr)
        return 2
    print(summarize_bag(summary.path).format())
    cats = ", ".join(f"{o['category']} (obj_id {o['obj_id']})" for o in summary.objects)
    print(
        f"wrote {summary.frames} frames, {summary.tf_messages} TF messages, "
        f"{summary.detections} 2D detections of {cats}\n"
        f"{summary.bytes / 1e6:.1f} MB in {summary.seconds:.1f} s -> {summary.path} "
        f"(ground truth: {summary.path}/ground_truth.json)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
