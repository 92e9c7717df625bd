"""Read BOP-format datasets, ours (:class:`~.bop.BopWriter`) and those written by others.

Tolerated variations: RGB as ``.png`` or ``.jpg`` (or ``gray/`` images, replicated to 3
channels), any ``depth_scale`` (default 1.0 when absent, as in the BOP spec), no ``depth/``,
no ``mask/`` or ``mask_visib/``, no ``scene_gt_info.json``, no ``scene_gt.json`` (images
without annotations) and no ``category`` in ``models_info.json`` (-> ``None``). Everything is
returned in metres; the format itself is described in :mod:`.bop`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ros_pose_estimation.core.conventions import bop_pose_to_metres
from ros_pose_estimation.core.mesh import TriMesh

_IMAGE_DIRS = (("rgb", 3), ("gray", 1))
_IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".tif")


@dataclass
class BopObject:
    """One annotated object of an image.

    Attributes:
        obj_id: BOP model id.
        category: category from ``models_info.json``, or None when the dataset has none.
        R: ``[3 x 3]`` rotation model -> camera.
        t: ``[3]`` translation model -> camera (m).
        mask: ``[H x W]`` bool full silhouette, or None when not stored.
        mask_visib: ``[H x W]`` bool visible part, or None when not stored.
        info: this object's ``scene_gt_info`` entry (boxes in px), or {} when absent.
    """

    obj_id: int
    category: str | None
    R: np.ndarray
    t: np.ndarray
    mask: np.ndarray | None = None
    mask_visib: np.ndarray | None = None
    info: dict = field(default_factory=dict)

    @property
    def T_cam_obj(self) -> np.ndarray:
        """``[4 x 4]`` pose of the object in the camera frame (m)."""
        T = np.eye(4)
        T[:3, :3], T[:3, 3] = self.R, self.t
        return T

    @property
    def visib_fract(self) -> float | None:
        return self.info.get("visib_fract")


@dataclass
class BopSample:
    """One image: ``rgb`` ``[H x W x 3]`` uint8, ``depth`` ``[H x W]`` float32 m (0 = missing,
    None without depth), ``K`` ``[3 x 3]``, its objects, and ``T_world_cam`` ``[4 x 4]`` (m)
    when the dataset stores camera poses (``cam_R_w2c``), else None."""

    scene_id: int
    im_id: int
    rgb: np.ndarray
    depth: np.ndarray | None
    K: np.ndarray
    objects: list[BopObject]
    T_world_cam: np.ndarray | None = None


def _load_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


class BopDataset:
    """Random access to the images of one split of a BOP dataset.

    Args:
        root: dataset root (holding ``models/`` and the split folders).
        split: split folder name, e.g. ``train``, ``test``, ``train_pbr``.
        load_masks: read ``mask``/``mask_visib`` PNGs (set False to save time).
    """

    def __init__(self, root: str | Path, split: str = "train", load_masks: bool = True) -> None:
        self.root = Path(root)
        self.split_dir = self.root / split
        if not self.split_dir.is_dir():
            raise FileNotFoundError(f"no split folder {self.split_dir}")
        self.load_masks = load_masks
        info = _load_json(self.root / "models" / "models_info.json")
        self.models_info: dict[int, dict] = {int(k): v for k, v in info.items()}
        self._scenes: dict[int, dict[str, dict]] = {}
        self._index: list[tuple[int, int]] = []
        for d in sorted(p for p in self.split_dir.iterdir() if p.is_dir() and p.name.isdigit()):
            cams = _load_json(d / "scene_camera.json")
            if not cams:
                continue
            scene_id = int(d.name)
            self._scenes[scene_id] = {
                "camera": cams,
                "gt": _load_json(d / "scene_gt.json"),
                "gt_info": _load_json(d / "scene_gt_info.json"),
            }
            self._index += [(scene_id, int(k)) for k in sorted(cams, key=int)]

    def __len__(self) -> int:
        return len(self._index)

    def __iter__(self) -> Iterator[BopSample]:
        for i in range(len(self)):
            yield self[i]

    def category(self, obj_id: int) -> str | None:
        """Category of model ``obj_id`` (None when ``models_info`` does not say)."""
        return self.models_info.get(int(obj_id), {}).get("category")

    def model_path(self, obj_id: int) -> Path:
        return self.root / "models" / f"obj_{int(obj_id):06d}.ply"

    def load_model(self, obj_id: int) -> TriMesh:
        """The model mesh of ``obj_id`` in metres (BOP models are in mm)."""
        from ros_pose_estimation.core.mesh_io import load_mesh

        return load_mesh(self.model_path(obj_id), scale=1e-3)

    def _image_path(self, scene_dir: Path, im_id: int) -> tuple[Path, int]:
        for sub, channels in _IMAGE_DIRS:
            for ext in _IMAGE_EXTS:
                path = scene_dir / sub / f"{im_id:06d}{ext}"
                if path.exists():
                    return path, channels
        raise FileNotFoundError(f"no rgb/ or gray/ image for image {im_id} in {scene_dir}")

    def _mask(self, path: Path) -> np.ndarray | None:
        if not self.load_masks or not path.exists():
            return None
        return cv2.imread(str(path), cv2.IMREAD_GRAYSCALE) > 127

    def __getitem__(self, i: int) -> BopSample:
        scene_id, im_id = self._index[i]
        meta = self._scenes[scene_id]
        d = self.split_dir / f"{scene_id:06d}"
        path, channels = self._image_path(d, im_id)
        img = cv2.imread(str(path), cv2.IMREAD_COLOR if channels == 3 else cv2.IMREAD_GRAYSCALE)
        if img is None:
            raise OSError(f"cannot decode {path}")
        rgb = img[..., ::-1].copy() if channels == 3 else np.repeat(img[..., None], 3, axis=2)
        cam = meta["camera"][str(im_id)]
        depth = None
        depth_path = d / "depth" / f"{im_id:06d}.png"
        if depth_path.exists():
            raw = cv2.imread(str(depth_path), cv2.IMREAD_UNCHANGED)
            scale_m = float(cam.get("depth_scale", 1.0)) * 1e-3
            depth = (raw.astype(np.float64) * scale_m).astype(np.float32)
        T_world_cam = None
        if "cam_R_w2c" in cam and "cam_t_w2c" in cam:
            R, t = bop_pose_to_metres(cam["cam_R_w2c"], cam["cam_t_w2c"])
            T_world_cam = np.eye(4)
            T_world_cam[:3, :3], T_world_cam[:3, 3] = R.T, -R.T @ t
        infos = meta["gt_info"].get(str(im_id), [])
        objects = []
        for k, gt in enumerate(meta["gt"].get(str(im_id), [])):
            R, t = bop_pose_to_metres(gt["cam_R_m2c"], gt["cam_t_m2c"])
            objects.append(BopObject(
                obj_id=int(gt["obj_id"]), category=self.category(gt["obj_id"]), R=R, t=t,
                mask=self._mask(d / "mask" / f"{im_id:06d}_{k:06d}.png"),
                mask_visib=self._mask(d / "mask_visib" / f"{im_id:06d}_{k:06d}.png"),
                info=dict(infos[k]) if k < len(infos) else {},
            ))  # fmt: skip
        K = np.asarray(cam["cam_K"], dtype=np.float64).reshape(3, 3)
        return BopSample(scene_id, im_id, rgb, depth, K, objects, T_world_cam)
