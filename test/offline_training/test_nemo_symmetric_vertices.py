"""Tied vertex features of symmetric categories (offline_training.nemo.symmetric_vertices)."""

import numpy as np
import pytest
import torch

from offline_training.nemo.symmetric_vertices import (
    expand_observations,
    symmetric_neighbours,
    symmetry_rotations,
    tie_features,
    vertex_orbits,
)
from ros_pose_estimation.core.errors import ConfigError
from ros_pose_estimation.nemo.contrastive import contrastive_loss
from ros_pose_estimation.nemo.neural_mesh import NeuralMesh, cuboid_mesh


def _box_mesh(dim: int = 8) -> NeuralMesh:
    return NeuralMesh(cuboid_mesh(np.array([0.21, 0.126, 0.105]), 300), dim=dim, n_clutter=4)


def test_rotations_are_the_category_groups_identity_first():
    box = symmetry_rotations("box")
    assert box.shape == (4, 3, 3)
    np.testing.assert_allclose(box[0], np.eye(3))
    np.testing.assert_allclose(np.linalg.det(box), 1.0)
    can = symmetry_rotations("can")  # continuous about z: the half turn stands for it
    assert can.shape == (2, 3, 3)
    np.testing.assert_allclose(can[1], np.diag([-1.0, -1.0, 1.0]), atol=1e-12)
    assert symmetry_rotations("mug").shape == (1, 3, 3)


def test_orbits_map_each_vertex_onto_its_rotated_position():
    mesh = _box_mesh()
    rots = symmetry_rotations("box")
    orbits = vertex_orbits(mesh.vertices, rots)
    assert orbits.shape == (4, mesh.n_vertices)
    assert torch.equal(orbits[0], torch.arange(mesh.n_vertices))
    v = mesh.vertices.double()
    for g, rot in enumerate(rots):
        moved = v @ torch.from_numpy(rot).T
        torch.testing.assert_close(v[orbits[g]], moved, atol=1e-6, rtol=0)
        assert len(torch.unique(orbits[g])) == mesh.n_vertices


def test_a_mesh_off_the_canonical_centre_is_refused():
    mesh = _box_mesh()
    with pytest.raises(ConfigError, match="not symmetric"):
        vertex_orbits(mesh.vertices + torch.tensor([0.03, 0.0, 0.0]), symmetry_rotations("box"))


def test_negatives_leave_out_every_symmetric_image_and_its_neighbours():
    mesh = _box_mesh()
    orbits = vertex_orbits(mesh.vertices, symmetry_rotations("box"))
    plain = mesh.neighbour_mask(0.1)
    sym = symmetric_neighbours(plain, orbits)
    k = torch.arange(mesh.n_vertices)
    for g in range(len(orbits)):
        assert sym[k, orbits[g]].all()
        assert (sym[k] >= plain[orbits[g]]).all()  # the image's own neighbours too
    assert (sym >= plain).all() and sym.sum() > plain.sum()


def test_tied_features_stay_tied_through_momentum_updates():
    torch.manual_seed(0)
    mesh = _box_mesh()
    orbits = vertex_orbits(mesh.vertices, symmetry_rotations("box"))
    mesh.features.copy_(tie_features(mesh.features, orbits))
    for g in range(1, len(orbits)):
        torch.testing.assert_close(mesh.features[orbits[g]], mesh.features)
    ids = torch.randint(0, mesh.n_vertices, (50,))
    feats = torch.nn.functional.normalize(torch.randn(50, mesh.dim), dim=1)
    feats_all, ids_all = expand_observations(feats, ids, orbits)
    assert feats_all.shape == (200, mesh.dim) and ids_all.shape == (200,)
    before = mesh.features.clone()
    mesh.update_vertex_features(feats_all, ids_all, momentum=0.5)
    assert not torch.allclose(mesh.features, before)
    for g in range(1, len(orbits)):
        torch.testing.assert_close(mesh.features[orbits[g]], mesh.features)


def test_the_loss_does_not_depend_on_which_equivalent_frame_labelled_the_crop():
    """With tied features and symmetric negatives, labelling an observation with vertex k or
    with its image g k gives the same loss; the plain exclusion does not."""
    torch.manual_seed(1)
    mesh = _box_mesh()
    orbits = vertex_orbits(mesh.vertices, symmetry_rotations("box"))
    bank = tie_features(mesh.features, orbits)
    ids = torch.randint(0, mesh.n_vertices, (40,))
    obs = torch.nn.functional.normalize(bank[ids] + 0.3 * torch.randn(40, mesh.dim), dim=1)
    plain = mesh.neighbour_mask(0.1)
    sym = symmetric_neighbours(plain, orbits)
    clutter = torch.nn.functional.normalize(torch.randn(4, mesh.dim), dim=1)
    tied = [float(contrastive_loss(obs, orbits[g, ids], bank, clutter, sym)[0])
            for g in range(len(orbits))]  # fmt: skip
    np.testing.assert_allclose(tied, tied[0], rtol=1e-6)
    untied = float(contrastive_loss(obs, ids, bank, clutter, plain)[0])
    assert untied > tied[0] + 0.3  # the plain loss punishes the features for the symmetry
