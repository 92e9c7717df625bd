"""What the per-track filter hands out and takes in: tracked poses, track snapshots, checked
estimates.

* :class:`TrackedPose`: the filter's result for one estimate (:data:`STATUSES` says what
  happened to it; :data:`NO_TRACK` marks a pose that belongs to no track).
* :class:`Track`: a snapshot of one live track (:attr:`~.tracking.TrackFilter.tracks`).
* :func:`measurement`: one estimate (duck-typed: ``category``, ``R``, ``t``, ``size``,
  ``score``) checked into a :class:`Measurement`, or :class:`InputError` saying what is wrong.

Pure numpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ros_pose_estimation.core.categories import Category, UnknownCategoryError, get_category
from ros_pose_estimation.core.errors import InputError, check_finite, check_shape

#: ``TrackedPose.track_id`` of an estimate that belongs to no track.
NO_TRACK = -1

#: ``TrackedPose.status`` values.
STATUSES = ("new", "tracked", "outlier", "reacquired", "low_score", "out_of_order")


@dataclass
class TrackedPose:
    """The filter's result for one estimate.

    Attributes:
        category: category name.
        track_id: the object's track (>= 1, stable across frames), or :data:`NO_TRACK`.
        R: ``[3 x 3]`` filtered rotation model -> camera; t: ``[3]`` centre in the camera (m).
        size: ``[3]`` filtered extents (m) along the model axes.
        score: the estimate's score (not filtered; an outlier keeps its own low-trust score).
        covariance: ``[6 x 6]`` (x, y, z, rot x, rot y, rot z; m^2, rad^2) or None.
        stamp_ns: stamp of the frame (ns).
        outlier: the estimate was rejected; ``R``, ``t``, ``size`` are the track's previous pose.
        raw: the estimate as given.
        status: one of :data:`STATUSES`.
        measured_R: ``[3 x 3]`` the estimate's rotation as the filter aligned it, its
            symmetric equivalent nearest the track; measured_size: ``[3]`` its extents along
            those axes (a square box's quarter turn swaps two). None: take ``raw``'s.
    """

    category: str
    track_id: int
    R: np.ndarray
    t: np.ndarray
    size: np.ndarray
    score: float
    covariance: np.ndarray | None
    stamp_ns: int
    outlier: bool
    raw: Any
    status: str = "tracked"
    measured_R: np.ndarray | None = None
    measured_size: np.ndarray | None = None

    @property
    def tracked(self) -> bool:
        """True when the pose belongs to a track (``track_id >= 1``)."""
        return self.track_id != NO_TRACK


@dataclass
class Track:
    """A snapshot of one track (see :attr:`.tracking.TrackFilter.tracks`).

    Attributes:
        track_id, category: identity; R ``[3 x 3]``, t ``[3]`` (m), size ``[3]`` (m): filtered
        state; first_ns / last_seen_ns: stamps of its first and latest associated estimate;
        updates: estimates accepted since it started or re-acquired; pending_outliers:
        consecutive consistent outliers so far.
    """

    track_id: int
    category: str
    R: np.ndarray
    t: np.ndarray
    size: np.ndarray
    first_ns: int
    last_seen_ns: int
    updates: int = 1
    pending_outliers: int = 0


@dataclass
class Measurement:
    """One checked estimate: its category, pose, size, score and the estimate itself."""

    category: Category
    R: np.ndarray
    t: np.ndarray
    size: np.ndarray
    score: float
    raw: Any


def measurement(index: int, est: Any) -> Measurement:
    """Validate one estimate (duck-typed on category, R, t, size, score)."""
    name = f"estimates[{index}]"
    try:
        category = get_category(str(est.category))
    except UnknownCategoryError as exc:
        raise InputError(f"{name}: {exc} (register it so its symmetry is known)") from None
    rot = np.asarray(est.R, dtype=np.float64)
    trans = np.asarray(est.t, dtype=np.float64)
    size = np.asarray(est.size, dtype=np.float64)
    check_shape(f"{name}.R", rot, (3, 3))
    check_shape(f"{name}.t", trans, (3,))
    check_shape(f"{name}.size", size, (3,))
    for part, values in (("R", rot), ("t", trans), ("size", size)):
        check_finite(f"{name}.{part}", values)
    if np.abs(rot @ rot.T - np.eye(3)).max() > 1e-4 or np.linalg.det(rot) <= 0.0:
        raise InputError(f"{name}.R: expected a rotation matrix (R R^T = I, det +1)")
    if np.any(size < 0):
        raise InputError(f"{name}.size: expected extents >= 0 (m), got {size.tolist()}")
    score = float(est.score)
    if not math.isfinite(score):
        raise InputError(f"{name}.score: expected a finite score, got {score}")
    return Measurement(category, rot, trans, size, score, est)
