"""The image a camera would see after turning about its optical axis (a pure roll).

Turning a pinhole camera about its optical axis by ``angle`` changes no ray, only how rays map
to pixels, so its image is an exact affine warp of the original: with ``Q = Rz(angle)`` (the
old camera frame -> the new one, ``x_new = Q x_old``) and intrinsics ``K`` (old), ``K'`` (new:
the same focal lengths, another principal point),

    u_new ~ K' Q K^-1 u_old        (affine: Q leaves z alone)

A pose ``(R, t)`` (object -> old camera) is ``(Q R, Q t)`` in the new camera, and back with
``Q^T``. :func:`rolled_view` renders the new image on a canvas of its own (a square window
around a point of interest, or the whole turned image), so nothing of the object is cut off
however far from the principal point it is. Used by the RGB estimator to look at an object
whose image is rolled as if the camera were held upright (:mod:`ros_pose_estimation.nemo`), and
by benchmarks that turn labelled test images (``benchmarks/nemo_roll.py``).

Pure numpy + OpenCV (``cv2.warpAffine``); pixel-centre convention of :mod:`.crops` (integer
coordinates are pixel centres), angles in rad, positive turning the image content
clockwise on screen (the camera's +x towards its +y).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .camera import Intrinsics
from .errors import InputError, check_shape

__all__ = ["RolledView", "roll_matrix", "rolled_view", "upright_box"]


def roll_matrix(angle: float) -> np.ndarray:
    """``Q [3 x 3]``: the rotation about the camera's z (optical) axis by ``angle`` (rad)."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


@dataclass(frozen=True)
class RolledView:
    """The turned camera's image and geometry.

    Attributes:
        image: ``[h x w (x C)]`` the warped image (same dtype).
        intrinsics: the new camera's intrinsics (``image``'s size).
        Q: ``[3 x 3]`` old camera frame -> new camera frame.
        affine: ``[2 x 3]`` old pixel -> new pixel (``cv2.warpAffine`` form).
    """

    image: np.ndarray
    intrinsics: Intrinsics
    Q: np.ndarray
    affine: np.ndarray

    def points(self, uv: np.ndarray) -> np.ndarray:
        """``[N x 2]`` old pixels -> new pixels."""
        uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
        return uv @ self.affine[:, :2].T + self.affine[:, 2]

    def box(self, box_xyxy) -> np.ndarray:
        """``[4]`` the new image's axis-aligned box around the old box's turned corners."""
        x0, y0, x1, y1 = np.asarray(box_xyxy, dtype=np.float64)
        corners = self.points(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]))
        return np.concatenate([corners.min(0), corners.max(0)])

    def pose_back(self, R: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A pose in the new camera ``(R [3 x 3], t [3])`` -> the same pose in the old one."""
        return self.Q.T @ np.asarray(R, dtype=np.float64), self.Q.T @ np.asarray(t, np.float64)


def rolled_view(
    image: np.ndarray,
    intrinsics: Intrinsics,
    angle: float,
    centre_xy=None,
    side: int | None = None,
    nearest: bool = False,
) -> RolledView:
    """What the camera of ``intrinsics`` sees after turning about its optical axis by ``angle``.

    Args:
        image: ``[H x W (x C)]`` the original image (size of ``intrinsics``).
        angle: the turn (rad), see the module docstring.
        centre_xy: a point of the original image (px) to centre the canvas on, with ``side``
            its square side (px); None: the whole turned image on a canvas that holds it.
        nearest: nearest-neighbour sampling (masks, depth); else bilinear.

    Raises:
        InputError: an image whose size differs from the intrinsics', a bad ``side``.
    """
    img = np.asarray(image)
    if img.shape[:2] != intrinsics.shape:
        raise InputError(f"image is {img.shape[:2]} (h, w) but the intrinsics are for "
                         f"{intrinsics.shape}")  # fmt: skip
    Q = roll_matrix(angle)
    K = intrinsics.K
    # old pixel -> new pixel before choosing the canvas: K Q K^-1 (principal point kept)
    M = (K @ Q @ np.linalg.inv(K))[:2]
    if centre_xy is None:
        h, w = intrinsics.shape
        corners = np.array([[-0.5, -0.5], [w - 0.5, -0.5], [w - 0.5, h - 0.5], [-0.5, h - 0.5]])
        mapped = corners @ M[:, :2].T + M[:, 2]
        low, high = mapped.min(0), mapped.max(0)
        width, height = (int(np.ceil(v)) for v in high - low)
        shift = -0.5 - low
    else:
        if side is None or int(side) != side or side < 1:
            raise InputError(f"side: expected a positive integer with centre_xy, got {side}")
        centre = np.asarray(centre_xy, dtype=np.float64)
        check_shape("centre_xy", centre, (2,))
        width = height = int(side)
        shift = (side - 1) / 2.0 - (M[:, :2] @ centre + M[:, 2])
    M = M.copy()
    M[:, 2] += shift
    new = Intrinsics(intrinsics.fx, intrinsics.fy, intrinsics.cx + shift[0],
                     intrinsics.cy + shift[1], width, height)  # fmt: skip
    flags = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    src = img.astype(np.uint8) if img.dtype == bool else img
    warped = cv2.warpAffine(src, M, (width, height), flags=flags,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)  # fmt: skip
    if img.dtype == bool:
        warped = warped.astype(bool)
    return RolledView(warped, new, Q, M)


def upright_box(box_xyxy, angle: float, min_conditioning: float = 0.3) -> np.ndarray:
    """The box of an upright rectangle whose image, turned by ``angle`` (rad), has the
    axis-aligned box ``box_xyxy`` (same centre; the rectangle's sides from ``w = a|cos| +
    b|sin|``, ``h = a|sin| + b|cos|``). Near 45 deg the system is ill-conditioned
    (``|cos 2 angle| < min_conditioning``) and the box comes back unchanged; sides never go
    below a quarter of the box's."""
    x0, y0, x1, y1 = np.asarray(box_xyxy, dtype=np.float64)
    c, s = abs(np.cos(angle)), abs(np.sin(angle))
    det = c * c - s * s
    if abs(det) < min_conditioning:
        return np.array([x0, y0, x1, y1])
    w, h = x1 - x0, y1 - y0
    a = (c * w - s * h) / det
    b = (c * h - s * w) / det
    a, b = max(a, 0.25 * w), max(b, 0.25 * h)
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    return np.array([cx - a / 2.0, cy - b / 2.0, cx + a / 2.0, cy + b / 2.0])
