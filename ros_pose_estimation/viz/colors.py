"""One display colour per category, shared by the RViz markers and the debug image.

Built-in categories take palette entries by class id (``core.categories``), so each has its
own; other names take the entry of a CRC32 of the name, which is the same in every process
(unlike Python's ``hash`` of a string).
"""

from __future__ import annotations

import zlib

from ros_pose_estimation.core.categories import UnknownCategoryError, get_category

#: RGB in [0, 1], distinguishable colours (Kelly / Tableau style), index = class id - 1.
PALETTE: tuple[tuple[float, float, float], ...] = (
    (0.12, 0.47, 0.71),  # blue
    (1.00, 0.50, 0.05),  # orange
    (0.17, 0.63, 0.17),  # green
    (0.84, 0.15, 0.16),  # red
    (0.58, 0.40, 0.74),  # purple
    (0.55, 0.34, 0.29),  # brown
    (0.89, 0.47, 0.76),  # pink
    (0.74, 0.74, 0.13),  # olive
    (0.09, 0.75, 0.81),  # cyan
    (0.50, 0.50, 0.50),  # grey
)


def class_color(category: str) -> tuple[float, float, float]:
    """``(r, g, b)`` in [0, 1] of ``category``."""
    try:
        index = get_category(category).class_id - 1
    except UnknownCategoryError:
        index = zlib.crc32(category.encode("utf-8"))
    return PALETTE[index % len(PALETTE)]


def class_color_u8(category: str) -> tuple[int, int, int]:
    """``(r, g, b)`` in 0..255 of ``category`` (for RGB uint8 images)."""
    return tuple(round(255 * c) for c in class_color(category))  # type: ignore[return-value]
