"""BOP-format datasets (https://github.com/thodan/bop_toolkit/blob/master/docs/bop_datasets_format.md).

Layout written by :class:`BopWriter` and read by :class:`BopDataset`::

    DATASET/models/obj_000001.ply          mesh in millimetres, canonical frame
    DATASET/models/models_info.json        diameter, min_*, size_* (mm), symmetries, category
    DATASET/{train,test,...}/000000/       one folder per scene (6-digit id)
        scene_camera.json                  {im_id: {cam_K, depth_scale, [cam_R_w2c, cam_t_w2c]}}
        scene_gt.json                      {im_id: [{obj_id, cam_R_m2c, cam_t_m2c (mm)}, ...]}
        scene_gt_info.json                 {im_id: [{bbox_obj, bbox_visib, px_count_*, ...}]}
        rgb/000000.png                     8-bit RGB (the reader also takes .jpg and gray/)
        depth/000000.png                   uint16, depth_mm = value * depth_scale
        mask/000000_000001.png             full silhouette of GT 1 of image 0 (255 = object)
        mask_visib/000000_000001.png       its visible part

Units: BOP stores lengths in **millimetres**; everything this module returns is in **metres**.
We write ``depth_scale = 0.1`` (0.1 mm per unit, as the BOP PBR sets): 0.1 mm resolution and a
6.5535 m range (farther returns are written as 0 = missing). The reader honours any
``depth_scale`` per image. Boxes follow bop_toolkit: ``[x, y, w, h]`` with ``w = x_max - x_min``.

Our ``models_info.json`` adds a ``category`` string per model (ignored by other BOP tools); the
reader returns ``category=None`` for datasets without it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from ros_pose_estimation.core.categories import get_category, instance_symmetries
from ros_pose_estimation.core.conventions import pose_to_bop
from ros_pose_estimation.core.mesh_io import save_mesh

from .bop_reader import BopDataset, BopObject, BopSample  # noqa: F401

if TYPE_CHECKING:  # reading/writing BOP files does not need the renderer (open3d)
    from .render import RenderResult
    from .scene import ObjectModel, Scene

DEPTH_SCALE = 0.1  # mm per depth-PNG unit
MM = 1000.0  # mm per metre


def _dump(path: Path, data: dict) -> None:
    """Write ``data`` as JSON, one top-level key per line (compact, diff-friendly), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"  {json.dumps(str(k))}: {json.dumps(v)}" for k, v in data.items()]
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text("{\n" + ",\n".join(lines) + "\n}\n")
    tmp.replace(path)


def model_info(model: ObjectModel) -> dict:
    """BOP ``models_info`` entry (mm) of ``model`` plus its ``category``; symmetries come from
    the category and the instance's proportions (a box with a square footprint also has its
    quarter turns, :func:`~ros_pose_estimation.core.categories.instance_symmetries`; axes
    through the canonical origin, so every offset is 0)."""
    lo, hi = model.mesh.bounds * MM
    info = {"diameter": model.mesh.diameter * MM}
    for k, axis in enumerate("xyz"):
        info[f"min_{axis}"] = float(lo[k])
        info[f"size_{axis}"] = float(hi[k] - lo[k])
    cat = get_category(model.category)
    discrete = []
    for rot in instance_symmetries(cat, (hi - lo) / MM):
        if not np.allclose(rot, np.eye(3)):
            T = np.eye(4)
            T[:3, :3] = rot
            discrete.append([float(v) for v in T.reshape(-1)])
    if discrete:
        info["symmetries_discrete"] = discrete
    if cat.has_continuous_symmetry:
        info["symmetries_continuous"] = [
            {"axis": [float(v) for v in ax], "offset": [0.0, 0.0, 0.0]}
            for ax in cat.continuous_axes
        ]
    info["category"] = cat.name
    return info


class BopWriter:
    """Writes models and RGB-D frames with ground truth in the BOP format.

    JSON files are kept in memory per scene and written by :meth:`flush` (called by
    :meth:`close`, by leaving a ``with`` block, and automatically every ``flush_every`` frames).
    Writing into an existing scene folder extends its JSON files.

    Args:
        root: dataset root.
        split: split folder name (``train``, ``test``, ``train_pbr``, ...).
        depth_scale: mm per depth-PNG unit.
        rgb_ext: ``.png`` (lossless) or ``.jpg``.
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        depth_scale: float = DEPTH_SCALE,
        rgb_ext: str = ".png",
        flush_every: int = 100,
    ) -> None:
        if rgb_ext not in (".png", ".jpg"):
            raise ValueError(f"rgb_ext must be '.png' or '.jpg', got {rgb_ext!r}")
        self.root = Path(root)
        self.split_dir = self.root / split
        self.depth_scale = float(depth_scale)
        self.rgb_ext = rgb_ext
        self.flush_every = flush_every
        self._scenes: dict[int, dict[str, dict]] = {}
        self._dirty: set[int] = set()
        self._pending = 0

    def __enter__(self) -> BopWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def write_models(self, models: Sequence[ObjectModel]) -> None:
        """Write ``models/obj_XXXXXX.ply`` (mm) and ``models/models_info.json``."""
        model_dir = self.root / "models"
        model_dir.mkdir(parents=True, exist_ok=True)
        for m in models:
            save_mesh(m.mesh, model_dir / f"obj_{m.obj_id:06d}.ply", scale=MM)
        _dump(model_dir / "models_info.json", {str(m.obj_id): model_info(m) for m in models})

    def _scene(self, scene_id: int) -> dict[str, dict]:
        if scene_id not in self._scenes:
            d = self.split_dir / f"{scene_id:06d}"
            data = {}
            for name in ("scene_camera", "scene_gt", "scene_gt_info"):
                path = d / f"{name}.json"
                data[name] = json.loads(path.read_text()) if path.exists() else {}
            self._scenes[scene_id] = data
        return self._scenes[scene_id]

    def add_frame(
        self,
        scene_id: int,
        im_id: int,
        rgb: np.ndarray,
        depth: np.ndarray | None,
        K: np.ndarray,
        gts: Sequence[dict],
        T_world_cam: np.ndarray | None = None,
    ) -> None:
        """Write one image and its ground truth.

        Args:
            scene_id, im_id: BOP ids (>= 0).
            rgb: ``[H x W x 3]`` uint8 RGB.
            depth: ``[H x W]`` float depth (m, 0 = missing), or None.
            K: ``[3 x 3]`` camera matrix.
            gts: per object ``{"obj_id": int, "R": [3 x 3], "t": [3] (m)}``, optionally with
                ``"mask"`` / ``"mask_visib"`` (``[H x W]`` bool) and ``"info"`` (the
                ``scene_gt_info`` fields, boxes in px).
            T_world_cam: camera pose in the world (m), stored as BOP ``cam_R_w2c, cam_t_w2c``.
        """
        d = self.split_dir / f"{scene_id:06d}"
        for sub in ("rgb", "depth", "mask", "mask_visib"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        name = f"{im_id:06d}"
        bgr = np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8)[..., ::-1])
        cv2.imwrite(str(d / "rgb" / f"{name}{self.rgb_ext}"), bgr)
        cam = {"cam_K": [float(v) for v in np.asarray(K, dtype=np.float64).reshape(-1)]}
        if depth is not None:
            units = np.round(np.asarray(depth, np.float64) * MM / self.depth_scale)
            units[(units > 65535) | ~np.isfinite(units) | (units < 0)] = 0
            cv2.imwrite(str(d / "depth" / f"{name}.png"), units.astype(np.uint16))
            cam["depth_scale"] = self.depth_scale
        if T_world_cam is not None:
            T_cw = np.linalg.inv(np.asarray(T_world_cam, dtype=np.float64))
            w2c = pose_to_bop(T_cw[:3, :3], T_cw[:3, 3])
            cam["cam_R_w2c"], cam["cam_t_w2c"] = w2c["cam_R_m2c"], w2c["cam_t_m2c"]
        data = self._scene(scene_id)
        data["scene_camera"][str(im_id)] = cam
        data["scene_gt"][str(im_id)] = [
            {"obj_id": int(g["obj_id"]), **pose_to_bop(g["R"], g["t"])} for g in gts
        ]
        if all("info" in g for g in gts):
            data["scene_gt_info"][str(im_id)] = [g["info"] for g in gts]
        for k, g in enumerate(gts):
            for key in ("mask", "mask_visib"):
                if g.get(key) is not None:
                    img = np.asarray(g[key], dtype=bool).astype(np.uint8) * 255
                    cv2.imwrite(str(d / key / f"{name}_{k:06d}.png"), img)
        self._dirty.add(scene_id)
        self._pending += 1
        if self._pending >= self.flush_every:
            self.flush()

    def add_render(
        self, scene_id: int, im_id: int, result: RenderResult, scene: Scene, T_world_cam=None
    ) -> None:
        """:meth:`add_frame` for a :func:`render` result of ``scene``."""
        gts = []
        for i, obj in enumerate(scene.objects):
            info = {
                "bbox_obj": [int(v) for v in result.bbox_obj[i]],
                "bbox_visib": [int(v) for v in result.bbox_visib[i]],
                "px_count_all": int(result.px_count_all[i]),
                "px_count_valid": int(result.px_count_valid[i]),
                "px_count_visib": int(result.px_count_visib[i]),
                "visib_fract": float(result.visib_fract[i]),
            }
            gts.append({
                "obj_id": obj.obj_id, "R": result.T_cam_obj[i][:3, :3],
                "t": result.T_cam_obj[i][:3, 3], "mask": result.mask_full[i],
                "mask_visib": result.instance == i, "info": info,
            })  # fmt: skip
        self.add_frame(scene_id, im_id, result.rgb, result.depth, result.K, gts, T_world_cam)

    def flush(self) -> None:
        """Write the JSON files of the scenes changed since the last flush."""
        for scene_id in sorted(self._dirty):
            d = self.split_dir / f"{scene_id:06d}"
            for name, content in self._scenes[scene_id].items():
                if content or name != "scene_gt_info":
                    _dump(d / f"{name}.json", content)
        self._dirty.clear()
        self._pending = 0

    def close(self) -> None:
        """Flush and forget the in-memory JSON."""
        self.flush()
        self._scenes.clear()
