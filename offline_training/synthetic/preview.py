"""Human-readable previews of rendered data: colour-mapped depth, mask overlays, contact sheets."""

from __future__ import annotations

import numpy as np

_PALETTE = np.array(
    [
        [230, 25, 75],
        [60, 180, 75],
        [255, 225, 25],
        [0, 130, 200],
        [245, 130, 48],
        [145, 30, 180],
        [70, 240, 240],
        [240, 50, 230],
        [210, 245, 60],
        [250, 190, 212],
    ],
    dtype=np.uint8,
)


def depth_to_rgb(
    depth_m: np.ndarray, near: float | None = None, far: float | None = None
) -> np.ndarray:
    """``[H x W]`` depth (m; 0/NaN invalid) -> ``[H x W x 3]`` uint8, invalid pixels black."""
    import cv2

    d = np.asarray(depth_m, dtype=np.float32)
    valid = np.isfinite(d) & (d > 0)
    if not valid.any():
        return np.zeros((*d.shape, 3), np.uint8)
    lo = float(d[valid].min()) if near is None else near
    hi = float(d[valid].max()) if far is None else far
    scaled = np.zeros(d.shape, np.uint8)
    scaled[valid] = np.clip(255 * (1 - (d[valid] - lo) / max(hi - lo, 1e-6)), 0, 255)
    rgb = cv2.applyColorMap(scaled, cv2.COLORMAP_TURBO)[..., ::-1].copy()
    rgb[~valid] = 0
    return rgb


def mask_to_rgb(instance: np.ndarray) -> np.ndarray:
    """``[H x W]`` int instance ids (-1 = none) -> ``[H x W x 3]`` uint8 colours."""
    out = np.zeros((*instance.shape, 3), np.uint8)
    ids = instance >= 0
    out[ids] = _PALETTE[instance[ids] % len(_PALETTE)]
    return out


def draw_boxes(rgb: np.ndarray, boxes_xywh: list, labels: list[str]) -> np.ndarray:
    """Copy of ``[H x W x 3]`` uint8 ``rgb`` with labelled ``(x, y, w, h)`` pixel boxes."""
    import cv2

    out = np.ascontiguousarray(rgb).copy()
    for i, ((x, y, w, h), label) in enumerate(zip(boxes_xywh, labels, strict=True)):
        colour = tuple(int(c) for c in _PALETTE[i % len(_PALETTE)])
        cv2.rectangle(out, (int(x), int(y)), (int(x + w - 1), int(y + h - 1)), colour, 1)
        cv2.putText(
            out,
            label,
            (int(x), max(int(y) - 3, 8)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.35,
            colour,
            1,
            cv2.LINE_AA,
        )
    return out


def contact_sheet(
    rows: list[list[np.ndarray]], titles: list[str] | None = None, pad: int = 4
) -> np.ndarray:
    """Tile equally sized ``[H x W x 3]`` uint8 images row by row; optional title per row."""
    import cv2

    h, w = rows[0][0].shape[:2]
    ncol = max(len(r) for r in rows)
    title_h = 16 if titles else 0
    sheet = np.full(
        (len(rows) * (h + pad + title_h) + pad, ncol * (w + pad) + pad, 3), 255, np.uint8
    )
    for r, row in enumerate(rows):
        y0 = pad + r * (h + pad + title_h)
        if titles:
            cv2.putText(
                sheet,
                titles[r],
                (pad, y0 + 11),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.4,
                (0, 0, 0),
                1,
                cv2.LINE_AA,
            )
        for c, img in enumerate(row):
            x0 = pad + c * (w + pad)
            sheet[y0 + title_h : y0 + title_h + h, x0 : x0 + w] = img
    return sheet
