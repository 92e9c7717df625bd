"""What the evaluators share (``evaluate-nemo``, ``evaluate-cse``, ``pose-train --eval-bag``,
the benchmarks): which annotated objects of a BOP image are evaluated, their detector boxes,
and the line that names the device.

* :func:`select_objects`: the objects of a known category, visible enough, with a visible box;
  :class:`SelectionReport` counts what was seen and skipped, and where the reader took each
  object's visibility and box from (:mod:`offline_training.synthetic.bop_reader` derives them
  when a dataset lacks ``scene_gt_info.json`` or some of its fields).
* :func:`bop_box_to_xyxy`: a BOP box as the detector box of the project's pixel convention.
* :func:`detection_frames`: the images of a dataset with their selected objects as detections
  and the camera, up to a number of objects (the loop every NeMo evaluator runs).
* :func:`describe_device`: ``"cpu (model name, N torch threads)"`` or the GPU's name.

Pure numpy but for :func:`describe_device` (torch imported when called).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "DetectionFrame",
    "SelectionReport",
    "bop_box_to_xyxy",
    "describe_device",
    "detection_frames",
    "grow_mask",
    "select_objects",
]


def bop_box_to_xyxy(bbox) -> np.ndarray:
    """BOP ``[x, y, w, h]`` (``w = x_max - x_min``, pixel indices) -> ``[x0, y0, x1, y1]`` in
    the project's pixel-centre convention (covering the whole border pixels)."""
    x, y, w, h = (float(v) for v in bbox)
    return np.array([x - 0.5, y - 0.5, x + w + 0.5, y + h + 0.5])


def grow_mask(mask: np.ndarray | None, px: int) -> np.ndarray | None:
    """``mask`` (``[H x W]`` bool) grown by ``px`` pixels (a ``2 px + 1`` square dilation), or
    shrunk by ``-px`` (erosion) when ``px < 0``; unchanged for 0 or None. A detector's mask
    that spills onto the background or falls short of the object's edge."""
    if mask is None or px == 0:
        return mask
    import cv2

    kernel = np.ones((2 * abs(px) + 1, 2 * abs(px) + 1), np.uint8)
    m = np.asarray(mask, dtype=np.uint8)
    return (cv2.dilate(m, kernel) if px > 0 else cv2.erode(m, kernel)).astype(bool)


_VISIB_WORDS = {  # BopObject.visib_source -> (what, why), in the reader's order of preference
    "px_count": ("visib_fract derived from px_count_visib / px_count_all", ""),
    "masks": ("visib_fract derived from masks (mask_visib / mask pixels)", ""),
    "assumed": ("treated as visible (visib_fract 1)", " (no visib_fract, px counts or masks)"),
}
_BOX_WORDS = {  # BopObject.bbox_source -> what
    "mask_visib": "boxes from mask_visib",
    "mask": "boxes from the full mask (no mask_visib)",
    "model": "boxes from the projected model (no masks)",
}


@dataclass
class SelectionReport:
    """What :func:`select_objects` saw, filled in over a run.

    Attributes:
        seen: annotated objects of the evaluated categories.
        kept: those selected (a box and ``visib_fract >= min_visib``).
        visib_sources: ``{BopObject.visib_source: count}`` over ``seen``.
        box_sources: ``{BopObject.bbox_source: count}`` over ``seen`` with a box.
        no_box: ``{reason: count}`` of the objects skipped for lack of a visible box.
        below_min_visib: objects with a box skipped for ``visib_fract < min_visib``.
        other_categories: ``{category: count}`` of annotated objects not evaluated
            (``"None"``: the dataset's ``models_info.json`` gives no category).
        skipped: ``{reason: count}`` of selected objects dropped later (e.g. no depth image).
    """

    seen: int = 0
    kept: int = 0
    visib_sources: Counter = field(default_factory=Counter)
    box_sources: Counter = field(default_factory=Counter)
    no_box: Counter = field(default_factory=Counter)
    below_min_visib: int = 0
    other_categories: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)

    def derivation(self) -> str:
        """``"visib_fract derived from masks for 3 objects; ..."`` for the objects whose
        visibility or box is not from ``scene_gt_info``, or "" when all are."""
        parts = [
            f"{what} for {self.visib_sources[k]} objects{why}"
            for k, (what, why) in _VISIB_WORDS.items()
            if self.visib_sources.get(k)
        ]
        parts += [
            f"{what} for {self.box_sources[k]} objects"
            for k, what in _BOX_WORDS.items()
            if self.box_sources.get(k)
        ]
        return f"{self.seen} objects seen; " + "; ".join(parts) if parts else ""

    def why_none(self, min_visib: float) -> str:
        """Why nothing was selected: counts of objects without a box, below ``min_visib``,
        dropped later, and of other categories."""
        parts = [f"{self.seen} objects of these categories annotated"]
        if self.no_box:
            reasons = ", ".join(f"{n}: {r}" for r, n in self.no_box.most_common())
            parts.append(f"{sum(self.no_box.values())} without a visible box ({reasons})")
        if self.below_min_visib:
            parts.append(f"{self.below_min_visib} with visib_fract < --min-visib {min_visib}")
        parts += [f"{n} {r}" for r, n in self.skipped.items()]
        if self.other_categories:
            cats = ", ".join(f"{c}: {n}" for c, n in self.other_categories.most_common())
            parts.append(f"objects of other categories: {cats}")
        return "; ".join(parts)

    def to_dict(self) -> dict:
        """Plain JSON-ready dict of the counts plus the :meth:`derivation` text."""
        out = {k: dict(v) if isinstance(v, Counter) else v for k, v in vars(self).items()}
        return {**out, "derivation": self.derivation()}


def select_objects(
    sample, categories: Iterable[str], min_visib: float, report: SelectionReport | None = None
) -> list[int]:
    """Indices of ``sample``'s objects of a known category, visible enough, with a visible box
    at least 2 px wide and high; ``report`` (if given) counts what was seen and skipped."""
    known = set(categories)
    report = SelectionReport() if report is None else report
    keep = []
    for i, obj in enumerate(sample.objects):
        if obj.category not in known:
            report.other_categories[str(obj.category)] += 1
            continue
        report.seen += 1
        report.visib_sources[obj.visib_source] += 1
        box = obj.bbox_visib
        if box is not None:
            report.box_sources[obj.bbox_source] += 1
        if box is None or min(box[2], box[3]) <= 0:
            reason = obj.no_box_reason if box is None else "box under 2 px wide or high"
            report.no_box[reason or "no box"] += 1
        elif obj.visib_fract < min_visib:
            report.below_min_visib += 1
        else:
            report.kept += 1
            keep.append(i)
    return keep


@dataclass
class DetectionFrame:
    """One image to estimate: its ``index`` in the dataset, the ``sample``, the indices ``keep``
    of its selected objects, their ``detections`` (in that order) and the ``intrinsics``."""

    index: int
    sample: object
    keep: list[int]
    detections: list
    intrinsics: object

    @property
    def objects(self) -> list:
        """The selected annotated objects, in the order of ``detections``."""
        return [self.sample.objects[i] for i in self.keep]


def detection_frames(
    dataset,
    categories: Iterable[str],
    min_visib: float = 0.3,
    max_objects: int | None = None,
    report: SelectionReport | None = None,
    use_masks: bool = False,
) -> Iterator[DetectionFrame]:
    """The images of ``dataset`` (a BOP reader) with objects :func:`select_objects` keeps, as
    :class:`DetectionFrame` s, until ``max_objects`` objects were yielded (None: all). Each
    detection has the object's category and :func:`bop_box_to_xyxy` box, and with
    ``use_masks`` its ``mask_visib``."""
    from ros_pose_estimation.core.camera import Intrinsics
    from ros_pose_estimation.core.estimation import Detection

    categories, done = set(categories), 0
    for index in range(len(dataset)):
        if max_objects is not None and done >= max_objects:
            return
        sample = dataset[index]
        keep = select_objects(sample, categories, min_visib, report)
        if max_objects is not None:
            keep = keep[: max_objects - done]
        if not keep:
            continue
        h, w = sample.rgb.shape[:2]
        detections = [
            Detection(sample.objects[i].category, bop_box_to_xyxy(sample.objects[i].bbox_visib),
                      sample.objects[i].mask_visib if use_masks else None)
            for i in keep
        ]  # fmt: skip
        done += len(keep)
        yield DetectionFrame(index, sample, keep, detections, Intrinsics.from_K(sample.K, w, h))


def describe_device(device: str) -> str:
    """``"cuda:0 (NVIDIA H100 ...)"`` or ``"cpu (model name, N threads)"``."""
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(
                (ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), model
            )
    except OSError:
        pass
    return f"{device} ({model}, {torch.get_num_threads()} torch threads)"
