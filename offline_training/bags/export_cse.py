"""Extracted recordings -> a label-free BOP dataset of RGB-D sequences for the CSE trainer.

The self-supervised CSE trainer (:mod:`offline_training.cse.data`) needs, per image, RGB, depth
(m), the camera pose in a fixed frame (BOP ``cam_R_w2c``/``cam_t_w2c``, here from ``/tf``), a
visible mask and box per object, and the grouping of images into *sequences* of one static
arrangement. No object pose is written: ``scene_gt.json`` holds only ``obj_id`` per object
(the loader's self-supervised path reads nothing else of it).

* **Sequences**: a recording is one static arrangement, cut into chunks of ``views`` usable
  frames (a frame is usable with a camera pose and depth); each chunk is one BOP scene of exactly
  ``views`` images, so the trainer's ``views_per_layout = views`` groups them. When the frame
  count is not a multiple of ``views``, the last chunk is the last ``views`` frames (it overlaps
  the one before). ``views`` is lowered to the shortest recording's usable frame count.
* **Objects**: object ``k`` of every image of a scene is the ``k``-th track of the category in
  the recording (sorted by track id), so ``k`` names one physical object across the sequence.
  A track not seen in a frame (or without a usable mask) gets a placeholder entry with the box
  ``[-1, -1, -1, -1]`` and ``visib_fract`` 0, which the loader skips.
* **Masks without labels** (:func:`depth_mask`): the recording's mask when the source gave one,
  else the pixels of the detection box on the box's nearest depth layer
  (:func:`~offline_training.bags.observations.nearest_layer_mask`) that stand more than
  ``min_height`` above the support plane, which is fitted (RANSAC) to the depth points outside
  all boxes of the frame; holes of missing depth are closed. ``visib_fract`` is unknown
  without a model: 1.0 is written.
* **Pseudo-labels** (optional, ``labels``): the depth + TF labeller's pose of a track
  (:mod:`offline_training.bags.pseudo_labels`, ``T_fixed_obj`` of an *accepted* track) is carried
  to every frame through the camera pose, ``T_cam_obj = T_fixed_cam^-1 T_fixed_obj``, and
  written as that object's ``cam_R_m2c`` / ``cam_t_m2c`` with ``"pseudo_label": true``; objects
  of rejected tracks keep ``obj_id`` only. These are the labeller's estimates, never ground
  truth (which this module does not read).

Shapes: depth ``[H x W]`` float32 m (0 invalid), masks ``[H x W]`` bool, poses ``[4 x 4]`` (m).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from offline_training.bags.observations import nearest_layer_mask
from offline_training.bags.pseudo_labels import fit_plane
from ros_pose_estimation.core.camera import Intrinsics
from ros_pose_estimation.core.categories import get_category
from ros_pose_estimation.core.errors import ConfigError, InputError

PLACEHOLDER_BOX = [-1, -1, -1, -1]


def support_plane(depth: np.ndarray, intr: Intrinsics, boxes: Sequence[np.ndarray],
                  threshold: float = 0.01, iterations: int = 100, grid: int = 80,
                  seed: int = 0) -> tuple[np.ndarray, float] | None:  # fmt: skip
    """Dominant plane ``(normal [3], offset)`` (camera frame, ``normal . p + offset = 0``, the
    camera on the positive side) of the depth points outside ``boxes`` (``[4]`` xyxy px), or
    None when fewer than 30 valid points remain."""
    h, w = depth.shape
    stride = max(1, int(np.ceil(max(h, w) / grid)))
    rows, cols = np.mgrid[0:h:stride, 0:w:stride]
    keep = np.isfinite(depth[rows, cols]) & (depth[rows, cols] > 0)
    for x0, y0, x1, y1 in boxes:
        keep &= ~((cols >= x0) & (cols <= x1) & (rows >= y0) & (rows <= y1))
    if np.count_nonzero(keep) < 30:
        return None
    uv = np.stack([cols[keep], rows[keep]], axis=1).astype(np.float64)
    points = intr.backproject(uv, depth[rows, cols][keep].astype(np.float64))
    normal, offset, _ = fit_plane(points, threshold, iterations, np.random.default_rng(seed))
    return (-normal, -offset) if offset < 0 else (normal, offset)


def depth_mask(depth: np.ndarray, intr: Intrinsics, box_xyxy: np.ndarray,
               plane: tuple[np.ndarray, float] | None, min_height: float = 0.008,
               min_pixels: int = 20) -> np.ndarray | None:  # fmt: skip
    """``[H x W]`` bool: box pixels on the nearest depth layer and above ``plane`` (when
    known) by ``min_height`` m, holes of missing depth closed (5 x 5 px, within the box); None
    when fewer than ``min_pixels`` pixels with depth remain."""
    mask = nearest_layer_mask(depth, intr, box_xyxy, whole_box=True)
    if mask is None:
        return None
    if plane is not None:
        height = intr.backproject_depth(np.where(mask, depth, 0).astype(np.float64)) @ plane[0]
        mask &= height + plane[1] > min_height
    if np.count_nonzero(mask) < min_pixels:
        return None
    # close the holes of missing depth between object pixels, within the box
    closed = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    rows, cols = np.mgrid[0 : mask.shape[0], 0 : mask.shape[1]]
    x0, y0, x1, y1 = box_xyxy
    return (closed > 0) & (cols > x0) & (cols < x1) & (rows > y0) & (rows < y1)


def _bop_box(mask: np.ndarray) -> list[int]:
    rows, cols = np.nonzero(mask)
    return [int(cols.min()), int(rows.min()), int(cols.max() - cols.min()),
            int(rows.max() - rows.min())]  # fmt: skip


def plan_sequences(usable: Sequence[Sequence[int]], views: int) -> tuple[int, list[list]]:
    """Chunks of exactly ``views`` frame positions per recording (see the module doc).

    Args:
        usable: per recording, its usable frame positions (ascending).
        views: wanted images per sequence (>= 2).

    Returns:
        ``(views used, [[recording index, [positions]] per scene])``.
    """
    if views < 2:
        raise ConfigError(f"--views-per-sequence must be >= 2 (pairs of frames), got {views}")
    lengths = [len(u) for u in usable if len(u) >= 2]
    if not lengths:
        raise InputError("no recording has 2 frames with a camera pose (from /tf) and a track "
                         "of the category: the CSE trainer pairs frames of one arrangement")
    views = min(views, *lengths)
    scenes = []
    for i, pos in enumerate(usable):
        if len(pos) < 2:
            continue
        starts = list(range(0, len(pos) - views + 1, views))
        if starts[-1] + views < len(pos):
            starts.append(len(pos) - views)
        scenes += [[i, list(pos[s : s + views])] for s in starts]
    return views, scenes


def export_cse(root: str | Path, recordings: Sequence, category: str, views: int = 8,
               every_nth: int = 1, split: str = "train", seed: int = 0,
               labels: Sequence[Sequence] | None = None) -> dict:  # fmt: skip
    """Write the dataset of ``category`` (see the module doc) to ``root``; ``labels[i]``: the
    :class:`~offline_training.bags.pseudo_labels.TrackLabel` list of ``recordings[i]`` (None:
    no pose at all).

    Returns statistics: ``images`` (image files written, overlapping chunks count twice),
    ``objects`` (entries with a mask), ``pseudo_labelled`` (those with a pseudo-label),
    ``sequences``, ``views_per_sequence``, ``scenes`` (``[recording, [frame positions]]``),
    ``frames_skipped`` (reason -> count).

    Raises:
        InputError: no recording has depth, camera poses and a track of ``category``.
    """
    from offline_training.synthetic.bop import BopWriter
    from offline_training.synthetic.scene import ObjectModel
    from ros_pose_estimation.core.conventions import pose_to_bop
    from ros_pose_estimation.shapes import template_mesh

    cat = get_category(category)
    skipped: Counter = Counter()
    usable, tracks = [], []
    accepted = [{lb.track_id: lb.pose() for lb in (labels[i] if labels else [])
                 if lb.accepted and lb.category == cat.name}
                for i in range(len(recordings))]  # fmt: skip
    for rec in recordings:
        ids = sorted(t.track_id for t in rec.tracks if t.category == cat.name)
        tracks.append({t: k for k, t in enumerate(ids)})
        pos = []
        for p, frame in enumerate(rec.frames(images=False)):
            if p % every_nth:
                continue
            if frame.T_fixed_cam is None:
                skipped["no camera pose"] += 1
            elif not ids:
                skipped[f"no {cat.name} track in the recording"] += 1
            else:
                pos.append(p)
        usable.append(pos)
    views, scenes = plan_sequences(usable, views)
    member = defaultdict(list)  # (recording, position) -> scene ids
    for scene_id, (i, positions) in enumerate(scenes):
        for p in positions:
            member[(i, p)].append(scene_id)
    gt: dict = defaultdict(dict)
    info: dict = defaultdict(dict)
    images = objects = labelled = 0
    split_dir = Path(root) / split
    with BopWriter(root, split, rgb_ext=".png") as writer:
        writer.write_models([ObjectModel(cat.class_id, cat.name, template_mesh(cat.name))])
        for i, rec in enumerate(recordings):
            for p, frame in enumerate(rec.frames(images=True)):
                if (i, p) not in member:
                    continue
                if frame.depth is None:
                    raise InputError(f"recording {rec.directory} has no depth: the CSE trainer "
                                     "needs RGB-D (use --method nemo for RGB)")  # fmt: skip
                mine = [o for o in frame.objects if o.track_id in tracks[i]]
                plane = support_plane(frame.depth, frame.intrinsics,
                                      [o.box_xyxy for o in frame.objects], seed=seed)  # fmt: skip
                entries = [None] * len(tracks[i])
                for o in mine:
                    m = o.mask if o.mask is not None else depth_mask(
                        frame.depth, frame.intrinsics, o.box_xyxy, plane)
                    if m is not None and m.any():
                        entries[tracks[i][o.track_id]] = m
                    else:
                        skipped["object without a usable depth mask"] += 1
                objs = [{"obj_id": cat.class_id} for _ in entries]
                T_cam_fixed = np.linalg.inv(frame.T_fixed_cam)
                for track, k in tracks[i].items():
                    if track in accepted[i] and entries[k] is not None:
                        T = T_cam_fixed @ accepted[i][track]
                        objs[k].update(pose_to_bop(T[:3, :3], T[:3, 3]), pseudo_label=True)
                for scene_id in member[(i, p)]:
                    writer.add_frame(scene_id, p, frame.rgb, frame.depth, frame.intrinsics.K,
                                     [], frame.T_fixed_cam)  # fmt: skip
                    d = split_dir / f"{scene_id:06d}" / "mask_visib"
                    gt[scene_id][str(p)] = objs
                    labelled += sum("cam_R_m2c" in o for o in objs)
                    info[scene_id][str(p)] = []
                    for k, m in enumerate(entries):
                        if m is None:
                            info[scene_id][str(p)].append(
                                {"bbox_visib": PLACEHOLDER_BOX, "visib_fract": 0.0})
                            continue
                        cv2.imwrite(str(d / f"{p:06d}_{k:06d}.png"), m.astype(np.uint8) * 255)
                        n = int(np.count_nonzero(m))
                        info[scene_id][str(p)].append({
                            "bbox_visib": _bop_box(m), "px_count_visib": n,
                            "visib_fract": 1.0})  # fmt: skip
                        objects += 1
                    images += 1
    for scene_id in gt:  # object annotations without poses, after the writer's flush
        d = split_dir / f"{scene_id:06d}"
        (d / "scene_gt.json").write_text(json.dumps(gt[scene_id]))
        (d / "scene_gt_info.json").write_text(json.dumps(info[scene_id]))
    return {"images": images, "objects": objects, "pseudo_labelled": labelled,
            "sequences": len(scenes),
            "views_per_sequence": views, "scenes": scenes, "frames_skipped": dict(skipped),
            "categories": [cat.name]}  # fmt: skip
