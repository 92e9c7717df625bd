"""What every estimator of the project does alike: one model per category, one batch per
category and frame.

:class:`CategoryEstimator` holds the per-category models on one device with the estimator's
settings, loads them from checkpoints, and runs a call's detections category by category
(:meth:`CategoryEstimator.estimate_by_category`): the crops of a category's detections, then
the estimator's own batched solve of them, each estimate back at its detection's place, all
timed per stage (:class:`~ros_pose_estimation.core.batching.FrameTimer`). The subclasses
(:class:`~ros_pose_estimation.nemo.estimator.NemoEstimator`,
:class:`~ros_pose_estimation.cse.estimator.CseEstimator`) say how a detection is cropped and how
a batch of crops is solved; the call itself is the estimator contract of
:mod:`ros_pose_estimation.core.estimation`.

Pure core: no rclpy.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import torch

from ros_pose_estimation.core.batching import FrameTimer
from ros_pose_estimation.core.category_models import load_by_category, models_by_category
from ros_pose_estimation.core.estimation import Detection, group_by_category, place_estimates

__all__ = ["CategoryEstimator"]


class CategoryEstimator:
    """Per-category models and settings of an estimator (subclassed, not used alone).

    Args:
        models: category name -> model (a ``torch.nn.Module`` with ``category``); moved to
            ``device``, eval mode.
        config: the estimator's settings (``default_config()`` when None).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``...

    Raises:
        ConfigError: no model, or a key naming another category than its model's.

    Subclasses set :attr:`stages` and implement :meth:`default_config` and
    :meth:`load_checkpoint`.
    """

    #: timing keys of a call (ms): the stages, ``"crop"`` and ``"total"`` among them.
    stages: ClassVar[tuple[str, ...]] = ("crop", "total")

    def __init__(
        self,
        models: Mapping[str, torch.nn.Module],
        config: Any = None,
        device: str | torch.device = "cpu",
    ) -> None:
        self.device = torch.device(device)
        self.config = config if config is not None else self.default_config()
        self.models: dict = models_by_category(models, self.device, type(self).__name__)

    @classmethod
    def default_config(cls) -> Any:
        """The settings used when none are given."""
        raise NotImplementedError

    @staticmethod
    def load_checkpoint(
        path: str | os.PathLike, category: str | None = None, device: str | torch.device = "cpu"
    ) -> tuple:
        """``(model in eval mode on device, meta)`` of a checkpoint file of this estimator's
        models (of ``category`` when given)."""
        raise NotImplementedError

    @classmethod
    def from_checkpoints(
        cls,
        paths: Sequence[str | os.PathLike],
        config: Any = None,
        device: str | torch.device = "cpu",
    ):
        """One checkpoint per category (:meth:`load_checkpoint`).

        Raises:
            CheckpointError: an unreadable or invalid checkpoint; ConfigError: two
                checkpoints of one category.
        """
        return cls(load_by_category(paths, cls.load_checkpoint, device), config, device)

    @property
    def categories(self) -> list[str]:
        """Sorted canonical names of the categories with a loaded model."""
        return sorted(self.models)

    def estimate_by_category(
        self,
        detections: Sequence[Detection],
        names: Sequence[str],
        crop: Callable[[Detection, Any], Any],
        solve: Callable[[Any, list, dict], list],
    ) -> list:
        """The estimates of ``detections`` (canonical category ``names``, from
        :func:`~ros_pose_estimation.core.estimation.check_inputs`), one per detection in order
        (None where ``solve`` gave none), timed over the call.

        Per category, in order of first appearance: ``crop(detection, model)`` of each of its
        detections (timed as ``"crop"``), then ``solve(model, crops, seconds)`` -> one estimate
        per crop (it adds its own stages' seconds to ``seconds``); every estimate is stamped
        with the timings (ms) and the call's batch size (:meth:`FrameTimer.stamp`).
        """
        timer = FrameTimer(self.stages, self.device)
        results: list = [None] * len(detections)
        for name, ids in group_by_category(names).items():
            model = self.models[name]
            start = time.perf_counter()
            crops = [crop(detections[i], model) for i in ids]
            timer.seconds["crop"] += time.perf_counter() - start
            place_estimates(results, ids, solve(model, crops, timer.seconds), detections)
        return timer.stamp(results)
