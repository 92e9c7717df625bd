"""Follow boxes given for the first frame through a recording (no detector, no labels).

Each :class:`InitialBox` (category + box in the first extracted frame) is followed in one of
two ways, chosen at the first frame:

* **3D** (depth and the camera pose from ``/tf`` available): the object's points (the box's
  nearest depth layer, :func:`~.observations.nearest_layer_mask`) are stored in the fixed
  frame. In every later frame they are projected with the camera's pose; points behind
  nearer depth (occluded, ``occlusion_tol``) or outside the image are dropped, and the box is
  the 1st-99th percentile extent of the rest. Fewer than ``min_visible`` of the points
  visible: the object is not in that frame. Exact for static objects, no drift.
* **2D** otherwise: normalised cross-correlation template matching (OpenCV) in a window of
  ``search`` box sizes around the last box; the template is refreshed when the match scores
  at least ``refresh_score``; below ``min_score`` the object is not in that frame and the
  next frame searches around the last box seen.

:meth:`BoxFollower.state` / :meth:`BoxFollower.load_state` save and restore everything it
keeps between frames (arrays only), so an interrupted extraction resumes exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from offline_training.bags.observations import nearest_layer_mask
from ros_pose_estimation.core.camera import Intrinsics
from ros_pose_estimation.core.errors import ConfigError
from ros_pose_estimation.core.rotations import invert_transform, transform_points

#: ``(index of the initial box, category, [4] box)`` of one followed object in one frame.
Followed = tuple[int, str, np.ndarray]


@dataclass(frozen=True)
class InitialBox:
    """``category`` and ``[x0, y0, x1, y1]`` box (px) of an object in the first frame."""

    category: str
    box_xyxy: tuple[float, float, float, float]

    def validate(self) -> None:
        x0, y0, x1, y1 = (float(v) for v in self.box_xyxy)
        if not (np.isfinite([x0, y0, x1, y1]).all() and x1 > x0 and y1 > y0):
            raise ConfigError(
                f"initial box {self.box_xyxy}: expected x0 < x1 and y0 < y1 (pixels)"
            )
        if not self.category:
            raise ConfigError("initial box: a category name is required")


@dataclass(frozen=True)
class FollowConfig:
    min_visible: float = 0.25
    occlusion_tol: float = 0.03
    search: float = 1.0
    min_score: float = 0.5
    refresh_score: float = 0.8


def _grey(rgb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(rgb.astype(np.float32).mean(axis=2))


def _crop(image: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, int, int]:
    h, w = image.shape[:2]
    c0, r0 = max(0, int(round(box[0] + 0.5))), max(0, int(round(box[1] + 0.5)))
    c1, r1 = min(w, int(round(box[2] + 0.5))), min(h, int(round(box[3] + 0.5)))
    return image[r0:r1, c0:c1], c0, r0


class BoxFollower:
    """Follows :class:`InitialBox` es frame by frame (see the module docstring)."""

    def __init__(self, boxes: list[InitialBox], config: FollowConfig | None = None) -> None:
        if not boxes:
            raise ConfigError("first-box mode needs at least one initial box")
        for b in boxes:
            b.validate()
        self.boxes = boxes
        self.config = config or FollowConfig()
        self._state: dict[str, np.ndarray] = {}

    @property
    def started(self) -> bool:
        return bool(self._state)

    def state(self) -> dict[str, np.ndarray]:
        return dict(self._state)

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        self._state = {k: np.asarray(v) for k, v in state.items()}

    def start(self, rgb, depth, intrinsics: Intrinsics, T_fixed_cam) -> list[Followed]:
        """Initialise on the first frame; returns its ``(index, category, box)`` list."""
        out = []
        grey = _grey(rgb)
        for i, b in enumerate(self.boxes):
            box = np.asarray(b.box_xyxy, dtype=np.float64)
            layer = None
            if depth is not None and T_fixed_cam is not None:
                layer = nearest_layer_mask(depth, intrinsics, box, whole_box=True)
            if layer is not None:
                points, _ = intrinsics.backproject_depth_valid(depth, layer)
                self._state[f"points_{i}"] = transform_points(T_fixed_cam, points)
            else:
                template, _, _ = _crop(grey, box)
                if template.size == 0:
                    raise ConfigError(f"initial box {b.box_xyxy} lies outside the first image")
                self._state[f"template_{i}"] = template
                self._state[f"box_{i}"] = box
            out.append((i, b.category, box))
        self._state["started"] = np.array(True)
        return out

    def step(self, rgb, depth, intrinsics: Intrinsics, T_fixed_cam) -> list[Followed]:
        """``(index, category, box)`` of the objects found in this frame (index = position
        in the initial boxes)."""
        out = []
        for i, b in enumerate(self.boxes):
            if f"points_{i}" in self._state:
                box = self._project(self._state[f"points_{i}"], depth, intrinsics, T_fixed_cam)
            else:
                box = self._match(i, _grey(rgb))
            if box is not None:
                out.append((i, b.category, box))
        return out

    def _project(self, points_fixed, depth, intrinsics: Intrinsics, T_fixed_cam):
        if T_fixed_cam is None:
            return None
        pts = transform_points(invert_transform(T_fixed_cam), points_fixed)
        uv = intrinsics.project(pts)
        ok = np.isfinite(uv).all(axis=1)
        cols, rows = np.round(uv[ok, 0]).astype(int), np.round(uv[ok, 1]).astype(int)
        inside = (cols >= 0) & (cols < intrinsics.width) & (rows >= 0) & (rows < intrinsics.height)
        cols, rows, z = cols[inside], rows[inside], pts[ok][inside, 2]
        if depth is not None:
            seen = depth[rows, cols]
            visible = ~((seen > 0) & (seen < z - self.config.occlusion_tol))
            cols, rows = cols[visible], rows[visible]
        if cols.size < self.config.min_visible * len(points_fixed):
            return None
        c0, c1 = np.percentile(cols, [1, 99])
        r0, r1 = np.percentile(rows, [1, 99])
        return np.array([c0 - 0.5, r0 - 0.5, c1 + 0.5, r1 + 0.5])

    def _match(self, i: int, grey: np.ndarray):
        import cv2

        template, box = self._state[f"template_{i}"].astype(np.float32), self._state[f"box_{i}"]
        bw, bh = box[2] - box[0], box[3] - box[1]
        margin = self.config.search
        window = np.array(
            [
                box[0] - margin * bw,
                box[1] - margin * bh,
                box[2] + margin * bw,
                box[3] + margin * bh,
            ]
        )
        region, c0, r0 = _crop(grey, window)
        th, tw = template.shape
        if region.shape[0] < th or region.shape[1] < tw:
            return None
        scores = cv2.matchTemplate(region, template, cv2.TM_CCOEFF_NORMED)
        _, best, _, (x, y) = cv2.minMaxLoc(scores)
        if best < self.config.min_score:
            return None
        new = np.array([c0 + x - 0.5, r0 + y - 0.5, c0 + x + tw - 0.5, r0 + y + th - 0.5])
        self._state[f"box_{i}"] = new
        if best >= self.config.refresh_score:
            self._state[f"template_{i}"] = _crop(grey, new)[0]
        return new
