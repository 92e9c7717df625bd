"""Label-preserving augmentation of object crops for NeMo training.

Every operation either leaves the pose label untouched (colour jitter, background paste, crop box
jitter, which only moves the crop window and is folded into the crop intrinsics) or changes the
image *and* the label consistently:

* **In-plane rotation** (methods.md: ~5 deg rotation noise) is a rotation of the camera about a
  ray through its centre. A pure camera rotation ``Q`` maps image points by the homography
  ``H = K Q K^-1`` and the pose by ``R' = Q R``, ``t' = Q t`` (``x_cam' = Q x_cam``), so the
  label stays exact. With ``Q = Rz(a)`` this is the rotation about the optical axis; the crop's
  principal point can lie far outside a crop of an off-centre object, so by default the axis is
  the ray through the crop centre (:func:`ray_rotation`), which turns the crop about its centre
  and keeps the object in view (it *is* ``K Rz(a) K^-1`` of a virtual camera centred on the
  crop). ``about="optical_axis"`` gives the literal ``Rz(a)``.

* **Mirror** (:func:`mirror_sample`, only for a category whose instances are their own mirror
  images across the model's xz plane, ``Category.mirror_symmetric``): the crop flipped left to
  right is an image of the same instance seen by a camera mirrored across its yz plane
  (``M = diag(-1, 1, 1)``). A model point ``X`` seen at ``M (R X + t)`` is the mirrored
  instance's point ``S X`` (``S = diag(1, -1, 1)``), which is the instance itself, so the label
  is the proper rotation ``R' = M R S``, ``t' = M t``, and the crop's principal point moves to
  ``cx' = W - 1 - cx`` for a crop ``W`` pixels wide (pixel centres at integers).

Images here are ``[S x S x 3]`` uint8 RGB crops and ``[S x S]`` bool masks (numpy);
randomness comes only from the ``numpy.random.Generator`` passed in (reproducible per sample).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ros_pose_estimation.core.errors import ConfigError, check_shape
from ros_pose_estimation.core.rotations import axis_angle_to_matrix


@dataclass
class AugmentConfig:
    """Probabilities and magnitudes of the training augmentations (``None`` of it: no aug).

    Attributes:
        p_color: probability of colour jitter.
        brightness: multiplicative brightness factor drawn from ``1 +- brightness``.
        contrast: blend with the mean grey level, factor ``1 +- contrast``.
        saturation: blend with the grey image, factor ``1 +- saturation``.
        hue: hue shift in turns (fraction of the colour circle), ``+- hue``.
        p_background: probability of replacing the pixels outside the visible object mask
            with a procedural background (``synthetic.backgrounds``; paper 001 Sec. 3.2).
        box_shift: crop box centre jitter, uniform ``+- box_shift`` x box side (mimics
            detector boxes).
        box_scale: crop box side jitter, factor ``1 +- box_scale``.
        p_rotate: probability of an in-plane rotation.
        max_rotation_deg: rotation angle uniform in ``+- max_rotation_deg`` (deg).
        rotate_about: ``"crop_centre"`` (default) or ``"optical_axis"``; see module doc.
        p_occlude: probability of a synthetic occluder (:func:`occlude`): an ellipse or polygon
            of procedural texture or flat colour over part of the object, its pixels taken out
            of the visible mask (their vertices then count as hidden, as NeMo's occlusion
            training does).
        occlude_fraction: ``(lo, hi)``: the occluder's area, a fraction of the object's
            visible area drawn uniformly (it hides at most that much of the object, all of
            it above 1).
        p_degrade: probability of a camera degradation (:func:`degrade`): each of motion
            blur (up to ``max_blur_px`` long), Gaussian noise (std-dev up to ``max_noise``,
            0-255 units) and JPEG compression (quality 30-95) with probability 1/2.
        max_blur_px: longest motion blur (px of the crop).
        max_noise: largest noise std-dev (0-255 units).
        p_mirror: probability of the left-right mirror (:func:`mirror_sample`); applied by
            the dataset only to mirror-symmetric categories (default 0: off).
    """

    p_color: float = 0.8
    brightness: float = 0.3
    contrast: float = 0.3
    saturation: float = 0.3
    hue: float = 0.03
    p_background: float = 0.5
    box_shift: float = 0.1
    box_scale: float = 0.1
    p_rotate: float = 0.5
    max_rotation_deg: float = 10.0
    rotate_about: str = "crop_centre"
    p_occlude: float = 0.0
    occlude_fraction: tuple[float, float] = (0.15, 0.6)
    p_degrade: float = 0.0
    max_blur_px: float = 5.0
    max_noise: float = 8.0
    p_mirror: float = 0.0

    def __post_init__(self) -> None:
        lo, hi = self.occlude_fraction
        if not 0.0 <= lo <= hi <= 2.0:
            raise ConfigError(f"occlude_fraction must satisfy 0 <= lo <= hi <= 2, got "
                              f"{self.occlude_fraction}")  # fmt: skip
        if not self.max_blur_px >= 0 or not self.max_noise >= 0:
            raise ConfigError(f"max_blur_px and max_noise must be >= 0, got {self.max_blur_px}, "
                              f"{self.max_noise}")  # fmt: skip
        for name in ("p_color", "p_background", "p_rotate", "p_occlude", "p_degrade",
                     "p_mirror"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        for name in ("brightness", "contrast", "saturation", "box_shift", "box_scale"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if not 0.0 <= self.hue <= 0.5 or not 0.0 <= self.max_rotation_deg <= 90.0:
            raise ConfigError(
                f"need hue in [0, 0.5] and max_rotation_deg in [0, 90], got {self.hue}, "
                f"{self.max_rotation_deg}"
            )
        if self.rotate_about not in ("crop_centre", "optical_axis"):
            raise ConfigError(
                f"rotate_about must be 'crop_centre' or 'optical_axis', got {self.rotate_about!r}"
            )


def jitter_box(box_xyxy: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """``[4]`` box (px), centre shifted by ``+- box_shift``, side scaled by ``1 +- box_scale``."""
    box = np.asarray(box_xyxy, dtype=np.float64)
    size = box[2:] - box[:2]
    centre = 0.5 * (box[:2] + box[2:]) + rng.uniform(-1, 1, 2) * cfg.box_shift * size
    half = 0.5 * size * (1.0 + rng.uniform(-1, 1) * cfg.box_scale)
    return np.concatenate([centre - half, centre + half])


def ray_rotation(K: np.ndarray, uv: np.ndarray, angle: float) -> np.ndarray:
    """``[3 x 3]`` rotation by ``angle`` (rad) about the camera ray through pixel ``uv``.

    Positive angles turn the image clockwise on screen (x right, y down), like ``Rz(angle)``
    about the optical axis, which this is when ``uv`` is the principal point.
    """
    ray = np.linalg.solve(np.asarray(K, dtype=np.float64), [uv[0], uv[1], 1.0])
    return np.asarray(axis_angle_to_matrix(ray / np.linalg.norm(ray) * angle), dtype=np.float64)


def rotation_homography(K: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """``H = K Q K^-1``: pixel map of a camera rotated by ``Q`` (``x_cam' = Q x_cam``)."""
    K = np.asarray(K, dtype=np.float64)
    return K @ np.asarray(Q, dtype=np.float64) @ np.linalg.inv(K)


def rotate_sample(
    image: np.ndarray, mask: np.ndarray, K: np.ndarray, R: np.ndarray, t: np.ndarray, Q: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Apply the camera rotation ``Q`` to a crop and its label.

    Args:
        image: ``[S x S x 3]`` uint8 crop; mask: ``[S x S]`` bool visible mask; K: ``[3 x 3]``
        crop intrinsics (unchanged by the rotation); R, t: pose (``t`` in m).

    Returns:
        ``(image', mask', R' = Q R, t' = Q t)``. The image is resampled bilinearly (corners
        that come from outside the crop are mirrored in), the mask by nearest neighbour (False
        outside). OpenCV's integer pixel coordinates are pixel centres, as in the project.
    """
    check_shape("mask", mask, image.shape[:2])
    H = rotation_homography(K, Q)
    size = (image.shape[1], image.shape[0])
    out = cv2.warpPerspective(
        image, H, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
    )
    out_mask = cv2.warpPerspective(
        mask.astype(np.uint8), H, size, flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT
    )
    return out, out_mask > 0, Q @ R, Q @ t


#: ``M``: a camera mirrored across its yz plane (x -> -x), what flipping an image left to right
#: does; ``S``: a model mirrored across its xz plane (y -> -y). Both have determinant -1; ``M R
#: S`` is a rotation again.
CAMERA_MIRROR = np.diag([-1.0, 1.0, 1.0])
MODEL_MIRROR = np.diag([1.0, -1.0, 1.0])


def mirror_pose(R: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pose ``(R [3 x 3], t [3] m)`` of a mirror-symmetric object in the left-right
    mirrored image, and back (the map is its own inverse): ``(M R S, M t)`` (float64)."""
    R2 = CAMERA_MIRROR @ np.asarray(R, dtype=np.float64) @ MODEL_MIRROR
    return R2, CAMERA_MIRROR @ np.asarray(t, dtype=np.float64)


def mirror_sample(
    image: np.ndarray, mask: np.ndarray, K: np.ndarray, R: np.ndarray, t: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The crop mirrored left to right, and its label (module docstring).

    Args:
        image: ``[S x S x 3]`` uint8 crop; mask: ``[S x S]`` bool; K: ``[3 x 3]`` crop
        intrinsics (no skew); R, t: pose of a mirror-symmetric instance (``t`` in m).

    Returns:
        ``(image', mask', K', R' = M R S, t' = M t)``; a model point projects in the mirrored
        crop at ``u' = W - 1 - u`` of its pixel ``u`` in the crop (``W`` its width).
    """
    check_shape("mask", mask, image.shape[:2])
    if abs(float(K[0, 1])) > 1e-9:
        raise ConfigError(f"mirror_sample: intrinsics with skew {K[0, 1]} are not supported")
    K2 = np.array(K, dtype=np.float64, copy=True)
    K2[0, 2] = image.shape[1] - 1 - K2[0, 2]
    R2, t2 = mirror_pose(R, t)
    out = np.ascontiguousarray(image[:, ::-1])
    return out, np.ascontiguousarray(mask[:, ::-1]), K2, R2.astype(np.asarray(R).dtype), t2


def color_jitter(image: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """Brightness, contrast, saturation and hue jitter of an ``[H x W x 3]`` uint8 RGB image."""
    img = image.astype(np.float32) / 255.0
    img *= 1.0 + rng.uniform(-1, 1) * cfg.brightness
    grey = img @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    c = 1.0 + rng.uniform(-1, 1) * cfg.contrast
    img = (img - grey.mean()) * c + grey.mean()
    s = 1.0 + rng.uniform(-1, 1) * cfg.saturation
    grey = img @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    img = (img - grey[..., None]) * s + grey[..., None]
    img = np.clip(img, 0.0, 1.0)
    if cfg.hue > 0:
        hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)  # float input: H in [0, 360)
        hsv[..., 0] = (hsv[..., 0] + 360.0 * rng.uniform(-1, 1) * cfg.hue) % 360.0
        img = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    return (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def paste_background(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Replace the pixels of ``image`` outside ``mask`` by a random procedural background."""
    from offline_training.synthetic.backgrounds import make_background, sample_background

    check_shape("mask", mask, image.shape[:2])
    background = make_background(sample_background(rng), image.shape[1], image.shape[0])
    return np.where(mask[..., None], image, background)


def occluder_shape(
    mask: np.ndarray, fraction: tuple[float, float], rng: np.random.Generator
) -> np.ndarray | None:
    """``[H x W]`` bool: an ellipse or a convex polygon centred on a random pixel of ``mask``
    whose area is a fraction drawn uniformly in ``fraction`` of the mask's area (what
    :func:`occlude` paints); None when the mask is empty."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    h, w = mask.shape
    area = rng.uniform(*fraction) * len(xs)
    k = int(rng.integers(len(xs)))
    centre = np.array([xs[k], ys[k]], dtype=np.float64)
    shape = np.zeros((h, w), np.uint8)
    aspect = rng.uniform(0.4, 1.0)
    radius = np.sqrt(area / (np.pi * aspect))  # ellipse of axes radius, aspect * radius
    if rng.random() < 0.5:
        axes = (max(1, round(radius)), max(1, round(aspect * radius)))
        cv2.ellipse(shape, (round(centre[0]), round(centre[1])), axes,
                    float(rng.uniform(0, 180)), 0, 360, 1, -1)  # fmt: skip
    else:
        angles = np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(4, 8))))
        pts = centre + radius * np.stack([np.cos(angles), aspect * np.sin(angles)], axis=1)
        cv2.fillConvexPoly(shape, np.round(pts).astype(np.int32), 1)
    return shape > 0


def occluder_fill(shape: tuple[int, int, int], rng: np.random.Generator) -> np.ndarray:
    """``shape`` ``(H, W, 3)`` uint8: a procedural background (7 in 10) or a flat colour."""
    from offline_training.synthetic.backgrounds import make_background, sample_background

    if rng.random() < 0.7:
        return make_background(sample_background(rng), shape[1], shape[0])
    return np.broadcast_to(rng.integers(0, 256, 3, dtype=np.uint8), shape)


def occlude(
    image: np.ndarray,
    mask: np.ndarray,
    cfg: AugmentConfig,
    rng: np.random.Generator,
    fill: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic occluder over part of the object: ``(image, mask)`` with an
    :func:`occluder_shape` (area ``occlude_fraction`` of the visible area) painted with
    ``fill`` (``[H x W x 3]`` uint8; None: :func:`occluder_fill`), and its pixels removed
    from ``mask``. Unchanged when the mask is empty."""
    check_shape("mask", mask, image.shape[:2])
    occluder = occluder_shape(mask, cfg.occlude_fraction, rng)
    if occluder is None:
        return image, mask
    if fill is not None:
        check_shape("fill", fill, image.shape)
    else:
        fill = occluder_fill(image.shape, rng)
    return np.where(occluder[..., None], fill, image), mask & ~occluder


def degrade(image: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """``image`` ``[H x W x 3]`` uint8 through a worse camera: each of motion blur, Gaussian
    noise and JPEG compression with probability 1/2 (:class:`AugmentConfig`)."""
    from offline_training.synthetic.look import jpeg_roundtrip, motion_kernel

    img = image
    length = rng.uniform(0.0, cfg.max_blur_px)
    if rng.random() < 0.5 and length >= 1.5:
        kernel = motion_kernel(length, rng.uniform(0.0, np.pi))
        img = cv2.filter2D(img, -1, kernel, borderType=cv2.BORDER_REFLECT)
    if rng.random() < 0.5 and cfg.max_noise > 0:
        noise = rng.standard_normal(img.shape).astype(np.float32) * rng.uniform(0, cfg.max_noise)
        img = np.clip(img.astype(np.float32) + noise + 0.5, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        img = jpeg_roundtrip(np.ascontiguousarray(img), int(rng.integers(30, 96)))
    return img


def augment_crop(
    image: np.ndarray,
    mask: np.ndarray,
    K: np.ndarray,
    R: np.ndarray,
    t: np.ndarray,
    cfg: AugmentConfig,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rotation, then background paste (also fills the rotated corners), an occluder, colour
    jitter and a camera degradation (the last two only when their probabilities are set).

    Shapes as in :func:`rotate_sample`; returns ``(image, mask, R, t)`` (K is unchanged).
    """
    if rng.random() < cfg.p_rotate and cfg.max_rotation_deg > 0:
        angle = np.deg2rad(rng.uniform(-1, 1) * cfg.max_rotation_deg)
        if cfg.rotate_about == "optical_axis":
            Q = ray_rotation(K, (K[0, 2], K[1, 2]), angle)
        else:
            Q = ray_rotation(K, ((image.shape[1] - 1) / 2.0, (image.shape[0] - 1) / 2.0), angle)
        image, mask, R, t = rotate_sample(image, mask, K, R, t, Q)
    if rng.random() < cfg.p_background:
        image = paste_background(image, mask, rng)
    if cfg.p_occlude > 0 and rng.random() < cfg.p_occlude:
        image, mask = occlude(image, mask, cfg, rng)
    if rng.random() < cfg.p_color:
        image = color_jitter(image, cfg, rng)
    if cfg.p_degrade > 0 and rng.random() < cfg.p_degrade:
        image = degrade(image, cfg, rng)
    return image, mask, R, t
