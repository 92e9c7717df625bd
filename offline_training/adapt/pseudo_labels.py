"""Pseudo-labels of unlabeled target images (paper 001 Sec. 4.2, CC3D's E-step).

* :func:`estimate_objects`: the current model's pose of every object of the target training
  part, found in the image by its BOP visible box (the stand-in for a detector; the poses in
  the annotations are read only to score the labels afterwards, never by the estimator), with
  its confidence (paper 001 Eq. 6, :attr:`PoseEstimate.score`);
* :func:`select_top_k`: the ``k`` most confident labels per category (published: 100);
* :func:`label_accuracy`: how good the kept labels are, where ground truth exists.

Writing them as a BOP training set is :mod:`.bop_export`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from offline_training.evaluation import bop_box_to_xyxy, select_objects
from ros_pose_estimation.core.camera import Intrinsics
from ros_pose_estimation.core.errors import ConfigError
from ros_pose_estimation.core.metrics import pose_accuracy, rotation_error_deg

__all__ = ["PseudoLabel", "estimate_objects", "label_accuracy", "select_top_k"]


@dataclass
class PseudoLabel:
    """One object of one target image and the pose the model gives it.

    Attributes:
        scene_id, im_id, gt_index: where the object is (BOP scene, image, annotation index).
        obj_id, category: the object's model id and category.
        R: ``[3 x 3]`` estimated rotation model -> camera; t: ``[3]`` estimated translation (m).
        score: confidence, paper 001 Eq. 6 (mean cosine similarity over the rendered
            foreground, in [0, 1]).
        rot_err_deg: symmetry-aware rotation error against the ground truth (deg), None when
            the target has none; for the report only.
    """

    scene_id: int
    im_id: int
    gt_index: int
    obj_id: int
    category: str
    R: np.ndarray
    t: np.ndarray
    score: float
    rot_err_deg: float | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["R"], d["t"] = np.asarray(self.R).tolist(), np.asarray(self.t).tolist()
        return d


def estimate_objects(dataset, estimator, min_visib: float = 0.3,
                     max_objects: int | None = None,
                     log: Callable[[str], None] | None = None) -> list[PseudoLabel]:  # fmt: skip
    """Estimate every usable object of ``dataset`` (a
    :class:`~offline_training.synthetic.bop_reader.BopDataset`) with ``estimator`` (a
    :class:`~ros_pose_estimation.nemo.estimator.NemoEstimator`); one call per image.

    Objects of the estimator's categories with ``visib_fract >= min_visib`` and a visible box
    are used, at most ``max_objects`` of them (None: all).
    """
    from ros_pose_estimation.core.estimation import Detection

    categories = set(estimator.categories)
    labels: list[PseudoLabel] = []
    for index in range(len(dataset)):
        if max_objects is not None and len(labels) >= max_objects:
            break
        sample = dataset[index]
        keep = select_objects(sample, categories, min_visib, None)
        if max_objects is not None:
            keep = keep[: max_objects - len(labels)]
        if not keep:
            continue
        h, w = sample.rgb.shape[:2]
        objs = [sample.objects[i] for i in keep]
        dets = [Detection(o.category, bop_box_to_xyxy(o.bbox_visib), None) for o in objs]
        estimates = estimator.estimate(sample.rgb, dets, Intrinsics.from_K(sample.K, w, h))
        for i, obj, est in zip(keep, objs, estimates, strict=True):
            err = None if obj.R is None else float(rotation_error_deg(est.R, obj.R, obj.category))
            labels.append(PseudoLabel(
                sample.scene_id, sample.im_id, i, int(obj.obj_id), obj.category,
                np.asarray(est.R, dtype=np.float64), np.asarray(est.t, dtype=np.float64),
                float(est.score), err,
            ))  # fmt: skip
        if log is not None and (index + 1) % 20 == 0:
            log(f"pseudo-labelling: image {index + 1}/{len(dataset)}, {len(labels)} objects")
    return labels


def select_top_k(labels: Sequence[PseudoLabel], k: int) -> list[PseudoLabel]:
    """The ``k`` labels of highest score per category (ties: the earlier label first), in
    category order of first appearance, best first within a category.

    Raises:
        ConfigError: ``k < 1``.
    """
    if k < 1:
        raise ConfigError(f"top-k needs k >= 1, got {k}")
    kept: list[PseudoLabel] = []
    for cat in dict.fromkeys(lb.category for lb in labels):
        pool = [lb for lb in labels if lb.category == cat]
        order = sorted(range(len(pool)), key=lambda i: (-pool[i].score, i))
        kept.extend(pool[i] for i in order[:k])
    return kept


def label_accuracy(labels: Sequence[PseudoLabel]) -> dict | None:
    """``{count, acc_pi_6, acc_pi_18, median_deg, mean_score}`` of the labels against the
    ground truth, or None when no label has one."""
    errs = [lb.rot_err_deg for lb in labels if lb.rot_err_deg is not None]
    if not errs:
        return None
    acc = pose_accuracy(errs)
    return {**acc, "mean_score": float(np.mean([lb.score for lb in labels]))}
