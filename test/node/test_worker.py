"""LatestWorker: queue of one, stale items dropped, errors survive."""

from __future__ import annotations

import threading

from ros_pose_estimation.node.worker import LatestWorker


def test_items_handled_in_background_thread():
    seen, threads = [], []

    def handle(item):
        seen.append(item)
        threads.append(threading.current_thread().name)

    worker = LatestWorker(handle, name="test-worker")
    worker.start()
    assert worker.submit(1)
    assert worker.wait_idle(5.0)
    assert worker.submit(2)
    assert worker.wait_idle(5.0)
    assert worker.stop()
    assert seen == [1, 2]
    assert threads == ["test-worker", "test-worker"]
    assert (worker.processed, worker.dropped) == (2, 0)


def test_slow_handler_keeps_only_the_newest_item():
    gate = threading.Event()
    started = threading.Event()
    seen = []

    def handle(item):
        started.set()
        gate.wait(5.0)
        seen.append(item)

    worker = LatestWorker(handle)
    worker.start()
    worker.submit("a")
    assert started.wait(5.0)  # "a" is being handled, the slot is free
    assert worker.submit("b")
    assert not worker.submit("c")  # replaces the waiting "b"
    assert not worker.submit("d")
    gate.set()
    assert worker.wait_idle(5.0)
    worker.stop()
    assert seen == ["a", "d"]
    assert worker.dropped == 2
    assert worker.submitted == 4


def test_handler_error_is_reported_and_worker_goes_on():
    errors = []
    seen = []

    def handle(item):
        if item == "bad":
            raise RuntimeError("broken frame")
        seen.append(item)

    worker = LatestWorker(handle, on_error=errors.append)
    worker.start()
    worker.submit("bad")
    worker.wait_idle(5.0)
    worker.submit("good")
    worker.wait_idle(5.0)
    worker.stop()
    assert seen == ["good"]
    assert [str(e) for e in errors] == ["broken frame"]
    assert worker.failed == 1 and worker.processed == 1


def test_stop_drops_the_waiting_item_and_is_idempotent():
    worker = LatestWorker(lambda item: None)
    assert worker.stop()  # never started
    worker.submit("x")  # not started: stays in the slot
    worker.start()
    worker.wait_idle(5.0)
    assert worker.processed == 1
    assert worker.stop() and not worker.running


def test_on_start_runs_once_in_the_thread_before_the_first_item():
    events = []
    worker = LatestWorker(
        lambda item: events.append(("item", item, threading.current_thread().name)),
        name="starter",
        on_start=lambda: events.append(("start", None, threading.current_thread().name)),
    )
    worker.start()
    worker.submit(1)
    worker.wait_idle(5.0)
    worker.submit(2)
    worker.wait_idle(5.0)
    worker.stop()
    assert events == [("start", None, "starter"), ("item", 1, "starter"), ("item", 2, "starter")]


def test_an_on_start_error_is_reported_and_items_still_handled():
    errors, seen = [], []

    def fail():
        raise RuntimeError("no threads")

    worker = LatestWorker(seen.append, on_error=errors.append, on_start=fail)
    worker.start()
    worker.submit("frame")
    worker.wait_idle(5.0)
    worker.stop()
    assert [str(e) for e in errors] == ["no threads"]
    assert seen == ["frame"] and worker.failed == 0
