"""Object crops: box -> square box -> resampled crop that carries its own intrinsics.

A crop maps the continuous source region ``box = [x0, y0, x1, y1]`` (project pixel convention:
integer coordinates are pixel centres, so the whole image is ``[-0.5, -0.5, W - 0.5, H - 0.5]``)
onto an output image of ``width x height`` pixels. With ``s_x = width / (x1 - x0)``:

    u_crop = (u - x0) * s_x - 0.5          u = (u_crop + 0.5) / s_x + x0

so the crop is a pinhole camera with ``fx' = fx * s_x`` and ``cx' = (cx - x0) * s_x - 0.5``
(same for y). Regions outside the source image are filled with ``fill``.

Resampling is done here in numpy/scipy (separable, exact to this convention, no OpenCV):
``nearest`` (the only choice for depth and masks: never blend depths across an object edge) and
``linear`` (bilinear; when shrinking, ``antialias`` averages up to 8 x 8 bilinear samples per
output pixel, close to OpenCV's ``INTER_AREA``). :attr:`Crop.affine_matrix` is the same mapping
for ``cv2.warpAffine`` / GPU warps.

The estimators' crop of a detection (one implementation for all of them):
:func:`detection_crop` (box -> square crop of ``scale`` x its longer side, ``size`` pixels) and
:func:`crop_inputs` (image, mask and depth resampled into it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from .camera import Intrinsics
from .errors import InputError, check_shape

MAX_ANTIALIAS_SAMPLES = 8


def _check_box(box_xyxy) -> np.ndarray:
    box = np.asarray(box_xyxy, dtype=np.float64)
    check_shape("box_xyxy", box, ("...", 4))
    if not np.all(np.isfinite(box)):
        raise InputError(f"box_xyxy: expected finite values, got {box.tolist()}")
    if np.any(box[..., 2] <= box[..., 0]) or np.any(box[..., 3] <= box[..., 1]):
        raise InputError(f"box_xyxy: expected x1 > x0 and y1 > y0 (non-zero area), got {box}")
    return box


def square_crop_box(box_xyxy, scale: float = 1.2, min_size: float = 16.0) -> np.ndarray:
    """Square box with the same centre, side ``max(max(w, h) * scale, min_size)`` pixels.

    Args:
        box_xyxy: ``[4]`` or ``[N x 4]`` boxes ``[x0, y0, x1, y1]`` (pixels).
        scale: context margin factor (1.2 = 10 % on each side of the longer edge).
        min_size: smallest side (pixels), so tiny detections are not blown up into mush.

    Returns:
        Boxes of the input's shape, float64. They may extend beyond the image (crops pad).
    """
    box = _check_box(box_xyxy)
    if scale <= 0:
        raise InputError(f"scale: expected > 0, got {scale}")
    centre = 0.5 * (box[..., :2] + box[..., 2:])
    side = np.maximum(
        np.maximum(box[..., 2] - box[..., 0], box[..., 3] - box[..., 1]) * scale, min_size
    )
    half = 0.5 * side[..., None]
    return np.concatenate([centre - half, centre + half], axis=-1)


@dataclass(frozen=True)
class Crop:
    """Geometry of a crop: source region, output size, and the crop's own intrinsics.

    Attributes:
        box: ``(x0, y0, x1, y1)`` continuous source-pixel region that fills the output.
        width, height: output size in pixels.
        source: intrinsics of the source image, or None when unknown.
    """

    box: tuple[float, float, float, float]
    width: int
    height: int
    source: Intrinsics | None = None

    @classmethod
    def from_box(
        cls,
        box_xyxy,
        out_size: int | tuple[int, int],
        source: Intrinsics | None = None,
        image_shape: tuple[int, ...] | None = None,
    ) -> Crop:
        """Validate ``box_xyxy`` (``[4]``) and build the crop.

        Args:
            out_size: ``size`` (square) or ``(width, height)``.
            image_shape: source ``(H, W, ...)`` to check the box overlaps the image (taken from
                ``source`` when None).

        Raises:
            InputError: NaN / zero-area box, non-positive size, box wholly outside the image.
        """
        box = _check_box(box_xyxy)
        check_shape("box_xyxy", box, (4,))
        width, height = (out_size, out_size) if np.isscalar(out_size) else out_size
        if int(width) != width or int(height) != height or width <= 0 or height <= 0:
            raise InputError(f"out_size: expected positive integers, got {out_size}")
        if image_shape is None and source is not None:
            image_shape = source.shape
        if image_shape is not None:
            h, w = image_shape[:2]
            if box[2] <= -0.5 or box[3] <= -0.5 or box[0] >= w - 0.5 or box[1] >= h - 0.5:
                raise InputError(f"box {box.tolist()} lies wholly outside the {w} x {h} image")
        return cls(tuple(float(v) for v in box), int(width), int(height), source)

    @property
    def scale(self) -> tuple[float, float]:
        """``(s_x, s_y)`` output pixels per source pixel."""
        x0, y0, x1, y1 = self.box
        return self.width / (x1 - x0), self.height / (y1 - y0)

    @property
    def intrinsics(self) -> Intrinsics:
        """Intrinsics of the crop (requires ``source``)."""
        if self.source is None:
            raise InputError("this crop was made without source intrinsics")
        (sx, sy), (x0, y0) = self.scale, self.box[:2]
        src = self.source
        return Intrinsics(
            src.fx * sx,
            src.fy * sy,
            (src.cx - x0) * sx - 0.5,
            (src.cy - y0) * sy - 0.5,
            self.width,
            self.height,
        )

    @property
    def affine_matrix(self) -> np.ndarray:
        """``[2 x 3]`` source -> crop pixel map (``cv2.warpAffine(src, M, (width, height))``)."""
        (sx, sy), (x0, y0) = self.scale, self.box[:2]
        return np.array([[sx, 0.0, -x0 * sx - 0.5], [0.0, sy, -y0 * sy - 0.5]])

    def image_to_crop(self, uv: np.ndarray) -> np.ndarray:
        """``[N x 2]`` source pixel coordinates -> crop pixel coordinates."""
        pts = np.asarray(uv, dtype=np.float64)
        check_shape("uv", pts, ("...", 2))
        return (pts - np.array(self.box[:2])) * np.array(self.scale) - 0.5

    def crop_to_image(self, uv: np.ndarray) -> np.ndarray:
        """``[N x 2]`` crop pixel coordinates -> source pixel coordinates."""
        pts = np.asarray(uv, dtype=np.float64)
        check_shape("uv", pts, ("...", 2))
        return (pts + 0.5) / np.array(self.scale) + np.array(self.box[:2])

    def warp(
        self, array: np.ndarray, interpolation: str = "linear", fill=0, antialias: bool = True
    ) -> np.ndarray:
        """Resample ``array`` (``[H x W]`` or ``[H x W x C]``) into the crop.

        ``interpolation`` is ``"nearest"`` or ``"linear"``; linear output of integer images is
        rounded back to their dtype. Never use linear for depth or masks (see module doc).
        """
        src = np.asarray(array)
        if src.ndim not in (2, 3) or src.shape[0] == 0 or src.shape[1] == 0:
            raise InputError(f"image: expected [H x W] or [H x W x C], got {src.shape}")
        (sx, sy), (x0, y0, _, _) = self.scale, self.box
        if interpolation == "nearest":
            rows = np.floor((np.arange(self.height) + 0.5) / sy + y0 + 0.5).astype(np.int64)
            cols = np.floor((np.arange(self.width) + 0.5) / sx + x0 + 0.5).astype(np.int64)
            out = np.full((self.height, self.width) + src.shape[2:], fill, dtype=src.dtype)
            in_r = (rows >= 0) & (rows < src.shape[0])
            in_c = (cols >= 0) & (cols < src.shape[1])
            out[np.ix_(in_r, in_c)] = src[np.ix_(rows[in_r], cols[in_c])]
            return out
        if interpolation != "linear":
            raise InputError(
                f"interpolation: expected 'nearest' or 'linear', got {interpolation!r}"
            )
        if src.dtype == bool:
            raise InputError("boolean masks must be cropped with interpolation='nearest'")
        return _warp_linear(src, (sx, sy), (x0, y0), (self.width, self.height), fill, antialias)

    def warp_depth(self, depth: np.ndarray) -> np.ndarray:
        """``[H x W]`` depth (m) -> crop depth, nearest neighbour, 0 (invalid) outside."""
        check_shape("depth", depth, ("H", "W"))
        return self.warp(depth, "nearest", fill=0)

    def warp_mask(self, mask: np.ndarray) -> np.ndarray:
        """``[H x W]`` mask -> bool crop mask, nearest neighbour, False outside."""
        check_shape("mask", mask, ("H", "W"))
        return self.warp(np.asarray(mask, dtype=bool), "nearest", fill=False)

    def to_dict(self) -> dict:
        src = None if self.source is None else self.source.to_dict()
        return {"box": list(self.box), "width": self.width, "height": self.height, "source": src}

    @classmethod
    def from_dict(cls, data: dict) -> Crop:
        src = data.get("source")
        return cls.from_box(
            data["box"],
            (data["width"], data["height"]),
            None if src is None else Intrinsics.from_dict(src),
        )


def _axis_weights(n_out: int, n_in: int, scale: float, lo: float, antialias: bool):
    """Bilinear (+ box antialias) weights along one axis.

    Returns:
        sparse ``[n_out x (stop - start)]`` weights on source indices ``start:stop`` (the only
        ones used), ``[n_out]`` total weight falling inside the image, ``start``, ``stop``.
    """
    n_sub = 1
    if antialias and scale < 1.0:
        n_sub = min(math.ceil(1.0 / scale), MAX_ANTIALIAS_SAMPLES)
    # output pixel i covers [i - 0.5, i + 0.5]; its sub-samples sit at i - 0.5 + (k + 0.5) / n,
    # i.e. at source coordinates (i + (k + 0.5) / n) / scale + lo  ([n_out x n_sub])
    offsets = (np.arange(n_sub) + 0.5) / n_sub
    coords = (np.arange(n_out)[:, None] + offsets[None, :]) / scale + lo
    base = np.floor(coords)
    frac = coords - base
    taps = np.stack([base, base + 1], axis=-1).astype(np.int64)
    weights = np.stack([1.0 - frac, frac], axis=-1) / n_sub
    rows = np.broadcast_to(np.arange(n_out)[:, None, None], taps.shape)
    keep = (taps >= 0) & (taps < n_in) & (weights > 0)
    taps = taps[keep]
    start, stop = (int(taps.min()), int(taps.max()) + 1) if taps.size else (0, 0)
    mat = sparse.coo_matrix(
        (weights[keep], (rows[keep], taps - start)), shape=(n_out, stop - start)
    ).tocsr()
    return mat, np.asarray(mat.sum(axis=1)).reshape(-1), start, stop


def _warp_linear(src, scale, lo, size, fill, antialias) -> np.ndarray:
    (sx, sy), (x0, y0), (width, height) = scale, lo, size
    wr, in_r, r0, r1 = _axis_weights(height, src.shape[0], sy, y0, antialias)
    wc, in_c, c0, c1 = _axis_weights(width, src.shape[1], sx, x0, antialias)
    work = np.float64 if src.dtype == np.float64 else np.float32
    chans = src.shape[2:]
    window = src[r0:r1, c0:c1]  # only the source pixels the crop reads
    flat = window.reshape(r1 - r0, -1).astype(work, copy=False)
    tmp = (wr @ flat).reshape(height, c1 - c0, -1)  # [h x W' x C]
    tmp = tmp.transpose(1, 0, 2).reshape(c1 - c0, -1)  # [W' x h*C]
    out = (wc @ tmp).reshape(width, height, -1).transpose(1, 0, 2)  # [h x w x C]
    out = out + np.asarray(fill, dtype=work) * (1.0 - in_r[:, None, None] * in_c[None, :, None])
    out = out.reshape((height, width) + chans)
    if np.issubdtype(src.dtype, np.integer):
        info = np.iinfo(src.dtype)
        out = np.clip(np.rint(out), info.min, info.max)
    return out.astype(src.dtype, copy=False)


def make_crop(
    image: np.ndarray,
    box_xyxy,
    out_size: int | tuple[int, int],
    intrinsics: Intrinsics | None = None,
    interpolation: str = "linear",
    fill=0,
    antialias: bool = True,
) -> tuple[np.ndarray, Crop]:
    """Crop ``image`` (``[H x W]`` or ``[H x W x C]``) to ``box_xyxy`` resized to ``out_size``.

    Use ``interpolation="nearest"`` for depth (or :meth:`Crop.warp_depth`) and masks.

    Returns:
        The crop array and its :class:`Crop` (whose ``intrinsics`` are set when ``intrinsics``
        is given).
    """
    img = np.asarray(image)
    if intrinsics is not None:
        intrinsics.check_image(img)
    crop = Crop.from_box(box_xyxy, out_size, intrinsics, image_shape=img.shape)
    return crop.warp(img, interpolation, fill, antialias), crop


def detection_crop(box_xyxy, intrinsics: Intrinsics, size: int, scale: float) -> Crop:
    """The square crop an estimator sees of a detection: ``scale`` x the longer side of
    ``box_xyxy`` (``[4]`` px) around its centre (:func:`square_crop_box`), resampled to
    ``size x size`` pixels; it carries its intrinsics (from ``intrinsics``, the image's).

    Raises:
        InputError: non-finite / zero-area box, or a box wholly outside the image (the message
            names the box).
    """
    try:
        box = square_crop_box(box_xyxy, scale)
        return Crop.from_box(box, size, intrinsics)
    except InputError as exc:
        raise InputError(f"detection box {np.asarray(box_xyxy).tolist()}: {exc}") from None


@dataclass(frozen=True)
class CropInputs:
    """A detection's inputs resampled into its crop (``S x S`` pixels).

    Attributes:
        crop: the crop (:func:`detection_crop`).
        rgb: ``[S x S x C]`` image (bilinear, antialiased when shrinking; the image's dtype).
        mask: ``[S x S]`` bool object mask (nearest, False outside the image); None without one.
        depth: ``[S x S]`` depth in the given units and dtype (nearest, 0 outside the image);
            None without depth.
        box_side: the detection box's longer side in crop pixels.
    """

    crop: Crop
    rgb: np.ndarray
    mask: np.ndarray | None
    depth: np.ndarray | None
    box_side: float


def crop_inputs(crop: Crop, image: np.ndarray, box_xyxy, mask=None, depth=None) -> CropInputs:
    """Resample ``image`` (``[H x W x C]``), ``mask`` (``[H x W]``, optional) and ``depth``
    (``[H x W]``, optional; m or mm, never blended) of the detection ``box_xyxy`` (``[4]`` px)
    into ``crop``.

    Raises:
        InputError: a mask or depth of another size than the image's ``[H x W]``.
    """
    size = np.shape(image)[:2]
    if mask is not None:
        check_shape("mask", mask, size)
    if depth is not None:
        check_shape("depth", depth, size)
    raw = np.asarray(box_xyxy, dtype=np.float64)
    side = max(raw[2] - raw[0], raw[3] - raw[1]) * crop.scale[0]
    return CropInputs(
        crop=crop,
        rgb=crop.warp(image),
        mask=None if mask is None else crop.warp_mask(mask),
        depth=None if depth is None else crop.warp_depth(depth),
        box_side=float(side),
    )
