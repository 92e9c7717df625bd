"""Settings of the per-track filter (:class:`~.tracking.TrackFilter`), one table.

Each field's meaning, unit and range are written once, in its metadata; the node declares every
field as the parameter ``tracking.<name>`` with that description and range
(:mod:`ros_pose_estimation.node.params`), and :meth:`TrackFilterConfig.validate` also checks
the fields against each other. Pure python.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ros_pose_estimation.core.errors import ConfigError


def _setting(default: float | int, doc: str, low: float | None, high: float | None = None):
    """A :class:`TrackFilterConfig` field: its default, what it means (with units) and the range
    a single value may take (``validate`` also checks the fields against each other). The node
    declares each as the parameter ``tracking.<name>`` with this description and range."""
    return field(default=default, metadata={"doc": doc, "range": (low, high)})


@dataclass
class TrackFilterConfig:
    """Settings of :class:`~.tracking.TrackFilter`; each field's meaning and range are in its
    metadata (``dataclasses.fields(TrackFilterConfig)[i].metadata["doc"]`` / ``["range"]``), the
    one place they are written (the node's ``tracking.*`` parameter table is built from them).

    A filter may be given a new config while it runs (:meth:`~.tracking.TrackFilter.reconfigure`):
    the tracks are kept, the next frame uses the new values.
    """

    gate_distance_m: float = _setting(
        0.3,
        "largest centre distance (m) at which an estimate joins a track; farther ones "
        "start a new track",
        0.001,
        100.0,
    )
    max_translation_jump_m: float = _setting(
        0.15,
        "an associated estimate whose centre is farther (m) from the track is an outlier "
        "(.inf: no check; must be below gate_distance_m)",
        0.001,
    )
    max_rotation_jump_deg: float = _setting(
        45.0,
        "an associated estimate whose rotation differs more (deg, after symmetry) from "
        "the track is an outlier (.inf: no check)",
        0.1,
    )
    patience: int = _setting(
        3,
        "consecutive mutually consistent outliers (frames) after which the track re-acquires "
        "at the newest one (1: at once, no rejection)",
        1,
        1000,
    )
    translation_weight: float = _setting(
        0.5,
        "weight of a new estimate in the translation/size moving average (1: no smoothing; "
        "0.5 divides a static pose's noise variance by 3)",
        0.001,
        1.0,
    )
    rotation_weight: float = _setting(
        0.5, "weight of a new estimate in the rotation slerp (1: no smoothing)", 0.001, 1.0
    )
    follow_speed_m_s: float = _setting(
        math.inf,
        "speed (m/s, camera frame, from the track's consecutive estimates) at which the "
        "translation/size weight has risen 63 % of the way from translation_weight to 1: a "
        "moving camera or object is followed with less lag, a still one stays smoothed "
        "(.inf: the fixed weight)",
        1e-6,
    )
    follow_speed_deg_s: float = _setting(
        math.inf,
        "the same for the rotation weight: angular speed (deg/s) at which it has risen 63 % of "
        "the way from rotation_weight to 1 (.inf: the fixed weight)",
        1e-6,
    )
    square_tolerance: float = _setting(
        0.05,
        "a box whose estimated extents across an axis agree within this share of the larger "
        "(a square footprint) is also symmetric under a quarter turn about it: an estimate "
        "turned by 90 deg is neither an outlier nor a flip of the published pose, and its "
        "extents are swapped to match (0: the category's symmetries only)",
        0.0,
        0.5,
    )
    max_age_s: float = _setting(
        3.0,
        "a track with no associated estimate for longer (s) is dropped (3 s: a CPU estimator "
        "at ~1 Hz, or an object missed by the detector for a few frames, keeps its id)",
        0.01,
        3600.0,
    )
    max_gap_s: float = _setting(
        0.5,
        "an estimate this long (s) after its track's previous one re-acquires the track "
        "(same id, no outlier test or averaging: the camera may have moved; a ~1 Hz CPU "
        "estimator then publishes raw estimates with stable ids)",
        0.001,
        3600.0,
    )
    min_score: float = _setting(
        0.0, "estimates with a lower score are published unfiltered and start no track", 0.0, 1.0
    )
    covariance_min_samples: int = _setting(
        5, "residuals collected before a pose covariance is reported (>= 2)", 2, 10000
    )
    covariance_window: int = _setting(
        30,
        "newest residuals the pose covariance is computed from (new tracks use a changed value)",
        2,
        10000,
    )

    def validate(self) -> TrackFilterConfig:
        """Return ``self`` if every value is usable, else raise :class:`ConfigError` saying why."""

        def need(ok: bool, name: str, expected: str) -> None:
            if not ok:
                got = getattr(self, name)
                raise ConfigError(f"tracking.{name}: expected {expected}, got {got!r}")

        def number(name: str) -> float:
            value = getattr(self, name)
            need(isinstance(value, (int, float)) and not isinstance(value, bool), name, "a number")
            need(not math.isnan(value), name, "a number, not NaN")
            return float(value)

        gate = number("gate_distance_m")
        need(0.0 < gate < math.inf, "gate_distance_m", "a finite distance > 0 (m)")
        jump = number("max_translation_jump_m")
        need(
            0.0 < jump < gate or jump == math.inf,
            "max_translation_jump_m",
            f"0 < value < gate_distance_m ({gate} m), or inf to disable",
        )
        need(
            number("max_rotation_jump_deg") > 0.0,
            "max_rotation_jump_deg",
            "an angle > 0 (deg), or inf to disable",
        )
        for name in ("translation_weight", "rotation_weight"):
            need(0.0 < number(name) <= 1.0, name, "a weight in (0, 1] (0 would freeze the track)")
        for name in ("follow_speed_m_s", "follow_speed_deg_s"):
            need(number(name) > 0.0, name, "a speed > 0, or inf for the fixed weight")
        need(0.0 < number("max_age_s") < math.inf, "max_age_s", "a finite time > 0 (s)")
        need(0.0 < number("max_gap_s") < math.inf, "max_gap_s", "a finite time > 0 (s)")
        need(0.0 <= number("min_score") <= 1.0, "min_score", "a score in [0, 1]")
        integers = (("patience", 1), ("covariance_min_samples", 2), ("covariance_window", 2))
        for name, low in integers:
            value = getattr(self, name)
            need(
                isinstance(value, int) and not isinstance(value, bool) and value >= low,
                name,
                f"an integer >= {low}",
            )
        need(
            self.covariance_window >= self.covariance_min_samples,
            "covariance_window",
            f"an integer >= covariance_min_samples ({self.covariance_min_samples})",
        )
        return self
