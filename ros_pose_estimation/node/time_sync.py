"""Time synchronisation of N message streams, without rclpy (testable and reusable offline).

:class:`ApproximateTimeSync` follows the Python ``message_filters`` synchronisers
(``TimeSynchronizer`` when ``exact=True``, ``ApproximateTimeSynchronizer`` otherwise), with
stamps given explicitly in integer nanoseconds (the source messages' ``header.stamp``):

* Each input has a queue ``{stamp_ns: msg}`` of at most ``queue_size`` messages; when it
  overflows the **oldest** stamp is dropped (``dropped["queue_full"]``). A second message with
  a stamp already queued on that input replaces the first (``dropped["duplicate_stamp"]``).
* Exact mode: when a stamp is present in every queue, that set is emitted (all such stamps,
  oldest first).
* Approximate mode, on every :meth:`~ApproximateTimeSync.add`: for each *other* input, the
  queued stamps within ``slop`` of the new message's stamp are ordered by distance to it; the
  first combination (closest first, in ``itertools.product`` order) whose spread
  ``max(stamps) - min(stamps)`` is ``<= slop`` is emitted. So a set is only looked for when one
  of its members arrives, anchored on that member, as upstream. Upstream Python accepts a spread
  strictly ``< slop``; here a spread of exactly ``slop`` is accepted too (the only difference).

Additions to upstream, so that every output stream is strictly increasing in time:

* After a set is emitted, each queue drops its messages with a stamp older than the emitted
  one of that input: they could only produce out-of-order outputs
  (``dropped["superseded"]``).
* A message whose stamp is not newer than the last emitted stamp of its input is dropped on
  arrival (``dropped["out_of_order"]``).

Counters: :attr:`~ApproximateTimeSync.dropped` (by reason, all inputs together),
:attr:`~ApproximateTimeSync.dropped_per_input` and :attr:`~ApproximateTimeSync.emitted`.
Not thread-safe: call :meth:`~ApproximateTimeSync.add` from one thread (or hold a lock).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from ros_pose_estimation.core.errors import ConfigError, InputError

#: Reasons a message is dropped without being emitted.
DROP_REASONS = ("queue_full", "duplicate_stamp", "superseded", "out_of_order")

_NS_PER_S = 1_000_000_000


class ApproximateTimeSync:
    """Group messages of ``n_inputs`` streams whose stamps match (see the module docstring).

    Args:
        n_inputs: number of streams (>= 1); :meth:`add` takes an index in ``0 .. n_inputs-1``.
        queue_size: messages kept per input while waiting for a match (>= 1).
        slop: largest spread of the stamps of an emitted set (s, >= 0); ignored when ``exact``.
        exact: emit only sets of identical stamps (``message_filters.TimeSynchronizer``).
        callback: called as ``callback(msg_0, ..., msg_{n-1})`` for every emitted set.
    """

    def __init__(
        self,
        n_inputs: int,
        queue_size: int = 10,
        slop: float = 0.05,
        exact: bool = False,
        callback: Callable[..., Any] | None = None,
    ) -> None:
        if int(n_inputs) != n_inputs or n_inputs < 1:
            raise ConfigError(f"n_inputs: expected an integer >= 1, got {n_inputs}")
        if int(queue_size) != queue_size or queue_size < 1:
            raise ConfigError(f"queue_size: expected an integer >= 1, got {queue_size}")
        if not slop >= 0:  # also rejects NaN
            raise ConfigError(f"slop: expected seconds >= 0, got {slop}")
        self.n_inputs = int(n_inputs)
        self.queue_size = int(queue_size)
        self.slop_ns = round(float(slop) * _NS_PER_S)
        self.exact = bool(exact)
        self.callback = callback
        self.reset()

    def reset(self) -> None:
        """Empty the queues and forget the last emitted stamps (e.g. after a time jump);
        counters are kept."""
        self._queues: list[dict[int, Any]] = [{} for _ in range(self.n_inputs)]
        self._last_emitted: list[int | None] = [None] * self.n_inputs
        if not hasattr(self, "dropped"):
            self.dropped: dict[str, int] = dict.fromkeys(DROP_REASONS, 0)
            self.dropped_per_input: list[int] = [0] * self.n_inputs
            self.emitted = 0

    def queued(self, index: int) -> list[int]:
        """Stamps (ns) waiting on input ``index``, oldest first."""
        return sorted(self._queues[self._check_index(index)])

    def _check_index(self, index: int) -> int:
        if not 0 <= index < self.n_inputs or int(index) != index:
            raise InputError(f"index: expected an integer in 0..{self.n_inputs - 1}, got {index}")
        return int(index)

    def _drop(self, index: int, reason: str, count: int = 1) -> None:
        self.dropped[reason] += count
        self.dropped_per_input[index] += count

    def add(self, index: int, stamp_ns: int, msg: Any) -> list[tuple]:
        """Queue ``msg`` (stamp ``stamp_ns`` in integer nanoseconds) on input ``index``.

        Returns:
            The sets emitted by this call (each a tuple of ``n_inputs`` messages, input
            order), after ``callback`` was called for each: at most one in approximate mode,
            possibly several in exact mode.
        """
        index = self._check_index(index)
        stamp = int(stamp_ns)
        last = self._last_emitted[index]
        if last is not None and stamp <= last:
            self._drop(index, "out_of_order")
            return []
        queue = self._queues[index]
        if stamp in queue:
            self._drop(index, "duplicate_stamp")
        queue[stamp] = msg
        while len(queue) > self.queue_size:
            del queue[min(queue)]
            self._drop(index, "queue_full")
        if stamp not in queue:  # the new message was the oldest of a full queue
            return []
        if self.exact:
            common = set.intersection(*(set(q) for q in self._queues))
            return [self._emit([t] * self.n_inputs) for t in sorted(common)]
        match = self._approximate_match(index, stamp)
        return [] if match is None else [self._emit(match)]

    def _approximate_match(self, index: int, stamp: int) -> list[int] | None:
        candidates = []
        for i, queue in enumerate(self._queues):
            if i == index:
                continue
            near = sorted((abs(s - stamp), s) for s in queue if abs(s - stamp) <= self.slop_ns)
            if not near:
                return None
            candidates.append([s for _, s in near])
        for combo in itertools.product(*candidates):
            stamps = list(combo)
            stamps.insert(index, stamp)
            if max(stamps) - min(stamps) <= self.slop_ns:
                return stamps
        return None

    def _emit(self, stamps: list[int]) -> tuple:
        msgs = tuple(q[t] for q, t in zip(self._queues, stamps, strict=True))
        for i, (queue, t) in enumerate(zip(self._queues, stamps, strict=True)):
            older = [s for s in queue if s < t]
            for s in older:
                del queue[s]
            if older:
                self._drop(i, "superseded", len(older))
            del queue[t]
            self._last_emitted[i] = t
        self.emitted += 1
        if self.callback is not None:
            self.callback(*msgs)
        return msgs
