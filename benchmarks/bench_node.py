"""pose_estimation_node over DDS: sustained rate, end-to-end latency, memory over a soak.

    python -m benchmarks.bench_node [--sizes 320x240 640x480 1280x720] [--objects 1 5]
        [--seconds 30] [--publish-hz 30] [-p NAME:=VALUE ...]
    python -m benchmarks.bench_node --soak 600 --sizes 320x240 --objects 3 --publish-hz 10
    python -m benchmarks.bench_node --mode rgbd --objects 1 3

The node runs as its own process (``python -m ros_pose_estimation.node.pose_node`` with
``config/pose.yaml``: bundled mug / bottle / camera models, default preset, default
``input_qos: auto``; ``--mode rgbd``: ``config/pose_rgbd.yaml``, the bundled RGB-D models), a
new one per image size and object count. This process publishes a demo-bag frame (image,
camera_info, Detection2DArray, and with ``--mode rgbd`` the aligned depth image) through
RELIABLE publishers at
``--publish-hz`` with a fresh stamp each time and ``N`` detections (the frame's 3 objects,
repeated with a 2 px shift for 5), and listens to ``~/detections`` and ``/diagnostics``. Other
sizes than the bag's 320x240 are the same frame scaled (aspect kept, centred, black borders)
with K and the boxes scaled alike (:mod:`ros_pose_estimation.tools.frame_scaling`).

Figures, per image size and object count:
* sustained rate: results per second over the run (the node drops frames it cannot keep up
  with: queue of one), and the share of published frames that got a result;
* where the others went, from the node's ``/diagnostics``: images received (the rest were lost
  in transport), synchronised, published, dropped as stale (the queue of one);
* end-to-end latency: from publishing a frame to receiving its Detection3DArray (wall clock,
  same machine; includes DDS transport both ways), median and p90; the node's own medians of
  ``convert`` (decode the image) and ``receive_to_publish``;
* with ``--soak S``: the node's resident memory (VmRSS, /proc) every 10 s for S seconds, and
  its growth from the first minute to the end.

Prints the device; ``--json`` writes everything.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.device_info import describe

ROOT = Path(__file__).resolve().parents[1]
DEMO_BAG = ROOT / "data" / "demo" / "demo_bag"


def _frame(width: int = 320, height: int = 240, depth: bool = False):
    """``(image, info, dets, depth)`` of the demo bag's first frame with every topic (depth
    None unless asked for), scaled to ``width x height``."""
    from sensor_msgs.msg import CameraInfo, Image
    from vision_msgs.msg import Detection2DArray

    from ros_pose_estimation.tools.bag_reader import messages_by_stamp

    topics = {
        "/camera/color/image_raw": ("image", Image),
        "/camera/color/camera_info": ("info", CameraInfo),
        "/detections": ("dets", Detection2DArray),
    }
    if depth:
        topics["/camera/aligned_depth/image_raw"] = ("depth", Image)
    by_stamp = messages_by_stamp(DEMO_BAG, topics)
    first = by_stamp[min(s for s, f in by_stamp.items() if len(f) == len(topics))]
    frame = first["image"], first["info"], first["dets"], first.get("depth")
    if (width, height) != (frame[0].width, frame[0].height):
        from ros_pose_estimation.tools.frame_scaling import scale_frame

        frame = scale_frame(width, height, *frame)
    return frame


def _with_objects(dets, n: int):
    msg = copy.deepcopy(dets)
    base = list(msg.detections)
    out = []
    for i in range(n):
        d = copy.deepcopy(base[i % len(base)])
        d.bbox.center.position.x += 2.0 * (i // len(base))
        out.append(d)
    msg.detections = out
    return msg


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def _size(text: str) -> tuple[int, int]:
    width, _, height = text.partition("x")
    if not (width.isdigit() and height.isdigit()):
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, e.g. 640x480, got {text!r}")
    return int(width), int(height)


def run(objects: int, seconds: float, publish_hz: float, soak: float, threads: int,
        device: str = "cpu", size: tuple[int, int] = (320, 240), params=(),
        mode: str = "rgb") -> dict:  # fmt: skip
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CameraInfo, Image
    from vision_msgs.msg import Detection2DArray, Detection3DArray

    image, info, dets, depth = _frame(*size, depth=mode == "rgbd")
    dets = _with_objects(dets, objects)
    config = "pose_rgbd.yaml" if mode == "rgbd" else "pose.yaml"
    env = dict(os.environ)
    proc = subprocess.Popen(
        [sys.executable, "-m", "ros_pose_estimation.node.pose_node", "--ros-args",
         "--params-file", str(ROOT / "config" / config), "-p", f"device:={device}",
         "-p", f"num_threads:={threads}", "-p", "max_objects:=50",
         *[a for item in params for a in ("-p", item)], "-r", "__ns:=/bench"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    rclpy.init(args=["bench_node"])  # not sys.argv: its -p NAME:=VALUE are for the node
    node = rclpy.create_node("bench_node_client")
    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    sent: dict[int, float] = {}
    received: list[tuple[int, float, int]] = []

    def on_result(msg) -> None:
        stamp = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
        received.append((stamp, time.monotonic(), len(msg.detections)))

    node.create_subscription(Detection3DArray, "/bench/pose_estimation_node/detections",
                             on_result, qos)  # fmt: skip
    diag: dict[str, str] = {}

    def on_diag(msg) -> None:
        for status in msg.status:
            if status.hardware_id == "pose_estimation_node":
                diag.clear()
                diag.update({kv.key: kv.value for kv in status.values})

    node.create_subscription(DiagnosticArray, "/diagnostics", on_diag, qos)
    pub_image = node.create_publisher(Image, "/bench/image", qos)
    pub_info = node.create_publisher(CameraInfo, "/bench/camera_info", qos)
    pub_dets = node.create_publisher(Detection2DArray, "/bench/detections", qos)
    pub_depth = node.create_publisher(Image, "/bench/depth", qos) if depth is not None else None
    try:
        deadline = time.monotonic() + 120
        while pub_image.get_subscription_count() == 0:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"node did not start: {proc.stderr.read()}")
            rclpy.spin_once(node, timeout_sec=0.1)
        for _ in range(20):
            rclpy.spin_once(node, timeout_sec=0.05)
        duration = soak or seconds
        memory: list[tuple[float, float]] = []
        start = time.monotonic()
        next_pub, next_mem, k = start, start, 0
        stamp0 = time.time_ns()  # the node's clock: stamp_to_publish is a real latency
        while time.monotonic() - start < duration:
            now = time.monotonic()
            if now >= next_pub:
                stamp = stamp0 + k * 10**9 // int(publish_hz)
                k += 1
                for msg in (image, info, dets, depth):
                    if msg is not None:
                        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 10**9)
                pub_info.publish(info)
                pub_dets.publish(dets)
                if pub_depth is not None:
                    pub_depth.publish(depth)
                pub_image.publish(image)
                sent[stamp] = time.monotonic()
                next_pub += 1.0 / publish_hz
            if now >= next_mem:
                memory.append((now - start, _rss_mb(proc.pid)))
                next_mem += 10.0
            rclpy.spin_once(node, timeout_sec=max(0.0, min(next_pub, next_mem) - time.monotonic()))
        end = time.monotonic() + 10.0
        while time.monotonic() < end and (not received or received[-1][0] != max(sent)):
            rclpy.spin_once(node, timeout_sec=0.1)
        end = time.monotonic() + 1.5  # one more diagnostics period
        while time.monotonic() < end:
            rclpy.spin_once(node, timeout_sec=0.1)
    finally:
        proc.terminate()
        proc.wait(30)
        node.destroy_node()
        rclpy.try_shutdown()
    latency = np.array([1e3 * (t - sent[s]) for s, t, _ in received if s in sent])
    span = received[-1][1] - received[0][1] if len(received) > 1 else float("nan")
    def count(key: str) -> int | None:
        value = diag.get(key, "")
        return int(value) if value.isdigit() else None

    result = {
        "mode": mode, "size": f"{size[0]}x{size[1]}", "image_mb": len(image.data) / 1e6,
        "objects": objects, "publish_hz": publish_hz, "seconds": duration,
        "node_received": count("frames_received"),
        "node_synchronised": count("frames_synchronised"),
        "node_published": count("frames_published"),
        "node_dropped_stale": count("dropped_frames_stale"),
        "node_dropped_total": count("dropped_frames_total"),
        "node_convert_median_ms": diag.get("latency_convert_median_ms"),
        "node_receive_to_publish_median_ms": diag.get("latency_receive_to_publish_median_ms"),
        "frames_sent": len(sent), "results": len(received),
        "objects_per_result": float(np.mean([n for *_, n in received])) if received else 0.0,
        "sustained_hz": (len(received) - 1) / span if len(received) > 1 else 0.0,
        "latency_median_ms": float(np.median(latency)) if latency.size else float("nan"),
        "latency_p90_ms": float(np.percentile(latency, 90)) if latency.size else float("nan"),
    }  # fmt: skip
    if soak:
        result["rss_mb"] = memory
        early = [m for t, m in memory if t <= 60.0]
        result["rss_growth_mb"] = memory[-1][1] - (early[-1] if early else memory[0][1])
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=_size, nargs="+", default=[(320, 240), (640, 480),
                   (1280, 720)], metavar="WxH", help="image sizes (default: 320x240 640x480 "
                   "1280x720)")  # fmt: skip
    p.add_argument("--objects", type=int, nargs="+", default=[1, 5])
    p.add_argument("--seconds", type=float, default=30.0,
                   help="run length per size and object count")
    p.add_argument("--publish-hz", type=float, default=30.0)
    p.add_argument("--soak", type=float, default=0.0, help="soak length (s); 0: no soak")
    p.add_argument("--threads", type=int, default=0, help="node torch threads (0: default)")
    p.add_argument("--device", default="cpu", help="node device: cpu, cuda")
    p.add_argument("--mode", choices=("rgb", "rgbd"), default="rgb",
                   help="rgbd: config/pose_rgbd.yaml (the RGB-D models) and the depth image too")
    p.add_argument("-p", "--param", action="append", default=[], metavar="NAME:=VALUE",
                   help="extra node parameter (repeatable), e.g. -p input_qos:=sensor_data")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    print(f"device: {describe(args.device)}")
    results = []
    for size in args.sizes:
        for n in args.objects:
            r = run(n, args.seconds, args.publish_hz, args.soak, args.threads, args.device, size,
                    args.param, args.mode)
            results.append(r)
            print(f"{args.mode} {r['size']}, {n} object(s): {r['sustained_hz']:.2f} Hz sustained "
                  f"({r['results']} results for {r['frames_sent']} frames at "
                  f"{args.publish_hz:g} Hz; node: {r['node_received']} received, "
                  f"{r['node_synchronised']} synchronised, {r['node_dropped_stale']} stale), "
                  f"latency median {r['latency_median_ms']:.0f} ms, p90 "
                  f"{r['latency_p90_ms']:.0f} ms; node convert "
                  f"{r['node_convert_median_ms']} ms, receive_to_publish "
                  f"{r['node_receive_to_publish_median_ms']} ms", flush=True)  # fmt: skip
            if args.soak:
                rss = r["rss_mb"]
                print(f"  memory (VmRSS): {rss[0][1]:.0f} MB at start, {rss[-1][1]:.0f} MB "
                      f"after {rss[-1][0]:.0f} s; growth after the first minute "
                      f"{r['rss_growth_mb']:+.1f} MB", flush=True)  # fmt: skip
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"device": describe(args.device), "results": results},
                                        indent=2))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
