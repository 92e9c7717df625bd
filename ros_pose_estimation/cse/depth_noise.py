"""How noisy an object's depth is, measured from the depth image itself (RGB-D).

A depth camera's axial noise grows with the distance (about the square of it for structured
light and active stereo: ~2 mm at 1 m, ~2 cm at 3.5 m for a Kinect-class sensor) and differs
between sensors. The steps that measure an object from its depth pixels' spread (the box's
faces) need to know how much of that spread is noise, without a sensor model.

:func:`depth_noise` estimates the standard deviation of the per-pixel depth noise (m) over a
region of the image from second differences: along a row or column of a smooth surface the true
depth is close to linear over three pixels, so ``d[i-1] - 2 d[i] + d[i+1]`` is the noise alone,
with variance ``6 sigma^2`` for independent noise. Its median absolute deviation (times 1.4826,
a Gaussian's) ignores the few triples that straddle an edge or a hole. Noise correlated between
neighbouring pixels (smoothed depth) reads lower than its own standard deviation; it also
spreads less. Pure numpy.
"""

from __future__ import annotations

import math

import numpy as np

from ros_pose_estimation.core.errors import check_shape

__all__ = ["MAX_PIXELS", "MIN_TRIPLES", "depth_noise"]

#: The least pixel triples (three valid pixels in a row or column of the region) for an
#: estimate.
MIN_TRIPLES = 20
#: About how many of a large region's pixels are read (whole rows and columns, evenly spaced).
MAX_PIXELS = 10000


def depth_noise(depth_m: np.ndarray, region: np.ndarray) -> float | None:
    """The depth noise's standard deviation (m) over ``region``, or None with fewer than
    ``MIN_TRIPLES`` triples of valid pixels in it. A region of more than ``MAX_PIXELS`` pixels
    is read along every k-th row and column only (k chosen to read about that many): the
    estimate needs a few thousand triples, not all.

    Args:
        depth_m: ``[H x W]`` depth (m, 0 = invalid).
        region: ``[H x W]`` bool, the pixels to measure (e.g. an object's mask).
    """
    z = np.asarray(depth_m)
    check_shape("depth_m", z, ("H", "W"))
    m = np.asarray(region, dtype=bool)
    check_shape("region", m, z.shape)
    rows, cols = np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))
    if len(rows) == 0:
        return None
    z = z[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]  # the region's bounding rectangle
    m = m[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    step = max(1, math.ceil(math.sqrt(int(m.sum()) / MAX_PIXELS)))  # every step-th row, column
    seconds = []
    for a, ok in ((z[::step], m[::step]), (z[:, ::step].T, m[:, ::step].T)):
        a = a.astype(np.float64)
        ok = ok & (a > 0) & np.isfinite(a)
        both = ok[:, :-2] & ok[:, 1:-1] & ok[:, 2:]
        seconds.append((a[:, :-2] - 2.0 * a[:, 1:-1] + a[:, 2:])[both])
    d2 = np.concatenate(seconds)
    if len(d2) < MIN_TRIPLES:
        return None
    mad = float(np.median(np.abs(d2 - np.median(d2))))
    return 1.4826 * mad / math.sqrt(6.0)
