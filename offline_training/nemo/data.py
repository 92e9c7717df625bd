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
:class:`StepBatchSampler` hands out such keys, batch ``s`` of a run being a function of ``s``
alone (exact resume).

BOP boxes are ``[x, y, w, h]`` with ``w = x_max - x_min`` over pixel indices; in the project's
convention (integer = pixel centre) the covered region is ``[x - .5, y - .5, x + w + .5, ...]``.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from offline_training.nemo.augment import AugmentConfig, augment_crop, jitter_box
from offline_training.synthetic.bop_reader import BopDataset
from ros_pose_estimation.core.camera import Intrinsics
from ros_pose_estimation.core.categories import get_category
from ros_pose_estimation.core.crops import Crop, square_crop_box
from ros_pose_estimation.core.errors import ConfigError, InputError

logger = logging.getLogger(__name__)


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
    bbox_visib: tuple[int, int, int, int]  # BOP x, y, w, h (px)


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
    ) -> None:
        cats = [categories] if isinstance(categories, str) else list(categories)
        self.categories = [get_category(c).name for c in cats]
        if crop_size < 8 or crop_scale < 1.0:
            raise ConfigError(f"need crop_size >= 8 and crop_scale >= 1, got {crop_size}, "
                              f"{crop_scale}")  # fmt: skip
        self.root, self.split = Path(root), split
        self.crop_size, self.crop_scale = int(crop_size), float(crop_scale)
        self.augment, self.seed = augment, int(seed)
        self.bop = BopDataset(root, split, load_masks=False)
        everything = scan_annotations(self.bop)
        self.entries = [
            e for e in everything
            if e.category in self.categories and e.visib_fract >= min_visib_fract
            and e.bbox_visib[2] >= 0 and max(e.bbox_visib[2:]) + 1 >= min_box_px
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
        x, y, bw, bh = e.bbox_visib
        box = np.array([x - 0.5, y - 0.5, x + bw + 0.5, y + bh + 0.5])
        rng = None if self.augment is None else np.random.default_rng([self.seed, draw, index])
        if rng is not None:
            box = jitter_box(box, self.augment, rng)
        source = Intrinsics.from_K(sample.K, w, h)
        crop = Crop.from_box(square_crop_box(box, self.crop_scale), self.crop_size, source)
        image, crop_mask = crop.warp(sample.rgb, "linear"), crop.warp_mask(mask)
        K, R, t = crop.intrinsics.K, obj.R, obj.t
        if rng is not None:
            image, crop_mask, R, t = augment_crop(image, crop_mask, K, R, t, self.augment, rng)
        chw = np.ascontiguousarray(image.transpose(2, 0, 1))
        return {
            "image": torch.from_numpy(chw).float() / 255.0,
            "K": torch.as_tensor(K, dtype=torch.float32),
            "R": torch.as_tensor(R, dtype=torch.float32),
            "t": torch.as_tensor(t, dtype=torch.float32),
            "mask_visib": torch.from_numpy(np.ascontiguousarray(crop_mask)),
            "obj_id": torch.tensor(e.obj_id, dtype=torch.int64),
            "category": e.category,
            "index": torch.tensor(index, dtype=torch.int64),
        }


class StepBatchSampler(torch.utils.data.Sampler):
    """Batches of keys ``(index, draw)`` for steps ``start_step .. steps - 1``.

    Samples are drawn epoch by epoch without replacement (epoch ``e`` is the permutation of
    ``default_rng([seed, e])``); ``draw`` is the global sample number, so every sample of the
    run gets its own augmentation and batch ``s`` depends on ``s`` only (resume is exact).
    """

    def __init__(self, n: int, batch_size: int, steps: int, seed: int = 0, start_step: int = 0):
        if n < 1 or batch_size < 1:
            raise ConfigError(f"need n >= 1 and batch_size >= 1, got {n}, {batch_size}")
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.steps, self.start_step = steps, start_step
        self._perms: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return max(0, self.steps - self.start_step)

    def _index(self, draw: int) -> int:
        epoch, pos = divmod(draw, self.n)
        if epoch not in self._perms:
            self._perms = {epoch: np.random.default_rng([self.seed, epoch]).permutation(self.n)}
        return int(self._perms[epoch][pos])

    def batch(self, step: int) -> list[tuple[int, int]]:
        draws = range(step * self.batch_size, (step + 1) * self.batch_size)
        return [(self._index(d), d) for d in draws]

    def __iter__(self):
        for step in range(self.start_step, self.steps):
            yield self.batch(step)
