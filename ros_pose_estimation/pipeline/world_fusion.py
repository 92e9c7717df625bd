"""World-frame fusion of static objects: per track, every estimate in a fixed frame, averaged.

A camera on a moving robot sees a static object from many viewpoints; each frame's estimate has
its own error. :class:`WorldFusion` maps each tracked estimate into a fixed frame (``odom``,
``map``: ``T_fixed_obj = T_fixed_cam @ T_cam_obj``, with ``T_fixed_cam`` from TF at the image
stamp) and fuses all of a track's estimates there:

* **Input**: the :class:`~.tracks.TrackedPose` list of :meth:`.tracking.TrackFilter.update`;
  per pose its **raw estimate** (``pose.raw``: ``R``, ``t``, ``size`` in the camera frame) is
  used, not the track filter's camera-frame smoothing, which lags behind a moving camera; its
  rotation and extents as the filter aligned them to the track (``pose.measured_R``,
  ``measured_size``: a square box's quarter turn, which the filter reads as a symmetry).
  Poses without a track (low score, stamp out of order) are only expressed in the fixed frame.
* **Weights**: robust (Huber, :data:`.fusion_state.HUBER_K` sigmas) in each mean; in the
  rotation mean also ``exp(score / score_temperature)`` per estimate (higher-scoring views
  count more; scores compare within one model). The score says little about depth: the
  centre does not use it. The categories of RGB-D models (``depth_categories``) use
  ``rgbd_score_temperature`` instead (default 0, equal weights: their score does not rank
  rotations).
* **Rotation**: symmetry-aware robust mean (:func:`ros_pose_estimation.core.rotation_averaging.
  robust_mean`: continuous symmetry -> only the axis is averaged; discrete -> the equivalent
  closest to the mean), scale ``rotation_sigma_deg``. **Centre**: robust information mean
  along viewing rays (:func:`ros_pose_estimation.core.point_averaging.robust_ray_mean`): each
  estimate is trusted to ``translation_sigma_m`` across its camera ray and to
  ``depth_sigma_ratio`` of its distance along it (monocular depth), so views from several
  directions triangulate the centre. **Size**: the centre's weighted mean. All over the
  newest ``max_samples`` inliers (:class:`.fusion_state.ObjectState`: refitted from the
  previous fused pose, or streamed in between refits).
* **Outliers**: an estimate farther than ``rotation_gate_deg`` (after symmetry), or whose centre
  is more than ``translation_gate_sigma`` standard deviations (Mahalanobis, the estimate's and
  the fused centre's covariance) from the fused one, is not fused (status ``"outlier"``: the
  fused pose is published). **Re-acquisition**: ``reacquire_frames`` consecutive outliers
  that agree with each other (same gates), one of them off in its centre, mean the object
  moved: the fused state restarts from them (status ``"reacquired"``). Outliers by rotation
  alone (centre in place) need as many frames as the fused pose has inliers (at least
  ``reacquire_frames``, at most ``rotation_reacquire_frames``): a static object's estimates
  flip to a similar-looking pose (a mug with its handle hidden) far more often than it is
  turned in place.
* **Covariance** ``[6 x 6]`` in the fixed frame (x, y, z, rotation about x, y, z; m^2, rad^2,
  as ``geometry_msgs/PoseWithCovariance``): the weighted least-squares covariance of each mean
  (centre: :mod:`~ros_pose_estimation.core.point_averaging`; rotation: the inliers' residual
  scatter, with one prior sample of ``rotation_sigma_deg^2``, times ``sum w^2 / (sum w)^2``),
  so it shrinks as consistent evidence comes in and grows with scatter. It treats the
  frames' errors as independent: an estimator whose errors persist over neighbouring views
  makes it optimistic. About a continuous symmetry axis the rotation is unknown: ``pi^2 / 3``
  is added along it.
* **Re-identification** (``reidentify_s`` > 0): the camera-frame tracker starts a new track id
  when the estimates of a moving camera jump; a new track whose first estimate's centre passes
  the centre gate of a fused object of its category (nearest first) continues that object's
  fused state and publishes under its id (``FusedPose.track_id`` = the object's first track
  id: a stable TF frame), status ``"reidentified"``. Candidates: objects whose track ended at
  most ``reidentify_s`` ago, and objects whose track is alive but has no pose in this frame.
* **Lifetime**: a track's fused state is dropped ``reidentify_s`` after its track ended
  (``live_ids``; at once when re-identification is off).

Pure numpy; stamps in ns, lengths in m, ``T`` ``[4 x 4]`` homogeneous (``T_parent_child``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ros_pose_estimation.core.categories import Category, get_category
from ros_pose_estimation.core.errors import InputError, check_finite, check_shape
from ros_pose_estimation.core.point_averaging import mahalanobis2, point_covariance
from ros_pose_estimation.core.rotation_averaging import symmetric_angle
from ros_pose_estimation.pipeline.fusion_config import WorldFusionConfig
from ros_pose_estimation.pipeline.fusion_state import ObjectState

#: ``FusedPose.status`` values.
FUSION_STATUSES = ("new", "fused", "outlier", "reacquired", "reidentified", "unfused")

#: Ended objects kept for re-identification, at most (the oldest go first).
MAX_RETIRED = 64


@dataclass
class FusedPose:
    """The fused pose of one estimate's object (fields duck-type :class:`~.tracks.TrackedPose`
    for the message builders).

    Attributes:
        category: the tracked pose's. track_id: the object's id: the track id that started
            its fused state (a re-identified object keeps it; else the tracked pose's).
        R: ``[3 x 3]`` model -> fixed frame; t: ``[3]`` centre (m); size: ``[3]`` extents (m).
        score: the frame's estimate's score (not fused).
        covariance: ``[6 x 6]`` (m^2, rad^2; module docstring), or None (unknown).
        stamp_ns: the frame's stamp.
        status: one of :data:`FUSION_STATUSES`.
        samples: inlier estimates behind the pose (0 for ``"unfused"``).
        per_frame: the :class:`~.tracks.TrackedPose` it came from (camera frame).
    """

    category: str
    track_id: int
    R: np.ndarray
    t: np.ndarray
    size: np.ndarray
    score: float
    covariance: np.ndarray | None
    stamp_ns: int
    status: str
    samples: int
    per_frame: Any = None


def check_transform(T: Any, name: str = "T_fixed_cam") -> np.ndarray:
    """``T`` as a float64 ``[4 x 4]`` rigid transform, or :class:`InputError` saying why not."""
    mat = np.asarray(T, dtype=np.float64)
    check_shape(name, mat, (4, 4))
    check_finite(name, mat)
    rot = mat[:3, :3]
    if np.abs(rot @ rot.T - np.eye(3)).max() > 1e-4 or np.linalg.det(rot) <= 0:
        raise InputError(f"{name}: expected a rigid transform (rotation block R R^T = I, det +1)")
    if np.abs(mat[3] - (0.0, 0.0, 0.0, 1.0)).max() > 1e-9:
        raise InputError(f"{name}: expected the last row 0 0 0 1, got {mat[3].tolist()}")
    return mat


def in_frame(poses: Iterable[Any], T_new_old: np.ndarray) -> list:
    """Copies of ``poses`` (dataclasses with ``R``, ``t``, ``covariance``) re-expressed from
    frame *old* into frame *new* (``T_new_old`` ``[4 x 4]``): ``R' = R_T R``,
    ``t' = R_T t + t_T``, covariance ``J C J^T`` with ``J = diag(R_T, R_T)``."""
    T = check_transform(T_new_old, "T_new_old")
    rot, trans = T[:3, :3], T[:3, 3]
    jac = np.zeros((6, 6))
    jac[:3, :3] = jac[3:, 3:] = rot
    out = []
    for p in poses:
        cov = None if p.covariance is None else jac @ np.asarray(p.covariance) @ jac.T
        out.append(replace(p, R=rot @ p.R, t=rot @ p.t + trans, covariance=cov))
    return out


class WorldFusion:
    """Fuse tracked estimates of static objects in a fixed frame (module docstring).

    Args:
        config: settings; validated here (:class:`ConfigError` when invalid).
    """

    def __init__(
        self, config: WorldFusionConfig | None = None, depth_categories: Iterable[str] = ()
    ) -> None:
        self.config = (config or WorldFusionConfig()).validate()
        self._depth_config = self._with_depth_temperature(self.config)
        #: categories estimated by RGB-D models: their rotation mean uses
        #: ``rgbd_score_temperature``
        self.depth_categories = frozenset(depth_categories)
        self._states: dict[int, ObjectState] = {}  # track id -> state (shared when re-identified)
        self._retired: list[tuple[ObjectState, int]] = []  # (state, stamp its track ended)

    def reconfigure(self, config: WorldFusionConfig) -> None:
        """Use ``config`` from the next :meth:`update` on; fused states are kept (a smaller
        ``max_samples`` keeps each object's newest inliers)."""
        self.config = config.validate()
        self._depth_config = self._with_depth_temperature(self.config)
        for state in self._states.values():
            state.resize(self.config.max_samples)

    def reset(self) -> None:
        """Forget every fused state (e.g. the fixed frame changed, time jumped back)."""
        self._states.clear()
        self._retired.clear()

    @property
    def track_ids(self) -> list[int]:
        """Tracks with a fused state."""
        return sorted(self._states)

    def update(
        self,
        stamp_ns: int,
        T_fixed_cam: np.ndarray,
        poses: Sequence[Any],
        live_ids: Iterable[int] | None = None,
    ) -> list[FusedPose]:
        """Fuse one frame's tracked poses.

        Args:
            stamp_ns: the frame's stamp (ns).
            T_fixed_cam: ``[4 x 4]`` camera (optical frame) pose in the fixed frame at the stamp.
            poses: :class:`~.tracks.TrackedPose` list of the frame (camera frame).
            live_ids: the track filter's live track ids; fused states of other tracks are
                dropped (None: keep all).

        Returns:
            One :class:`FusedPose` per pose, in the same order, in the fixed frame.

        Raises:
            InputError: ``T_fixed_cam`` not a rigid ``[4 x 4]`` transform (nothing changed).
        """
        T = check_transform(T_fixed_cam)
        present = {int(p.track_id) for p in poses}
        out = []
        for pose in poses:
            track_id, stamp = int(pose.track_id), int(stamp_ns)
            if track_id < 1:
                (moved,) = in_frame([pose], T)
                size = np.array(pose.size, dtype=np.float64)
                out.append(FusedPose(moved.category, track_id, moved.R, moved.t, size,
                                     float(pose.score), moved.covariance, stamp, "unfused", 0,
                                     pose))  # fmt: skip
                continue
            raw = pose.raw if hasattr(pose.raw, "R") else pose  # the estimator's, not smoothed
            R, t = np.asarray(raw.R, dtype=np.float64), np.asarray(raw.t, dtype=np.float64)
            size = np.asarray(raw.size, dtype=np.float64)
            if pose.measured_R is not None:  # as the track filter aligned it
                R = np.asarray(pose.measured_R, dtype=np.float64)
                size = np.asarray(pose.measured_size, dtype=np.float64)
            sample = self._sample(R, t, size, float(pose.score), T)
            status, state = self._fuse(track_id, get_category(pose.category), sample, present)
            out.append(FusedPose(pose.category, state.object_id, state.R.copy(), state.t.copy(),
                                 state.size.copy(), float(pose.score), state.covariance, stamp,
                                 status, len(state.samples), pose))  # fmt: skip
        if live_ids is not None:
            keep = set(live_ids)
            for track_id in [k for k in self._states if k not in keep]:
                state = self._states.pop(track_id)
                if self.config.reidentify_s > 0 and all(
                        s is not state for s in self._states.values()):  # fmt: skip
                    self._retired.append((state, int(stamp_ns)))
        horizon = int(stamp_ns) - int(self.config.reidentify_s * 1e9)
        self._retired = [(s, t) for s, t in self._retired if t >= horizon][-MAX_RETIRED:]
        return out

    # ------------------------------------------------------------------ internals
    @staticmethod
    def _with_depth_temperature(config: WorldFusionConfig) -> WorldFusionConfig:
        return replace(config, score_temperature=config.rgbd_score_temperature)

    def _config(self, category: Category) -> WorldFusionConfig:
        """The settings an object of ``category`` is fitted with (its score temperature)."""
        return self._depth_config if category.name in self.depth_categories else self.config

    def _sample(self, R: np.ndarray, t: np.ndarray, size, score: float, T: np.ndarray) -> dict:
        """One estimate (camera frame) as a sample in the fixed frame: pose, size, score, its
        viewing ray (unit, fixed frame) and centre error along it (m)."""
        rot = T[:3, :3]
        dist = float(np.sqrt(t @ t))
        ray = rot @ (t / dist if dist > 1e-9 else np.array([0.0, 0.0, 1.0]))
        along = max(self.config.translation_sigma_m, self.config.depth_sigma_ratio * dist)
        return {"R": rot @ R, "t": rot @ t + T[:3, 3], "size": size, "ray": ray,
                "along": along, "score": score}  # fmt: skip

    def _sample_cov(self, sample: dict) -> np.ndarray:
        return point_covariance(sample["ray"], self.config.translation_sigma_m, sample["along"])

    def _differs(self, category: Category, R_ref, t_ref, cov_ref, sample: dict) -> str:
        """Which gate of the pose ``R_ref``, ``t_ref`` (centre covariance ``cov_ref``
        ``[3 x 3]``) ``sample`` fails: ``"t"`` (centre), ``"R"`` (rotation only) or ``""``."""
        cfg = self.config
        r = sample["t"] - t_ref
        if mahalanobis2(r, cov_ref + self._sample_cov(sample)) > cfg.translation_gate_sigma**2:
            return "t"
        angle = symmetric_angle(R_ref, sample["R"], category)
        return "R" if math.degrees(angle) > cfg.rotation_gate_deg else ""

    def _fuse(self, track_id: int, category: Category, sample: dict,
              present: set[int]) -> tuple[str, ObjectState]:  # fmt: skip
        state = self._states.get(track_id)
        found = False
        if state is None or state.category.name != category.name:
            state = self._reidentify(category, sample, present)
            if state is None:
                return "new", self._restart(track_id, category, [sample])
            self._states[track_id], found = state, True
        gate = self._differs(category, state.R, state.t, state.covariance[:3, :3], sample)
        if not gate:
            state.pending.clear()
            state.add(sample, self._config(category))
            return "reidentified" if found else "fused", state
        last = state.pending[-1] if state.pending else None
        if last is None or self._differs(category, last["R"], last["t"],
                                         self._sample_cov(last), sample):  # fmt: skip
            state.pending, state.moved = [sample], False
        else:
            state.pending.append(sample)
        state.moved = state.moved or gate == "t"
        cfg = self.config
        needed = cfg.reacquire_frames
        if not state.moved:  # turned in place, or the estimator flips: ask for more evidence
            needed = max(needed, min(len(state.samples), cfg.rotation_reacquire_frames))
        if len(state.pending) < needed:
            return "outlier", state
        moved = self._restart(track_id, category, state.pending, state.object_id)
        for other, held in list(self._states.items()):  # every track of the object follows it
            if held is state:
                self._states[other] = moved
        return "reacquired", moved

    def _reidentify(self, category: Category, sample: dict,
                    present: set[int]) -> ObjectState | None:  # fmt: skip
        """The fused object of ``category`` nearest ``sample`` within the centre gate among
        the ended ones (taken out of the retired list) and those whose tracks have no pose in
        this frame (``present``: the frame's track ids); None when re-identification is off or
        none passes."""
        if self.config.reidentify_s <= 0:
            return None
        held: dict[int, list[int]] = {}
        for tid, st in self._states.items():
            held.setdefault(id(st), []).append(tid)
        live = {id(st): st for st in self._states.values()
                if not any(t in present for t in held[id(st)])}  # fmt: skip
        candidates = [*live.values(), *(st for st, _ in self._retired)]
        best, best_d2 = None, self.config.translation_gate_sigma**2
        for st in candidates:
            if st.category.name != category.name:
                continue
            d2 = mahalanobis2(sample["t"] - st.t, st.covariance[:3, :3] + self._sample_cov(sample))
            if d2 <= best_d2:
                best, best_d2 = st, d2
        if best is not None:
            self._retired = [(st, t) for st, t in self._retired if st is not best]
        return best

    def _restart(self, track_id: int, category: Category, samples: list[dict],
                 object_id: int | None = None) -> ObjectState:  # fmt: skip
        """A new state from ``samples`` (fitted from the newest one) for the object
        ``object_id`` (None: a new object, ``track_id``)."""
        state = ObjectState(category, samples, self._config(category), phase=track_id)
        state.object_id = track_id if object_id is None else object_id
        self._states[track_id] = state
        return state
