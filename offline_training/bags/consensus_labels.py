"""``pose-train --labels tf-consensus``: an RGB model's per-frame estimates of an extracted
recording -> one :class:`~.pseudo_labels.TrackLabel` per track (no depth).

1. :func:`rgb_estimates`: the RGB (NeMo) model estimates every object of ``category`` in every
   frame with a camera pose (the recording's boxes, as the node does; ``every_nth`` frames).
2. :func:`consensus_labels`: the estimates grouped into static objects in the fixed frame and
   each object's consensus pose (:mod:`.tf_consensus`); every track of the recording takes the
   consensus of the object most of its estimates belong to (RGB-only tracks are 2D and break
   when an object leaves the view; the fixed frame joins them again). The label's
   ``T_fixed_obj`` is the consensus; :func:`~.export_bop.export_bop` carries it into every
   frame of the track (``T_cam_obj = inv(T_fixed_cam) T_fixed_obj``), also the frames whose
   own estimate was wrong. ``inlier_ratio``: the object's inlier fraction; ``extra``: its
   confidence figures (:meth:`.tf_consensus.Consensus.summary`).

Estimates are arrays (``N`` estimates): ``frame [N]`` (frame position), ``track_id [N]``,
``R [N x 3 x 3]``, ``t [N x 3]`` (m, camera frame), ``size [N x 3]`` (m), ``score [N]``,
``T_fixed_cam [N x 4 x 4]``.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from offline_training.bags.pseudo_labels import TrackLabel
from offline_training.bags.tf_consensus import ConsensusConfig, consensus, group_estimates

FIELDS = ("frame", "track_id", "R", "t", "size", "score", "T_fixed_cam")


def rgb_estimates(recording, category: str, estimator, every_nth: int = 1, progress=None) -> dict:
    """Per-frame estimates (module docstring) of ``category``'s objects by ``estimator`` (a
    loaded :class:`~ros_pose_estimation.nemo.estimator.NemoEstimator`); frames without a
    camera pose are skipped. ``progress(n)``: called with the estimates of each frame."""
    from ros_pose_estimation.core.estimation import Detection

    rows: dict[str, list] = {k: [] for k in FIELDS}
    for pos, frame in enumerate(recording.frames(images=True)):
        if pos % every_nth or frame.T_fixed_cam is None:
            continue
        objs = [o for o in frame.objects if o.category == category and o.track_id >= 0]
        if not objs:
            continue
        dets = [Detection(category, np.asarray(o.box_xyxy), o.mask) for o in objs]
        for obj, est in zip(objs, estimator.estimate(frame.rgb, dets, frame.intrinsics),
                            strict=True):  # fmt: skip
            for key, value in zip(FIELDS, (pos, obj.track_id, est.R, est.t, est.size, est.score,
                                           frame.T_fixed_cam), strict=True):  # fmt: skip
                rows[key].append(value)
        if progress is not None:
            progress(len(objs))
    return {k: np.asarray(v, dtype=np.int64 if k in ("frame", "track_id") else np.float64)
            for k, v in rows.items()}  # fmt: skip


def consensus_labels(recording_name: str, category: str, estimates: dict,
                     config: ConsensusConfig | None = None) -> list[TrackLabel]:  # fmt: skip
    """One :class:`TrackLabel` per track of ``estimates`` (module docstring); tracks whose
    object is not accepted keep the reason."""
    n = len(estimates["frame"])
    if n == 0:
        return []
    e = estimates
    groups = group_estimates([category] * n, e["t"], e["T_fixed_cam"], config)
    results = {}
    for g in np.unique(groups):
        idx = np.flatnonzero(groups == g)
        results[int(g)] = consensus(category, e["R"][idx], e["t"][idx], e["size"][idx],
                                    e["score"][idx], e["T_fixed_cam"][idx], config)  # fmt: skip
    labels = []
    for track in np.unique(e["track_id"]):
        mine = e["track_id"] == track
        g, _ = Counter(groups[mine].tolist()).most_common(1)[0]
        c = results[g]
        label = TrackLabel(recording_name, int(track), category, c.accepted, c.reason,
                           n_views=int(mine.sum()), n_points=0,
                           inlier_ratio=c.inlier_fraction)  # fmt: skip
        label.T_fixed_obj, label.extents = c.T_fixed_obj.tolist(), c.size.tolist()
        label.extra = {"source": "tf-consensus", "object": g, **c.summary()}
        labels.append(label)
    return labels
