"""Levenberg-Marquardt refinement: its normal equations against autograd and an explicit
Jacobian of the feature residuals, its steps, and pose recovery on oracle feature maps."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ros_pose_estimation.core.errors import ConfigError, InputError
from ros_pose_estimation.core.rotations import (
    axis_angle_to_matrix,
    geodesic_angle,
    viewpoint_to_matrix,
)
from ros_pose_estimation.nemo.gauss_newton import GaussNewtonRenderCompare
from ros_pose_estimation.nemo.levenberg_marquardt import solve_step
from ros_pose_estimation.nemo.model import NemoConfig, NemoModel
from ros_pose_estimation.nemo.pose_param import compose_pose, initial_params
from ros_pose_estimation.nemo.presets import (
    AdamSchedule,
    InferenceConfig,
    LMSchedule,
    schedule_from_dict,
)
from ros_pose_estimation.nemo.refine import param_scale, poses_of, refine
from ros_pose_estimation.nemo.scoring import (
    Observation,
    RenderObjective,
    clutter_similarity,
    oracle_features,
)
from ros_pose_estimation.render import interpolate_sparse, rasterize

H = W = 16
LM = LMSchedule(steps=8, tol=1e-6, patience=2, min_steps=3, prune_after=0)


@pytest.fixture(scope="module")
def model() -> NemoModel:
    torch.manual_seed(0)
    cfg = NemoConfig("mug", backbone="tiny", dim=16, crop_size=128, n_vertices=300, n_clutter=64)
    return NemoModel(cfg)


def _scene(model, seeds, dtype=torch.float32, angle_deg=10.0, smooth=False):
    """Oracle observations of ``len(seeds)`` detections and a perturbed start for each:
    rotation off by ``angle_deg``, distance +8 %, centre 1 px off. ``smooth``: vertex
    features that vary smoothly over the surface (as trained ones do) instead of random."""
    Rs, ts = [], []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        Rs.append(viewpoint_to_matrix(rng.uniform(0, 2 * math.pi), rng.uniform(0.1, 0.7),
                                      rng.uniform(-0.3, 0.3)))  # fmt: skip
        ts.append([rng.uniform(-0.02, 0.02), rng.uniform(-0.02, 0.02), rng.uniform(0.45, 0.6)])
    Rs, ts = torch.tensor(np.array(Rs), dtype=dtype), torch.tensor(ts, dtype=dtype)
    b = len(seeds)
    K = torch.tensor([[40.0, 0, 7.5], [0, 40.0, 7.5], [0, 0, 1.0]], dtype=dtype).repeat(b, 1, 1)
    mesh = copy.deepcopy(model.mesh).to(dtype)
    if smooth:
        gen = torch.Generator().manual_seed(1)
        unit = mesh.vertices / mesh.vertices.abs().max()
        lift = torch.randn(3, mesh.dim, generator=gen, dtype=dtype)
        mesh.features.copy_(F.normalize(torch.tanh(2.0 * unit @ lift), dim=1))
    feats = oracle_features(mesh, Rs, ts, K, (H, W))
    obs = Observation(
        feats,
        clutter_similarity(feats, mesh.clutter),
        K,
        torch.full((b, 2), 7.5, dtype=dtype),
        torch.full((b,), 10.0, dtype=dtype),
    )
    gen = torch.Generator().manual_seed(0)
    axis = F.normalize(torch.randn(b, 3, generator=gen, dtype=dtype), dim=1)
    r0 = axis_angle_to_matrix(axis * math.radians(angle_deg)) @ Rs
    x0 = initial_params(ts[:, 2] * 1.08)
    uv = torch.stack([K[:, 0, 0] * ts[:, 0] / ts[:, 2] + K[:, 0, 2],
                      K[:, 1, 1] * ts[:, 1] / ts[:, 2] + K[:, 1, 2]], -1)  # fmt: skip
    x0[:, 4:] = (uv + 1.0 - obs.anchor) / obs.offset_unit[:, None]
    return mesh, obs, Rs, ts, x0[:, None], r0[:, None]


def _pose_fn(obs, r0):
    def pose(params, index):
        return compose_pose(
            params,
            r0[index].to(params),
            obs.K[index].to(params),
            obs.anchor[index].to(params),
            obs.offset_unit[index].to(params),
        )

    return pose  # fmt: skip


def _errors(res, obs, Rs, ts):
    R, t = poses_of(res.take(res.best[:, None]), obs)
    rot = np.degrees(geodesic_angle(R[:, 0].double(), Rs.double()).numpy())
    return rot, (t[:, 0] - ts).norm(dim=1).numpy()


# ------------------------------------------------------------------ normal equations
@pytest.mark.parametrize("loss", ["nemo", "linear"])
def test_gradient_matches_autograd(model, loss):
    mesh, obs, _, _, x0, r0 = _scene(model, [1, 2], torch.float64)
    x, r0, owner = x0[:, 0], r0[:, 0], torch.arange(2)
    pose = _pose_fn(obs, r0)
    res, g, hess = GaussNewtonRenderCompare(mesh, obs, loss).linearise(pose, x, owner)
    xa = x.clone().requires_grad_()
    want = RenderObjective(mesh, obs, loss)(*pose(xa, owner), owner)
    (g_want,) = torch.autograd.grad(want.loss.sum(), xa)
    torch.testing.assert_close(res.loss, want.loss.detach(), rtol=0, atol=1e-10)
    torch.testing.assert_close(g, g_want, rtol=1e-4, atol=1e-7)
    assert g.abs().sum() > 0 and hess.shape == (2, 6, 6)


def test_hessian_is_gauss_newton_of_the_feature_residuals(model):
    """``H`` equals ``J^T J / hw`` with ``J`` the autograd Jacobian of the ``D``-dimensional
    residuals ``r_p - F_p`` of the pixels that count (faces held fixed). Clutter is set to
    -0.5 on half the pixels (they count where ``o > -0.5``) and to 0.999 on the others."""
    mesh, obs, _, _, x0, r0 = _scene(model, [3], torch.float64, angle_deg=6.0)
    checker = (torch.arange(H)[:, None] + torch.arange(W)[None]) % 2 == 0
    obs.clutter = torch.where(checker, -0.5, 0.999).to(obs.clutter)[None]
    x, r0, owner = x0[:, 0], r0[:, 0], torch.zeros(1, dtype=torch.long)
    pose = _pose_fn(obs, r0)
    _, _, hess = GaussNewtonRenderCompare(mesh, obs, "nemo").linearise(pose, x, owner)
    R, t = pose(x, owner)
    frags = rasterize(mesh.vertices, mesh.faces, obs.K, R, t, (H, W), cull_backfaces=True)
    pix = frags.fg_index
    observed = obs.features.flatten(2)[0, :, pix].T  # [P x D]
    from ros_pose_estimation.render import reinterpolate

    def residuals(params):
        Rp, tp = pose(params, owner)
        moved = reinterpolate(frags, mesh.vertices, mesh.faces, obs.K, Rp, tp)
        return F.normalize(interpolate_sparse(moved, mesh.features), dim=1) - observed

    with torch.no_grad():
        o = ((residuals(x) + observed) * observed).sum(1)
    active = o > obs.clutter.flatten(1)[0, pix]
    J = torch.autograd.functional.jacobian(lambda p: residuals(p)[active], x)  # [P x D x 1 x 6]
    J = J.reshape(-1, 6)
    assert 10 < active.sum() < len(active)
    torch.testing.assert_close(hess[0], J.T @ J / (H * W), rtol=1e-4, atol=1e-8)


# ------------------------------------------------------------------ steps
def test_solve_step_newton_fixed_parameters_and_cap():
    A = torch.randn(2, 6, 6, dtype=torch.float64)
    hess = A @ A.transpose(1, 2) + torch.eye(6, dtype=torch.float64)
    g = torch.randn(2, 6, dtype=torch.float64) * 1e-3
    tiny = torch.full((2,), 1e-12, dtype=torch.float64)
    free = torch.ones(6, dtype=torch.bool)
    newton = -torch.linalg.solve(hess, g[:, :, None]).squeeze(2)
    torch.testing.assert_close(solve_step(g, hess, tiny, free, 10.0), newton, rtol=1e-6, atol=0)
    free[3] = False
    step = solve_step(g, hess, tiny, free, 10.0)
    assert torch.all(step[:, 3] == 0) and torch.all(step[:, :3] != 0)
    capped = solve_step(g * 1e6, hess, tiny, torch.ones(6, dtype=torch.bool), 0.1)
    torch.testing.assert_close(capped.abs().amax(1), torch.full((2,), 0.1, dtype=torch.float64))
    damped = solve_step(g, hess, torch.full((2,), 1e3, dtype=torch.float64), free, 10.0)
    assert damped.norm() < 0.01 * step.norm()


# ------------------------------------------------------------------ refinement
def test_recovers_the_pose_in_a_few_iterations_where_adam_does_not(model):
    mesh, obs, Rs, ts, x0, r0 = _scene(model, [4, 5, 6], angle_deg=12.0, smooth=True)
    scale = param_scale(InferenceConfig(), x0)
    objective = GaussNewtonRenderCompare(mesh, obs, "nemo")
    res = refine(objective, obs, x0, r0, LM, scale)
    rot, trans = _errors(res, obs, Rs, ts)
    assert np.all(rot < 1.0) and np.all(trans < 0.005), (rot, trans)
    at_truth = RenderObjective(mesh, obs, "nemo")(Rs, ts, torch.arange(3)).loss
    assert torch.all(res.history[0, :, 0] > at_truth + 0.05)
    torch.testing.assert_close(res.loss[:, 0], at_truth, rtol=0, atol=2e-3)
    assert torch.all(res.steps <= LM.steps)
    adam = AdamSchedule(steps=LM.steps, lr=0.05, betas=(0.4, 0.6), early_stop=False, prune_after=0)
    slow = refine(RenderObjective(mesh, obs, "nemo"), obs, x0, r0, adam, scale)
    assert np.median(_errors(slow, obs, Rs, ts)[0]) > 3 * np.median(rot)


def test_early_stop_pruning_and_history(model):
    mesh, obs, _, _, good_x, good_r = _scene(model, [7], angle_deg=3.0, smooth=True)
    far = torch.as_tensor(viewpoint_to_matrix(0.0, 0.0, math.pi), dtype=torch.float32)
    x0 = torch.cat([good_x, good_x], 1)
    r0 = torch.cat([good_r, (far @ good_r[0, 0])[None, None]], 1)
    schedule = LMSchedule(steps=30, tol=1e-5, patience=2, min_steps=3, prune_after=2,
                          prune_margin=0.01)  # fmt: skip
    objective = GaussNewtonRenderCompare(mesh, obs, "nemo")
    res = refine(objective, obs, x0, r0, schedule, param_scale(InferenceConfig(), x0))
    assert res.best.item() == 0
    assert res.steps[0, 1].item() == 2  # pruned after 2 iterations
    assert 3 <= res.steps[0, 0].item() < 30 and bool(res.converged[0, 0])
    assert res.history.shape == (31, 1, 2)
    assert torch.isnan(res.history[5:, 0, 1]).all()
    best = torch.cummin(res.history[:, 0, 0].nan_to_num(math.inf), 0).values
    assert float(res.loss[0, 0]) == float(best[-1])


def test_fixed_parameters_and_bounds(model):
    mesh, obs, _, _, x0, r0 = _scene(model, [8], angle_deg=5.0)
    log_d0 = float(x0[0, 0, 3])
    config = InferenceConfig(optimise_offset=False)
    schedule = LMSchedule(steps=4, early_stop=False, prune_after=0, fixed_distance=True)
    objective = GaussNewtonRenderCompare(mesh, obs, "nemo")
    res = refine(objective, obs, x0, r0, schedule, param_scale(config, x0))
    assert float(res.x[0, 0, 3]) == log_d0
    assert torch.equal(res.x[0, 0, 4:], x0[0, 0, 4:])
    assert not torch.equal(res.x[0, 0, :3], x0[0, 0, :3])
    obs.log_d_range = torch.tensor([[log_d0 - 0.01, log_d0 + 0.01]])
    schedule = LMSchedule(steps=4, early_stop=False, prune_after=0, max_step=0.5)
    res = refine(objective, obs, x0, r0, schedule, param_scale(InferenceConfig(), x0), 0.05)
    assert abs(float(res.x[0, 0, 3]) - log_d0) <= 0.01 + 1e-6
    assert float(res.x[0, 0, 4:].abs().max()) <= 0.05 + 1e-6


def test_checks_shapes_and_settings(model):
    mesh, obs, _, _, x0, r0 = _scene(model, [9])
    objective = GaussNewtonRenderCompare(mesh, obs, "nemo")
    scale = param_scale(InferenceConfig(), x0)
    with pytest.raises(InputError, match="x0: expected 1 detections"):
        refine(objective, obs, x0.repeat(2, 1, 1), r0.repeat(2, 1, 1, 1), LM, scale)
    with pytest.raises(InputError, match="base_rotation"):
        refine(objective, obs, x0, r0[:, :, :2], LM, scale)
    with pytest.raises(ConfigError, match="method: expected one of"):
        schedule_from_dict({"method": "sgd"})
    with pytest.raises(ConfigError, match="unknown LMSchedule fields"):
        schedule_from_dict({"method": "lm", "lr": 0.1})
    with pytest.raises(ConfigError, match="damping > 0"):
        LMSchedule(damping=0.0)
    with pytest.raises(ConfigError, match="refinement an AdamSchedule or LMSchedule"):
        InferenceConfig(refinement=3)
    assert schedule_from_dict({"method": "lm", "steps": 3}) == LMSchedule(steps=3)
    assert schedule_from_dict({"steps": 3}) == AdamSchedule(steps=3)
    assert schedule_from_dict(LM.to_dict()) == LM
