"""``scale-bag``: a copy of a recording at another camera resolution, and/or with shifted stamps.

Reproduces what a user's camera gives the node (issue 13) from any rosbag2 recording, e.g. the
bundled 320x240 demo bag as 640x480 or 1280x720, or with image stamps an hour ahead of the
host clock::

    python -m ros_pose_estimation.tools.scale_bag data/demo/demo_bag /tmp/demo_640 --size 640x480
    python -m ros_pose_estimation.tools.scale_bag data/demo/demo_bag /tmp/demo_ahead \\
        --ahead-of-now 3600        # the first message 1 h after the time of conversion

Every ``sensor_msgs/Image`` (colour linearly, depth / 16-bit / mask encodings nearest), its
``CameraInfo`` and every ``vision_msgs/Detection2DArray`` are scaled together by
:mod:`.frame_scaling` (aspect kept, centred, black / invalid-depth borders); other topics are
copied byte for byte. With a shift, every ``std_msgs/Header`` stamp inside every message (TF
included), the bag's receive times and a ``ground_truth.json`` beside the bag move by the same
amount. The output is a sqlite3 rosbag2 folder. Exit codes: 0 done, 2 bad arguments or bag.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from ros_pose_estimation.core.errors import PoseEstimationError

__all__ = ["main", "scale_bag", "shift_stamps"]

_NEAREST = ("16UC1", "32FC1", "mono16", "8UC1", "32SC1")
_SCALED = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CameraInfo",
           "vision_msgs/msg/Detection2DArray")  # fmt: skip


def shift_stamps(msg, shift_ns: int) -> None:
    """Add ``shift_ns`` to every ``std_msgs/Header`` stamp inside the rclpy message ``msg``
    (nested messages and sequences included), in place."""
    if not shift_ns or not hasattr(msg, "get_fields_and_field_types"):
        return
    for name, kind in msg.get_fields_and_field_types().items():
        value = getattr(msg, name)
        if kind == "std_msgs/Header":
            ns = value.stamp.sec * 1_000_000_000 + value.stamp.nanosec + shift_ns
            value.stamp.sec, value.stamp.nanosec = divmod(ns, 1_000_000_000)
        elif "/" in kind:  # a message, or a sequence / array of messages
            for item in value if isinstance(value, (list, tuple)) else [value]:
                shift_stamps(item, shift_ns)


def _scaler(width: int, height: int):
    """``convert(msgtype, msg)`` scaling images, camera infos and detections of one camera
    (the scaling is fixed by the first image or camera info seen: all must share its size)."""
    from ros_pose_estimation.tools.frame_scaling import (
        scale_camera_info,
        scale_detections,
        scale_image,
        scaling_for,
    )

    state: dict = {}

    def scaling(w: int, h: int):
        if "s" not in state:
            state["s"], state["size"] = scaling_for(w, h, width, height), (w, h)
        if (w, h) != state["size"]:
            raise PoseEstimationError(f"the bag has images of {w}x{h} and "
                                      f"{state['size'][0]}x{state['size'][1]}; scale-bag scales "
                                      "one camera size")  # fmt: skip
        return state["s"]

    def convert(msgtype: str, msg):
        if msgtype == "sensor_msgs/msg/Image":
            return scale_image(msg, scaling(msg.width, msg.height), msg.encoding in _NEAREST)
        if msgtype == "sensor_msgs/msg/CameraInfo":
            return scale_camera_info(msg, scaling(msg.width, msg.height))
        if "s" not in state:
            raise PoseEstimationError("detections before any image or camera_info: their "
                                      "scale is unknown")  # fmt: skip
        return scale_detections(msg, state["s"])

    return convert


def scale_bag(src: str | Path, dst: str | Path, size: tuple[int, int] | None = None,
              shift_ns: int = 0) -> dict[str, int]:
    """Write the scaled / shifted copy of ``src`` to the new folder ``dst`` (see the module
    docstring); returns messages written per topic.

    Raises:
        PoseEstimationError: ``dst`` exists, ``src`` is not a bag, images of several sizes.
    """
    from rclpy.serialization import deserialize_message, serialize_message
    from rosbags.rosbag2 import Writer

    from ros_pose_estimation.tools.bag_publishers import resolve_message_type
    from ros_pose_estimation.tools.bag_reader import BagReader

    src, dst = Path(src), Path(dst)
    if dst.exists():
        raise PoseEstimationError(f"{dst} exists; choose a new output folder")
    convert = _scaler(*size) if size else None
    counts: dict[str, int] = {}
    with BagReader(src) as reader:  # the project's checks and messages for unusable bags
        if mixed := [t.name for t in reader.topics.values() if len(t.msgtypes) != 1]:
            raise PoseEstimationError(f"{src}: topics {mixed} carry several message types")
        types = reader.connections
        with Writer(dst, version=8) as writer:
            out = {t.name: writer.add_connection(t.name, t.msgtypes[0], msgdef=t.msgdef,
                                                 rihs01=t.type_hash or None)
                   for t in reader.topics.values()}  # fmt: skip
            for topic, bag_ns, raw in reader.messages():
                msgtype = types[topic]
                if (convert and msgtype in _SCALED) or shift_ns:
                    msg = deserialize_message(raw, resolve_message_type(msgtype))
                    if convert and msgtype in _SCALED:
                        msg = convert(msgtype, msg)
                    shift_stamps(msg, shift_ns)
                    raw = serialize_message(msg)
                writer.write(out[topic], bag_ns + shift_ns, raw)
                counts[topic] = counts.get(topic, 0) + 1
    truth = (src if src.is_dir() else src.parent) / "ground_truth.json"
    if src.is_dir() and truth.is_file():
        data = json.loads(truth.read_text())
        for frame in data.get("frames", []):
            frame["stamp_ns"] = int(frame["stamp_ns"]) + shift_ns
        (dst / truth.name).write_text(json.dumps(data))
    return counts


#: the largest image side ``--size`` takes (px): 8K video is 7680 x 4320; a bigger size is a
#: typo that would fail (out of memory) only after part of the output was written
MAX_SIDE = 8192


def _size(text: str) -> tuple[int, int]:
    """``"640x480"`` -> ``(640, 480)`` (px), each side 1 to :data:`MAX_SIDE`."""
    width, _, height = text.partition("x")
    if not (width.isascii() and width.isdigit() and height.isascii() and height.isdigit()):
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, e.g. 640x480, got {text!r}")
    if not (1 <= int(width) <= MAX_SIDE and 1 <= int(height) <= MAX_SIDE):
        raise argparse.ArgumentTypeError(f"each side must lie in 1..{MAX_SIDE} px, got {text!r}")
    return int(width), int(height)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="scale-bag", description=__doc__.split("\n\n")[0])
    p.add_argument("bag", help="rosbag2 folder or .mcap/.db3 file")
    p.add_argument("out", help="new output folder")
    p.add_argument("--size", type=_size, metavar="WxH",
                   help=f"image size, e.g. 640x480 (each side 1..{MAX_SIDE} px)")
    shift = p.add_mutually_exclusive_group()
    shift.add_argument("--shift-stamps", type=float, default=0.0, metavar="S",
                       help="add S seconds to every stamp (negative: earlier)")
    shift.add_argument("--ahead-of-now", type=float, metavar="S",
                       help="shift stamps so that the bag's first message is S s after now")
    args = p.parse_args(argv)
    if args.size is None and not args.shift_stamps and args.ahead_of_now is None:
        p.error("nothing to do: give --size and/or --shift-stamps / --ahead-of-now")
    try:
        shift_ns = round(args.shift_stamps * 1e9)
        if args.ahead_of_now is not None:
            from ros_pose_estimation.tools.bag_reader import BagReader

            with BagReader(args.bag) as bag:
                shift_ns = time.time_ns() + round(args.ahead_of_now * 1e9) - bag.start_ns
        counts = scale_bag(args.bag, args.out, args.size, shift_ns)
    except PoseEstimationError as exc:
        if Path(args.out).exists() and "exists" not in str(exc):
            shutil.rmtree(args.out)
        print(f"scale-bag: {exc}", file=sys.stderr)
        return 2
    print(f"scale-bag: wrote {args.out}: {sum(counts.values())} messages on {len(counts)} "
          f"topics, stamps shifted by {shift_ns / 1e9:.3f} s")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
