"""A simple RGB-D sensor model applied to clean renders.

Depth follows the structured-light / active-stereo error model of Nguyen et al. (3DIMPVT 2012,
Kinect v1; RealSense D4xx behave alike): axial noise with standard deviation

    sigma_z(z) = base + quad * (z - z0)^2        (metres)

plus missing returns ("holes", depth 0): at depth discontinuities (the projector/camera baseline
leaves a shadow there), on surfaces seen at grazing angles, outside the working range, and in a
few random blobs (dark, shiny or translucent spots). RGB gets a slight optical blur and additive
Gaussian noise. All numbers are in :class:`SensorNoise`; ``SensorNoise()`` is a mid-range
RealSense/Kinect-like default, ``SensorNoise.off()`` changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class SensorNoise:
    """Sensor noise parameters (defaults: Kinect-v1-like depth, mild RGB noise).

    Attributes:
        rgb_sigma: std-dev of additive Gaussian RGB noise, in 0-255 units.
        rgb_blur_sigma: Gaussian blur (px) applied before the noise (optics, demosaicing).
        depth_sigma_base: axial noise std-dev at ``depth_z0`` (m).
        depth_sigma_quad: quadratic growth of the axial noise (m per m^2).
        depth_z0: depth (m) of the minimum noise.
        min_depth, max_depth: working range (m); returns outside it become holes.
        edge_threshold: depth jump (m) between 4-neighbours that marks a discontinuity.
        edge_dropout: probability that a discontinuity pixel loses its depth (the holes are
            then dilated by one pixel).
        grazing_deg: surfaces whose normal is further than this from the viewing ray return
            nothing.
        blob_rate: mean number of random elliptical dropout blobs per image (Poisson).
        blob_radius: range of blob semi-axes, as fractions of the image width.
    """

    rgb_sigma: float = 3.0
    rgb_blur_sigma: float = 0.5
    depth_sigma_base: float = 0.0012
    depth_sigma_quad: float = 0.0019
    depth_z0: float = 0.4
    min_depth: float = 0.1
    max_depth: float = 6.0
    edge_threshold: float = 0.02
    edge_dropout: float = 0.5
    grazing_deg: float = 80.0
    blob_rate: float = 1.0
    blob_radius: tuple[float, float] = (0.01, 0.05)

    @staticmethod
    def off() -> SensorNoise:
        """Parameters that leave the images untouched."""
        return SensorNoise(
            rgb_sigma=0.0, rgb_blur_sigma=0.0, depth_sigma_base=0.0, depth_sigma_quad=0.0,
            min_depth=0.0, max_depth=np.inf, edge_dropout=0.0, grazing_deg=90.0, blob_rate=0.0,
        )  # fmt: skip

    def depth_sigma(self, z: np.ndarray) -> np.ndarray:
        """Axial noise std-dev (m) at depth ``z`` (m), same shape as ``z``."""
        return self.depth_sigma_base + self.depth_sigma_quad * (z - self.depth_z0) ** 2


def depth_edges(depth: np.ndarray, threshold: float) -> np.ndarray:
    """``[H x W]`` bool: pixels with a 4-neighbour whose depth differs by more than
    ``threshold`` m (a return next to no return counts as an edge)."""
    z = depth.astype(np.float64)
    z = np.where(z > 0, z, 1e6)  # holes behave like something very far
    edge = np.zeros(z.shape, dtype=bool)
    dv = np.abs(np.diff(z, axis=0)) > threshold
    dh = np.abs(np.diff(z, axis=1)) > threshold
    edge[:-1] |= dv
    edge[1:] |= dv
    edge[:, :-1] |= dh
    edge[:, 1:] |= dh
    return edge & (depth > 0)


def apply_depth_noise(
    depth: np.ndarray,
    cos_incidence: np.ndarray | None,
    noise: SensorNoise,
    rng: np.random.Generator,
) -> np.ndarray:
    """Noisy copy of ``depth`` ``[H x W]`` float32 (m, 0 = no return).

    Args:
        depth: clean depth (m).
        cos_incidence: ``[H x W]`` |cos| of the angle between the surface normal and the viewing
            ray, or None to skip grazing-angle dropout.
        noise: the model.
        rng: random generator.
    """
    z = depth.astype(np.float32).copy()
    valid = z > 0
    h, w = z.shape
    holes = np.zeros((h, w), dtype=np.uint8)
    if noise.edge_dropout > 0:
        edge = depth_edges(depth, noise.edge_threshold)
        holes[edge & (rng.random((h, w)) < noise.edge_dropout)] = 1
        holes = cv2.dilate(holes, np.ones((3, 3), np.uint8))
    for _ in range(int(rng.poisson(noise.blob_rate)) if noise.blob_rate > 0 else 0):
        centre = (int(rng.integers(w)), int(rng.integers(h)))
        axes = tuple(max(1, int(w * rng.uniform(*noise.blob_radius))) for _ in range(2))
        cv2.ellipse(holes, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    if cos_incidence is not None and noise.grazing_deg < 90.0:
        holes[valid & (cos_incidence < np.cos(np.deg2rad(noise.grazing_deg)))] = 1
    sigma = noise.depth_sigma(z).astype(np.float32)
    z = np.where(valid, z + rng.standard_normal((h, w), dtype=np.float32) * sigma, 0.0)
    out_of_range = (z < noise.min_depth) | (z > noise.max_depth)
    z[(holes > 0) | out_of_range | ~valid] = 0.0
    return z.astype(np.float32)


def apply_rgb_noise(rgb: np.ndarray, noise: SensorNoise, rng: np.random.Generator) -> np.ndarray:
    """Noisy copy of ``rgb`` ``[H x W x 3]`` uint8 (blur, then additive Gaussian noise)."""
    img = rgb.astype(np.float32)
    if noise.rgb_blur_sigma > 0:
        img = cv2.GaussianBlur(img, (0, 0), noise.rgb_blur_sigma)
    if noise.rgb_sigma > 0:
        img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(noise.rgb_sigma)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)
