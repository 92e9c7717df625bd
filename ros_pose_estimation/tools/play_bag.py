"""``play-bag``: play a rosbag2 recording to ROS 2 topics, for machines without ``ros2 bag``.

Reads sqlite3 and MCAP bags (folders, zstd-compressed or not, or a single .mcap/.db3 file) with
``rosbags`` and publishes the recorded CDR bytes with rclpy; header stamps are untouched.

Examples::

    play-bag data/demo/demo_bag                                # real time, once
    play-bag data/demo/demo_bag --rate 0                       # as fast as possible
    play-bag data/demo/demo_bag --loop --max-loops 3 --clock   # 3 passes, with /clock
    play-bag data/demo/demo_bag --topics /camera/color/image_raw /tf /tf_static \\
        --remap /tf:=/robot/tf --start-offset 2 --duration 5 --wait-subscribers 1
    play-bag BAG --ros-args -r __ns:=/replay                   # ROS arguments go last

Exit codes: 0 played to the end; 1 ``--wait-subscribers`` timed out; 2 bad arguments, the bag
is missing, not a bag, damaged, or rosbags / rclpy are not installed; 130 stopped by Ctrl-C
(SIGINT) and 143 by SIGTERM: the message in flight is finished, the summary printed, and rclpy
shut down. The summary (messages and achieved rate per topic) is printed even with --quiet,
which only silences the start banner and the progress line.

Library API: :class:`ros_pose_estimation.tools.bag_player.BagPlayer` (also exported here).
"""

from __future__ import annotations

import argparse
import re
import signal
import sys

from ros_pose_estimation.core.errors import ConfigError
from ros_pose_estimation.tools.bag_reader import BagError, BagReader, RosbagsMissingError
from ros_pose_estimation.tools.playback import PlayOptions, parse_remap

__all__ = ["build_parser", "main", "options_from_args"]

PROG = "play-bag"
EXIT_OK, EXIT_TIMEOUT, EXIT_USAGE = 0, 1, 2
DESCRIPTION = (
    "Play a rosbag2 recording (sqlite3 or MCAP) to ROS 2 topics with rclpy, publishing the "
    "recorded bytes on the bag's schedule. Exit codes: 0 done, 1 --wait-subscribers timed out, "
    "2 bad arguments or bag, 130 Ctrl-C, 143 SIGTERM."
)


def __getattr__(name: str):  # BagPlayer imports rclpy: only when asked for
    if name == "BagPlayer":
        from ros_pose_estimation.tools.bag_player import BagPlayer

        return BagPlayer
    raise AttributeError(name)


def build_parser() -> argparse.ArgumentParser:
    d = PlayOptions()
    p = argparse.ArgumentParser(prog=PROG, description=DESCRIPTION)
    p.add_argument("bag", help="rosbag2 folder (with metadata.yaml) or a .mcap / .db3 file")
    p.add_argument("-r", "--rate", type=float, default=d.rate,
                   help="playback speed: 1 real time, 2 twice as fast, 0 as fast as possible")
    p.add_argument("-l", "--loop", action="store_true", help="play again from the start")
    p.add_argument("--max-loops", type=int, default=d.max_loops,
                   help="with --loop: passes in all (default 0: until stopped)")
    p.add_argument("--start-offset", type=float, default=d.start_offset, metavar="S",
                   help="start S seconds after the bag's first message")
    p.add_argument("--duration", type=float, metavar="S", help="play S seconds of bag time")
    p.add_argument("--topics", nargs="+", default=[], metavar="TOPIC", help="play only these")
    p.add_argument("--remap", action="append", default=[], metavar="OLD:=NEW",
                   help="publish bag topic OLD as NEW (repeat)")
    p.add_argument("--clock", type=float, nargs="?", const=40.0, default=0.0, metavar="HZ",
                   help="publish rosgraph_msgs/Clock on /clock (bag time) at HZ (default 40)")
    p.add_argument("--delay", type=float, default=d.delay, metavar="S", help="sleep S s first")
    p.add_argument("--wait-subscribers", type=int, default=d.wait_subscribers, metavar="N",
                   help="before playing, wait until each played topic (or --wait-topics) has "
                   "N subscribers")
    p.add_argument("--wait-topics", nargs="+", default=[], metavar="TOPIC")
    p.add_argument("--wait-timeout", type=float, default=d.wait_timeout, metavar="S",
                   help="give up waiting for subscribers after S s (exit code 1)")
    p.add_argument("--qos-depth", type=int, metavar="N",
                   help="KEEP_LAST depth of the RELIABLE publishers (default 10; 1000 with "
                   "--rate 0, so that DDS can repair what a burst loses)")
    p.add_argument("--transient-local", nargs="*", default=list(d.transient_local),
                   metavar="TOPIC", help="bag topics published TRANSIENT_LOCAL (default "
                   "/tf_static), besides topics recorded with that QoS")
    p.add_argument("--ignore-type-hash", action="store_true",
                   help="publish topics whose recorded type hash differs from the installed type")
    p.add_argument("--node-name", default="play_bag", type=_node_name,
                   help="ROS node name (letters, digits and _, not starting with a digit)")
    p.add_argument("-q", "--quiet", action="store_true", help="no banner, no progress line")
    return p  # fmt: skip


def _node_name(text: str) -> str:
    """A valid ROS 2 node name (the rules of rcl's node name check), else argparse's error."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a ROS node name: letters, digits and _, not starting with a digit")
    return text


def options_from_args(args: argparse.Namespace) -> PlayOptions:
    """The validated :class:`PlayOptions` of parsed arguments (ConfigError if invalid)."""
    return PlayOptions(
        rate=args.rate,
        loop=args.loop,
        max_loops=args.max_loops,
        start_offset=args.start_offset,
        duration=args.duration,
        topics=tuple(args.topics),
        remap=dict(parse_remap(rule) for rule in args.remap),
        clock_hz=args.clock,
        delay=args.delay,
        wait_subscribers=args.wait_subscribers,
        wait_topics=tuple(args.wait_topics),
        wait_timeout=args.wait_timeout,
        qos_depth=args.qos_depth,
        transient_local=tuple(args.transient_local),
        check_type_hash=not args.ignore_type_hash,
    ).validate()


def _split_ros_args(argv: list[str]) -> tuple[list[str], list[str]]:
    """``[own..., --ros-args, ros..., (--, own...)]`` -> (own, ['--ros-args', ros...])."""
    if "--ros-args" not in argv:
        return argv, []
    i = argv.index("--ros-args")
    end = argv.index("--", i) if "--" in argv[i:] else len(argv)
    return argv[:i] + argv[end + 1 :], argv[i:end]


def _fail(message: str, code: int) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    own, ros_args = _split_ros_args(list(sys.argv[1:] if argv is None else argv))
    args = build_parser().parse_args(own)
    try:
        options = options_from_args(args)
        source = BagReader(args.bag)
    except (ConfigError, BagError, RosbagsMissingError) as exc:
        return _fail(str(exc), EXIT_USAGE)
    except KeyboardInterrupt:  # Ctrl-C while a big file-compressed bag is being unpacked
        return _fail("interrupted", 128 + signal.SIGINT)
    try:
        import rclpy
        from rclpy.signals import SignalHandlerOptions

        from ros_pose_estimation.tools.bag_player import BagPlayer, SubscriberTimeout
    except (ImportError, OSError) as exc:  # OSError: an RMW library is missing
        source.close()
        return _fail(
            f"rclpy is not importable ({exc}); source your ROS 2 setup.bash or scripts/env.sh",
            EXIT_USAGE,
        )
    # Our own handlers: stop after the message in flight instead of raising mid-publish.
    rclpy.init(args=[PROG, *ros_args], signal_handler_options=SignalHandlerOptions.NO)
    caught: list[int] = []
    previous = {}
    node = None
    try:
        node = rclpy.create_node(args.node_name)
        progress = _progress(args.quiet, source.start_ns)
        try:
            player = BagPlayer(node, source, options, on_message=progress)
        except ConfigError as exc:
            return _fail(str(exc), EXIT_USAGE)

        def on_signal(signum, _frame) -> None:
            caught.append(signum)
            player.stop()

        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
        if not args.quiet:
            rate = "as fast as possible" if options.rate == 0 else f"at x{options.rate:g}"
            print(
                f"{PROG}: {source.path} ({source.storage}): {len(player.topics)} topics, "
                f"{source.message_count} messages, {source.duration_s:.2f} s, {rate}"
                f"{', looping' if options.loop else ''}",
                flush=True,
            )
        try:
            summary = player.play()
        except SubscriberTimeout as exc:
            return _fail(str(exc), EXIT_TIMEOUT)
        except BagError as exc:
            return _fail(str(exc), EXIT_USAGE)
        finally:
            player.close()
            if progress is not None:
                print(file=sys.stderr)  # end the progress line
        print(summary.format(), flush=True)
        return 128 + caught[0] if caught else EXIT_OK
    except KeyboardInterrupt:  # Ctrl-C before our handler was installed
        return _fail("interrupted", 128 + signal.SIGINT)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()


def _progress(quiet: bool, bag_start_ns: int):
    """A per-message callback drawing a progress line on a terminal (None otherwise)."""
    if quiet or not sys.stderr.isatty():
        return None
    state = {"n": 0}

    def show(msg) -> None:
        state["n"] += 1
        if state["n"] % 20 == 1:
            seconds = (msg.bag_ns - bag_start_ns) / 1e9
            print(
                f"\r{PROG}: {state['n']} messages, bag time {seconds:.3f} s",
                end="",
                file=sys.stderr,
                flush=True,
            )

    return show


if __name__ == "__main__":
    sys.exit(main())
