"""Labelled tracks of extracted recordings -> a BOP dataset the NeMo trainer reads.

Every frame with a camera pose gets, for each object whose track has an (accepted) label
``T_fixed_obj``, the pose ``T_cam_obj = inv(T_fixed_cam) @ T_fixed_obj`` and masks drawn from the
category template scaled to the label's ``extents`` (points splatted with a z-buffer, holes
closed): ``mask`` (full silhouette) and ``mask_visib`` (where the recorded depth is not in front
of the model by more than ``occlusion_tolerance`` m; the full silhouette without depth). The 2D
box of the object is the recording's (detector / segmentation) box, as at run time.
``scene_id`` = index of the recording, ``im_id`` = frame position. RGB only (NeMo is RGB).
Each labelled track is its own model (``obj_id`` 1, 2, ... in recording and track order): the
category template scaled per axis to the label's extents, with its ``category`` in
``models_info``, so a trainer that fits its mesh to each instance (``train-nemo
--per-axis-scale``) gets every object's own extents.

Shapes: masks ``[H x W]`` bool; poses ``[4 x 4]`` (m).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

from offline_training.bags.pseudo_labels import TrackLabel, surface_samples
from ros_pose_estimation.core.camera import Intrinsics


def scaled_template(category: str, extents, n: int = 20000) -> np.ndarray:
    """``[n x 3]`` surface points of the category template resized to ``extents`` (m)."""
    from ros_pose_estimation.shapes import template_mesh

    pts = surface_samples(template_mesh(category), n, seed=0)
    lo, hi = pts.min(0), pts.max(0)
    return (pts - (lo + hi) / 2) * (np.asarray(extents) / (hi - lo))


def model_masks(points_obj: np.ndarray, T_cam_obj: np.ndarray, intr: Intrinsics,
                depth: np.ndarray | None, occlusion_tolerance: float = 0.02):  # fmt: skip
    """``(mask, mask_visib)`` ``[H x W]`` bool of the model points ``[N x 3]`` at ``T_cam_obj``."""
    h, w = intr.height, intr.width
    cam = points_obj @ T_cam_obj[:3, :3].T + T_cam_obj[:3, 3]
    uv = intr.project(cam)
    ok = np.isfinite(uv).all(1)
    pix = np.round(uv[ok]).astype(np.int64)
    z = cam[ok, 2]
    inside = (pix[:, 0] >= 0) & (pix[:, 0] < w) & (pix[:, 1] >= 0) & (pix[:, 1] < h)
    flat = pix[inside, 1] * w + pix[inside, 0]
    zbuf = np.full(h * w, np.inf)
    np.minimum.at(zbuf, flat, z[inside])
    zbuf = zbuf.reshape(h, w)
    kernel = np.ones((5, 5), np.uint8)
    hit = np.isfinite(zbuf)
    mask = cv2.morphologyEx(hit.astype(np.uint8), cv2.MORPH_CLOSE, kernel) > 0
    if depth is None:
        return mask, mask.copy()
    d = np.asarray(depth, dtype=np.float64)
    unknown = ~np.isfinite(d) | (d <= 0)
    visible = hit & (unknown | (d >= zbuf - occlusion_tolerance))
    visible = cv2.morphologyEx(visible.astype(np.uint8), cv2.MORPH_CLOSE, kernel) > 0
    return mask, visible & mask


def _bop_box(mask: np.ndarray) -> list[int]:
    rows, cols = np.nonzero(mask)
    if len(rows) == 0:
        return [-1, -1, -1, -1]
    return [int(cols.min()), int(rows.min()), int(cols.max() - cols.min()),
            int(rows.max() - rows.min())]  # fmt: skip


def _box_to_bop(box_xyxy) -> list[int]:
    """Project box ``[x0, y0, x1, y1]`` (pixel-centre convention) -> BOP ``[x, y, w, h]``."""
    x0, y0 = int(round(box_xyxy[0] + 0.5)), int(round(box_xyxy[1] + 0.5))
    x1, y1 = int(round(box_xyxy[2] - 0.5)), int(round(box_xyxy[3] - 0.5))
    return [x0, y0, max(x1 - x0, 0), max(y1 - y0, 0)]


def export_bop(
    root: str | Path,
    recordings: Sequence,
    labels: Sequence[Sequence[TrackLabel]],
    split: str = "train",
    every_nth: int = 1,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """Write the labelled objects of ``recordings`` (``labels[i]`` for ``recordings[i]``).

    Returns statistics: ``images``, ``objects``, ``frames_skipped`` (reason -> count).
    """
    from offline_training.synthetic.bop import BopWriter
    from offline_training.synthetic.scene import ObjectModel
    from ros_pose_estimation.shapes import template_mesh

    categories = sorted({lb.category for group in labels for lb in group if lb.accepted})
    skipped: Counter = Counter()
    images = objects = 0
    obj_ids: dict[tuple[int, int], int] = {}  # (recording, track) -> obj_id
    instances = []
    for scene_id, group in enumerate(labels):
        for lb in group:
            if lb.accepted and (scene_id, lb.track_id) not in obj_ids:
                obj_ids[scene_id, lb.track_id] = len(obj_ids) + 1
                template = template_mesh(lb.category)
                scale = np.asarray(lb.extents, dtype=np.float64) / template.extents
                instances.append(ObjectModel(len(obj_ids), lb.category, template.scaled(scale)))
    with BopWriter(root, split, rgb_ext=".png") as writer:
        writer.write_models(instances)
        for scene_id, (rec, group) in enumerate(zip(recordings, labels, strict=True)):
            usable = {lb.track_id: lb for lb in group if lb.accepted}
            models = {t: scaled_template(lb.category, lb.extents) for t, lb in usable.items()}
            for pos, frame in enumerate(rec.frames(images=True)):
                if progress is not None:
                    progress(1)
                if pos % every_nth:
                    continue
                if frame.T_fixed_cam is None:
                    skipped["no camera pose"] += 1
                    continue
                T_cam_fixed = np.linalg.inv(frame.T_fixed_cam)
                gts = []
                for obj in frame.objects:
                    lb = usable.get(obj.track_id)
                    if lb is None:
                        continue
                    T = T_cam_fixed @ lb.pose()
                    mask, visib = model_masks(models[obj.track_id], T, frame.intrinsics,
                                              frame.depth)  # fmt: skip
                    full = int(mask.sum())
                    info = {
                        "bbox_obj": _bop_box(mask), "bbox_visib": _box_to_bop(obj.box_xyxy),
                        "px_count_all": full, "px_count_valid": full,
                        "px_count_visib": int(visib.sum()),
                        "visib_fract": float(visib.sum() / full) if full else 0.0,
                    }  # fmt: skip
                    gts.append({"obj_id": obj_ids[scene_id, obj.track_id], "R": T[:3, :3],
                                "t": T[:3, 3], "mask": mask, "mask_visib": visib,
                                "info": info})  # fmt: skip
                if not gts:
                    skipped["no labelled object"] += 1
                    continue
                writer.add_frame(scene_id, pos, frame.rgb, None, frame.intrinsics.K, gts,
                                 frame.T_fixed_cam)  # fmt: skip
                images += 1
                objects += len(gts)
    return {"images": images, "objects": objects, "frames_skipped": dict(skipped),
            "categories": categories}  # fmt: skip
