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
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from offline_training.nemo.augment import AugmentConfig, color_jitter
from offline_training.synthetic.look import jpeg_roundtrip
from ros_pose_estimation.core.errors import ConfigError, check_shape

__all__ = ["PhotometricConfig", "photometric"]


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
