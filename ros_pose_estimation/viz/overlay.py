"""The debug image: tracked poses drawn over the input image (the node's ``~/debug_image``).

:func:`draw_overlay` draws on a copy, per pose whose centre is in front of the camera:

* the outline: with a mesh for the category, the silhouette of the mesh (decimated to
  ``max_triangles``, scaled to the estimated size, its triangles filled into a mask whose outer
  contour is drawn); without one, the 12 edges of the estimated 3D box. Colour per category
  (:mod:`ros_pose_estimation.viz.colors`);
* the object axes from its centre: x red, y green, z blue, each half the largest extent long;
* the label ``"<category> #<id> <score:.2f>"`` above the outline.

Triangles and edges with a corner closer than ``near_m`` to the camera plane are left out
(their projection would be meaningless). Images are RGB ``[H x W x 3]`` uint8; pixel
coordinates follow the project's convention (integer = pixel centre). OpenCV + numpy only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np

from ros_pose_estimation.conversions.markers import unit_triangles
from ros_pose_estimation.core.camera import Intrinsics
from ros_pose_estimation.core.errors import ConfigError, check_finite, check_shape
from ros_pose_estimation.core.mesh import TriMesh
from ros_pose_estimation.viz.colors import class_color_u8

AXIS_COLORS = ((255, 0, 0), (0, 255, 0), (0, 0, 255))  # x red, y green, z blue (RGB)
_SHIFT = 4  # sub-pixel bits for OpenCV drawing
_LIMIT = 1e6  # px: projected coordinates are clipped to +-this before drawing


def _px(uv: np.ndarray) -> np.ndarray:
    """Float pixels -> OpenCV fixed-point int32 (``_SHIFT`` fractional bits)."""
    return np.round(np.clip(uv, -_LIMIT, _LIMIT) * (1 << _SHIFT)).astype(np.int32)


def _line(image, a, b, color, thickness) -> None:
    pa, pb = _px(np.asarray(a)), _px(np.asarray(b))
    cv2.line(
        image,
        tuple(int(v) for v in pa),
        tuple(int(v) for v in pb),
        color,
        thickness,
        cv2.LINE_AA,
        _SHIFT,
    )


def _box_edges(size: np.ndarray) -> np.ndarray:
    """``[12 x 2 x 3]`` edges of the box of extents ``size`` centred at the origin."""
    corners = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)]) * 0.5
    pairs = [(i, j) for i in range(8) for j in range(i + 1, 8) if bin(i ^ j).count("1") == 1]
    return np.stack([[corners[i], corners[j]] for i, j in pairs]) * size


def _draw_silhouette(image, intr, tris_cam, color, thickness, near_m) -> np.ndarray | None:
    """Outer contour of the triangles ``[F x 3 x 3]`` (camera frame); returns its points."""
    tris_cam = tris_cam[(tris_cam[:, :, 2] > near_m).all(axis=1)]
    if not len(tris_cam):
        return None
    uv = intr.project(tris_cam.reshape(-1, 3)).reshape(-1, 3, 2)
    height, width = image.shape[:2]
    lo = np.maximum(np.floor(uv.reshape(-1, 2).min(0)), 0).astype(int) - 1  # mask: the
    hi = np.minimum(np.ceil(uv.reshape(-1, 2).max(0)), [width - 1, height - 1]).astype(int) + 1
    if np.any(hi - lo < 2):  # bounding box of the projection only, with a 1 px margin
        return None
    mask = np.zeros((hi[1] - lo[1] + 1, hi[0] - lo[0] + 1), dtype=np.uint8)
    for tri in _px(uv - lo):  # one call per triangle: fillPoly of many is even-odd
        cv2.fillConvexPoly(mask, tri, 255, cv2.LINE_8, _SHIFT)
    mask[:, [0, -1]] = 0  # keep the margin empty so contours close inside the image
    mask[[0, -1], :] = 0
    offset = (int(lo[0]), int(lo[1]))
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE, offset=offset)
    if not contours:
        return None
    cv2.drawContours(image, contours, -1, color, thickness, cv2.LINE_AA)
    return np.concatenate([c.reshape(-1, 2) for c in contours]).astype(np.float64)


def _draw_label(image, text: str, anchor: np.ndarray, color) -> None:
    """``text`` on a dark box whose bottom-left corner is at ``anchor`` (kept in the image)."""
    font, scale, weight = cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1
    (w, h), base = cv2.getTextSize(text, font, scale, weight)
    height, width = image.shape[:2]
    x = int(np.clip(anchor[0], 0, max(width - w - 1, 0)))
    y = int(np.clip(anchor[1], h + 2, max(height - base - 1, h + 2)))
    cv2.rectangle(image, (x, y - h - 2), (x + w + 1, y + base), (0, 0, 0), cv2.FILLED)
    cv2.putText(image, text, (x, y), font, scale, color, weight, cv2.LINE_AA)


def draw_overlay(
    rgb: np.ndarray,
    intrinsics: Intrinsics,
    poses: Sequence[Any],
    meshes: Mapping[str, TriMesh] | None = None,
    *,
    max_triangles: int = 500,
    thickness: int = 2,
    near_m: float = 0.01,
) -> np.ndarray:
    """Draw tracked poses over a copy of ``rgb`` (module docstring).

    Args:
        rgb: ``[H x W x 3]`` uint8 RGB image (not modified).
        intrinsics: the image's intrinsics (size must match).
        poses: :class:`~ros_pose_estimation.pipeline.tracks.TrackedPose` (or alike: ``category``,
            ``track_id``, ``R`` ``[3 x 3]``, ``t`` ``[3]`` m, ``size`` ``[3]`` m, ``score``).
        meshes: category -> template mesh (canonical frame, m); missing: the 3D box.
        max_triangles: triangle budget of a mesh's silhouette (>= 1).
        thickness: line thickness (px, >= 1).
        near_m: points closer than this to the camera plane are not projected (m, > 0).

    Returns:
        A new ``[H x W x 3]`` uint8 image.

    Raises:
        InputError / IntrinsicsError: wrong image shape or dtype, size not the intrinsics',
            poses with wrong shapes or non-finite values.
        ConfigError: ``thickness`` or ``near_m`` out of range.
    """
    check_shape("rgb", rgb, ("H", "W", 3), dtype=np.uint8)
    intrinsics.check_image(rgb, "rgb")
    if isinstance(thickness, bool) or int(thickness) != thickness or thickness < 1:
        raise ConfigError(f"thickness: expected an integer >= 1 (px), got {thickness!r}")
    if not near_m > 0:
        raise ConfigError(f"near_m: expected a distance > 0 (m), got {near_m}")
    out = np.ascontiguousarray(rgb).copy()
    meshes = meshes or {}
    for pose in poses:
        rot = np.asarray(pose.R, dtype=np.float64)
        trans = np.asarray(pose.t, dtype=np.float64)
        size = np.asarray(pose.size, dtype=np.float64)
        for name, arr, shape in (("R", rot, (3, 3)), ("t", trans, (3,)), ("size", size, (3,))):
            check_shape(f"pose.{name}", arr, shape)
            check_finite(f"pose.{name}", arr)
        if trans[2] <= near_m:
            continue  # behind (or at) the camera
        color = class_color_u8(str(pose.category))
        mesh = meshes.get(str(pose.category))
        outline = None
        if mesh is not None:
            tris = unit_triangles(mesh, max_triangles).reshape(-1, 3, 3) * size
            outline = _draw_silhouette(
                out, intrinsics, tris @ rot.T + trans, color, thickness, near_m
            )
        else:
            edges = _box_edges(size) @ rot.T + trans
            drawn = []
            for a, b in edges:
                if a[2] > near_m and b[2] > near_m:
                    uv = intrinsics.project(np.stack([a, b]))
                    _line(out, uv[0], uv[1], color, thickness)
                    drawn.append(uv)
            outline = np.concatenate(drawn) if drawn else None
        length = 0.5 * float(size.max())
        centre_uv = intrinsics.project(trans[None])[0]
        for axis in (2, 1, 0):  # x drawn last, on top
            end = trans + length * rot[:, axis]  # column = the model axis in the camera
            if end[2] > near_m:
                end_uv = intrinsics.project(end[None])[0]
                _line(out, centre_uv, end_uv, AXIS_COLORS[axis], thickness)
        track = int(pose.track_id)
        text = (
            f"{pose.category} #{track} {float(pose.score):.2f}"
            if track >= 1
            else (f"{pose.category} {float(pose.score):.2f}")
        )
        pts = outline if outline is not None else centre_uv[None]
        anchor = np.array([pts[:, 0].min(), pts[:, 1].min() - 4])
        _draw_label(out, text, anchor, color)
    return out
