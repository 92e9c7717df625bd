"""Rates, latencies and counters for the node's diagnostics, on timestamps the caller passes.

Nothing here reads a clock: every method takes the time (seconds, float) from the caller, so
the node passes its ROS clock (``node.get_clock().now().nanoseconds * 1e-9``, which follows
``use_sim_time``) and tests pass made-up times.

* :class:`RateMeter`: events in a sliding window -> Hz.
* :class:`LatencyStats`: per named stage, a bounded window of durations -> median, p90, max.
* :class:`Counters`: counts by reason (dropped frames, skipped detections).
* :class:`NodeStats`: the node's set of all three, and :meth:`NodeStats.snapshot`, the plain
  numbers :func:`ros_pose_estimation.conversions.diagnostics.diagnostic_array` publishes.

Pure python + numpy.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from ros_pose_estimation.core.errors import ConfigError, InputError


def _check_time(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise InputError(f"{name}: expected a finite time (s), got {value}")
    return value


class RateMeter:
    """Event rate (Hz) over the last ``window_s`` seconds.

    The rate is ``(n - 1) / (t_last - t_first)`` over the ``n`` events inside
    ``[now - window_s, now]`` (exact for a steady stream, 0 with fewer than two events), so it
    falls to 0 once events stop for a whole window; :meth:`age` says how long ago the last one
    came. A time before the previous event (bag loop, simulated clock reset) restarts the meter.

    Args:
        window_s: length of the window (s, > 0).
    """

    def __init__(self, window_s: float = 5.0) -> None:
        if not 0.0 < float(window_s) < math.inf:
            raise ConfigError(f"window_s: expected a finite time > 0 (s), got {window_s}")
        self.window_s = float(window_s)
        self._times: deque[float] = deque()
        self.total = 0
        self.first_s: float | None = None  # time of the first event since the (re)start
        self.last_s: float | None = None  # time of the latest event

    def tick(self, now_s: float) -> None:
        """Record one event at ``now_s`` (s)."""
        now = _check_time("now_s", now_s)
        if self.last_s is not None and now < self.last_s:
            self._times.clear()
            self.first_s = None
        if self.first_s is None:
            self.first_s = now
        self._times.append(now)
        self.last_s = now
        self.total += 1
        self._trim(now)

    def _trim(self, now: float) -> None:
        while self._times and self._times[0] < now - self.window_s:
            self._times.popleft()

    def rate(self, now_s: float) -> float:
        """Events per second in the window ending at ``now_s`` (0.0 with fewer than two)."""
        now = _check_time("now_s", now_s)
        self._trim(now)
        times = [t for t in self._times if t <= now]
        if len(times) < 2 or times[-1] <= times[0]:
            return 0.0
        return (len(times) - 1) / (times[-1] - times[0])

    def age(self, now_s: float) -> float | None:
        """Seconds since the last event (None when there was none since the last reset)."""
        now = _check_time("now_s", now_s)
        return None if self.last_s is None else now - self.last_s

    def reset(self) -> None:
        self._times.clear()
        self.total = 0
        self.first_s = self.last_s = None


@dataclass(frozen=True)
class StageSummary:
    """Latency of one stage: over the window ``median_ms``, ``p90_ms``, ``max_ms``, ``last_ms``;
    ``count``: samples recorded since the start (or reset), not only those in the window."""

    median_ms: float
    p90_ms: float
    max_ms: float
    last_ms: float
    count: int


class LatencyStats:
    """Durations (ms) per named stage, each in a window of the newest ``window`` samples.

    Args:
        window: samples kept per stage (>= 1).
    """

    def __init__(self, window: int = 100) -> None:
        if isinstance(window, bool) or int(window) != window or window < 1:
            raise ConfigError(f"window: expected an integer >= 1 (samples), got {window}")
        self.window = int(window)
        self._samples: dict[str, deque[float]] = {}
        self._counts: dict[str, int] = {}

    def add(self, stage: str, ms: float) -> None:
        """Record one duration of ``stage`` in milliseconds (finite, >= 0)."""
        value = float(ms)
        if not math.isfinite(value) or value < 0:
            raise InputError(f"latency of {stage!r}: expected a duration >= 0 (ms), got {ms}")
        self._samples.setdefault(stage, deque(maxlen=self.window)).append(value)
        self._counts[stage] = self._counts.get(stage, 0) + 1

    def add_all(self, timings: Mapping[str, float]) -> None:
        """Record one duration per stage, e.g. a frame's ``{"estimate": 81.0, "total": 85.2}``."""
        for stage, ms in timings.items():
            self.add(stage, ms)

    @property
    def stages(self) -> list[str]:
        """Stage names in the order they were first recorded."""
        return list(self._samples)

    def summary(self, stage: str) -> StageSummary:
        """Statistics of ``stage``; ``KeyError`` naming the known stages if never recorded."""
        if stage not in self._samples:
            raise KeyError(f"no latency recorded for {stage!r}; stages: {self.stages}")
        values = np.asarray(self._samples[stage])
        return StageSummary(
            median_ms=float(np.median(values)),
            p90_ms=float(np.percentile(values, 90)),
            max_ms=float(values.max()),
            last_ms=float(values[-1]),
            count=self._counts[stage],
        )

    def summaries(self) -> dict[str, StageSummary]:
        return {stage: self.summary(stage) for stage in self._samples}

    def reset(self) -> None:
        self._samples.clear()
        self._counts.clear()


class Counters:
    """Counts by reason, e.g. dropped frames (``"busy"``) or skipped detections.

    Args:
        reasons: reasons reported even while still 0 (others appear when first counted).
    """

    def __init__(self, reasons: Iterable[str] = ()) -> None:
        self._counts: dict[str, int] = dict.fromkeys(reasons, 0)

    def add(self, reason: str, n: int = 1) -> None:
        """Count ``n`` (an integer >= 0) more of ``reason``."""
        if isinstance(n, bool) or int(n) != n or n < 0:
            raise InputError(f"count of {reason!r}: expected an integer >= 0, got {n}")
        self._counts[reason] = self._counts.get(reason, 0) + int(n)

    def add_all(self, counts: Mapping[str, int]) -> None:
        """Add a mapping of counts, e.g. ``detections_from_msg``'s ``skipped``."""
        for reason, n in counts.items():
            self.add(reason, n)

    def get(self, reason: str) -> int:
        return self._counts.get(reason, 0)

    @property
    def total(self) -> int:
        return sum(self._counts.values())

    def as_dict(self) -> dict[str, int]:
        return dict(self._counts)

    def reset(self) -> None:
        self._counts = dict.fromkeys(self._counts, 0)


@dataclass(frozen=True)
class StatsSnapshot:
    """The node's statistics at ``now_s``, as plain numbers.

    Attributes:
        now_s: when it was taken (s, the caller's clock).
        input_hz / output_hz: rates of incoming frames and published results (Hz).
        input_age_s / output_age_s: seconds since the last frame / result (None: never).
        first_input_age_s: seconds since the first frame (None: never).
        uptime_s: seconds since the stats started (first :meth:`NodeStats.start`).
        latency: stage -> :class:`StageSummary`.
        dropped: reason -> frames dropped; skipped: reason -> detections skipped.
        camera_info_size: ``(width, height)`` (px) of the latest ``CameraInfo`` (None: none
            received; :attr:`has_camera_info` says so).
        camera_infos: ``CameraInfo`` messages received since the start.
        frames: images ``received``, sets ``synchronised`` (matched and handed to the worker),
            results ``published``, since the start: where frames get lost.
        clock_skew_s: how far (s) the latest published frame's stamp was ahead of the node's
            clock when it was published (0: not ahead; None: no frame yet).
    """

    now_s: float
    input_hz: float
    output_hz: float
    input_age_s: float | None
    output_age_s: float | None
    first_input_age_s: float | None
    uptime_s: float
    latency: dict[str, StageSummary] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    camera_info_size: tuple[int, int] | None = None
    camera_infos: int = 0
    frames: dict[str, int] = field(default_factory=dict)
    clock_skew_s: float | None = None

    @property
    def has_camera_info(self) -> bool:
        """A ``CameraInfo`` was received."""
        return self.camera_info_size is not None


class NodeStats:
    """What the node measures for its diagnostics.

    Args:
        window_s: window of the input and output rates (s).
        latency_window: samples per latency stage.
        drop_reasons / skip_reasons: reasons listed even while 0.
    """

    def __init__(
        self,
        window_s: float = 5.0,
        latency_window: int = 100,
        drop_reasons: Iterable[str] = (),
        skip_reasons: Iterable[str] = (),
    ) -> None:
        self.inputs = RateMeter(window_s)
        self.outputs = RateMeter(window_s)
        self.latency = LatencyStats(latency_window)
        self.dropped = Counters(drop_reasons)
        self.skipped = Counters(skip_reasons)
        self.camera_info_size: tuple[int, int] | None = None  # see StatsSnapshot
        self.camera_infos = 0
        self.started_s: float | None = None
        self.synchronised = 0  # input sets matched by the synchroniser
        self.clock_skew_s: float | None = None  # see StatsSnapshot

    @property
    def window_s(self) -> float:
        """Window of the input and output rates (s)."""
        return self.inputs.window_s

    @window_s.setter
    def window_s(self, value: float) -> None:
        """A new rate window (s, > 0) for both meters, from the next rate on (events already
        dropped from a shorter window are not recovered)."""
        meter = RateMeter(value)  # the same check as at construction
        self.inputs.window_s = self.outputs.window_s = meter.window_s

    @property
    def has_camera_info(self) -> bool:
        """A ``CameraInfo`` was received (it outlives :meth:`reset`: the node keeps it)."""
        return self.camera_info_size is not None

    def camera_info_received(self, width: int, height: int) -> None:
        """Count a ``CameraInfo`` of ``width`` x ``height`` px; it is now the latest."""
        self.camera_info_size = (int(width), int(height))
        self.camera_infos += 1

    def start(self, now_s: float) -> None:
        """Mark the start of the uptime (only the first call counts, until :meth:`reset`)."""
        if self.started_s is None:
            self.started_s = _check_time("now_s", now_s)

    def snapshot(self, now_s: float) -> StatsSnapshot:
        now = _check_time("now_s", now_s)
        self.start(now)
        return StatsSnapshot(
            now_s=now,
            input_hz=self.inputs.rate(now),
            output_hz=self.outputs.rate(now),
            input_age_s=self.inputs.age(now),
            output_age_s=self.outputs.age(now),
            first_input_age_s=None if self.inputs.first_s is None else now - self.inputs.first_s,
            uptime_s=now - self.started_s,
            latency=self.latency.summaries(),
            dropped=self.dropped.as_dict(),
            skipped=self.skipped.as_dict(),
            camera_info_size=self.camera_info_size,
            camera_infos=self.camera_infos,
            frames={"received": self.inputs.total, "synchronised": self.synchronised,
                    "published": self.outputs.total},
            clock_skew_s=self.clock_skew_s,
        )

    def reset(self) -> None:
        """Forget every count, rate, latency and the uptime (the windows and the latest
        camera_info's size are kept)."""
        for part in (self.inputs, self.outputs, self.latency, self.dropped, self.skipped):
            part.reset()
        self.started_s = None
        self.synchronised = 0
        self.camera_infos = 0
        self.clock_skew_s = None
