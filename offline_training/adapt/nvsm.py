"""NVSM few-shot adaptation (paper 002), one round's labelling step (E-step) of :mod:`.loop`.

A handful of annotated *anchor* objects of the target's training part (:mod:`.anchors`; their
ground-truth poses are the only labels used) carry the pose to the unlabeled ones:

1. every usable target object (``visib_fract >= min_visib``; its BOP visible box stands in for
   a detector) is cropped and its features computed by the current checkpoint;
2. *sources*: the anchors (ground-truth pose) and, from round 2 on, the objects the previous
   round kept (their pseudo-pose), with features of the current checkpoint;
3. neural view synthesis and matching (:mod:`.view_synthesis`): each source's features are put
   on the mesh, rendered at poses shifted by up to ``radius_deg`` and compared with every other
   object's features; an object takes the pose of its most similar view;
4. kept: the objects whose similarity reaches ``threshold`` (paper 002: "thresholding the
   similarity to get matched images"), at most ``top_k`` of them (the most similar); with
   ``refine`` their matched pose is refined by the current model's render-and-compare
   (Levenberg-Marquardt of the inference preset), which removes the shift grid's
   discretisation;
5. written as a BOP training set: the anchors (ground truth) and the kept pseudo-labels; the
   loop fine-tunes on it (contrastive loss with momentum vertex features, the M-step).

Labels expand outward from the anchors: a round reaches the poses within ``radius_deg`` of a
source, and each round's kept objects are the next round's sources. With ``expansions`` > 1 a
round matches that many times before training, each pass from the anchors and the previous
pass's kept labels (the labels spread further with the same features).

Files per round: ``matches.json`` (every match and what was kept; a cache, so a resumed round
does not match again, and the next round's sources) and ``data/`` (the BOP set).
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from offline_training.adapt.anchors import read_anchors, resolve_anchors
from offline_training.adapt.bop_export import write_pseudo_bop
from offline_training.adapt.loop import RoundLabels
from offline_training.adapt.pseudo_labels import PseudoLabel, label_accuracy
from ros_pose_estimation.core.errors import ConfigError, InputError

__all__ = ["NVSMPath", "TargetObjects", "select_matches"]


@dataclass
class TargetObjects:
    """The target's usable objects as the current model sees them (``B`` of them).

    Attributes:
        labels: ``B`` :class:`PseudoLabel` shells (where the object is; pose not yet set).
        gt: ``B`` ground-truth ``(R, t)`` or None (report and anchors only).
        features: ``[B x D x h x w]`` unit crop features; K: ``[B x 3 x 3]`` feature-map
            cameras (cells); center: ``[B x 2]``, box_side: ``[B]`` detection boxes (cells).
    """

    labels: list[PseudoLabel]
    gt: list
    features: torch.Tensor
    K: torch.Tensor
    center: torch.Tensor
    box_side: torch.Tensor

    def index(self) -> dict[tuple[int, int, int], int]:
        return {(lb.scene_id, lb.im_id, lb.gt_index): i for i, lb in enumerate(self.labels)}


def observe_target(estimator, dataset, min_visib: float) -> TargetObjects:
    """Crop and featurise every usable object of ``dataset`` (one forward per image)."""
    from offline_training.evaluation import bop_box_to_xyxy, select_objects
    from ros_pose_estimation.core.camera import Intrinsics
    from ros_pose_estimation.core.estimation import Detection

    (category,) = estimator.categories
    model = estimator.models[category]
    labels, gt, feats, Ks, centers, sides = [], [], [], [], [], []
    for index in range(len(dataset)):
        sample = dataset[index]
        keep = select_objects(sample, [category], min_visib, None)
        if not keep:
            continue
        h, w = sample.rgb.shape[:2]
        intr = Intrinsics.from_K(sample.K, w, h)
        prepared = [estimator._crop(sample.rgb, Detection(category,
                    bop_box_to_xyxy(sample.objects[i].bbox_visib), None), intr, model)
                    for i in keep]  # fmt: skip
        obs = estimator._observe(model, prepared)
        for i in keep:
            obj = sample.objects[i]
            labels.append(PseudoLabel(sample.scene_id, sample.im_id, i, int(obj.obj_id),
                                      category, np.eye(3), np.zeros(3), 0.0))  # fmt: skip
            gt.append(None if obj.R is None else (np.asarray(obj.R), np.asarray(obj.t)))
        feats.append(obs.features.cpu())
        Ks.append(obs.K.cpu())
        centers.append(obs.anchor.cpu())
        sides.append(obs.box_side.cpu())
    if not labels:
        raise InputError(f"no {category} object with visib_fract >= {min_visib} in the target")
    return TargetObjects(labels, gt, torch.cat(feats), torch.cat(Ks), torch.cat(centers),
                         torch.cat(sides))  # fmt: skip


def select_matches(scores: np.ndarray, threshold: float, top_k: int | None,
                   exclude: set[int] = frozenset()) -> list[int]:  # fmt: skip
    """Indices of the scores ``[B]`` at or above ``threshold`` (finite), not in ``exclude``,
    the ``top_k`` highest (None: all), best first (ties: lower index first)."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    ok = [i not in exclude and math.isfinite(s) and s >= threshold for i, s in enumerate(scores)]
    kept = [i for i in order if ok[i]]
    return kept if top_k is None else kept[:top_k]


def _round_number(round_dir: Path) -> int | None:
    m = re.fullmatch(r"round_(\d+)", round_dir.name)
    return int(m.group(1)) if m else None


def _label_from(row: dict) -> PseudoLabel:
    return PseudoLabel(**{**row, "R": np.array(row["R"]), "t": np.array(row["t"])})


@dataclass
class NVSMPath:
    """The NVSM labelling step (module doc).

    Args:
        target: BOP root of the target's training part (unlabeled but for the anchors: only
            boxes and cameras are used; other poses only for the label accuracy).
        anchors: anchor file (:mod:`.anchors`).
        target_split: its split folder.
        threshold: similarity a match needs to be kept (mean cosine, :mod:`.view_synthesis`).
        top_k: most pseudo-labels kept per round (None: no limit).
        radius_deg: largest pose shift synthesized from a source (deg).
        n_rings, n_axes: the shift grid (:func:`.view_synthesis.pose_shifts`).
        min_coverage: least fraction of a view the source must have seen.
        refine: refine kept matches by render-and-compare with the current model.
        expansions: matching passes per round with the same checkpoint, each from the anchors
            and the previous pass's kept labels (1: the paper's alternation, one E-step per
            M-step).
        preset: inference preset (crops, refinement).
        min_visib: objects less visible than this are not labelled.
        device: estimator device (matching runs on the CPU).
    """

    target: str
    anchors: str
    target_split: str = "train"
    threshold: float = 0.5
    top_k: int | None = 100
    radius_deg: float = 30.0
    n_rings: int = 3
    n_axes: int = 24
    min_coverage: float = 0.6
    refine: bool = True
    expansions: int = 1
    preset: str = "default"
    min_visib: float = 0.3
    device: str = "cpu"
    name: str = "nvsm"

    def __post_init__(self) -> None:
        if self.expansions < 1 or (self.top_k is not None and self.top_k < 0):
            raise ConfigError(f"nvsm: need expansions >= 1 and top_k >= 0, got "
                              f"{self.expansions}, {self.top_k}")  # fmt: skip

    def _previous_kept(self, round_dir: Path) -> list[dict]:
        """The labels the previous round kept (``round_XX/matches.json``), or []."""
        r = _round_number(round_dir)
        prev = round_dir.parent / f"round_{r - 1:02d}" / "matches.json" if r else None
        return json.loads(prev.read_text())["kept"] if prev is not None and prev.exists() else []

    def match(self, checkpoint: Path, round_dir: Path) -> dict:
        """Match, select and refine (module doc), ``expansions`` times; the ``matches.json``
        payload (cached)."""
        cache = round_dir / "matches.json"
        if cache.exists():
            return json.loads(cache.read_text())
        from offline_training.synthetic.bop_reader import BopDataset
        from ros_pose_estimation.nemo.estimator import NemoEstimator
        from ros_pose_estimation.nemo.presets import InferenceConfig

        config = InferenceConfig.named(self.preset)
        estimator = NemoEstimator.from_checkpoints([checkpoint], config, self.device)
        (category,) = estimator.categories
        objs = observe_target(estimator, BopDataset(self.target, self.target_split,
                                                    load_masks=False), self.min_visib)  # fmt: skip
        gt = {k: objs.gt[i] for k, i in objs.index().items() if objs.gt[i] is not None}
        anchor_poses = resolve_anchors(read_anchors(self.anchors), gt)
        missing = set(anchor_poses) - set(objs.index())
        if missing:
            raise InputError(f"anchors {sorted(missing)} are not usable {category} objects of "
                             f"{self.target} (visib_fract >= {self.min_visib})")  # fmt: skip
        previous, steps = self._previous_kept(round_dir), []
        for _ in range(self.expansions):
            payload = self._match_once(estimator, objs, anchor_poses, previous)
            previous = payload["kept"]
            steps.append({"sources": payload["sources"], "kept": len(previous)})
        payload["expansions"] = steps
        tmp = cache.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(payload))
        os.replace(tmp, cache)
        return payload

    def _match_once(self, estimator, objs: TargetObjects, anchor_poses: dict,
                    previous: list[dict]) -> dict:  # fmt: skip
        """One matching pass from the anchors and the ``previous`` kept labels (rows)."""
        from offline_training.adapt.view_synthesis import match_to_sources, pose_shifts
        from ros_pose_estimation.core.metrics import rotation_error_deg
        from ros_pose_estimation.nemo.estimator import shape_points

        (category,) = estimator.categories
        model = estimator.models[category]
        where = objs.index()
        sources = [(where[k], R, t) for k, (R, t) in anchor_poses.items()]
        for row in previous:
            key = (row["scene_id"], row["im_id"], row["gt_index"])
            if key in where and key not in anchor_poses:
                sources.append((where[key], np.array(row["R"]), np.array(row["t"])))
        found = match_to_sources(
            model.mesh.cpu(), shape_points(model).cpu(), objs.features, objs.K, objs.center,
            objs.box_side, torch.tensor([s[0] for s in sources]),
            torch.as_tensor(np.stack([s[1] for s in sources]), dtype=torch.float32),
            torch.as_tensor(np.stack([s[2] for s in sources]), dtype=torch.float32),
            pose_shifts(self.radius_deg, self.n_rings, self.n_axes), model.config.crop_scale,
            self.min_coverage,
        )  # fmt: skip

        def error(i: int, R_i: np.ndarray) -> float | None:
            g = objs.gt[i]
            return None if g is None else float(rotation_error_deg(R_i, g[0], category))

        anchor_ids = {where[k] for k in anchor_poses}
        scores = found.score.numpy()
        kept = select_matches(scores, self.threshold, self.top_k, anchor_ids)
        R, t = found.R.double().numpy(), found.t.double().numpy()
        matched = {
            i: PseudoLabel(lb.scene_id, lb.im_id, lb.gt_index, lb.obj_id, category, R[i], t[i],
                           float(scores[i]), error(i, R[i]))
            for i, lb in enumerate(objs.labels)
            if i not in anchor_ids and math.isfinite(scores[i])
        }  # fmt: skip
        kept_labels = [matched[i] for i in kept]
        if self.refine and kept:
            R_ref, t_ref = self._refine(estimator, model, objs, kept, R[kept], t[kept])
            kept_labels = [
                PseudoLabel(lb.scene_id, lb.im_id, lb.gt_index, lb.obj_id, category, R_ref[j],
                            t_ref[j], lb.score, error(i, R_ref[j]))
                for j, (i, lb) in enumerate(zip(kept, kept_labels, strict=True))
            ]  # fmt: skip
        anchors = [PseudoLabel(*k, objs.labels[where[k]].obj_id, category, R_a, t_a, 1.0, 0.0)
                   for k, (R_a, t_a) in anchor_poses.items()]  # fmt: skip
        return {
            "sources": len(sources),
            "views": len(sources) * (1 + self.n_rings * self.n_axes),
            "anchors": [a.to_dict() for a in anchors],
            "matched": [m.to_dict() for m in matched.values()],
            "kept_matched": [matched[i].to_dict() for i in kept],
            "kept": [k.to_dict() for k in kept_labels],
        }

    def _refine(self, estimator, model, objs: TargetObjects, idx: list[int], R: np.ndarray,
                t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """Render-and-compare refinement of poses ``R [k x 3 x 3]``, ``t [k x 3]`` of the
        objects ``idx`` from there (the estimator's refinement stage)."""
        from ros_pose_estimation.nemo.gauss_newton import GaussNewtonRenderCompare
        from ros_pose_estimation.nemo.pose_param import N_PARAMS
        from ros_pose_estimation.nemo.presets import LMSchedule
        from ros_pose_estimation.nemo.refine import param_scale, poses_of, refine
        from ros_pose_estimation.nemo.scoring import (
            Observation,
            RenderObjective,
            clutter_similarity,
        )

        config, dev = estimator.config, estimator.device
        mesh = model.mesh.to(dev)
        ii = torch.tensor(idx)
        feats = objs.features[ii].to(dev)
        obs = Observation(feats, clutter_similarity(feats, mesh.clutter), objs.K[ii].to(dev),
                          objs.center[ii].to(dev), objs.box_side[ii].to(dev))  # fmt: skip
        R0 = torch.as_tensor(R, dtype=torch.float32, device=dev)
        t0 = torch.as_tensor(t, dtype=torch.float32, device=dev)
        uv = (t0[:, None] @ obs.K.transpose(1, 2))[:, 0]
        uv = uv[:, :2] / uv[:, 2:3]
        x0 = torch.zeros(len(idx), N_PARAMS, device=dev)
        x0[:, 3] = torch.log(t0[:, 2])
        x0[:, 4:6] = (uv - obs.anchor) / obs.offset_unit[:, None]
        margin = math.log(config.distance_margin)
        obs.log_d_range = torch.stack([x0[:, 3] - margin, x0[:, 3] + margin], -1)
        if isinstance(config.refinement, LMSchedule):
            objective = GaussNewtonRenderCompare(mesh, obs, config.loss)
        else:
            objective = RenderObjective(mesh, obs, config.loss)
        result = refine(objective, obs, x0[:, None], R0[:, None], config.refinement,
                        param_scale(config, x0), config.max_offset)  # fmt: skip
        R1, t1 = poses_of(result.take(result.best[:, None]), obs)
        return R1[:, 0].double().cpu().numpy(), t1[:, 0].double().cpu().numpy()

    def label(self, checkpoint: Path, round_dir: Path) -> RoundLabels:
        """Match, keep, write ``round_dir/data`` (anchors + kept pseudo-labels)."""
        payload = self.match(Path(checkpoint), Path(round_dir))
        anchors = [_label_from(r) for r in payload["anchors"]]
        matched = [_label_from(r) for r in payload["matched"]]
        kept = [_label_from(r) for r in payload["kept"]]
        kept_matched = [_label_from(r) for r in payload["kept_matched"]]
        data = write_pseudo_bop(self.target, self.target_split, anchors + kept,
                                Path(round_dir) / "data")  # fmt: skip
        return RoundLabels(str(data), "train", {
            "estimated": len(matched), "kept": len(kept), "anchors": len(anchors),
            "sources": payload["sources"], "views": payload["views"],
            "expansions": payload.get("expansions"),
            "min_kept_score": min((lb.score for lb in kept), default=None),
            "accuracy_estimated": label_accuracy(matched),
            "accuracy_kept_matched": label_accuracy(kept_matched),
            "accuracy_kept": label_accuracy(kept),
        })  # fmt: skip
