"""Per-track temporal filtering of pose estimates: association, outlier rejection, smoothing.

:class:`TrackFilter` keeps one track per object and turns each frame's estimates into
:class:`TrackedPose` results, **one per estimate, in input order**:

* **Association**, per category: cost = distance (m) between the estimate's centre and the
  track's filtered centre; optimal assignment (``scipy.optimize.linear_sum_assignment``); pairs
  farther apart than ``gate_distance_m`` are not associated. An estimate without a track starts
  a new one. Track ids are ints from 1, increasing, never reused (not even after
  :meth:`TrackFilter.reset`), so ``<class>_<id>`` TF frames never change meaning.
* **Symmetry**: the estimate's rotation is replaced by its symmetric equivalent closest to the
  track's rotation (:mod:`ros_pose_estimation.core.symmetry`), so a bottle reported at any angle
  about its axis, or a box flipped by 180 deg, is neither an outlier nor averaged into a flip.
  A box whose estimated extents across an axis agree within ``square_tolerance`` (a square
  footprint, where the estimator's choice of the longer edge as x is a coin toss) also has
  its quarter turns; the estimate's extents are then swapped to the track's axes.
* **Outliers**: an estimate more than ``max_translation_jump_m`` or ``max_rotation_jump_deg``
  from the track is reported with ``outlier=True`` and the track's previous (filtered) pose, and
  leaves the track unchanged. When ``patience`` consecutive outliers agree with each other
  (within the same thresholds), the object really moved: the track re-acquires at the newest
  one (status ``"reacquired"``, smoothing and covariance restart).
* **Smoothing**: translation and size by an exponential moving average with weight
  ``translation_weight`` on the new estimate; rotation by slerp with ``rotation_weight``.
  A fixed weight makes a moving pose lag (in the camera frame, a moving camera moves every
  object): with a finite ``follow_speed_m_s`` / ``follow_speed_deg_s`` the weight rises with
  the track's speed ``v`` (of its velocity: consecutive estimates' differences over time,
  averaged with weight :data:`SPEED_AVERAGE` on the newest, so that noise, which changes
  direction, averages out and motion does not) as
  ``w = 1 - (1 - w0) exp(-v / follow_speed)``, so a still object keeps the full smoothing and a
  moving one is followed.
* **Covariance** ``[6 x 6]`` (x, y, z, rotation about x, y, z of the camera frame, m^2 and
  rad^2, as ``geometry_msgs/PoseWithCovariance``): the mean of ``r r^T`` over the last
  ``covariance_window`` accepted residuals ``r`` (estimate minus the track's pose before the
  update: translation and the rotation vector of ``R_est R_track^T``), so it holds the
  estimates' scatter and the filter's lag. For continuous symmetry the rotation about the
  symmetry axis is unknown: ``pi^2 / 3`` (the variance of a uniform angle) is added along it.
  ``None`` until ``covariance_min_samples`` residuals were collected.
* **Gaps**: an estimate more than ``max_gap_s`` after its track's previous one re-acquires the
  track (same id) without outlier test or averaging: over a long gap the camera may have moved.
* **Expiry**: a track not associated with any estimate for more than ``max_age_s`` is dropped.
* **Low scores**: estimates with ``score < min_score`` touch no track; they are returned
  unfiltered with ``track_id = NO_TRACK`` and status ``"low_score"``.
* **Stamps out of order**: a frame older than the newest processed one (``stamp_ns`` smaller)
  is ignored: its estimates come back unfiltered, ``track_id = NO_TRACK``, status
  ``"out_of_order"``, and no track changes. Equal stamps are processed normally.

Pure numpy/scipy; stamps are integer nanoseconds (the image header's stamp).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from ros_pose_estimation.core.categories import Category
from ros_pose_estimation.core.errors import InputError
from ros_pose_estimation.core.so3 import log_map as _log
from ros_pose_estimation.core.so3 import slerp as _slerp
from ros_pose_estimation.core.symmetry import closest_symmetric
from ros_pose_estimation.pipeline.track_config import TrackFilterConfig
from ros_pose_estimation.pipeline.tracks import (
    NO_TRACK,
    Measurement,
    Track,
    TrackedPose,
    measurement,
)

#: Weight of a new velocity in the track's velocity average (the speed the smoothing follows).
SPEED_AVERAGE = 0.3
#: Variance (rad^2) of an angle uniform on [-pi, pi]: rotation about a continuous symmetry axis.
SYMMETRY_AXIS_VARIANCE = math.pi**2 / 3.0


def _extents_along(m: Measurement, r_sym: np.ndarray) -> np.ndarray:
    """``[3]`` the estimate's extents (m) along the model axes of its symmetric equivalent
    ``r_sym``: swapped where ``r_sym`` is ``m.R`` turned by a quarter turn (a signed
    permutation); as they are for any other equivalent (a half turn, a turn about a
    body of revolution's axis)."""
    turn = m.R.T @ r_sym
    perm = np.round(np.abs(turn))
    if np.allclose(np.abs(turn), perm, atol=1e-6) and np.allclose(perm.sum(0), 1.0):
        return perm.T @ m.size
    return m.size


@dataclass
class _State:
    track: Track
    category: Category
    residuals: deque = field(default_factory=deque)
    pending: Measurement | None = None
    last: Measurement | None = None  # the latest accepted estimate (symmetry-aligned)
    velocity: tuple = (np.zeros(3), np.zeros(3))  # averaged: m/s, deg/s (rotation vector)


class TrackFilter:
    """Associate, reject outliers and smooth pose estimates over time (module docstring).

    Args:
        config: settings; validated here (:class:`ConfigError` when invalid).
    """

    def __init__(self, config: TrackFilterConfig | None = None) -> None:
        self.config = (config or TrackFilterConfig()).validate()
        self._states: dict[int, _State] = {}
        self._next_id = 1
        self._last_stamp: int | None = None

    @property
    def tracks(self) -> list[Track]:
        """Copies of the live tracks, by id."""
        return [
            replace(s.track, R=s.track.R.copy(), t=s.track.t.copy(), size=s.track.size.copy())
            for s in self._states.values()
        ]

    def reconfigure(self, config: TrackFilterConfig) -> None:
        """Use ``config`` from the next :meth:`update` on, keeping the tracks (a changed
        ``covariance_window`` applies to tracks started afterwards). Raises
        :class:`ConfigError` (and keeps the old config) when ``config`` is invalid."""
        self.config = config.validate()

    def reset(self) -> None:
        """Drop every track and the last stamp (ids keep increasing: none is ever reused)."""
        self._states.clear()
        self._last_stamp = None

    def update(self, stamp_ns: int, estimates: Sequence[Any]) -> list[TrackedPose]:
        """Filter one frame's estimates.

        Args:
            stamp_ns: the frame's stamp (ns, >= 0).
            estimates: objects with ``category``, ``R`` ``[3 x 3]``, ``t`` ``[3]`` (m),
                ``size`` ``[3]`` (m) and ``score`` (e.g. ``core.estimation.PoseEstimate``).

        Returns:
            One :class:`TrackedPose` per estimate, in the same order.

        Raises:
            InputError: a negative stamp, an unregistered category, wrong shapes, non-finite
                values or a non-rotation ``R`` (nothing is changed then).
        """
        if int(stamp_ns) != stamp_ns or stamp_ns < 0:
            raise InputError(f"stamp_ns: expected an integer >= 0 (ns), got {stamp_ns!r}")
        stamp = int(stamp_ns)
        meas = [measurement(i, est) for i, est in enumerate(estimates)]
        if self._last_stamp is not None and stamp < self._last_stamp:
            return [self._untracked(m, stamp, "out_of_order") for m in meas]
        self._last_stamp = stamp
        self._expire(stamp)
        out: list[TrackedPose | None] = [None] * len(meas)
        by_class: dict[str, list[int]] = {}
        for i, m in enumerate(meas):
            if m.score < self.config.min_score:
                out[i] = self._untracked(m, stamp, "low_score")
            else:
                by_class.setdefault(m.category.name, []).append(i)
        for name, indices in by_class.items():
            states = [s for s in self._states.values() if s.category.name == name]
            for si, mi in self._associate(states, [meas[i] for i in indices]):
                out[indices[mi]] = self._apply(states[si], meas[indices[mi]], stamp)
        for i, m in enumerate(meas):  # new tracks in input order: ids increase with it
            if out[i] is None:
                out[i] = self._start(m, stamp)
        return out  # type: ignore[return-value]

    # ------------------------------------------------------------------ internals
    def _expire(self, stamp: int) -> None:
        max_age_ns = self.config.max_age_s * 1e9
        for track_id in [
            k for k, s in self._states.items() if stamp - s.track.last_seen_ns > max_age_ns
        ]:
            del self._states[track_id]

    def _associate(self, states: list[_State], meas: list[Measurement]) -> list[tuple[int, int]]:
        if not states or not meas:
            return []
        centres = np.stack([s.track.t for s in states])
        points = np.stack([m.t for m in meas])
        cost = np.linalg.norm(centres[:, None, :] - points[None, :, :], axis=-1)
        gate = self.config.gate_distance_m
        rows, cols = linear_sum_assignment(np.where(cost <= gate, cost, 1e6 + cost))
        return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if cost[r, c] <= gate]

    def _jumps(self, r_ref, t_ref, m: Measurement, category: Category) -> tuple[np.ndarray, bool]:
        """(symmetric equivalent of ``m.R`` closest to ``r_ref``, whether ``m`` jumps)."""
        r_sym = closest_symmetric(r_ref, m.R, category, m.size, self.config.square_tolerance)
        angle = math.degrees(float(np.linalg.norm(_log(r_ref.T @ r_sym))))
        dist = float(np.linalg.norm(m.t - t_ref))
        cfg = self.config
        return r_sym, dist > cfg.max_translation_jump_m or angle > cfg.max_rotation_jump_deg

    def _apply(self, state: _State, m: Measurement, stamp: int) -> TrackedPose:
        track, cfg = state.track, self.config
        gap_s = (stamp - track.last_seen_ns) / 1e9
        track.last_seen_ns = stamp
        r_sym, jump = self._jumps(track.R, track.t, m, state.category)
        m = replace(m, R=r_sym, size=_extents_along(m, r_sym))  # a quarter turn swaps two
        stale = gap_s > cfg.max_gap_s  # the old pose is no reference: re-acquire at once
        if jump or stale:
            pending = state.pending
            if pending is not None and not self._jumps(pending.R, pending.t, m, state.category)[1]:
                track.pending_outliers += 1
            else:
                track.pending_outliers = 1
            state.pending = m
            if track.pending_outliers < cfg.patience and not stale:
                return self._result(state, m, stamp, "outlier")
            track.R, track.t, track.size = r_sym, m.t.copy(), m.size.copy()
            track.updates, track.pending_outliers = 1, 0
            state.residuals.clear()
            state.pending = None
            state.last, state.velocity = replace(m, R=r_sym), (np.zeros(3), np.zeros(3))
            return self._result(state, m, stamp, "reacquired")
        residual = np.concatenate([m.t - track.t, _log(r_sym @ track.R.T)])
        state.residuals.append(residual)
        w_t, w_r = self._weights(state, m, r_sym, gap_s)
        track.t = track.t + w_t * (m.t - track.t)
        track.size = track.size + w_t * (m.size - track.size)
        track.R = _slerp(track.R, r_sym, w_r)
        track.updates += 1
        track.pending_outliers, state.pending = 0, None
        return self._result(state, m, stamp, "tracked")

    def _weights(self, state: _State, m: Measurement, r_sym: np.ndarray,
                 gap_s: float) -> tuple[float, float]:  # fmt: skip
        """The translation and rotation weights of ``m`` (module docstring, Smoothing);
        updates the track's speed."""
        cfg = self.config
        last = state.last
        state.last = replace(m, R=r_sym)
        if last is not None and gap_s > 0.0:
            v = (m.t - last.t) / gap_s
            w = np.degrees(_log(r_sym @ last.R.T)) / gap_s
            a = SPEED_AVERAGE
            state.velocity = ((1 - a) * state.velocity[0] + a * v,
                              (1 - a) * state.velocity[1] + a * w)  # fmt: skip
        speed_t, speed_r = (float(np.linalg.norm(x)) for x in state.velocity)
        w_t = 1.0 - (1.0 - cfg.translation_weight) * math.exp(-speed_t / cfg.follow_speed_m_s)
        w_r = 1.0 - (1.0 - cfg.rotation_weight) * math.exp(-speed_r / cfg.follow_speed_deg_s)
        return w_t, w_r

    def _start(self, m: Measurement, stamp: int) -> TrackedPose:
        track = Track(
            self._next_id, m.category.name, m.R.copy(), m.t.copy(), m.size.copy(), stamp, stamp
        )
        self._next_id += 1
        state = _State(track, m.category, deque(maxlen=self.config.covariance_window))
        state.last = m
        self._states[track.track_id] = state
        return self._result(state, m, stamp, "new")

    def _covariance(self, state: _State) -> np.ndarray | None:
        if len(state.residuals) < self.config.covariance_min_samples:
            return None
        res = np.stack(state.residuals)
        cov = res.T @ res / len(res)
        axes = np.asarray(state.category.continuous_axes, dtype=np.float64).reshape(-1, 3)
        if len(axes) == 1:
            axis = state.track.R @ axes[0]
            cov[3:, 3:] += SYMMETRY_AXIS_VARIANCE * np.outer(axis, axis)
        elif len(axes) >= 2:
            cov[3:, 3:] += SYMMETRY_AXIS_VARIANCE * np.eye(3)
        return cov

    def _result(self, state: _State, m: Measurement, stamp: int, status: str) -> TrackedPose:
        tr = state.track
        return _tracked_pose(tr.category, tr.track_id, tr, m, self._covariance(state), stamp,
                             status)  # fmt: skip

    @staticmethod
    def _untracked(m: Measurement, stamp: int, status: str) -> TrackedPose:
        return _tracked_pose(m.category.name, NO_TRACK, m, m, None, stamp, status)


def _tracked_pose(category: str, track_id: int, pose: Track | Measurement, m: Measurement,
                  covariance: np.ndarray | None, stamp: int, status: str) -> TrackedPose:
    """The result for estimate ``m``: the pose (copies of ``R``, ``t``, ``size``) of ``pose``,
    its track (or the estimate itself), and ``m``'s score, raw estimate, and rotation and
    extents as aligned to the track."""
    return TrackedPose(category, track_id, pose.R.copy(), pose.t.copy(), pose.size.copy(),
                       m.score, covariance, stamp, status == "outlier", m.raw, status,
                       m.R.copy(), m.size.copy())  # fmt: skip
