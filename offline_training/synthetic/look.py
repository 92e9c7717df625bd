"""A camera / lighting "look" applied to finished renders: the target domain of adaptation.

``generate-dataset`` renders the training data with mild sensor noise under 1-3 slightly tinted
white lights. A target domain whose look that training never saw (issue #16 item 1) is made by
post-processing every RGB image with :class:`Look`:

* ``gain``: a brightness factor drawn per image from ``(lo, hi)`` (darker lighting: < 1);
* ``tint``: a colour cast, each channel multiplied by ``1 + tint * u`` with ``u`` uniform in
  ``[-1, 1]`` per image and channel (coloured lighting, another white balance);
* ``gamma``: a tone curve ``255 * (x / 255) ** gamma`` (another camera's response);
* ``motion_blur``: a linear blur of length drawn from ``(lo, hi)`` px along a random direction
  (camera shake during the exposure; the whole image);
* ``noise``: additional Gaussian noise, std-dev in 0-255 units (a noisier, high-ISO sensor);
* ``jpeg_quality``: JPEG compression at this quality (1-100), decoded again.

Only the RGB changes: depth, masks and poses stay exact. Each image draws from its own
generator (``[seed, 2, image index]``, :mod:`.dataset`), so a dataset with a look has the
geometry, layouts and labels of the same seed without one. ``Look()`` changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["Look", "apply_look", "jpeg_roundtrip"]


@dataclass(frozen=True)
class Look:
    """Post-render appearance changes (module doc); the defaults change nothing."""

    gain: tuple[float, float] = (1.0, 1.0)
    tint: float = 0.0
    gamma: float = 1.0
    motion_blur: tuple[float, float] = (0.0, 0.0)
    noise: float = 0.0
    jpeg_quality: int | None = None

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first setting out of range."""
        if not 0.0 < self.gain[0] <= self.gain[1]:
            raise ValueError(f"look gain must satisfy 0 < lo <= hi, got {self.gain}")
        if not 0.0 <= self.tint < 1.0 or self.gamma <= 0 or self.noise < 0:
            raise ValueError(f"need 0 <= tint < 1, gamma > 0, noise >= 0; got tint {self.tint}, "
                             f"gamma {self.gamma}, noise {self.noise}")  # fmt: skip
        if not 0.0 <= self.motion_blur[0] <= self.motion_blur[1]:
            raise ValueError(f"motion_blur must satisfy 0 <= lo <= hi, got {self.motion_blur}")
        if self.jpeg_quality is not None and not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be in 1..100, got {self.jpeg_quality}")

    @property
    def is_identity(self) -> bool:
        return self == Look()


def motion_kernel(length: float, angle_rad: float) -> np.ndarray:
    """``[k x k]`` float32 kernel (sums to 1) of a line ``length`` px long at ``angle_rad``."""
    k = int(np.ceil(length)) | 1  # odd side
    kernel = np.zeros((k, k), np.float32)
    c, half = (k - 1) / 2.0, length / 2.0
    dx, dy = np.cos(angle_rad) * half, np.sin(angle_rad) * half
    p0 = (round(c - dx), round(c - dy))
    p1 = (round(c + dx), round(c + dy))
    cv2.line(kernel, p0, p1, 1.0, 1)
    return kernel / kernel.sum()


def apply_look(rgb: np.ndarray, look: Look, rng: np.random.Generator) -> np.ndarray:
    """``rgb`` ``[H x W x 3]`` uint8 with ``look`` applied (module doc) -> ``[H x W x 3]`` uint8.

    Order: blur (the exposure), light (gain, tint), tone curve, sensor noise, compression.
    """
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"apply_look expects [H x W x 3] uint8, got {rgb.shape} {rgb.dtype}")
    if look.is_identity:
        return rgb
    img = rgb.astype(np.float32)
    length = float(rng.uniform(*look.motion_blur))
    angle = float(rng.uniform(0.0, np.pi))
    if length >= 1.5:
        img = cv2.filter2D(img, -1, motion_kernel(length, angle), borderType=cv2.BORDER_REFLECT)
    scale = float(rng.uniform(*look.gain)) * (1.0 + look.tint * rng.uniform(-1.0, 1.0, 3))
    img = img * scale.astype(np.float32)
    if look.gamma != 1.0:
        img = 255.0 * (np.clip(img, 0.0, 255.0) / 255.0) ** np.float32(look.gamma)
    if look.noise > 0:
        img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(look.noise)
    out = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    if look.jpeg_quality is not None:
        out = jpeg_roundtrip(out, look.jpeg_quality)
    return out


def jpeg_roundtrip(rgb: np.ndarray, quality: int) -> np.ndarray:
    """``rgb`` ``[H x W x 3]`` uint8 JPEG-compressed at ``quality`` (1-100) and decoded again."""
    ok, buf = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("OpenCV could not JPEG-encode the image")
    return np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])
