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
And an object standing on a surface reaches from it up to its highest point:
:func:`height_from_support` measures the box's height as the top of the object's depth
pixels above the surface, where the solve's per-axis scale comes out a few percent short.
Pure numpy; ``test/cse/test_support.py`` pins it.
"""

from __future__ import annotations

import math

import numpy as np

from ros_pose_estimation.core.standing import rest_axis_up, stand_upright

from .pixels import plane_heights

__all__ = ["MAX_CUT", "TOP_PERCENTILE", "clip_to_support", "height_from_support",
           "rest_axis_up", "stand_upright"]

#: :func:`clip_to_support` cuts at most this share of a box's height (not tuned).
MAX_CUT = 0.6
#: :func:`height_from_support`: the object's top is this percentile of its pixels' heights
#: above the surface (one stray pixel in a hundred ignored; chosen on the validation sets,
#: BENCHMARKS "Standing on the table: the height from the top"), from at least
#: ``MIN_TOP_POINTS`` pixels, and the new height within ``MAX_HEIGHT_CHANGE`` times the
#: solved one either way (else the solve's height stays: the pixels are not the object's).
TOP_PERCENTILE = 99.0
MIN_TOP_POINTS = 20
MAX_HEIGHT_CHANGE = 2.0


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
    bottom = float(plane_heights(t, support)) - 0.5 * size[2]
    if bottom >= 0 or -bottom >= max_cut * size[2]:
        return t, size
    out = size.copy()
    out[2] = size[2] + bottom  # bottom < 0: the part below the surface is cut
    return t - 0.5 * bottom * R[:, 2], out



def height_from_support(R: np.ndarray, t: np.ndarray, size: np.ndarray,
                        support: tuple[np.ndarray, float], points: np.ndarray,
                        ) -> tuple[np.ndarray, np.ndarray, bool]:  # fmt: skip
    """An object standing upright on the surface ``support = (unit normal [3], offset)`` (a
    point's height ``p . normal + offset``; ``R [3 x 3]``'s z on the normal, as
    :func:`stand_upright` leaves it): its box reaches from the surface to the
    ``TOP_PERCENTILE`` of its depth pixels' heights (``points [N x 3]``, camera frame, m).
    Returns ``(t', size', measured)``: the centre moved along z to half that height, the
    z extent that height, and whether it was measured (False: ``t`` and ``size`` unchanged,
    for fewer than ``MIN_TOP_POINTS`` pixels, an object not upright on the surface, or a
    height more than ``MAX_HEIGHT_CHANGE`` times the solved one or less than its inverse)."""
    R = np.asarray(R, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    size = np.asarray(size, dtype=np.float64)
    pts = np.asarray(points, dtype=np.float64)
    n = np.asarray(support[0], dtype=np.float64)
    if len(pts) < MIN_TOP_POINTS or R[:, 2] @ n < 1.0 - 1e-6:
        return t, size, False
    top = float(np.percentile(plane_heights(pts, support), TOP_PERCENTILE))
    if not size[2] / MAX_HEIGHT_CHANGE < top < size[2] * MAX_HEIGHT_CHANGE:
        return t, size, False
    centre_height = float(plane_heights(t, support))
    out = size.copy()
    out[2] = top
    return t + R[:, 2] * (0.5 * top - centre_height), out, True
