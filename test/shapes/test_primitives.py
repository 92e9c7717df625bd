"""Mesh primitives: closedness, orientation, sizes and vertex counts."""

import numpy as np
import pytest

from ros_pose_estimation.core.mesh import TriMesh
from ros_pose_estimation.shapes.primitives import (
    box,
    cylinder,
    densify,
    icosphere,
    lathe,
    tube,
    uv_sphere,
)


def boundary_edges(mesh: TriMesh) -> int:
    """Number of directed edges without a reversed partner (0 for a closed, consistent mesh)."""
    f = mesh.faces
    edges = {tuple(e) for e in np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]).tolist()}
    assert len(edges) == 3 * len(f), "an edge is used twice in the same direction"
    return sum((b, a) not in edges for a, b in edges)


def signed_volume(mesh: TriMesh) -> float:
    v = mesh.vertices[mesh.faces]
    return float(np.einsum("ij,ij->i", v[:, 0], np.cross(v[:, 1], v[:, 2])).sum() / 6.0)


@pytest.mark.parametrize(("level", "count"), [(0, 12), (1, 42), (2, 162), (3, 642), (4, 2562)])
def test_icosphere_counts_and_radius(level, count):
    mesh = icosphere(level, radius=0.5)
    assert len(mesh.vertices) == count
    np.testing.assert_allclose(np.linalg.norm(mesh.vertices, axis=1), 0.5)
    assert boundary_edges(mesh) == 0
    assert signed_volume(mesh) > 0.6 * (4 / 3 * np.pi * 0.5**3)  # outward faces


def test_uv_sphere_is_closed_and_outward():
    mesh = uv_sphere(0.1, rows=12, segments=24)
    assert boundary_edges(mesh) == 0
    assert signed_volume(mesh) == pytest.approx(4 / 3 * np.pi * 0.1**3, rel=0.05)


def test_cylinder_volume_matches_the_inscribed_prism():
    r, h, n = 0.04, 0.12, 32
    mesh = cylinder(r, h, segments=n)
    polygon_area = 0.5 * n * r**2 * np.sin(2 * np.pi / n)
    assert signed_volume(mesh) == pytest.approx(polygon_area * h, rel=1e-9)
    np.testing.assert_allclose(mesh.bounds[:, 2], [-h / 2, h / 2])
    assert boundary_edges(mesh) == 0


@pytest.mark.parametrize("radius", [0.0, 0.01])
def test_box_size_volume_and_closedness(radius):
    size = np.array([0.3, 0.2, 0.1])
    mesh = box(size, radius=radius, max_step=0.03)
    np.testing.assert_allclose(mesh.extents, size, atol=1e-12)
    assert np.abs(mesh.center).max() < 1e-12
    assert boundary_edges(mesh) == 0
    # a rounded box loses (4 - pi) r^2 per unit edge length and (8 - 4/3 pi) r^3 at corners
    rounded = size.prod() - (4 - np.pi) * radius**2 * (size - 2 * radius).sum() - (
        8 - 4 / 3 * np.pi) * radius**3  # fmt: skip
    assert signed_volume(mesh) == pytest.approx(rounded, rel=2e-3)


def test_box_rejects_a_radius_too_large():
    with pytest.raises(ValueError, match="radius"):
        box(np.array([0.1, 0.1, 0.02]), radius=0.011)


def test_lathe_orientation_poles_and_open_ends():
    closed = np.array([[0.0, 0.0], [0.05, 0.0], [0.05, 0.1], [0.0, 0.1]])
    assert signed_volume(lathe(closed, 16)) > 0
    assert signed_volume(lathe(closed[::-1], 16)) < 0  # clockwise profile: inward faces
    open_top = lathe(closed[:3], 16)
    assert boundary_edges(open_top) == 16  # one open ring
    with pytest.raises(ValueError, match="radii"):
        lathe(np.array([[0.0, 0.0], [0.0, 0.05], [0.05, 0.1]]), 16)


def test_lathe_is_mirror_symmetric_about_xz():
    mesh = lathe(np.array([[0.0, 0.0], [0.05, 0.0], [0.03, 0.1], [0.0, 0.1]]), 20)
    mirrored = mesh.vertices * [1.0, -1.0, 1.0]
    dist = np.linalg.norm(mirrored[:, None] - mesh.vertices[None], axis=-1).min(1)
    assert dist.max() < 1e-12


def test_tube_is_closed_outward_and_follows_the_path():
    t = np.linspace(0.0, np.pi, 25)
    path = np.stack([0.05 * np.sin(t), np.zeros_like(t), 0.05 * np.cos(t)], axis=1)
    mesh = tube(path, (0.004, 0.007), segments=12, normal_hint=np.array([0.0, 0.0, 1.0]))
    assert boundary_edges(mesh) == 0
    assert signed_volume(mesh) > 0
    assert mesh.extents[1] == pytest.approx(0.014)  # the b half-axis lies along y
    assert mesh.bounds[1, 0] == pytest.approx(0.054, abs=1e-4)  # a half-axis in the xz plane


def test_densify_keeps_corners_and_bounds_the_step():
    pts = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 0.25]])
    out = densify(pts, 0.1)
    assert np.linalg.norm(np.diff(out, axis=0), axis=1).max() <= 0.1 + 1e-12
    for corner in pts:
        assert np.isclose(out, corner).all(1).any()
    assert len(out) == 1 + 10 + 3
