"""Log throttling per key (one key per drop or skip reason), with the repeats counted.

rclpy's ``throttle_duration_sec`` throttles per *call site*: one ``warning(...)`` line that
reports every drop reason would show the first reason met and hide the others for the whole
period. :class:`KeyedThrottle` keeps one period per key instead and counts what it held back,
so the next line can say how many were not shown. Pure python; times come from the caller
(seconds, e.g. ``time.monotonic()``).
"""

from __future__ import annotations

import math

from ros_pose_estimation.core.errors import ConfigError


class KeyedThrottle:
    """At most one report per key every ``period_s`` seconds.

    Args:
        period_s: seconds between two reports of the same key (>= 0; 0 reports everything).
    """

    def __init__(self, period_s: float) -> None:
        if not 0.0 <= float(period_s) < math.inf:
            raise ConfigError(f"period_s: expected a finite time >= 0 (s), got {period_s}")
        self.period_s = float(period_s)
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def due(self, key: str, now_s: float) -> int | None:
        """Whether ``key`` may be reported at ``now_s``: None (held back, counted), or the
        number of reports of ``key`` held back since its previous report (report now)."""
        last = self._last.get(key)
        if last is not None and 0.0 <= now_s - last < self.period_s:
            self._held[key] = self._held.get(key, 0) + 1
            return None
        self._last[key] = now_s
        return self._held.pop(key, 0)
