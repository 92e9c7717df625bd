"""Seeded value noise in 2D and 3D: the building block of textures and backgrounds.

Value noise puts a random number on every integer lattice point and interpolates between them
with a smoothstep. The lattice values come from a periodic table drawn once per ``seed``, so the
same seed always gives the same pattern, at any resolution and for any set of query points
(no state, no image-sized buffers).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

_PERIOD_BITS = {2: 7, 3: 5}  # lattice period 2**bits per axis: 128 (2D), 32 (3D) cells


@lru_cache(maxsize=64)
def _table(seed: int, dims: int) -> np.ndarray:
    """Flat periodic lattice values in [0, 1), ``[P**dims]`` float32, for one seed (cached).

    Small enough (64 KB, 128 KB) to stay in cache: the lookups dominate the cost of the noise.
    """
    values = np.random.default_rng(seed).random(1 << (_PERIOD_BITS[dims] * dims), dtype=np.float32)
    values.setflags(write=False)
    return values


def _smooth(t: np.ndarray) -> np.ndarray:
    return t * t * (3.0 - 2.0 * t)


def value_noise(points: np.ndarray, seed: int) -> np.ndarray:
    """Smooth noise in [0, 1] at ``points`` ``[N x D]`` (D = 2 or 3, lattice spacing 1) -> ``[N]``.

    The lattice repeats every 128 (2D) or 32 (3D) units. Computed in float32 (only the
    pattern depends on it, not the geometry).
    """
    pts = np.asarray(points, dtype=np.float32)
    dims = pts.shape[1]
    if dims not in _PERIOD_BITS:
        raise ValueError(f"value_noise supports 2D and 3D points, got [N x {dims}]")
    bits = _PERIOD_BITS[dims]
    table, mask = _table(int(seed), dims), (1 << bits) - 1
    base = np.floor(pts)
    frac = _smooth(pts - base)
    base = base.astype(np.int32)
    # Per axis, the flat-index contribution of the lower and upper lattice neighbour.
    lo, hi = [], []
    for d in range(dims):
        shift = bits * (dims - 1 - d)
        lo.append((base[:, d] & mask) << shift)
        hi.append(((base[:, d] + 1) & mask) << shift)
    vals = []  # corner c: bit (dims-1-d) of c selects hi/lo along axis d
    for c in range(1 << dims):
        idx = hi[0] if c >> (dims - 1) & 1 else lo[0]
        for d in range(1, dims):
            idx = idx | (hi[d] if c >> (dims - 1 - d) & 1 else lo[d])
        vals.append(table.take(idx))
    for d in reversed(range(dims)):  # linear interpolation, last axis first
        f = frac[:, d]
        vals = [a + f * (b - a) for a, b in zip(vals[0::2], vals[1::2], strict=True)]
    return vals[0]


def fbm(points: np.ndarray, seed: int, octaves: int = 4, gain: float = 0.5) -> np.ndarray:
    """Fractal sum of ``octaves`` value-noise layers (doubling frequency), normalised to [0, 1].

    Args:
        points: ``[N x D]`` query points, in units of the coarsest lattice spacing.
        seed: pattern seed; octave ``k`` uses ``seed + k``.
        octaves: number of layers (>= 1).
        gain: amplitude ratio between successive octaves.

    Returns:
        ``[N]`` float32 in [0, 1].
    """
    pts = np.asarray(points, dtype=np.float32)
    total = np.zeros(len(pts), dtype=np.float32)
    amp, norm = 1.0, 0.0
    for k in range(max(1, octaves)):
        # A per-octave offset decorrelates the lattices of successive octaves.
        total += amp * value_noise(pts * np.float32(2.0**k) + np.float32(17.31 * k), seed + k)
        norm += amp
        amp *= gain
    return total / norm
