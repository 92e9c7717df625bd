"""Publish a rosbag2 recording to ROS 2 topics with rclpy, on the bag's own schedule.

Messages are published as the CDR bytes stored in the bag (``Publisher.publish(bytes)``, which
rclpy >= Humble hands to ``rmw_publish_serialized_message``): nothing is deserialised, so
images cost a copy, and every field -- header stamps included -- reaches subscribers exactly as
recorded. A publisher still needs the message class, imported from the bag's type name
(``sensor_msgs/msg/Image`` -> ``sensor_msgs.msg.Image``); topics whose type cannot be imported,
or whose recorded type hash differs from the installed definition, are skipped and listed in one
warning (:mod:`.bag_publishers`).

Library use (the node may be spinning in another thread; publishing needs no spinning)::

    player = BagPlayer(node, "data/demo/demo_bag", PlayOptions(rate=1.0, loop=True))
    player.start()            # plays in a background thread; or player.play() to block
    ...
    player.stop(); summary = player.join(); player.close()
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rclpy.duration import Duration
from rclpy.node import Node

from ros_pose_estimation.core.errors import ConfigError, PoseEstimationError
from ros_pose_estimation.tools.bag_publishers import Output, create_output, select_topics
from ros_pose_estimation.tools.bag_reader import BagReader
from ros_pose_estimation.tools.playback import NS_PER_S, PlaybackSummary, PlayOptions, Schedule

__all__ = ["BagPlayer", "PlayedMessage", "SubscriberTimeout"]

#: Seconds :meth:`BagPlayer.play` waits at the end for subscribers to acknowledge everything.
#: Bursts (``rate=0``) can overflow the transport; RELIABLE topics are repaired after the
#: writer's next heartbeat (3 s with Fast DDS's defaults), so this must be longer than that.
ACK_TIMEOUT = 10.0


class SubscriberTimeout(PoseEstimationError, TimeoutError):
    """``wait_subscribers`` subscribers did not appear within ``wait_timeout``."""


@dataclass(frozen=True)
class PlayedMessage:
    """Handed to the ``on_message`` callback after each publish."""

    topic: str  # output topic (after remapping)
    bag_topic: str
    msgtype: str
    bag_ns: int  # the message's time in the bag (ns)
    raw: bytes  # its CDR bytes, as published
    pass_index: int  # 0 for the first pass, 1 for the first repeat with loop...


class BagPlayer:
    """Plays one bag through publishers created on ``node``.

    Args:
        node: any rclpy node; the player creates its publishers on it.
        bag: a rosbag2 folder or .mcap/.db3 file, or an open :class:`BagReader` (then owned
            by the player and closed by :meth:`close`).
        options: :class:`PlayOptions` (validated here).
        on_message: called with a :class:`PlayedMessage` after every publish, in the playing
            thread.

    Raises:
        BagError: the bag is missing or damaged. ConfigError: options do not fit the bag.
    """

    def __init__(
        self,
        node: Node,
        bag: str | Path | BagReader,
        options: PlayOptions | None = None,
        on_message: Callable[[PlayedMessage], None] | None = None,
    ):
        self.node = node
        self.options = (options or PlayOptions()).validate()
        self.on_message = on_message
        self.source = bag if isinstance(bag, BagReader) else BagReader(bag)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._result: PlaybackSummary | BaseException | None = None
        self.skipped: dict[str, str] = {}
        self._outputs: dict[str, Output] = {}
        self._clock_pub = None
        try:
            self._selected = select_topics(self.source, self.options)
            self._create_publishers()
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ setup

    def _create_publishers(self) -> None:
        opts = self.options
        for name in self._selected:
            made = create_output(self.node, self.source, name, opts)
            if isinstance(made, str):
                self.skipped[name] = made
            else:
                self._outputs[name] = made
        outputs = {o.topic for o in self._outputs.values()}
        missing = [t for t in opts.wait_topics if t not in outputs]
        if missing:
            raise ConfigError(f"wait topics {missing} are not played; played: {sorted(outputs)}")
        if self.skipped:
            listing = "; ".join(f"{t} ({why})" for t, why in sorted(self.skipped.items()))
            self.node.get_logger().warning(
                f"skipping {len(self.skipped)} topic(s) that cannot be published: {listing}"
            )
        if opts.clock_hz > 0:
            self._create_clock_publisher()

    def _create_clock_publisher(self) -> None:
        try:
            from rosgraph_msgs.msg import Clock
        except (ImportError, OSError) as exc:
            self.node.get_logger().warning(f"no /clock: rosgraph_msgs not importable ({exc})")
            return
        self._clock_pub = self.node.create_publisher(Clock, "/clock", 1)
        self._clock_cls = Clock

    # ------------------------------------------------------------------ playing

    @property
    def topics(self) -> dict[str, str]:
        """Played bag topic -> output topic."""
        return {name: out.topic for name, out in self._outputs.items()}

    def stop(self) -> None:
        """Stop playing as soon as possible (thread- and signal-handler-safe)."""
        self._stop.set()

    def wait_for_subscribers(self, count: int, topics=(), timeout: float = 30.0) -> list[str]:
        """Wait until each output topic in ``topics`` (default: all) has ``count`` subscribers.

        Returns the topics still lacking them ([] on success; also when stopped meanwhile).
        """
        pubs = {o.topic: o.publisher for o in self._outputs.values()}
        wanted = list(topics) or sorted(pubs)
        if unknown := [t for t in wanted if t not in pubs]:
            raise ConfigError(f"topics {unknown} are not played; played: {sorted(pubs)}")
        deadline = time.monotonic() + timeout
        while True:
            lacking = [t for t in wanted if pubs[t].get_subscription_count() < count]
            if not lacking or time.monotonic() >= deadline or self._stop.wait(0.02):
                return [] if self._stop.is_set() else lacking

    def play(self) -> PlaybackSummary:
        """Play (blocking) until the end, ``max_loops`` passes, or :meth:`stop`.

        ``wall_s`` in the summary counts from the first message, not the waiting and delay.

        Raises:
            SubscriberTimeout: ``wait_subscribers`` were not matched within ``wait_timeout``.
            BagError: the bag turned out damaged while reading.
        """
        opts = self.options
        summary = PlaybackSummary(skipped_topics=dict(self.skipped))
        if opts.wait_subscribers > 0:
            lacking = self.wait_for_subscribers(
                opts.wait_subscribers, opts.wait_topics, opts.wait_timeout
            )
            if lacking:
                raise SubscriberTimeout(
                    f"fewer than {opts.wait_subscribers} subscriber(s) after "
                    f"{opts.wait_timeout} s on: {', '.join(lacking)}"
                )
        if self._stop.wait(opts.delay):
            summary.interrupted = True
            return summary
        wall0 = time.monotonic_ns()
        try:
            while self._play_pass(summary.passes, summary):
                summary.passes += 1
                if not opts.loop or summary.passes == opts.max_loops:
                    break
            summary.interrupted = self._stop.is_set()
        finally:
            summary.wall_s = (time.monotonic_ns() - wall0) / NS_PER_S
        if not summary.interrupted:
            self._wait_for_acks(ACK_TIMEOUT)
        return summary

    def _wait_for_acks(self, timeout: float) -> None:
        """Let reliable delivery finish (so a process may exit right after play()).

        Polls in short slices so that :meth:`stop` (Ctrl-C) still ends the wait at once.
        """
        deadline = time.monotonic() + timeout
        pending = list(self._outputs.values())
        slice_ = Duration(seconds=0.05)
        while pending and time.monotonic() < deadline and not self._stop.is_set():
            pending = [o for o in pending if not o.publisher.wait_for_all_acked(slice_)]
        if pending and not self._stop.is_set():
            self.node.get_logger().warning(
                f"not every subscriber acknowledged {', '.join(o.topic for o in pending)} "
                f"within {timeout} s"
            )

    def _play_pass(self, pass_index: int, summary: PlaybackSummary) -> bool:
        """One pass over the window; False if stopped (or nothing to play)."""
        opts = self.options
        start, stop = opts.window_ns(self.source.start_ns)
        schedule = Schedule(opts.rate, time.monotonic_ns(), start)
        self._next_clock_ns, self._last_clock_ns = schedule.wall0_ns, 0  # /clock restarts
        read = set(self._outputs) | set(self.skipped)
        last = None
        for bag_topic, bag_ns, raw in self.source.messages(read, start, stop):
            out = self._outputs.get(bag_topic)
            if out is None:
                summary.skipped_messages += 1
                continue
            if not self._wait_until(bag_ns, schedule):
                break
            self._publish_clock(bag_ns)
            out.publisher.publish(raw)
            summary.counts[out.topic] = summary.counts.get(out.topic, 0) + 1
            summary.types[out.topic] = out.msgtype
            last = bag_ns
            if self.on_message is not None:
                self.on_message(
                    PlayedMessage(out.topic, bag_topic, out.msgtype, bag_ns, raw, pass_index)
                )
        if last is None:
            if not self._stop.is_set():
                self.node.get_logger().warning("nothing to play in the chosen window and topics")
            return False
        summary.bag_s += (last - start) / NS_PER_S  # also for a pass cut short by stop()
        return not self._stop.is_set()

    def _wait_until(self, bag_ns: int, schedule: Schedule) -> bool:
        """Sleep until the message at ``bag_ns`` is due, publishing /clock meanwhile; False if
        stopped. The clock never runs past ``bag_ns``: a late wake-up (a loaded machine) must
        not put /clock ahead of the message still to come."""
        due_ns = schedule.due_ns(bag_ns)
        period = round(NS_PER_S / self.options.clock_hz) if self._clock_pub else 0
        while not self._stop.is_set():
            now = time.monotonic_ns()
            if period and schedule.rate > 0 and now >= self._next_clock_ns:
                self._publish_clock(min(schedule.bag_time_at(now), bag_ns))
                self._next_clock_ns = now + period
            if now >= due_ns:
                return True
            wake = min(due_ns, self._next_clock_ns) if period else due_ns
            self._stop.wait(max(wake - now, 0) / NS_PER_S)
        return False

    def _publish_clock(self, bag_ns: int) -> None:
        """/clock at ``bag_ns``, never backwards within a pass (late messages lag the clock)."""
        if self._clock_pub is not None:
            bag_ns = self._last_clock_ns = max(bag_ns, self._last_clock_ns)
            msg = self._clock_cls()
            msg.clock.sec, msg.clock.nanosec = divmod(bag_ns, NS_PER_S)
            self._clock_pub.publish(msg)

    # ------------------------------------------------------------------ threads, cleanup

    def start(self) -> threading.Thread:
        """Run :meth:`play` in a background thread; collect the result with :meth:`join`."""
        if self._thread is not None:
            raise RuntimeError("this player was already started")

        def run() -> None:
            try:
                self._result = self.play()
            except BaseException as exc:  # handed to join(), which re-raises it
                self._result = exc

        self._thread = threading.Thread(target=run, name="bag_player", daemon=True)
        self._thread.start()
        return self._thread

    def join(self, timeout: float | None = None) -> PlaybackSummary | None:
        """Wait for :meth:`start`'s thread; its summary, or None if still playing."""
        if self._thread is None:
            raise RuntimeError("join() before start()")
        self._thread.join(timeout)
        if self._thread.is_alive():
            return None
        if isinstance(self._result, BaseException):
            raise self._result
        return self._result

    def close(self) -> None:
        """Stop, destroy the publishers and close the bag."""
        self.stop()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        for out in self._outputs.values():
            self.node.destroy_publisher(out.publisher)
        self._outputs.clear()
        if self._clock_pub is not None:
            self.node.destroy_publisher(self._clock_pub)
            self._clock_pub = None
        self.source.close()
