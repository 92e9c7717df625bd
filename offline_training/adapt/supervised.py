"""The supervised upper bound as an adaptation path: the target training part's ground truth
is the round's training set (no estimation, nothing selected), fine-tuned and measured by the
same loop and report as the pseudo-label paths (:mod:`.loop`). One round is the upper bound;
more rounds simply train longer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from offline_training.adapt.loop import RoundLabels

__all__ = ["SupervisedPath"]


@dataclass
class SupervisedPath:
    """Label step that returns the target training part itself (ground-truth poses).

    Args:
        target: BOP root of the target's training part; target_split: its split folder.
    """

    target: str
    target_split: str = "train"
    name: str = "supervised"

    def label(self, checkpoint: Path, round_dir: Path) -> RoundLabels:
        from offline_training.bop_objects import dataset_categories

        counts = dataset_categories(self.target, self.target_split)
        n = int(sum(counts.values()))
        return RoundLabels(self.target, self.target_split, {
            "estimated": None, "kept": n, "ground_truth": True,
            "accuracy_estimated": None, "accuracy_kept": None,
        })  # fmt: skip
