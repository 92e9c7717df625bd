"""A body of revolution's width from its detection box (RGB-D).

The solve underestimates the width of thin bodies of revolution: the depth pixels at a thin
silhouette are the ones a sensor drops, and feature cells that the mask only half covers are
left out, so the visible arc is narrower than the body (the bundled bottle's extents were 0.82
of the truth across the view; BENCHMARKS "A box rests on any face"). The detection box spans
the whole silhouette, and an upright body of revolution's silhouette is as wide as its widest
slice. :func:`width_from_box` turns the box's width in pixels into metres at the depth of the
object's centre and, when that is wider than the solved width (but not by more than
``max_ratio``), takes it for both horizontal extents. Pure numpy;
``test/cse/test_revolution.py`` pins it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MAX_RATIO", "width_from_box"]

#: The most the box may widen the solved width (a box that takes in a neighbour or a shadow
#: is not the object's).
MAX_RATIO = 1.5


def width_from_box(box_xyxy, fx: float, t: np.ndarray, size: np.ndarray,
                   max_ratio: float = MAX_RATIO) -> np.ndarray:  # fmt: skip
    """``size' [3]`` (m): x and y the detection box's width ``box_xyxy`` (px) at the depth of
    the centre ``t [3]`` (camera frame, m) with focal length ``fx`` (px), when that lies
    between the solved horizontal width ``max(size[0], size[1])`` and ``max_ratio`` times it;
    else ``size`` unchanged. z is kept."""
    size = np.asarray(size, dtype=np.float64)
    x0, _, x1, _ = (float(v) for v in box_xyxy)
    width = (x1 - x0) * float(t[2]) / float(fx)
    solved = float(max(size[0], size[1]))
    if not solved < width < max_ratio * solved:
        return size
    return np.array([width, width, size[2]])
