"""Neural view synthesis and anchor matching (paper 002) on synthetic feature maps: a target
rendered by a "perfect network" at a shifted pose is matched to the view of exactly that shift,
its pose comes back, its own crop never matches itself, and the thresholded selection."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from offline_training.adapt.nvsm import select_matches
from offline_training.adapt.view_synthesis import (
    match_to_sources,
    match_views,
    place_in_crop,
    pose_shifts,
    source_vertex_features,
    synthesize_views,
    view_rotation,
)
from ros_pose_estimation.core.rotations import viewpoint_to_matrix
from ros_pose_estimation.nemo.hypotheses import rotation_angles_deg
from ros_pose_estimation.nemo.neural_mesh import NeuralMesh
from ros_pose_estimation.nemo.scoring import oracle_features

SIZE, SCALE = 16, 1.2
SIDE = SIZE / SCALE


@pytest.fixture(scope="module")
def mesh():
    torch.manual_seed(0)
    return NeuralMesh.for_category("mug", dim=16, n_vertices=200, n_clutter=4, seed=3)


def _camera(f: float, cx: float, cy: float) -> torch.Tensor:
    return torch.tensor([[f, 0.0, cx], [0.0, f, cy], [0.0, 0.0, 1.0]])


def _view(az: float, el: float, th: float = 0.0) -> torch.Tensor:
    return viewpoint_to_matrix(torch.tensor([az]), torch.tensor([el]), torch.tensor([th])).float()


def _posed_crop(mesh, rotation, K):
    """A crop (camera ``K``, box centred on the crop) showing the mesh at view ``rotation``
    ``[1 x 3 x 3]``; returns its pose and oracle features ``[D x h x w]``."""
    shape = mesh.vertices / 1.05
    zero = torch.zeros(1, mesh.n_vertices, mesh.dim)
    view = synthesize_views(mesh.vertices, mesh.faces, zero, zero[..., 0], torch.zeros(1).long(),
                            rotation, shape, SIZE, SIDE, 3.0 * SIZE)  # fmt: skip
    center = torch.tensor([[(SIZE - 1) / 2, (SIZE - 1) / 2]])
    R, t = place_in_crop(view.rotation, view.center, view.extent, K[None], center,
                         torch.tensor([SIDE]))  # fmt: skip
    return R, t, oracle_features(mesh, R, t, K[None], (SIZE, SIZE))[0]


def test_pose_shifts_rings_and_identity():
    shifts = pose_shifts(30.0, n_rings=3, n_axes=8)
    assert shifts.shape == (25, 3, 3)
    torch.testing.assert_close(shifts[0], torch.eye(3))
    angles = rotation_angles_deg(torch.eye(3)[None], shifts)[0]
    np.testing.assert_allclose(sorted(set(np.round(angles.numpy(), 1))), [0, 10, 20, 30],
                               atol=0.2)  # fmt: skip
    torch.testing.assert_close(shifts @ shifts.transpose(1, 2), torch.eye(3).expand(25, 3, 3),
                               atol=1e-5, rtol=0)  # fmt: skip
    with pytest.raises(Exception, match="pose shifts"):
        pose_shifts(-1.0)


def test_source_features_are_the_visible_vertices(mesh):
    K = _camera(40.0, 9.0, 6.0)  # an off-centre crop camera
    R, t, fmap = _posed_crop(mesh, _view(0.6, 0.3), K)
    torch.testing.assert_close(view_rotation(R, t), _view(0.6, 0.3), atol=1e-5, rtol=0)
    feats, weight = source_vertex_features(mesh.vertices, mesh.vertex_normals(), fmap, K, R[0],
                                           t[0])  # fmt: skip
    facing = mesh.facing_camera(R, t)[0]
    assert 0 < weight.sum() <= facing.sum() and not bool((weight.bool() & ~facing).any())
    cos = (feats * mesh.features).sum(1)[weight.bool()]
    assert float(cos.mean()) > 0.5  # the oracle's features at the projections
    assert float((feats[~weight.bool()] == 0).all()) == 1.0


@pytest.mark.parametrize("true_shift", [0, 13, 40, 70])
def test_matching_finds_the_shifted_view_and_its_pose(mesh, true_shift):
    shifts = pose_shifts(30.0, 3, 24)
    K_src, K_tgt = _camera(40.0, 9.0, 6.0), _camera(55.0, 4.0, 10.0)
    R_s, t_s, f_src = _posed_crop(mesh, _view(0.6, 0.3, 0.1), K_src)
    truth = shifts[true_shift] @ view_rotation(R_s, t_s)[0]
    R_t, t_t, f_tgt = _posed_crop(mesh, truth[None], K_tgt)
    features = torch.stack([f_src, f_tgt])
    center = torch.full((2, 2), (SIZE - 1) / 2)
    found = match_to_sources(
        mesh, mesh.vertices / 1.05, features, torch.stack([K_src, K_tgt]), center,
        torch.full((2,), SIDE), torch.tensor([0]), R_s, t_s, shifts, SCALE, min_coverage=0.5,
    )  # fmt: skip
    assert found.source.tolist() == [-1, 0]  # the source crop never matches its own views
    assert found.score[0] == -math.inf and found.score[1] > 0.5
    assert found.shift_deg[1] == pytest.approx(float(rotation_angles_deg(
        torch.eye(3)[None], shifts[true_shift][None])[0, 0]), abs=0.2)  # fmt: skip
    err = rotation_angles_deg(found.R[1:2], R_t)[0, 0]
    assert float(err) < 0.5
    torch.testing.assert_close(found.t[1], t_t[0], atol=1e-4, rtol=1e-4)
    # the other candidates score lower: the match is decided by the features
    src_feats, src_w = source_vertex_features(mesh.vertices, mesh.vertex_normals(), f_src,
                                              K_src, R_s[0], t_s[0])  # fmt: skip
    views = synthesize_views(mesh.vertices, mesh.faces, src_feats[None], src_w[None],
                             torch.zeros(len(shifts)).long(), shifts @ view_rotation(R_s, t_s),
                             mesh.vertices / 1.05, SIZE, SIDE, 3.0 * SIZE)  # fmt: skip
    sim = match_views(views.features, views.valid, f_tgt[None])[:, 0]
    sim[views.coverage < 0.5] = -math.inf
    assert int(sim.argmax()) == true_shift


def test_views_without_source_features_never_match(mesh):
    K = _camera(40.0, 7.5, 7.5)
    R_s, t_s, f_src = _posed_crop(mesh, _view(0.0, 0.2), K)
    features = torch.stack([f_src, f_src.flip(-1)])
    found = match_to_sources(
        mesh, mesh.vertices / 1.05, features, torch.stack([K, K]), torch.full((2, 2), 7.5),
        torch.full((2,), SIDE), torch.tensor([0]), R_s, t_s, pose_shifts(30.0, 1, 4), SCALE,
        min_coverage=1.01,  # no view is covered enough
    )  # fmt: skip
    assert found.score.tolist() == [-math.inf, -math.inf] and found.source.tolist() == [-1, -1]


def test_select_matches_keeps_only_above_the_threshold():
    scores = np.array([0.9, 0.4, 0.85, -np.inf, 0.7, 0.85])
    assert select_matches(scores, 0.8, None) == [0, 2, 5]
    assert select_matches(scores, 0.8, 2) == [0, 2]
    assert select_matches(scores, 0.8, None, {0}) == [2, 5]
    assert select_matches(scores, 0.5, None) == [0, 2, 5, 4]
    assert select_matches(scores, 0.95, None) == []
    assert select_matches(scores, -10.0, None) == [0, 2, 5, 4, 1]  # never a -inf one
