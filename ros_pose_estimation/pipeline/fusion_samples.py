"""The newest ``capacity`` samples of one object, as arrays (a ring buffer of named fields).

:class:`~.world_fusion.WorldFusion` refits an object's fused pose from all its inlier samples
every frame; keeping them in preallocated arrays makes that a few array operations instead of
stacking Python lists. Pure numpy.
"""

from __future__ import annotations

import numpy as np


class Samples:
    """Up to ``capacity`` samples, each a value per field of ``shapes``; when full, the oldest
    is overwritten.

    Args:
        capacity: samples kept (>= 1).
        shapes: field name -> shape of one value, e.g. ``{"R": (3, 3), "t": (3,), "w": ()}``.
    """

    def __init__(self, capacity: int, shapes: dict[str, tuple]) -> None:
        if int(capacity) != capacity or capacity < 1:
            raise ValueError(f"capacity: expected an integer >= 1, got {capacity!r}")
        self._shapes = dict(shapes)
        self._data = {k: np.zeros((int(capacity), *s)) for k, s in self._shapes.items()}
        self._count = 0  # samples ever added

    @property
    def capacity(self) -> int:
        return len(next(iter(self._data.values())))

    def __len__(self) -> int:
        return min(self._count, self.capacity)

    def add(self, **values) -> None:
        """Store one sample (every field, copied), replacing the oldest when full."""
        if values.keys() != self._data.keys():
            raise ValueError(f"expected the fields {sorted(self._data)}, got {sorted(values)}")
        i = self._count % self.capacity
        for key, value in values.items():
            self._data[key][i] = value
        self._count += 1

    def arrays(self) -> dict[str, np.ndarray]:
        """Field -> ``[N x ...]`` view of the stored samples (storage order: the order does not
        matter to a mean)."""
        n = len(self)
        return {k: v[:n] for k, v in self._data.items()}

    def newest(self, n: int) -> dict[str, np.ndarray]:
        """Field -> copies of the newest ``min(n, len)`` samples, oldest first."""
        n = min(int(n), len(self))
        idx = (self._count - n + np.arange(n)) % self.capacity
        return {k: v[idx].copy() for k, v in self._data.items()}

    def resize(self, capacity: int) -> None:
        """Change the capacity, keeping the newest samples that fit."""
        if capacity == self.capacity:
            return
        kept = self.newest(capacity)
        self.__init__(capacity, self._shapes)
        for i in range(len(next(iter(kept.values())))):
            self.add(**{k: v[i] for k, v in kept.items()})
