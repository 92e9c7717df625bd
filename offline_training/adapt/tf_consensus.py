"""TF-consensus pseudo-labels (RGB only, no depth) as one round's labelling step of :mod:`.loop`.

The target is a BOP set of *sequences* that knows where its camera was in every image
(``scene_camera.json``'s ``cam_R_w2c`` / ``cam_t_w2c``: what a robot's /tf gives; the data
engine's ``--views-per-layout`` writes such sets, :mod:`offline_training.bags.export_bop` the
same from a bag). A sequence is a run of ``views_per_layout`` consecutive images of one static
arrangement (the rule of :mod:`offline_training.cse.data`), and an object's *track* is its
annotation index ``k`` in those images (what a tracker or the detector's instance ids give; the
poses are never read for labelling). With the current checkpoint, per round:

1. every object of every image is estimated from its visible box
   (:meth:`.cc3d.CC3DPath.estimate`: the same cached per-frame estimates as CC3D);
2. per track, the estimates are mapped to the world through the camera poses and fused
   (:func:`offline_training.bags.tf_consensus.consensus`: symmetry-aware robust rotation
   averaging, ray-aware translation fusion, outlier rejection);
3. an accepted track's consensus is carried back into *every* image of the track,
   ``T_cam_obj = inv(T_world_cam) T_world_obj``, also into the frames whose own estimate was an
   outlier; rejected tracks give no label. Each label's score is its per-frame Eq. 6 score
   (the report compares it with CC3D's), its ``rot_err_deg`` the consensus against the ground
   truth where the target has it.

Report stats: ``estimated`` / ``accuracy_estimated`` (the per-frame estimates), ``kept`` /
``accuracy_kept`` (the consensus labels), ``accuracy_kept_per_frame`` (the per-frame estimates
of the same kept objects: the issue's per-frame vs consensus comparison on equal objects),
``tracks`` / ``tracks_accepted``. Files per round: ``estimates.json`` (cache), ``consensus.json``
(per track: accepted, reason, inliers, spread), ``data/`` (the labelled BOP set).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from offline_training.adapt.bop_export import write_pseudo_bop
from offline_training.adapt.cc3d import CC3DPath
from offline_training.adapt.loop import RoundLabels
from offline_training.adapt.pseudo_labels import PseudoLabel, label_accuracy
from offline_training.bags.tf_consensus import ConsensusConfig, consensus
from offline_training.synthetic.bop_reader import BopDataset
from ros_pose_estimation.core.errors import ConfigError, InputError
from ros_pose_estimation.core.metrics import rotation_error_deg

__all__ = ["TFConsensusPath", "camera_poses", "consensus_pseudo_labels", "round_stats",
           "tracks_of"]


def camera_poses(dataset: BopDataset) -> dict[tuple[int, int], np.ndarray]:
    """``{(scene_id, im_id): T_world_cam [4 x 4]}`` (m) of every image of ``dataset``, in its
    order (:meth:`BopDataset.camera_poses`).

    Raises:
        InputError: an image without ``cam_R_w2c`` / ``cam_t_w2c`` (the set does not know where
            its camera was: TF consensus needs it).
    """
    poses = dataset.camera_poses()
    for (scene, im), T in poses.items():
        if T is None:
            raise InputError(f"{dataset.root}: image {im} of scene {scene} has no camera pose "
                             "(cam_R_w2c / cam_t_w2c in scene_camera.json); TF consensus needs "
                             "the camera pose of every image (generate-dataset "
                             "--views-per-layout N writes them, pose-train's bag export from "
                             "/tf)")  # fmt: skip
    return poses


def tracks_of(labels: list[PseudoLabel], images: list[tuple[int, int]],
              views_per_layout: int) -> dict[tuple[int, int], list[int]]:  # fmt: skip
    """``{(sequence, k): [indices into labels]}``: a sequence is a run of ``views_per_layout``
    consecutive images of ``images`` (``(scene_id, im_id)`` in dataset order, the rule of
    :mod:`offline_training.cse.data`), ``k`` the annotation index.
    """
    if views_per_layout < 1:
        raise ConfigError(f"views_per_layout must be >= 1, got {views_per_layout}")
    pos = {key: i for i, key in enumerate(images)}
    tracks: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i, lb in enumerate(labels):
        tracks[(pos[(lb.scene_id, lb.im_id)] // views_per_layout, lb.gt_index)].append(i)
    return dict(tracks)


def consensus_pseudo_labels(labels: list[PseudoLabel], poses: dict, views_per_layout: int,
                            gt_rotations: dict | None = None,
                            config: ConsensusConfig | None = None):  # fmt: skip
    """Consensus labels of every accepted track (module doc, steps 2-3).

    Args:
        labels: the per-frame estimates (:class:`PseudoLabel`, camera frame).
        poses: :func:`camera_poses` of the target.
        views_per_layout: images per sequence.
        gt_rotations: ``{(scene_id, im_id, gt_index): R [3 x 3]}`` ground truth to score the
            consensus labels (None: ``rot_err_deg`` None).
        config: the consensus settings.

    Returns:
        ``(kept, per_frame, tracks)``: the consensus labels, the per-frame estimates of the same
        objects (same order), and one JSON-ready summary per track.
    """
    kept: list[PseudoLabel] = []
    per_frame: list[PseudoLabel] = []
    summaries = []
    for (seq, k), idx in sorted(tracks_of(labels, list(poses), views_per_layout).items()):
        group = [labels[i] for i in idx]
        T = np.stack([poses[(lb.scene_id, lb.im_id)] for lb in group])
        R = np.stack([lb.R for lb in group])
        t = np.stack([lb.t for lb in group])
        size = np.ones((len(group), 3))  # NeMo gives no metric size: not used for the labels
        score = np.array([lb.score for lb in group])
        c = consensus(group[0].category, R, t, size, score, T, config)
        summary = {"sequence": seq, "k": k, **c.summary()}
        summary.pop("size")
        summaries.append(summary)
        if not c.accepted:
            continue
        for lb, T_cam_obj in zip(group, c.labels_in_camera(T), strict=True):
            err = None
            key = (lb.scene_id, lb.im_id, lb.gt_index)
            if gt_rotations is not None and key in gt_rotations:
                err = float(rotation_error_deg(T_cam_obj[:3, :3], gt_rotations[key],
                                               lb.category))  # fmt: skip
            kept.append(replace(lb, R=T_cam_obj[:3, :3].copy(), t=T_cam_obj[:3, 3].copy(),
                                rot_err_deg=err))  # fmt: skip
            per_frame.append(lb)
    return kept, per_frame, summaries


def round_stats(estimates: list[PseudoLabel], kept: list[PseudoLabel],
                per_frame: list[PseudoLabel], tracks: list[dict]) -> dict:
    """The report's label counts and accuracies (module doc) of one consensus round."""
    return {"estimated": len(estimates), "kept": len(kept), "tracks": len(tracks),
            "tracks_accepted": sum(t["accepted"] for t in tracks),
            "accuracy_estimated": label_accuracy(estimates),
            "accuracy_kept": label_accuracy(kept),
            "accuracy_kept_per_frame": label_accuracy(per_frame)}  # fmt: skip


@dataclass
class TFConsensusPath:
    """The TF-consensus labelling step (module doc).

    Args:
        target: BOP root of the target's training part, sequences with camera poses.
        target_split: its split folder.
        views_per_layout: images per sequence (the data engine's ``--views-per-layout``).
        preset, max_objects, min_visib, device: as :class:`.cc3d.CC3DPath` (the estimates).
        config: :class:`~offline_training.bags.tf_consensus.ConsensusConfig`.
    """

    target: str
    target_split: str = "train"
    views_per_layout: int = 8
    preset: str = "default"
    max_objects: int | None = None
    min_visib: float = 0.3
    device: str = "cpu"
    config: ConsensusConfig = field(default_factory=ConsensusConfig)
    name: str = "tf-consensus"

    def consensus(self, checkpoint: Path, round_dir: Path):
        """``(estimates, kept, per_frame, tracks)`` of one round (module doc, steps 1-3)."""
        estimator = CC3DPath(self.target, self.target_split, preset=self.preset,
                             max_objects=self.max_objects, min_visib=self.min_visib,
                             device=self.device)  # fmt: skip
        estimates = estimator.estimate(Path(checkpoint), Path(round_dir))
        dataset = BopDataset(self.target, self.target_split, load_masks=False)
        kept, per_frame, tracks = consensus_pseudo_labels(
            estimates, camera_poses(dataset), self.views_per_layout,
            dataset.gt_rotations() or None, self.config)  # fmt: skip
        (Path(round_dir) / "consensus.json").write_text(json.dumps(tracks, indent=1))
        return estimates, kept, per_frame, tracks

    def label(self, checkpoint: Path, round_dir: Path) -> RoundLabels:
        """Estimate, fuse per track, write ``round_dir/data`` (module doc)."""
        estimates, kept, per_frame, tracks = self.consensus(checkpoint, round_dir)
        if not kept:
            raise InputError(f"TF consensus accepted none of {len(tracks)} tracks of "
                             f"{self.target}/{self.target_split} (consensus.json says why)")
        data = write_pseudo_bop(self.target, self.target_split, kept, Path(round_dir) / "data")
        return RoundLabels(str(data), "train", round_stats(estimates, kept, per_frame, tracks))
