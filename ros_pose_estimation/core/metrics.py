"""Pose metrics: symmetry-aware rotation error, accuracies, n deg m cm, 3D IoU, AP.

Definitions (papers 000 Sec. 4.1 and 003, ``shared/notes/methods.md``):

* rotation error = geodesic angle ``||logm(R_pred^T R_gt)||_F / sqrt(2)`` minimised over the
  category's symmetry group: ``min_S angle(R_pred, R_gt S)`` for a discrete group; for continuous
  symmetry about model axis ``a``: the angle between ``R_pred a`` and ``R_gt S a`` (rotation about
  the axis is ignored, as NOCS does for bottle, bowl, can); given the true extents, an
  instance's own symmetries count too (a box with a square footprint: quarter turns,
  :func:`~.categories.instance_symmetries`);
* ``Acc@pi/6`` and ``Acc@pi/18`` = fraction with error **<** 30 / 10 deg (NeMo), median in degrees;
* ``n deg m cm`` = fraction with rotation error **<=** n deg and translation error **<=** m cm
  (NOCS); IoU accuracy = fraction with 3D IoU **>=** the threshold (NOCS);
* AP = area under the score-sorted precision/recall curve with the monotone precision envelope
  (VOC / NOCS ``compute_ap_from_matches_scores``).

A missing prediction counts as a failure: rotation and translation error +inf, IoU 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields

import numpy as np

from .categories import Category, get_category, instance_symmetries
from .errors import InputError, check_shape
from .iou3d import OrientedBox, symmetric_iou_3d
from .rotations import geodesic_angle

DEFAULT_DEG_CM = ((5, 2), (5, 5), (10, 2), (10, 5))
DEFAULT_IOU = (0.25, 0.5)


def _category(category: Category | str | None) -> Category | None:
    return get_category(category) if isinstance(category, str) else category


def symmetry_of(
    category: Category | str | None, handle_visible: bool = True, size: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(continuous_axes [A x 3], discrete [K x 3 x 3])`` used for evaluation.

    A mug whose handle is not visible is symmetric about z (NOCS evaluation protocol).
    ``size``: the instance's true extents (``[3]``, m), when known: a box with a square
    footprint also maps onto itself by a quarter turn (:func:`.categories.instance_symmetries`).
    """
    cat = _category(category)
    if cat is None:
        return np.zeros((0, 3)), np.eye(3)[None]
    discrete = instance_symmetries(cat, size)
    if cat.name == "mug" and not handle_visible:
        return np.array([[0.0, 0.0, 1.0]]), discrete
    return np.asarray(cat.continuous_axes, float).reshape(-1, 3), discrete


def rotation_error_deg(
    r_pred: np.ndarray,
    r_gt: np.ndarray,
    category: Category | str | None = None,
    handle_visible: bool = True,
    size: np.ndarray | None = None,
) -> np.ndarray:
    """Symmetry-aware rotation error in degrees, ``[...]`` for ``[... x 3 x 3]`` inputs.

    ``size``: the true extents (``[3]``, m) of the one instance ``r_gt`` shows, when known; its
    own symmetries count too (:func:`symmetry_of`). NaN in a prediction gives +inf (a failure).
    Two or more continuous axes mean every rotation is a symmetry (error 0).
    """
    pred = np.asarray(r_pred, dtype=np.float64)
    gt = np.asarray(r_gt, dtype=np.float64)
    check_shape("R_pred", pred, ("...", 3, 3))
    check_shape("R_gt", gt, ("...", 3, 3))
    axes, group = symmetry_of(category, handle_visible, size)
    gt_sym = gt[..., None, :, :] @ group  # [... x K x 3 x 3]
    if len(axes) >= 2:
        err = np.zeros(np.broadcast_shapes(pred.shape, gt.shape)[:-2])
    elif len(axes) == 1:
        a = axes[0] / np.linalg.norm(axes[0])
        pa = (pred @ a)[..., None, :]  # [... x 1 x 3]
        ga = gt_sym @ a  # [... x K x 3]
        cross = np.linalg.norm(np.cross(pa, ga), axis=-1)
        err = np.arctan2(cross, (pa * ga).sum(-1)).min(-1)
    else:
        err = geodesic_angle(pred[..., None, :, :], gt_sym).min(-1)
    err = np.degrees(err)
    bad = ~np.all(np.isfinite(pred), axis=(-1, -2)) & np.ones_like(err, dtype=bool)
    return np.where(bad, np.inf, err)


def translation_error_m(t_pred: np.ndarray, t_gt: np.ndarray) -> np.ndarray:
    """Euclidean distance (m) between ``[... x 3]`` translations; NaN prediction -> +inf."""
    pred, gt = np.asarray(t_pred, dtype=np.float64), np.asarray(t_gt, dtype=np.float64)
    check_shape("t_pred", pred, ("...", 3))
    check_shape("t_gt", gt, ("...", 3))
    err = np.linalg.norm(pred - gt, axis=-1)
    return np.where(np.isfinite(err), err, np.inf)


def _errors(values: Iterable[float]) -> np.ndarray:
    err = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, float)
    return np.where(np.isnan(err), np.inf, err).reshape(-1)


def pose_accuracy(errors_deg: Iterable[float]) -> dict[str, float]:
    """``{"acc_pi_6", "acc_pi_18", "median_deg", "count"}`` from rotation errors (deg).

    NaN / inf count as failures. Empty input gives NaN values and count 0.
    """
    err = _errors(errors_deg)
    if err.size == 0:
        return {"acc_pi_6": math.nan, "acc_pi_18": math.nan, "median_deg": math.nan, "count": 0}
    return {
        "acc_pi_6": float(np.mean(err < 30.0)),
        "acc_pi_18": float(np.mean(err < 10.0)),
        "median_deg": float(np.median(err)),
        "count": int(err.size),
    }


def n_deg_m_cm(
    rot_err_deg: Iterable[float],
    trans_err_m: Iterable[float],
    thresholds: Sequence[tuple[float, float]] = DEFAULT_DEG_CM,
) -> dict[str, float]:
    """Fraction within ``n`` deg **and** ``m`` cm, keyed ``"5deg2cm"`` etc. (inclusive)."""
    rot, trans = _errors(rot_err_deg), _errors(trans_err_m)
    if rot.shape != trans.shape:
        raise InputError(
            f"expected as many rotation as translation errors, got {rot.size} and {trans.size}"
        )
    out = {}
    for deg, cm in thresholds:
        hit = (rot <= deg) & (trans <= cm / 100.0)
        out[f"{deg:g}deg{cm:g}cm"] = float(np.mean(hit)) if rot.size else math.nan
    return out


def iou_accuracy(ious: Iterable[float], thresholds: Sequence[float] = DEFAULT_IOU):
    """Fraction with IoU >= each threshold, keyed ``"iou25"``, ``"iou50"``."""
    values = np.nan_to_num(np.asarray(list(ious), float).reshape(-1), nan=0.0)
    return {
        f"iou{round(100 * t)}": float(np.mean(values >= t)) if values.size else math.nan
        for t in thresholds
    }


def average_precision(scores: Iterable[float], is_tp: Iterable[bool], num_gt: int) -> float:
    """VOC/NOCS AP of predictions with confidence ``scores`` and TP flags, ``num_gt`` objects."""
    s = np.asarray(list(scores), float).reshape(-1)
    tp = np.asarray(list(is_tp), bool).reshape(-1)
    if s.shape != tp.shape:
        raise InputError(f"expected one TP flag per score, got {tp.size} for {s.size}")
    if num_gt <= 0:
        return math.nan
    order = np.argsort(-s, kind="stable")
    tps, fps = np.cumsum(tp[order]), np.cumsum(~tp[order])
    precision = np.concatenate([[0.0], tps / np.maximum(tps + fps, 1), [0.0]])
    recall = np.concatenate([[0.0], tps / num_gt, [1.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.nonzero(recall[1:] != recall[:-1])[0]
    return float(np.sum((recall[steps + 1] - recall[steps]) * precision[steps + 1]))


@dataclass
class PoseRecord:
    """One evaluated object. ``*_gt`` None = false positive, ``*_pred`` None = missed object.

    Rotations ``[3 x 3]`` (R_m2c), translations ``[3]`` (m), sizes ``[3]`` (m, box extents).
    """

    category: str
    r_gt: np.ndarray | None = None
    t_gt: np.ndarray | None = None
    r_pred: np.ndarray | None = None
    t_pred: np.ndarray | None = None
    size_gt: np.ndarray | None = None
    size_pred: np.ndarray | None = None
    score: float = 1.0
    handle_visible: bool = True

    @classmethod
    def from_any(cls, record: PoseRecord | Mapping) -> PoseRecord:
        if isinstance(record, PoseRecord):
            return record
        names = {f.name for f in fields(cls)}
        unknown = set(record) - names
        if unknown:
            raise InputError(f"unknown record keys {sorted(unknown)}; expected {sorted(names)}")
        return cls(**record)


def record_iou(record: PoseRecord, category: str) -> float:
    """The symmetry-aware 3D IoU of one record's predicted and true boxes: 0 for a missed
    object, NaN when the truth has no size (nothing to score). A mug whose handle is hidden
    (``handle_visible`` False) is scored as symmetric about z, as NOCS does."""
    r = record
    if r.size_gt is None:
        return math.nan
    if r.r_pred is None or r.t_pred is None or r.size_pred is None or r.r_gt is None:
        return 0.0
    axes = None if r.handle_visible or category != "mug" else symmetry_of(category, False)[0]
    return symmetric_iou_3d(
        OrientedBox(r.r_pred, r.t_pred, r.size_pred),
        OrientedBox(r.r_gt, r.t_gt, r.size_gt),
        category,
        axes,
    )


def _evaluate_category(recs: list[PoseRecord], cat: str, deg_cm, iou_thr) -> dict:
    gts = [r for r in recs if r.r_gt is not None]
    rot, trans, ious = [], [], []
    for r in recs:
        found = r.r_pred is not None and r.t_pred is not None and r.r_gt is not None
        rot.append(
            float(rotation_error_deg(r.r_pred, r.r_gt, cat, r.handle_visible, r.size_gt))
            if found
            else math.inf
        )
        trans.append(float(translation_error_m(r.t_pred, r.t_gt)) if found else math.inf)
        ious.append(record_iou(r, cat))
    is_gt = np.array([r.r_gt is not None for r in recs])
    has_pred = np.array([r.r_pred is not None for r in recs])
    rot_a, trans_a, iou_a = np.array(rot), np.array(trans), np.array(ious)
    out = {
        "count": len(gts),
        "detected": int(np.sum(is_gt & has_pred)),
        "false_positives": int(np.sum(~is_gt & has_pred)),
        "rotation": pose_accuracy(rot_a[is_gt]),
        "translation_median_cm": float(np.median(trans_a[is_gt]) * 100) if len(gts) else None,
        "n_deg_m_cm": n_deg_m_cm(rot_a[is_gt], trans_a[is_gt], deg_cm),
    }
    scores = np.array([r.score for r in recs])[has_pred]
    ap = {}
    if np.any(is_gt & ~np.isnan(iou_a)):
        out["iou"] = iou_accuracy(iou_a[is_gt], iou_thr)
        for t in iou_thr:
            ap[f"iou{round(100 * t)}"] = average_precision(
                scores, (iou_a >= t)[has_pred], len(gts)
            )
    for deg, cm in deg_cm:
        hit = (rot_a <= deg) & (trans_a <= cm / 100.0)
        ap[f"{deg:g}deg{cm:g}cm"] = average_precision(scores, hit[has_pred], len(gts))
    out["ap"] = ap
    return out


_SUMMED = ("count", "detected", "false_positives")


def _mean_tree(trees: list[dict]) -> dict:
    """Average every numeric leaf over dicts (NaN/None skipped); counts are summed."""
    keys = list(dict.fromkeys(k for t in trees for k in t))
    out = {}
    for key in keys:
        vals = [t[key] for t in trees if key in t]
        if isinstance(vals[0], dict):
            out[key] = _mean_tree([v for v in vals if isinstance(v, dict)])
            continue
        nums = [float(v) for v in vals if isinstance(v, (int, float)) and np.isfinite(v)]
        if key in _SUMMED:
            out[key] = int(sum(nums))
        else:
            out[key] = float(np.mean(nums)) if nums else None
    return out


def _jsonable(tree):
    if isinstance(tree, dict):
        return {k: _jsonable(v) for k, v in tree.items()}
    if isinstance(tree, float) and not math.isfinite(tree):
        return None
    return tree


def evaluate_records(
    records: Iterable[PoseRecord | Mapping],
    deg_cm: Sequence[tuple[float, float]] = DEFAULT_DEG_CM,
    iou_thresholds: Sequence[float] = DEFAULT_IOU,
) -> dict:
    """Evaluate (prediction, ground truth) records; returns a JSON-able dict.

    Layout: ``{"per_category": {name: {count, detected, false_positives, rotation{acc_pi_6,
    acc_pi_18, median_deg, count}, translation_median_cm, n_deg_m_cm{...}, iou{...} (when sizes
    are given), ap{iou25, iou50, 5deg2cm, ...}}}, "mean": <same keys averaged over
    categories>}``. Undefined values (no data, median of mostly failures) are ``None``.
    """
    by_cat: dict[str, list[PoseRecord]] = {}
    for raw in records:
        rec = PoseRecord.from_any(raw)
        name = _category(rec.category).name
        by_cat.setdefault(name, []).append(rec)
    if not by_cat:
        raise InputError("evaluate_records: expected at least one record, got none")
    per_cat = {
        name: _evaluate_category(recs, name, deg_cm, iou_thresholds)
        for name, recs in by_cat.items()
    }
    return _jsonable({"per_category": per_cat, "mean": _mean_tree(list(per_cat.values()))})
