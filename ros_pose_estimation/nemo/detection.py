"""What goes into and comes out of :class:`~.estimator.NemoEstimator`, and the crop of a
detection as the model sees it.

* :class:`Detection`: category, box (project pixel-centre convention), optional mask.
* :class:`PoseEstimate`: pose, confidence, size, timings, convergence of one detection.
* :func:`detection_crop` / :func:`feature_camera`: square crop (``crop_scale`` x the box's
  longer side, resized to ``crop_size``) and the pinhole camera of its feature map.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ros_pose_estimation.core.camera import Intrinsics
from ros_pose_estimation.core.categories import UnknownCategoryError, get_category
from ros_pose_estimation.core.crops import Crop, square_crop_box
from ros_pose_estimation.core.errors import InputError, check_shape
from ros_pose_estimation.nemo.model import NemoConfig

STAGES = ("crop", "features", "init", "refine", "total")


@dataclass
class Detection:
    """A 2D detection: ``category`` name, ``box_xyxy`` ``[4]`` (px, project pixel-centre
    convention, :mod:`ros_pose_estimation.core.crops`) and an optional ``[H x W]`` bool
    ``mask``; feature cells of the crop farther than one cell from the mask are ignored."""

    category: str
    box_xyxy: Sequence[float] | np.ndarray
    mask: np.ndarray | None = None


@dataclass
class PoseEstimate:
    """Result for one detection.

    Attributes:
        category: the detection's category.
        R: ``[3 x 3]`` rotation model -> camera; t: ``[3]`` object centre in the camera (m).
        score: confidence in [0, 1], paper 001 Eq. 6: the mean cosine similarity between the
            observed features and the rendered neural-mesh features over the pixels the mesh
            covers at this pose (feature-map resolution), clipped below at 0: 0 = no more
            alike than unrelated features (or nothing rendered), 1 = every covered pixel's
            feature equals the mesh's. Comparable between frames of one model, not across
            models.
        size: ``[3]`` category template extents (m) along the model axes (the neural mesh's
            extents without its margin): the typical size the distance estimate assumes
            (monocular RGB cannot tell a small near object from a large far one).
        timings: milliseconds of the stages ``crop``, ``features``, ``init``, ``refine`` and
            ``total`` of the whole :meth:`NemoEstimator.estimate` call (shared by its
            detections; divide by ``batch`` for a per-object figure).
        batch: detections processed by that call.
        steps: optimiser steps taken by the chosen hypothesis (all refinement stages).
        converged: the chosen hypothesis's final-stage loss settled (best loss not improved
            by more than ``tol`` for ``patience`` steps, :class:`.presets.Schedule`) rather
            than running out of steps.
        loss: final render-and-compare loss (lower is better, :mod:`.scoring`).
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


def detection_crop(box_xyxy, intrinsics: Intrinsics, config: NemoConfig) -> Crop:
    """The square crop of a detection as the model sees it: ``crop_scale`` x the box's longer
    side around its centre, resampled to ``crop_size`` (carries its intrinsics).

    Raises:
        InputError: non-finite / zero-area box, or a box wholly outside the image.
    """
    try:
        box = square_crop_box(box_xyxy, config.crop_scale)
        return Crop.from_box(box, config.crop_size, intrinsics)
    except InputError as exc:
        raise InputError(f"detection box {np.asarray(box_xyxy).tolist()}: {exc}") from None


def feature_camera(crop: Crop, config: NemoConfig) -> np.ndarray:
    """``[3 x 3]`` camera matrix of the crop's feature map (``crop_size / stride`` cells)."""
    return crop.intrinsics.scaled(1.0 / config.stride).K
