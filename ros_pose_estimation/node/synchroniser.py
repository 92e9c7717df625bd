"""The node's time synchroniser: ``message_filters`` where installed, the built-in one otherwise.

:func:`make_synchroniser` returns a ``feed(index, stamp_ns, msg)`` function and the backend's
name. With ``message_filters`` (a ROS install), its ``ApproximateTimeSynchronizer`` /
``TimeSynchronizer`` is fed through one ``SimpleFilter`` per input, so the node keeps its own
subscriptions (counted, destroyed on deactivate); without it (the pip-wheel environment),
:class:`.time_sync.ApproximateTimeSync` has the same semantics (``queue_size``, ``slop``, exact
mode). No rclpy import.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ros_pose_estimation.core.errors import ConfigError
from ros_pose_estimation.node.time_sync import ApproximateTimeSync

BACKENDS = ("auto", "message_filters", "builtin")

Feed = Callable[[int, int, Any], Any]


def make_synchroniser(
    n_inputs: int,
    queue_size: int,
    slop: float,
    exact: bool,
    callback: Callable[..., None],
    backend: str = "auto",
) -> tuple[Feed, str]:
    """A synchroniser calling ``callback(msg_0, ..., msg_{n-1})`` for every matched set.

    Returns:
        ``(feed, name)``: ``feed(index, stamp_ns, msg)`` offers ``msg`` on input ``index``;
        ``name`` is ``"message_filters"`` or ``"builtin"``.

    Raises:
        ConfigError: unknown ``backend``, or ``"message_filters"`` asked for but not installed.
    """
    if backend not in BACKENDS:
        raise ConfigError(f"sync_backend: expected one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend != "builtin":
        try:
            import message_filters
        except ImportError:
            if backend == "message_filters":
                raise ConfigError("sync_backend: message_filters is not installed; use auto or "
                                  "builtin") from None  # fmt: skip
        else:
            inputs = [message_filters.SimpleFilter() for _ in range(n_inputs)]
            if exact:
                sync = message_filters.TimeSynchronizer(inputs, queue_size)
            else:
                sync = message_filters.ApproximateTimeSynchronizer(inputs, queue_size, slop)
            sync.registerCallback(callback)

            def feed(index: int, stamp_ns: int, msg: Any) -> None:
                inputs[index].signalMessage(msg)

            feed.synchroniser = sync  # keeps it alive with the feed
            return feed, "message_filters"
    builtin = ApproximateTimeSync(n_inputs, queue_size, slop, exact, callback=callback)
    return builtin.add, "builtin"
