"""Pairs of frames of one object from RGB-D sequences, for self-supervised CSE training.

A *sequence* is a run of ``views_per_layout`` consecutive images of one static arrangement (the
data engine's ``--views-per-layout``; a recorded bag is one sequence); an object track is the
``k``-th object of those images (what a tracker or the detector's instance ids give). An item
is two frames ``a`` and ``b`` of one track: for each, the object-centred crop (``crop_scale`` x
its visible box, ``crop_size`` px) of the colour image, the depth (m, nearest neighbour), the
visible mask and the crop intrinsics, plus ``n_pairs`` **cross-time 2D pairs**: feature cells
of ``a`` on the object with depth, back-projected, moved by the *camera* motion
``T_cam_b^-1 T_cam_a`` (``scene_camera.json``'s ``cam_R_w2c``/``cam_t_w2c``: what a robot knows
from /tf) and projected into ``b``, kept when they land on ``b``'s mask with matching depth
(not occluded). No object pose label is read unless ``with_labels`` (the supervised upper bound
and evaluation) or ``pseudo_labels`` (the poses ``pose-train``'s depth + TF labeller wrote for the
tracks it accepted, :mod:`offline_training.bags.export_cse`; other objects are unlabelled).

Item tensors (``F`` = 2 frames, ``S`` = crop size, ``k`` = ``n_pairs``): ``image [F x 3 x S x
S]`` float in [0, 1], ``depth [F x S x S]`` (m, 0 invalid), ``mask [F x S x S]`` bool, ``K [F x
3 x 3]``, ``pair_cell [k]`` int64 (cell index in ``a``, row-major at ``stride``), ``pair_uv
[k x 2]`` (crop px in ``b``), ``pair_valid [k]`` bool, ``sequence`` int64 scalar (the
track's sequence id: items of different sequences are different videos, what the cross-instance
cycle pairs), ``up [F x 3]`` (the fixed frame's +z, i.e. up against gravity when the fixed frame
follows REP 103, in each camera frame: what /tf says about gravity); with labels also ``R [F x 3
x 3]``, ``t [F x 3]`` (crop camera = camera frame, m), ``size [F x 3]`` (the instance's extents,
m); with pseudo-labels those and ``labelled
[F]`` bool (identity / zero where False).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import torch

from offline_training.bop_objects import NoSamplesError, scan_annotations
from offline_training.cse.augment import (
    OccluderConfig,
    PhotometricConfig,
    occlude_rgbd,
    photometric,
)
from offline_training.synthetic.bop_reader import (
    BopDataset,
    BopSample,
    read_mask,
    world_camera_pose,
)
from ros_pose_estimation.core.camera import Intrinsics
from ros_pose_estimation.core.categories import get_category
from ros_pose_estimation.core.conventions import bop_pose_to_metres
from ros_pose_estimation.core.crops import Crop, square_crop_box
from ros_pose_estimation.core.errors import ConfigError
from ros_pose_estimation.cse.pixels import cell_mask_and_depth


def cross_time_pairs(
    cells: np.ndarray,
    cell_depth: np.ndarray,
    stride: int,
    intr_a: Intrinsics,
    intr_b: Intrinsics,
    T_a_to_b: np.ndarray,
    depth_b: np.ndarray,
    mask_b: np.ndarray,
    tol: float = 0.01,
) -> tuple[np.ndarray, np.ndarray]:
    """Geometric 2D pairs from depth and camera motion.

    Args:
        cells: ``[n x n]`` bool object cells of crop ``a``; cell_depth: ``[n x n]`` depth (m).
        stride: crop px per cell. intr_a, intr_b: crop intrinsics.
        T_a_to_b: ``[4 x 4]`` maps camera-``a`` coordinates into camera ``b`` (m).
        depth_b, mask_b: ``[S x S]`` crop depth (m) and mask of ``b``.
        tol: depth agreement (m) for a point to count as visible in ``b``.

    Returns:
        ``cell index [N]`` (row-major in ``a``) and ``uv_b [N x 2]`` (crop px of ``b``).
    """
    n = cells.shape[0]
    idx = np.flatnonzero(cells.reshape(-1) & (cell_depth.reshape(-1) > 0))
    centre = (np.stack([idx % n, idx // n], 1) + 0.5) * stride - 0.5
    pts = intr_a.backproject(centre, cell_depth.reshape(-1)[idx])
    pts_b = pts @ T_a_to_b[:3, :3].T + T_a_to_b[:3, 3]
    uv = intr_b.project(pts_b)
    s = depth_b.shape[0]
    pix = np.rint(np.nan_to_num(uv, nan=-1.0)).astype(np.int64)
    inside = np.all((pix >= 0) & (pix < s), axis=1) & (pts_b[:, 2] > 0)
    ok = np.zeros(len(idx), dtype=bool)
    r, c = pix[inside, 1], pix[inside, 0]
    z_obs = depth_b[r, c]
    ok[inside] = mask_b[r, c] & (z_obs > 0) & (np.abs(z_obs - pts_b[inside, 2]) < tol)
    return idx[ok], uv[ok]


class CseSequenceSet(torch.utils.data.Dataset):
    """Two-frame items of object tracks in a BOP split (see the module doc).

    Args:
        root, split: BOP dataset. category: the category to train.
        views_per_layout: images per sequence (the data engine's setting).
        crop_size, crop_scale, stride: as in :class:`~ros_pose_estimation.cse.model.CseConfig`.
        min_visib_fract / min_box_px: skip frames where the object is less visible / smaller.
        n_pairs: cross-time pairs per item (k = 200 published).
        with_labels: also return the object poses (supervised upper bound only).
        seed: seed of the frame and pair draws.
        pseudo_labels: also return the pseudo-label poses stored in ``scene_gt`` and which
            frames have one (``with_labels`` must be off).
        photometric: look perturbations of each RGB crop (:mod:`.augment`; None: none). Drawn
            from the item's generator, so an item is reproducible.
        occluders: an occluder in front of each frame's object with probability
            ``occluders.p`` (:func:`.augment.occlude_rgbd`: colour, depth and visible mask
            change; None: none), drawn before the look, from the item's own generator. The
            cross-time pairs are found after it, so no pair starts or ends on an occluder.
    """

    def __init__(
        self,
        root: str | Path,
        category: str,
        split: str = "train",
        views_per_layout: int = 8,
        crop_size: int = 128,
        crop_scale: float = 1.2,
        stride: int = 4,
        min_visib_fract: float = 0.5,
        min_box_px: int = 16,
        n_pairs: int = 200,
        with_labels: bool = False,
        seed: int = 0,
        pseudo_labels: bool = False,
        photometric: PhotometricConfig | None = None,
        occluders: OccluderConfig | None = None,
    ) -> None:
        if with_labels and pseudo_labels:
            raise ConfigError("with_labels (ground truth) and pseudo_labels exclude each other")
        if views_per_layout < 1 or n_pairs < 1 or crop_size % stride:
            raise ConfigError(
                f"need views_per_layout >= 1, n_pairs >= 1, crop_size % stride == 0; got "
                f"{views_per_layout}, {n_pairs}, {crop_size} % {stride}"
            )
        self.category = get_category(category).name
        self.bop = BopDataset(root, split, load_masks=True)
        self.crop_size, self.crop_scale, self.stride = crop_size, crop_scale, stride
        self.n_pairs, self.with_labels, self.seed = n_pairs, with_labels, seed
        self.pseudo_labels = pseudo_labels
        self.photometric, self.occluders = photometric, occluders
        tracks: dict[tuple[int, int], list] = defaultdict(list)
        for e in scan_annotations(self.bop):
            if e.category == self.category and e.usable(min_visib_fract, min_box_px):
                tracks[(e.pos // views_per_layout, e.k)].append(e)
        kept = [(key, v) for key, v in sorted(tracks.items()) if len(v) >= 2]
        self.tracks = [v for _, v in kept]
        self.sequences = [key[0] for key, _ in kept]  # sequence id of each track
        if not self.tracks:
            raise NoSamplesError(
                f"no track of {self.category} with >= 2 usable frames in {root}/{split} "
                f"(views_per_layout={views_per_layout}, min_visib_fract={min_visib_fract})"
            )

    def __len__(self) -> int:
        return len(self.tracks)

    def _sample(self, e) -> tuple[BopSample, np.ndarray | None]:
        """Image ``e.pos`` and object ``e.k``'s ``mask_visib``. Without labels no object pose is
        parsed (label-free data, e.g. ``pose-train --method cse``, stores only ``obj_id`` in
        ``scene_gt``): the returned sample has no objects."""
        if self.with_labels:
            sample = self.bop[e.pos]
            return sample, sample.objects[e.k].mask_visib
        scene_id, im_id = self.bop._index[e.pos]
        d = self.bop.split_dir / f"{scene_id:06d}"
        cam = self.bop._scenes[scene_id]["camera"][str(im_id)]
        path, _ = self.bop._image_path(d, im_id)
        rgb = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if rgb is None:
            raise OSError(f"cannot decode {path}")
        depth, depth_path = None, d / "depth" / f"{im_id:06d}.png"
        if depth_path.exists():
            raw = cv2.imread(str(depth_path), cv2.IMREAD_UNCHANGED).astype(np.float64)
            depth = (raw * float(cam.get("depth_scale", 1.0)) * 1e-3).astype(np.float32)
        T_world_cam = world_camera_pose(cam)
        K = np.asarray(cam["cam_K"], dtype=np.float64).reshape(3, 3)
        sample = BopSample(scene_id, im_id, rgb[..., ::-1].copy(), depth, K, [], T_world_cam)
        return sample, read_mask(d / "mask_visib" / f"{im_id:06d}_{e.k:06d}.png")

    def _frame(self, e) -> dict:
        sample, mask_visib = self._sample(e)
        h, w = sample.rgb.shape[:2]
        x, y, bw, bh = e.bbox_visib
        box = square_crop_box([x - 0.5, y - 0.5, x + bw + 0.5, y + bh + 0.5], self.crop_scale)
        crop = Crop.from_box(box, self.crop_size, Intrinsics.from_K(sample.K, w, h))
        if sample.depth is None or mask_visib is None:
            raise NoSamplesError(f"image {e.pos} of {self.bop.root} lacks depth or mask_visib")
        if sample.T_world_cam is None:
            raise NoSamplesError(f"image {e.pos} has no camera pose (cam_R_w2c) for pairs")
        out = {
            "image": crop.warp(sample.rgb, "linear"),
            "depth": crop.warp_depth(sample.depth),
            "mask": crop.warp_mask(mask_visib),
            "crop": crop,
            "T_world_cam": sample.T_world_cam,
        }
        if self.with_labels:
            obj = sample.objects[e.k]
            out["R"], out["t"] = obj.R, obj.t
            out["size"] = self.bop.instance_size(obj.obj_id)
        elif self.pseudo_labels:
            out["R"], out["t"], out["labelled"] = self._pseudo_label(sample, e.k)
        return out

    def _pseudo_label(self, sample: BopSample, k: int) -> tuple[np.ndarray, np.ndarray, bool]:
        """Object ``k``'s pseudo-label ``(R [3 x 3], t [3] m, True)`` from ``scene_gt``, or
        ``(I, 0, False)`` when the labeller gave it none."""
        objs = self.bop._scenes[sample.scene_id]["gt"].get(str(sample.im_id), [])
        entry = objs[k] if k < len(objs) else {}
        if "cam_R_m2c" not in entry:
            return np.eye(3), np.zeros(3), False
        R, t = bop_pose_to_metres(entry["cam_R_m2c"], entry["cam_t_m2c"])
        return R, t, True

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        index, draw = (int(key[0]), int(key[1])) if isinstance(key, tuple | list) else (key, 0)
        rng = np.random.default_rng([self.seed, draw, index])
        track = self.tracks[index]
        ia, ib = rng.choice(len(track), 2, replace=False)
        a, b = self._frame(track[ia]), self._frame(track[ib])
        if self.occluders is not None:  # own generators: the other draws stay the same
            hide = np.random.default_rng([self.seed, draw, index, 2])
            for f in (a, b):
                f["image"], f["depth"], f["mask"] = occlude_rgbd(
                    f["image"], f["depth"], f["mask"], self.occluders, hide
                )
        if self.photometric is not None:  # its own generator: the draws above stay the same
            look = np.random.default_rng([self.seed, draw, index, 1])
            for f in (a, b):
                f["image"] = photometric(f["image"], self.photometric, look)
        cells, cell_depth = cell_mask_and_depth(a["mask"], a["depth"], self.stride)
        T = np.linalg.inv(b["T_world_cam"]) @ a["T_world_cam"]
        idx, uv = cross_time_pairs(
            cells, cell_depth, self.stride, a["crop"].intrinsics, b["crop"].intrinsics, T,
            b["depth"], b["mask"],
        )  # fmt: skip
        k = self.n_pairs
        pick = rng.permutation(len(idx))[:k]
        pair_cell, pair_uv = np.zeros(k, np.int64), np.zeros((k, 2), np.float32)
        pair_cell[: len(pick)], pair_uv[: len(pick)] = idx[pick], uv[pick]
        frames = (a, b)
        item = {
            "image": torch.from_numpy(np.stack([f["image"] for f in frames])).permute(0, 3, 1, 2)
            .float().div_(255.0),
            "depth": torch.from_numpy(np.stack([f["depth"] for f in frames]).astype(np.float32)),
            "mask": torch.from_numpy(np.stack([f["mask"] for f in frames])),
            "K": torch.as_tensor(np.stack([f["crop"].intrinsics.K for f in frames]),
                                 dtype=torch.float32),
            "pair_cell": torch.from_numpy(pair_cell),
            "pair_uv": torch.from_numpy(pair_uv),
            "pair_valid": torch.arange(k) < len(pick),
            "sequence": torch.tensor(self.sequences[index], dtype=torch.long),
            "up": torch.as_tensor(np.stack([f["T_world_cam"][2, :3] for f in frames]),
                                  dtype=torch.float32),
        }  # fmt: skip
        if self.with_labels or self.pseudo_labels:
            item["R"] = torch.as_tensor(np.stack([f["R"] for f in frames]), dtype=torch.float32)
            item["t"] = torch.as_tensor(np.stack([f["t"] for f in frames]), dtype=torch.float32)
        if self.with_labels:
            sizes = np.stack([f["size"] for f in frames])
            item["size"] = torch.as_tensor(sizes, dtype=torch.float32)
        if self.pseudo_labels:
            item["labelled"] = torch.tensor([f["labelled"] for f in frames])
        return item


class AsLabelledTracks(torch.utils.data.Dataset):
    """A labelled :class:`CseSequenceSet` (``with_labels``) served in the pseudo-label layout,
    for replay (:class:`offline_training.replay.ReplaySet`) into a pseudo-labelled set.

    Every item gains ``labelled [F]`` (all True: the data engine's exact poses, so the
    ``pseudo`` term applies to both frames) and its ``sequence`` id is shifted by
    ``sequence_offset`` so that no replayed track shares an id with a track of the other set.
    """

    def __init__(self, labelled: CseSequenceSet, sequence_offset: int) -> None:
        if not labelled.with_labels:
            raise ConfigError("AsLabelledTracks needs a CseSequenceSet with with_labels=True")
        self.labelled, self.sequence_offset = labelled, int(sequence_offset)

    def __len__(self) -> int:
        return len(self.labelled)

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        item = self.labelled[key]
        item.pop("size")  # pseudo-labelled items carry no size: batches must share their keys
        item["labelled"] = torch.ones(item["R"].shape[0], dtype=torch.bool)
        item["sequence"] = item["sequence"] + self.sequence_offset
        return item

