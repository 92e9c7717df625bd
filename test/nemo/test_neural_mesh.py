"""NeuralMesh: cuboid / geodesic geometry, momentum update (Eq. 5), clutter FIFO, state dict."""

from __future__ import annotations

import io
from collections import Counter

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ros_pose_estimation.core.errors import ConfigError, InputError
from ros_pose_estimation.nemo.neural_mesh import NeuralMesh, cuboid_mesh, geodesic_mesh
from ros_pose_estimation.shapes import template_mesh


def _edges(faces: np.ndarray) -> list[tuple[int, int]]:
    return [(int(f[i]), int(f[(i + 1) % 3])) for f in faces for i in range(3)]


@pytest.mark.parametrize("extents", [(0.3, 0.2, 0.1), (0.073, 0.073, 0.24), (1.0, 1.0, 0.02)])
def test_cuboid_mesh_is_a_closed_outward_box_surface(extents):
    ext = np.array(extents)
    mesh = cuboid_mesh(ext, n_vertices=1000)
    assert 950 <= len(mesh.vertices) <= 1100
    np.testing.assert_allclose(mesh.extents, ext, atol=1e-12)
    np.testing.assert_allclose(mesh.center, 0.0, atol=1e-12)
    # every vertex on the surface: inside the box and on at least one face plane
    half = 0.5 * ext
    assert np.all(np.abs(mesh.vertices) <= half + 1e-9)
    assert np.all(np.min(np.abs(np.abs(mesh.vertices) - half), axis=1) < 1e-9)
    # closed and consistently oriented: each directed edge once, its reverse once
    directed = Counter(_edges(mesh.faces))
    assert max(directed.values()) == 1
    assert all((b, a) in directed for a, b in directed)
    n_edges = len(directed) // 2
    assert len(mesh.vertices) - n_edges + len(mesh.faces) == 2  # Euler: a sphere
    # outward: each face normal is the axis of its face plane, pointing away from the centre
    normals = mesh.face_normals()
    centroids = mesh.vertices[mesh.faces].mean(1)
    assert np.all(np.sum(normals * centroids, axis=1) > 0)
    assert np.allclose(np.abs(normals).max(1), 1.0)
    # vertices spread evenly: triangle areas within a factor 2 (a plate's rims cannot be)
    if ext.max() / ext.min() > 5:
        return
    areas = 0.5 * np.linalg.norm(
        np.cross(
            *(mesh.vertices[mesh.faces[:, k]] - mesh.vertices[mesh.faces[:, 0]] for k in (1, 2))
        ),
        axis=1,
    )
    assert areas.max() / areas.min() < 2.0


def test_cuboid_vertex_count_follows_the_request():
    assert 90 <= len(cuboid_mesh([0.2, 0.2, 0.2], 100).vertices) <= 110
    assert 1050 <= len(cuboid_mesh([0.2, 0.2, 0.2], 1100).vertices) <= 1150
    with pytest.raises(InputError, match="positive"):
        cuboid_mesh([0.1, 0.0, 0.1])
    with pytest.raises(InputError):
        cuboid_mesh([0.1, 0.1])


@pytest.mark.parametrize(("level", "count"), [(0, 12), (1, 42), (2, 162), (3, 642), (4, 2562)])
def test_geodesic_vertex_counts(level, count):
    mesh = geodesic_mesh(level, radius=0.2)
    assert len(mesh.vertices) == count
    np.testing.assert_allclose(np.linalg.norm(mesh.vertices, axis=1), 0.2)


def test_geodesic_ellipsoid_extents():
    mesh = geodesic_mesh(2, extents=[0.3, 0.2, 0.1])
    np.testing.assert_allclose(mesh.extents, [0.3, 0.2, 0.1], rtol=1e-9)
    with pytest.raises(ConfigError):
        geodesic_mesh(2, radius=1.0, extents=[1, 1, 1])


@pytest.mark.parametrize("kind", ["cuboid", "geodesic", "template"])
def test_for_category_covers_the_template(kind):
    template = template_mesh("mug")
    mesh = NeuralMesh.for_category("mug", kind=kind, dim=8, margin=0.05)
    assert mesh.features.shape == (mesh.n_vertices, 8)
    assert mesh.clutter.shape == (2560, 8)
    # the template's vertex clustering averages each cell's vertices: its extents shrink a bit
    rtol = 0.05 if kind == "template" else 1e-5
    np.testing.assert_allclose(mesh.to_trimesh().extents, template.extents * 1.05, rtol=rtol)
    if kind == "template":  # the template's own surface, not a hull: no vertex in the mug
        assert 800 <= mesh.n_vertices <= 1200
        radius = np.linalg.norm(mesh.vertices[:, :2].numpy(), axis=1)
        body = np.abs(mesh.vertices[:, 2].numpy()) < 0.02  # mid-height ring: walls only
        assert radius[body & (mesh.vertices[:, 0].numpy() < 0)].min() > 0.02
    elif kind == "cuboid":
        assert 950 <= mesh.n_vertices <= 1100
        half = 0.5 * template.extents * 1.05
        assert np.all(np.abs(template.vertices) <= half)
    else:
        assert mesh.n_vertices == 642
    with pytest.raises(ConfigError):
        NeuralMesh.for_category("mug", kind="sphere")


def _two_vertex_mesh() -> NeuralMesh:
    mesh = NeuralMesh(geodesic_mesh(0), dim=2, n_clutter=4)
    mesh.features.zero_()
    mesh.features[:, 0] = 1.0  # every vertex starts at theta = (1, 0)
    return mesh


def test_momentum_update_hand_case():
    mesh = _two_vertex_mesh()
    feats = torch.tensor([[0.0, 1.0], [0.0, 1.0], [0.0, -1.0], [0.0, 1.0]])
    ids = torch.tensor([0, 1, 1, 2])
    visible = torch.tensor([True, True, True, False])
    seen = mesh.update_vertex_features(feats, ids, visible, momentum=0.9)
    # vertex 0: normalize(0.9 (1, 0) + 0.1 (0, 1))
    torch.testing.assert_close(mesh.features[0], F.normalize(torch.tensor([0.9, 0.1]), dim=0))
    # vertex 1: the batch mean of (0, 1) and (0, -1) is 0 -> direction unchanged
    torch.testing.assert_close(mesh.features[1], torch.tensor([1.0, 0.0]))
    # vertex 2: observed but not visible (o_k = 0) -> unchanged, like every unobserved vertex
    torch.testing.assert_close(mesh.features[2:], torch.tensor([[1.0, 0.0]]).expand(10, 2))
    assert seen.tolist() == [True, True] + [False] * 10


def test_momentum_update_with_weights():
    mesh = _two_vertex_mesh()
    feats = torch.tensor([[0.0, 1.0], [0.0, -1.0]])
    mesh.update_vertex_features(feats, torch.tensor([3, 3]), torch.tensor([3.0, 1.0]), 0.5)
    # weighted mean (0, 0.5): normalize(0.5 (1, 0) + 0.5 (0, 0.5))
    torch.testing.assert_close(mesh.features[3], F.normalize(torch.tensor([0.5, 0.25]), dim=0))
    with pytest.raises(ConfigError):
        mesh.update_vertex_features(feats, torch.tensor([0, 1]), momentum=1.0)
    with pytest.raises(InputError, match="features"):
        mesh.update_vertex_features(torch.zeros(2, 3), torch.tensor([0, 1]))


def test_clutter_queue_is_fifo():
    mesh = NeuralMesh(geodesic_mesh(0), dim=2, n_clutter=4)

    def unit(*angles):
        a = torch.tensor(angles, dtype=torch.float32)
        return torch.stack([a.cos(), a.sin()], 1)

    mesh.update_clutter(unit(0.0, 1.0))
    mesh.update_clutter(unit(2.0, 3.0, 4.0))  # wraps: 4.0 overwrites the oldest (0.0)
    torch.testing.assert_close(mesh.clutter, unit(4.0, 1.0, 2.0, 3.0))
    assert int(mesh.clutter_ptr) == 1
    mesh.update_clutter(unit(*range(10, 16)))  # more than the queue: the last 4 survive
    torch.testing.assert_close(mesh.clutter[[1, 2, 3, 0]], unit(12, 13, 14, 15))
    mesh.update_clutter(torch.tensor([[3.0, 4.0]]))  # stored normalised
    torch.testing.assert_close(mesh.clutter[1], torch.tensor([0.6, 0.8]))


def test_state_dict_round_trip():
    mesh = NeuralMesh.for_category("can", kind="geodesic", level=2, dim=8, n_clutter=16, seed=3)
    mesh.update_clutter(torch.randn(5, 8))
    buffer = io.BytesIO()
    torch.save(mesh.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    other = NeuralMesh.from_state_dict(state)
    for key, value in mesh.state_dict().items():
        assert torch.equal(other.state_dict()[key], value), key
    same_size = NeuralMesh(mesh.to_trimesh(), dim=8, n_clutter=16, seed=0)
    same_size.load_state_dict(state)  # strict
    assert torch.equal(same_size.features, mesh.features)
    with pytest.raises(ConfigError, match="keys"):
        NeuralMesh.from_state_dict({"vertices": state["vertices"]})


def test_projection_hand_case():
    mesh = NeuralMesh(geodesic_mesh(0, radius=0.1), dim=2, n_clutter=0)
    K = torch.tensor([[100.0, 0.0, 50.0], [0.0, 200.0, 40.0], [0.0, 0.0, 1.0]])
    uv, depth = mesh.project(torch.eye(3)[None], torch.tensor([[0.0, 0.0, 2.0]]), K)
    v = mesh.vertices
    expected = torch.stack(
        [100 * v[:, 0] / (2 + v[:, 2]) + 50, 200 * v[:, 1] / (2 + v[:, 2]) + 40], 1
    )
    torch.testing.assert_close(uv[0], expected)
    torch.testing.assert_close(depth[0], 2 + v[:, 2])
    behind, _ = mesh.project(torch.eye(3)[None], torch.tensor([[0.0, 0.0, -2.0]]), K[None])
    assert torch.isnan(behind).all()


def test_facing_camera_sees_the_near_face_of_a_box():
    mesh = NeuralMesh(cuboid_mesh([0.2, 0.2, 0.2], 300), dim=2, n_clutter=0)
    visible = mesh.facing_camera(torch.eye(3)[None], torch.tensor([[0.0, 0.0, 1.0]]))[0]
    v = mesh.vertices
    inner = (v[:, :2].abs() < 0.1 - 1e-6).all(1)  # not on an edge of the z faces
    assert visible[inner & (v[:, 2] < -0.1 + 1e-6)].all()  # face towards the camera (z = -h)
    assert not visible[v[:, 2] > 0.1 - 1e-6].any()  # far face
    assert mesh.vertex_normals().norm(dim=1).allclose(torch.ones(mesh.n_vertices))


def test_neighbour_mask_uses_a_tenth_of_the_mesh_scale():
    mesh = NeuralMesh(cuboid_mesh([1.0, 0.5, 0.5], 1000), dim=2, n_clutter=0)
    assert mesh.scale() == pytest.approx(1.0)
    near = mesh.neighbour_mask()
    dist = torch.cdist(mesh.vertices.double(), mesh.vertices.double())
    assert torch.equal(near, dist < 0.1)
    assert near.diagonal().all() and near.sum(1).min() > 1  # grid spacing < 0.1 here


def test_update_rejects_unknown_vertex_ids():
    mesh = _two_vertex_mesh()
    with pytest.raises(InputError, match="vertex_ids"):
        mesh.update_vertex_features(torch.zeros(1, 2), torch.tensor([12]))
