"""play-bag's CLI over real DDS: a recording arrives complete, typed and in order; --rate,
--loop, --topics / --remap, unknown message types and Ctrl-C / SIGTERM.

The player runs as a second process (``python -m ...play_bag``, the console script's code) and
what arrives is recorded with a raw (bytes) rclpy subscriber in the test process, on a random
``ROS_DOMAIN_ID`` (``ros_domain``; ``rclpy_mod`` in conftest.py). Bags are tiny and written
with rosbags (``bag_kit``, see conftest.py), or by the project's ``write_recording``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import pytest

pytest.importorskip("rosbags", reason="rosbags (the [data] extra) reads and writes the bags")

from ros_pose_estimation.tools.bag_reader import BagReader

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_700_000_000 * 1_000_000_000  # bag start (ns), as in conftest.py
NS = 1_000_000_000
BLOB = "rpe_test_msgs/msg/Blob"  # a type no ROS install has


class Recorder:
    """Raw (bytes) subscriptions in their own rclpy context; arrival times per message."""

    def __init__(self, rclpy, domain: int, topics: dict[str, type], latched=("/tf_static",)):
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

        self.rclpy = rclpy
        self.context = Context()
        rclpy.init(context=self.context, domain_id=domain)
        self.node = rclpy.create_node("rpe_play_bag_test", context=self.context)
        self.received: dict[str, list[tuple[int, bytes]]] = {t: [] for t in topics}
        for topic, cls in topics.items():
            qos = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE)
            if topic in latched:
                qos.durability = DurabilityPolicy.TRANSIENT_LOCAL
            self.node.create_subscription(cls, topic, partial(self._on, topic), qos, raw=True)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def _on(self, topic: str, raw: bytes) -> None:
        self.received[topic].append((time.monotonic_ns(), bytes(raw)))

    def count(self) -> int:
        return sum(len(v) for v in self.received.values())

    def spin_until(self, done, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not done() and time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.02)

    def spin_for(self, seconds: float) -> None:
        self.spin_until(lambda: False, seconds)

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        self.rclpy.shutdown(context=self.context)


@pytest.fixture
def recorder(rclpy_mod, ros_domain):
    made = []

    def make(topics, **kw):
        made.append(Recorder(rclpy_mod, ros_domain, topics, **kw))
        return made[-1]

    yield make
    for r in made:
        r.close()


def run_player(rec: Recorder, tmp_path: Path, args: list[str], expected: int, timeout=40.0):
    """Run the CLI in a second process while ``rec`` spins; returns (exit code, out, err)."""
    out, err = tmp_path / "player.out", tmp_path / "player.err"
    with out.open("w") as fout, err.open("w") as ferr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ros_pose_estimation.tools.play_bag", *args],
            stdout=fout,
            stderr=ferr,
            cwd=ROOT,
            env=dict(os.environ),  # carries the fixture's ROS_DOMAIN_ID
        )
        try:
            rec.spin_until(lambda: proc.poll() is not None and rec.count() >= expected, timeout)
            rec.spin_for(0.2)  # anything still in flight (and nothing unexpected) arrives
            code = proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return code, out.read_text(), err.read_text()


def _unpadded(raw: bytes, length: int) -> bytes:
    """``raw`` without the zero padding DDS adds to a 4-byte boundary (``length``: the bag's)."""
    pad = len(raw) - length
    return raw[:length] if 0 <= pad < 4 and not any(raw[length:]) else raw


def _payloads(arrivals, expected) -> list[bytes]:
    """Received CDR, padding removed, for comparison with the bag's ``expected`` bytes (extra
    arrivals are kept as they are, so a count mismatch still shows)."""
    lengths = [len(want) for want in expected] + [-1] * max(len(arrivals) - len(expected), 0)
    pairs = zip(arrivals, lengths[: len(arrivals)], strict=True)
    return [_unpadded(raw, n) if n >= 0 else raw for (_, raw), n in pairs]


def _by_topic(messages, topic):
    return [(ns, raw) for t, ns, raw in messages if t == topic]


@pytest.mark.ros
@pytest.mark.slow  # write_recording renders the frames: ~10 s on 2 cores
def test_generated_recording_arrives_complete_typed_and_in_order(recorder, tmp_path):
    """Every message of a write_recording bag arrives byte-identical, per topic in bag order."""
    from rclpy.serialization import deserialize_message

    from offline_training.synthetic.recording import RecordingConfig, write_recording
    from ros_pose_estimation.tools.bag_publishers import resolve_message_type

    cfg = RecordingConfig(
        categories=["mug"], n_objects=1, duration=0.6, rate=5.0, tf_rate=10.0, width=48,
        height=36, storage="mcap", noise="none", seed=1,
    )  # fmt: skip
    bag = tmp_path / "rec"
    write_recording(cfg, bag, progress=False)
    with BagReader(bag) as src:
        expected = list(src.messages())
        types = {name: topic.msgtypes[0] for name, topic in src.topics.items()}
    rec = recorder({topic: resolve_message_type(msgtype) for topic, msgtype in types.items()})
    code, out, err = run_player(
        rec, tmp_path, [str(bag), "--wait-subscribers", "1", "--rate", "2"], len(expected)
    )
    assert code == 0, err
    for topic, msgtype in types.items():
        want = _by_topic(expected, topic)
        got = _payloads(rec.received[topic], [raw for _, raw in want])
        assert len(got) == len(want), f"{topic}: {len(got)} of {len(want)} arrived\n{err}"
        assert got == [raw for _, raw in want], f"{topic}: bytes or order differ"
        cls = resolve_message_type(msgtype)
        for (bag_ns, _), raw in zip(want, got, strict=True):
            msg = deserialize_message(raw, cls)
            header = msg.transforms[0].header if msgtype.startswith("tf2_msgs") else msg.header
            assert header.stamp.sec * NS + header.stamp.nanosec == bag_ns  # stamps untouched
    assert f"{len(expected)} messages on {len(types)} topics" in out


@pytest.mark.ros
@pytest.mark.parametrize("rate", [0.0, 2.0])
def test_rate_scales_playback_time_against_the_bag_duration(bag_kit, recorder, tmp_path, rate):
    from std_msgs.msg import Header

    bag = tmp_path / "bag"
    written = bag_kit.write(bag, seconds=2.0, ticks_hz=10.0)
    bag_span = (written[-1][1] - written[0][1]) / NS
    rec = recorder({"/ticks": Header})
    args = [str(bag), "--rate", str(rate), "--wait-subscribers", "1"]
    code, out, err = run_player(rec, tmp_path, args, len(written))
    assert code == 0, err
    arrivals = rec.received["/ticks"]
    assert _payloads(arrivals, [raw for _, _, raw in written]) == [raw for _, _, raw in written]
    span = (arrivals[-1][0] - arrivals[0][0]) / NS
    if rate == 0:
        assert span < 0.25 * bag_span, f"{span:.3f} s for a {bag_span} s bag at --rate 0"
    else:
        assert 0.35 * bag_span < span < 0.75 * bag_span, f"{span:.3f} s at --rate 2"
    assert "21 messages on 1 topics" in out


@pytest.mark.ros
def test_loop_replays_the_window_max_loops_times(bag_kit, recorder, tmp_path):
    from std_msgs.msg import Header

    bag = tmp_path / "bag"
    written = bag_kit.write(bag, seconds=2.0, ticks_hz=10.0)
    window = [raw for _, ns, raw in written if T0 + NS // 2 <= ns <= T0 + NS]
    assert len(window) == 6
    rec = recorder({"/ticks": Header})
    args = [str(bag), "--loop", "--max-loops", "2", "--start-offset", "0.5", "--duration", "0.5"]
    args += ["--rate", "4", "--wait-subscribers", "1"]
    code, out, err = run_player(rec, tmp_path, args, 2 * len(window))
    assert code == 0, err
    assert _payloads(rec.received["/ticks"], window * 2) == window * 2
    assert "2 full pass(es)" in out


@pytest.mark.ros
def test_topic_filter_and_remap(bag_kit, recorder, tmp_path):
    from std_msgs.msg import Header, String

    bag = tmp_path / "bag"
    written = bag_kit.write(bag, seconds=1.0, ticks_hz=10.0, chatter_hz=4.0)
    rec = recorder({"/ticks": Header, "/chatter": String, "/replay/ticks": Header})
    args = [str(bag), "--topics", "/ticks", "--remap", "/ticks:=/replay/ticks"]
    args += ["--rate", "0", "--wait-subscribers", "1", "--qos-depth", "100"]
    code, out, err = run_player(rec, tmp_path, args, 11)
    assert code == 0, err
    ticks = [raw for _, raw in _by_topic(written, "/ticks")]
    assert _payloads(rec.received["/replay/ticks"], ticks) == ticks
    assert rec.received["/ticks"] == [] and rec.received["/chatter"] == []
    assert "/replay/ticks" in out and "/chatter" not in out


@pytest.mark.ros
def test_unknown_message_type_is_skipped_with_one_warning(bag_kit, recorder, tmp_path):
    from std_msgs.msg import Header

    bag = tmp_path / "bag"
    written = bag_kit.write(bag, seconds=1.0, ticks_hz=10.0, blob=True)
    rec = recorder({"/ticks": Header})
    args = [str(bag), "--rate", "0", "--wait-subscribers", "1", "--qos-depth", "100"]
    code, out, err = run_player(rec, tmp_path, args, 11)
    assert code == 0, err
    assert len(rec.received["/ticks"]) == len(_by_topic(written, "/ticks")) == 11
    assert err.count("skipping 1 topic(s)") == 1 and f"/blob ({BLOB}" in err
    assert "skipped 3 messages on 1 topic(s)" in out


@pytest.mark.ros
@pytest.mark.parametrize(("sig", "code_expected"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_stops_cleanly_with_exit_code_130(bag_kit, recorder, tmp_path, sig, code_expected):
    from std_msgs.msg import Header

    bag = tmp_path / "bag"
    bag_kit.write(bag, seconds=2.0, ticks_hz=10.0)
    rec = recorder({"/ticks": Header})
    out = tmp_path / "player.out"
    with out.open("w") as fout:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ros_pose_estimation.tools.play_bag", str(bag), "--loop"]
            + ["--wait-subscribers", "1"],
            stdout=fout,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env=dict(os.environ),
        )
        try:
            rec.spin_until(lambda: rec.count() >= 3 or proc.poll() is not None, 30)
            assert proc.poll() is None, out.read_text()
            proc.send_signal(sig)
            code = proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    text = out.read_text()
    assert code == code_expected, text
    assert "play-bag interrupted" in text and "Traceback" not in text

