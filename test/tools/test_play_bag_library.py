"""play-bag's library API in-process over real DDS: BagPlayer with a per-message callback,
/clock and stop() from another thread; unknown topics, missing subscribers and bags recorded
with another definition of a message type (type hash mismatch) are refused.

rclpy comes from ``rclpy_mod`` (conftest.py), on a random ``ROS_DOMAIN_ID`` (``ros_domain``);
bags are tiny and written with rosbags (``bag_kit``).
"""

from __future__ import annotations

import time

import pytest

from ros_pose_estimation.tools.playback import PlayOptions

pytest.importorskip("rosbags", reason="rosbags (the [data] extra) reads and writes the bags")

from ros_pose_estimation.tools.bag_reader import BagReader
from ros_pose_estimation.tools.play_bag import main as play_main

T0 = 1_700_000_000 * 1_000_000_000  # bag start (ns), as in conftest.py
NS = 1_000_000_000


@pytest.mark.ros
def test_library_player_in_process_with_callback_clock_and_stop(
    bag_kit, rclpy_mod, ros_domain, tmp_path
):
    """BagPlayer on a node of this process: callback per message, /clock, stop() from a thread."""
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rosgraph_msgs.msg import Clock
    from std_msgs.msg import Header

    from ros_pose_estimation.tools.bag_player import BagPlayer

    bag = tmp_path / "bag"
    written = bag_kit.write(bag, seconds=2.0, ticks_hz=10.0)
    context = Context()
    rclpy_mod.init(context=context, domain_id=ros_domain)
    try:
        node = rclpy_mod.create_node("rpe_play_bag_lib", context=context)
        clocks, ticks, played = [], [], []
        node.create_subscription(Clock, "/clock", lambda m: clocks.append(m.clock), 100)
        node.create_subscription(Header, "/ticks", ticks.append, 100)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        opts = PlayOptions(rate=4.0, loop=True, clock_hz=50.0, wait_subscribers=1)
        player = BagPlayer(node, bag, opts, on_message=played.append)
        assert player.topics == {"/ticks": "/ticks"}
        player.start()
        deadline = time.monotonic() + 30
        while len(ticks) < 30 and time.monotonic() < deadline:  # more than one pass
            executor.spin_once(timeout_sec=0.02)
        player.stop()
        summary = player.join(timeout=10)
        player.close()
        executor.shutdown()
    finally:
        rclpy_mod.shutdown(context=context)
    assert summary is not None and summary.interrupted and summary.passes >= 1
    assert summary.counts["/ticks"] == len(played) >= 30
    assert [m.raw for m in played[:21]] == [raw for _, _, raw in written]
    assert played[21].pass_index == 1 and played[21].bag_ns == T0
    assert [(h.stamp.sec * NS + h.stamp.nanosec) for h in ticks[:21]] == [
        ns for _, ns, _ in written
    ]
    bag_times = [c.sec * NS + c.nanosec for c in clocks]
    assert len(bag_times) > 30 and all(T0 <= t <= T0 + 2 * NS for t in bag_times)


@pytest.mark.ros
def test_player_rejects_unknown_topics_and_mismatched_type_hashes(
    bag_kit, rclpy_mod, ros_domain, tmp_path, capsys
):
    from rclpy.context import Context

    from ros_pose_estimation.tools.bag_player import BagPlayer, SubscriberTimeout

    bag = tmp_path / "bag"
    bag_kit.write(bag, seconds=0.5, ticks_hz=10.0, chatter_hz=4.0)
    assert play_main([str(bag), "--topics", "/nope", "--quiet"]) == 2
    assert "['/nope'] are not in the bag; it has: /chatter, /ticks" in capsys.readouterr().err
    args = [str(bag), "--wait-subscribers", "1", "--wait-timeout", "0.3", "--quiet"]
    assert play_main(args) == 1
    assert "fewer than 1 subscriber(s) after 0.3 s" in capsys.readouterr().err

    # A bag recorded with another definition of std_msgs/Header: its bytes would not decode.
    meta = bag / "metadata.yaml"
    text = meta.read_text()
    with BagReader(bag) as src:
        recorded = src.topics["/ticks"].type_hash
    meta.write_text(text.replace(recorded, "RIHS01_" + "0" * 64))
    context = Context()
    rclpy_mod.init(context=context, domain_id=ros_domain)
    try:
        node = rclpy_mod.create_node("rpe_play_bag_hash", context=context)
        player = BagPlayer(node, bag, PlayOptions(rate=0))
        assert set(player.topics) == {"/chatter"} and "differs" in player.skipped["/ticks"]
        player.close()
        lax = BagPlayer(node, bag, PlayOptions(rate=0, check_type_hash=False))
        assert set(lax.topics) == {"/chatter", "/ticks"}
        with pytest.raises(SubscriberTimeout):
            lax.options.wait_subscribers, lax.options.wait_timeout = 1, 0.2
            lax.play()
        lax.close()
    finally:
        rclpy_mod.shutdown(context=context)
