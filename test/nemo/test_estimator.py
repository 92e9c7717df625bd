"""NemoEstimator end to end, with a stub network that returns oracle feature maps.

The stub replaces the feature network: for each crop it returns what a perfect network would,
the neural mesh's own features rendered at the true pose in the crop's feature camera with a
clutter feature elsewhere (``scoring.oracle_features``). Both presets must then find the pose
from the detection box alone. The vertex features are a smooth random field over the surface
(like trained ones: neighbouring vertices look alike), not independent random vectors.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ros_pose_estimation.core.camera import Intrinsics
from ros_pose_estimation.core.crops import detection_crop
from ros_pose_estimation.core.errors import ConfigError, InputError
from ros_pose_estimation.core.estimation import Detection, PoseEstimate
from ros_pose_estimation.core.metrics import rotation_error_deg
from ros_pose_estimation.core.rotations import axis_angle_to_matrix, viewpoint_to_matrix
from ros_pose_estimation.core.so3 import exp_map
from ros_pose_estimation.core.view_correction import ViewCorrection
from ros_pose_estimation.nemo.checkpoint import save_checkpoint
from ros_pose_estimation.nemo.estimator import (
    STAGES,
    NemoEstimator,
    feature_camera,
    pooled_observation,
)
from ros_pose_estimation.nemo.model import NemoConfig, NemoModel
from ros_pose_estimation.nemo.presets import PRESETS, AdamSchedule, InferenceConfig, LMSchedule
from ros_pose_estimation.nemo.scoring import oracle_features
from ros_pose_estimation.shapes import template_mesh

CATEGORY = "camera"  # no symmetry
INTR = Intrinsics(500.0, 500.0, 319.5, 239.5, 640, 480)
IMAGE = np.zeros((480, 640, 3), np.uint8)
#: the oracle's feature maps are those of the first look's crops: no upright second look here
#: (test/nemo/test_upright.py tests it)
ONE_LOOK = InferenceConfig(upright=False)


class OracleNet(nn.Module):
    """Feature network stand-in: returns the maps set in ``maps``, one per crop."""

    def __init__(self) -> None:
        super().__init__()
        self.maps: torch.Tensor | None = None
        self.calls = 0

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        assert self.maps is not None and crops.shape[0] == len(self.maps)
        self.calls += 1
        return self.maps.to(crops.device)


def smooth_features(vertices: torch.Tensor, dim: int, seed: int = 0) -> torch.Tensor:
    """``[V x dim]`` unit features varying smoothly with the position (random Fourier
    features, wavelength half the mesh size)."""
    gen = torch.Generator().manual_seed(seed)
    size = float((vertices.amax(0) - vertices.amin(0)).max())
    freq = torch.randn(64, 3, generator=gen) * (2 * math.pi / (0.5 * size))
    phase = torch.rand(64, generator=gen) * 2 * math.pi
    mix = torch.randn(dim, 64, generator=gen)
    return F.normalize(torch.sin(vertices @ freq.T + phase) @ mix.T, dim=1)


@pytest.fixture(scope="module")
def model() -> NemoModel:
    torch.manual_seed(0)
    cfg = NemoConfig(CATEGORY, backbone="tiny", dim=16, crop_size=128, n_vertices=200)
    m = NemoModel(cfg)
    m.mesh.features.copy_(smooth_features(m.mesh.vertices, cfg.dim))
    m.feature_net = OracleNet()
    return m


def _scene(seed: int, n: int):
    """``n`` true poses in the image and their tight template boxes (with 1 px noise)."""
    rng = np.random.default_rng(seed)
    template = template_mesh(CATEGORY).vertices
    poses, dets = [], []
    for i in range(n):
        R = viewpoint_to_matrix(
            rng.uniform(0, 2 * math.pi), math.radians(rng.uniform(5, 40)),
            math.radians(rng.uniform(-15, 15)),
        )  # fmt: skip
        t = np.array([0.25 * (i - (n - 1) / 2), rng.uniform(-0.05, 0.05), rng.uniform(0.6, 0.8)])
        uv = INTR.project(template @ R.T + t)
        box = np.concatenate([uv.min(0), uv.max(0)]) + rng.normal(0, 1.0, 4)
        poses.append((R, t))
        dets.append(Detection(CATEGORY, box))
    return poses, dets


def _set_oracle(model: NemoModel, poses, dets) -> None:
    cfg = model.config
    Ks, Rs, ts = [], [], []
    for (R, t), det in zip(poses, dets, strict=True):
        crop = detection_crop(det.box_xyxy, INTR, cfg.crop_size, cfg.crop_scale)
        Ks.append(feature_camera(crop, cfg))
        Rs.append(R)
        ts.append(t)
    size = (cfg.feature_size, cfg.feature_size)
    as_t = lambda a: torch.tensor(np.stack(a), dtype=torch.float32)  # noqa: E731
    model.feature_net.maps = oracle_features(model.mesh, as_t(Rs), as_t(ts), as_t(Ks), size)


def _errors(estimates: list[PoseEstimate], poses):
    pairs = list(zip(estimates, poses, strict=True))
    rot = [float(rotation_error_deg(e.R, R, CATEGORY)) for e, (R, _) in pairs]
    trans = [float(np.linalg.norm(e.t - t)) for e, (_, t) in pairs]
    return np.array(rot), np.array(trans)


@pytest.fixture(scope="module")
def default_run(model):
    poses, dets = _scene(0, 3)
    _set_oracle(model, poses, dets)
    estimator = NemoEstimator({CATEGORY: model}, ONE_LOOK)
    calls = model.feature_net.calls
    out = estimator.estimate(IMAGE, dets, INTR)
    assert model.feature_net.calls == calls + 1  # one batched forward for the three crops
    return estimator, poses, dets, out


def test_default_preset_recovers_every_pose_of_a_frame(default_run):
    _, poses, _, out = default_run
    rot, trans = _errors(out, poses)
    assert rot.max() < 6.0, rot
    assert trans.max() < 0.02, trans
    for est in out:
        assert est.category == CATEGORY
        assert est.R.shape == (3, 3) and est.t.shape == (3,)
        assert np.allclose(est.R @ est.R.T, np.eye(3), atol=1e-5)
        assert 0.9 < est.score <= 1.0
        assert 0 < est.steps <= 50
        assert est.batch == 3
        extents = template_mesh(CATEGORY).extents
        assert np.allclose(est.size, extents, rtol=0.02)


def test_batch_gives_the_same_result_as_one_at_a_time(model, default_run):
    estimator, poses, dets, together = default_run
    for i in range(3):
        _set_oracle(model, poses[i : i + 1], dets[i : i + 1])
        (alone,) = estimator.estimate(IMAGE, dets[i : i + 1], INTR)
        assert rotation_error_deg(alone.R, together[i].R) < 0.5
        assert np.linalg.norm(alone.t - together[i].t) < 0.002
        assert alone.batch == 1


def test_timings_are_reported(default_run):
    _, _, _, out = default_run
    timings = out[0].timings
    assert set(timings) == set(STAGES)
    assert all(v >= 0 for v in timings.values())
    parts = sum(timings[k] for k in STAGES if k != "total")
    assert parts <= timings["total"] * 1.01 + 0.1
    assert timings["refine"] > 0 and timings["init"] > 0
    assert all(e.timings == timings for e in out)


def test_reference_preset_is_the_published_schedule():
    ref = InferenceConfig.named("reference")
    assert (ref.init, ref.n_hypotheses, ref.top_k, ref.loss) == ("render", 144, 1, "nemo")
    assert ref.elevations_deg == (-30.0, 0.0, 30.0, 60.0) and ref.thetas_deg == (-30, 0, 30)
    fine = ref.refinement
    assert isinstance(fine, AdamSchedule)
    assert (fine.steps, fine.lr, fine.betas, fine.schedule, fine.decay, fine.decay_every) == (
        300,
        0.05,
        (0.4, 0.6),
        "step",
        0.2,
        100,
    )
    assert not fine.early_stop and fine.prune_after == 0


def test_presets_are_named_overrides_of_the_defaults():
    assert list(PRESETS) == ["default", "fast", "reference"]
    assert InferenceConfig.named("default") == InferenceConfig()
    fast = InferenceConfig.named("fast")
    assert (fast.n_hypotheses, fast.top_k) == (108, 4) and fast.init_vertices == 128
    assert isinstance(fast.refinement, LMSchedule) and fast.refinement.steps == 4
    for name in PRESETS:  # to_dict round trip, the schedule with its method
        config = InferenceConfig.named(name)
        assert InferenceConfig(**config.to_dict()) == config
    assert InferenceConfig().to_dict()["refinement"]["method"] == "lm"
    with pytest.raises(ConfigError, match="unknown preset 'slow'; known: default, fast"):
        InferenceConfig.named("slow")
    with pytest.raises(ConfigError, match="unknown InferenceConfig fields"):
        InferenceConfig().replace(coarse=None)


def test_reference_preset_recovers_the_pose(model):
    """The reference preset's search (144 rendered poses, Adam (0.4, 0.6) at lr 0.05), cut to
    its first 80 steps to keep the test fast (the full 300 run in the benchmark)."""
    poses, dets = _scene(1, 1)
    _set_oracle(model, poses, dets)
    ref = InferenceConfig.named("reference")
    config = ref.replace(refinement=dataclasses.replace(ref.refinement, steps=80))
    (est,) = NemoEstimator({CATEGORY: model}, config).estimate(IMAGE, dets, INTR)
    rot, trans = _errors([est], poses)
    assert rot[0] < 6.0 and trans[0] < 0.02
    assert est.steps == 80 and est.score > 0.9


def test_detection_mask_limits_the_evidence(model):
    poses, dets = _scene(3, 1)
    _set_oracle(model, poses, dets)
    mask = np.zeros(IMAGE.shape[:2], bool)
    x0, y0, x1, y1 = np.round(dets[0].box_xyxy).astype(int)
    mask[y0 - 5 : y1 + 6, x0 - 5 : x1 + 6] = True
    estimator = NemoEstimator({CATEGORY: model}, ONE_LOOK)
    (est,) = estimator.estimate(IMAGE, [Detection(CATEGORY, dets[0].box_xyxy, mask)], INTR)
    assert rotation_error_deg(est.R, poses[0][0], CATEGORY) < 6.0 and est.score > 0.9
    far = np.zeros_like(mask)
    far[:20, :20] = True  # nothing of the crop is kept: no evidence, confidence 0
    (blind,) = estimator.estimate(IMAGE, [Detection(CATEGORY, dets[0].box_xyxy, far)], INTR)
    assert blind.score == 0.0


def test_empty_detections_give_no_estimates(model):
    assert NemoEstimator({CATEGORY: model}).estimate(IMAGE, [], INTR) == []


@pytest.mark.parametrize(
    ("image", "det", "match"),
    [
        (IMAGE.astype(np.float32), Detection(CATEGORY, [10, 10, 50, 50]), "uint8"),
        (IMAGE[..., 0], Detection(CATEGORY, [10, 10, 50, 50]), r"\[H x W x 3\]"),
        (IMAGE[:100], Detection(CATEGORY, [10, 10, 50, 50]), "expected 480 x 640"),
        (IMAGE, Detection("giraffe", [10, 10, 50, 50]), "unknown category"),
        (IMAGE, Detection("mug", [10, 10, 50, 50]), "no model for category 'mug'"),
        (IMAGE, Detection(CATEGORY, [10, 10, 10, 50]), "non-zero area"),
        (IMAGE, Detection(CATEGORY, [10, 10, np.nan, 50]), "finite"),
        (IMAGE, Detection(CATEGORY, [700, 10, 750, 50]), "outside"),
        (IMAGE, Detection(CATEGORY, [10, 10, 50]), r"expected \[\.\.\. x 4\]|expected \[4\]"),
        (IMAGE, Detection(CATEGORY, [10, 10, 50, 50], np.ones((5, 5), bool)), "mask"),
    ],
)
def test_bad_inputs_raise_input_error(model, image, det, match):
    estimator = NemoEstimator({CATEGORY: model}, InferenceConfig.named("fast"))
    with pytest.raises(InputError, match=match):
        estimator.estimate(image, [det], INTR)


def test_from_checkpoints(tmp_path):
    torch.manual_seed(0)
    cfg = NemoConfig("mug", backbone="tiny", dim=16, crop_size=64, n_vertices=200)
    path = save_checkpoint(tmp_path / "mug.pt", NemoModel(cfg))
    estimator = NemoEstimator.from_checkpoints([path], InferenceConfig.named("fast"))
    assert estimator.categories == ["mug"]
    assert (estimator.name, estimator.needs_depth) == ("nemo", False)
    (est,) = estimator.estimate(IMAGE, [Detection("Mug", [200, 150, 300, 260])], INTR)
    assert est.category == "Mug" and 0.0 <= est.score <= 1.0 and np.isfinite(est.t).all()
    depth = np.ones(IMAGE.shape[:2], np.float32)  # the common call: depth is accepted, unused
    (same,) = estimator.estimate(IMAGE, [Detection("Mug", [200, 150, 300, 260])], INTR, depth)
    np.testing.assert_array_equal(same.R, est.R)
    np.testing.assert_array_equal(same.t, est.t)
    # the common contract's errors= (evaluators pass "none"): accepted, same result; checked
    (tolerant,) = estimator.estimate(IMAGE, [Detection("Mug", [200, 150, 300, 260])], INTR,
                                     depth, errors="none")  # fmt: skip
    np.testing.assert_array_equal(tolerant.R, est.R)
    with pytest.raises(ConfigError, match="errors"):
        estimator.estimate(IMAGE, [Detection("Mug", [200, 150, 300, 260])], INTR, errors="skip")
    with pytest.raises(ConfigError, match="two checkpoints of category 'mug'"):
        NemoEstimator.from_checkpoints([path, path])


def test_refine_from_a_start_pose_returns_to_the_truth(model):
    poses, dets = _scene(5, 3)
    _set_oracle(model, [poses[0], poses[2]], [dets[0], dets[2]])  # the crops with a start
    estimator = NemoEstimator({CATEGORY: model}, ONE_LOOK)
    size = template_mesh(CATEGORY).extents
    turn = axis_angle_to_matrix(np.radians(12.0) * np.array([0.6, 0.0, 0.8]))
    truth = [PoseEstimate(CATEGORY, R, t, 1.0, size) for R, t in poses]
    # a twice as large instance twice as far looks the same: t and size come back scaled
    off = [PoseEstimate(CATEGORY, R @ turn, 2.0 * t, 1.0, 2.0 * size) for R, t in poses]
    out, start_losses = estimator.refine_from(IMAGE, dets, INTR, [off[0], None, truth[2]])
    assert out[1] is None and start_losses[1] is None
    assert rotation_error_deg(off[0].R, poses[0][0], CATEGORY) == pytest.approx(12.0)
    assert rotation_error_deg(out[0].R, poses[0][0], CATEGORY) < 4.0
    assert rotation_error_deg(out[2].R, poses[2][0], CATEGORY) < 2.0
    assert np.linalg.norm(out[0].t - 2.0 * poses[0][1]) < 0.04
    assert np.allclose(out[0].size, 2.0 * out[2].size)
    assert out[0].loss < start_losses[0] and start_losses[2] < start_losses[0]
    assert out[2].loss <= start_losses[2] + 1e-6
    assert out[0].batch == 2 and out[0].category == CATEGORY


def test_refine_from_checks_its_starts(model):
    poses, dets = _scene(6, 2)
    estimator = NemoEstimator({CATEGORY: model}, ONE_LOOK)
    start = PoseEstimate(CATEGORY, poses[0][0], poses[0][1], 1.0, None)
    with pytest.raises(InputError, match="one per detection"):
        estimator.refine_from(IMAGE, dets, INTR, [start])
    behind = PoseEstimate(CATEGORY, poses[0][0], -poses[0][1], 1.0, None)
    _set_oracle(model, poses[:1], dets[:1])
    with pytest.raises(InputError, match="in front of the camera"):
        estimator.refine_from(IMAGE, dets[:1], INTR, [behind])
    assert estimator.refine_from(IMAGE, dets, INTR, [None, None]) == ([None, None], [None, None])


def test_refine_from_can_hold_the_rotation(model):
    poses, dets = _scene(7, 1)
    _set_oracle(model, poses, dets)
    estimator = NemoEstimator({CATEGORY: model}, ONE_LOOK)
    turn = axis_angle_to_matrix(np.radians(10.0) * np.array([0.0, 1.0, 0.0]))
    start = PoseEstimate(CATEGORY, poses[0][0] @ turn, 1.05 * poses[0][1], 1.0, None)
    (held,), (loss0,) = estimator.refine_from(IMAGE, dets, INTR, [start], fix_rotation=True)
    (free,), _ = estimator.refine_from(IMAGE, dets, INTR, [start])
    assert np.allclose(held.R, start.R, atol=1e-6)  # only distance and centre moved
    assert held.loss <= loss0 and free.loss < held.loss
    assert rotation_error_deg(free.R, poses[0][0], CATEGORY) < 4.0


def test_view_correction_turns_the_refined_rotation(model):
    """A model carrying a view correction: the estimate is the raw optimum turned by it (in the
    object frame); ``view_correction=False`` gives the raw optimum."""
    poses, dets = _scene(4, 1)
    _set_oracle(model, poses, dets)
    (raw,) = NemoEstimator({CATEGORY: model}, ONE_LOOK).estimate(IMAGE, dets, INTR)
    turn = np.array([0.0, 0.05, 0.0])  # 2.9 deg about the model's y, from every viewpoint
    views = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0],
                      [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]])  # fmt: skip
    model.view_correction = ViewCorrection(CATEGORY, views, np.tile(turn, (6, 1)), sigma=0.5)
    try:
        (fixed,) = NemoEstimator({CATEGORY: model}, ONE_LOOK).estimate(IMAGE, dets, INTR)
        off = InferenceConfig().replace(view_correction=False)
        (plain,) = NemoEstimator({CATEGORY: model}, off).estimate(IMAGE, dets, INTR)
    finally:
        model.view_correction = None
    assert np.allclose(fixed.R, raw.R @ exp_map(turn), atol=1e-5)
    assert np.allclose(fixed.t, raw.t) and np.allclose(plain.R, raw.R, atol=1e-6)


def test_upright_setting_hands_the_first_look_to_the_second_look(model, monkeypatch):
    from ros_pose_estimation.nemo import estimator as estimator_mod

    poses, dets = _scene(5, 1)
    _set_oracle(model, poses, dets)
    seen = {}

    def fake_second_look(rgb, detections, intrinsics, first, estimate, min_deg, keep, looks):
        seen.update(first=first, min_deg=min_deg, keep=keep, looks=looks, estimate=estimate)
        return first

    monkeypatch.setattr(estimator_mod, "second_look", fake_second_look)
    off = InferenceConfig(upright=False)
    (plain,) = NemoEstimator({CATEGORY: model}, off).estimate(IMAGE, dets, INTR)
    assert not seen
    config = InferenceConfig(upright=True, upright_min_deg=20.0, upright_looks=3)
    (est,) = NemoEstimator({CATEGORY: model}, config).estimate(IMAGE, dets, INTR)
    assert seen["min_deg"] == 20.0 and seen["keep"] == "lower_loss" and seen["looks"] == 3
    np.testing.assert_allclose(est.R, plain.R, atol=1e-6)


def _tilted(R: np.ndarray, deg: float) -> np.ndarray:
    """``R`` turned by ``deg`` about the camera's x axis."""
    return axis_angle_to_matrix(np.array([math.radians(deg), 0.0, 0.0])) @ R


def test_gravity_stands_an_estimate_upright_within_its_gate(model):
    """Given the world's up (the true z here), an estimate whose z is within
    ``stand_upright_deg`` (25) of it is turned onto it: no tilt left, no larger error; an up
    direction beyond the gate, or the setting off, leaves the estimate as it was."""
    poses, dets = _scene(6, 2)
    _set_oracle(model, poses, dets)
    estimator = NemoEstimator({CATEGORY: model}, ONE_LOOK)
    plain = estimator.estimate(IMAGE, dets, INTR)
    stood = estimator.estimate(IMAGE, dets, INTR, up=2.0 * poses[0][0][:, 2])  # any length
    np.testing.assert_allclose(stood[0].R[:, 2], poses[0][0][:, 2], atol=1e-9)
    assert rotation_error_deg(stood[0].R, poses[0][0]) <= rotation_error_deg(
        plain[0].R, poses[0][0]) + 1e-6  # fmt: skip
    np.testing.assert_allclose(stood[0].t, plain[0].t)
    far = _tilted(poses[0][0], 35.0)[:, 2]  # 35 deg from the estimate's z: beyond 25 deg
    kept = estimator.estimate(IMAGE, dets, INTR, up=far)[0]
    np.testing.assert_allclose(kept.R, plain[0].R, atol=1e-6)
    wide = NemoEstimator({CATEGORY: model}, ONE_LOOK.replace(stand_upright_deg=40.0))
    turned = wide.estimate(IMAGE, dets, INTR, up=far)[0]
    np.testing.assert_allclose(turned.R[:, 2], far, atol=1e-9)
    off = NemoEstimator({CATEGORY: model}, ONE_LOOK.replace(stand_upright=False))
    same = off.estimate(IMAGE, dets, INTR, up=poses[0][0][:, 2])[0]
    np.testing.assert_allclose(same.R, plain[0].R, atol=1e-6)
    with pytest.raises(InputError, match="up: expected a finite non-zero"):
        estimator.estimate(IMAGE, dets, INTR, up=np.zeros(3))


@pytest.fixture(scope="module")
def fine_model() -> NemoModel:
    """A stride-4 model (twice the cells of ``model``) with the same oracle features."""
    torch.manual_seed(0)
    cfg = NemoConfig(CATEGORY, backbone="tiny", dim=16, crop_size=128, n_vertices=200, stride=4)
    m = NemoModel(cfg)
    m.mesh.features.copy_(smooth_features(m.mesh.vertices, cfg.dim))
    m.feature_net = OracleNet()
    return m


def test_pooled_observation_is_the_coarser_maps_camera(fine_model):
    poses, dets = _scene(3, 2)
    _set_oracle(fine_model, poses, dets)
    estimator = NemoEstimator({CATEGORY: fine_model}, ONE_LOOK)
    prepared = [estimator._crop(IMAGE, det, INTR, fine_model) for det in dets]
    fine = estimator._observe(fine_model, prepared)
    coarse = pooled_observation(fine, prepared, fine_model, 8)
    eight = dataclasses.replace(fine_model.config, stride=8)
    assert coarse.size == (16, 16) and fine.size == (32, 32)
    for j, p in enumerate(prepared):
        np.testing.assert_allclose(coarse.K[j].numpy(), feature_camera(p.crop, eight), atol=1e-5)
    torch.testing.assert_close(coarse.box_side, fine.box_side / 2)
    torch.testing.assert_close(coarse.anchor, torch.full((2, 2), 7.5))
    norms = coarse.features.norm(dim=1)
    assert bool(((norms - 1).abs() < 1e-4).logical_or(norms == 0).all())
    with pytest.raises(ConfigError, match="coarse_stride 6"):
        pooled_observation(fine, prepared, fine_model, 6)


def test_a_finer_model_searches_coarse_and_finishes_at_its_own_stride(fine_model, monkeypatch):
    poses, dets = _scene(4, 3)
    _set_oracle(fine_model, poses, dets)
    sizes = []
    original = NemoEstimator._initialise

    def spy(self, model, bank, obs):
        sizes.append(obs.size)
        return original(self, model, bank, obs)

    monkeypatch.setattr(NemoEstimator, "_initialise", spy)
    for coarse_stride, searched in ((8, (16, 16)), (0, (32, 32))):
        estimator = NemoEstimator({CATEGORY: fine_model}, ONE_LOOK.replace(
            coarse_stride=coarse_stride))  # fmt: skip
        rot, trans = _errors(estimator.estimate(IMAGE, dets, INTR), poses)
        assert sizes[-1] == searched
        assert rot.max() < 4.0 and trans.max() < 0.02, (coarse_stride, rot, trans)


def test_fine_refinement_is_a_levenberg_marquardt_schedule():
    config = InferenceConfig(fine_refinement={"steps": 5})
    assert isinstance(config.fine_refinement, LMSchedule) and config.fine_refinement.steps == 5
    assert InferenceConfig(**{**config.to_dict()}).fine_refinement == config.fine_refinement
    with pytest.raises(ConfigError, match="fine_refinement"):
        InferenceConfig(fine_refinement=AdamSchedule())
