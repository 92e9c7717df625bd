"""The annotated objects of a BOP split, as the training sets see them (NeMo's
:class:`~offline_training.nemo.data.NemoTrainingSet`, CSE's
:class:`~offline_training.cse.data.CseSequenceSet`).

:func:`scan_annotations` lists every annotated object (:class:`Entry`: image, annotation index,
category, ``visib_fract``, visible box) from the annotation files alone, without decoding an
image; a training set keeps those of its categories that are visible and large enough
(:meth:`Entry.usable`), and raises :class:`NoSamplesError` when none is left.

BOP boxes are ``[x, y, w, h]`` with ``w = x_max - x_min`` over pixel indices (px).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from offline_training.synthetic.bop_reader import BopDataset
from ros_pose_estimation.core.errors import InputError

__all__ = ["Entry", "NoSamplesError", "dataset_categories", "scan_annotations"]


class NoSamplesError(InputError):
    """The dataset holds no usable object of the requested categories."""


@dataclass(frozen=True)
class Entry:
    """One training object: image ``pos`` of the split, ``k``-th annotation of that image."""

    pos: int
    k: int
    obj_id: int
    category: str
    visib_fract: float
    bbox_visib: tuple[int, int, int, int]  # BOP x, y, w, h (px); w = -1: no visible box

    def usable(self, min_visib_fract: float, min_box_px: int) -> bool:
        """Visible enough (``visib_fract >= min_visib_fract``) with a visible box whose longer
        side spans at least ``min_box_px`` pixels."""
        box = self.bbox_visib
        big = box[2] >= 0 and max(box[2:]) + 1 >= min_box_px
        return self.visib_fract >= min_visib_fract and big


def scan_annotations(ds: BopDataset) -> list[Entry]:
    """Every annotated object of ``ds`` (no image is decoded; ``visib_fract`` 1 if unknown)."""
    # BopDataset keeps its parsed scene JSONs privately; reading them avoids decoding images.
    entries = []
    for pos, (scene_id, im_id) in enumerate(ds._index):
        meta = ds._scenes[scene_id]
        infos = meta["gt_info"].get(str(im_id), [])
        for k, gt in enumerate(meta["gt"].get(str(im_id), [])):
            info = infos[k] if k < len(infos) else {}
            cat = ds.category(gt["obj_id"])
            entries.append(Entry(
                pos, k, int(gt["obj_id"]), str(cat), float(info.get("visib_fract", 1.0)),
                tuple(int(v) for v in info.get("bbox_visib", (-1, -1, -1, -1))),
            ))  # fmt: skip
    return entries


def dataset_categories(root: str | Path, split: str = "train") -> dict[str, int]:
    """Annotated objects per category of a BOP split (``"None"``: models without category)."""
    return dict(Counter(e.category for e in scan_annotations(BopDataset(root, split, False))))
