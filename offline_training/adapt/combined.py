"""CC3D and TF consensus combined (issue #16's "combined" path), one round's labelling step.

Per round, with the current checkpoint (the per-frame estimates are computed once and shared):

* every object of a track whose TF consensus is accepted takes the consensus label
  (:mod:`.tf_consensus`: more accurate than its per-frame estimate, also where that was wrong);
* of the remaining objects (rejected tracks, images without a camera pose partner), CC3D keeps
  the ``top_k`` most confident per-frame estimates per category (paper 001 Eq. 6,
  :func:`.pseudo_labels.select_top_k`).

The loop then fine-tunes with CC3D's loss (contrastive plus ``alpha`` times the
domain-consistency term, as ``--method cc3d``). Report stats as :mod:`.tf_consensus`, plus
``kept_consensus`` and ``kept_cc3d``. Files per round as :mod:`.tf_consensus`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from offline_training.adapt.bop_export import write_pseudo_bop
from offline_training.adapt.loop import RoundLabels
from offline_training.adapt.pseudo_labels import select_top_k
from offline_training.adapt.tf_consensus import TFConsensusPath, round_stats
from ros_pose_estimation.core.errors import InputError

__all__ = ["CombinedPath"]


@dataclass
class CombinedPath:
    """TF consensus where a track agrees, CC3D's top-k elsewhere (module doc).

    Args:
        tf: the TF-consensus step (target, sequences, estimator settings).
        top_k: CC3D labels kept per category among the objects consensus does not label.
    """

    tf: TFConsensusPath
    top_k: int = 100
    name: str = "combined"

    def label(self, checkpoint: Path, round_dir: Path) -> RoundLabels:
        """Consensus labels plus CC3D's top-k of the rest; writes ``round_dir/data``."""
        estimates, consensus, per_frame, tracks = self.tf.consensus(checkpoint, round_dir)
        covered = {(lb.scene_id, lb.im_id, lb.gt_index) for lb in consensus}
        rest = [lb for lb in estimates if (lb.scene_id, lb.im_id, lb.gt_index) not in covered]
        cc3d = select_top_k(rest, self.top_k) if rest else []
        kept = consensus + cc3d
        if not kept:
            raise InputError(f"no labels: no per-frame estimate in {self.tf.target}")
        data = write_pseudo_bop(self.tf.target, self.tf.target_split, kept,
                                Path(round_dir) / "data")  # fmt: skip
        stats = round_stats(estimates, kept, per_frame + cc3d, tracks)
        return RoundLabels(str(data), "train", {
            **stats, "kept_consensus": len(consensus), "kept_cc3d": len(cc3d)})
