"""Command line: ``extract`` unlabeled recordings into the training cache and print the report.

Example::

    python -m offline_training.bags.cli extract data/demo/demo_bag --cache out/bag_cache
    python -m offline_training.bags.cli extract rec1 rec2 --cache out/c --objects depth \\
        --segment-category mug --topic detections=
    python -m offline_training.bags.cli extract rec --cache out/c --objects first_box \\
        --first-box mug 40 30 80 90

Exit status: 0 when every bag was extracted, 1 when any bag failed (its error is printed; the
other bags are still extracted, and what a damaged bag gave is kept), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import json
import sys

from offline_training.bags.box_tracking import InitialBox
from offline_training.bags.config import OBJECT_SOURCES, ExtractionConfig
from offline_training.bags.topics import MODALITIES, ROLES
from offline_training.cli_args import positive_int
from ros_pose_estimation.core.errors import PoseEstimationError
from ros_pose_estimation.tools.bag_errors import BagError, CorruptBagError


def _topic(text: str) -> tuple[str, str]:
    role, sep, topic = text.partition("=")
    if not sep or role not in ROLES:
        raise argparse.ArgumentTypeError(
            f"expected ROLE=TOPIC (ROLE one of {', '.join(ROLES)}; empty TOPIC drops the "
            f"role), got {text!r}"
        )
    return role, topic


def _class_map(text: str) -> tuple[str, str]:
    source, sep, target = text.partition("=")
    if not sep or not source or not target:
        raise argparse.ArgumentTypeError(f"expected DETECTOR_ID=CATEGORY, got {text!r}")
    return source, target


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pose-bags", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("extract", help="extract recordings into the cache, print the report")
    ex.add_argument("bags", nargs="+", help="rosbag2 folders or .mcap / .db3 files")
    ex.add_argument("--cache", required=True, help="cache root directory")
    ex.add_argument("--modality", choices=MODALITIES, default="rgbd")
    ex.add_argument("--objects", choices=OBJECT_SOURCES, default="auto")
    ex.add_argument(
        "--topic",
        type=_topic,
        action="append",
        default=[],
        metavar="ROLE=TOPIC",
        help=f"topic override; roles: {', '.join(ROLES)}",
    )
    ex.add_argument("--fixed-frame", help="TF frame for camera poses (default: the TF root)")
    ex.add_argument(
        "--class-map",
        type=_class_map,
        action="append",
        default=[],
        metavar="ID=CATEGORY",
        help="detector class id -> category (others dropped)",
    )
    ex.add_argument(
        "--segment-category", default="object", help="category of objects segmented from depth"
    )
    ex.add_argument(
        "--first-box",
        nargs=5,
        action="append",
        default=[],
        metavar=("CATEGORY", "X0", "Y0", "X1", "Y1"),
        help="an object's box (px) in the first frame, for --objects first_box",
    )
    ex.add_argument("--slop", type=float, default=0.02, help="sync slop (s)")
    ex.add_argument("--exact", action="store_true", help="exact stamp matching")
    ex.add_argument("--every-nth", type=positive_int, default=1, help="keep every n-th frame")
    ex.add_argument("--max-frames", type=int, default=0, help="stop after N frames (0: all)")
    ex.add_argument("--chunk-frames", type=int, default=50, help="frames per cache chunk")
    ex.add_argument(
        "--ground-truth",
        action="store_true",
        help="copy ground_truth.json (unread) to evaluation_only/ for evaluation",
    )
    ex.add_argument("--json", help="also write the reports to this JSON file")
    return parser


def _config(args: argparse.Namespace) -> ExtractionConfig:
    boxes = []
    for category, *coords in args.first_box:
        try:
            boxes.append(InitialBox(category, tuple(float(c) for c in coords)))
        except ValueError:
            raise BagError(
                f"--first-box {category} {' '.join(coords)}: coordinates must be numbers (pixels)"
            ) from None
    return ExtractionConfig(
        modality=args.modality,
        objects=args.objects,
        topics=dict(args.topic),
        fixed_frame=args.fixed_frame,
        class_map=dict(args.class_map) or None,
        segment_category=args.segment_category,
        initial_boxes=boxes,
        slop=args.slop,
        exact=args.exact,
        every_nth=args.every_nth,
        max_frames=args.max_frames,
        chunk_frames=args.chunk_frames,
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from offline_training.bags.extract import extract_bag

    try:
        config = _config(args)
        config.validate()
    except PoseEstimationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    reports, failed = [], 0

    def progress(entry: dict) -> None:
        print(
            f"  {entry['file']}: {entry['frames']} frames (sets "
            f"{entry['sync_begin']}..{entry['sync_end'] - 1})",
            file=sys.stderr,
        )

    for bag in args.bags:
        try:
            report = extract_bag(bag, args.cache, config, args.ground_truth, progress)
        except CorruptBagError as exc:
            failed += 1
            if exc.report is not None:
                print(exc.report.format())
                reports.append(exc.report.to_dict())
            print(f"error: {exc}", file=sys.stderr)
            continue
        except BagError as exc:
            failed += 1
            print(f"error: {bag}: {exc}", file=sys.stderr)
            continue
        print(report.format())
        reports.append(report.to_dict())
    if args.json:
        with open(args.json, "w") as f:
            json.dump(reports, f, indent=1)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
