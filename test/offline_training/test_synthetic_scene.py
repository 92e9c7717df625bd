"""Scene sampling (objects resting on the table, no overlaps), cameras, textures, backgrounds."""

import numpy as np
import pytest

from offline_training.synthetic.backgrounds import (
    BACKGROUND_KINDS,
    BackgroundSpec,
    make_background,
)
from offline_training.synthetic.noise import value_noise
from offline_training.synthetic.scene import (
    camera_on_sphere,
    fit_distance,
    look_at,
    sample_camera_pose,
    sample_scene,
)
from offline_training.synthetic.textures import KINDS, sample_texture, surface_color
from ros_pose_estimation.core.categories import UnknownCategoryError


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_objects_rest_on_table_upright_without_overlap(seed):
    rng = np.random.default_rng(seed)
    scene = sample_scene(["mug", "bottle", "laptop", "box"], rng, n_objects=4)
    footprints = []
    for obj in scene.objects:
        T = obj.T_world_obj
        np.testing.assert_allclose(T[:3, 2], [0, 0, 1], atol=1e-12)  # canonical +z = world up
        verts = obj.mesh.transformed(T).vertices
        assert verts[:, 2].min() == pytest.approx(scene.table.height, abs=1e-9)
        radius = np.linalg.norm(obj.mesh.vertices[:, :2], axis=1).max()
        footprints.append((T[:2, 3], radius))
        lo = np.array(scene.table.center) - np.array(scene.table.size) / 2
        hi = np.array(scene.table.center) + np.array(scene.table.size) / 2
        assert np.all(verts[:, :2] > lo) and np.all(verts[:, :2] < hi)
    for i in range(len(footprints)):
        for j in range(i):
            (ci, ri), (cj, rj) = footprints[i], footprints[j]
            assert np.linalg.norm(ci - cj) >= ri + rj
    assert 1 <= len(scene.lights) <= 3
    assert all(np.isclose(np.linalg.norm(lt.direction), 1.0) and lt.direction[2] > 0
               for lt in scene.lights)


def test_sample_scene_is_deterministic_and_checks_categories():
    a = sample_scene(["can", "bowl"], np.random.default_rng(5), n_objects=3)
    b = sample_scene(["can", "bowl"], np.random.default_rng(5), n_objects=3)
    for oa, ob in zip(a.objects, b.objects, strict=True):
        np.testing.assert_array_equal(oa.T_world_obj, ob.T_world_obj)
        np.testing.assert_array_equal(oa.mesh.vertices, ob.mesh.vertices)
        assert oa.texture.seed == ob.texture.seed
    with pytest.raises(UnknownCategoryError, match="mug"):
        sample_scene(["teapot"], np.random.default_rng(0))


def test_given_instances_are_the_same_objects_placed_anew():
    """``instances``: the same shapes, ids and textures, in another arrangement (the objects of
    a second recording); an empty list is refused."""
    own = sample_scene(["mug"], np.random.default_rng(21), n_objects=3)
    again = sample_scene(["bottle"], np.random.default_rng(221), instances=own.objects)
    assert len(again.objects) == 3
    for a, b in zip(own.objects, again.objects, strict=True):
        assert b.category == "mug" and b.obj_id == a.obj_id and b.texture is a.texture
        np.testing.assert_array_equal(a.mesh.vertices, b.mesh.vertices)
        assert not np.allclose(a.T_world_obj, b.T_world_obj)
        assert b.T_world_obj[2, 3] == pytest.approx(a.T_world_obj[2, 3])  # still on the table
    with pytest.raises(ValueError, match="at least one"):
        sample_scene(["mug"], np.random.default_rng(0), instances=[])


def test_look_at_is_an_optical_frame_pointing_at_the_target():
    eye, target = np.array([1.0, -0.5, 0.8]), np.array([0.1, 0.2, 0.05])
    T = look_at(eye, target)
    R = T[:3, :3]
    np.testing.assert_allclose(R.T @ R, np.eye(3), atol=1e-12)
    assert np.linalg.det(R) == pytest.approx(1.0)
    z = (target - eye) / np.linalg.norm(target - eye)
    np.testing.assert_allclose(R[:, 2], z, atol=1e-12)  # optical axis at the target
    assert R[2, 0] == pytest.approx(0.0, abs=1e-12)  # image x stays horizontal (no roll)
    assert R[2, 1] < 0  # image y (down) points down in the world
    top = camera_on_sphere(0.0, 90.0, 1.0, target)  # straight down: no degeneracy
    np.testing.assert_allclose(top[:3, 2], [0, 0, -1], atol=1e-12)
    np.testing.assert_allclose(top[:3, 3], target + [0, 0, 1.0], atol=1e-12)


def test_camera_on_sphere_and_sampling_ranges():
    T = camera_on_sphere(90.0, 30.0, 2.0, (0, 0, 0), roll_deg=15.0)
    np.testing.assert_allclose(T[:3, 3], [0, 2 * np.cos(np.pi / 6), 1.0], atol=1e-12)
    np.testing.assert_allclose(T[:3, 2], -T[:3, 3] / 2.0, atol=1e-12)  # roll keeps the axis
    rng = np.random.default_rng(0)
    for _ in range(20):
        T = sample_camera_pose(rng, (0, 0, 0), elevation_deg=(20, 40), distance=(0.5, 0.6))
        d = np.linalg.norm(T[:3, 3])
        assert 0.5 <= d <= 0.6
        assert np.sin(np.deg2rad(20)) - 1e-9 <= T[2, 3] / d <= np.sin(np.deg2rad(40)) + 1e-9
    # A sphere of radius r at fit_distance spans `fill` of the shorter side (small angles).
    dist = fit_distance(0.01, 500.0, 500.0, 640, 480, fill=0.5)
    assert 2 * 0.01 / dist * 500.0 == pytest.approx(0.5 * 480)


def test_textures_are_seeded_functions_of_the_surface_point():
    rng = np.random.default_rng(0)
    pts = rng.normal(scale=0.05, size=(500, 3))
    nrm = pts / np.linalg.norm(pts, axis=1, keepdims=True)
    seen = set()
    for kind in KINDS:
        spec = sample_texture(np.random.default_rng(1), size=0.2, kinds=(kind,))
        assert spec.kind == kind
        rgb = surface_color(spec, pts, nrm)
        assert rgb.shape == (500, 3) and rgb.dtype == np.float32
        assert rgb.min() >= 0.0 and rgb.max() <= 1.0
        np.testing.assert_array_equal(rgb, surface_color(spec, pts, nrm))  # pure function
        # Evaluating points one subset at a time gives the same colours (no hidden state).
        np.testing.assert_array_equal(rgb[:100], surface_color(spec, pts[:100], nrm[:100]))
        seen.add(kind)
        if kind != "flat":
            assert rgb.std(0).max() > 0.01  # a pattern, not a constant
    assert seen == set(KINDS)
    a = sample_texture(np.random.default_rng(2))
    b = sample_texture(np.random.default_rng(3))
    assert not np.array_equal(surface_color(a, pts, nrm), surface_color(b, pts, nrm))


def test_value_noise_is_smooth_and_in_range():
    x = np.stack([np.linspace(0, 7, 7001), np.full(7001, 0.3), np.full(7001, 2.7)], 1)
    v = value_noise(x, seed=3)
    assert 0.0 <= v.min() and v.max() <= 1.0
    assert np.abs(np.diff(v)).max() < 0.01  # continuous across lattice cells
    assert v.std() > 0.05


@pytest.mark.parametrize("kind", BACKGROUND_KINDS)
def test_backgrounds_are_deterministic_images(kind):
    spec = BackgroundSpec(kind, seed=11)
    img = make_background(spec, 64, 48)
    assert img.shape == (48, 64, 3) and img.dtype == np.uint8
    np.testing.assert_array_equal(img, make_background(spec, 64, 48))
    assert img.reshape(-1, 3).std(0).max() > 1.0  # not a flat colour
