"""Bag playback without ROS: options, the real-time schedule, and the end-of-play summary.

Times: bag times are integer nanoseconds (the bag's receive time of each message), wall times
are ``time.monotonic_ns()`` nanoseconds, option values are seconds.

The schedule never accumulates drift: every message's due time is computed from the start of
the pass, ``wall0 + (t_bag - bag0) / rate``, not from the previous message, so a late publish
(a slow disk, a big image) delays that message only; playback catches up at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ros_pose_estimation.core.errors import ConfigError

__all__ = ["PlayOptions", "PlaybackSummary", "Schedule", "normalise_topic", "parse_remap"]

NS_PER_S = 1_000_000_000
#: KEEP_LAST depth of the publishers when playing on a schedule, and as fast as possible.
DEFAULT_DEPTH, BURST_DEPTH = 10, 1000


def normalise_topic(name: str) -> str:
    """``'tf_static'`` -> ``'/tf_static'``; bag topics are absolute names."""
    name = name.strip()
    if not name or name == "/" or any(c.isspace() for c in name):
        raise ConfigError(f"invalid topic name {name!r}: expected e.g. /camera/image_raw")
    return name if name.startswith("/") else "/" + name


def parse_remap(rule: str) -> tuple[str, str]:
    """``'/old:=/new'`` -> ``('/old', '/new')`` (relative names become absolute)."""
    old, sep, new = rule.partition(":=")
    if not sep or not old.strip() or not new.strip():
        raise ConfigError(f"remap rule {rule!r}: expected OLD:=NEW, e.g. /tf:=/robot/tf")
    return normalise_topic(old), normalise_topic(new)


@dataclass
class PlayOptions:
    """How to play a bag. Seconds for every time; topic names as recorded in the bag.

    ``rate`` scales bag time (2.0 plays twice as fast; 0 publishes as fast as possible).
    ``start_offset`` / ``duration`` cut a window out of the bag (bag seconds from its first
    message); with ``loop`` the window is played again and again, ``max_loops`` times in all
    (0: until stopped). ``topics`` selects bag topics (empty: all); ``remap`` renames them on
    output. ``clock_hz`` > 0 publishes ``rosgraph_msgs/Clock`` on ``/clock`` at that rate (and at
    every message). ``wait_subscribers`` N > 0 waits, at most ``wait_timeout`` s, until every
    played topic (or each of ``wait_topics``, output names) has N subscribers.
    ``transient_local`` topics (bag names) are published TRANSIENT_LOCAL, as are topics whose
    recorded QoS was; everything else is RELIABLE, VOLATILE, KEEP_LAST ``qos_depth``. Its
    default (None) is :data:`DEFAULT_DEPTH`, or :data:`BURST_DEPTH` with ``rate == 0``: a burst
    overflows the transport and a deep history lets DDS repair it (instead of overwriting the
    lost messages), at the cost of up to that many messages of memory per topic.
    ``check_type_hash`` skips topics whose recorded type hash differs from the installed
    message type's (their bytes would not decode).
    """

    rate: float = 1.0
    loop: bool = False
    max_loops: int = 0
    start_offset: float = 0.0
    duration: float | None = None
    topics: tuple[str, ...] = ()
    remap: dict[str, str] = field(default_factory=dict)
    clock_hz: float = 0.0
    delay: float = 0.0
    wait_subscribers: int = 0
    wait_topics: tuple[str, ...] = ()
    wait_timeout: float = 30.0
    qos_depth: int | None = None
    transient_local: tuple[str, ...] = ("/tf_static",)
    check_type_hash: bool = True

    def validate(self) -> PlayOptions:
        """Check ranges and normalise topic names in place; returns ``self``."""
        checks = [
            (self.rate >= 0, f"rate must be >= 0 (0 = as fast as possible), got {self.rate}"),
            (self.max_loops >= 0, f"max_loops must be >= 0 (0 = unlimited), got {self.max_loops}"),
            (self.start_offset >= 0, f"start_offset must be >= 0 s, got {self.start_offset}"),
            (
                self.duration is None or self.duration > 0,
                f"duration must be > 0 s (or unset for the whole bag), got {self.duration}",
            ),
            (self.clock_hz >= 0, f"clock rate must be >= 0 Hz, got {self.clock_hz}"),
            (self.delay >= 0, f"delay must be >= 0 s, got {self.delay}"),
            (self.wait_subscribers >= 0, "wait_subscribers must be >= 0"),
            (self.wait_timeout > 0, f"wait_timeout must be > 0 s, got {self.wait_timeout}"),
            (
                self.qos_depth is None or self.qos_depth >= 1,
                f"qos_depth must be >= 1, got {self.qos_depth}",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        self.topics = tuple(normalise_topic(t) for t in self.topics)
        self.wait_topics = tuple(normalise_topic(t) for t in self.wait_topics)
        self.transient_local = tuple(normalise_topic(t) for t in self.transient_local)
        self.remap = {normalise_topic(k): normalise_topic(v) for k, v in self.remap.items()}
        return self

    @property
    def depth(self) -> int:
        """The KEEP_LAST depth in effect (``qos_depth``, or its rate-dependent default)."""
        if self.qos_depth is not None:
            return self.qos_depth
        return BURST_DEPTH if self.rate == 0 else DEFAULT_DEPTH

    def window_ns(self, bag_start_ns: int) -> tuple[int, int | None]:
        """``(start, stop)`` bag times of the played window; ``stop`` inclusive, None = end."""
        start = bag_start_ns + round(self.start_offset * NS_PER_S)
        stop = None if self.duration is None else start + round(self.duration * NS_PER_S)
        return start, stop


@dataclass(frozen=True)
class Schedule:
    """When to publish a message of one pass: ``wall0 + (t_bag - bag0) / rate``.

    ``rate == 0`` means as fast as possible: every message is due at once.
    """

    rate: float
    wall0_ns: int
    bag0_ns: int

    def due_ns(self, bag_ns: int) -> int:
        """Wall time (ns) at which the message stamped ``bag_ns`` in the bag is due."""
        if self.rate == 0:
            return self.wall0_ns
        return self.wall0_ns + round((bag_ns - self.bag0_ns) / self.rate)

    def bag_time_at(self, wall_ns: int) -> int:
        """The bag time (ns) that playback has reached at ``wall_ns`` (for ``/clock``)."""
        return self.bag0_ns + round(max(wall_ns - self.wall0_ns, 0) * self.rate)


@dataclass
class PlaybackSummary:
    """What a play did. ``counts`` / ``types`` are keyed by output topic name."""

    counts: dict[str, int] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)
    skipped_topics: dict[str, str] = field(default_factory=dict)  # bag topic -> reason
    skipped_messages: int = 0
    passes: int = 0  # passes over the window that ran to their end
    wall_s: float = 0.0
    bag_s: float = 0.0  # bag time covered, summed over passes
    interrupted: bool = False

    @property
    def messages(self) -> int:
        return sum(self.counts.values())

    @property
    def speed(self) -> float:
        """Bag seconds played per wall second (about ``rate``; 0 when nothing was timed)."""
        return self.bag_s / self.wall_s if self.wall_s > 0 else 0.0

    def format(self) -> str:
        """A human-readable table: messages and achieved rate per topic, totals, skips."""
        wall = max(self.wall_s, 1e-9)
        state = "interrupted" if self.interrupted else "done"
        lines = [
            f"play-bag {state}: {self.messages} messages on {len(self.counts)} topics in "
            f"{self.wall_s:.2f} s wall ({self.messages / wall:.1f} msg/s), "
            f"{self.bag_s:.2f} s of bag time (x{self.speed:.2f}), {self.passes} full pass(es)"
        ]
        for topic in sorted(self.counts):
            n = self.counts[topic]
            lines.append(
                f"  {topic:40s} {self.types.get(topic, '?'):36s} {n:7d} msgs {n / wall:8.1f} Hz"
            )
        if self.skipped_topics:
            lines.append(
                f"  skipped {self.skipped_messages} messages on {len(self.skipped_topics)} "
                "topic(s):"
            )
            lines += [f"    {t}: {why}" for t, why in sorted(self.skipped_topics.items())]
        return "\n".join(lines)
