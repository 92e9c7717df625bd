"""Node statistics -> ``diagnostic_msgs/DiagnosticArray`` (for ``/diagnostics``).

One ``DiagnosticStatus`` named ``"<node_name>: pose estimation"`` with ``hardware_id`` =
``node_name`` and these values (all strings, numbers with the unit in the key; "-" = none yet):

* ``input_rate_hz``, ``output_rate_hz``: frames in, results published (one per processed frame,
  empty arrays included), over the stats window;
* ``time_since_input_s``, ``time_since_output_s``, ``uptime_s``;
* ``camera_info``: ``received`` / ``missing``;
* ``frames_received``, ``frames_synchronised``, ``frames_published``: images in, matched input
  sets handed to the worker, results out, since activation (where frames get lost: transport
  before ``received``, the synchroniser between the first two, the worker after);
* ``clock_skew_s``: how far the latest published frame's stamp was ahead of the node's clock
  (0.000 when not ahead; the true offset is at least this);
* per latency stage ``<stage>``: ``latency_<stage>_median_ms``, ``_p90_ms``, ``_max_ms`` and
  ``latency_<stage>_count``;
* ``dropped_frames_total`` and ``dropped_frames_<reason>``; ``skipped_detections_total`` and
  ``skipped_detections_<reason>``.

Level (the worst rule that applies; the message lists every reason, or says all is well):

* **ERROR**: frames arrive (the last less than ``input_timeout_s`` ago) but nothing was
  published for more than ``error_timeout_s`` since the later of the first frame and the last
  result: the pipeline is stuck or fails on every frame.
* **WARN**: no ``camera_info`` more than ``camera_info_timeout_s`` after the first frame; no
  frame for ``input_timeout_s`` (or none at all once the node has run that long); frames arrive
  but no result for ``output_timeout_s``; the p90 latency of ``latency_stage`` above
  ``max_latency_ms`` (when set); image stamps ahead of the node's clock (clock skew).
* **OK** otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ros_pose_estimation.conversions.poses import time_msg
from ros_pose_estimation.core.errors import ConfigError
from ros_pose_estimation.node.stats import StatsSnapshot

OK, WARN, ERROR = 0, 1, 2
_LEVEL_BYTES = {OK: b"\x00", WARN: b"\x01", ERROR: b"\x02"}


@dataclass(frozen=True)
class DiagnosticRules:
    """Thresholds of the levels (module docstring), all in seconds unless stated."""

    camera_info_timeout_s: float = 5.0
    input_timeout_s: float = 5.0
    output_timeout_s: float = 5.0
    error_timeout_s: float = 30.0
    max_latency_ms: float | None = None
    latency_stage: str = "total"

    def validate(self) -> DiagnosticRules:
        for name in (
            "camera_info_timeout_s",
            "input_timeout_s",
            "output_timeout_s",
            "error_timeout_s",
        ):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0 < value < math.inf):
                raise ConfigError(f"{name}: expected a finite time > 0 (s), got {value!r}")
        if self.error_timeout_s < self.output_timeout_s:
            raise ConfigError(
                f"error_timeout_s ({self.error_timeout_s}) must be >= output_timeout_s "
                f"({self.output_timeout_s}): ERROR is the longer silence"
            )
        if self.max_latency_ms is not None and not self.max_latency_ms > 0:
            raise ConfigError(f"max_latency_ms: expected None or > 0, got {self.max_latency_ms}")
        return self


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def diagnostic_level(stats: StatsSnapshot, rules: DiagnosticRules) -> tuple[int, list[str]]:
    """``(level, reasons)``: :data:`OK`/:data:`WARN`/:data:`ERROR` and why (module docstring)."""
    level, reasons = OK, []

    def flag(new_level: int, reason: str) -> None:
        nonlocal level
        level = max(level, new_level)
        reasons.append(reason)

    first, last_in, last_out = stats.first_input_age_s, stats.input_age_s, stats.output_age_s
    if first is not None and not stats.has_camera_info and first > rules.camera_info_timeout_s:
        flag(WARN, f"no camera_info {first:.1f} s after the first image")
    if last_in is None:
        if stats.uptime_s > rules.input_timeout_s:
            flag(WARN, f"no image received in {stats.uptime_s:.1f} s")
    elif last_in > rules.input_timeout_s:
        flag(WARN, f"no image for {last_in:.1f} s")
    else:  # images arrive: are results published?
        silent = first if last_out is None else min(first, last_out)
        if silent > rules.error_timeout_s:
            flag(ERROR, f"images arrive but nothing was published for {silent:.1f} s")
        elif silent > rules.output_timeout_s:
            flag(WARN, f"images arrive but nothing was published for {silent:.1f} s")
    if stats.clock_skew_s:
        flag(WARN, f"clock skew: image stamps {stats.clock_skew_s:.3f} s ahead of this node's "
             "clock")
    latency = stats.latency.get(rules.latency_stage)
    if rules.max_latency_ms is not None and latency is not None:
        if latency.p90_ms > rules.max_latency_ms:
            flag(
                WARN,
                f"{rules.latency_stage} latency p90 {latency.p90_ms:.0f} ms > "
                f"{rules.max_latency_ms:.0f} ms",
            )
    return level, reasons


def diagnostic_array(stamp, *, node_name: str, stats: StatsSnapshot, rules=None):
    """One ``DiagnosticStatus`` of the node's health -> ``diagnostic_msgs.msg.DiagnosticArray``.

    Args:
        stamp: the header stamp (``builtin_interfaces/Time`` or int ns; the node's clock).
        node_name: the node's name (status name and ``hardware_id``).
        stats: :meth:`ros_pose_estimation.node.stats.NodeStats.snapshot` at that time.
        rules: :class:`DiagnosticRules` (None: defaults).

    Raises:
        ConfigError: invalid rules.
    """
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

    rules = (rules or DiagnosticRules()).validate()
    level, reasons = diagnostic_level(stats, rules)
    values = {
        "input_rate_hz": _fmt(stats.input_hz),
        "output_rate_hz": _fmt(stats.output_hz),
        "time_since_input_s": _fmt(stats.input_age_s),
        "time_since_output_s": _fmt(stats.output_age_s),
        "uptime_s": _fmt(stats.uptime_s, 1),
        "camera_info": "received" if stats.has_camera_info else "missing",
        "camera_info_size": "-" if stats.camera_info_size is None else "{}x{}".format(
            *stats.camera_info_size),
        "camera_infos_received": str(stats.camera_infos),
        "clock_skew_s": _fmt(stats.clock_skew_s, 3),
    }
    for name, n in stats.frames.items():
        values[f"frames_{name}"] = str(n)
    for stage, summary in stats.latency.items():
        values[f"latency_{stage}_median_ms"] = _fmt(summary.median_ms, 1)
        values[f"latency_{stage}_p90_ms"] = _fmt(summary.p90_ms, 1)
        values[f"latency_{stage}_max_ms"] = _fmt(summary.max_ms, 1)
        values[f"latency_{stage}_count"] = str(summary.count)
    for prefix, counts in (
        ("dropped_frames", stats.dropped),
        ("skipped_detections", stats.skipped),
    ):
        values[f"{prefix}_total"] = str(sum(counts.values()))
        for reason, n in counts.items():
            values[f"{prefix}_{reason}"] = str(n)
    status = DiagnosticStatus(
        level=_LEVEL_BYTES[level],
        name=f"{node_name}: pose estimation",
        hardware_id=node_name,
        message="; ".join(reasons)
        if reasons
        else (f"ok: {stats.input_hz:.1f} Hz in, {stats.output_hz:.1f} Hz out"),
        values=[KeyValue(key=k, value=v) for k, v in values.items()],
    )
    msg = DiagnosticArray(status=[status])
    msg.header.stamp = time_msg(stamp)
    return msg
