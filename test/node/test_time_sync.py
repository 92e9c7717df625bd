"""ApproximateTimeSync: message_filters semantics plus bounded queues and in-order output."""

from __future__ import annotations

import pytest

from ros_pose_estimation.core.errors import ConfigError, InputError
from ros_pose_estimation.node.time_sync import ApproximateTimeSync

MS = 1_000_000  # ns


def test_pairs_within_slop_emitted_in_order_and_callback_called():
    got = []
    sync = ApproximateTimeSync(2, slop=0.05, callback=lambda a, b: got.append((a, b)))
    assert sync.add(0, 100 * MS, "rgb0") == []
    assert sync.add(1, 130 * MS, "depth0") == [("rgb0", "depth0")]
    assert sync.add(1, 200 * MS, "depth1") == []
    assert sync.add(0, 250 * MS, "rgb1") == [("rgb1", "depth1")]  # spread == slop: accepted
    assert got == [("rgb0", "depth0"), ("rgb1", "depth1")] and sync.emitted == 2


def test_beyond_slop_not_emitted_and_closest_chosen():
    sync = ApproximateTimeSync(2, slop=0.05)
    sync.add(0, 100 * MS, "a")
    assert sync.add(1, 151 * MS, "b") == []
    assert sync.add(1, 120 * MS, "c") == [("a", "c")]
    # the closest candidate wins when several are within slop
    sync.add(1, 300 * MS, "d")
    sync.add(1, 330 * MS, "e")
    assert sync.add(0, 325 * MS, "f") == [("f", "e")]
    assert sync.dropped["superseded"] == 2  # "b" (older than "c") and "d" (older than "e")


def test_exact_mode():
    sync = ApproximateTimeSync(2, exact=True)
    sync.add(0, 1, "a1")
    sync.add(0, 2, "a2")
    assert sync.add(1, 3, "b3") == []
    assert sync.add(1, 2, "b2") == [("a2", "b2")]
    assert sync.dropped["superseded"] == 1  # a1 can no longer be emitted in order
    sync.add(0, 4, "a4")
    sync.add(0, 5, "a5")
    sync.add(1, 5, "b5")
    assert sync.add(1, 4, "b4") == []  # not newer than the emitted b5: dropped
    assert sync.dropped["out_of_order"] == 1


def test_exact_mode_several_sets_in_one_add():
    sync = ApproximateTimeSync(2, exact=True)
    for t in (1, 2, 3):
        sync.add(0, t, f"a{t}")
    sync.add(1, 3, "b3")  # emits (a3, b3) at once; a1, a2 superseded
    assert sync.emitted == 1 and sync.dropped["superseded"] == 2
    sync = ApproximateTimeSync(3, exact=True)
    for t in (1, 2):
        sync.add(0, t, f"a{t}")
        sync.add(1, t, f"b{t}")
    sync.add(2, 2, "c2")
    assert sync.emitted == 1


def test_queue_bound_drops_oldest():
    sync = ApproximateTimeSync(2, queue_size=3, slop=0.01)
    for i in range(5):
        sync.add(0, i * 100 * MS, i)
    assert sync.queued(0) == [200 * MS, 300 * MS, 400 * MS]
    assert sync.dropped["queue_full"] == 2 and sync.dropped_per_input == [2, 0]
    assert sync.add(1, 0, "late") == []  # its partner was dropped
    assert sync.add(1, 205 * MS, "b") == [(2, "b")]
    # a new message older than everything in a full queue is dropped at once
    for i in range(3):
        sync.add(1, (1000 + i) * MS, i)
    assert sync.add(1, 500 * MS, "old") == [] and 500 * MS not in sync.queued(1)


def test_out_of_order_message_dropped_and_counted():
    sync = ApproximateTimeSync(2, slop=0.05)
    sync.add(0, 100 * MS, "a")
    sync.add(1, 100 * MS, "b")
    assert sync.add(0, 90 * MS, "old") == []
    assert sync.add(0, 100 * MS, "same") == []
    assert sync.dropped["out_of_order"] == 2
    sync.add(0, 110 * MS, "a2")
    assert sync.add(1, 112 * MS, "b2") == [("a2", "b2")]


def test_duplicate_stamp_replaces():
    sync = ApproximateTimeSync(2)
    sync.add(0, 5, "first")
    sync.add(0, 5, "second")
    assert sync.add(1, 5, "b") == [("second", "b")] and sync.dropped["duplicate_stamp"] == 1


def test_three_inputs():
    sync = ApproximateTimeSync(3, slop=0.03)
    sync.add(0, 1000 * MS, "rgb")
    sync.add(1, 1020 * MS, "depth")
    assert sync.add(2, 1040 * MS, "dets_far") == []  # 40 ms from rgb: beyond slop
    assert sync.add(2, 1025 * MS, "dets") == [("rgb", "depth", "dets")]
    # spread checked over all inputs, not just against the newest message
    sync.add(0, 2000 * MS, "r")
    sync.add(1, 2030 * MS, "d")  # spread 2000 .. 2030 = slop: accepted
    assert sync.add(2, 2015 * MS, "x") == [("r", "d", "x")]
    sync.add(0, 3000 * MS, "r2")
    sync.add(1, 3060 * MS, "d2")
    assert sync.add(2, 3030 * MS, "x2") == []  # each within 30 ms of x2, spread 60 ms
    assert sync.dropped["superseded"] == 1  # dets_far


def test_reset_and_bad_arguments():
    sync = ApproximateTimeSync(2)
    sync.add(0, 10, "a")
    sync.add(1, 10, "b")
    sync.reset()
    assert sync.add(0, 5, "after a time jump") == [] and sync.queued(0) == [5]
    with pytest.raises(InputError, match=r"0\.\.1, got 2"):
        sync.add(2, 0, None)
    with pytest.raises(ConfigError, match="queue_size"):
        ApproximateTimeSync(2, queue_size=0)
    with pytest.raises(ConfigError, match="slop"):
        ApproximateTimeSync(2, slop=-0.1)
    with pytest.raises(ConfigError, match="n_inputs"):
        ApproximateTimeSync(0)
