"""Renderer geometry against closed-form answers: depth of planes and boxes, masks, visibility.

All scenes here are built by hand (box meshes, flat textures), so every expected number is
computed analytically, not by the renderer itself.
"""

import numpy as np
import open3d as o3d
import pytest

from offline_training.synthetic.render import render
from offline_training.synthetic.scene import (
    Light,
    Scene,
    SceneObject,
    Table,
    box_mesh,
    camera_on_sphere,
    sample_scene,
)
from offline_training.synthetic.scene import ObjectModel as Model
from offline_training.synthetic.sensor_noise import SensorNoise
from offline_training.synthetic.textures import TextureSpec
from ros_pose_estimation.core.camera import Intrinsics
from ros_pose_estimation.core.mesh import TriMesh

W, H = 160, 120
INTR = Intrinsics(fx=150.0, fy=140.0, cx=81.3, cy=58.7, width=W, height=H)  # off-centre on purpose
WHITE = TextureSpec("flat", [[1.0, 1.0, 1.0]], grain=0.0)


def translation(x, y, z):
    T = np.eye(4)
    T[:3, 3] = (x, y, z)
    return T


def box_object(half, T, obj_id=1):
    return SceneObject("box", obj_id, box_mesh(-np.asarray(half), np.asarray(half)), T, WHITE)


def pixel_dirs():
    """Camera-frame ray directions K^-1 [u, v, 1] of every pixel centre, [H x W x 3]."""
    v, u = np.mgrid[0:H, 0:W].astype(np.float64)
    return np.stack([(u - INTR.cx) / INTR.fx, (v - INTR.cy) / INTR.fy, np.ones_like(u)], -1)


def test_tilted_plane_depth_is_analytic():
    table = Table(size=(6.0, 6.0), texture=WHITE, center=(0.1, -0.2))
    scene = Scene(objects=[], table=table, lights=[Light(np.array([0, 0, 1.0]))])
    T_wc = camera_on_sphere(azimuth_deg=30, elevation_deg=35, distance=1.2, target=(0.1, 0.2, 0))
    res = render(scene, T_wc, INTR)
    # Ray from the camera centre c along R d hits z = 0 at s = -c_z / (R d)_z; depth = s d_z = s.
    world_dirs = pixel_dirs() @ T_wc[:3, :3].T
    s = -T_wc[2, 3] / world_dirs[..., 2]
    hits = T_wc[:3, 3] + s[..., None] * world_dirs
    on_table = (s > 0) & (np.abs(hits[..., 0] - 0.1) < 2.9) & (np.abs(hits[..., 1] + 0.2) < 2.9)
    assert on_table.sum() > 0.5 * W * H
    err = np.abs(res.depth[on_table] - s[on_table])
    assert err.max() < 1e-3  # float32 casting keeps it around 1e-6
    assert np.all(res.instance == -1)
    assert res.depth.dtype == np.float32 and res.depth.shape == (H, W)


def test_box_front_face_depth_and_silhouette():
    # Camera = world frame; a 0.2 m cube centred 1.0 m ahead, shifted off the optical axis.
    cx, cy, cz, h = 0.05, -0.03, 1.0, 0.1
    scene = Scene(objects=[box_object((h, h, h), translation(cx, cy, cz))])
    res = render(scene, np.eye(4), INTR)
    d = pixel_dirs()
    front = cz - h  # the face at z = 0.9 m
    x, y = d[..., 0] * front, d[..., 1] * front
    inside = (np.abs(x - cx) < h) & (np.abs(y - cy) < h)
    # Stay one pixel away from the edges, where the side faces could be hit instead.
    margin = 1.0 / INTR.fx * front
    core = (np.abs(x - cx) < h - margin) & (np.abs(y - cy) < h - margin)
    assert np.abs(res.depth[core] - front).max() < 1e-3
    assert np.all(res.instance[core] == 0)
    # The camera sits inside the box's x and y extent, so only the front face is visible and
    # the silhouette is exactly the set of pixels whose ray crosses the analytic square.
    assert np.count_nonzero((res.instance == 0) != inside) <= 2
    assert np.all(res.depth[~inside & (res.instance == -1)] == 0)
    assert res.visib_fract[0] == 1.0
    np.testing.assert_allclose(res.T_cam_obj[0], translation(cx, cy, cz))


def test_depth_is_z_not_ray_length():
    # A fronto-parallel wall: every pixel must read the same depth, also in the image corners.
    scene = Scene(objects=[box_object((5.0, 5.0, 0.01), translation(0, 0, 2.01))])
    res = render(scene, np.eye(4), INTR)
    assert np.all(res.instance == 0)
    np.testing.assert_allclose(res.depth, 2.0, atol=1e-5)


def _three_object_scene():
    rng = np.random.default_rng(3)
    models = {
        "box": [Model(7, "box", box_mesh([-0.1, -0.05, -0.04], [0.1, 0.05, 0.04]))],
        "can": [Model(4, "can", box_mesh([-0.03, -0.03, -0.06], [0.03, 0.03, 0.06]))],
    }
    scene = sample_scene(["box", "can"], rng, n_objects=3, models=models, spread=0.8)
    centre, _ = scene.center_and_radius()
    return scene, camera_on_sphere(20, 25, 0.7, centre)


def test_masks_boxes_and_depth_agree():
    scene, T_wc = _three_object_scene()
    res = render(scene, T_wc, INTR)
    d = pixel_dirs()
    for i, obj in enumerate(scene.objects):
        visib = res.instance == i
        assert visib.sum() == res.px_count_visib[i] > 0
        assert not np.any(visib & ~res.mask_full[i])  # visible part within the full silhouette
        assert res.mask_full[i].sum() <= res.px_count_all[i]
        assert res.visib_fract[i] == pytest.approx(res.px_count_visib[i] / res.px_count_all[i])
        vs, us = np.nonzero(visib)
        x, y, w, h = res.bbox_visib[i]  # BOP: w = x_max - x_min
        assert (x, y, x + w, y + h) == (us.min(), vs.min(), us.max(), vs.max())
        bx, by, bw, bh = res.bbox_obj[i]
        assert bx <= x and by <= y and bx + bw >= x + w and by + bh >= y + h
        # Visible pixels back-project onto the object's surface (in its canonical frame).
        pts_cam = d[visib] * res.depth[visib][:, None]
        T = res.T_cam_obj[i]
        pts_obj = (pts_cam - T[:3, 3]) @ T[:3, :3]
        rc = o3d.t.geometry.RaycastingScene()
        rc.add_triangles(obj.mesh.vertices.astype(np.float32), obj.mesh.faces.astype(np.uint32))
        dist = rc.compute_distance(pts_obj.astype(np.float32)).numpy()
        assert dist.max() < 1e-3
    assert np.all(res.depth[res.instance >= 0] > 0)


def test_visib_fract_lone_occluded_and_truncated():
    front = box_object((0.05, 0.05, 0.05), translation(0.0, 0.0, 0.8))
    back = box_object((0.05, 0.05, 0.05), translation(0.08, 0.0, 1.2), obj_id=2)
    lone = render(Scene(objects=[back]), np.eye(4), INTR)
    assert lone.visib_fract[0] == 1.0
    both = render(Scene(objects=[front, back]), np.eye(4), INTR)
    assert both.visib_fract[0] == 1.0
    assert 0.0 < both.visib_fract[1] < 0.9
    assert both.px_count_all[1] == lone.px_count_all[0]  # occlusion does not change the silhouette
    # Half outside the left image border: truncated silhouettes count, bbox_obj sticks out.
    u_left = -INTR.cx / INTR.fx * 1.0  # x of the left image border at z = 1 m
    cut = render(Scene(objects=[box_object((0.05, 0.05, 0.05), translation(u_left, 0, 1.0))]),
                 np.eye(4), INTR)
    assert 0.3 < cut.visib_fract[0] < 0.7
    assert cut.bbox_obj[0][0] < 0 and cut.bbox_visib[0][0] == 0


def test_fully_hidden_object_gets_bop_empty_boxes():
    front = box_object((0.2, 0.2, 0.05), translation(0.0, 0.0, 0.8))
    hidden = box_object((0.02, 0.02, 0.02), translation(0.0, 0.0, 1.5), obj_id=2)
    res = render(Scene(objects=[front, hidden]), np.eye(4), INTR)
    assert res.visib_fract[1] == 0.0 and res.px_count_all[1] > 0
    assert res.bbox_visib[1].tolist() == [-1, -1, -1, -1]


def test_lambert_shading_and_shadow():
    # A floating box above the table; light straight down; the table under it is in shadow.
    table = Table(size=(2.0, 2.0), texture=WHITE)
    box = box_object((0.05, 0.05, 0.05), translation(0, 0, 0.35))
    scene = Scene([box], table, lights=[Light(np.array([0, 0, 1.0]), intensity=0.6)], ambient=0.2)
    T_wc = camera_on_sphere(0, 30, 1.5, (0, 0, 0))

    def color_at(res, p):
        q = np.linalg.inv(T_wc) @ np.append(p, 1.0)
        u, v = INTR.fx * q[0] / q[2] + INTR.cx, INTR.fy * q[1] / q[2] + INTR.cy
        return res.rgb[int(round(v)), int(round(u))].astype(float)

    res = render(scene, T_wc, INTR, shadows=True)
    np.testing.assert_allclose(color_at(res, [0, 0, 0]), 0.2 * 255, atol=1.5)  # ambient only
    np.testing.assert_allclose(color_at(res, [0.3, 0.3, 0]), 0.8 * 255, atol=1.5)
    flat = render(scene, T_wc, INTR, shadows=False)
    np.testing.assert_allclose(color_at(flat, [0, 0, 0]), 0.8 * 255, atol=1.5)


def test_back_faces_are_shaded_like_front_faces():
    # Open meshes (mug and bowl insides) show back faces: a quad whose winding makes its
    # normal point away from the camera must still be lit by a light behind the camera.
    quad = TriMesh(np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0.0]]),
                   np.array([[0, 1, 2], [0, 2, 3]]))  # CCW seen from +z: normal +z, away
    assert quad.face_normals()[0][2] > 0
    obj = SceneObject("box", 1, quad, translation(0, 0, 1.0), WHITE)
    scene = Scene([obj], lights=[Light(np.array([0, 0, -1.0]), intensity=0.5)], ambient=0.1)
    res = render(scene, np.eye(4), INTR)
    np.testing.assert_allclose(res.rgb[H // 2, W // 2], 0.6 * 255, atol=1.0)


def test_sensor_noise_statistics_and_determinism():
    wall = box_object((5.0, 5.0, 0.01), translation(0, 0, 1.51))
    scene = Scene(objects=[wall], background=None)
    noise = SensorNoise(blob_rate=0.0)
    a = render(scene, np.eye(4), INTR, noise=noise, rng=np.random.default_rng(0))
    b = render(scene, np.eye(4), INTR, noise=noise, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(a.depth, b.depth)
    np.testing.assert_array_equal(a.rgb, b.rgb)
    valid = a.depth > 0
    residual = a.depth[valid] - 1.5
    assert residual.std() == pytest.approx(noise.depth_sigma(1.5), rel=0.2)
    np.testing.assert_array_equal(a.depth_clean, np.full((H, W), 1.5, np.float32))
    with_blobs = render(scene, np.eye(4), INTR, noise=SensorNoise(blob_rate=20.0),
                        rng=np.random.default_rng(1))
    assert 0 < (with_blobs.depth == 0).mean() < 0.9
    clean = render(scene, np.eye(4), INTR)
    assert with_blobs.visib_fract[0] == clean.visib_fract[0]  # ground truth ignores the noise
    assert with_blobs.px_count_valid[0] < with_blobs.px_count_all[0]
