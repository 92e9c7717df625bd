"""Read BOP-format datasets, ours (:class:`~.bop.BopWriter`) and those written by others.

Tolerated variations: RGB as ``.png`` or ``.jpg`` (or ``gray/`` images, replicated to 3
channels), any ``depth_scale`` (default 1.0 when absent, as in the BOP spec), no ``depth/``,
no ``mask/`` or ``mask_visib/``, no ``scene_gt_info.json`` or entries of it without
``visib_fract``, ``px_count_*`` or ``bbox_visib``, no ``scene_gt.json`` (images without
annotations; refused with ``require_gt``, as by the evaluation tools) and no ``category`` in
``models_info.json`` (-> ``None``). Everything is returned in metres; the format itself is
described in :mod:`.bop`. A scene folder without ``scene_camera.json``, or with images but no
``rgb/`` or ``gray/`` folder, is refused when the dataset is opened (:class:`InputError`
naming the missing path), not when its first image is read.

Visibility and the visible box of every object are always filled in and say where they came
from (:attr:`BopObject.visib_source`, :attr:`BopObject.bbox_source`):

* ``visib_fract``: ``"info"`` (``scene_gt_info``), else ``"px_count"``
  (``px_count_visib / px_count_all``), else ``"masks"`` (``mask_visib`` pixels / ``mask``
  pixels; both masks hold only the in-image part, so a truncated object comes out more
  visible than BOP's ``px_count_all``, which counts the silhouette outside the image), else
  ``"assumed"`` (1.0, nothing to derive it from).
* ``bbox_visib`` (BOP ``[x, y, w, h]`` px, ``w = x_max - x_min``): ``"info"``, else the box of
  the ``"mask_visib"`` pixels, else of the ``"mask"`` pixels (the whole in-image silhouette),
  else ``"model"``: the model's vertices projected with the image's ``K`` and the GT pose,
  rounded outwards and clipped to the image (it contains every silhouette pixel). An object
  known to have no visible pixel, or whose box cannot be derived, has ``bbox_visib = None`` and
  a :attr:`BopObject.no_box_reason`.

Masks needed for a derivation are read even with ``load_masks=False`` (for those objects only;
``BopObject.mask``/``mask_visib`` stay None then).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ros_pose_estimation.core.conventions import bop_pose_to_metres
from ros_pose_estimation.core.errors import InputError
from ros_pose_estimation.core.mesh import TriMesh

_IMAGE_DIRS = (("rgb", 3), ("gray", 1))
_IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".tif")
VISIB_SOURCES = ("info", "px_count", "masks", "assumed")
BOX_SOURCES = ("info", "mask_visib", "mask", "model")


@dataclass
class BopObject:
    """One annotated object of an image.

    Attributes:
        obj_id: BOP model id.
        category: category from ``models_info.json``, or None when the dataset has none.
        R: ``[3 x 3]`` rotation model -> camera.
        t: ``[3]`` translation model -> camera (m).
        mask: ``[H x W]`` bool full silhouette, or None when not stored (or not loaded).
        mask_visib: ``[H x W]`` bool visible part, or None when not stored (or not loaded).
        info: this object's ``scene_gt_info`` entry as stored (boxes in px), or {} when absent.
        visib_fract: visible fraction of the silhouette, 0-1 (see the module docstring).
        visib_source: where ``visib_fract`` came from, one of :data:`VISIB_SOURCES`.
        bbox_visib: BOP ``(x, y, w, h)`` box of the visible part (px, ``w = x_max - x_min``),
            or None when there is none.
        bbox_source: where ``bbox_visib`` came from (or the source that had no box), one of
            :data:`BOX_SOURCES`; None when no source was consulted (the object is known to
            have no visible pixel, or its model could not be read).
        no_box_reason: why ``bbox_visib`` is None ("" when there is a box).
        mask_visib_path: where this object's ``mask_visib`` PNG is (whether or not it exists or
            was loaded): :meth:`visible_mask` reads it on demand.
    """

    obj_id: int
    category: str | None
    R: np.ndarray
    t: np.ndarray
    mask: np.ndarray | None = None
    mask_visib: np.ndarray | None = None
    info: dict = field(default_factory=dict)
    visib_fract: float = 1.0
    visib_source: str = "assumed"
    bbox_visib: tuple[int, int, int, int] | None = None
    bbox_source: str | None = None
    no_box_reason: str = ""
    mask_visib_path: Path | None = None

    def visible_mask(self) -> np.ndarray | None:
        """``[H x W]`` bool visible part: ``mask_visib`` when loaded, else read from
        ``mask_visib_path`` (a dataset opened with ``load_masks=False``), else None (not
        stored). Read again on every call: cache it where it is used often."""
        if self.mask_visib is not None or self.mask_visib_path is None:
            return self.mask_visib
        return read_mask(self.mask_visib_path)

    @property
    def T_cam_obj(self) -> np.ndarray:
        """``[4 x 4]`` pose of the object in the camera frame (m)."""
        T = np.eye(4)
        T[:3, :3], T[:3, 3] = self.R, self.t
        return T


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
    """``path``'s JSON object, ``{}`` when the file is absent.

    Raises:
        InputError: the file is not valid JSON (a damaged or half-written dataset), naming it.
    """
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path} is not valid JSON ({exc}); the dataset is damaged: "
                         "regenerate or repair it") from None  # fmt: skip


#: who writes a scene's files, for the messages about a missing one
_WRITTEN_BY = ("it is written with the images by the data engine (generate-dataset), or "
               "comes with a BOP dataset made elsewhere (BOP toolkit)")  # fmt: skip


def _scene_problem(scene_dir: Path, cams: dict, require_gt: bool) -> str | None:
    """What the reader needs but the scene folder ``scene_dir`` lacks, given its parsed
    ``scene_camera.json`` ``cams`` (non-empty): an image folder, and ``scene_gt.json`` when
    ``require_gt``; None when nothing is missing."""
    scene = f"scene {scene_dir.name} ({len(cams)} images)"
    if not any((scene_dir / sub).is_dir() for sub, _ in _IMAGE_DIRS):
        return (f"{scene} has no image folder {scene_dir / 'rgb'} (nor gray/): copy the "
                "dataset again in full, or remove the incomplete scene folder")
    if require_gt and not (scene_dir / "scene_gt.json").is_file():
        return (f"{scene} has no {scene_dir / 'scene_gt.json'}, the ground-truth poses an "
                f"evaluation needs; {_WRITTEN_BY}: restore it or regenerate the dataset")
    return None


def world_camera_pose(cam: dict) -> np.ndarray | None:
    """``T_world_cam`` ``[4 x 4]`` (m) of one ``scene_camera.json`` entry, None when it has no
    ``cam_R_w2c`` / ``cam_t_w2c`` (BOP stores world -> camera)."""
    if "cam_R_w2c" not in cam or "cam_t_w2c" not in cam:
        return None
    R, t = bop_pose_to_metres(cam["cam_R_w2c"], cam["cam_t_w2c"])
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R.T, -R.T @ t
    return T


def read_mask(path: Path) -> np.ndarray | None:
    """``[H x W]`` bool mask (pixels > 127) of a PNG, or None when there is no such file."""
    return cv2.imread(str(path), cv2.IMREAD_GRAYSCALE) > 127 if path.exists() else None


def mask_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """BOP ``(x, y, w, h)`` (px, ``w = x_max - x_min``) of a bool mask's pixels; None if empty."""
    rows, cols = np.any(mask, axis=1), np.any(mask, axis=0)
    if not rows.any():
        return None
    y0, y1 = np.flatnonzero(rows)[[0, -1]]
    x0, x1 = np.flatnonzero(cols)[[0, -1]]
    return int(x0), int(y0), int(x1 - x0), int(y1 - y0)


def projected_box(
    vertices: np.ndarray, R: np.ndarray, t: np.ndarray, K: np.ndarray, width: int, height: int
) -> tuple[tuple[int, int, int, int] | None, str]:
    """BOP ``(x, y, w, h)`` (px) of ``vertices`` ``[V x 3]`` (model frame, m) seen with pose
    ``R``, ``t`` (m) and camera matrix ``K``: the projections' extent rounded outwards to pixel
    centres and clipped to the ``width x height`` image, so it contains every pixel of the
    object's silhouette. Returns ``(box, "")`` or ``(None, reason)`` when the model lies
    outside the image or crosses the camera plane (z <= 0, where the projection is unbounded).
    """
    p = vertices @ np.asarray(R).T + np.asarray(t)
    if len(p) == 0:
        return None, "the model has no vertices"
    if np.any(p[:, 2] <= 1e-6):
        return None, "the model reaches behind the camera (z <= 0)"
    uv = (p @ np.asarray(K, dtype=np.float64).T)[:, :2] / p[:, 2:]
    (x0, y0), (x1, y1) = np.floor(uv.min(0)), np.ceil(uv.max(0))
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width - 1), min(y1, height - 1)
    if x1 < x0 or y1 < y0:
        return None, "the projected model lies outside the image"
    return (int(x0), int(y0), int(x1 - x0), int(y1 - y0)), ""


class BopDataset:
    """Random access to the images of one split of a BOP dataset.

    Args:
        root: dataset root (holding ``models/`` and the split folders).
        split: split folder name, e.g. ``train``, ``test``, ``train_pbr``.
        load_masks: read ``mask``/``mask_visib`` PNGs (set False to save time; masks needed
            to derive a missing ``visib_fract`` or box are read anyway).
        require_gt: refuse a scene without ``scene_gt.json`` (what evaluations need) instead
            of reading its images as unannotated.

    Raises:
        FileNotFoundError: there is no folder ``root/split``.
        InputError: a scene folder lacks ``scene_camera.json``, its image folder (``rgb/``
            or ``gray/``) or, with ``require_gt``, ``scene_gt.json``; a JSON file is damaged.
            The message names the path and what to do.
    """

    def __init__(self, root: str | Path, split: str = "train", load_masks: bool = True,
                 require_gt: bool = False) -> None:  # fmt: skip
        self.root = Path(root)
        self.split_dir = self.root / split
        if not self.split_dir.is_dir():
            raise FileNotFoundError(f"no split folder {self.split_dir}")
        self.load_masks = load_masks
        info = _load_json(self.root / "models" / "models_info.json")
        self.models_info: dict[int, dict] = {int(k): v for k, v in info.items()}
        self._scenes: dict[int, dict[str, dict]] = {}
        self._index: list[tuple[int, int]] = []
        self._vertices: dict[int, np.ndarray | str] = {}  # obj_id -> [V x 3] m, or why not
        for d in sorted(p for p in self.split_dir.iterdir() if p.is_dir() and p.name.isdigit()):
            if not (d / "scene_camera.json").is_file():
                raise InputError(f"scene {d.name} has no {d / 'scene_camera.json'}, the camera "
                                 f"matrices of its images; {_WRITTEN_BY}: restore it, or "
                                 "remove the incomplete scene folder")  # fmt: skip
            cams = _load_json(d / "scene_camera.json")
            if not cams:
                continue
            if problem := _scene_problem(d, cams, require_gt):
                raise InputError(problem)
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

    def camera_poses(self) -> dict[tuple[int, int], np.ndarray | None]:
        """``{(scene_id, im_id): T_world_cam or None}`` of every image in dataset order (the
        order of ``self[i]``), from the parsed ``scene_camera.json``; no image is decoded."""
        return {(s, im): world_camera_pose(self._scenes[s]["camera"][str(im)])
                for s, im in self._index}  # fmt: skip

    def gt_rotations(self) -> dict[tuple[int, int, int], np.ndarray]:
        """``{(scene_id, im_id, k): R [3 x 3]}`` (model -> camera) of every annotation, from the
        parsed ``scene_gt.json``; no image is decoded."""
        out = {}
        for s, im in self._index:
            for k, gt in enumerate(self._scenes[s]["gt"].get(str(im), [])):
                out[(s, im, k)] = bop_pose_to_metres(gt["cam_R_m2c"], gt["cam_t_m2c"])[0]
        return out

    def instance_size(self, obj_id: int) -> np.ndarray:
        """``[3]`` extents (m) of model ``obj_id``: ``size_x/y/z`` of ``models_info`` (mm) when
        given, else the model mesh's bounding box."""
        info = self.models_info.get(int(obj_id), {})
        if all(f"size_{a}" in info for a in "xyz"):
            return np.array([info["size_x"], info["size_y"], info["size_z"]]) * 1e-3
        vertices = self._model_vertices(int(obj_id))  # read once per model, not per object
        if isinstance(vertices, str):
            return self.load_model(obj_id).extents  # raises what reading the model raised
        return vertices.max(axis=0) - vertices.min(axis=0)

    def category(self, obj_id: int) -> str | None:
        """Category of model ``obj_id`` (None when ``models_info`` does not say)."""
        return self.models_info.get(int(obj_id), {}).get("category")

    def model_path(self, obj_id: int) -> Path:
        return self.root / "models" / f"obj_{int(obj_id):06d}.ply"

    def load_model(self, obj_id: int) -> TriMesh:
        """The model mesh of ``obj_id`` in metres (BOP models are in mm)."""
        from ros_pose_estimation.core.mesh_io import load_mesh

        return load_mesh(self.model_path(obj_id), scale=1e-3)

    def _model_vertices(self, obj_id: int) -> np.ndarray | str:
        """``[V x 3]`` model vertices (m), cached, or the reason the model cannot be read."""
        if obj_id not in self._vertices:
            try:
                self._vertices[obj_id] = self.load_model(obj_id).vertices
            except (OSError, ValueError) as exc:
                self._vertices[obj_id] = f"no model to project ({exc})"
        return self._vertices[obj_id]

    def _image_path(self, scene_dir: Path, im_id: int) -> tuple[Path, int]:
        for sub, channels in _IMAGE_DIRS:
            for ext in _IMAGE_EXTS:
                path = scene_dir / sub / f"{im_id:06d}{ext}"
                if path.exists():
                    return path, channels
        raise FileNotFoundError(
            f"image {im_id} of scene {scene_dir.name} is listed in scene_camera.json but "
            f"{scene_dir / 'rgb' / f'{im_id:06d}.png'} (.jpg, or under gray/) is missing: "
            "restore it, or regenerate the dataset"
        )

    def _derive(self, obj: BopObject, paths: dict[str, Path], K: np.ndarray, size) -> None:
        """Fill ``obj``'s ``visib_fract`` and ``bbox_visib`` and their sources (module doc);
        ``paths``: ``{"mask": ..., "mask_visib": ...}`` PNG paths, ``size``: image (w, h) px."""
        loaded = {"mask": obj.mask, "mask_visib": obj.mask_visib} if self.load_masks else {}

        def mask(key: str) -> np.ndarray | None:
            if key not in loaded:  # read on demand, once
                loaded[key] = read_mask(paths[key])
            return loaded[key]

        info = obj.info
        if "visib_fract" in info:
            obj.visib_fract, obj.visib_source = float(info["visib_fract"]), "info"
        elif "px_count_visib" in info and "px_count_all" in info:
            n_all = float(info["px_count_all"])
            obj.visib_fract = float(info["px_count_visib"]) / n_all if n_all > 0 else 0.0
            obj.visib_source = "px_count"
        elif mask("mask_visib") is not None and mask("mask") is not None:
            n_all = int(np.count_nonzero(mask("mask")))
            n_visib = int(np.count_nonzero(mask("mask_visib")))
            obj.visib_fract = min(n_visib / n_all, 1.0) if n_all else 0.0
            obj.visib_source = "masks"
        else:
            obj.visib_fract, obj.visib_source = 1.0, "assumed"

        box = info.get("bbox_visib")
        if box is not None:
            obj.bbox_source = "info"
            if min(box[2], box[3]) < 0:
                obj.no_box_reason = "bbox_visib is [-1, -1, -1, -1] (no visible pixel)"
            else:
                obj.bbox_visib = tuple(int(v) for v in box)
        elif obj.visib_source != "assumed" and obj.visib_fract <= 0.0:
            obj.no_box_reason = f"no visible pixel (visib_fract 0 from {obj.visib_source})"
        elif (m := mask("mask_visib")) is not None:
            obj.bbox_source, obj.bbox_visib = "mask_visib", mask_box(m)
            obj.no_box_reason = "" if obj.bbox_visib else "mask_visib is empty (no visible pixel)"
        elif (m := mask("mask")) is not None:
            obj.bbox_source, obj.bbox_visib = "mask", mask_box(m)
            obj.no_box_reason = "" if obj.bbox_visib else "mask is empty (not in the image)"
        else:
            vertices = self._model_vertices(obj.obj_id)
            if isinstance(vertices, str):
                obj.no_box_reason = vertices
            else:
                obj.bbox_source = "model"
                obj.bbox_visib, obj.no_box_reason = projected_box(vertices, obj.R, obj.t, K, *size)

    def __getitem__(self, i: int) -> BopSample:
        scene_id, im_id = self._index[i]
        meta = self._scenes[scene_id]
        d = self.split_dir / f"{scene_id:06d}"
        path, channels = self._image_path(d, im_id)
        img = cv2.imread(str(path), cv2.IMREAD_COLOR if channels == 3 else cv2.IMREAD_GRAYSCALE)
        if img is None:
            raise OSError(f"cannot decode {path}: the file is damaged; restore it, or "
                          "regenerate the dataset")  # fmt: skip
        rgb = img[..., ::-1].copy() if channels == 3 else np.repeat(img[..., None], 3, axis=2)
        cam = meta["camera"][str(im_id)]
        K = np.asarray(cam["cam_K"], dtype=np.float64).reshape(3, 3)
        depth = None
        depth_path = d / "depth" / f"{im_id:06d}.png"
        if depth_path.exists():
            raw = cv2.imread(str(depth_path), cv2.IMREAD_UNCHANGED)
            scale_m = float(cam.get("depth_scale", 1.0)) * 1e-3
            depth = (raw.astype(np.float64) * scale_m).astype(np.float32)
        T_world_cam = world_camera_pose(cam)
        infos = meta["gt_info"].get(str(im_id), [])
        objects = []
        for k, gt in enumerate(meta["gt"].get(str(im_id), [])):
            R, t = bop_pose_to_metres(gt["cam_R_m2c"], gt["cam_t_m2c"])
            paths = {key: d / key / f"{im_id:06d}_{k:06d}.png" for key in ("mask", "mask_visib")}
            obj = BopObject(
                obj_id=int(gt["obj_id"]), category=self.category(gt["obj_id"]), R=R, t=t,
                mask=read_mask(paths["mask"]) if self.load_masks else None,
                mask_visib=read_mask(paths["mask_visib"]) if self.load_masks else None,
                info=dict(infos[k]) if k < len(infos) else {},
                mask_visib_path=paths["mask_visib"],
            )  # fmt: skip
            self._derive(obj, paths, K, (rgb.shape[1], rgb.shape[0]))
            objects.append(obj)
        return BopSample(scene_id, im_id, rgb, depth, K, objects, T_world_cam)
