"""Pose parametrisation and batched render-and-compare refinement on oracle feature maps."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ros_pose_estimation.core.errors import ConfigError, InputError
from ros_pose_estimation.core.rotations import (
    axis_angle_to_matrix,
    geodesic_angle,
    viewpoint_to_matrix,
)
from ros_pose_estimation.nemo.model import NemoConfig, NemoModel
from ros_pose_estimation.nemo.pose_param import (
    compose_pose,
    distance_prior,
    initial_params,
    projected_extent,
    ray_rotation,
    rodrigues,
)
from ros_pose_estimation.nemo.presets import AdamSchedule, InferenceConfig, StoppingRules
from ros_pose_estimation.nemo.refine import param_scale, poses_of, refine
from ros_pose_estimation.nemo.scoring import (
    Observation,
    RenderObjective,
    clutter_similarity,
    oracle_features,
)

H = W = 16
SCHEDULE = AdamSchedule(steps=60, lr=0.05, min_steps=5, prune_after=0)


@pytest.fixture(scope="module")
def model() -> NemoModel:
    torch.manual_seed(0)
    cfg = NemoConfig("laptop", backbone="tiny", dim=16, crop_size=128, n_vertices=200)
    return NemoModel(cfg)


def _K(b: int) -> torch.Tensor:
    return torch.tensor([[40.0, 0, 7.5], [0, 40.0, 7.5], [0, 0, 1.0]]).expand(b, 3, 3).clone()


def _truth(seed: int):
    rng = np.random.default_rng(seed)
    R = viewpoint_to_matrix(
        rng.uniform(0, 2 * math.pi), rng.uniform(0.1, 0.7), rng.uniform(-0.3, 0.3)
    )
    t = np.array([rng.uniform(-0.02, 0.02), rng.uniform(-0.02, 0.02), rng.uniform(0.45, 0.6)])
    return torch.tensor(R, dtype=torch.float32), torch.tensor(t, dtype=torch.float32)


def _observe(model, Rs, ts) -> Observation:
    K = _K(len(Rs))
    feats = oracle_features(model.mesh, Rs, ts, K, (H, W))
    anchor = torch.full((len(Rs), 2), 7.5)
    return Observation(feats, clutter_similarity(feats, model.mesh.clutter), K, anchor,
                       torch.full((len(Rs),), 10.0))  # fmt: skip


def _start(obs, Rs, ts, angle_deg=10.0, seed=0):
    """Perturbed start: rotation off by ``angle_deg``, distance +8 %, centre 1 px off."""
    gen = torch.Generator().manual_seed(seed)
    axis = torch.nn.functional.normalize(torch.randn(len(Rs), 3, generator=gen), dim=1)
    r0 = axis_angle_to_matrix(axis * math.radians(angle_deg)) @ Rs
    x0 = initial_params(ts[:, 2] * 1.08)
    K = obs.K
    uv = torch.stack([K[:, 0, 0] * ts[:, 0] / ts[:, 2] + K[:, 0, 2],
                      K[:, 1, 1] * ts[:, 1] / ts[:, 2] + K[:, 1, 2]], -1)  # fmt: skip
    x0[:, 4:] = (uv + 1.0 - obs.anchor) / obs.offset_unit[:, None]
    return x0[:, None], r0[:, None]


def _errors(res, obs, Rs, ts):
    R, t = poses_of(res.take(res.best[:, None]), obs)
    rot = np.degrees(geodesic_angle(R[:, 0].double(), Rs.double()).numpy())
    return rot, (t[:, 0] - ts).norm(dim=1).numpy()


# ------------------------------------------------------------------ parametrisation
def test_rodrigues_matches_core_and_has_gradients_at_zero():
    w = torch.randn(4, 3, dtype=torch.float64) * torch.logspace(-9, 0.3, 4)[:, None].double()
    w[0] = 0.0
    torch.testing.assert_close(rodrigues(w), axis_angle_to_matrix(w))
    assert torch.autograd.gradcheck(rodrigues, (w.clone().requires_grad_(),))


def test_compose_pose_puts_the_centre_on_anchor_plus_offset():
    K = _K(2).double()
    x = torch.tensor([[0.1, -0.2, 0.3, math.log(0.7), 0.5, -1.0], [0, 0, 0, 0.0, 0, 0]]).double()
    r0 = torch.eye(3, dtype=torch.float64).expand(2, 3, 3)
    anchor = torch.tensor([[7.5, 7.5], [3.0, 9.0]]).double()
    unit = torch.tensor([4.0, 2.0]).double()
    R, t = compose_pose(x, r0, K, anchor, unit)
    assert t[0, 2].item() == pytest.approx(0.7) and t[1, 2].item() == pytest.approx(1.0)
    uv = (K @ t[..., None])[..., 0]
    uv = uv[:, :2] / uv[:, 2:]
    torch.testing.assert_close(uv, anchor + unit[:, None] * x[:, 4:])
    torch.testing.assert_close(R[0], rodrigues(x[:1, :3])[0])
    with pytest.raises(InputError, match="x: expected"):
        compose_pose(x[:, :5], r0, K, anchor, unit)


def test_ray_rotation_turns_the_optical_axis_onto_the_ray():
    K = _K(3)
    uv = torch.tensor([[7.5, 7.5], [0.0, 15.0], [-20.0, 3.0]])
    rot = ray_rotation(K, uv)
    ray = torch.stack([(uv[:, 0] - 7.5) / 40, (uv[:, 1] - 7.5) / 40, torch.ones(3)], -1)
    torch.testing.assert_close(rot[:, :, 2], torch.nn.functional.normalize(ray, dim=1))
    torch.testing.assert_close(rot[0], torch.eye(3))
    torch.testing.assert_close(rot @ rot.transpose(1, 2), torch.eye(3).expand(3, 3, 3))


def test_distance_prior_makes_the_mesh_span_the_box(model):
    """Projected at d0, the mesh's longer side spans the box side (weak perspective)."""
    R = torch.as_tensor(viewpoint_to_matrix(0.8, 0.3, 0.1), dtype=torch.float32)[None]
    ext = projected_extent(model.mesh.vertices, R)
    d0 = distance_prior(ext, torch.tensor(400.0), torch.tensor(50.0))
    t = torch.tensor([[0.0, 0.0, float(d0)]])
    uv, _ = model.mesh.project(R, t, torch.tensor([[400.0, 0, 0], [0, 400.0, 0], [0, 0, 1]]))
    span = (uv.amax(1) - uv.amin(1)).max()
    assert span.item() == pytest.approx(50.0, rel=0.05)


def test_param_scale_and_schedules():
    cfg = InferenceConfig(lr_scale_distance=0.5, lr_scale_offset=2.0)
    assert param_scale(cfg, torch.zeros(1)).tolist() == [1, 1, 1, 0.5, 2, 2]
    # rows with the two log proportions of a per-axis-scaled mesh: both refined
    assert param_scale(cfg, torch.zeros(3, 8)).tolist() == [1, 1, 1, 0.5, 2, 2, 1, 1]
    fixed = InferenceConfig(refine_proportions=False)
    assert param_scale(fixed, torch.zeros(3, 8)).tolist() == [1, 1, 1, 1, 1, 1, 0, 0]
    assert param_scale(cfg.replace(optimise_offset=False), torch.zeros(1))[4:].tolist() == [0, 0]
    ref = InferenceConfig.named("reference").refinement
    assert [ref.learning_rate(i) for i in (0, 99, 100, 299)] == pytest.approx(
        [0.05, 0.05, 0.01, 0.002]
    )
    cos = AdamSchedule(steps=11, lr=0.1, decay=0.1)
    assert cos.learning_rate(0) == pytest.approx(0.1)
    assert cos.learning_rate(10) == pytest.approx(0.01)
    assert cos.learning_rate(5) == pytest.approx(0.055)
    with pytest.raises(ConfigError, match="lr > 0"):
        AdamSchedule(lr=0.0)


# ------------------------------------------------------------------ refinement
def test_refinement_decreases_the_loss_and_recovers_the_pose(model):
    Rs, ts = _truth(1)
    obs = _observe(model, Rs[None], ts[None])
    x0, r0 = _start(obs, Rs[None], ts[None], angle_deg=12.0)
    objective = RenderObjective(model.mesh, obs, "linear")
    res = refine(objective, obs, x0, r0, SCHEDULE, param_scale(InferenceConfig(), x0))
    hist = res.history[:, 0, 0]
    hist = hist[torch.isfinite(hist)]
    assert hist[0] > 0.05
    assert res.loss[0, 0] < 0.2 * hist[0]
    assert hist[-5:].mean() < hist[:5].mean()
    rot, trans = _errors(res, obs, Rs[None], ts[None])
    assert rot[0] < 3.0 and trans[0] < 0.01
    assert res.confidence[0, 0] > 0.9


def test_batch_of_three_equals_one_at_a_time(model):
    truths = [_truth(s) for s in (2, 3, 4)]
    Rs, ts = torch.stack([r for r, _ in truths]), torch.stack([t for _, t in truths])
    obs = _observe(model, Rs, ts)
    x0, r0 = _start(obs, Rs, ts, angle_deg=8.0, seed=5)
    scale = param_scale(InferenceConfig(), x0)
    schedule = AdamSchedule(steps=15, lr=0.05, prune_after=0)
    together = refine(RenderObjective(model.mesh, obs, "nemo"), obs, x0, r0, schedule, scale)
    for i in range(3):
        one = Observation(obs.features[i : i + 1], obs.clutter[i : i + 1], obs.K[i : i + 1],
                          obs.anchor[i : i + 1], obs.box_side[i : i + 1])  # fmt: skip
        alone = refine(RenderObjective(model.mesh, one, "nemo"), one, x0[i : i + 1],
                       r0[i : i + 1], schedule, scale)  # fmt: skip
        torch.testing.assert_close(alone.x[0], together.x[i], atol=1e-4, rtol=0)
        torch.testing.assert_close(alone.loss[0], together.loss[i], atol=1e-5, rtol=0)
        assert alone.steps[0].item() == together.steps[i].item()


def test_early_stop_and_pruning(model):
    Rs, ts = _truth(6)
    obs = _observe(model, Rs[None], ts[None])
    good_x, good_r = _start(obs, Rs[None], ts[None], angle_deg=3.0)
    far = torch.as_tensor(viewpoint_to_matrix(0.0, 0.0, math.pi), dtype=torch.float32) @ Rs
    x0 = torch.cat([good_x, good_x], 1)
    r0 = torch.cat([good_r, far[None, None]], 1)
    schedule = AdamSchedule(steps=80, lr=0.03, tol=1e-3, patience=2, min_steps=4,
                            prune_after=3, prune_margin=0.01)  # fmt: skip
    res = refine(RenderObjective(model.mesh, obs, "linear"), obs, x0, r0, schedule,
                 param_scale(InferenceConfig(), x0))  # fmt: skip
    assert res.best.item() == 0
    assert res.steps[0, 1].item() == 3  # pruned after 3 steps
    assert 4 <= res.steps[0, 0].item() < 80 and bool(res.converged[0, 0])
    assert res.history.shape == (81, 1, 2)
    assert torch.isnan(res.history[10:, 0, 1]).all()


def test_refine_checks_shapes(model):
    Rs, ts = _truth(7)
    obs = _observe(model, Rs[None], ts[None])
    x0, r0 = _start(obs, Rs[None], ts[None])
    scale = param_scale(InferenceConfig(), x0)
    objective = RenderObjective(model.mesh, obs)
    with pytest.raises(InputError, match="x0: expected 1 detections"):
        refine(objective, obs, x0.repeat(2, 1, 1), r0.repeat(2, 1, 1, 1), SCHEDULE, scale)
    with pytest.raises(InputError, match="base_rotation"):
        refine(objective, obs, x0, r0[:, :, :2], SCHEDULE, scale)
    with pytest.raises(ConfigError, match="expected an AdamSchedule or LMSchedule"):
        refine(objective, obs, x0, r0, StoppingRules(), scale)


def test_refinement_stays_within_the_bounds(model):
    Rs, ts = _truth(8)
    obs = _observe(model, Rs[None], ts[None])
    x0, r0 = _start(obs, Rs[None], ts[None], angle_deg=5.0)
    log_d0 = float(x0[0, 0, 3])
    obs.log_d_range = torch.tensor([[log_d0 - 0.01, log_d0 + 0.01]])
    schedule = AdamSchedule(steps=10, lr=0.2, early_stop=False, prune_after=0)
    res = refine(RenderObjective(model.mesh, obs), obs, x0, r0, schedule,
                 param_scale(InferenceConfig(), x0), max_offset=0.05)  # fmt: skip
    assert abs(float(res.x[0, 0, 3]) - log_d0) <= 0.01 + 1e-6
    assert float(res.x[0, 0, 4:].abs().max()) <= 0.05 + 1e-6


def test_fixed_distance_keeps_the_prior(model):
    Rs, ts = _truth(9)
    obs = _observe(model, Rs[None], ts[None])
    x0, r0 = _start(obs, Rs[None], ts[None], angle_deg=5.0)
    schedule = AdamSchedule(steps=5, lr=0.1, early_stop=False, prune_after=0, fixed_distance=True)
    res = refine(RenderObjective(model.mesh, obs), obs, x0, r0, schedule,
                 param_scale(InferenceConfig(), x0))  # fmt: skip
    assert float(res.x[0, 0, 3]) == float(x0[0, 0, 3])
    assert not torch.equal(res.x[0, 0, :3], x0[0, 0, :3])
