"""Pinhole camera intrinsics, parsed once from ``CameraInfo`` and passed around typed.

Conventions (see :mod:`ros_pose_estimation.core.conventions`): optical frame x right, y down,
z forward; integer pixel coordinates are pixel centres; depth in metres with 0 = invalid. The
model has no distortion: images are assumed **rectified** (``image_rect*`` topics, described by
``CameraInfo.P``). Feeding raw images of a distorted lens gives biased poses near the borders.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from .errors import DepthError, IntrinsicsError, check_shape


class DistortionWarning(UserWarning):
    """CameraInfo has non-zero distortion; the project assumes rectified images."""


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics of an image of ``width x height`` pixels (focal lengths in pixels)."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    def __post_init__(self) -> None:
        for name in ("fx", "fy", "cx", "cy"):
            value = float(getattr(self, name))
            if not np.isfinite(value):
                raise IntrinsicsError(f"{name} must be finite, got {value}")
            object.__setattr__(self, name, value)
        if self.fx <= 0 or self.fy <= 0:
            raise IntrinsicsError(
                f"focal lengths must be positive, got fx={self.fx}, fy={self.fy} "
                "(an all-zero K means the camera is not calibrated)"
            )
        for name in ("width", "height"):
            value = getattr(self, name)
            if int(value) != value or value <= 0:
                raise IntrinsicsError(f"{name} must be a positive integer, got {value}")
            object.__setattr__(self, name, int(value))

    @property
    def K(self) -> np.ndarray:
        """``[3 x 3]`` float64 camera matrix."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)``, the shape of a matching mono or depth image."""
        return (self.height, self.width)

    @classmethod
    def from_hfov(cls, width: int, height: int, hfov_deg: float) -> Intrinsics:
        """Square pixels, horizontal field of view ``hfov_deg`` (deg), principal point at the
        image centre ``((width - 1) / 2, (height - 1) / 2)`` (pixel-centre convention)."""
        f = 0.5 * width / np.tan(np.deg2rad(hfov_deg) / 2.0)
        return cls(f, f, (width - 1) / 2.0, (height - 1) / 2.0, width, height)

    @classmethod
    def from_K(cls, K: np.ndarray, width: int, height: int) -> Intrinsics:
        """From a ``[3 x 3]`` camera matrix (skew must be 0)."""
        mat = np.asarray(K, dtype=np.float64)
        check_shape("K", mat, (3, 3))
        if abs(mat[0, 1]) > 1e-9 * max(abs(mat[0, 0]), 1.0):
            raise IntrinsicsError(f"skewed camera matrices are not supported (K[0,1]={mat[0, 1]})")
        return cls(mat[0, 0], mat[1, 1], mat[0, 2], mat[1, 2], width, height)

    @classmethod
    def from_camera_info_fields(
        cls,
        k: Sequence[float],
        width: int,
        height: int,
        p: Sequence[float] | None = None,
        distortion_model: str = "plumb_bob",
        d: Sequence[float] = (),
    ) -> Intrinsics:
        """From the fields of a ``sensor_msgs/CameraInfo`` (no rclpy needed).

        ``P[:3, :3]`` (the rectified camera) is used when ``p`` is given and non-zero, else ``K``
        (row-major 9 floats). Non-zero ``d`` emits a :class:`DistortionWarning` once: the images
        must be the rectified ones. ``binning`` and ``roi`` are not supported (must be unset).

        Raises:
            IntrinsicsError: wrong lengths, zero focal length (uncalibrated camera), bad size.
        """
        k_arr = np.asarray(k, dtype=np.float64).reshape(-1)
        if k_arr.size != 9:
            raise IntrinsicsError(f"CameraInfo.k: expected 9 values, got {k_arr.size}")
        mat = k_arr.reshape(3, 3)
        if p is not None:
            p_arr = np.asarray(p, dtype=np.float64).reshape(-1)
            if p_arr.size != 12:
                raise IntrinsicsError(f"CameraInfo.p: expected 12 values, got {p_arr.size}")
            if p_arr[0] != 0.0 and p_arr[5] != 0.0:
                mat = p_arr.reshape(3, 4)[:, :3]
        if mat[0, 0] == 0.0 or mat[1, 1] == 0.0:
            raise IntrinsicsError(
                f"CameraInfo has fx or fy = 0: the camera is not calibrated (k={k_arr.tolist()})"
            )
        if np.any(np.asarray(d, dtype=np.float64) != 0.0):
            warnings.warn(
                f"CameraInfo has non-zero {distortion_model} distortion; ros_pose_estimation "
                "assumes rectified images (image_rect topics) described by P",
                DistortionWarning,
                stacklevel=2,
            )
        return cls.from_K(mat, width, height)

    def scaled(self, sx: float, sy: float | None = None) -> Intrinsics:
        """Intrinsics of the image resized by ``sx`` (and ``sy``, default ``sx``).

        Exact under the pixel-centre convention: ``u' = sx * (u + 0.5) - 0.5``. The new size is
        ``round(width * sx) x round(height * sy)``.
        """
        sy = sx if sy is None else sy
        if sx <= 0 or sy <= 0:
            raise IntrinsicsError(f"scale factors must be positive, got ({sx}, {sy})")
        return Intrinsics(
            self.fx * sx,
            self.fy * sy,
            sx * (self.cx + 0.5) - 0.5,
            sy * (self.cy + 0.5) - 0.5,
            max(1, round(self.width * sx)),
            max(1, round(self.height * sy)),
        )

    def resized(self, width: int, height: int) -> Intrinsics:
        """Intrinsics of the image resized to exactly ``width x height``."""
        out = self.scaled(width / self.width, height / self.height)
        return Intrinsics(out.fx, out.fy, out.cx, out.cy, width, height)

    def project(self, points: np.ndarray) -> np.ndarray:
        """``[N x 3]`` camera-frame points (m) -> ``[N x 2]`` pixels (u, v); NaN where z <= 0."""
        pts = np.asarray(points, dtype=np.float64)
        check_shape("points", pts, (None, 3))
        z = pts[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            uv = np.stack(
                [self.fx * pts[:, 0] / z + self.cx, self.fy * pts[:, 1] / z + self.cy], axis=1
            )
        uv[z <= 0] = np.nan
        return uv

    def backproject(self, uv: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """``[N x 2]`` pixels and ``[N]`` depths (m, z coordinate) -> ``[N x 3]`` points (m)."""
        pix = np.asarray(uv, dtype=np.float64)
        check_shape("uv", pix, ("N", 2))
        z = np.asarray(depth, dtype=np.float64)
        check_shape("depth", z, (len(pix),))
        x = (pix[:, 0] - self.cx) / self.fx * z
        y = (pix[:, 1] - self.cy) / self.fy * z
        return np.stack([x, y, z], axis=1)

    def pixel_rays(self) -> np.ndarray:
        """``[H x W x 3]`` rays ``(x/z, y/z, 1)`` through every pixel centre."""
        u = (np.arange(self.width) - self.cx) / self.fx
        v = (np.arange(self.height) - self.cy) / self.fy
        rays = np.ones((self.height, self.width, 3))
        rays[:, :, 0] = u[None, :]
        rays[:, :, 1] = v[:, None]
        return rays

    def _check_depth(self, depth: np.ndarray) -> np.ndarray:
        check_shape("depth", depth, self.shape)
        return np.asarray(depth, dtype=np.float64)

    def backproject_depth(self, depth: np.ndarray) -> np.ndarray:
        """``[H x W]`` depth (m) -> ``[H x W x 3]`` points (m); invalid pixels give (0, 0, 0).

        Invalid: 0, negative, NaN, inf. The depth must match the intrinsics' image size.
        """
        z = self._check_depth(depth)
        valid = np.isfinite(z) & (z > 0)
        return self.pixel_rays() * np.where(valid, z, 0.0)[:, :, None]

    def backproject_depth_valid(
        self, depth: np.ndarray, mask: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Points of the valid (and masked) pixels only.

        Args:
            depth: ``[H x W]`` depth (m).
            mask: optional ``[H x W]`` bool, pixels to keep (e.g. the object's mask).

        Returns:
            ``[N x 3]`` points (m) in row-major pixel order and the ``[H x W]`` bool mask of the
            pixels they come from.
        """
        z = self._check_depth(depth)
        valid = np.isfinite(z) & (z > 0)
        if mask is not None:
            check_shape("mask", mask, self.shape)
            valid &= np.asarray(mask, dtype=bool)
        rows, cols = np.nonzero(valid)
        uv = np.stack([cols, rows], axis=1).astype(np.float64)
        return self.backproject(uv, z[rows, cols]), valid

    def check_image(self, image: np.ndarray, name: str = "image") -> None:
        """Raise if ``image`` (``[H x W]`` or ``[H x W x C]``) does not match the size."""
        shape = np.shape(image)
        if tuple(shape[:2]) != self.shape:
            raise IntrinsicsError(
                f"{name}: expected {self.height} x {self.width} pixels (from CameraInfo), "
                f"got {tuple(shape)}"
            )

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Intrinsics:
        try:
            return cls(**{k: data[k] for k in ("fx", "fy", "cx", "cy", "width", "height")})
        except KeyError as exc:
            raise IntrinsicsError(f"intrinsics dict is missing {exc.args[0]!r}") from None


def require_valid_depth(depth: np.ndarray, min_valid: int = 1) -> None:
    """Raise :class:`DepthError` if fewer than ``min_valid`` pixels of ``depth`` are valid."""
    z = np.asarray(depth)
    count = int(np.count_nonzero(np.isfinite(z) & (z > 0)))
    if count < min_valid:
        raise DepthError(f"expected at least {min_valid} valid depth pixels, got {count}")
