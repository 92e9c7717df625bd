"""play-bag without ROS: options, schedule, summary, lazy imports and the CLI's error exits.

Bags are tiny and written with rosbags (``bag_kit``, see conftest.py). Playback over real DDS
is tested in test_play_bag_dds.py (the CLI) and test_play_bag_library.py (the library API);
the reader itself in test_bag_reader.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ros_pose_estimation.core.errors import ConfigError
from ros_pose_estimation.tools.playback import PlaybackSummary, PlayOptions, Schedule, parse_remap

pytest.importorskip("rosbags", reason="rosbags (the [data] extra) reads and writes the bags")

from ros_pose_estimation.tools.play_bag import main as play_main

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_700_000_000 * 1_000_000_000  # bag start (ns), as in conftest.py
NS = 1_000_000_000


def test_options_validate_and_normalise():
    opts = PlayOptions(topics=("ticks",), remap={"ticks": "/x/ticks"}, wait_topics=("a",))
    assert opts.validate() is opts
    assert opts.topics == ("/ticks",) and opts.remap == {"/ticks": "/x/ticks"}
    assert opts.window_ns(T0) == (T0, None)
    assert (opts.depth, PlayOptions(rate=0).depth, PlayOptions(rate=0, qos_depth=5).depth) == (
        10,
        1000,
        5,
    )
    assert PlayOptions(start_offset=0.5, duration=0.25).window_ns(T0) == (
        T0 + NS // 2,
        T0 + 3 * NS // 4,
    )
    for bad, word in [
        (PlayOptions(rate=-1), "rate"),
        (PlayOptions(duration=0), "duration"),
        (PlayOptions(qos_depth=0), "qos_depth"),
        (PlayOptions(start_offset=-1), "start_offset"),
        (PlayOptions(topics=("/has space",)), "topic name"),
    ]:
        with pytest.raises(ConfigError, match=word):
            bad.validate()
    assert parse_remap("/a:=b") == ("/a", "/b")
    with pytest.raises(ConfigError, match="OLD:=NEW"):
        parse_remap("/a=/b")


def test_schedule_is_absolute_so_delays_do_not_accumulate():
    s = Schedule(rate=2.0, wall0_ns=1_000, bag0_ns=T0)
    # Message k is due at wall0 + k * 0.05 s whatever happened before: no accumulated drift.
    assert [s.due_ns(T0 + k * NS // 10) - 1_000 for k in range(4)] == [0, 5e7, 1e8, 1.5e8]
    assert s.bag_time_at(1_000 + NS // 2) == T0 + NS  # half a wall second = 1 s of bag
    fast = Schedule(rate=0.0, wall0_ns=7, bag0_ns=T0)
    assert fast.due_ns(T0 + 5 * NS) == 7


def test_clock_never_runs_ahead_of_the_message_still_to_come():
    """A late wake-up (a loaded machine) must not publish /clock past the next message."""
    import threading
    import time
    from types import SimpleNamespace

    from ros_pose_estimation.tools.bag_player import BagPlayer

    published = []
    player = object.__new__(BagPlayer)  # no node: only the waiting and the clock
    player.options = PlayOptions(rate=4.0, clock_hz=50.0)
    player._clock_pub = SimpleNamespace(publish=published.append)
    player._clock_cls = lambda: SimpleNamespace(clock=SimpleNamespace(sec=0, nanosec=0))
    player._stop = threading.Event()
    now = time.monotonic_ns()
    # the pass began 2 wall seconds ago: 8 s of bag at rate 4, far past the message at 1 s
    schedule = Schedule(rate=4.0, wall0_ns=now - 2 * NS, bag0_ns=T0)
    player._next_clock_ns, player._last_clock_ns = now - NS, 0
    assert player._wait_until(T0 + NS, schedule)
    assert [m.clock.sec * NS + m.clock.nanosec for m in published] == [T0 + NS]


def test_summary_format_lists_topics_rates_and_skips():
    s = PlaybackSummary(
        counts={"/a": 10, "/b": 5}, types={"/a": "std_msgs/msg/String"}, wall_s=2.0, bag_s=4.0
    )
    s.skipped_topics = {"/blob": "unknown type"}
    s.skipped_messages = 3
    text = s.format()
    assert "15 messages on 2 topics" in text and "(x2.00)" in text
    assert "/a" in text and "5.0 Hz" in text and "skipped 3 messages on 1 topic" in text


def test_importing_the_tool_pulls_in_neither_rosbags_nor_rclpy():
    code = (
        "import sys, ros_pose_estimation.tools.play_bag\n"
        "print(','.join(m for m in ('rosbags', 'rclpy') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == ""


def test_cli_rejects_bad_bags_and_options_with_exit_code_2(bag_kit, tmp_path, capsys):
    assert play_main([str(tmp_path / "nope")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    bag = tmp_path / "bag"
    bag_kit.write(bag)
    assert play_main([str(bag), "--rate", "-2"]) == 2
    assert "rate must be >= 0" in capsys.readouterr().err
    assert play_main([str(bag), "--remap", "/ticks=/x"]) == 2
    assert "OLD:=NEW" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:  # rclpy's exception, before: a traceback
        play_main([str(bag), "--node-name", "bad name!"])
    assert exc.value.code == 2 and "is not a ROS node name" in capsys.readouterr().err
    bag_kit.truncate(bag / "bag.db3", 0.3)
    assert play_main([str(bag)]) == 2
    err = capsys.readouterr().err
    assert "damaged or truncated" in err and "Traceback" not in err


def test_cli_corrupt_bag_exit_code_in_a_real_process(bag_kit, tmp_path):
    bag = tmp_path / "bag"
    bag_kit.write(bag, storage="mcap")
    bag_kit.truncate(bag / "bag.mcap", 0.4)
    proc = subprocess.run(
        [sys.executable, "-m", "ros_pose_estimation.tools.play_bag", str(bag)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("play-bag: ") and "damaged or truncated" in proc.stderr
    assert "Traceback" not in proc.stderr

