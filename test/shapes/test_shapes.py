"""The canonical-frame contract of the procedural category shapes (shared/notes/categories.md)."""

import json

import numpy as np
import pytest
from scipy.spatial import cKDTree

from ros_pose_estimation.core.categories import BUILTIN_CATEGORIES
from ros_pose_estimation.core.errors import ConfigError
from ros_pose_estimation.core.mesh import TriMesh
from ros_pose_estimation.shapes import (
    SHAPE_CATEGORIES,
    make_instance,
    make_parts,
    parameter_table,
    sample_params,
    template_mesh,
    typical_params,
)
from ros_pose_estimation.shapes.params import Choice, Uniform

SEEDS = range(6)
REVOLVED = ("bottle", "bowl", "can")

# realistic extents (m): category -> (min [3], max [3]) over x, y, z
SIZE_RANGES = {
    "bottle": ([0.05, 0.05, 0.15], [0.095, 0.095, 0.33]),
    "bowl": ([0.11, 0.11, 0.03], [0.23, 0.23, 0.11]),
    "can": ([0.05, 0.05, 0.07], [0.095, 0.095, 0.17]),
    "mug": ([0.08, 0.06, 0.075], [0.16, 0.11, 0.12]),
    "laptop": ([0.1, 0.27, 0.1], [0.45, 0.38, 0.3]),
    "camera": ([0.04, 0.095, 0.05], [0.22, 0.15, 0.14]),
    "box": ([0.06, 0.015, 0.009], [0.42, 0.42, 0.68]),
}


def random_instances(category):
    return [make_instance(category, np.random.default_rng(s)) for s in SEEDS]


def is_closed_and_consistent(mesh: TriMesh) -> bool:
    """Every edge is shared by exactly two faces that traverse it in opposite directions."""
    f = mesh.faces
    edges = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    directed = {tuple(e) for e in edges.tolist()}
    return len(directed) == len(edges) and all((b, a) in directed for a, b in directed)


def signed_volume(mesh: TriMesh) -> float:
    v = mesh.vertices[mesh.faces]
    return float(np.einsum("ij,ij->i", v[:, 0], np.cross(v[:, 1], v[:, 2])).sum() / 6.0)


def maps_onto_itself(vertices: np.ndarray, rot: np.ndarray, tol: float = 1e-9) -> bool:
    dist, _ = cKDTree(vertices).query(vertices @ rot.T)
    return bool(dist.max() < tol)


def rot_z(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def test_every_builtin_category_has_a_generator():
    assert set(SHAPE_CATEGORIES) == set(BUILTIN_CATEGORIES)


@pytest.mark.parametrize("category", SHAPE_CATEGORIES)
def test_bbox_centre_is_the_origin(category):
    for mesh in [template_mesh(category), *random_instances(category)]:
        assert np.abs(mesh.center).max() < 1e-9


@pytest.mark.parametrize("category", SHAPE_CATEGORIES)
def test_parts_are_closed_with_outward_faces(category):
    for seed in SEEDS:
        for name, part in make_parts(category, np.random.default_rng(seed)).items():
            assert is_closed_and_consistent(part), f"{category}/{name} seed {seed} is open"
            assert signed_volume(part) > 0, f"{category}/{name} seed {seed} faces point inwards"
            v = part.vertices[part.faces]
            areas = 0.5 * np.linalg.norm(np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0]), axis=1)
            assert areas.min() > 1e-12, f"{category}/{name} has degenerate triangles"


@pytest.mark.parametrize("category", SHAPE_CATEGORIES)
def test_sizes_are_realistic(category):
    lo, hi = (np.asarray(a) for a in SIZE_RANGES[category])
    for mesh in [template_mesh(category), *random_instances(category)]:
        assert np.all(mesh.extents >= lo) and np.all(mesh.extents <= hi), mesh.extents


@pytest.mark.parametrize("category", SHAPE_CATEGORIES)
def test_vertex_counts(category):
    for mesh in [template_mesh(category), *random_instances(category)]:
        assert 500 <= len(mesh.vertices) <= 3200


@pytest.mark.parametrize("category", SHAPE_CATEGORIES)
def test_instances_vary_and_are_deterministic(category):
    meshes = random_instances(category)
    extents = np.array([m.extents for m in meshes])
    gaps = np.abs(extents[:, None] - extents[None]).max(-1)
    assert gaps[~np.eye(len(meshes), dtype=bool)].min() > 1e-3  # every pair differs
    again = make_instance(category, np.random.default_rng(SEEDS[0]))
    np.testing.assert_array_equal(again.vertices, meshes[0].vertices)
    np.testing.assert_array_equal(again.faces, meshes[0].faces)


@pytest.mark.parametrize("category", SHAPE_CATEGORIES)
def test_params_are_json_and_rebuild_the_same_instance(category):
    params = sample_params(category, np.random.default_rng(3))
    params = json.loads(json.dumps(params))
    assert set(params) == set(parameter_table(category))
    for name, spec in parameter_table(category).items():
        if isinstance(spec, Uniform):
            assert spec.lo <= params[name] <= spec.hi
        else:
            assert isinstance(spec, Choice) and params[name] in spec.options
    from_params = make_instance(category, params=params)
    from_rng = make_instance(category, np.random.default_rng(3))
    np.testing.assert_allclose(from_params.vertices, from_rng.vertices, atol=1e-12)


@pytest.mark.parametrize("category", SHAPE_CATEGORIES)
def test_template_is_the_typical_instance(category):
    np.testing.assert_array_equal(
        template_mesh(category).vertices,
        make_instance(category, params=typical_params(category)).vertices,
    )


def test_bad_requests_raise_config_errors():
    with pytest.raises(ConfigError, match="supported: bottle"):
        make_instance("teapot")
    with pytest.raises(ConfigError, match="unknown shape parameters"):
        make_instance("mug", params={"colour": 1.0})
    with pytest.raises(ConfigError, match="must be one of"):
        make_instance("mug", params={"handle_style": "oval"})
    partial = make_instance("mug", params={"handle_style": "round"})  # the rest typical
    assert not np.array_equal(partial.vertices, template_mesh("mug").vertices)


# --- per-category frame conventions ---------------------------------------------------------


@pytest.mark.parametrize("category", REVOLVED)
def test_bodies_of_revolution_are_symmetric_about_z(category):
    segments = {"bottle": 48, "bowl": 60, "can": 48}[category]
    for mesh in [template_mesh(category), *random_instances(category)[:3]]:
        v = mesh.vertices
        assert maps_onto_itself(v, rot_z(2 * np.pi / segments))
        assert maps_onto_itself(v, rot_z(2 * np.pi * 7 / segments))
        radius = np.linalg.norm(v[:, :2], axis=1)
        rings = np.round(np.stack([v[:, 2], radius], 1), 10)
        _, counts = np.unique(rings, axis=0, return_counts=True)
        assert set(counts) == {1, segments}  # full rings of equal radius, plus the poles
        assert (counts == 1).sum() == (radius < 1e-12).sum()
        assert np.abs(mesh.extents[0] - mesh.extents[1]) < 1e-9


def axis_vertices(mesh):
    """z of the pole vertices of a body of revolution (on its vertical axis)."""
    off_axis = np.linalg.norm(mesh.vertices[:, :2] - mesh.center[:2], axis=1)
    return np.sort(mesh.vertices[off_axis < 1e-12, 2])


def test_bottle_stands_upright_with_the_neck_on_top():
    for mesh in [template_mesh("bottle"), *random_instances("bottle")]:
        v, (lo, hi) = mesh.vertices, mesh.bounds[:, 2]
        assert mesh.extents[2] > 1.5 * mesh.extents[0]
        radius = np.linalg.norm(v[:, :2], axis=1)
        top = radius[v[:, 2] > hi - 0.1 * mesh.extents[2]].max()
        assert top < 0.6 * radius.max()  # narrow neck/cap at +z
        assert radius[v[:, 2] < lo + 0.3 * mesh.extents[2]].max() == pytest.approx(radius.max())


def test_bowl_is_wider_than_tall_and_opens_upwards():
    for mesh in [template_mesh("bowl"), *random_instances("bowl")]:
        assert mesh.extents[0] > 1.2 * mesh.extents[2]
        lo, hi = mesh.bounds[:, 2]
        poles = axis_vertices(mesh)  # outer bottom and inner floor
        assert len(poles) == 2 and poles[0] == pytest.approx(lo)
        assert poles[1] < lo + 0.3 * (hi - lo)  # the cavity is above the floor, open at +z
        v = mesh.vertices
        radius = np.linalg.norm(v[:, :2], axis=1)
        assert radius[v[:, 2] > hi - 1e-9].max() == pytest.approx(radius.max())  # rim is widest


def test_can_is_closed_at_both_ends_and_upright():
    for mesh in [template_mesh("can"), *random_instances("can")]:
        lo, hi = mesh.bounds[:, 2]
        poles = axis_vertices(mesh)
        assert len(poles) == 2
        assert poles[0] < lo + 0.012 and poles[1] > hi - 0.012  # bottom dome, recessed lid


def test_mug_handle_is_the_plus_x_extreme_in_the_y0_band():
    for seed in SEEDS:
        parts = make_parts("mug", np.random.default_rng(seed))
        body, handle = parts["body"], parts["handle"]
        assert handle.vertices[:, 0].max() > body.vertices[:, 0].max() + 0.01
        assert np.abs(handle.vertices[:, 1]).max() < 0.5 * body.extents[1] * 0.5
        # body axis is on -x: the body's centre in x is at minus half the handle overhang
        assert body.center[0] < -0.005 and abs(body.center[1]) < 1e-12
        lo, hi = body.bounds[:, 2]
        poles = axis_vertices(body)
        assert len(poles) == 2 and poles[1] < lo + 0.2 * (hi - lo)  # open at +z


def test_mug_is_mirror_symmetric_about_xz_only():
    mirror = np.diag([1.0, -1.0, 1.0])
    for mesh in [template_mesh("mug"), *random_instances("mug")]:
        assert maps_onto_itself(mesh.vertices, mirror)
        assert not maps_onto_itself(mesh.vertices, np.diag([-1.0, 1.0, 1.0]), tol=1e-3)


@pytest.mark.parametrize("angle", [70.0, 90.0, 110.0, 140.0])
def test_laptop_base_at_bottom_hinge_at_minus_x(angle):
    params = {**typical_params("laptop"), "open_angle": angle}
    parts = make_parts("laptop", params=params)
    base, screen = parts["base"], parts["screen"]
    whole = make_instance("laptop", params=params)
    assert base.bounds[0, 2] == pytest.approx(whole.bounds[0, 2])  # base on the table
    assert base.bounds[1, 0] == pytest.approx(whole.bounds[1, 0])  # front edge is the +x end
    assert screen.bounds[1, 2] == pytest.approx(whole.bounds[1, 2])  # screen rises highest
    assert screen.bounds[0, 2] > base.bounds[0, 2] + 0.5 * params["base_thickness"]
    low = screen.vertices[screen.vertices[:, 2] < screen.bounds[0, 2] + 0.01]
    assert np.abs(low[:, 0] - base.bounds[0, 0]).max() < 0.015  # hinge at the back (-x) edge
    top = screen.vertices[screen.vertices[:, 2] > screen.bounds[1, 2] - 1e-3]
    lean = np.rad2deg(np.arctan2(top[:, 2].mean() - low[:, 2].mean(), top[:, 0].mean()
                                 - low[:, 0].mean()))  # fmt: skip
    assert lean == pytest.approx(angle, abs=4.0)  # 90: upright, >90 leans back towards -x


def test_camera_lens_is_the_plus_x_extreme():
    for seed in SEEDS:
        parts = make_parts("camera", np.random.default_rng(seed))
        lens = parts.pop("lens")
        others = np.concatenate([p.vertices for p in parts.values()])
        assert lens.vertices[:, 0].max() > others[:, 0].max() + 0.002
        assert lens.bounds[0, 0] > parts["body"].bounds[0, 0]  # starts inside the body
        front = lens.vertices[lens.vertices[:, 0] > lens.bounds[1, 0] - 1e-9]
        yz = front[:, 1:] - front[:, 1:].mean(0)
        radii = np.unique(np.round(np.linalg.norm(yz, axis=1), 9))
        assert len(radii) <= 2 and radii.min() > 0.005  # front ring (and rim) about an x axis
        assert lens.extents[0] > 0.015


def test_box_x_is_the_longest_horizontal_edge_and_180_symmetric():
    for mesh in [template_mesh("box"), *random_instances("box")]:
        assert mesh.extents[0] >= mesh.extents[1]
        for axis in range(3):
            rot = -np.eye(3)
            rot[axis, axis] = 1.0
            assert maps_onto_itself(mesh.vertices, rot)


def test_load_category_template_centres_and_registers(tmp_path, monkeypatch):
    from ros_pose_estimation.core import categories
    from ros_pose_estimation.core.mesh_io import save_mesh
    from ros_pose_estimation.shapes import load_category_template

    monkeypatch.setattr(categories, "_REGISTRY", dict(categories._REGISTRY))  # no leaks
    mesh = template_mesh("can")
    save_mesh(TriMesh(mesh.vertices + [0.1, 0.0, 0.05], mesh.faces), tmp_path / "t.ply", scale=1e3)
    loaded = load_category_template(
        tmp_path / "t.ply", "jar", scale=1e-3, class_id=99, continuous_axes=[[0, 0, 1]]
    )
    assert np.abs(loaded.center).max() < 1e-9
    np.testing.assert_allclose(loaded.extents, mesh.extents, atol=1e-6)
    assert categories.get_category("jar").has_continuous_symmetry


@pytest.mark.parametrize("category", SHAPE_CATEGORIES)
def test_mirror_symmetric_categories_are_their_own_mirror_images(category):
    # Category.mirror_symmetric (training's mirror augmentation) holds for the generator's
    # instances: each one's surface maps onto itself across the xz plane (y -> -y); the camera,
    # with its grip and lens off to one side, does not
    from ros_pose_estimation.core.categories import get_category

    worst = []
    for seed in range(4):
        mesh = make_instance(category, np.random.default_rng(seed))
        d, _ = cKDTree(mesh.vertices).query(mesh.vertices * np.array([1.0, -1.0, 1.0]))
        worst.append(float(np.quantile(d, 0.99)) / float(np.max(mesh.extents)))
    if get_category(category).mirror_symmetric:
        assert max(worst) < 0.02, worst
    else:
        assert max(worst) > 0.05, worst
