"""play-bag timing: how closely messages reach a subscriber on the bag's schedule, on this CPU.

    source scripts/env.sh
    python -m benchmarks.bench_play_bag [--bag data/demo/demo_bag] [--rates 1 2 0] [--json out]

For each rate, runs the ``play-bag`` CLI in a second process (as a user would, with
``--wait-subscribers 1``) and receives every topic here with raw (bytes) rclpy subscriptions
(RELIABLE, depth 1000). Reports per rate: messages received of those in the bag, wall time from
the first to the last arrival against the bag's duration / rate, and each arrival's lateness
against its schedule: ``offset = (arrival - first arrival) - (t_bag - t_bag_first) / rate``,
lateness = ``offset - min(offset)`` (so 0 is the most punctual message): median, p99 and max in
ms. It includes DDS transport and this Python subscriber's executor. ``--rate 0`` (as fast as
possible; the player's default depth is then 1000) has no schedule.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np

from benchmarks.device_info import describe

ROOT = Path(__file__).resolve().parents[1]


def _subscriber(topics: dict[str, type], domain: int):
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

    context = Context()
    rclpy.init(context=context, domain_id=domain)
    node = rclpy.create_node("bench_play_bag", context=context)
    arrivals: list[tuple[str, int]] = []
    for topic, cls in topics.items():
        qos = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE)
        if topic == "/tf_static":
            qos.durability = DurabilityPolicy.TRANSIENT_LOCAL
        node.create_subscription(
            cls, topic, partial(lambda t, _raw: arrivals.append((t, time.monotonic_ns())), topic),
            qos, raw=True,
        )  # fmt: skip
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)

    def close() -> None:
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=context)

    return executor, arrivals, close


def bench_rate(bag: Path, rate: float, expected: list[tuple[str, int]], types, domain: int):
    """Play ``bag`` at ``rate`` in a second process; timing of what arrives here."""
    executor, arrivals, close = _subscriber(types, domain)
    args = [sys.executable, "-m", "ros_pose_estimation.tools.play_bag", str(bag), "--quiet"]
    args += ["--rate", str(rate), "--wait-subscribers", "1"]
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain))
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
        deadline, exited = time.monotonic() + 120, None
        while time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.01)
            if exited is None and proc.poll() is not None:
                exited = time.monotonic()
            if exited is not None and (
                len(arrivals) >= len(expected) or time.monotonic() > exited + 2.0
            ):
                break  # everything arrived, or 2 s passed since the player exited
        if proc.poll() is None:
            proc.kill()
        code = proc.wait()
        log.seek(0)
        output = log.read()
    close()
    if code != 0:
        raise RuntimeError(f"play-bag exited with {code}:\n{output}")
    # Match the k-th arrival on a topic with the k-th bag message on it (per-topic order).
    bag_times: dict[str, list[int]] = {}
    for topic, ns in expected:
        bag_times.setdefault(topic, []).append(ns)
    seen: dict[str, int] = {}
    pairs = []
    for topic, wall in arrivals:
        k = seen[topic] = seen.get(topic, -1) + 1
        pairs.append((bag_times[topic][k], wall))
    bag0, wall0 = min(b for b, _ in pairs), min(w for _, w in pairs)
    walls = np.array([w - wall0 for _, w in pairs]) / 1e6
    span_bag = (max(b for b, _ in pairs) - bag0) / 1e9
    result = {
        "rate": rate,
        "received": len(arrivals),
        "in_bag": len(expected),
        "bag_s": span_bag,
        "wall_s": float(walls.max() / 1e3),
    }
    if rate > 0:
        offset = walls - np.array([(b - bag0) / 1e6 / rate for b, _ in pairs])
        late = offset - offset.min()  # the earliest arrival (vs its schedule) defines zero
        result |= {
            "expected_wall_s": span_bag / rate,
            "late_median_ms": float(np.median(late)),
            "late_p99_ms": float(np.percentile(late, 99)),
            "late_max_ms": float(late.max()),
        }
    return result


def main(argv: list[str] | None = None) -> int:
    from ros_pose_estimation.tools.bag_publishers import resolve_message_type
    from ros_pose_estimation.tools.bag_reader import BagReader

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bag", default=str(ROOT / "data" / "demo" / "demo_bag"))
    p.add_argument("--rates", type=float, nargs="+", default=[1.0, 2.0, 0.0])
    p.add_argument("--json", help="write the results here")
    args = p.parse_args(argv)
    device = describe("cpu")
    print(device)
    with BagReader(args.bag) as src:
        expected = [(topic, ns) for topic, ns, _ in src.messages()]
        types = {name: resolve_message_type(t.msgtypes[0]) for name, t in src.topics.items()}
    domain = int(os.environ.get("ROS_DOMAIN_ID") or random.SystemRandom().randint(1, 100))
    results = []
    for rate in args.rates:
        r = bench_rate(Path(args.bag), rate, expected, types, domain)
        results.append(r)
        line = (
            f"--rate {rate:<4g} received {r['received']}/{r['in_bag']}  "
            f"wall {r['wall_s']:.3f} s for {r['bag_s']:.3f} s of bag"
        )
        if rate > 0:
            line += (
                f" (schedule {r['expected_wall_s']:.3f} s)  lateness median "
                f"{r['late_median_ms']:.2f} ms, p99 {r['late_p99_ms']:.2f} ms, "
                f"max {r['late_max_ms']:.2f} ms"
            )
        print(line, flush=True)
    if args.json:
        out = {"device": device, "bag": args.bag, "results": results}
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
