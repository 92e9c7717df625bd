"""Per-instance tracks through a recording: which observations are the same physical object.

Frame by frame, observations are assigned to the open tracks by the Hungarian algorithm
(``scipy.optimize.linear_sum_assignment``) on a cost that only allows the same category:

* **3D** when the observation and the track both have a position in the fixed frame (object
  depth + camera pose from ``/tf``): cost ``d / gate`` for a distance ``d <= gate`` between
  the observation and the track's position (mean of its last ``position_window`` positions),
  with ``gate = max(gate_m, gate_size_factor * size)`` and ``size`` the observation's metric
  extent: the centroid of a large object's visible surface moves as the camera goes round it.
  Objects are static in the fixed frame, so a track stays matchable for ``max_gap_3d``
  frames unseen: an object that leaves the view and comes back keeps its id.
* **2D** otherwise (no TF, no depth, an observation without valid depth): cost ``1 - IoU``
  between the box and the track's last box for ``IoU >= iou_gate``, when the track was seen
  within the last ``max_gap_2d`` frames.

Observations whose identity the source already knows (the first-box follower's index) keep
it as their track id without association. Unmatched observations open new tracks. Tracks seen
in fewer than ``min_track_frames`` frames are marked ``short`` in the summaries (kept: the
consumer decides).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from ros_pose_estimation.core.errors import ConfigError

_INFEASIBLE = 1e9


@dataclass(frozen=True)
class TrackerConfig:
    """Association settings: distances in metres, gaps in frames."""

    gate_m: float = 0.10
    gate_size_factor: float = 0.5
    iou_gate: float = 0.2
    max_gap_3d: int = 300
    max_gap_2d: int = 5
    position_window: int = 3
    min_track_frames: int = 3

    def validate(self) -> None:
        if not self.gate_m > 0:
            raise ConfigError(f"tracking.gate_m: expected metres > 0, got {self.gate_m}")
        if not self.gate_size_factor >= 0:
            raise ConfigError("tracking.gate_size_factor: expected >= 0")
        if not 0 < self.iou_gate <= 1:
            raise ConfigError(f"tracking.iou_gate: expected (0, 1], got {self.iou_gate}")
        for name in ("max_gap_3d", "max_gap_2d", "position_window", "min_track_frames"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"tracking.{name}: expected an integer >= 1")


@dataclass
class TrackSummary:
    """One instance: ``track_id``, ``category``, the frames it was seen in (count, first,
    last), its mean position in the fixed frame (m, None without 3D) and ``short``."""

    track_id: int
    category: str
    n_frames: int
    first_frame: int
    last_frame: int
    position_fixed: list[float] | None
    short: bool

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class _Track:
    track_id: int
    category: str
    last_box: np.ndarray
    last_frame: int
    frames: list[int] = field(default_factory=list)
    positions: list[np.ndarray] = field(default_factory=list)

    def position(self, window: int) -> np.ndarray | None:
        return np.mean(self.positions[-window:], axis=0) if self.positions else None


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two ``[x0, y0, x1, y1]`` boxes (0 when either is empty)."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


class InstanceTracker:
    """Assigns track ids frame by frame (see the module docstring)."""

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self.config.validate()
        self._tracks: dict[int, _Track] = {}

    def _cost(self, track: _Track, frame: int, category: str, box, position, size) -> float:
        cfg = self.config
        if track.category != category:
            return _INFEASIBLE
        gap = frame - track.last_frame
        mean = track.position(cfg.position_window)
        if mean is not None and position is not None:
            dist = float(np.linalg.norm(mean - position))
            gate = max(cfg.gate_m, cfg.gate_size_factor * (size or 0.0))
            return dist / gate if dist <= gate and gap <= cfg.max_gap_3d else _INFEASIBLE
        if gap <= cfg.max_gap_2d:
            iou = box_iou(track.last_box, box)
            return 1.0 - iou if iou >= cfg.iou_gate else _INFEASIBLE
        return _INFEASIBLE

    def update(
        self,
        frame: int,
        categories: Sequence[str],
        boxes: Sequence[np.ndarray],
        positions: Sequence[np.ndarray | None],
        sizes: Sequence[float | None] | None = None,
        known: Sequence[int] | None = None,
    ) -> list[int]:
        """Track ids of one frame's observations (same order as the inputs).

        Args:
            frame: frame index, increasing between calls.
            categories, boxes, positions: per observation: category, ``[4]`` box (px) and
                ``[3]`` position in the fixed frame (m) or None.
            sizes: per observation, its metric extent (m; e.g. the box's longer side at the
                object's depth) or None.
            known: per observation, an identity the source already knows (>= 0, e.g. the
                first-box follower's index): used as the track id, no association; -1: none.
        """
        n = len(categories)
        sizes = list(sizes) if sizes is not None else [None] * n
        ids = [int(k) if k >= 0 else -1 for k in known] if known is not None else [-1] * n
        for j in range(n):
            if ids[j] >= 0:
                self._extend(
                    self._track(ids[j], categories[j], boxes[j], frame),
                    frame,
                    boxes[j],
                    positions[j],
                )
        free = [j for j in range(n) if ids[j] < 0]
        open_tracks = [t for t in self._tracks.values() if t.last_frame < frame]
        if open_tracks and free:
            cost = np.array(
                [
                    [
                        self._cost(t, frame, categories[j], boxes[j], positions[j], sizes[j])
                        for j in free
                    ]
                    for t in open_tracks
                ]
            )
            for ti, oj in zip(*linear_sum_assignment(cost), strict=True):
                if cost[ti, oj] < _INFEASIBLE:
                    j = free[oj]
                    ids[j] = open_tracks[ti].track_id
                    self._extend(open_tracks[ti], frame, boxes[j], positions[j])
        for j in range(n):
            if ids[j] < 0:
                track = self._track(
                    max(self._tracks, default=-1) + 1, categories[j], boxes[j], frame
                )
                self._extend(track, frame, boxes[j], positions[j])
                ids[j] = track.track_id
        return ids

    def _track(self, track_id: int, category: str, box, frame: int) -> _Track:
        if track_id not in self._tracks:
            self._tracks[track_id] = _Track(track_id, category, np.asarray(box), frame)
        return self._tracks[track_id]

    @staticmethod
    def _extend(track: _Track, frame: int, box, position) -> None:
        track.last_box = np.asarray(box, dtype=np.float64)
        track.last_frame = frame
        track.frames.append(frame)
        if position is not None:
            track.positions.append(np.asarray(position, dtype=np.float64))

    def summaries(self) -> list[TrackSummary]:
        out = []
        for t in sorted(self._tracks.values(), key=lambda t: t.track_id):
            mean = np.mean(t.positions, axis=0).tolist() if t.positions else None
            out.append(
                TrackSummary(
                    t.track_id,
                    t.category,
                    len(t.frames),
                    t.frames[0],
                    t.frames[-1],
                    mean,
                    len(t.frames) < self.config.min_track_frames,
                )
            )
        return out
