"""``generate-views --source bag``: one :class:`ObjectImage` per object track of a recording.

The bags are extracted as ``pose-train`` extracts them
(:func:`offline_training.pose_train_stages.extract`: content-hashed cache, tracks of static
objects); give the same cache to reuse a ``pose-train`` extraction. For every non-short track
of the category the view chosen is the one where the object is largest among those whose box
is fully inside the image and overlaps no other object's box (if none qualifies: the largest
fully inside, then the largest). The object image is that frame's full RGB image and the
object's mask: the extraction's segmentation mask when it has one (depth segmentation), else
the nearest depth layer inside the box
(:func:`~offline_training.bags.observations.nearest_layer_mask`), else, without depth, the
whole box (a warning says so). Named ``<bag>_<track id>``; ``elevation_deg`` is the camera's
elevation above the object when the bag has ``/tf`` and depth (the fixed frame's z up).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np

from offline_training.diffusion.generators import ObjectImage
from ros_pose_estimation.core.errors import ConfigError

__all__ = ["bag_objects"]


def _warn(msg: str) -> None:
    print(f"generate-views: warning: {msg}", file=sys.stderr, flush=True)


def _has_depth(bag: Path) -> bool:
    """Whether the bag has a depth topic pose-train's ``rgbd`` extraction would use."""
    from offline_training.bags.topics import select_topics
    from offline_training.ros_types import typestore
    from ros_pose_estimation.tools.bag_reader import BagError, BagReader

    with BagReader(bag, typestore=typestore(), salvage=True) as reader:
        try:
            select_topics(reader.connections, None, "rgbd")
        except BagError:
            return False
    return True


def _box_mask(box: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Pixels whose centres lie in ``box`` (project convention: pixel centres on integers)."""
    h, w = shape
    x0, y0 = max(0, int(np.ceil(box[0]))), max(0, int(np.ceil(box[1])))
    x1, y1 = min(w - 1, int(np.floor(box[2]))), min(h - 1, int(np.floor(box[3])))
    mask = np.zeros(shape, dtype=bool)
    mask[y0 : y1 + 1, x0 : x1 + 1] = True
    return mask


def _score(frame, obj, margin: float) -> tuple[bool, bool, float]:
    """(fully inside the image, overlaps no other box, area): larger is better."""
    x0, y0, x1, y1 = (float(v) for v in obj.box_xyxy)
    w, h = frame.intrinsics.width, frame.intrinsics.height
    inside = x0 >= margin - 0.5 and y0 >= margin - 0.5 and x1 <= w - 0.5 - margin \
        and y1 <= h - 0.5 - margin  # fmt: skip
    alone = all(
        min(x1, o.box_xyxy[2]) <= max(x0, o.box_xyxy[0])
        or min(y1, o.box_xyxy[3]) <= max(y0, o.box_xyxy[1])
        for o in frame.objects
        if o is not obj
    )
    return inside, alone, (x1 - x0) * (y1 - y0)


def _best_views(recording, wanted: set[int], margin: float) -> dict[int, tuple[int, tuple]]:
    """Track id -> (frame position, score) of its best view."""
    best: dict[int, tuple[int, tuple]] = {}
    for position, frame in enumerate(recording.frames(images=False)):
        for obj in frame.objects:
            if obj.track_id in wanted:
                score = _score(frame, obj, margin)
                if obj.track_id not in best or score > best[obj.track_id][1]:
                    best[obj.track_id] = (position, score)
    return best


def _mask(frame, obj) -> tuple[np.ndarray, str]:
    """The object's mask in ``frame`` and where it came from (segmentation, depth, box)."""
    from offline_training.bags.observations import nearest_layer_mask

    if obj.mask is not None and obj.mask.any():
        return obj.mask & _box_mask(obj.box_xyxy, obj.mask.shape), "segmentation"
    if frame.depth is not None:
        layer = nearest_layer_mask(frame.depth, frame.intrinsics, obj.box_xyxy, whole_box=True)
        if layer is not None:
            return layer, "depth"
    return _box_mask(obj.box_xyxy, frame.rgb.shape[:2]), "box"


def _elevation(frame, obj) -> float | None:
    """The camera's elevation above the object's horizon, deg (the fixed frame's z is up, as
    REP 103 has it); None without the camera pose or the object's depth."""
    if frame.T_fixed_cam is None or obj.position_cam is None:
        return None
    to_camera = frame.T_fixed_cam[:3, :3] @ -np.asarray(obj.position_cam, dtype=np.float64)
    norm = float(np.linalg.norm(to_camera))
    return float(np.degrees(np.arcsin(to_camera[2] / norm))) if norm > 0 else None


def bag_objects(
    bags,
    category: str,
    cache: str | Path,
    progress: bool = False,
    modality: str | None = None,
    margin: float = 2.0,
) -> list[ObjectImage]:
    """One :class:`ObjectImage` per non-short ``category`` track of every bag (module doc).

    Args:
        bags: rosbag2 folders or .mcap / .db3 files.
        category: the objects' category (a registry name).
        cache: extraction cache folder (pose-train's ``OUT/cache`` reuses its extraction).
        progress: print each extraction report.
        modality: ``rgbd`` or ``rgb``; None: ``rgbd`` when the bag has depth.
        margin: pixels a box must keep from the image border to count as fully inside.

    Raises:
        ConfigError: a bag has no track of the category (the message lists what it has).
        BagError: from the extraction (not a bag, missing topics, ...).
    """
    from offline_training.pose_train_stages import extract
    from ros_pose_estimation.core.categories import get_category

    category = get_category(category).name
    out: list[ObjectImage] = []
    for bag in map(Path, bags):
        kind = modality or ("rgbd" if _has_depth(bag) else "rgb")
        [(recording, _)] = extract([bag], Path(cache), progress, modality=kind)
        names = {category}
        if recording.report.object_source == "depth":
            segmented = recording.manifest["config"].get("segment_category", "object")
            names.add(segmented)
            _warn(f"{bag}: no detections recorded; objects come from depth segmentation, "
                  "which has no categories: every segmented object is taken as a "
                  f"{category}")  # fmt: skip
        tracks = [t for t in recording.tracks if t.category in names and not t.short]
        if not tracks:
            found = sorted({f"{t.category}{' (short)' * t.short}" for t in recording.tracks})
            raise ConfigError(f"--source bag {bag}: no track of category {category!r} (tracks: "
                              f"{', '.join(found) or 'none'})")  # fmt: skip
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", bag.resolve().name.split(".")[0]) or "bag"
        best = _best_views(recording, {t.track_id for t in tracks}, margin)
        box_only = []
        for track_id, (position, score) in sorted(best.items()):
            frame = recording.frame(position)
            obj = next(o for o in frame.objects if o.track_id == track_id)
            mask, how = _mask(frame, obj)
            if how == "box":
                box_only.append(track_id)
            if not score[0]:
                _warn(f"{bag}: track {track_id} is never fully inside the image; its largest "
                      "view is used")  # fmt: skip
            out.append(ObjectImage(rgb=frame.rgb.copy(), mask=mask, name=f"{stem}_{track_id}",
                                   elevation_deg=_elevation(frame, obj)))  # fmt: skip
        if box_only:
            _warn(f"{bag}: no depth for track(s) {box_only}: the mask is the whole box "
                  "(background included); record aligned depth for object masks")  # fmt: skip
    return out
