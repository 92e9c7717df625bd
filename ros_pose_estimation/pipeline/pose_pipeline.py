"""One frame in, tracked poses out: the node's per-frame work without ROS.

The node (:mod:`ros_pose_estimation.node.pose_node`) converts messages to arrays and calls
:meth:`PosePipeline.process`; everything it does per frame that is not message plumbing lives
here, so it is tested without a ROS graph: batch the frame's detections per estimator
(:mod:`.estimators`), isolate the detection that breaks a batch, apply ``max_objects`` /
``min_score``, then the per-track filter (:mod:`.tracking`), and, when enabled
(:meth:`PosePipeline.enable_fusion`), the world-frame fusion of static objects
(:mod:`.world_fusion`: :meth:`PosePipeline.fuse`, given the camera's pose in the fixed frame).

A bad detection is skipped and counted by reason in :attr:`FrameResult.skipped`, never raised,
so one bad box does not cost the frame.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ros_pose_estimation.core.camera import Intrinsics
from ros_pose_estimation.core.errors import (
    ConfigError,
    DepthError,
    InputError,
    PoseEstimationError,
)
from ros_pose_estimation.core.estimation import Detection, Estimator, PoseEstimate
from ros_pose_estimation.pipeline.fusion_config import WorldFusionConfig
from ros_pose_estimation.pipeline.track_config import TrackFilterConfig
from ros_pose_estimation.pipeline.tracking import TrackFilter
from ros_pose_estimation.pipeline.tracks import TrackedPose
from ros_pose_estimation.pipeline.world_fusion import FusedPose, WorldFusion

#: Why the pipeline skipped a detection (on top of the conversion's reasons).
PIPELINE_SKIPS = ("no_model", "over_max_objects", "bad_input", "no_depth", "failed", "low_score")


@dataclass
class FrameResult:
    """What :meth:`PosePipeline.process` made of one frame.

    Attributes:
        poses: tracked poses of the published detections, in detection order.
        estimates: the raw estimates behind ``poses`` (same order).
        skipped: reason (:data:`PIPELINE_SKIPS`) -> detections skipped in this frame.
        timings: stage -> milliseconds (``estimate``: all estimator calls, ``track``, ``total``),
            plus the estimators' own per-stage figures summed over calls (``nemo.refine``...).
        errors: one line per skipped detection that raised.
        notes: per skip reason met, a line describing its first skipped detection (the
            node logs one throttled warning per reason).
        warnings: one line per published estimate that carries a ``warning`` (solved from
            less evidence than usual, e.g. CSE without enough depth); the node logs them,
            throttled.
        fused: with fusion, after :meth:`PosePipeline.fuse`: one fused pose per entry of
            ``poses`` (fixed frame), else None.
        T_fixed_cam: ``[4 x 4]`` the camera pose in the fixed frame ``fused`` used, else None.
    """

    poses: list[TrackedPose] = field(default_factory=list)
    estimates: list[PoseEstimate] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PIPELINE_SKIPS, 0))
    timings: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    fused: list[FusedPose] | None = None
    T_fixed_cam: np.ndarray | None = None

    def skip(self, reason: str, text: str) -> None:
        """Count one detection skipped for ``reason`` (:data:`PIPELINE_SKIPS`), noting
        ``text`` if it is the first of that reason."""
        self.skipped[reason] += 1
        self.notes.setdefault(reason, text)


class PosePipeline:
    """Estimate and track the poses of one frame's detections.

    Args:
        estimators: category -> estimator (:func:`.estimators.load_estimators`).
        max_objects: largest number of detections estimated per frame (the highest-priority
            ones: input order, i.e. the detector's); the rest are skipped (``over_max_objects``)
            so a crowded frame cannot blow up latency or memory.
        min_score: estimates with a lower score (:class:`PoseEstimate`) are not published.
        tracking: settings of the per-track filter (None: defaults).
        category_min_score: category -> its own threshold on top of ``min_score`` (an estimate
            is published when its score reaches the larger of the two; scores of different
            models are not comparable); a category not named has none.
    """

    def __init__(
        self,
        estimators: Mapping[str, Estimator],
        max_objects: int = 20,
        min_score: float = 0.0,
        tracking: TrackFilterConfig | None = None,
        category_min_score: Mapping[str, float] | None = None,
    ) -> None:
        self.estimators = dict(estimators)
        self.tracker = TrackFilter(tracking or TrackFilterConfig())
        self.fusion: WorldFusion | None = None
        self.category_min_score: dict[str, float] = {}
        self.update_settings(max_objects, min_score, category_min_score=category_min_score)

    def enable_fusion(self, config: WorldFusionConfig | None) -> None:
        """Start world-frame fusion with ``config`` (a fresh state), or stop it (None); the
        categories of depth-based estimators fuse with ``config.rgbd_score_temperature``."""
        depth = [c for c, e in self.estimators.items() if getattr(e, "needs_depth", False)]
        self.fusion = None if config is None else WorldFusion(config, depth)

    def fuse(self, result: FrameResult, stamp_ns: int, T_fixed_cam: np.ndarray) -> None:
        """Fuse ``result.poses`` (of :meth:`process`) given ``T_fixed_cam`` ``[4 x 4]``, the
        camera's pose in the fixed frame at ``stamp_ns``: sets ``result.fused``,
        ``result.T_fixed_cam`` and the ``fuse`` timing (ms). Raises InputError for a bad
        transform, ConfigError when fusion is not enabled."""
        if self.fusion is None:
            raise ConfigError("world-frame fusion is not enabled (enable_fusion)")
        start = time.perf_counter()
        live = [t.track_id for t in self.tracker.tracks]
        result.fused = self.fusion.update(int(stamp_ns), T_fixed_cam, result.poses, live)
        result.T_fixed_cam = np.asarray(T_fixed_cam, dtype=np.float64)
        result.timings["fuse"] = 1e3 * (time.perf_counter() - start)

    def update_settings(
        self,
        max_objects: int | None = None,
        min_score: float | None = None,
        tracking: TrackFilterConfig | None = None,
        fusion: WorldFusionConfig | None = None,
        category_min_score: Mapping[str, float] | None = None,
    ) -> None:
        """Change the per-frame settings (None: keep); the next :meth:`process` uses them and the
        tracks (and fused states) are kept. Raises :class:`ConfigError` (nothing changed) for a
        bad value."""
        if max_objects is not None and (int(max_objects) != max_objects or max_objects < 1):
            raise ConfigError(f"max_objects: expected an integer >= 1, got {max_objects}")
        if min_score is not None and not 0.0 <= min_score <= 1.0:
            raise ConfigError(f"min_score: expected a value in [0, 1], got {min_score}")
        for category, score in (category_min_score or {}).items():
            if not 0.0 <= score <= 1.0:
                raise ConfigError(f"models.{category}.min_score: expected a value in [0, 1], "
                                  f"got {score}")  # fmt: skip
        if fusion is not None:
            fusion.validate()
        if tracking is not None:
            self.tracker.reconfigure(tracking)
        if fusion is not None and self.fusion is not None:
            self.fusion.reconfigure(fusion)
        if max_objects is not None:
            self.max_objects = int(max_objects)
        if min_score is not None:
            self.min_score = float(min_score)
        if category_min_score is not None:
            self.category_min_score = {c: float(v) for c, v in category_min_score.items()}

    def score_threshold(self, category: str) -> float:
        """The lowest score an estimate of ``category`` is published with: the larger of
        ``min_score`` and the category's own."""
        return max(self.min_score, self.category_min_score.get(category, 0.0))

    @property
    def categories(self) -> list[str]:
        return sorted(self.estimators)

    @property
    def needs_depth(self) -> bool:
        return any(e.needs_depth for e in self.estimators.values())

    def reset(self) -> None:
        """Forget the tracks and fused states (e.g. after time jumped backwards)."""
        self.tracker.reset()
        if self.fusion is not None:
            self.fusion.reset()

    def process(
        self,
        rgb: np.ndarray,
        detections: Sequence[Detection],
        intrinsics: Intrinsics,
        stamp_ns: int,
        depth: np.ndarray | None = None,
        up: np.ndarray | None = None,
    ) -> FrameResult:
        """Poses of ``detections`` in ``rgb`` (``[H x W x 3]`` uint8) at ``stamp_ns``.

        ``depth``: ``[H x W]`` float32 metres (0 = invalid), needed by ``cse`` models only.
        ``up``: ``[3]`` the world's up direction in the camera frame (from /tf), for the
        estimators that use it (``uses_up``: NeMo turns a rolled camera upright by it).
        """
        start = time.perf_counter()
        result = FrameResult()
        groups: dict[int, tuple[Estimator, list[int]]] = {}
        accepted = 0
        for i, det in enumerate(detections):
            estimator = self.estimators.get(det.category)
            if estimator is None:
                result.skip("no_model", f"detection {i}: no model for category "
                            f"{det.category!r} (models: {', '.join(self.categories)})")
                continue
            if accepted >= self.max_objects:
                result.skip("over_max_objects", f"detection {i} ({det.category}) and later "
                            f"ones: over max_objects = {self.max_objects}")
                continue
            accepted += 1
            groups.setdefault(id(estimator), (estimator, []))[1].append(i)
        found: dict[int, PoseEstimate] = {}
        for estimator, ids in groups.values():
            for i, est in self._estimate(estimator, rgb, detections, ids, intrinsics, depth,
                                         result, up):  # fmt: skip
                category = detections[i].category
                threshold = self.score_threshold(category)
                if est.score < threshold:
                    result.skip("low_score", f"detection {i} ({category}): score "
                                f"{est.score:.3f} < {threshold} (the larger of min_score and "
                                f"models.{category}.min_score)")  # fmt: skip
                    continue
                found[i] = est
                if est.warning:
                    result.warnings.append(f"detection {i} ({detections[i].category}): "
                                           f"{est.warning}")  # fmt: skip
        estimated = time.perf_counter()
        result.estimates = [found[i] for i in sorted(found)]
        result.poses = self.tracker.update(int(stamp_ns), result.estimates)
        done = time.perf_counter()
        result.timings.update(
            estimate=1e3 * (estimated - start), track=1e3 * (done - estimated),
            total=1e3 * (done - start),
        )  # fmt: skip
        return result

    def _estimate(self, estimator, rgb, detections, ids, intrinsics, depth, result, up=None):
        """``(index, estimate)`` for ``ids``: one batch; when the batch raises, one by one so
        only the offending detection is lost."""
        batch = [detections[i] for i in ids]
        extra = {"up": up} if up is not None and getattr(estimator, "uses_up", False) else {}
        try:
            estimates = estimator.estimate(rgb, batch, intrinsics, depth, **extra)
        except PoseEstimationError as exc:
            if len(ids) == 1:
                self._skip(result, ids[0], batch[0], exc)
                return []
            pairs = []
            for i in ids:
                pairs.extend(self._estimate(estimator, rgb, detections, [i], intrinsics, depth,
                                            result, up))  # fmt: skip
            return pairs
        for est in estimates:
            for stage, ms in est.timings.items():
                key = f"{estimator.name}.{stage}"
                result.timings[key] = result.timings.get(key, 0.0) + ms / max(len(estimates), 1)
        return list(zip(ids, estimates, strict=True))

    @staticmethod
    def _skip(result: FrameResult, index: int, det: Detection, exc: PoseEstimationError):
        if isinstance(exc, DepthError):
            reason = "no_depth"
        elif isinstance(exc, InputError):
            reason = "bad_input"
        else:
            reason = "failed"
        line = f"detection {index} ({det.category}): {reason}: {exc}"
        result.skip(reason, line)
        result.errors.append(line)
