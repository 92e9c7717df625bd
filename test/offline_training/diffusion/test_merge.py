"""Mesh merging by canonicalisation (paper 000 Eqs. 8-12)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from offline_training.diffusion.merge import (
    carried_features,
    feature_distance,
    merge_meshes,
    relabel,
    search_rotation,
)
from ros_pose_estimation.core.rotations import geodesic_angle, random_rotations
from ros_pose_estimation.nemo.neural_mesh import geodesic_mesh


def _sphere_and_field(seed: int = 0):
    V = torch.as_tensor(geodesic_mesh(2, radius=0.06).vertices, dtype=torch.float32)
    W = torch.randn(3, 8, generator=torch.Generator().manual_seed(seed)) * 25.0
    feats = F.normalize(torch.cat([torch.sin(V @ W), torch.cos(V @ W)], 1), dim=1)
    return V, feats


def _rotated_copy(V, feats, R_true):
    """Features of a mesh whose frame maps into the anchor's by ``R_true`` (x_a = R x_i)."""
    R = torch.as_tensor(R_true, dtype=torch.float32)
    return carried_features(V, V, feats, R.T[None])[0]


def test_identity_carries_features_unchanged():
    V, feats = _sphere_and_field()
    same = carried_features(V, V, feats, torch.eye(3)[None])[0]
    assert torch.allclose(same, feats, atol=1e-5)
    assert float(feature_distance(V, feats, V, feats, torch.eye(3)[None])) < 1e-4


def test_search_recovers_the_relative_rotation():
    V, feats = _sphere_and_field(1)
    for seed in (0, 1):
        R_true = random_rotations(1, seed)[0]
        other = _rotated_copy(V, feats, R_true)
        R, dist = search_rotation(V, feats, V, other, n_refine=32, refine=(8.0, 3.0))
        assert np.degrees(geodesic_angle(R, R_true)) < 3.0
        wrong = float(feature_distance(V, feats, V, other, torch.eye(3)[None]))
        assert dist < 0.3 < wrong


def test_merge_keeps_unrelated_meshes_apart_and_averages_the_rest():
    V, feats = _sphere_and_field(2)
    R_true = random_rotations(1, 5)[0]
    related = _rotated_copy(V, feats, R_true)
    unrelated = F.normalize(
        torch.randn(len(V), feats.shape[1], generator=torch.Generator().manual_seed(9)), dim=1
    )
    result = merge_meshes(V, [feats, related, unrelated], anchor=0, threshold=0.8,
                          n_refine=32, refine=(8.0, 3.0))  # fmt: skip
    assert result.merged == [1]
    assert result.distances[2] > 0.8 > result.distances[1]
    assert np.degrees(geodesic_angle(result.rotations[1], R_true)) < 3.0
    assert torch.allclose(result.features.norm(dim=1), torch.ones(len(V)), atol=1e-5)
    # the merged features are the anchor's (the related mesh carries the same field back)
    assert float((result.features * feats).sum(1).mean()) > 0.97


def test_relabelled_views_map_anchor_points_like_the_merged_instance():
    R_star = random_rotations(1, 3)[0]  # instance frame -> anchor frame
    R_view = random_rotations(1, 4)[0]  # instance frame -> camera
    x_instance = np.array([0.02, -0.01, 0.03])
    x_anchor = R_star @ x_instance
    assert np.allclose(relabel(R_view, R_star) @ x_anchor, R_view @ x_instance)


def test_known_alignments_are_not_searched_again():
    V, feats = _sphere_and_field(3)
    R_true = random_rotations(1, 6)[0]
    related = _rotated_copy(V, feats, R_true)
    # a previous run's (R*, distance): reused as given, only the threshold is applied again
    known = {1: (R_true, 0.5)}
    result = merge_meshes(V, [feats, related], anchor=0, threshold=0.4, known=known)
    assert result.merged == [] and result.distances[1] == 0.5
    assert np.array_equal(result.rotations[1], R_true)
    result = merge_meshes(V, [feats, related], anchor=0, threshold=0.6, known=known)
    assert result.merged == [1]
