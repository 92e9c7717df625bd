"""Image framing around Zero-1-to-3: its input (the original ``load_and_preprocess``) and the
object mask of its output.

Input: the segmented object is put on white, cropped to the mask's bounding box, resized
(Lanczos, aspect kept) so that its longer side is ``object_size`` (200 px on the 256 px canvas
of the original) and pasted centred on a white ``size x size`` canvas at
``((size - w) // 2, (size - h) // 2)``. One difference from the original: its
``thumbnail`` only ever shrinks, here a crop smaller than ``object_size`` is enlarged too, so
that a small object in a real image fills the canvas as Zero-1-to-3's training renders did.

Output mask: Zero-1-to-3 draws objects on a white background, so a pixel is object when one of
its channels is darker than white by more than ``threshold`` (8-bit levels); connected blobs
smaller than ``min_area`` (a fraction of the image) are dropped as noise, and holes inside the
object (white highlights, white parts) are filled.
"""

from __future__ import annotations

import numpy as np

from ros_pose_estimation.core.errors import InputError, check_shape

__all__ = ["OBJECT_FRACTION", "output_mask", "preprocess_object"]

#: The object's longer side over the canvas side in the original preprocessing (200 / 256).
OBJECT_FRACTION = 200.0 / 256.0


def preprocess_object(
    rgb: np.ndarray, mask: np.ndarray, size: int = 256, object_size: int | None = None
) -> np.ndarray:
    """``[size x size x 3]`` uint8: the object of ``rgb`` ``[H x W x 3]`` uint8 under ``mask``
    ``[H x W]`` bool, on white, longer side ``object_size`` (default
    ``round(size * 200 / 256)``), centred (see the module doc).

    Raises:
        InputError: wrong shapes or dtypes, or an empty mask.
    """
    from PIL import Image

    dims = check_shape("rgb", rgb, ("H", "W", 3), dtype="uint8")
    check_shape("mask", mask, (dims["H"], dims["W"]), dtype="bool")
    if not mask.any():
        raise InputError("mask: the object mask is empty, nothing to generate views of")
    object_size = round(size * OBJECT_FRACTION) if object_size is None else int(object_size)
    if not 1 <= object_size <= size:
        raise InputError(f"object_size must be within [1, {size}] px, got {object_size}")
    image = np.where(mask[..., None], rgb, np.uint8(255))
    rows, cols = np.nonzero(mask)
    crop = image[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    h, w = crop.shape[:2]
    scale = object_size / max(h, w)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    resized = Image.fromarray(crop).resize((new_w, new_h), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (size, size), (255, 255, 255))
    canvas.paste(resized, ((size - new_w) // 2, (size - new_h) // 2))
    return np.asarray(canvas, dtype=np.uint8).copy()


def output_mask(rgb: np.ndarray, threshold: int = 20, min_area: float = 0.001) -> np.ndarray:
    """``[H x W]`` bool object mask of a generated ``[H x W x 3]`` uint8 image on white: a
    pixel is object when ``255 - min(r, g, b) > threshold``; 4-connected blobs of fewer than
    ``min_area * H * W`` pixels are dropped and holes are filled."""
    from scipy import ndimage

    check_shape("rgb", rgb, (None, None, 3), dtype="uint8")
    mask = (255 - rgb.min(axis=2).astype(np.int16)) > threshold
    labels, count = ndimage.label(mask)
    if count:
        areas = np.bincount(labels.ravel(), minlength=count + 1)
        keep = areas >= max(1.0, min_area * mask.size)
        keep[0] = False
        mask = keep[labels]
    return ndimage.binary_fill_holes(mask)
