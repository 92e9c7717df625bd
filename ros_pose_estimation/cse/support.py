"""Objects standing on a surface: their up axis is the surface's normal (RGB-D).

Every category's frame has +z up in the object's natural resting pose (``categories.md``), and
a robot mostly sees objects standing on a table, a shelf or the floor. The depth around a
detection shows that surface (:func:`.pixels.support_plane`, the plane box-only detections
already fit to drop the table's pixels), and its normal is measured far more precisely than a
tilt the correspondences give. :func:`stand_upright` turns a solved rotation by the smallest
rotation that puts its z on the surface's normal, when the two are within ``max_deg`` of each
other (an object that is clearly tilted, lying on its side or held in a hand is left alone).
A box rests on any of its faces, and its frame calls whichever axis is then vertical z (x the
longer horizontal edge): :func:`rest_axis_up` relabels a solved box's axes so that the one
nearest the surface's normal is z, when it is within ``max_deg`` of it. Both turns are
:mod:`ros_pose_estimation.core.standing`'s (the RGB estimator uses them with gravity), re-exported
here. Nothing standing on a
surface reaches below it: :func:`clip_to_support` cuts a solved box's bottom at the surface
(the depth pixels of the table under an object, or the solve's extra height, put it there).
Pure numpy; ``test/cse/test_support.py`` pins it.
"""

from __future__ import annotations

import math

import numpy as np

from ros_pose_estimation.core.standing import rest_axis_up, stand_upright

__all__ = ["MAX_CUT", "clip_to_support", "rest_axis_up", "stand_upright"]

#: :func:`clip_to_support` cuts at most this share of a box's height (not tuned).
MAX_CUT = 0.6


def clip_to_support(R: np.ndarray, t: np.ndarray, size: np.ndarray,
                    support: tuple[np.ndarray, float], max_deg: float = 15.0,
                    max_cut: float = MAX_CUT) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """An upright object's box (``R [3 x 3]``, centre ``t [3]``, extents ``size [3]``; m, z
    within ``max_deg`` of the surface's normal) whose bottom lies below the surface ``support
    = (unit normal [3], offset)`` (a point's height ``p . normal + offset``): the bottom raised
    onto the surface and the top kept, so the height shrinks and the centre rises by half the
    cut. Nothing is cut when more than ``max_cut`` of the height would go (the surface is then
    more likely wrong than the box). Returns ``(t', size')``."""
    R = np.asarray(R, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    size = np.asarray(size, dtype=np.float64)
    n = np.asarray(support[0], dtype=np.float64)
    if R[:, 2] @ n < math.cos(math.radians(max_deg)):
        return t, size
    bottom = float(t @ n) + float(support[1]) - 0.5 * size[2]
    if bottom >= 0 or -bottom >= max_cut * size[2]:
        return t, size
    out = size.copy()
    out[2] = size[2] + bottom  # bottom < 0: the part below the surface is cut
    return t - 0.5 * bottom * R[:, 2], out

