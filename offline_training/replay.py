"""Source-data replay while fine-tuning on a target (``train-nemo`` / ``pose-train
--replay-data DIR``, both methods).

Fine-tuning a synthetic-trained model on a few hundred target objects (pseudo-labels, anchors,
or a small labelled set) for a few hundred steps teaches it those objects and makes it forget
the category it learnt from many synthetic instances (the adaptation paths of
:mod:`offline_training.adapt` all lost held-out accuracy that way). Replay keeps part of every
batch on the labelled source data: :class:`ReplaySet` serves, for each item the step sampler
draws from the target set, a random source item instead with probability ``fraction``. The
draw is a function of ``(seed, draw, index)`` only, so batches stay what the step number says
(exact resume, as every trainer here). Both sets must serve the same item layout (two
:class:`~offline_training.nemo.data.NemoTrainingSet`, or a pseudo-labelled
:class:`~offline_training.cse.data.CseSequenceSet` and
:class:`~offline_training.cse.data.AsLabelledTracks`).
"""

from __future__ import annotations

import numpy as np
import torch

from ros_pose_estimation.core.errors import ConfigError

__all__ = ["ReplaySet"]

_REPLAY_STREAM = 0x7265706C  # separates the replay draw from the augmentation's random stream


class ReplaySet(torch.utils.data.Dataset):
    """``main`` (the target set, its length and keys) with ``replay`` items mixed in.

    Args:
        main, replay: datasets taking ``index`` or ``(index, draw)`` keys.
        fraction: probability that an item is a replay item (0: ``main`` only; 1: ``replay``
            only, ``main`` still sets the epoch length).
        seed: seed of the replay draws.
    """

    def __init__(self, main, replay, fraction: float, seed: int = 0) -> None:
        if not 0.0 <= fraction <= 1.0:
            raise ConfigError(f"replay fraction must be in [0, 1], got {fraction}")
        if len(replay) == 0:
            raise ConfigError("the replay set is empty")
        self.main, self.replay, self.fraction, self.seed = main, replay, float(fraction), seed

    def __len__(self) -> int:
        return len(self.main)

    def source_of(self, index: int, draw: int = 0) -> int | None:
        """The replay index item ``(index, draw)`` is served from, or None (``main``)."""
        rng = np.random.default_rng([self.seed, _REPLAY_STREAM, draw, index])
        if rng.random() >= self.fraction:
            return None
        return int(rng.integers(len(self.replay)))

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        pair = isinstance(key, tuple | list)
        index, draw = (int(key[0]), int(key[1])) if pair else (int(key), 0)
        j = self.source_of(index, draw)
        return self.main[key] if j is None else self.replay[(j, draw)]

    def describe(self, unit: str = "objects") -> str:
        """One line: the replay share and both sets' sizes in ``unit`` (what an item is)."""
        return (f"replay: {100 * self.fraction:.0f} % of the items from {len(self.replay)} "
                f"source {unit}, the rest from {len(self.main)} target {unit}")  # fmt: skip
