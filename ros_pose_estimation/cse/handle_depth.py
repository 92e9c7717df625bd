"""The mug's azimuth from where its handle stands out of the body in the depth image (RGB-D).

:func:`.parts.handle_azimuth` turns a mug about its axis to fit the correspondence cells that
the network places on the handle. Cells are 8 crop pixels wide, a handle is often one or two
of them, and the network may not place any there; then the azimuth stays with the body's
cells, which cannot fix it. The depth pixels themselves show the handle without any network:
in the solved model frame the body is a cylinder of radius ``r = size_y / 2`` about the axis
``(x, y) = (-size_x / 2 + r, 0)``, and the handle is what sticks out of it.

:func:`handle_turn` takes the object's depth pixels (``[N x 3]`` camera frame, m;
:func:`.pixels.object_points`) and moves
each ``sink`` body radii further along its viewing ray (a depth pixel lies on the handle's
near side; without this their mean direction leans a few degrees towards the camera). It
puts them in the solved frame (``R``, box centre ``t``, extents ``size``), keeps those between
12 % and 95 % of the height whose distance from the axis exceeds ``r (1 + margin)`` and stays
within the handle's reach (``r + max(size_x - size_y, 0.3 r) + 1 cm``), and finds their
direction about the axis: the peak of a 10-deg histogram of their azimuths (smoothed over
three bins), then the circular mean of those within 30 deg of it. ``window_deg`` < 180 looks
only that far either side of the current +x. The pose turns about the axis by that angle (the
axis stays where it is; the box centre moves with the handle side). With fewer than
``min_points`` such pixels (a hidden handle, a far mug) the pose is returned unchanged.

Pure numpy; ``test/cse/test_handle_depth.py`` pins it on synthetic point clouds.
"""

from __future__ import annotations

import math

import numpy as np

from ros_pose_estimation.core.errors import check_shape

__all__ = ["handle_turn"]

#: Histogram bin (deg) of the candidate pixels' azimuths, and the half-width (deg) of the
#: neighbourhood of the peak that is averaged.
BIN_DEG = 10.0
PEAK_HALF_WIDTH_DEG = 30.0


def handle_turn(
    points: np.ndarray,
    R: np.ndarray,
    t: np.ndarray,
    size: np.ndarray,
    margin: float = 0.25,
    min_points: int = 8,
    window_deg: float = 180.0,
    min_turn_deg: float = 0.0,
    sink: float = 0.1,
) -> tuple[np.ndarray, np.ndarray, int, float]:
    """Turn a mug's pose about its body's axis to where its depth pixels show the handle.

    Args:
        points: ``[N x 3]`` the object's depth pixels, camera frame (m).
        R: ``[3 x 3]`` model -> camera; t: ``[3]`` the box centre (m); size: ``[3]`` the
            extents along model x (handle included), y and z (m).
        margin: a pixel counts when its distance from the axis exceeds ``r (1 + margin)``.
        min_points: fewer such pixels: no turn.
        window_deg: only pixels within this angle of the current +x count (180: all).
        min_turn_deg: a smaller turn is not made (the pose stays as solved).
        sink: the pixels seen lie on the near side of the handle; each is moved this many body
            radii further along its viewing ray first (0.1: half of an 8 mm thick handle on a
            4 cm body; 0 for points all round the object).

    Returns:
        ``(R', t', pixels, phi)``: the turned pose, the handle pixels averaged and the turn
        (rad; 0 and the pose unchanged when fewer than ``min_points`` were found).
    """
    pts = np.asarray(points, dtype=np.float64)
    check_shape("points", pts, ("N", 3))
    R = np.asarray(R, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    sx, sy, sz = (float(v) for v in np.asarray(size, dtype=np.float64))
    r = 0.5 * sy
    axis_x = -0.5 * sx + r
    q = (pts - t) @ R  # model frame, origin at the box centre
    if sink:  # from the seen surface to the handle's middle, along each pixel's ray
        rays = pts / np.maximum(np.linalg.norm(pts, axis=1, keepdims=True), 1e-12)
        q = q + (sink * r) * (rays @ R)
    dx, dy = q[:, 0] - axis_x, q[:, 1]
    dist = np.hypot(dx, dy)
    reach = r + max(sx - sy, 0.3 * r) + 0.01
    cand = ((q[:, 2] > -0.5 * sz + 0.12 * sz) & (q[:, 2] < 0.5 * sz - 0.05 * sz)
            & (dist > r * (1.0 + margin)) & (dist < reach))  # fmt: skip
    ang = np.arctan2(dy[cand], dx[cand])
    ang = ang[np.abs(ang) <= math.radians(window_deg)]
    if len(ang) < min_points:
        return R, t, 0, 0.0
    bins = int(round(360.0 / BIN_DEG))
    idx = np.floor((ang + math.pi) / (2.0 * math.pi) * bins).astype(int) % bins
    hist = np.bincount(idx, minlength=bins)
    smooth = hist + np.roll(hist, 1) + np.roll(hist, -1)
    peak = (int(np.argmax(smooth)) + 0.5) * 2.0 * math.pi / bins - math.pi
    near = np.abs(np.angle(np.exp(1j * (ang - peak)))) <= math.radians(PEAK_HALF_WIDTH_DEG)
    used = int(near.sum())
    if used < min_points:
        return R, t, 0, 0.0
    phi = math.atan2(np.sin(ang[near]).mean(), np.cos(ang[near]).mean())
    if abs(phi) < math.radians(min_turn_deg):
        return R, t, used, 0.0
    c, s = math.cos(phi), math.sin(phi)
    R_new = R @ np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    axis = np.array([axis_x, 0.0, 0.0])
    return R_new, t + R @ axis - R_new @ axis, used, phi
