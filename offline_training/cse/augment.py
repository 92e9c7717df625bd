"""Photometric augmentation of CSE training crops: the look changes, the geometry does not.

A camera on a robot sees dimmer or tinted light, another tone curve, motion blur, sensor noise
and compression; the data engine renders clean images. Each crop of a training pair is
perturbed on its own (the two frames of a real pair need not share the look either), with:

* colour jitter: brightness, contrast, saturation, hue
  (:func:`offline_training.nemo.augment.color_jitter`, the NeMo trainer's);
* Gaussian blur (``sigma`` px drawn in a range), additive Gaussian noise (0-255 units) and JPEG
  re-compression (quality drawn in a range, :func:`offline_training.synthetic.look
  .jpeg_roundtrip`), each with its own probability.

Only the RGB crop changes: depth, mask, intrinsics and every label stay exact. The ranges are
generic, not those of any evaluation set. Randomness comes only from the generator passed in.

:func:`occlude_rgbd` is the geometric counterpart: something standing in front of the object
(NeMo's occlusion training, :func:`offline_training.nemo.augment.occluder_shape`, in RGB-D). Its
pixels get a procedural texture or a flat colour, a depth in front of the object, and leave the
visible mask, so they carry no correspondence label; the object's pose labels stay exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from offline_training.nemo.augment import (
    AugmentConfig,
    color_jitter,
    occluder_fill,
    occluder_shape,
)
from offline_training.synthetic.look import jpeg_roundtrip
from ros_pose_estimation.core.errors import ConfigError, check_shape

__all__ = ["OccluderConfig", "PhotometricConfig", "occlude_rgbd", "occluder_depth", "photometric"]


@dataclass
class PhotometricConfig:
    """Probabilities and ranges of :func:`photometric`.

    Attributes:
        p_color: probability of colour jitter; brightness / contrast / saturation: factors
            ``1 +- value``; hue: shift in turns ``+- hue``.
        p_blur: probability of a Gaussian blur with ``sigma`` uniform in ``blur_sigma`` (px).
        p_noise: probability of additive noise with ``sigma`` uniform in ``noise_sigma``.
        p_jpeg: probability of JPEG re-compression at a quality uniform in ``jpeg_quality``.
    """

    p_color: float = 0.8
    brightness: float = 0.4
    contrast: float = 0.3
    saturation: float = 0.3
    hue: float = 0.03
    p_blur: float = 0.3
    blur_sigma: tuple[float, float] = (0.3, 1.5)
    p_noise: float = 0.3
    noise_sigma: tuple[float, float] = (1.0, 8.0)
    p_jpeg: float = 0.3
    jpeg_quality: tuple[int, int] = (30, 90)

    def __post_init__(self) -> None:
        probs = (self.p_color, self.p_blur, self.p_noise, self.p_jpeg)
        if not all(0.0 <= p <= 1.0 for p in probs):
            raise ConfigError(f"photometric probabilities must lie in [0, 1], got {probs}")
        for name in ("blur_sigma", "noise_sigma", "jpeg_quality"):
            lo, hi = getattr(self, name)
            if not 0 <= lo <= hi:
                raise ConfigError(f"photometric {name}: expected 0 <= lo <= hi, got {lo}, {hi}")
        if not 1 <= self.jpeg_quality[0] <= self.jpeg_quality[1] <= 100:
            raise ConfigError(f"photometric jpeg_quality must lie in 1..100: {self.jpeg_quality}")


def photometric(image: np.ndarray, cfg: PhotometricConfig, rng: np.random.Generator):
    """An ``[H x W x 3]`` uint8 RGB image with the look perturbations of ``cfg`` (a new
    array; the input is not modified)."""
    check_shape("image", image, ("H", "W", 3))
    out = np.array(image, dtype=np.uint8, copy=True)
    if rng.random() < cfg.p_color:
        jitter = AugmentConfig(brightness=cfg.brightness, contrast=cfg.contrast,
                               saturation=cfg.saturation, hue=cfg.hue)  # fmt: skip
        out = color_jitter(out, jitter, rng)
    if rng.random() < cfg.p_blur:
        sigma = rng.uniform(*cfg.blur_sigma)
        if sigma > 0:
            out = cv2.GaussianBlur(out, (0, 0), sigmaX=sigma)
    if rng.random() < cfg.p_noise:
        noise = rng.normal(0.0, rng.uniform(*cfg.noise_sigma), out.shape)
        out = np.clip(out + noise, 0, 255).astype(np.uint8)
    if rng.random() < cfg.p_jpeg:
        out = jpeg_roundtrip(out, int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1)))
    return out


@dataclass
class OccluderConfig:
    """What :func:`occlude_rgbd` draws.

    Attributes:
        p: probability that a crop gets an occluder.
        fraction: the occluder's area, a fraction of the object's visible area, uniform in
            ``(lo, hi)`` (it hides at most that much of the object).
        in_front: how far in front of the object's median depth the occluder stands (m),
            uniform in ``(lo, hi)``.
    """

    p: float = 0.5
    fraction: tuple[float, float] = (0.15, 0.6)
    in_front: tuple[float, float] = (0.05, 0.2)

    def __post_init__(self) -> None:
        if not 0.0 <= self.p <= 1.0:
            raise ConfigError(f"occluder probability must lie in [0, 1], got {self.p}")
        lo, hi = self.fraction
        if not 0.0 <= lo <= hi <= 2.0:
            raise ConfigError(f"occluder fraction: need 0 <= lo <= hi <= 2, got {lo}, {hi}")
        lo, hi = self.in_front
        if not 0.0 <= lo <= hi:
            raise ConfigError(f"occluder in_front: need 0 <= lo <= hi (m), got {lo}, {hi}")


def occluder_depth(
    depth: np.ndarray,
    mask: np.ndarray,
    occluder: np.ndarray,
    rng: np.random.Generator,
    in_front: tuple[float, float] = (0.05, 0.2),
) -> np.ndarray:
    """``depth`` ``[H x W]`` (m, 0 invalid) with the ``occluder`` pixels set in front of the
    object of ``mask``: its median valid depth less a distance uniform in ``in_front`` (m),
    never below 0.1 m. A new array; unchanged values where the mask has no valid depth."""
    out = np.array(depth, dtype=np.float32, copy=True)
    valid = mask & (depth > 0)
    if valid.any() and occluder.any():
        out[occluder] = max(float(np.median(depth[valid])) - rng.uniform(*in_front), 0.1)
    return out


def occlude_rgbd(
    image: np.ndarray,
    depth: np.ndarray,
    mask: np.ndarray,
    cfg: OccluderConfig,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An occluder in front of the object, with probability ``cfg.p``.

    Args:
        image: ``[S x S x 3]`` uint8 RGB crop; depth: ``[S x S]`` (m, 0 invalid); mask:
            ``[S x S]`` bool visible mask of the object.

    Returns:
        ``(image, depth, mask)``, new arrays: the occluder's pixels painted
        (:func:`~offline_training.nemo.augment.occluder_fill`), set in front
        (:func:`occluder_depth`) and removed from the mask. The inputs when no occluder is
        drawn or the mask is empty.
    """
    check_shape("image", image, ("S", "S2", 3))
    check_shape("depth", depth, image.shape[:2])
    check_shape("mask", mask, image.shape[:2])
    if rng.random() >= cfg.p:
        return image, depth, mask
    occluder = occluder_shape(mask, cfg.fraction, rng)
    if occluder is None:
        return image, depth, mask
    depth = occluder_depth(depth, mask, occluder, rng, cfg.in_front)
    image = np.where(occluder[..., None], occluder_fill(image.shape, rng), image)
    return image, depth, mask & ~occluder
