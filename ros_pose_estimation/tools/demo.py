"""The README's main job: the pose node on the bundled demo bag, scored against its ground truth.

``bash scripts/demo.sh`` (or ``python -m ros_pose_estimation.tools.demo``):

1. starts ``pose_estimation_node`` as its own process with ``config/pose.yaml`` (the bundled
   mug / bottle / camera models) and its inputs remapped to the bag's camera topics;
2. plays ``data/demo/demo_bag`` into it over DDS (:class:`~.bag_player.BagPlayer`, real time
   by default) and listens to ``~/detections``, ``~/debug_image``, ``/tf``, ``~/markers`` and
   ``/diagnostics``;
3. scores every published pose against the bag's ``ground_truth.json`` (symmetry-aware
   rotation error, centre distance, per category) and prints the table, the rates and the
   node's latency;
4. writes ``<out>/overlay.mp4`` (the debug images), ``<out>/overlay.png`` (a montage) and
   ``<out>/results.json`` (:mod:`.demo_report`).

Gravity: a robot knows which way is up from /tf, and the node takes it from ``up_frame``
(models look at a rolled camera's objects upright and stand objects upright on it). With
``--up-frame auto`` (the default) a recording with ``/tf`` is played with it and the node gets
``up_frame:=`` the root of its TF tree (a world-fixed frame: z up, REP 103/105), unless ``-p``
sets ``up_frame`` or ``fixed_frame``; ``--up-frame none`` gives the models alone, without
gravity; ``--up-frame FRAME`` names the frame.

World-frame fusion: ``-p fixed_frame:=world`` (the recording's world frame) also plays the
bag's ``/tf`` and ``/tf_static``; the fused poses (published in that frame) are scored after
the recorded camera pose brings them back into the camera (gravity then comes from that frame).

Your own recording: ``--bag BAG`` (a rosbag2 folder or .mcap/.db3 file). Its topics are found
by type (:mod:`.demo_topics`) or named with ``--image-topic`` (``Image`` or
``CompressedImage``), ``--camera-info-topic``, ``--detections-topic`` and, with ``--mode
rgbd``, ``--depth-topic``; without a ``ground_truth.json`` beside it the poses are counted,
not scored.

Exit status: 0 when the node published poses for the bag, 1 when it published none or failed
to start (its log is printed), 2 on bad arguments / a missing bag / topics that do not fit.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from ros_pose_estimation.tools.demo_report import format_report, score, write_overlays
from ros_pose_estimation.tools.demo_topics import DEFAULTS, OPTIONS, DemoTopics, choose_topics

ROOT = Path(__file__).resolve().parents[2]
NODE = "pose_estimation_node"
OBJECT_FRAME = re.compile(r"_\d+$")


def params_file(args: argparse.Namespace) -> str:
    """``--params``, else the bundled file of the mode: config/pose.yaml (RGB models) or
    config/pose_rgbd.yaml (RGB-D models)."""
    if args.params is not None:
        return args.params
    return str(ROOT / "config" / ("pose_rgbd.yaml" if args.mode == "rgbd" else "pose.yaml"))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="demo", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--bag",
        default=str(ROOT / "data" / "demo" / "demo_bag"),
        help="rosbag2 folder or .mcap/.db3 file; poses are scored when a ground_truth.json "
        "lies in the folder (default: the bundled demo bag)",
    )
    p.add_argument("--mode", choices=("rgb", "rgbd"), default="rgb",
                   help="rgbd: also play the aligned depth (node parameter mode:=rgbd) and, "
                   "unless --params is given, use config/pose_rgbd.yaml (the bundled RGB-D "
                   "models)")
    for role, option in OPTIONS.items():
        p.add_argument(option, dest=f"{role}_topic", metavar="TOPIC",
                       help=f"the bag's {role.replace('_', ' ')} topic (default: "
                       f"{DEFAULTS[role]} if present, else the only one of its type)")
    p.add_argument(
        "--params",
        default=None,
        help="node parameters file (default: config/pose.yaml, config/pose_rgbd.yaml with "
        "--mode rgbd)",
    )
    p.add_argument("--up-frame", default="auto", metavar="FRAME|auto|none",
                   help="the TF frame whose +z is up that the node takes gravity from (node "
                   "parameter up_frame); auto (default): the root of the bag's /tf tree when it "
                   "has /tf and -p sets neither up_frame nor fixed_frame; none: no gravity")
    p.add_argument("--out", default="out/demo", help="output folder (default: out/demo)")
    p.add_argument(
        "--rate",
        type=float,
        default=1.0,
        help="playback speed (1 = real time, the node drops what it cannot keep up "
        "with; 0.25 gives a CPU time for every frame)",
    )
    p.add_argument("--device", default="auto", help="node device: auto, cpu, cuda")
    p.add_argument(
        "--startup-timeout",
        type=float,
        default=120.0,
        help="seconds to wait for the node to subscribe",
    )
    p.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="NAME:=VALUE",
        help="extra node parameter (repeatable), e.g. -p preset:=fast",
    )
    return p  # fmt: skip


class Listener:
    """Collects the node's outputs (runs in the demo process)."""

    def __init__(self, node) -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image
        from tf2_msgs.msg import TFMessage
        from vision_msgs.msg import Detection3DArray
        from visualization_msgs.msg import MarkerArray

        qos = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        self.lock = threading.Lock()
        self.detections: list = []
        self.images: list = []
        self.tf = 0
        self.markers = 0
        self.diagnostics = None
        self.first_output: float | None = None
        self.last_output: float | None = None
        base = f"/{NODE}"
        node.create_subscription(Detection3DArray, f"{base}/detections", self._on_det, qos)
        node.create_subscription(Image, f"{base}/debug_image", self._on_image, qos)
        node.create_subscription(MarkerArray, f"{base}/markers", self._on_markers, qos)
        node.create_subscription(TFMessage, "/tf", self._on_tf, qos)
        node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, qos)

    def _on_det(self, msg) -> None:
        with self.lock:
            now = time.monotonic()
            self.first_output = self.first_output or now
            self.last_output = now
            self.detections.append(msg)

    def _on_image(self, msg) -> None:
        from ros_pose_estimation.conversions import rgb_from_image

        with self.lock:
            self.images.append(rgb_from_image(msg))

    def _on_markers(self, msg) -> None:
        with self.lock:
            self.markers += 1

    def _on_tf(self, msg) -> None:
        with self.lock:  # the node's object frames <prefix><class>_<id> (not the bag's TF)
            self.tf += sum(1 for t in msg.transforms if OBJECT_FRAME.search(t.child_frame_id))

    def _on_diag(self, msg) -> None:
        for status in msg.status:
            if NODE in status.name:
                with self.lock:
                    self.diagnostics = {kv.key: kv.value for kv in status.values}


def node_command(args, topics: DemoTopics) -> list[str]:
    """The node's command line: the params file, the device, ``args.param`` and the inputs
    remapped to the bag's ``topics``."""
    cmd = [sys.executable, "-m", "ros_pose_estimation.node.pose_node", "--ros-args",
           "--params-file", params_file(args), "-p", f"device:={args.device}",
           "-p", "debug_image:=true", "-p", f"mode:={args.mode}"]  # fmt: skip
    if topics.compressed:
        cmd += ["-p", "use_compressed:=true", "-r", f"image/compressed:={topics.image}"]
    else:
        cmd += ["-r", f"image:={topics.image}"]
    cmd += ["-r", f"camera_info:={topics.camera_info}", "-r", f"detections:={topics.detections}"]
    if topics.depth:
        cmd += ["-r", f"depth:={topics.depth}"]
    for item in args.param:
        cmd += ["-p", item]
    return cmd


def start_node(cmd: list[str], log_path: Path) -> subprocess.Popen:
    with open(log_path, "w") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)


def open_bag(args):
    """``(source, topics, truth)``: the open bag, the topics to play, its ground truth (None
    without a ground_truth.json in the bag folder).

    Raises:
        PoseEstimationError: not a bag, topics that do not fit, a broken ground-truth file.
    """
    from ros_pose_estimation.tools.bag_reader import BagReader
    from ros_pose_estimation.tools.ground_truth import FILE_NAME, GroundTruth

    source = BagReader(args.bag)
    try:
        types = {name: t.msgtypes[0] for name, t in source.topics.items() if t.msgtypes}
        asked = {role: getattr(args, f"{role}_topic") for role in DEFAULTS}
        topics = choose_topics(types, asked, rgbd=args.mode == "rgbd")
        folder = Path(args.bag)
        truth = GroundTruth(folder) if (folder / FILE_NAME).is_file() else None
    except BaseException:
        source.close()
        raise
    return source, topics, truth


def needs_tf(params: list[str]) -> bool:
    """Whether the node parameters ``params`` (``name:=value``) set a non-empty
    ``fixed_frame`` or ``up_frame``: then the bag's /tf and /tf_static are played too."""
    for item in params:
        name, sep, value = item.partition(":=")
        if sep and name in ("fixed_frame", "up_frame") and value:
            return True
    return False


def tf_root(source, max_messages: int = 500) -> str | None:
    """The root frame of a bag's TF tree (``/tf_static``, and the first ``max_messages`` of
    ``/tf``, in a :class:`~ros_pose_estimation.core.tf_buffer.TFBuffer`); None when the bag
    has no TF, or its frames are not one tree."""
    from ros_pose_estimation.core.tf_buffer import TFBuffer, TFLookupError

    topics = [t for t in ("/tf_static", "/tf") if t in source.topics]
    if not topics:
        return None
    buffer = TFBuffer()
    for seen, (topic, _, msg) in enumerate(source.messages(topics, deserialize=True), 1):
        buffer.add_message(msg, static=topic == "/tf_static")
        if seen >= max_messages:
            break
    try:
        roots = {buffer.root(frame) for frame in buffer.frames}
    except TFLookupError:  # a loop
        return None
    return roots.pop() if len(roots) == 1 else None


def gravity_frame(args, source) -> tuple[str | None, str]:
    """``(frame, why)``: the ``up_frame`` the demo gives the node (None: none) and why."""
    if any(p.partition(":=")[0] in ("up_frame", "fixed_frame") for p in args.param):
        return None, "as set by -p"
    if args.up_frame == "none":
        return None, "none (--up-frame none: the models alone)"
    if args.up_frame != "auto":
        return args.up_frame, "--up-frame"
    root = tf_root(source)
    if root is None:
        return None, "none (the bag has no /tf tree with one root)"
    return root, "the root of the bag's /tf tree (--up-frame none: without)"


def run(args) -> int:
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    from ros_pose_estimation.core.errors import PoseEstimationError
    from ros_pose_estimation.tools.bag_player import BagPlayer
    from ros_pose_estimation.tools.playback import PlayOptions

    try:
        source, topics, truth = open_bag(args)
    except PoseEstimationError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    frames_in = source.topics[topics.image].count
    up_frame, why = gravity_frame(args, source)
    if up_frame:
        args.param = [*args.param, f"up_frame:={up_frame}"]
    print(f"gravity: {f'{up_frame}, ' if up_frame else ''}{why}", flush=True)
    played_topics = topics.played()
    if needs_tf(args.param):
        played_topics += tuple(t for t in ("/tf", "/tf_static") if t in source.topics)
    print("playing " + ", ".join(played_topics) + ("" if truth else " (no ground_truth.json: "
          "poses are counted, not scored)"), flush=True)  # fmt: skip
    log_path = out / "node.log"
    proc = start_node(node_command(args, topics), log_path)
    rclpy.init()
    node = rclpy.create_node("pose_demo")
    listener = Listener(node)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    code = 1
    try:
        player = BagPlayer(node, source, PlayOptions(rate=args.rate, topics=played_topics))
        print(f"waiting for {NODE} to load its models and subscribe ...", flush=True)
        deadline = time.monotonic() + args.startup_timeout
        pub = player._outputs[topics.image].publisher
        while pub.get_subscription_count() == 0:
            if proc.poll() is not None or time.monotonic() > deadline:
                print(f"{NODE} did not start; its log ({log_path}):\n{log_path.read_text()}")
                return 1
            time.sleep(0.2)
        time.sleep(1.0)  # let discovery settle for the other topics
        print(f"playing {args.bag} at rate {args.rate} ...", flush=True)
        start = time.monotonic()
        summary = player.play()
        played = time.monotonic() - start
        last_stamp = max(truth.stamps) if truth else None
        settle = time.monotonic() + 30.0
        while time.monotonic() < settle:  # wait for the last frame the node took
            with listener.lock:
                stamps = [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec
                          for m in listener.detections[-1:]]  # fmt: skip
                idle = listener.last_output and time.monotonic() - listener.last_output > 5.0
            if (stamps and stamps[0] == last_stamp) or idle:
                break
            time.sleep(0.2)
        time.sleep(1.5)  # one more diagnostics period
        player.close()
        with listener.lock:
            detections = list(listener.detections)
            images = list(listener.images)
            diag = dict(listener.diagnostics or {})
            tf_count, marker_count = listener.tf, listener.markers
        table = score(detections, truth) if truth else {}
        span = (listener.last_output - listener.first_output) if len(detections) > 1 else 0.0
        rate = (len(detections) - 1) / span if span > 0 else 0.0
        files = write_overlays(images, out, fps=max(rate, 1.0))
        poses = sum(len(m.detections) for m in detections)
        result = {
            "bag": args.bag, "topics": topics.played(), "mode": args.mode,
            "playback_rate": args.rate, "play_wall_s": played, "node_params": args.param,
            "frames_in_bag": frames_in, "frames_out": len(detections),
            "frames_with_poses": sum(1 for m in detections if m.detections), "poses": poses,
            "output_rate_hz": rate, "tf_transforms": tf_count, "marker_arrays": marker_count,
            "scored": truth is not None, "per_category": table, "node_diagnostics": diag,
            "files": files, "bag_summary": summary.format(),
        }  # fmt: skip
        (out / "results.json").write_text(json.dumps(result, indent=2))
        print(format_report(result))
        code = 0 if poses and (table or truth is None) else 1
        if code:
            print(f"the node published no poses; its log ({log_path}):\n{log_path.read_text()}")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        executor.shutdown()
        spinner.join(5.0)
        node.destroy_node()
        rclpy.try_shutdown()
    return code


def argument_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with ``args`` before the node starts (None: nothing): a rate or start-up
    timeout that is not a positive number, a ``-p`` that is not ``NAME:=VALUE``, an output
    folder that cannot be made."""
    for option, value in (("--rate", args.rate), ("--startup-timeout", args.startup_timeout)):
        if not (math.isfinite(value) and value > 0):
            return f"{option} must be a number > 0, got {value}"
    for item in args.param:
        name, sep, _ = item.partition(":=")
        if not sep or not name.strip() or " " in name.strip():
            return f"-p {item!r}: expected NAME:=VALUE, e.g. -p preset:=fast"
    try:
        os.makedirs(args.out, exist_ok=True)
    except OSError as exc:
        return f"--out {args.out}: cannot make the output folder ({exc.strerror or exc})"
    if not os.access(args.out, os.W_OK):
        return f"--out {args.out}: the output folder is not writable"
    return None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.params = params_file(args)
    if not os.path.exists(args.bag):
        print(f"demo: no bag at {args.bag}", file=sys.stderr)
        return 2
    if not os.path.isfile(args.params):
        print(f"demo: no parameters file at {args.params}", file=sys.stderr)
        return 2
    problem = argument_problem(args)
    if problem:
        print(f"demo: {problem}", file=sys.stderr)
        return 2
    try:
        return run(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
