"""``vision_msgs/Detection2DArray`` -> :class:`~ros_pose_estimation.core.estimation.Detection`.

Box convention. ``BoundingBox2D`` gives a centre and a size in pixels. The project's boxes are
continuous ``[x0, y0, x1, y1]`` where integer coordinates are pixel centres
(:mod:`ros_pose_estimation.core.conventions`), so the box is simply::

    x0 = cx - size_x / 2        x1 = cx + size_x / 2        (same for y)

A detector box covering whole pixels ``x .. x + w - 1`` is written (by
``offline_training.synthetic.messages.detection2d_array``, and by any detector that uses pixel
centres) as ``cx = x + (w - 1) / 2``, ``size_x = w``, which gives back ``[x - 0.5, x + w - 0.5]``:
exactly the region those pixels cover, of width ``w``. :func:`bbox_from_box` is the inverse.

Boxes are clipped to the image ``[-0.5, W - 0.5] x [-0.5, H - 0.5]``. Detections are skipped,
and counted by reason (:data:`SKIP_REASONS`), when they have no hypothesis, a class not in
``class_map``, a non-finite or non-positive size (``empty_box``) or no overlap with the image
(``outside_image``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ros_pose_estimation.core.errors import InputError
from ros_pose_estimation.core.estimation import Detection

#: Why a detection was skipped, in the order the checks run.
SKIP_REASONS = ("no_hypothesis", "unknown_class", "empty_box", "outside_image")


def box_from_bbox(center_x: float, center_y: float, size_x: float, size_y: float) -> np.ndarray:
    """``BoundingBox2D`` centre and size (px) -> ``[4]`` float64 box ``[x0, y0, x1, y1]``."""
    cx, cy, hx, hy = float(center_x), float(center_y), 0.5 * float(size_x), 0.5 * float(size_y)
    return np.array([cx - hx, cy - hy, cx + hx, cy + hy])


def bbox_from_box(box_xyxy) -> tuple[float, float, float, float]:
    """Inverse of :func:`box_from_bbox`: ``[x0, y0, x1, y1]`` -> ``(cx, cy, size_x, size_y)``."""
    x0, y0, x1, y1 = (float(v) for v in np.asarray(box_xyxy, dtype=np.float64).reshape(4))
    return 0.5 * (x0 + x1), 0.5 * (y0 + y1), x1 - x0, y1 - y0


def _best_class_id(results) -> str | None:
    """Class id of the highest-scoring hypothesis (first one on ties), None if there is none."""
    best, best_score = None, -np.inf
    for result in results:
        hyp = getattr(result, "hypothesis", result)  # vision_msgs >= 3 nests it
        class_id = getattr(hyp, "class_id", None)
        if class_id is None:
            class_id = getattr(hyp, "id", None)
        score = float(getattr(hyp, "score", 0.0))
        if class_id is not None and (best is None or score > best_score):
            best, best_score = str(class_id), score
    return best


def detections_from_msg(
    msg,
    image_shape: Sequence[int],
    class_map: Mapping[str, str] | None = None,
    notes: dict[str, str] | None = None,
) -> tuple[list[Detection], dict[str, int]]:
    """Convert a ``Detection2DArray`` into the estimators' detections for one image.

    Args:
        msg: ``vision_msgs/Detection2DArray`` (rclpy or rosbags; ``bbox.center`` may be a
            ``Pose2D`` with ``position`` (vision_msgs >= 4) or with ``x``/``y``).
        image_shape: ``(H, W, ...)`` of the image the detections refer to.
        class_map: detector class id -> project category. ``None`` keeps every class id as
            the category; with a mapping, ids not in it are skipped (``unknown_class``).
        notes: when given, filled with one line per skip reason met, describing its first
            skipped detection (index, class, box), for the node's log.

    Returns:
        ``(detections, skipped)``: :class:`Detection` with ``box_xyxy`` ``[4]`` float64,
        clipped to the image, no mask, in message order; ``skipped`` maps every reason in
        :data:`SKIP_REASONS` to the number of detections dropped for it.

    Raises:
        InputError: ``image_shape`` is not a positive ``(H, W, ...)``.
    """
    if len(image_shape) < 2 or int(image_shape[0]) <= 0 or int(image_shape[1]) <= 0:
        raise InputError(f"image_shape: expected (H, W, ...) with H, W > 0, got {image_shape}")
    height, width = int(image_shape[0]), int(image_shape[1])
    lo = np.array([-0.5, -0.5, -0.5, -0.5])
    hi = np.array([width - 0.5, height - 0.5, width - 0.5, height - 0.5])
    skipped = dict.fromkeys(SKIP_REASONS, 0)
    detections: list[Detection] = []

    def skip(reason: str, text: str) -> None:
        skipped[reason] += 1
        if notes is not None and reason not in notes:
            notes[reason] = text

    for index, det in enumerate(msg.detections):
        class_id = _best_class_id(det.results)
        if class_id is None:
            skip("no_hypothesis", f"detection {index} has no class hypothesis (empty results)")
            continue
        if class_map is not None and class_id not in class_map:
            known = ", ".join(repr(c) for c in sorted(class_map)) or "none"
            skip("unknown_class", f"detection {index}: class_id {class_id!r} is not mapped to a "
                 f"category (models.<category>.class_ids; known: {known})")  # fmt: skip
            continue
        centre = det.bbox.center
        position = getattr(centre, "position", centre)
        box = box_from_bbox(position.x, position.y, det.bbox.size_x, det.bbox.size_y)
        described = "[" + ", ".join(f"{v:.1f}" for v in box) + "]"
        if not np.all(np.isfinite(box)) or box[2] <= box[0] or box[3] <= box[1]:
            skip("empty_box", f"detection {index} ({class_id}): box {described} (x0, y0, x1, "
                 "y1 px) is empty or not finite")  # fmt: skip
            continue
        box = np.clip(box, lo, hi)
        if box[2] <= box[0] or box[3] <= box[1]:
            skip("outside_image", f"detection {index} ({class_id}): box {described} (x0, y0, "
                 f"x1, y1 px) lies outside the {width}x{height} image")  # fmt: skip
            continue
        category = class_id if class_map is None else class_map[class_id]
        detections.append(Detection(category=category, box_xyxy=box))
    return detections, skipped
