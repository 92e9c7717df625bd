"""A simple RGB-D sensor model applied to clean renders.

Depth follows the structured-light / active-stereo error model of Nguyen et al. (3DIMPVT 2012,
Kinect v1; RealSense D4xx behave alike): axial noise with standard deviation

    sigma_z(z) = base + quad * (z - z0)^2        (metres)

plus missing returns ("holes", depth 0): at depth discontinuities (the projector/camera baseline
leaves a shadow there), on surfaces seen at grazing angles, outside the working range, and in a
few random blobs (dark, shiny or translucent spots). RGB gets a slight optical blur and additive
Gaussian noise. All numbers are in :class:`SensorNoise`; ``SensorNoise()`` is a mid-range
RealSense/Kinect-like default, ``SensorNoise.off()`` changes nothing.

Four artefacts of real depth cameras are off by default (a test set of "another sensor" turns
them on; ``generate-dataset --depth-*``):

* **spatially correlated noise** (``noise_scale_px``): stereo matching smooths its errors over
  its matching window, so neighbouring pixels err together (bumps, not speckle) and averaging
  many pixels removes less of it. The noise field is low-passed with a Gaussian of that width
  and rescaled to the same standard deviation.
* **edge fattening** (``fatten_px``): a stereo matcher's window straddling an edge takes the
  nearer surface's disparity, so a foreground object's depth spreads that many pixels onto the
  background around it.
* **flying pixels** (``flying``): that share of the pixels at a depth discontinuity return a
  depth between the two surfaces (mixed returns of time-of-flight cameras, interpolated
  disparities).
* **misregistration** (``shift_px``): the depth image registered to the colour image with an
  extrinsic error, i.e. shifted by ``(dx, dy)`` pixels against it (the masks and the labels
  are the colour camera's).
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
        noise_scale_px: width (px, Gaussian sigma) over which the axial noise is correlated;
            0: independent per pixel.
        fatten_px: how far (px) a nearer surface's depth spreads over a farther one at a
            discontinuity (stereo edge fattening); 0: none.
        flying: share of the discontinuity pixels whose depth lies between the two surfaces;
            0: none.
        shift_px: ``(dx, dy)`` (px) by which the depth image is shifted against the colour
            image (misregistration); (0, 0): registered.
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
    noise_scale_px: float = 0.0
    fatten_px: int = 0
    flying: float = 0.0
    shift_px: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self) -> None:
        if self.noise_scale_px < 0 or self.fatten_px < 0 or not 0.0 <= self.flying <= 1.0:
            raise ValueError(f"sensor artefacts out of range: noise_scale_px "
                             f"{self.noise_scale_px} (>= 0), fatten_px {self.fatten_px} (>= 0), "
                             f"flying {self.flying} (0-1)")  # fmt: skip

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


def _filtered(z: np.ndarray, size: int, nearest: bool) -> np.ndarray:
    """``[H x W]`` the nearest (``nearest``) or farthest return within a ``size`` x ``size``
    window of ``z`` (m), holes (0) left out; 0 where the window holds no return."""
    kernel = np.ones((size, size), np.uint8)
    if nearest:
        out = cv2.erode(np.where(z > 0, z, np.float32(np.inf)), kernel)
        return np.where(np.isfinite(out), out, 0.0).astype(np.float32)
    return cv2.dilate(z, kernel)


def fatten_edges(z: np.ndarray, pixels: int, threshold: float) -> np.ndarray:
    """``[H x W]`` float32: depth ``z`` (m, 0 = hole) where each return within ``pixels`` px of
    a discontinuity (:func:`depth_edges`: a step of more than ``threshold`` m between
    neighbours) and farther than ``threshold`` behind the nearest return within ``pixels`` px
    takes that nearer depth (stereo edge fattening). A steep but continuous surface has no
    such step and keeps its depth; holes stay holes."""
    if pixels <= 0:
        return z
    size = 2 * pixels + 1
    edge = depth_edges(z, threshold).astype(np.uint8)
    close = cv2.dilate(edge, np.ones((size, size), np.uint8)) > 0
    near = _filtered(z, size, nearest=True)
    spread = close & (z > 0) & (near > 0) & (z - near > threshold)
    return np.where(spread, near, z).astype(np.float32)


def flying_pixels(z: np.ndarray, share: float, threshold: float,
                  rng: np.random.Generator) -> np.ndarray:  # fmt: skip
    """``[H x W]`` float32: depth ``z`` (m) with ``share`` of its discontinuity pixels
    (:func:`depth_edges`) moved to a depth drawn uniformly between the nearest and farthest
    return of their 3 x 3 neighbourhood."""
    if share <= 0:
        return z
    edge = depth_edges(z, threshold)
    pick = edge & (rng.random(z.shape) < share)
    near, far = _filtered(z, 3, nearest=True), _filtered(z, 3, nearest=False)
    mixed = near + rng.random(z.shape, dtype=np.float32) * (far - near)
    return np.where(pick, mixed, z).astype(np.float32)


def shift_image(z: np.ndarray, shift_px: tuple[float, float]) -> np.ndarray:
    """``z`` (``[H x W ...]``) moved by ``(dx, dy)`` px right and down (nearest pixel; what
    enters is 0, no depth); ``z`` itself for (0, 0)."""
    dx, dy = (float(v) for v in shift_px)
    if dx == 0.0 and dy == 0.0:
        return z
    h, w = z.shape[:2]
    move = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]])
    return cv2.warpAffine(z, move, (w, h), flags=cv2.INTER_NEAREST,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)  # fmt: skip


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
    field = rng.standard_normal((h, w), dtype=np.float32)
    if noise.noise_scale_px > 0:  # correlated: low-passed, back to unit standard deviation
        field = cv2.GaussianBlur(field, (0, 0), noise.noise_scale_px)
        field /= max(float(field.std()), 1e-12)
    z = fatten_edges(z, noise.fatten_px, noise.edge_threshold)
    z = flying_pixels(z, noise.flying, noise.edge_threshold, rng)
    valid = z > 0
    sigma = noise.depth_sigma(z).astype(np.float32)
    z = np.where(valid, z + field * sigma, 0.0)
    out_of_range = (z < noise.min_depth) | (z > noise.max_depth)
    z[(holes > 0) | out_of_range | ~valid] = 0.0
    return shift_image(z.astype(np.float32), noise.shift_px)


def apply_rgb_noise(rgb: np.ndarray, noise: SensorNoise, rng: np.random.Generator) -> np.ndarray:
    """Noisy copy of ``rgb`` ``[H x W x 3]`` uint8 (blur, then additive Gaussian noise)."""
    img = rgb.astype(np.float32)
    if noise.rgb_blur_sigma > 0:
        img = cv2.GaussianBlur(img, (0, 0), noise.rgb_blur_sigma)
    if noise.rgb_sigma > 0:
        img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(noise.rgb_sigma)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)
