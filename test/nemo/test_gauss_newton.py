"""The render-and-compare loss of the Gauss-Newton model against render_compare (its
derivatives are checked against autograd in test_levenberg_marquardt)."""

from __future__ import annotations

import pytest
import torch

from ros_pose_estimation.core.errors import ConfigError, InputError
from ros_pose_estimation.core.rotations import axis_angle_to_matrix, viewpoint_to_matrix
from ros_pose_estimation.nemo.gauss_newton import GaussNewtonRenderCompare
from ros_pose_estimation.nemo.hypotheses import ScoreMaps, vertex_subset
from ros_pose_estimation.nemo.model import NemoConfig, NemoModel
from ros_pose_estimation.nemo.pose_param import compose_pose, initial_params
from ros_pose_estimation.nemo.scoring import (
    Observation,
    clutter_similarity,
    oracle_features,
    render_compare,
)

H = W = 16


@pytest.fixture(scope="module")
def model() -> NemoModel:
    torch.manual_seed(0)
    return NemoModel(
        NemoConfig("mug", backbone="tiny", dim=16, crop_size=128, n_vertices=300, n_clutter=64)
    )


def _setup(model, dtype=torch.float64):
    """Two detections (observed at a true pose each), three poses near them as parameters
    ``x [3 x 6]`` and the ``pose(params, index)`` function of :meth:`linearise`."""
    K = torch.tensor([[40.0, 0.0, 7.5], [0.0, 40.0, 7.5], [0.0, 0.0, 1.0]], dtype=dtype)
    R = torch.stack([torch.as_tensor(viewpoint_to_matrix(a, 0.4, 0.1)) for a in (0.5, 2.0)])
    R, t = R.to(dtype), torch.tensor([[0.0, 0.0, 0.5], [0.0, 0.0, 0.55]], dtype=dtype)
    mesh = model.mesh.to(dtype)
    feats = oracle_features(mesh, R, t, K.expand(2, 3, 3), (H, W))
    anchor, side = torch.full((2, 2), 7.5, dtype=dtype), torch.full((2,), 12.0, dtype=dtype)
    obs = Observation(feats, clutter_similarity(feats, mesh.clutter), K.expand(2, 3, 3), anchor,
                      side)  # fmt: skip
    owner = torch.tensor([0, 0, 1])
    wiggle = axis_angle_to_matrix(torch.tensor([[0.1, 0, 0], [0, 0.15, 0], [0, 0, -0.1]]))
    base = wiggle.to(dtype) @ R[owner]
    x = initial_params(t[owner, 2] + 0.003)
    x[:, 4] = 0.05

    def pose(params, index):
        det = owner[index]
        return compose_pose(params, base[index], obs.K[det], obs.anchor[det], obs.offset_unit[det])

    return mesh, obs, owner, x, pose


@pytest.mark.parametrize("loss", ["nemo", "linear"])
def test_loss_equals_render_compare(model, loss):
    mesh, obs, owner, x, pose = _setup(model)
    got, g, hess = GaussNewtonRenderCompare(mesh, obs, loss).linearise(pose, x, owner)
    want = render_compare(mesh, *pose(x, torch.arange(3)), obs, owner, loss)
    torch.testing.assert_close(got.loss, want.loss, rtol=0, atol=1e-12)
    torch.testing.assert_close(got.confidence, want.confidence, rtol=0, atol=1e-12)
    assert torch.equal(got.n_fg, want.n_fg) and bool((want.n_fg > 0).all())
    assert g.shape == (3, 6) and hess.shape == (3, 6, 6) and g.abs().sum() > 0


def test_score_map_similarities_are_reused_and_checked(model):
    """Given the score maps' vertex similarities, the linearisation is the same as computing
    its own; a similarity block of the wrong shape or an unknown loss is refused."""
    mesh, obs, owner, x, pose = _setup(model)
    maps = ScoreMaps(obs, mesh.features)
    own = GaussNewtonRenderCompare(mesh, obs, "nemo").linearise(pose, x, owner)
    reused = GaussNewtonRenderCompare(mesh, obs, "nemo", maps.similarity).linearise(pose, x, owner)
    torch.testing.assert_close(reused[0].loss, own[0].loss, rtol=0, atol=0)
    for a, b in zip(reused[1:], own[1:], strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    with pytest.raises(InputError, match="similarity"):
        GaussNewtonRenderCompare(mesh, obs, "nemo", maps.similarity[:, :-1])
    with pytest.raises(ConfigError, match="loss: expected"):
        GaussNewtonRenderCompare(mesh, obs, "l2")


def test_vertex_subset():
    sub = vertex_subset(300, 50)
    assert len(sub) == 50 and torch.equal(sub, sub.sort().values)
    assert torch.equal(vertex_subset(10, 0), torch.arange(10))
    assert torch.equal(vertex_subset(10, 20), torch.arange(10))
