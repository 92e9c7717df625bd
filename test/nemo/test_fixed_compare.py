"""Render-and-compare with a cached rasterisation against render_compare and an independent
re-interpolation of the kept fragments."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ros_pose_estimation.core.errors import ConfigError, InputError
from ros_pose_estimation.core.rotations import axis_angle_to_matrix, viewpoint_to_matrix
from ros_pose_estimation.nemo.fixed_compare import CachedRenderObjective
from ros_pose_estimation.nemo.hypotheses import ScoreMapObjective, ScoreMaps, vertex_subset
from ros_pose_estimation.nemo.model import NemoConfig, NemoModel
from ros_pose_estimation.nemo.presets import InferenceConfig, Schedule
from ros_pose_estimation.nemo.refine import param_scale, refine
from ros_pose_estimation.nemo.scoring import (
    Observation,
    RenderObjective,
    clutter_similarity,
    oracle_features,
    render_compare,
)
from ros_pose_estimation.render import interpolate_sparse, rasterize, reinterpolate

H = W = 16


@pytest.fixture(scope="module")
def model() -> NemoModel:
    torch.manual_seed(0)
    return NemoModel(
        NemoConfig("mug", backbone="tiny", dim=16, crop_size=128, n_vertices=300, n_clutter=64)
    )


def _setup(model, dtype=torch.float64):
    """Two detections (observed at a true pose each) and three poses near them."""
    K = torch.tensor([[40.0, 0.0, 7.5], [0.0, 40.0, 7.5], [0.0, 0.0, 1.0]], dtype=dtype)
    R = torch.stack([torch.as_tensor(viewpoint_to_matrix(a, 0.4, 0.1)) for a in (0.5, 2.0)])
    R, t = R.to(dtype), torch.tensor([[0.0, 0.0, 0.5], [0.01, 0.0, 0.55]], dtype=dtype)
    mesh = model.mesh.to(dtype)
    feats = oracle_features(mesh, R, t, K.expand(2, 3, 3), (H, W))
    anchor, side = torch.full((2, 2), 7.5, dtype=dtype), torch.full((2,), 12.0, dtype=dtype)
    obs = Observation(feats, clutter_similarity(feats, mesh.clutter), K.expand(2, 3, 3), anchor,
                      side)  # fmt: skip
    owner = torch.tensor([0, 0, 1])
    wiggle = axis_angle_to_matrix(torch.tensor([[0.1, 0, 0], [0, 0.15, 0], [0, 0, -0.1]]))
    return mesh, obs, owner, wiggle.to(dtype) @ R[owner], t[owner] + 0.003


def _loss_and_grad(objective, R, t, owner, rows=None):
    t = t.clone().requires_grad_()
    res = objective(R, t, owner) if rows is None else objective(R, t, owner, rows)
    (grad,) = torch.autograd.grad(res.loss.sum(), t)
    return res, grad


@pytest.mark.parametrize("loss", ["nemo", "linear"])
def test_refresh_equals_render_compare(model, loss):
    mesh, obs, owner, R, t = _setup(model)
    cached = CachedRenderObjective(mesh, obs, loss, every=3)
    got, g_got = _loss_and_grad(cached, R, t, owner)
    want, g_want = _loss_and_grad(RenderObjective(mesh, obs, loss), R, t, owner)
    assert got.exact and cached.refreshes == 1
    torch.testing.assert_close(got.loss, want.loss, rtol=0, atol=1e-12)
    torch.testing.assert_close(got.confidence, want.confidence, rtol=0, atol=1e-12)
    assert torch.equal(got.n_fg, want.n_fg)
    torch.testing.assert_close(g_got, g_want, rtol=1e-9, atol=1e-12)
    assert g_got.abs().sum() > 0


def test_score_map_similarities_are_reused_and_checked(model):
    """Given the score maps' vertex similarities, the objective is the same as computing its
    own; a similarity block of the wrong shape is refused."""
    mesh, obs, owner, R, t = _setup(model)
    maps = ScoreMaps(obs, mesh.features)
    own, g_own = _loss_and_grad(CachedRenderObjective(mesh, obs, "nemo", 1), R, t, owner)
    reused = CachedRenderObjective(mesh, obs, "nemo", 1, maps.similarity)
    got, g_got = _loss_and_grad(reused, R, t, owner)
    torch.testing.assert_close(got.loss, own.loss, rtol=0, atol=0)
    torch.testing.assert_close(g_got, g_own, rtol=0, atol=0)
    with pytest.raises(InputError, match="similarity"):
        CachedRenderObjective(mesh, obs, "nemo", 1, maps.similarity[:, :-1])


def test_between_refreshes_uses_the_kept_fragments(model):
    """A stale step equals the loss computed the long way: the old fragments re-interpolated
    at the new pose, features interpolated over D, normalised and compared."""
    mesh, obs, owner, R, t = _setup(model)
    cached = CachedRenderObjective(mesh, obs, "nemo", every=3)
    cached(R, t, owner)
    R2 = axis_angle_to_matrix(torch.tensor([[0.0, 0.03, 0.0]], dtype=R.dtype)) @ R
    t2 = t + torch.tensor([0.002, -0.001, 0.01], dtype=t.dtype)
    got, g_got = _loss_and_grad(cached, R2, t2, owner)
    assert not got.exact and cached.refreshes == 1

    def long_way(t_var):
        old = rasterize(mesh.vertices, mesh.faces, obs.K[owner], R, t, (H, W), cull_backfaces=True)
        frags = reinterpolate(old, mesh.vertices, mesh.faces, obs.K[owner], R2, t_var)
        pose = frags.fg_batch
        pix = frags.fg_index - pose * H * W
        rendered = F.normalize(interpolate_sparse(frags, mesh.features), dim=1)
        o = (obs.features.flatten(2)[owner[pose], :, pix] * rendered).sum(1)
        c = obs.clutter.flatten(1)
        gain = torch.maximum(o, c[owner[pose], pix]) - c[owner[pose], pix]
        gain = gain - F.relu(-c[owner[pose], pix])
        total = torch.zeros(3, dtype=o.dtype).index_add(0, pose, gain)
        return 1.0 - F.relu(-c).mean(1)[owner] - total / (H * W)

    t_var = t2.clone().requires_grad_()
    want = long_way(t_var)
    (g_want,) = torch.autograd.grad(want.sum(), t_var)
    torch.testing.assert_close(got.loss, want, rtol=0, atol=1e-12)
    torch.testing.assert_close(g_got, g_want, rtol=1e-9, atol=1e-12)
    fresh = render_compare(mesh, R2, t2, obs, owner)
    assert not torch.allclose(fresh.loss, got.loss, rtol=0, atol=1e-9)  # it really is stale


def test_refresh_cadence_and_rows(model):
    mesh, obs, owner, R, t = _setup(model)
    cached = CachedRenderObjective(mesh, obs, "nemo", every=2)
    rows = torch.arange(3)
    flags = [cached(R, t, owner, rows).exact for _ in range(5)]
    assert flags == [True, False, True, False, True] and cached.refreshes == 3
    cached(R, t, owner, rows)  # stale call, all rows
    keep = torch.tensor([0, 2])
    sub = cached(R[keep], t[keep], owner[keep], keep)  # row 1 stopped: refresh with 2 rows
    alone = render_compare(mesh, R[keep], t[keep], obs, owner[keep])
    torch.testing.assert_close(sub.loss, alone.loss, rtol=0, atol=1e-12)
    stale = cached(R[2:], t[2:], owner[2:], keep[1:])  # row 0 stopped too
    torch.testing.assert_close(stale.loss, alone.loss[1:], rtol=0, atol=1e-12)
    cached(R[2:], t[2:], owner[2:], keep[1:])  # refresh with row 2 only
    with pytest.raises(InputError, match="rows: expected rows rasterised"):
        cached(R[1:2], t[1:2], owner[1:2], torch.tensor([1]))
    with pytest.raises(ConfigError, match="every: expected >= 1"):
        CachedRenderObjective(mesh, obs, "nemo", every=0)
    with pytest.raises(ConfigError, match="loss: expected"):
        CachedRenderObjective(mesh, obs, "l2")


def test_refine_with_every_1_is_the_plain_refinement(model):
    """Refreshing at every step reproduces render-and-compare refinement step for step."""
    mesh, obs, owner, R, t = _setup(model)
    x0 = torch.zeros(2, 1, 6, dtype=torch.float64)
    x0[:, 0, 3] = torch.log(obs.box_side.new_tensor([0.5, 0.55]))
    r0 = R[[0, 2]][:, None]
    schedule = Schedule(steps=6, lr=0.05, early_stop=False, prune_after=0)
    scale = param_scale(InferenceConfig(), x0)
    plain = refine(RenderObjective(mesh, obs), obs, x0, r0, schedule, scale)
    cached = refine(CachedRenderObjective(mesh, obs, every=1), obs, x0, r0, schedule, scale)
    torch.testing.assert_close(cached.x, plain.x, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(cached.loss, plain.loss, rtol=1e-9, atol=1e-9)
    stale = refine(CachedRenderObjective(mesh, obs, every=3), obs, x0, r0, schedule, scale)
    # ranked on exact evaluations only (steps 0 and 3, the final one 6): the reported loss of
    # each row's best parameters is their true loss
    R_best, t_best = _poses(stale, obs)
    exact = render_compare(mesh, R_best, t_best, obs, torch.arange(2))
    torch.testing.assert_close(stale.loss[:, 0], exact.loss, rtol=1e-9, atol=1e-9)
    assert not torch.allclose(stale.x, plain.x)


def _poses(result, obs):
    from ros_pose_estimation.nemo.refine import poses_of

    R, t = poses_of(result, obs)
    return R[:, 0], t[:, 0]


def test_scoremap_objective_on_a_vertex_subset(model):
    mesh, obs, owner, R, t = _setup(model, torch.float32)
    maps = ScoreMaps(obs, mesh.features)
    sub = vertex_subset(len(mesh.vertices), 50)
    assert len(sub) == 50 and torch.equal(sub, sub.sort().values)
    assert torch.equal(vertex_subset(10, 0), torch.arange(10))
    assert torch.equal(vertex_subset(10, 20), torch.arange(10))
    full = ScoreMapObjective(mesh, obs, maps)(R, t, owner)
    part = ScoreMapObjective(mesh, obs, maps, 50)(R, t, owner)
    # by hand: the mean margin over the facing vertices of the subset
    cam = torch.einsum("nij,vj->nvi", R, mesh.vertices[sub]) + t[:, None]
    normals = torch.einsum("nij,vj->nvi", R, mesh.vertex_normals()[sub])
    facing = (normals * cam).sum(-1) < 0
    u = 40.0 * cam[..., 0] / cam[..., 2] + 7.5
    v = 40.0 * cam[..., 1] / cam[..., 2] + 7.5
    sampled = maps.sample(maps.rows(owner, sub), u, v)
    want = 1.0 - (sampled * facing).sum(1) / facing.sum(1)
    torch.testing.assert_close(part.loss, want)
    assert torch.equal(part.n_fg, facing.sum(1))
    assert not torch.allclose(part.loss, full.loss)
