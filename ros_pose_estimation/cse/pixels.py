"""Which pixels of a crop are the object, and their depth, at feature-cell resolution.

* :func:`depth_metres`: a ROS depth image (``16UC1`` uint16 mm or ``32FC1`` float32 m, encoding
  given or inferred from the dtype) -> the project's depth (float32 m, 0 = invalid) through
  :func:`ros_pose_estimation.core.conventions.depth_to_metres`.
* :func:`box_depth_mask`: without a segmentation mask, the object's pixels are the box's pixels
  whose depth lies within a band around the depth of the box's centre (median of the inner
  half), the band being ``band x`` the box's metric size at that depth.
* :func:`box_depth_layers`: the same band around other depths of the box too (something in
  front of the object can cover the box's centre, whose depth then picks it): candidate masks
  that the estimator solves one by one, keeping the best supported pose.
* :func:`split_at_depth_jumps`: such a mask cut where the depth jumps between neighbouring
  pixels, keeping the pieces that reach the box's centre: a neighbour standing beside the
  object at a similar depth lies in the band too, but a step in depth separates it.
* :func:`remove_support_plane`: drop from such a mask the pixels of the surface the object
  stands on (a table inside the box's lower part lies in that band): a plane fitted (RANSAC) to
  the depth of a ring of pixels around the box, and the mask's pixels less than ``min_height``
  above it removed.
* :func:`cell_mask_and_depth`: a crop mask and depth -> per feature cell (``stride x stride``
  crop pixels) "object" (at least ``min_fraction`` of its pixels on the mask) and the mean depth
  of its valid masked pixels (0 when none).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from ros_pose_estimation.core.conventions import DEPTH_ENCODINGS, depth_to_metres
from ros_pose_estimation.core.errors import DepthError, EncodingError, check_shape

from .planes import best_plane

_DTYPE_ENCODING = {np.dtype(np.uint16): "16UC1", np.dtype(np.float32): "32FC1"}


def depth_metres(depth: np.ndarray, encoding: str | None = None) -> np.ndarray:
    """``[H x W]`` depth -> float32 metres with 0 where invalid (0, NaN, inf, negative).

    Args:
        depth: uint16 millimetres (``16UC1``/``mono16``) or float32 metres (``32FC1``).
        encoding: the image's encoding; None infers it from the dtype (uint16 -> ``16UC1``,
            float32 -> ``32FC1``).

    Raises:
        EncodingError: unsupported encoding or dtype. InputError: not ``[H x W]``.
        DepthError: no valid pixel at all (all zero / NaN: wrong topic or encoding?).
    """
    if not isinstance(depth, np.ndarray):
        raise DepthError(f"depth: expected a numpy array, got {type(depth).__name__}")
    if encoding is None:
        encoding = _DTYPE_ENCODING.get(depth.dtype)
        if encoding is None:
            raise EncodingError(
                f"depth: expected uint16 (16UC1, mm) or float32 (32FC1, m), got {depth.dtype}; "
                f"or pass depth_encoding (one of {', '.join(DEPTH_ENCODINGS)})"
            )
    metres = depth_to_metres(depth, encoding)
    if not np.any(metres > 0):
        raise DepthError(
            f"depth image ({encoding}, {depth.shape[1]} x {depth.shape[0]}) has no valid pixel: "
            "all zero or NaN (is the depth topic publishing, and registered to the colour camera?)"
        )
    return metres


def box_depth_mask(
    depth_m: np.ndarray, box_xyxy: np.ndarray, fx: float, band: float = 0.6
) -> np.ndarray:
    """``[H x W]`` bool: pixels of ``box_xyxy`` (in ``depth_m``'s pixels) with valid depth within
    ``band * side`` of the box centre's depth, ``side`` = the box's longer side in metres there.

    Raises:
        DepthError: no valid depth inside the box.
    """
    return box_depth_layers(depth_m, box_xyxy, fx, band, max_layers=1)[0]


def box_depth_layers(
    depth_m: np.ndarray,
    box_xyxy: np.ndarray,
    fx: float,
    band: float = 0.6,
    max_layers: int = 3,
    min_share: float = 0.15,
) -> list[np.ndarray]:
    """Candidate object masks of a detection box without a segmentation mask, each ``[H x W]``
    bool, disjoint.

    The first is :func:`box_depth_mask`'s (the band around the median depth of the box's inner
    half). Each next one is the band around the median depth of the box's valid pixels that no
    earlier one holds, while those are at least ``min_share`` of the box's valid pixels, up to
    ``max_layers`` masks: an occluder over the box's centre, the object behind it, the
    background. The band is ``band`` x the box's longer side in metres at the layer's depth.

    Raises:
        DepthError: no valid depth inside the box.
    """
    z = np.asarray(depth_m)
    h, w = check_shape("depth_m", z, ("H", "W")).values()
    x0, y0, x1, y1 = (float(v) for v in box_xyxy)
    cols, rows = np.arange(w), np.arange(h)
    in_box = ((rows >= y0) & (rows <= y1))[:, None] & ((cols >= x0) & (cols <= x1))[None, :]
    valid = in_box & (z > 0)
    if not valid.any():
        raise DepthError(f"no valid depth inside the detection box {[x0, y0, x1, y1]}")
    cx, cy, hw, hh = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 4, (y1 - y0) / 4
    inner = ((np.abs(rows - cy) <= hh)[:, None] & (np.abs(cols - cx) <= hw)[None, :]) & valid
    px = max(x1 - x0, y1 - y0)
    layers: list[np.ndarray] = []
    left, total = valid, np.count_nonzero(valid)
    while len(layers) < max_layers:
        if layers and np.count_nonzero(left) < min_share * total:
            break
        seed = inner if not layers and inner.any() else left
        z_ref = float(np.median(z[seed]))
        layer = left & (np.abs(z - z_ref) <= band * px * z_ref / fx)
        if layers and not layer.any():  # a median between two layers selects none: stop
            break
        layers.append(layer)
        left = left & ~layer
    return layers


#: A piece of the box's middle is the object's when it holds at least this share of what the
#: largest piece holds there (:func:`split_at_depth_jumps`).
CENTRAL_SHARE = 0.25
#: A depth step between 4-neighbouring pixels larger than this share of their depth separates
#: two surfaces (:func:`split_at_depth_jumps`): 1 cm at 0.5 m, where a surface's own step
#: between neighbouring pixels reaches that only beyond ~75 deg from facing the camera.
DEPTH_JUMP = 0.02


def split_at_depth_jumps(mask: np.ndarray, depth_m: np.ndarray, box_xyxy,
                         jump: float = DEPTH_JUMP) -> np.ndarray:  # fmt: skip
    """``mask`` ``[H x W]`` bool (a box-only candidate of :func:`box_depth_layers`) cut into
    pieces where the depth between 4-neighbouring mask pixels steps by more than ``jump`` x
    their depth. Kept: the piece with the most pixels in the inner half of ``box_xyxy`` (px)
    and any other with at least ``CENTRAL_SHARE`` of that; a neighbour beside the object
    enters the box from a side and holds little of its middle. The pixels at a step are given
    back to a kept piece they touch. Not for objects with an opening: a mug's or a bowl's
    inside, seen over its rim, is a piece of its own, off the middle. Pieces are found inside
    the box only. Unchanged when ``jump`` <= 0, when no piece reaches the inner half, or when
    what is kept would be less than a tenth of the mask (the cut went through the object)."""
    m = np.asarray(mask, dtype=bool)
    if jump <= 0 or not m.any():
        return m
    z = np.asarray(depth_m, dtype=np.float32)
    h, w = m.shape
    x0, y0, x1, y1 = (float(v) for v in box_xyxy)
    c0, r0 = max(int(math.floor(x0)), 0), max(int(math.floor(y0)), 0)
    c1, r1 = min(int(math.ceil(x1)) + 1, w), min(int(math.ceil(y1)) + 1, h)
    if c1 <= c0 or r1 <= r0:
        return m
    sub = m[r0:r1, c0:c1] & (z[r0:r1, c0:c1] > 0)
    zs = z[r0:r1, c0:c1]
    step = np.zeros_like(sub)
    for a, b, za, zb in ((np.s_[:, 1:], np.s_[:, :-1], zs[:, 1:], zs[:, :-1]),
                         (np.s_[1:, :], np.s_[:-1, :], zs[1:, :], zs[:-1, :])):  # fmt: skip
        cut = sub[a] & sub[b] & (np.abs(za - zb) > jump * np.minimum(za, zb))
        step[a] |= cut
        step[b] |= cut
    n, labels = cv2.connectedComponents((sub & ~step).astype(np.uint8), connectivity=4)
    if n <= 1:
        return m
    rows, cols = np.arange(r0, r1)[:, None], np.arange(c0, c1)[None, :]
    cx, cy, hw, hh = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 4, (y1 - y0) / 4
    inner = (np.abs(rows - cy) <= hh) & (np.abs(cols - cx) <= hw)
    counts = np.bincount(labels[inner & (labels > 0)], minlength=n)
    if counts[1:].max() == 0:
        return m
    keep = np.flatnonzero(counts >= CENTRAL_SHARE * counts.max())
    piece = np.isin(labels, keep)
    grown = cv2.dilate(piece.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    piece |= grown & step
    if np.count_nonzero(piece) < 0.1 * np.count_nonzero(m):
        return m
    out = m.copy()
    out[r0:r1, c0:c1] = piece
    return out


def mask_depth_band(
    mask: np.ndarray, depth_m: np.ndarray, box_xyxy: np.ndarray, fx: float, band: float
) -> np.ndarray:
    """``mask`` (``[H x W]`` bool) without its pixels whose valid depth lies further than
    ``band * side`` from the median depth of the mask's valid pixels, ``side`` the detection
    box's longer side in metres at that depth: a detector's mask that spills past the object's
    edge onto the background brings that background's depth. Pixels without depth stay;
    ``band`` <= 0 or a mask without valid depth: unchanged."""
    m = np.asarray(mask, dtype=bool)
    z = np.asarray(depth_m)
    valid = m & np.isfinite(z) & (z > 0)
    if band <= 0 or not valid.any():
        return m
    x0, y0, x1, y1 = (float(v) for v in box_xyxy)
    z_ref = float(np.median(z[valid]))
    far = valid & (np.abs(z - z_ref) > band * max(x1 - x0, y1 - y0) * z_ref / fx)
    return m & ~far


def mask_rim(mask: np.ndarray, width: int) -> np.ndarray:
    """``[H x W]`` bool: the pixels of ``mask`` within ``width`` px of its edge (the mask less
    its erosion by a ``2 width + 1`` square; the image border does not count as an edge);
    none for ``width`` <= 0."""
    m = np.asarray(mask, dtype=np.uint8)
    if width <= 0:
        return np.zeros(m.shape, dtype=bool)
    inner = cv2.erode(m, np.ones((2 * width + 1, 2 * width + 1), np.uint8), borderValue=1)
    return m.astype(bool) & ~inner.astype(bool)


def plane_heights(points, plane: tuple[np.ndarray, float]) -> np.ndarray:
    """Heights (m) above ``plane`` = :func:`support_plane`'s ``(unit normal [3], offset)`` of
    ``points`` (``[N x 3]`` or ``[3]``, camera frame, m): ``p . normal + offset``."""
    return np.asarray(points, dtype=np.float64) @ np.asarray(plane[0]) + float(plane[1])


def support_plane(
    depth_m: np.ndarray,
    box_xyxy: np.ndarray,
    intrinsics,
    ring: float = 0.35,
    threshold: float = 0.006,
    iterations: int = 64,
    min_inlier_fraction: float = 0.3,
    max_points: int = 1500,
    seed: int = 0,
    max_threshold: float | None = None,
) -> tuple[np.ndarray, float] | None:
    """The surface around a detection, ``(unit normal [3], offset)`` (m) with the camera on its
    positive side (a point's height above it: ``p . normal + offset``), or None.

    The plane is fitted to the valid depth of the ring between ``box_xyxy`` and the box grown by
    ``ring`` x its size on every side (the table and background around the object), ``iterations``
    RANSAC hypotheses of 3 points with ``threshold`` m inlier distance (deterministic: ``seed``);
    None when fewer than 30 ring pixels have depth or no plane holds ``min_inlier_fraction`` of
    them.

    A far surface's depth is noisier: the axial noise of structured-light and stereo sensors
    grows with the square of the distance (Kinect-class: ~2 mm at 1 m, ~1.6 cm at 3 m), and a
    6 mm band then holds too few of a table's pixels. With ``max_threshold``, a fit that finds no
    plane is repeated with the threshold doubled, up to ``max_threshold`` (m), so the band
    follows the sensor's noise without knowing its model; a surface that a tight band already
    finds is fitted as before.
    """
    z = np.asarray(depth_m)
    h, w = z.shape
    x0, y0, x1, y1 = (float(v) for v in box_xyxy)
    gx, gy = ring * (x1 - x0), ring * (y1 - y0)
    r0, r1 = max(int(np.floor(y0 - gy)), 0), min(int(np.ceil(y1 + gy)), h - 1)
    c0, c1 = max(int(np.floor(x0 - gx)), 0), min(int(np.ceil(x1 + gx)), w - 1)
    rows, cols = np.mgrid[r0 : r1 + 1, c0 : c1 + 1]
    outside = ~((rows >= y0) & (rows <= y1) & (cols >= x0) & (cols <= x1))
    keep = outside & (z[rows, cols] > 0)
    if np.count_nonzero(keep) < 30:
        return None
    rng = np.random.default_rng(seed)
    idx = np.flatnonzero(keep)
    if len(idx) > max_points:
        idx = rng.choice(idx, max_points, replace=False)
    uv = np.stack([cols.reshape(-1)[idx], rows.reshape(-1)[idx]], 1).astype(np.float64)
    pts = intrinsics.backproject(uv, z[rows, cols].reshape(-1)[idx].astype(np.float64))
    need = min_inlier_fraction * len(pts)
    best = best_plane(pts, threshold, rng, iterations, min_norm=1e-9)
    while (best is None or best[0] < need) and max_threshold is not None and (
            2.0 * threshold <= max_threshold * (1.0 + 1e-9)):  # fmt: skip
        threshold *= 2.0
        best = best_plane(pts, threshold, rng, iterations, min_norm=1e-9)
    if best is None or best[0] < need:
        return None
    normal = best[1]
    offset = -float(np.einsum("ij,ij->i", best[2][None], normal[None])[0])  # as RANSAC scored it
    if offset < 0:  # the camera (origin) on the positive side
        normal, offset = -normal, -offset
    return normal, offset


def remove_support_plane(
    mask: np.ndarray,
    depth_m: np.ndarray,
    box_xyxy: np.ndarray,
    intrinsics,
    min_height: float = 0.008,
    ring: float = 0.35,
    threshold: float = 0.006,
    iterations: int = 64,
    min_inlier_fraction: float = 0.3,
    max_points: int = 1500,
    seed: int = 0,
) -> np.ndarray:
    """``mask`` ``[H x W]`` bool without the pixels of the supporting surface.

    The surface is :func:`support_plane`'s (same arguments). Mask pixels whose height above it
    is below ``min_height`` m are removed. The mask is returned unchanged when there is no
    plane or when the removal would leave less than a quarter of it (a plane through the
    object, not under it).

    Args:
        depth_m: ``[H x W]`` depth (m, 0 invalid). intrinsics: the image's
            :class:`~ros_pose_estimation.core.camera.Intrinsics`.
    """
    if not mask.any():
        return mask
    plane = support_plane(depth_m, box_xyxy, intrinsics, ring, threshold, iterations,
                          min_inlier_fraction, max_points, seed)  # fmt: skip
    return remove_below_plane(mask, depth_m, intrinsics, plane, min_height)


def remove_below_plane(
    mask: np.ndarray,
    depth_m: np.ndarray,
    intrinsics,
    plane: tuple[np.ndarray, float] | None,
    min_height: float = 0.008,
    within: np.ndarray | None = None,
) -> np.ndarray:
    """``mask`` ``[H x W]`` bool without the pixels less than ``min_height`` m above ``plane``
    (:func:`support_plane`'s ``(normal, offset)``; None: no plane, the mask unchanged), only
    those in ``within`` (``[H x W]`` bool) when given; the mask is returned unchanged too when
    the removal would leave less than a quarter of it (a plane through the object, not under
    it)."""
    if plane is None or not mask.any():
        return mask
    z = np.asarray(depth_m)
    mr, mc = np.nonzero(mask)
    on = intrinsics.backproject(np.stack([mc, mr], 1).astype(np.float64),
                                z[mr, mc].astype(np.float64))  # fmt: skip
    above = plane_heights(on, plane) > min_height
    if within is not None:
        above |= ~np.asarray(within, dtype=bool)[mr, mc]
    if np.count_nonzero(above) < 0.25 * len(mr):
        return mask
    out = np.zeros_like(mask)
    out[mr[above], mc[above]] = True
    return out


def off_surface(
    box_xyxy: np.ndarray,
    depth_m: np.ndarray,
    intrinsics,
    plane: tuple[np.ndarray, float],
    min_height: float = 0.008,
) -> tuple[np.ndarray, float]:
    """``(mask [H x W] bool, share)``: the detection box's pixels that are not on the support
    ``plane`` (no depth, or more than ``min_height`` m above it), and the share of the box's
    pixels with depth that lie on it. A box whose depth is nearly all surface holds an object
    the sensor did not see (dark, glossy): its pixels are the holes and what stands up."""
    z = np.asarray(depth_m)
    h, w = z.shape
    x0, y0, x1, y1 = (float(v) for v in box_xyxy)
    r0, r1 = max(int(np.ceil(y0)), 0), min(int(np.floor(y1)), h - 1)
    c0, c1 = max(int(np.ceil(x0)), 0), min(int(np.floor(x1)), w - 1)
    out = np.zeros((h, w), dtype=bool)
    if r1 < r0 or c1 < c0:
        return out, 0.0
    rows, cols = np.mgrid[r0 : r1 + 1, c0 : c1 + 1]
    zz = z[rows, cols].astype(np.float64)
    has = zz > 0
    pts = intrinsics.backproject(np.stack([cols[has], rows[has]], 1).astype(np.float64), zz[has])
    above = plane_heights(pts, plane) > min_height
    keep = ~has
    keep[has] = above
    out[rows[keep], cols[keep]] = True
    return out, float(np.mean(~above)) if len(above) else 0.0


def cell_mask_and_depth(
    mask: np.ndarray, depth_m: np.ndarray, stride: int, min_fraction: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """``[S x S]`` crop mask and depth (m) -> ``[S/stride x S/stride]`` bool object cells and
    float64 mean depth of each cell's valid masked pixels (0 when none)."""
    m = np.asarray(mask, dtype=bool)
    s = check_shape("mask", m, ("S", "S"))["S"]
    z = np.asarray(depth_m, dtype=np.float64)
    check_shape("depth_m", z, (s, s))
    n = s // stride
    blocks = (n, stride, n, stride)
    frac = m.reshape(blocks).mean((1, 3))
    good = m & (z > 0)
    count = good.reshape(blocks).sum((1, 3))
    total = np.where(good, z, 0.0).reshape(blocks).sum((1, 3))
    depth = np.where(count > 0, total / np.maximum(count, 1), 0.0)
    return frac >= min_fraction, depth


def object_points(depth_m: np.ndarray, box_xyxy, mask: np.ndarray | None, intrinsics,
                  max_points: int = 4000) -> np.ndarray:  # fmt: skip
    """``[N x 3]`` camera-frame points (m) of the valid depth pixels inside ``box_xyxy`` (px,
    clipped to the image) and ``mask`` (``[H x W]`` bool, or None: the whole box); at most
    ``max_points``, taken evenly in raster order."""
    h, w = depth_m.shape
    x0, y0, x1, y1 = (int(v) for v in np.round(np.asarray(box_xyxy, dtype=np.float64)))
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 <= x0 or y1 <= y0:
        return np.zeros((0, 3))
    z = depth_m[y0:y1, x0:x1].astype(np.float64)
    ok = np.isfinite(z) & (z > 0)
    if mask is not None:
        ok &= np.asarray(mask, dtype=bool)[y0:y1, x0:x1]
    v, u = np.nonzero(ok)
    step = max(1, math.ceil(len(v) / max_points))
    v, u = v[::step], u[::step]
    zz = z[v, u]
    uv = np.stack([u + x0, v + y0], axis=1).astype(np.float64)
    return intrinsics.backproject(uv, zz)


def inside_box(points: np.ndarray, R: np.ndarray, t: np.ndarray, size: np.ndarray,
               grow: float = 0.15, floor: float = 0.01) -> np.ndarray:  # fmt: skip
    """The ``points [N x 3]`` (camera frame, m) inside the solved object's box (``R``, box
    centre ``t``, extents ``size``, m) grown by ``grow`` of each extent, and at least ``floor``
    (m) above its bottom face (what it stands on): a box-only detection's pixels of the
    object."""
    q = (np.asarray(points, dtype=np.float64) - np.asarray(t, dtype=np.float64)) @ np.asarray(R)
    half = 0.5 * np.asarray(size, dtype=np.float64) * (1.0 + grow)
    keep = np.all(np.abs(q) <= half, axis=1) & (q[:, 2] > -0.5 * float(size[2]) + floor)
    return np.asarray(points)[keep]
