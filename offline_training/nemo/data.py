"""Object-centred training crops from a BOP dataset (the data engine's output) for NeMo.

One item per (image, annotated object of the wanted categories) with ``visib_fract`` at least
``min_visib_fract``. The crop is the square box around the object's visible 2D box
(``bbox_visib``; jittered when augmenting, as a detector's box would be) scaled by
``crop_scale`` and resampled to ``crop_size`` pixels; its intrinsics follow (a crop only scales
and shifts pixel coordinates, so R and t are unchanged and only K changes).

The index (which objects to use) is built once from the annotation JSON files; images and masks
are decoded lazily in ``__getitem__``, so the set works with a ``DataLoader`` and any number of
workers. Randomness: an item key is an index or ``(index, draw)``; the augmentation of a key
depends only on ``(seed, draw, index)``, so a run is reproducible whatever the worker count.
:class:`~offline_training.train_loop.StepBatchSampler` hands out such keys, batch ``s`` of a
run being a function of ``s`` alone (exact resume).

BOP boxes are ``[x, y, w, h]`` with ``w = x_max - x_min`` over pixel indices; in the project's
convention (integer = pixel centre) the covered region is ``[x - .5, y - .5, x + w + .5, ...]``
(:func:`~offline_training.evaluation.bop_box_to_xyxy`). Which objects a split holds:
:mod:`offline_training.bop_objects`.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import torch

from offline_training.bop_objects import Entry, NoSamplesError, scan_annotations
from offline_training.evaluation import bop_box_to_xyxy
from offline_training.nemo.augment import AugmentConfig, augment_crop, jitter_box, mirror_sample
from offline_training.synthetic.bop_reader import BopDataset
from ros_pose_estimation.core.camera import Intrinsics
from ros_pose_estimation.core.categories import get_category
from ros_pose_estimation.core.crops import Crop, square_crop_box
from ros_pose_estimation.core.errors import ConfigError
from ros_pose_estimation.cse.symmetry import canonical_rotation

logger = logging.getLogger(__name__)


class NemoTrainingSet(torch.utils.data.Dataset):
    """Crops of the objects of ``categories`` in a BOP split, with exact crop intrinsics.

    Args:
        root: BOP dataset root; split: split folder.
        categories: a category name or a list of them.
        crop_size: output side ``S`` (px); crop_scale: crop side / longer side of the box.
        min_visib_fract: skip objects less visible than this; min_box_px: skip objects whose
            visible box is smaller than this (px, longer side).
        augment: augmentation settings, or None for plain crops.
        seed: seed of the augmentation draws.
        canonical_symmetry: for a symmetric category (bottle, bowl, can: about z; box: 180 deg
            about each axis) the label ``R`` is the member of the object's symmetry family
            that the view picks (:func:`ros_pose_estimation.cse.symmetry.canonical_rotation`,
            after the augmentation): the data engine's frame of a symmetric instance is one
            of several equivalent ones, so equivalent views of two instances would otherwise
            ask the same image features of different vertices.

    Items (``__getitem__(index)`` or ``(index, draw)``): ``image`` ``[3 x S x S]`` float32 in
    [0, 1], ``K`` ``[3 x 3]`` crop intrinsics (px), ``R`` ``[3 x 3]`` model -> camera, ``t``
    ``[3]`` (m), ``mask_visib`` ``[S x S]`` bool (the object's visible pixels), ``obj_id``
    (int64), ``category`` (str), ``index`` (int64), all float32 unless said.

    Raises:
        NoSamplesError: no object passes the filters (the message lists what the split holds).
    """

    def __init__(
        self,
        root: str | Path,
        categories: str | list[str],
        split: str = "train",
        crop_size: int = 128,
        crop_scale: float = 1.2,
        min_visib_fract: float = 0.3,
        min_box_px: int = 8,
        augment: AugmentConfig | None = None,
        seed: int = 0,
        canonical_symmetry: bool = False,
    ) -> None:
        cats = [categories] if isinstance(categories, str) else list(categories)
        self.categories = [get_category(c).name for c in cats]
        if crop_size < 8 or crop_scale < 1.0:
            raise ConfigError(f"need crop_size >= 8 and crop_scale >= 1, got {crop_size}, "
                              f"{crop_scale}")  # fmt: skip
        self.root, self.split = Path(root), split
        self.crop_size, self.crop_scale = int(crop_size), float(crop_scale)
        self.augment, self.seed = augment, int(seed)
        self.canonical_symmetry = canonical_symmetry
        self.bop = BopDataset(root, split, load_masks=False)
        everything = scan_annotations(self.bop)
        self.entries = [
            e for e in everything
            if e.category in self.categories and e.usable(min_visib_fract, min_box_px)
        ]  # fmt: skip
        if not self.entries:
            found = Counter(e.category for e in everything)
            have = ", ".join(f"{c}: {n}" for c, n in sorted(found.items())) or "no objects"
            raise NoSamplesError(
                f"no training objects of {self.categories} in {self.root}/{split} with "
                f"visib_fract >= {min_visib_fract}; the split has {have}"
            )
        self._warned_no_mask = False

    def __len__(self) -> int:
        return len(self.entries)

    def _mask_visib(self, sample, e: Entry, shape: tuple[int, int]) -> np.ndarray:
        path = (self.bop.split_dir / f"{sample.scene_id:06d}" / "mask_visib"
                / f"{sample.im_id:06d}_{e.k:06d}.png")  # fmt: skip
        mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE) if path.exists() else None
        if mask is not None:
            return mask > 127
        if not self._warned_no_mask:
            logger.warning("%s missing: using the visible box as the object mask", path)
            self._warned_no_mask = True
        x, y, w, h = e.bbox_visib
        out = np.zeros(shape, dtype=bool)
        out[max(y, 0) : y + h + 1, max(x, 0) : x + w + 1] = True
        return out

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        pair = isinstance(key, tuple | list)
        index, draw = (int(key[0]), int(key[1])) if pair else (int(key), 0)
        e = self.entries[index]
        sample = self.bop[e.pos]
        obj = sample.objects[e.k]
        h, w = sample.rgb.shape[:2]
        mask = self._mask_visib(sample, e, (h, w))
        box = bop_box_to_xyxy(e.bbox_visib)
        rng = None if self.augment is None else np.random.default_rng([self.seed, draw, index])
        if rng is not None:
            box = jitter_box(box, self.augment, rng)
        source = Intrinsics.from_K(sample.K, w, h)
        crop = Crop.from_box(square_crop_box(box, self.crop_scale), self.crop_size, source)
        image, crop_mask = crop.warp(sample.rgb, "linear"), crop.warp_mask(mask)
        K, R, t = crop.intrinsics.K, obj.R, obj.t
        if rng is not None:
            image, crop_mask, R, t = augment_crop(image, crop_mask, K, R, t, self.augment, rng)
            # drawn last and only when on: the other augmentations' draws stay as they were
            if (self.augment.p_mirror > 0 and get_category(e.category).mirror_symmetric
                    and rng.random() < self.augment.p_mirror):  # fmt: skip
                image, crop_mask, K, R, t = mirror_sample(image, crop_mask, K, R, t)
        if self.canonical_symmetry:
            R = canonical_rotation(R, e.category)
        chw = np.ascontiguousarray(image.transpose(2, 0, 1))
        return {
            "image": torch.from_numpy(chw).float() / 255.0,
            "K": torch.as_tensor(K, dtype=torch.float32),
            "R": torch.as_tensor(R, dtype=torch.float32),
            "t": torch.as_tensor(t, dtype=torch.float32),
            "mask_visib": torch.from_numpy(np.ascontiguousarray(crop_mask)),
            "obj_id": torch.tensor(e.obj_id, dtype=torch.int64),
            "size": torch.as_tensor(self.bop.instance_size(e.obj_id), dtype=torch.float32),
            "category": e.category,
            "index": torch.tensor(index, dtype=torch.int64),
        }
