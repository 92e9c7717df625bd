"""Write pseudo-labels as a BOP training set that ``train-nemo`` reads unchanged.

Layout (``OUT``): ``models/`` copied from the target (categories via ``models_info.json``) and
one scene ``SPLIT/000000`` in which every kept label is an image of its own holding exactly one
annotation: the label's object with the *estimated* pose (``scene_gt.json``,
``cam_R_m2c`` / ``cam_t_m2c`` in mm), the target's ``scene_gt_info`` entry (visible box,
``visib_fract``), its camera (``scene_camera.json``), RGB and masks (hard links where the file
system allows, copies otherwise). Two labels of one target image become two images with the
same pixels, so an image never carries an annotation that was not kept. Other objects of the
image stay unannotated (background to the trainer). ``pseudo_labels.json`` lists where every
image came from, its score and (evaluation only) its error against the ground truth.

The masks are the target's ``mask_visib`` / ``mask``: like the boxes, they stand in for a
detector / segmenter (the trainer needs the visible pixels to tell visible vertices); the
pose is the model's estimate only.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from offline_training.adapt.pseudo_labels import PseudoLabel
from ros_pose_estimation.core.conventions import pose_to_bop
from ros_pose_estimation.core.errors import InputError

__all__ = ["write_pseudo_bop"]

_EXTS = (".png", ".jpg", ".jpeg")


def _link(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another file system, or links not allowed: copy
        shutil.copy2(src, dst)


def _image(scene_dir: Path, im_id: int) -> Path:
    for ext in _EXTS:
        path = scene_dir / "rgb" / f"{im_id:06d}{ext}"
        if path.exists():
            return path
    raise InputError(f"no rgb/{im_id:06d}.(png|jpg) in {scene_dir}")


def write_pseudo_bop(target_root: str | Path, target_split: str, labels: Sequence[PseudoLabel],
                     out: str | Path, split: str = "train") -> Path:  # fmt: skip
    """Write ``labels`` (from ``target_root/target_split``) as a BOP set at ``out`` (module
    doc); returns ``out``. An existing ``out/split`` is replaced (a round re-run after an
    interruption writes the same labels again).

    Raises:
        InputError: no labels, or a label's image / annotation is missing in the target.
    """
    if not labels:
        raise InputError("no pseudo-labels to write")
    src, out = Path(target_root), Path(out)
    dst = out / split / "000000"
    if dst.parent.exists():
        shutil.rmtree(dst.parent)
    for sub in ("rgb", "mask_visib", "mask"):
        (dst / sub).mkdir(parents=True, exist_ok=True)
    shutil.copytree(src / "models", out / "models", dirs_exist_ok=True)
    scenes: dict[int, dict] = {}
    gt, info, cams, meta = {}, {}, {}, []
    for n, lb in enumerate(labels):
        scene_dir = src / target_split / f"{lb.scene_id:06d}"
        if lb.scene_id not in scenes:
            scenes[lb.scene_id] = {
                name: json.loads((scene_dir / f"{name}.json").read_text())
                if (scene_dir / f"{name}.json").exists() else {}
                for name in ("scene_camera", "scene_gt_info")
            }  # fmt: skip
        cam = scenes[lb.scene_id]["scene_camera"].get(str(lb.im_id))
        if cam is None:
            raise InputError(f"{scene_dir}/scene_camera.json has no image {lb.im_id}")
        infos = scenes[lb.scene_id]["scene_gt_info"].get(str(lb.im_id), [])
        rgb = _image(scene_dir, lb.im_id)
        _link(rgb, dst / "rgb" / f"{n:06d}{rgb.suffix}")
        for sub in ("mask_visib", "mask"):
            mask = scene_dir / sub / f"{lb.im_id:06d}_{lb.gt_index:06d}.png"
            if mask.exists():
                _link(mask, dst / sub / f"{n:06d}_000000.png")
        gt[str(n)] = [{"obj_id": int(lb.obj_id), **pose_to_bop(lb.R, lb.t)}]
        info[str(n)] = [infos[lb.gt_index]] if lb.gt_index < len(infos) else [{}]
        cams[str(n)] = cam
        meta.append({"image": n, **{k: v for k, v in lb.to_dict().items() if k not in ("R", "t")}})
    for name, payload in (("scene_gt", gt), ("scene_gt_info", info), ("scene_camera", cams)):
        (dst / f"{name}.json").write_text(json.dumps(payload, indent=1))
    (out / "pseudo_labels.json").write_text(json.dumps(
        {"source": str(src.resolve()), "split": target_split, "labels": meta}, indent=1
    ))  # fmt: skip
    return out
