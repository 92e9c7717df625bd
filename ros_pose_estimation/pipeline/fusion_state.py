"""One static object's fused pose: its inlier samples, the robust means, the covariance.

:class:`ObjectState` keeps the newest ``max_samples`` inlier samples
(:class:`~.fusion_samples.Samples`) of one tracked object in the fixed frame and its fused
pose (:mod:`.world_fusion` says what is fused how). Per new inlier it either

* **refits** (:meth:`ObjectState.refit`): robust means over all samples, warm-started from the
  current pose (:func:`~ros_pose_estimation.core.rotation_averaging.robust_mean`,
  :func:`~ros_pose_estimation.core.point_averaging.robust_ray_mean`), and the covariance; done
  while the state is young (fewer than :data:`STREAM_AFTER` samples), then every
  :data:`REFIT_EVERY` samples (at a ``phase`` per object, so that objects seen from the same
  frame on refit on different frames), so every sample's weight and symmetric equivalent are
  re-judged against the current pose; or
* **streams** it in between (:func:`~ros_pose_estimation.core.rotation_averaging.add_to_mean`,
  :func:`~ros_pose_estimation.core.point_averaging.add_to_ray_mean`): weighted against the
  current pose, added to the running sums; the covariance is the last refit's, scaled by the
  ratio of the weights then and now (more consistent evidence: smaller).

Streaming costs a third of a refit; the fused pose differs from a refit's by far less than its
standard deviation (the weights of the few samples since the refit are judged against a pose
that moves by ~1/N per sample). Pure numpy.
"""

from __future__ import annotations

import math

import numpy as np

from ros_pose_estimation.core.categories import Category
from ros_pose_estimation.core.point_averaging import add_to_ray_mean, robust_ray_mean
from ros_pose_estimation.core.rotation_averaging import add_to_mean, robust_mean, symmetry_arrays
from ros_pose_estimation.pipeline.fusion_config import WorldFusionConfig
from ros_pose_estimation.pipeline.fusion_samples import Samples
from ros_pose_estimation.pipeline.tracking import SYMMETRY_AXIS_VARIANCE

#: Huber threshold of the robust means, in standard deviations (``*_sigma_*`` settings).
HUBER_K = 1.5

#: A state with fewer samples refits at every new one.
STREAM_AFTER = 10

#: Samples streamed in between two refits of an older state.
REFIT_EVERY = 5

#: What :class:`~.fusion_samples.Samples` keeps per estimate: pose, size and score in the fixed
#: frame, the viewing ray (unit) and the centre's standard deviation along it (m).
SAMPLE_FIELDS = {"R": (3, 3), "t": (3,), "size": (3,), "ray": (3,), "along": (), "score": ()}

_EYE = np.eye(3)


class ObjectState:
    """The fused pose of one object, started from ``samples`` (dicts of
    :data:`SAMPLE_FIELDS`; the newest last), fitted with ``config``.

    Attributes:
        category; R ``[3 x 3]``, t ``[3]`` (m), size ``[3]`` (m): the fused pose;
        covariance ``[6 x 6]`` (x, y, z, rotation about x, y, z; m^2, rad^2);
        samples: the inliers; pending: consecutive consistent outliers (re-acquisition);
        moved: one of them failed the centre gate.
    """

    def __init__(
        self, category: Category, samples: list[dict], config: WorldFusionConfig, phase: int = 0
    ) -> None:
        self.category = category
        self.object_id = int(phase)  # the object's id (:mod:`.world_fusion` sets it)
        self._added, self._phase, self._stale = 0, int(phase), False
        self.samples = Samples(config.max_samples, SAMPLE_FIELDS)
        for sample in samples:
            self.samples.add(**sample)
        last = samples[-1]
        self.R, self.t, self.size = last["R"].copy(), last["t"].copy(), last["size"].copy()
        self.covariance = np.zeros((6, 6))
        self.pending: list[dict] = []
        self.moved = False
        self.refit(config, iterations=3)

    def add(self, sample: dict, config: WorldFusionConfig) -> None:
        """Store an inlier and update the fused pose (module docstring: refit or stream)."""
        self.samples.add(**sample)
        self._added += 1
        due = (self._added + self._phase) % REFIT_EVERY == 0  # objects refit on different frames
        if len(self.samples) < STREAM_AFTER or due or self._stale:
            self.refit(config, iterations=1)
        else:
            self._stream(sample, config)

    def resize(self, max_samples: int) -> None:
        """Keep at most ``max_samples`` (the newest); the next inlier refits."""
        self.samples.resize(max_samples)
        self._stale = True

    def refit(self, config: WorldFusionConfig, iterations: int) -> None:
        """Robust means of all samples from the current pose, and the covariance."""
        arr = self.samples.arrays()
        prior = None
        self._ref_score = score_reference(arr["score"], config.score_top_k)
        if config.score_temperature > 0:  # rotation only; the k best samples weigh 1
            prior = score_weights(arr["score"], self._ref_score, config.score_temperature)
        sigma_r = math.radians(config.rotation_sigma_deg)
        rot = robust_mean(arr["R"], self.category, self.R, HUBER_K * sigma_r, prior, iterations)
        pos = robust_ray_mean(arr["t"], arr["ray"], config.translation_sigma_m, arr["along"],
                              None, self.t, iterations, HUBER_K)  # fmt: skip
        self.R, self.t = rot.mean, pos.mean
        self._rot_total, self._info, self._info_sum = rot.total, pos.information, pos.weighted_sum
        self._size_sum, self._w_t = pos.weights @ arr["size"], float(pos.weights.sum())
        self.size = self._size_sum / self._w_t
        self._w_r = float(rot.weights.sum())
        axes, _ = symmetry_arrays(self.category)
        prior_cov = sigma_r**2 * _EYE
        if len(axes) == 1:  # nothing is known about the axis: no prior along it
            axis = self.R @ axes[0]
            prior_cov = prior_cov - sigma_r**2 * np.outer(axis, axis)
        self._cov_t = pos.covariance
        self._cov_r = np.zeros((3, 3))
        if len(axes) < 2:
            self._cov_r = _mean_covariance(rot.residuals, rot.weights, prior_cov)
        self._stale = False
        self._w_t_refit, self._w_r_refit = self._w_t, self._w_r
        self._set_covariance()

    def _stream(self, sample: dict, config: WorldFusionConfig) -> None:
        prior = 1.0
        if config.score_temperature > 0:
            prior = float(score_weights(np.array([sample["score"]]), self._ref_score,
                                        config.score_temperature)[0])  # fmt: skip
        sigma_r = math.radians(config.rotation_sigma_deg)
        self.R, self._rot_total, _, w_r = add_to_mean(
            self.R, self._rot_total, sample["R"], self.category, HUBER_K * sigma_r, prior
        )
        self.t, self._info, self._info_sum, w_t = add_to_ray_mean(
            self._info, self._info_sum, self.t, sample["t"], sample["ray"],
            config.translation_sigma_m, sample["along"], HUBER_K,
        )  # fmt: skip
        self._w_r += w_r
        self._w_t += w_t
        self._size_sum = self._size_sum + w_t * sample["size"]
        self.size = self._size_sum / self._w_t
        self._set_covariance()

    def _set_covariance(self) -> None:
        """The last refit's covariance scaled by the weights then / now; the unknown angle
        about a continuous symmetry axis added (for the current axis direction)."""
        cov = np.zeros((6, 6))
        cov[:3, :3] = self._cov_t * (self._w_t_refit / self._w_t)
        cov[3:, 3:] = self._cov_r * (self._w_r_refit / max(self._w_r, 1e-12))
        axes, _ = symmetry_arrays(self.category)
        if len(axes) >= 2:  # a sphere: the rotation is unknown
            cov[3:, 3:] = SYMMETRY_AXIS_VARIANCE * _EYE
        elif len(axes) == 1:
            axis = self.R @ axes[0]
            cov[3:, 3:] += SYMMETRY_AXIS_VARIANCE * np.outer(axis, axis)
        self.covariance = cov


def score_reference(scores: np.ndarray, top_k: int) -> float:
    """The score weights' reference: the ``top_k``-th best of ``scores`` ``[N]`` (the lowest
    when there are fewer)."""
    scores = np.asarray(scores, dtype=np.float64)
    k = min(max(int(top_k), 1), len(scores))
    return float(np.partition(scores, len(scores) - k)[len(scores) - k])


def score_weights(scores: np.ndarray, reference: float, temperature: float) -> np.ndarray:
    """``[N]`` rotation weights of samples with ``scores`` ``[N]``: 1 at or above
    ``reference``, ``exp((score - reference) / temperature)`` below it."""
    return np.exp(np.minimum(np.asarray(scores, dtype=np.float64) - reference, 0.0) / temperature)


def _mean_covariance(residuals: np.ndarray, weights: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """Covariance ``[3 x 3]`` of a weighted mean of ``[N x 3]`` residuals: the per-sample
    scatter (``prior`` counted as one sample, so one sample gives ``prior``) times
    ``sum w^2 / (sum w)^2`` (``1 / N`` for equal weights)."""
    total = float(weights.sum())
    scatter = (prior + (residuals * weights[:, None]).T @ residuals) / max(total, 1.0)
    return scatter * (float(weights @ weights) / total**2)
