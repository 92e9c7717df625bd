"""The estimator contract: what goes into and comes out of every pose estimator.

* :class:`Detection`: category, box (project pixel-centre convention), optional mask.
* :class:`PoseEstimate`: pose, confidence, metric size, timings of one detection.
* :class:`Estimator`: the call every estimator offers (NeMo RGB, CSE RGB-D)::

      estimator.estimate(rgb, detections, intrinsics, depth=None) -> list[PoseEstimate]

  with ``needs_depth`` (an estimator that needs depth raises :class:`DepthError` when it gets
  none), ``categories`` (the loaded models) and a short ``name`` (timing keys ``name.stage``).
* :func:`check_inputs`: validation of the image, intrinsics and detections of a call.
* :func:`group_by_category` / :func:`place_estimates`: one batch per category, results back
  in the caller's order.

The square crop of a detection (box -> crop with its intrinsics -> warped image, mask and
depth) is :func:`ros_pose_estimation.core.crops.detection_crop` /
:func:`~ros_pose_estimation.core.crops.crop_inputs`.

Pure numpy: never imports torch or rclpy (the message conversions use these types).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from ros_pose_estimation.core.camera import Intrinsics
from ros_pose_estimation.core.categories import UnknownCategoryError, get_category
from ros_pose_estimation.core.errors import InputError, check_shape

__all__ = [
    "Detection",
    "Estimator",
    "PoseEstimate",
    "check_inputs",
    "group_by_category",
    "place_estimates",
]


@dataclass
class Detection:
    """A 2D detection: ``category`` name, ``box_xyxy`` ``[4]`` (px, project pixel-centre
    convention, :mod:`ros_pose_estimation.core.crops`) and an optional ``[H x W]`` bool
    ``mask`` of the object's pixels in the image."""

    category: str
    box_xyxy: Sequence[float] | np.ndarray
    mask: np.ndarray | None = None


@dataclass
class PoseEstimate:
    """Result for one detection.

    Attributes:
        category: the detection's category, as the caller spelled it.
        R: ``[3 x 3]`` rotation model -> camera; t: ``[3]`` object centre in the camera (m).
        score: confidence in [0, 1]; what it measures depends on the estimator (NeMo: mean
            feature similarity of the rendered neural mesh, :mod:`ros_pose_estimation.nemo.
            estimator`; CSE: confidence-weighted RANSAC inlier fraction,
            :mod:`ros_pose_estimation.cse.estimator`). Comparable between frames of one model,
            not across models.
        size: ``[3]`` object extents (m) along the model axes (NeMo: the category template's,
            monocular RGB cannot tell a small near object from a large far one; CSE: the
            deformed template's, metric from depth).
        timings: milliseconds of the estimator's stages and ``total`` of the whole
            :meth:`Estimator.estimate` call (shared by its detections; divide by ``batch`` for
            a per-object figure).
        batch: detections processed by that call.
        steps: optimiser steps taken (0 for a closed-form solver).
        converged: the optimiser settled rather than running out of steps (True for a
            closed-form solver).
        loss: final loss of the solver (lower is better; NeMo: render-and-compare loss, CSE:
            the inliers' RMS residual in m).
        warning: empty, or a line saying what made this estimate less reliable than usual
            (CSE: too little depth on the object, solved from the image,
            :mod:`ros_pose_estimation.cse.sparse_depth`); the node logs it, throttled.
    """

    category: str
    R: np.ndarray
    t: np.ndarray
    score: float
    size: np.ndarray
    timings: dict[str, float] = field(default_factory=dict)
    batch: int = 1
    steps: int = 0
    converged: bool = False
    loss: float = float("nan")
    warning: str = ""


class Estimator(Protocol):
    """What the pipeline, the evaluators and the benchmarks need from an estimator.

    Attributes:
        name: short method name (``"nemo"``, ``"cse"``), the prefix of its timing keys.
        needs_depth: :meth:`estimate` raises :class:`DepthError` when ``depth`` is None.

    An estimator whose ``uses_up`` is True also takes ``up=`` (``[3]``, the world's up
    direction in the camera frame, from /tf) in :meth:`estimate` and turns a rolled camera
    upright by it (:mod:`ros_pose_estimation.core.upright`); the pipeline passes it only to
    those.
    """

    name: str
    needs_depth: bool

    @property
    def categories(self) -> list[str]:
        """Sorted canonical names of the categories with a loaded model."""
        ...

    def estimate(self, rgb: np.ndarray, detections: Sequence[Detection], intrinsics: Intrinsics,
                 depth: np.ndarray | None = None, *,
                 errors: str = "raise") -> list[PoseEstimate | None]:  # fmt: skip
        """One :class:`PoseEstimate` per detection, in order, for ``rgb`` ``[H x W x 3]``
        uint8 seen by ``intrinsics``; ``depth`` ``[H x W]`` registered to ``rgb`` (uint16 mm
        or float32 m, 0 / NaN invalid), ignored by estimators that do not need it.
        ``errors``: ``"raise"`` (a detection that cannot be solved raises) or ``"none"`` (its
        entry is None, the others are still returned: what evaluators want).

        Raises:
            InputError (incl. DepthError): bad inputs, naming the argument or detection.
            EstimationError: a detection could not be solved (``errors="raise"``).
            ConfigError: ``errors`` is neither.
        """
        ...


def check_inputs(image, detections: Sequence[Detection], intrinsics, loaded) -> list[str]:
    """Validate an estimator call: ``image`` ``[H x W x 3]`` uint8 of ``intrinsics``' size, every
    detection of a category in ``loaded`` (names of the loaded models), masks of the image's
    size. Returns the detections' canonical category names, in order.

    Raises:
        InputError: naming the argument or the detection and what was expected.
    """
    if not isinstance(image, np.ndarray):
        raise InputError(f"image: expected a numpy array, got {type(image).__name__}")
    check_shape("image", image, ("H", "W", 3), dtype=np.uint8)
    if not isinstance(intrinsics, Intrinsics):
        raise InputError(f"intrinsics: expected Intrinsics, got {type(intrinsics).__name__}")
    intrinsics.check_image(image)
    names = []
    for i, det in enumerate(detections):
        try:
            name = get_category(det.category).name
        except (UnknownCategoryError, AttributeError) as exc:
            raise InputError(f"detection {i}: {exc}") from None
        if name not in loaded:
            raise InputError(f"detection {i}: no model for category {name!r}; loaded: "
                             f"{', '.join(sorted(loaded))}")  # fmt: skip
        if det.mask is not None:
            check_shape(f"detection {i} mask", det.mask, image.shape[:2])
        names.append(name)
    return names


def group_by_category(names: Sequence[str]) -> dict[str, list[int]]:
    """``{category: [detection indices]}``: the categories in the order they first appear in
    ``names``, each with the indices of its detections in increasing order.

    ``names`` are the detections' canonical category names, already checked against the loaded
    models (:func:`check_inputs`).
    """
    groups: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        groups.setdefault(name, []).append(i)
    return groups


def place_estimates(
    results: list, ids: Sequence[int], estimates: Sequence[Any], detections: Sequence[Any]
) -> None:
    """``results[ids[j]] = estimates[j]``: one group's estimates (one per index in ``ids``, None
    for a detection that failed) back at their detections' places. A placed estimate takes its
    detection's ``category`` as the caller spelled it (``"Mug"`` stays ``"Mug"``).

    Raises:
        ValueError: ``estimates`` and ``ids`` of different lengths (an estimator bug).
    """
    for i, est in zip(ids, estimates, strict=True):
        if est is not None:
            est.category = detections[i].category
        results[i] = est
