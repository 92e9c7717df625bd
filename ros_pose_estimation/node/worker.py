"""Inference off the subscription thread, with a queue of one.

:class:`LatestWorker` owns one thread and one slot. ``submit(item)`` (from the subscription
callback) puts ``item`` in the slot and returns at once; if the slot still held an item the
thread had not started, that older item is dropped and counted: a slow estimator makes the node
skip frames, never queue them without bound or fall behind real time. The thread takes the
slot's item and calls ``handler(item)``; an exception from the handler is passed to
``on_error`` (the node logs it) and the thread goes on with the next item. ``on_start`` runs
once in the thread before the first item: settings that belong to the thread, such as torch's
intra-op thread count (:func:`.pipeline_factory.inference_threads`).

Pure python (threading only), tested without ROS.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class LatestWorker:
    """Run ``handler`` on the newest submitted item in a background thread.

    Args:
        handler: called with each item the thread takes.
        on_error: called with the exception when ``handler`` raises (default: re-raise
            nothing, the error is kept in :attr:`last_error`).
        name: thread name.
        on_start: called once in the thread before it takes the first item (an exception
            from it goes to ``on_error`` too, and the thread goes on).
    """

    def __init__(
        self,
        handler: Callable[[Any], None],
        on_error: Callable[[BaseException], None] | None = None,
        name: str = "pose-worker",
        on_start: Callable[[], None] | None = None,
    ) -> None:
        self.handler = handler
        self.on_error = on_error
        self.name = name
        self.on_start = on_start
        self.submitted = 0
        self.dropped = 0
        self.processed = 0
        self.failed = 0
        self.last_error: BaseException | None = None
        self._cond = threading.Condition()
        self._item: Any = None
        self._has_item = False
        self._busy = False
        self._stop = False
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the thread (no-op when running)."""
        if self.running:
            return
        with self._cond:
            self._stop = False
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = 10.0) -> bool:
        """Ask the thread to finish after its current item, drop the waiting one, and join.
        Returns False when the thread was still busy after ``timeout`` seconds."""
        with self._cond:
            self._stop = True
            if self._has_item:
                self._has_item, self._item = False, None
                self.dropped += 1
            self._cond.notify_all()
        thread, self._thread = self._thread, None
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def submit(self, item: Any) -> bool:
        """Offer ``item``; returns False when it replaced a waiting item (one frame dropped)."""
        with self._cond:
            self.submitted += 1
            replaced = self._has_item
            if replaced:
                self.dropped += 1
            self._item, self._has_item = item, True
            self._cond.notify_all()
        return not replaced

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no item waits and none is being handled (tests, shutdown)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._has_item and not self._busy, timeout)

    def _run(self) -> None:
        if self.on_start is not None:
            try:
                self.on_start()
            except Exception as exc:  # handed to on_error, as a frame's would be
                self.last_error = exc
                if self.on_error is not None:
                    self.on_error(exc)
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._has_item or self._stop)
                if self._stop:
                    return
                item, self._item, self._has_item = self._item, None, False
                self._busy = True
            try:
                self.handler(item)
                self.processed += 1
            except Exception as exc:  # handed to on_error: the worker must survive any frame
                self.failed += 1
                self.last_error = exc
                if self.on_error is not None:
                    self.on_error(exc)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
