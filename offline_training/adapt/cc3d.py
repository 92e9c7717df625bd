"""CC3D pseudo-labelling (paper 001 Sec. 4.2), one round's labelling step of :mod:`.loop`.

With the current checkpoint: estimate the pose of every object of the target's unlabeled
training part (its 2D box from the BOP annotations stands in for a detector,
:func:`.pseudo_labels.estimate_objects`), score it by paper 001 Eq. 6 (the estimator's
``score``: mean cosine similarity between the observed features and the neural mesh's vertex
features over the rendered foreground), keep the ``top_k`` most confident per category
(published: 100) and write them as a BOP set with the estimated poses
(:func:`.bop_export.write_pseudo_bop`). The loop then fine-tunes on it with the contrastive loss
plus ``alpha`` times the domain-consistency term of Eq. 4 on the same crops
(:class:`.finetune.FineTune` with ``domain_self``): ``||f~_r - C_r||^2`` between the target
image's feature at the pseudo-labelled projection of vertex ``r`` and the vertex feature
``C_r`` (the paper's form for real images, which have no rendered twin).

Files per round: ``estimates.json`` (every estimate; a cache, so a resumed round does not
estimate again) and ``data/`` (the pseudo-labelled BOP set, ``data/pseudo_labels.json``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from offline_training.adapt.bop_export import write_pseudo_bop
from offline_training.adapt.loop import RoundLabels
from offline_training.adapt.pseudo_labels import (
    PseudoLabel,
    estimate_objects,
    label_accuracy,
    select_top_k,
)
from ros_pose_estimation.core.errors import InputError

__all__ = ["CC3DPath"]


@dataclass
class CC3DPath:
    """The CC3D labelling step (module doc).

    Args:
        target: BOP root of the target domain's training part (unlabeled for adaptation: only
            the boxes, masks and cameras are used; poses only for the label accuracy).
        target_split: its split folder.
        top_k: labels kept per category (Eq. 6 score, highest first).
        preset: inference preset of the estimator.
        max_objects: estimate at most this many objects (None: all).
        min_visib: objects less visible than this are not labelled.
        device: estimator device.
    """

    target: str
    target_split: str = "train"
    top_k: int = 100
    preset: str = "default"
    max_objects: int | None = None
    min_visib: float = 0.3
    device: str = "cpu"
    name: str = "cc3d"

    def estimate(self, checkpoint: Path, round_dir: Path) -> list[PseudoLabel]:
        """Every object's estimate by ``checkpoint`` (cached in ``round_dir/estimates.json``)."""
        cache = round_dir / "estimates.json"
        if cache.exists():
            rows = json.loads(cache.read_text())
            return [PseudoLabel(**{**r, "R": np.array(r["R"]), "t": np.array(r["t"])})
                    for r in rows]  # fmt: skip
        from offline_training.synthetic.bop_reader import BopDataset
        from ros_pose_estimation.nemo.estimator import NemoEstimator
        from ros_pose_estimation.nemo.presets import InferenceConfig

        config = InferenceConfig.named(self.preset)
        estimator = NemoEstimator.from_checkpoints([checkpoint], config, self.device)
        dataset = BopDataset(self.target, self.target_split, load_masks=False)
        labels = estimate_objects(dataset, estimator, self.min_visib, self.max_objects)
        if not labels:
            raise InputError(f"no object of {estimator.categories} with visib_fract >= "
                             f"{self.min_visib} in {self.target}/{self.target_split}")
        tmp = cache.with_suffix(".json.tmp")
        tmp.write_text(json.dumps([lb.to_dict() for lb in labels]))
        os.replace(tmp, cache)
        return labels

    def label(self, checkpoint: Path, round_dir: Path) -> RoundLabels:
        """Estimate, keep the top-k per category, write ``round_dir/data``."""
        labels = self.estimate(Path(checkpoint), Path(round_dir))
        kept = select_top_k(labels, self.top_k)
        data = write_pseudo_bop(self.target, self.target_split, kept, Path(round_dir) / "data")
        scores = [lb.score for lb in kept]
        return RoundLabels(str(data), "train", {
            "estimated": len(labels), "kept": len(kept),
            "min_kept_score": float(min(scores)),
            "accuracy_estimated": label_accuracy(labels),
            "accuracy_kept": label_accuracy(kept),
        })  # fmt: skip
