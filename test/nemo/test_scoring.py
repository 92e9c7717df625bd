"""Render-and-compare loss / confidence and the score-map hypothesis search, on oracle maps."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ros_pose_estimation.core.rotations import geodesic_angle, viewpoint_to_matrix
from ros_pose_estimation.nemo.hypotheses import (
    HypothesisBank,
    ScoreMaps,
    hypothesis_poses,
    rotation_angles_deg,
    score_hypotheses_scoremap,
    select_diverse,
    viewpoint_grid,
)
from ros_pose_estimation.nemo.model import NemoConfig, NemoModel
from ros_pose_estimation.nemo.scoring import (
    Observation,
    clutter_similarity,
    oracle_features,
    render_compare,
)
from ros_pose_estimation.render.feature_renderer import render_features

H = W = 16


@pytest.fixture(scope="module")
def model() -> NemoModel:
    torch.manual_seed(0)
    return NemoModel(
        NemoConfig("mug", backbone="tiny", dim=16, crop_size=128, n_vertices=200, n_clutter=64)
    )


def _camera(b: int = 1) -> torch.Tensor:
    K = torch.tensor([[40.0, 0.0, 7.5], [0.0, 40.0, 7.5], [0.0, 0.0, 1.0]])
    return K.expand(b, 3, 3).clone()


def _pose(az: float, el: float, theta: float, dist: float = 0.5):
    R = torch.as_tensor(viewpoint_to_matrix(az, el, theta), dtype=torch.float32)[None]
    return R, torch.tensor([[0.0, 0.0, dist]])


def _observation(model, R, t, box_side: float = 12.0) -> Observation:
    K = _camera(len(R))
    feats = oracle_features(model.mesh, R, t, K, (H, W))
    anchor = torch.tensor([[7.5, 7.5]]).expand(len(R), 2)
    return Observation(
        feats,
        clutter_similarity(feats, model.mesh.clutter),
        K,
        anchor.clone(),
        torch.full((len(R),), box_side),
    )


def test_oracle_pose_has_zero_linear_loss_and_full_confidence(model):
    R, t = _pose(0.7, 0.4, 0.1)
    obs = _observation(model, R, t)
    owner = torch.zeros(1, dtype=torch.long)
    res = render_compare(model.mesh, R, t, obs, owner, "linear")
    assert res.loss.item() == pytest.approx(0.0, abs=1e-5)
    assert res.confidence.item() == pytest.approx(1.0, abs=1e-5)
    assert res.n_fg.item() > 20
    R2, _ = _pose(0.7 + math.radians(25), 0.4, 0.1)
    worse = render_compare(model.mesh, R2, t, obs, owner, "linear")
    assert worse.loss.item() > 0.02
    assert 0.0 <= worse.confidence.item() < 0.99


@pytest.mark.parametrize("loss", ["nemo", "linear"])
def test_sparse_loss_matches_dense_formula(model, loss):
    """render_compare touches foreground pixels only; check it against the dense formula."""
    R0, t0 = _pose(1.0, 0.3, 0.0)
    obs = _observation(model, R0, t0)
    obs.features = F.normalize(obs.features + 0.5 * torch.randn_like(obs.features), dim=1)
    obs.clutter = clutter_similarity(obs.features, model.mesh.clutter)
    R = torch.cat([R0, _pose(1.3, 0.2, 0.2)[0]])
    t = torch.tensor([[0.0, 0.0, 0.5], [0.01, -0.01, 0.55]])
    owner = torch.zeros(2, dtype=torch.long)
    res = render_compare(model.mesh, R, t, obs, owner, loss)
    rendered = render_features(
        model.mesh.vertices, model.mesh.faces, model.mesh.features, _camera(2), R, t, (H, W),
        cull_backfaces=True,
    )  # fmt: skip
    r = F.normalize(rendered.features, dim=1)
    fg = rendered.mask.float()
    o = (r * obs.features).sum(1) * fg
    c = obs.clutter.expand(2, H, W)
    if loss == "nemo":
        dense = 1.0 - (torch.maximum(o, c) - c).mean((1, 2))
    else:
        dense = 1.0 - (fg * o + (1 - fg) * c).mean((1, 2))
    torch.testing.assert_close(res.loss, dense, atol=1e-5, rtol=0)
    conf = (o.sum((1, 2)) / fg.sum((1, 2))).clamp(0, 1)
    torch.testing.assert_close(res.confidence, conf, atol=1e-5, rtol=0)


def test_nothing_rendered_gives_zero_confidence(model):
    R, t = _pose(0.0, 0.0, 0.0)
    obs = _observation(model, R, t)
    far_left = torch.tensor([[-5.0, 0.0, 0.5]])  # projects far outside the map
    res = render_compare(model.mesh, R, far_left, obs, torch.zeros(1, dtype=torch.long))
    assert res.n_fg.item() == 0
    assert res.confidence.item() == 0.0


def test_score_maps_sample_like_grid_sample(model):
    R, t = _pose(0.2, 0.1, 0.0)
    obs = _observation(model, R, t)
    maps = ScoreMaps(obs, model.mesh.features)
    v = model.mesh.n_vertices
    u = torch.rand(1, v) * (W + 4) - 2.5  # also beyond the border
    y = torch.rand(1, v) * (H + 4) - 2.5
    got = maps.sample(maps.rows(torch.zeros(1, dtype=torch.long)), u, y)
    margin = maps.padded[:, :, 1:-1, 1:-1]  # [1 x V x h x w]
    grid = (2 * torch.stack([u, y], -1) + 1) / torch.tensor([W, H]) - 1
    want = F.grid_sample(
        margin.reshape(v, 1, H, W), grid.reshape(v, 1, 1, 2), align_corners=False
    ).reshape(1, v)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)


def test_scoremap_ranks_the_true_grid_pose_first(model):
    bank = HypothesisBank(model.mesh, 12, (0.0, 30.0), (-15.0, 0.0, 15.0))
    obs0 = _observation(model, *_pose(0, 0, 0))  # cameras and box, features replaced below
    r_ray, t, dist = hypothesis_poses(bank, obs0)
    true = 17
    R = r_ray @ bank.rotations[true : true + 1]
    obs = _observation(model, R, t[:, true], box_side=obs0.box_side.item())
    scores = score_hypotheses_scoremap(bank, obs, ScoreMaps(obs, model.mesh.features), r_ray, t)
    assert scores.shape == (1, len(bank))
    assert int(scores.argmax()) == true
    assert dist.shape == (1, len(bank)) and bool((dist > 0).all())


def test_bank_grid_and_angles(model):
    bank = HypothesisBank(model.mesh, 12, (-30.0, 0.0, 30.0, 60.0), (-30.0, 0.0, 30.0),
                          max_vertices=50)  # fmt: skip
    assert len(bank) == 144 and bank.rotated.shape == (144, 50, 3)
    torch.testing.assert_close(bank.rotations[0], torch.as_tensor(
        viewpoint_to_matrix(0.0, -math.pi / 6, -math.pi / 6), dtype=torch.float32))  # fmt: skip
    rot = bank.rotations.double()
    want = np.degrees(geodesic_angle(rot[:5, None], rot[None, :7]).numpy())
    assert np.allclose(bank.angles[:5, :7].numpy(), want, atol=0.1)
    extents = model.mesh.vertices.amax(0) - model.mesh.vertices.amin(0)
    assert bool((bank.extent <= extents.norm() + 1e-6).all())
    assert bool((bank.extent >= extents.min() - 1e-6).all())


def test_select_diverse_keeps_separation_and_fills_up():
    rot = viewpoint_grid(24, (0.0,), (0.0,))  # 15 deg apart along the azimuth
    angles = rotation_angles_deg(rot, rot)
    scores = -torch.arange(24.0)[None]  # best first
    pick = select_diverse(scores, angles, 3, 40.0)
    assert pick.tolist() == [[0, 3, 6]]
    assert select_diverse(scores, angles, 3, 0.0).tolist() == [[0, 1, 2]]
    pick = select_diverse(scores, angles, 10, 200.0)  # nothing is far enough: best fill up
    assert pick[0, 0] == 0 and len(set(pick[0].tolist())) == 10
