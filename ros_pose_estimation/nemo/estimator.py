"""RGB category-level pose estimation by render-and-compare with neural mesh models.

    estimator = NemoEstimator.from_checkpoints(["mug.pt", "laptop.pt"], InferenceConfig())
    poses = estimator.estimate(rgb, [Detection("mug", [x0, y0, x1, y1])], intrinsics)

(:class:`~ros_pose_estimation.core.estimation.Detection` in,
:class:`~ros_pose_estimation.core.estimation.PoseEstimate` out.)

Per frame, for each category with detections: every detection becomes a square crop
(``crop_scale`` x the box's longer side, resized to the model's ``crop_size``, carrying its own
intrinsics, :mod:`ros_pose_estimation.core.crops`); the category's network computes the feature
maps of all its crops in one batched forward (``torch.no_grad``); a grid of viewpoint
hypotheses is placed on each box at the box-derived distance (:mod:`.pose_param`) and scored
(:mod:`.hypotheses` score maps, or rendering, :mod:`.scoring`); the best ``top_k`` of every
detection are refined together in one batch (render-and-compare by Levenberg-Marquardt,
:mod:`.levenberg_marquardt`, or Adam, :mod:`.refine`), and each detection keeps its
lowest-loss hypothesis, whose rotation the model's viewpoint bias correction adjusts when its
checkpoint has one (:mod:`ros_pose_estimation.core.view_correction`; ``refine_from``
returns the raw optimum).
The settings and the named presets are in :mod:`.presets`; the
per-category models and batching are :class:`~ros_pose_estimation.core.category_estimator
.CategoryEstimator`'s. Poses are in the camera frame of the input image (a crop is a
pinhole camera with the same optical frame).

Pure core: no rclpy. Device-agnostic: everything lives on the estimator's device.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ros_pose_estimation.core.batching import sync_device
from ros_pose_estimation.core.camera import Intrinsics
from ros_pose_estimation.core.categories import get_category, order_horizontal_extents
from ros_pose_estimation.core.category_estimator import CategoryEstimator
from ros_pose_estimation.core.crops import Crop, CropInputs, crop_inputs, detection_crop
from ros_pose_estimation.core.errors import ConfigError, InputError
from ros_pose_estimation.core.estimation import (
    Detection,
    PoseEstimate,
    check_inputs,
    group_by_category,
)
from ros_pose_estimation.core.standing import check_up, stand_all_on_gravity
from ros_pose_estimation.core.upright import gravity_look, second_look
from ros_pose_estimation.nemo.checkpoint import load_checkpoint
from ros_pose_estimation.nemo.gauss_newton import GaussNewtonRenderCompare
from ros_pose_estimation.nemo.hypotheses import (
    HypothesisBank,
    ScoreMaps,
    hypothesis_poses,
    score_hypotheses_scoremap,
    select_diverse,
)
from ros_pose_estimation.nemo.model import NemoConfig, NemoModel
from ros_pose_estimation.nemo.pose_param import (
    LOG_D,
    MAX_LOG_PROPORTION,
    OFFSET,
    ROT,
    SHAPE,
    initial_params,
)
from ros_pose_estimation.nemo.presets import InferenceConfig, LMSchedule
from ros_pose_estimation.nemo.refine import (
    RefineResult,
    param_scale,
    poses_of,
    refine,
    start_params,
    stretches_of,
)
from ros_pose_estimation.nemo.scoring import (
    Observation,
    RenderObjective,
    clutter_similarity,
    render_compare,
)

__all__ = ["STAGES", "NemoEstimator", "feature_camera"]

#: Stages timed per call (ms): crop, network forward, hypothesis scoring, refinement.
STAGES = ("crop", "features", "init", "refine", "total")


def feature_camera(crop: Crop, config: NemoConfig, stride: int | None = None) -> np.ndarray:
    """``[3 x 3]`` camera matrix (px) of the crop's feature map (``crop_size / stride`` cells;
    ``stride`` None: the model's)."""
    return crop.intrinsics.scaled(1.0 / (stride or config.stride)).K


def shape_points(model: NemoModel, max_points: int = 2000) -> torch.Tensor:
    """``[P x 3]`` points (m) of the shape the detector boxes: the category template's vertices
    (at most ``max_points``, a fixed subset), else the neural mesh shrunk by its margin.

    The distance prior matches their projected extent to the box (:mod:`.pose_param`); the
    cuboid itself would put objects 10-40 % too far (a box's outline is wider than a mug's).
    """
    from ros_pose_estimation.shapes import SHAPE_CATEGORIES, template_mesh

    if model.category in SHAPE_CATEGORIES:
        points = torch.as_tensor(template_mesh(model.category).vertices, dtype=torch.float32)
        if len(points) > max_points:
            gen = torch.Generator().manual_seed(0)
            points = points[torch.randperm(len(points), generator=gen)[:max_points]]
        return points
    return model.mesh.vertices.float().cpu() / (1.0 + model.config.mesh_margin)


def typical_size(model: NemoModel) -> torch.Tensor:
    """``[3]`` extents (m) of the neural mesh without its margin: the size of the typical
    instance that the box-derived distance (and so the translation) assumes."""
    v = model.mesh.vertices
    return (v.amax(0) - v.amin(0)) / (1.0 + model.config.mesh_margin)


def start_proportions(model: NemoModel, size: np.ndarray | None) -> np.ndarray:
    """``[2]`` log proportions (:mod:`.pose_param`) of a start whose extents are ``size [3]``
    (m): its y / x and z / x over the typical size's, within the refinement's bounds; zeros
    (the category's proportions) when the start has no size."""
    if size is None:
        return np.zeros(2)
    size = np.maximum(np.asarray(size, dtype=np.float64), 1e-9)
    typical = typical_size(model).double().cpu().numpy()
    ratio = (size[1:] / size[0]) / (typical[1:] / typical[0])
    return np.clip(np.log(ratio), -MAX_LOG_PROPORTION, MAX_LOG_PROPORTION)


def _geometric_mean(size: np.ndarray) -> float:
    """Geometric mean (m) of extents ``size [3]`` (m), each at least 1e-9."""
    return float(np.exp(np.log(np.maximum(np.asarray(size, dtype=np.float64), 1e-9)).mean()))


def solved_shape(
    model: NemoModel, R: np.ndarray, stretch: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The rotation ``R [3 x 3]`` and extents ``[3]`` (m) of an estimate whose mesh was drawn
    with the per-axis factors ``stretch [3]`` (a per-axis-scaled model; ones otherwise): the
    typical size stretched, then, for a category whose frame puts the longer horizontal edge
    on x (box), the same object relabelled when the refined proportions made y the longer."""
    size = typical_size(model).double().cpu().numpy() * stretch
    return order_horizontal_extents(get_category(model.category), R, size)


def pooled_observation(obs: Observation, prepared, model: NemoModel, stride: int
                       ) -> Observation:  # fmt: skip
    """``obs`` (features of the crops ``prepared`` at a finer stride) seen at ``stride``: the
    unit features average-pooled to that grid and renormalised (cells masked out everywhere stay
    zero), the clutter similarity against ``model``'s clutter features recomputed, and the
    feature cameras, anchors and box sides of the coarser map.

    Raises:
        ConfigError: ``stride`` is not a multiple of the map's or does not divide the crop.
    """
    size = prepared[0].rgb.shape[0]
    fine = size // obs.size[0]
    if stride % fine or size % stride:
        raise ConfigError(f"coarse_stride {stride}: expected a multiple of the model's stride "
                          f"{fine} that divides its {size} px crops")  # fmt: skip
    features = F.normalize(F.avg_pool2d(obs.features, stride // fine), dim=1)
    hc, wc = features.shape[-2:]
    K = np.stack([feature_camera(p.crop, model.config, stride) for p in prepared])
    return Observation(
        features=features,
        clutter=clutter_similarity(features, model.mesh.clutter),
        K=torch.as_tensor(K, dtype=obs.K.dtype, device=obs.K.device),
        anchor=obs.anchor.new_tensor([[(wc - 1) / 2.0, (hc - 1) / 2.0]] * len(prepared)),
        box_side=obs.box_side.new_tensor([p.box_side / stride for p in prepared]),
    )


class NemoEstimator(CategoryEstimator):
    """Render-and-compare pose estimator for the categories of ``models`` (RGB only; the
    :class:`~ros_pose_estimation.core.estimation.Estimator` contract).

    Args:
        models: category name -> :class:`NemoModel` (moved to ``device``, eval mode).
        config: inference settings (:class:`InferenceConfig`, default preset when None).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
    """

    #: method name, the prefix of the pipeline's timing keys (``nemo.refine``...).
    name = "nemo"
    #: depth is not used (monocular RGB).
    needs_depth = False
    #: :meth:`estimate` takes ``up``, the world's up in the camera frame (the pipeline passes
    #: it when the node knows it from /tf).
    uses_up = True
    stages = STAGES
    load_checkpoint = staticmethod(load_checkpoint)

    def __init__(
        self,
        models: Mapping[str, NemoModel],
        config: InferenceConfig | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        super().__init__(models, config, device)
        self._banks: dict[str, HypothesisBank] = {}

    @classmethod
    def default_config(cls) -> InferenceConfig:
        return InferenceConfig()

    def bank(self, category: str) -> HypothesisBank:
        """The category's viewpoint grid (built on first use, then reused)."""
        if category not in self._banks:
            c, model = self.config, self.models[category]
            self._banks[category] = HypothesisBank(
                model.mesh, c.n_azimuth, c.elevations_deg, c.thetas_deg, self.device,
                c.init_vertices, shape_points(model),
            )  # fmt: skip
        return self._banks[category]

    def _crop(self, image, det: Detection, intrinsics, model: NemoModel) -> CropInputs:
        cfg = model.config
        crop = detection_crop(det.box_xyxy, intrinsics, cfg.crop_size, cfg.crop_scale)
        return crop_inputs(crop, image, det.box_xyxy, det.mask)

    # ------------------------------------------------------------------ estimation
    def estimate(
        self,
        rgb: np.ndarray,
        detections: Sequence[Detection],
        intrinsics: Intrinsics,
        depth: np.ndarray | None = None,
        *,
        errors: str = "raise",
        up: np.ndarray | None = None,
    ) -> list[PoseEstimate]:
        """Poses of ``detections`` in ``rgb`` (``[H x W x 3]`` uint8) seen by a camera
        with ``intrinsics``; one :class:`PoseEstimate` per detection, in order. ``depth`` is
        accepted for the common contract and ignored. ``up``: the world's up direction in the
        camera frame (``[3]``, e.g. from /tf), when known: with ``config.upright`` a rolled
        camera is turned upright by it, one look per object; without it, by a first look
        (:mod:`ros_pose_estimation.core.upright`). With ``config.stand_upright`` each estimate
        whose up axis is within ``stand_upright_deg`` of ``up`` is then stood upright on it
        (:func:`~ros_pose_estimation.core.standing.stand_on_gravity`). A detection's ``mask``
        (``[H x W]`` bool) hides the feature cells farther than one cell from it. ``errors``
        (``"raise"`` or ``"none"``) is the common contract's too: render-and-compare always
        returns its best pose, so there is no unsolved detection to report either way.

        ``score``: paper 001 Eq. 6, the mean cosine similarity between the observed features
        and the rendered neural-mesh features over the pixels the mesh covers at the pose
        (feature-map resolution), clipped below at 0. ``size``: the neural mesh's extents
        without its margin (m), the typical size the distance estimate assumes. ``timings``:
        :data:`STAGES` (ms). ``steps``, ``converged``, ``loss``: of the chosen hypothesis
        (settled = best loss not improved by more than ``tol`` for ``patience`` steps,
        :class:`.presets.StoppingRules`; render-and-compare loss, :mod:`.scoring`).

        Raises:
            InputError: wrong image dtype / shape, image size not matching the intrinsics,
                unknown category or one without a model, empty / zero-area / non-finite box,
                box wholly outside the image, mask of the wrong shape, ``up`` not a finite
                non-zero ``[3]`` vector.
        """
        if errors not in ("raise", "none"):
            raise ConfigError(f"errors: expected 'raise' or 'none', got {errors!r}")
        names = check_inputs(rgb, detections, intrinsics, self.models)
        if not detections:
            return []
        cfg = self.config
        if up is not None:
            up = check_up(up)
        if cfg.upright and up is not None:
            found = gravity_look(rgb, detections, intrinsics, up, self._estimate,
                                 cfg.upright_min_deg)  # fmt: skip
        else:
            found = self._estimate(rgb, detections, intrinsics, names=names)
            if cfg.upright:
                found = second_look(rgb, detections, intrinsics, found, self._estimate,
                                    cfg.upright_min_deg, cfg.upright_keep,
                                    cfg.upright_looks)  # fmt: skip
        if cfg.stand_upright and up is not None:
            stand_all_on_gravity(found, names, up, cfg.stand_upright_deg)
        return found

    def _estimate(self, rgb, detections, intrinsics, depth=None, names=None, up=None) -> list:
        """One look at ``detections`` (``names``: their canonical categories when checked
        already); ``depth`` and ``up`` are ignored (the upright looks' common call: gravity
        stands NeMo's estimates afterwards, in :meth:`estimate`)."""
        if names is None:
            names = check_inputs(rgb, detections, intrinsics, self.models)
        return self.estimate_by_category(
            detections,
            names,
            lambda det, model: self._crop(rgb, det, intrinsics, model),
            self._estimate_group,
        )

    def refine_from(
        self,
        rgb: np.ndarray,
        detections: Sequence[Detection],
        intrinsics: Intrinsics,
        starts: Sequence[PoseEstimate | None],
        distance_tolerance: float = 1.1,
        fix_rotation: bool = False,
    ) -> tuple[list[PoseEstimate | None], list[float | None]]:
        """Refinement alone (the preset's schedule), from one given pose per detection instead
        of the viewpoint grid: e.g. a track's previous pose, another estimator's, or the
        ground truth (``benchmarks/nemo_truth_drift.py``: where does refinement go from
        there?). None in ``starts`` gives None.

        A start's ``R``, ``t`` (m, camera frame) place the neural mesh: same rotation, same
        projected centre, at the distance where the mesh looks as large as the start's
        instance (``t_z`` x the mesh's diagonal / the diagonal of the start's ``size``, m;
        ``t_z`` itself when ``size`` is None). ``log d`` stays within ``distance_tolerance``
        (a factor) of that. ``fix_rotation``: only the distance and the centre offset move (the
        best loss the start's rotation can reach).

        Returns:
            ``(estimates, start_losses)``: per detection the refined ``R``, with ``t`` and
            ``size`` scaled back to the start's instance and ``score``, ``loss``, ``steps``,
            ``converged`` as :meth:`estimate`; and the render-and-compare loss at the start
            pose (the same loss; lower is better).

        Raises:
            InputError: as :meth:`estimate`, or not one start per detection.
        """
        names = check_inputs(rgb, detections, intrinsics, self.models)
        if len(starts) != len(detections):
            raise InputError(
                f"starts: expected one per detection ({len(detections)}), got {len(starts)}"
            )
        live = [i for i, p in enumerate(starts) if p is not None]
        out: list[PoseEstimate | None] = [None] * len(detections)
        start_losses: list[float | None] = [None] * len(detections)
        if not live:
            return out, start_losses
        live_names = [names[i] for i in live]
        # estimate_by_category crops and solves category by category, in group_by_category's
        # order: the same order maps crops to starts and solved groups to start losses
        order = [live[j] for ids in group_by_category(live_names).values() for j in ids]
        visit, losses = iter(order), []

        def crop(det: Detection, model: NemoModel):
            return self._crop(rgb, det, intrinsics, model), starts[next(visit)]

        def solve(model: NemoModel, prepared, times: dict) -> list[PoseEstimate]:
            estimates, group_losses = self._refine_starts(
                model, prepared, times, distance_tolerance, fix_rotation
            )
            losses.extend(group_losses)
            return estimates

        refined = self.estimate_by_category([detections[i] for i in live], live_names, crop, solve)
        for i, est in zip(live, refined, strict=True):
            out[i] = est
        for i, loss in zip(order, losses, strict=True):
            start_losses[i] = loss
        return out, start_losses

    def _refine_starts(self, model: NemoModel, prepared, times, tolerance, fix_rotation):
        config = self.config
        crops, starts = [c for c, _ in prepared], [p for _, p in prepared]
        t0 = time.perf_counter()
        obs = self._observe(model, crops)
        sync_device(self.device)
        t1 = time.perf_counter()
        mesh_size = typical_size(model)
        mesh_diag = float(torch.linalg.vector_norm(mesh_size))
        # the mesh's size over the start's: its diagonal, or, for a mesh fitted to the start's
        # proportions (per_axis_scale: the fit keeps the extents' geometric mean), that mean
        axes = model.config.per_axis_scale
        mesh_gm = _geometric_mean(mesh_size.double().cpu().numpy())
        ratio = np.array([
            1.0 if p.size is None
            else mesh_gm / _geometric_mean(p.size) if axes
            else mesh_diag / max(float(np.linalg.norm(p.size)), 1e-9)
            for p in starts
        ])  # fmt: skip
        K = obs.K
        R0 = torch.as_tensor(np.stack([p.R for p in starts]), dtype=K.dtype, device=K.device)
        t_start = np.stack([np.asarray(p.t, dtype=np.float64) for p in starts])
        if bool((t_start[:, 2] <= 0).any()):
            raise InputError("starts: every start must lie in front of the camera (t_z > 0)")
        t = torch.as_tensor(t_start, dtype=K.dtype, device=K.device)
        shape = None
        if model.config.per_axis_scale:  # start from the start's own proportions, if it has any
            shape = torch.as_tensor(np.stack([start_proportions(model, p.size) for p in starts]),
                                    dtype=K.dtype, device=K.device)  # fmt: skip
        x0 = start_params(obs, t, torch.as_tensor(ratio, dtype=K.dtype, device=K.device), shape)
        log_d, margin = x0[:, LOG_D], math.log(tolerance)
        obs.log_d_range = torch.stack([log_d - margin, log_d + margin], -1)
        scale = param_scale(config, x0)
        if fix_rotation:
            scale[ROT] = 0.0
        result = self._refine_one(model, obs, x0, R0, config.refinement, scale)
        R, t_ref = poses_of(result, obs)
        stretch = stretches_of(result)[:, 0].double().cpu().numpy()
        sync_device(self.device)
        t2 = time.perf_counter()
        times["features"] += t1 - t0
        times["refine"] += t2 - t1
        R = R[:, 0].double().cpu().numpy()
        t_ref = t_ref[:, 0].double().cpu().numpy() / ratio[:, None]
        start_loss = result.history[0, :, 0].double().cpu().numpy()
        out = []
        for j, p in enumerate(starts):
            R_j, size = solved_shape(model, R[j], stretch[j])
            est = PoseEstimate(
                category=model.category, R=R_j, t=t_ref[j],
                score=float(result.confidence[j, 0]),
                size=size / ratio[j] if p.size is not None else size,
                steps=int(result.steps[j, 0]), converged=bool(result.converged[j, 0]),
                loss=float(result.loss[j, 0]),
            )  # fmt: skip
            out.append(est)
        return out, [float(v) for v in start_loss]

    @torch.no_grad()
    def _observe(self, model: NemoModel, prepared) -> Observation:
        cfg = model.config
        pixels = np.stack([p.rgb for p in prepared])
        crops = torch.from_numpy(pixels).to(self.device).permute(0, 3, 1, 2).float() / 255.0
        feats = model.features(crops).float()
        masks = [p.mask for p in prepared]
        if any(m is not None for m in masks):
            full = np.ones((len(prepared), cfg.crop_size, cfg.crop_size), dtype=bool)
            for j, m in enumerate(masks):
                if m is not None:
                    full[j] = m
            cells = F.max_pool2d(
                torch.from_numpy(full).to(self.device)[:, None].float(), cfg.stride, cfg.stride
            )
            cells = F.max_pool2d(cells, 3, 1, 1)  # keep one cell around the mask
            feats = feats * cells
        K = np.stack([feature_camera(p.crop, cfg) for p in prepared])
        h, w = feats.shape[-2:]
        anchor = torch.tensor([[(w - 1) / 2.0, (h - 1) / 2.0]] * len(prepared))
        return Observation(
            features=feats,
            clutter=clutter_similarity(feats, model.mesh.clutter),
            K=torch.as_tensor(K, dtype=torch.float32, device=self.device),
            anchor=anchor.to(self.device),
            box_side=torch.tensor([p.box_side / cfg.stride for p in prepared], device=self.device),
        )

    def _estimate_group(self, model: NemoModel, prepared, times: dict) -> list[PoseEstimate]:
        config = self.config
        t0 = time.perf_counter()
        obs = self._observe(model, prepared)
        search = obs
        if 0 < model.config.stride < config.coarse_stride:  # search coarse, finish fine
            search = pooled_observation(obs, prepared, model, config.coarse_stride)
        sync_device(self.device)
        t1 = time.perf_counter()
        x0, r0, maps = self._initialise(model, self.bank(model.category), search)
        sync_device(self.device)
        t2 = time.perf_counter()
        result = refine(
            self._objective(model, search, maps), search, x0, r0, config.refinement,
            param_scale(config, x0), config.max_offset, config.proportion_prior,
        )  # fmt: skip
        chosen = result.take(result.best[:, None])
        if search is not obs:
            chosen = self._refine_finer(model, obs, search, chosen)
        R, t = poses_of(chosen, obs)
        stretch = stretches_of(chosen)[:, 0].double().cpu().numpy()
        sync_device(self.device)
        t3 = time.perf_counter()
        times["features"] += t1 - t0
        times["init"] += t2 - t1
        times["refine"] += t3 - t2
        R, t = R[:, 0].double().cpu().numpy(), t[:, 0].double().cpu().numpy()
        if config.view_correction and model.view_correction is not None:
            R = model.view_correction.apply(R, t)
            times["refine"] += time.perf_counter() - t3
        shaped = [solved_shape(model, R[j], stretch[j]) for j in range(len(prepared))]
        return [
            PoseEstimate(
                category=model.category,
                R=shaped[j][0],
                t=t[j],
                score=float(chosen.confidence[j, 0]),
                size=shaped[j][1],
                steps=int(chosen.steps[j, 0]),
                converged=bool(chosen.converged[j, 0]),
                loss=float(chosen.loss[j, 0]),
            )
            for j in range(len(prepared))
        ]

    def _refine_finer(self, model: NemoModel, obs: Observation, coarse: Observation,
                      chosen: RefineResult) -> RefineResult:  # fmt: skip
        """The pose of each detection's ``chosen [B x 1]`` row, found on the ``coarse``
        observation, refined on ``obs`` (the model's own, finer features) by
        ``fine_refinement``, within the coarse search's distance range."""
        config = self.config
        R, t = poses_of(chosen, coarse)
        shape = chosen.x[:, 0, SHAPE] if model.config.per_axis_scale else None
        x0 = start_params(obs, t[:, 0], shape=shape)
        obs.log_d_range = coarse.log_d_range
        return self._refine_one(model, obs, x0, R[:, 0], config.fine_refinement,
                                param_scale(config, x0))  # fmt: skip

    def _refine_one(self, model: NemoModel, obs: Observation, x0: torch.Tensor,
                    R0: torch.Tensor, schedule, scale: torch.Tensor) -> RefineResult:  # fmt: skip
        """One start per detection (``x0 [B x K]``, ``R0 [B x 3 x 3]``) refined on ``obs`` by
        ``schedule``; the centre may stay as far off the box as the starts lie."""
        config = self.config
        max_offset = max(config.max_offset, float(x0[:, OFFSET].abs().max()))
        return refine(
            self._objective(model, obs, None), obs, x0[:, None], R0[:, None], schedule, scale,
            max_offset, config.proportion_prior,
        )  # fmt: skip

    def _objective(self, model: NemoModel, obs: Observation, maps: ScoreMaps | None):
        """The render-and-compare objective of the refinement: its Gauss-Newton form for
        Levenberg-Marquardt (re-using the vertex similarities of the score ``maps`` when
        given), else the differentiable rendering for Adam."""
        config = self.config
        if isinstance(config.refinement, LMSchedule):
            similarity = None if maps is None else maps.similarity
            return GaussNewtonRenderCompare(model.mesh, obs, config.loss, similarity)
        return RenderObjective(model.mesh, obs, config.loss)

    @torch.no_grad()
    def _initialise(self, model: NemoModel, bank: HypothesisBank, obs: Observation):
        """``x0 [B x k x K]`` (K = 8 for a per-axis-scaled mesh) and ``R0 [B x k x 3 x 3]`` of
        the best ``top_k`` hypotheses, and the score maps (None unless needed). Also sets
        ``obs.log_d_range`` (the distances refinement may explore: the grid's box-derived
        range widened by ``distance_margin``)."""
        config = self.config
        r_ray, t, dist = hypothesis_poses(bank, obs)
        b, n = dist.shape
        margin = math.log(config.distance_margin)
        log_d = torch.log(dist)
        obs.log_d_range = torch.stack([log_d.amin(1) - margin, log_d.amax(1) + margin], -1)
        maps = None
        if config.init == "scoremap":
            maps = ScoreMaps(obs, model.mesh.features)
            scores = score_hypotheses_scoremap(bank, obs, maps, r_ray, t)
        else:
            rot = (r_ray[:, None] @ bank.rotations[None]).reshape(b * n, 3, 3)
            owner = torch.arange(b, device=self.device).repeat_interleave(n)
            res = render_compare(model.mesh, rot, t.reshape(b * n, 3), obs, owner, config.loss)
            scores = -res.loss.view(b, n)
        pick = select_diverse(scores, bank.angles, config.top_k, config.min_separation_deg)
        d0 = torch.gather(dist, 1, pick)
        x0 = initial_params(d0.reshape(-1), shape=model.config.per_axis_scale)
        x0 = x0.view(b, config.top_k, -1)
        r0 = r_ray[:, None] @ bank.rotations[pick]
        return x0, r0, maps
