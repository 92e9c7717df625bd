"""Rasteriser against independent references: a brute-force per-face z-buffer, the synthetic data
engine's Open3D ray caster, closed-form pixel coverage, and back-projection of depth."""

import ast
from pathlib import Path

import numpy as np
import pytest
import torch

from offline_training.synthetic.render import render
from offline_training.synthetic.scene import Scene, SceneObject
from offline_training.synthetic.textures import TextureSpec
from ros_pose_estimation.core.camera import Intrinsics
from ros_pose_estimation.core.errors import InputError
from ros_pose_estimation.core.rotations import axis_angle_to_matrix, look_at, random_rotations
from ros_pose_estimation.render import (
    interpolate,
    project_vertices,
    rasterize,
    transform_vertices,
)
from ros_pose_estimation.shapes import make_instance
from ros_pose_estimation.shapes.primitives import box, icosphere

F64 = torch.float64


def as_tensors(mesh, dtype=F64):
    return torch.tensor(mesh.vertices, dtype=dtype), torch.tensor(mesh.faces)


def camera(h, w, f=1.3, dtype=F64):
    """A slightly off-centre pinhole camera of an ``h x w`` image."""
    return torch.tensor([[f * w, 0, w / 2 - 0.3], [0, f * w, h / 2 + 0.2], [0, 0, 1]], dtype=dtype)


def poses(n, seed, dist=0.5, dtype=F64):
    R = torch.tensor(random_rotations(n, seed), dtype=dtype)
    rng = np.random.default_rng(seed)
    t = torch.tensor(rng.uniform([-0.03, -0.03, dist - 0.1], [0.03, 0.03, dist + 0.1], (n, 3)))
    return R, t.to(dtype)


def brute_force(uv, z, faces, h, w, cull, z_near=1e-3):
    """Per-pose, per-face loop over every pixel centre (float64): face index and depth."""
    b = uv.shape[0]
    face_map = torch.full((b, h, w), -1, dtype=torch.int64)
    depth = torch.full((b, h, w), float("inf"), dtype=F64)
    yy, xx = torch.meshgrid(torch.arange(h, dtype=F64), torch.arange(w, dtype=F64), indexing="ij")
    for i in range(b):
        p, fz = uv[i][faces].double(), z[i][faces].double()
        for k in range(len(faces)):
            (x0, y0), (x1, y1), (x2, y2) = p[k].tolist()
            area = (x1 - x0) * (y2 - y0) - (y1 - y0) * (x2 - x0)
            if area == 0 or (cull and area >= 0) or bool((fz[k] <= z_near).any()):
                continue
            l0 = ((x1 - xx) * (y2 - yy) - (x2 - xx) * (y1 - yy)) / area
            l1 = ((x2 - xx) * (y0 - yy) - (x0 - xx) * (y2 - yy)) / area
            l2 = 1 - l0 - l1
            d = 1 / (l0 / fz[k, 0] + l1 / fz[k, 1] + l2 / fz[k, 2])
            upd = (l0 >= 0) & (l1 >= 0) & (l2 >= 0) & (d < depth[i])
            depth[i][upd], face_map[i][upd] = d[upd], k
    return face_map, torch.where(torch.isinf(depth), 0.0, depth)


BOX = box([0.2, 0.1, 0.15], max_step=0.05)  # big faces: the box-enumeration path
ICO2, ICO1 = icosphere(2, 0.1), icosphere(1, 0.12)


@pytest.mark.parametrize(
    "mesh, size, max_fragments, dtype, cull",
    [
        (BOX, (24, 32), 1 << 20, torch.float32, False),
        (BOX, (24, 32), 1 << 20, F64, True),
        (ICO2, (40, 30), 1 << 20, torch.float32, True),
        (ICO2, (40, 30), 1 << 20, F64, False),
        (ICO1, (120, 96), 500, F64, False),  # many small chunks of poses and fragments
        (ICO1, (120, 96), 500, torch.float32, True),
    ],
)
def test_matches_brute_force_zbuffer(mesh, size, max_fragments, dtype, cull):
    verts, faces = as_tensors(mesh)
    R, t = poses(3, seed=1)
    K = camera(*size)
    uv, z = project_vertices(verts, K, R, t)
    ref_face, ref_depth = brute_force(uv, z, faces, *size, cull)
    frag = rasterize(
        verts.to(dtype),
        faces,
        K.to(dtype),
        R.to(dtype),
        t.to(dtype),
        size,
        cull_backfaces=cull,
        max_fragments=max_fragments,
    )
    assert (ref_face >= 0).sum() > 0.1 * ref_face.numel()
    if dtype == F64:
        assert torch.equal(frag.pix_to_face, ref_face)
        torch.testing.assert_close(frag.depth, ref_depth, atol=1e-12, rtol=0)
    else:  # float32 may pick the other face at a pixel centre (almost) on a shared edge
        differ = frag.pix_to_face != ref_face
        assert differ.sum() <= 0.01 * (ref_face >= 0).sum()
        assert (frag.mask != (ref_face >= 0)).sum() <= 2
        torch.testing.assert_close(frag.depth.double(), ref_depth, atol=1e-5, rtol=0)


def test_culling_keeps_the_visible_surface_of_a_closed_mesh():
    verts, faces = as_tensors(icosphere(2, 0.1))
    R, t = poses(4, seed=2)
    K = camera(32, 32)
    full = rasterize(verts, faces, K, R, t, (32, 32))
    culled = rasterize(verts, faces, K, R, t, (32, 32), cull_backfaces=True)
    assert torch.equal(full.pix_to_face, culled.pix_to_face)


def test_pixel_centre_convention():
    """A fronto-parallel square spanning u, v in [2.5, 5.7] covers pixel centres 3, 4, 5."""
    K = torch.tensor([[100.0, 0, 4.0], [0, 100.0, 4.0], [0, 0, 1]], dtype=F64)
    lo, hi = (2.5 - 4.0) / 100.0, (5.7 - 4.0) / 100.0  # at z = 1 m
    verts = torch.tensor([[lo, lo, 0], [hi, lo, 0], [hi, hi, 0], [lo, hi, 0]], dtype=F64)
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]])
    frag = rasterize(
        verts,
        faces,
        K,
        torch.eye(3, dtype=F64)[None],
        torch.tensor([[0, 0, 1.0]], dtype=F64),
        (10, 10),
    )
    expected = torch.zeros(10, 10, dtype=torch.bool)
    expected[3:6, 3:6] = True
    assert torch.equal(frag.mask[0], expected)
    torch.testing.assert_close(frag.depth[0][expected], torch.ones(9, dtype=F64))


def test_barycentrics_reproduce_backprojected_points():
    verts, faces = as_tensors(icosphere(2, 0.1))
    R, t = poses(3, seed=3)
    h, w = 48, 64
    K = camera(h, w)
    frag = rasterize(verts, faces, K, R, t, (h, w))
    mask = frag.mask
    torch.testing.assert_close(frag.bary.sum(-1)[mask], torch.ones(int(mask.sum()), dtype=F64))
    assert bool((frag.bary[mask] >= -1e-9).all())
    cam = transform_vertices(verts, R, t)  # [B x V x 3] camera-frame vertices
    points = interpolate(frag, cam).permute(0, 2, 3, 1)  # [B x H x W x 3]
    v, u = torch.meshgrid(torch.arange(h, dtype=F64), torch.arange(w, dtype=F64), indexing="ij")
    rays = torch.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], torch.ones_like(u)], -1)
    backprojected = rays * frag.depth[..., None]
    torch.testing.assert_close(points[mask], backprojected[mask], atol=1e-12, rtol=0)
    assert bool((frag.depth[~mask] == 0).all())


def test_batch_equals_one_by_one():
    verts, faces = as_tensors(icosphere(2, 0.1), torch.float32)
    R, t = poses(5, seed=4, dtype=torch.float32)
    K = camera(32, 40, dtype=torch.float32)
    Ks = torch.stack(
        [K * torch.tensor([[s, 1, 1], [1, s, 1], [1, 1, 1]]) for s in (0.8, 0.9, 1.0, 1.1, 1.2)]
    )
    scale = torch.linspace(0.8, 1.2, 5)[:, None, None]
    batched_verts = verts[None] * scale  # per-pose (deformed) vertices
    together = rasterize(batched_verts, faces, Ks, R, t, (32, 40))
    for i in range(5):
        alone = rasterize(batched_verts[i], faces, Ks[i], R[i : i + 1], t[i : i + 1], (32, 40))
        assert torch.equal(together.pix_to_face[i], alone.pix_to_face[0])
        torch.testing.assert_close(together.depth[i], alone.depth[0])
        torch.testing.assert_close(together.bary[i], alone.bary[0])


@pytest.mark.parametrize("category", ["mug", "box"])
def test_silhouette_and_depth_match_open3d_raycaster(category):
    mesh = make_instance(category)
    intr = Intrinsics(fx=150.0, fy=140.0, cx=81.3, cy=58.7, width=160, height=120)
    R, tr = look_at(np.array([0.16, -0.19, 0.13]), target=np.array([0.005, 0.01, -0.01]))
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, tr
    white = TextureSpec("flat", [[1.0, 1.0, 1.0]], grain=0.0)
    scene = Scene(objects=[SceneObject(category, 1, mesh, T, white)])
    ref = render(scene, np.eye(4), intr, shadows=False)  # camera at the world origin
    verts, faces = as_tensors(mesh, torch.float32)
    frag = rasterize(
        verts,
        faces,
        torch.tensor(intr.K, dtype=torch.float32),
        torch.tensor(R[None], dtype=torch.float32),
        torch.tensor(tr[None], dtype=torch.float32),
        (120, 160),
    )
    ours, theirs = frag.mask[0].numpy(), ref.mask_full[0]
    assert theirs.sum() > 2000
    iou = (ours & theirs).sum() / (ours | theirs).sum()
    assert iou > 0.99
    # every differing pixel touches the reference silhouette's boundary
    pad = np.pad(theirs, 1)
    shifts = [pad[1 + dy : 121 + dy, 1 + dx : 161 + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    boundary = np.any(shifts, axis=0) & ~np.all(shifts, axis=0)
    assert not np.any((ours != theirs) & ~boundary)
    interior = np.all(shifts, axis=0)
    err = np.abs(frag.depth[0].numpy() - ref.depth_clean)[interior]
    assert err.max() < 1e-3


def test_near_plane_faces_are_dropped():
    verts, faces = as_tensors(box([0.2, 0.2, 0.2], max_step=0.05))
    K = camera(32, 32)
    t = torch.tensor([[0.0, 0.0, 0.05]], dtype=F64)  # the camera is inside the box
    frag = rasterize(verts, faces, K, torch.eye(3, dtype=F64)[None], t, (32, 32), z_near=0.01)
    uv, z = project_vertices(verts, K, torch.eye(3, dtype=F64)[None], t)
    drawn = frag.pix_to_face[frag.mask].unique()
    assert bool((z[0][faces[drawn]] >= 0.01).all())  # only faces fully beyond z_near
    assert frag.mask.any()  # the far wall is still drawn


def test_nothing_in_view_and_empty_mesh():
    verts, faces = as_tensors(icosphere(1, 0.1))
    K = camera(16, 16)
    behind = rasterize(
        verts,
        faces,
        K,
        torch.eye(3, dtype=F64)[None],
        torch.tensor([[0.0, 0, -1.0]], dtype=F64),
        (16, 16),
    )
    aside = rasterize(
        verts,
        faces,
        K,
        torch.eye(3, dtype=F64)[None],
        torch.tensor([[5.0, 0, 1.0]], dtype=F64),
        (16, 16),
    )
    empty = rasterize(
        verts,
        faces[:0],
        K,
        torch.eye(3, dtype=F64)[None],
        torch.tensor([[0.0, 0, 1.0]], dtype=F64),
        (16, 16),
    )
    for frag in (behind, aside, empty):
        assert not frag.mask.any() and frag.fg_index.numel() == 0
        assert bool((frag.depth == 0).all())


def test_gradcheck_depth_wrt_pose():
    verts, faces = as_tensors(icosphere(1, 0.1))
    K = camera(10, 12)
    rotvec = torch.tensor([[0.3, -0.5, 0.2]], dtype=F64, requires_grad=True)
    trans = torch.tensor([[0.011, -0.007, 0.45]], dtype=F64, requires_grad=True)

    def depth(rv, tr):
        return rasterize(verts, faces, K, axis_angle_to_matrix(rv), tr, (10, 12)).depth

    base = rasterize(verts, faces, K, axis_angle_to_matrix(rotvec), trans, (10, 12)).pix_to_face
    for i in range(6):  # no pixel centre changes face under 10x the finite-difference step
        for sign in (-1, 1):
            d = torch.zeros(6, dtype=F64)
            d[i] = sign * 1e-5
            moved = rasterize(
                verts, faces, K, axis_angle_to_matrix(rotvec + d[:3]), trans + d[3:], (10, 12)
            ).pix_to_face
            assert torch.equal(moved, base)
    assert base.ge(0).sum() > 20
    assert torch.autograd.gradcheck(depth, (rotvec, trans), eps=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(vertices=torch.zeros(5, 2)), r"vertices: expected \[\? x V x 3\]"),
        (
            dict(R=torch.eye(3)[None].repeat(2, 1, 1), t=torch.zeros(3, 3)),
            r"t: expected \[2 x 3\]",
        ),
        (dict(faces=torch.zeros(4, 3)), "faces: expected an integer"),
        (dict(faces=torch.tensor([[0, 1, 9]])), r"faces: expected vertex indices in \[0, 3\]"),
        (dict(K=torch.eye(3, dtype=F64)), "K: expected float32"),
        (dict(K=torch.zeros(2, 3, 3)), "K: expected batch size 1 or 1"),
        (dict(image_size=(0, 5)), "image_size: expected positive"),
        (dict(vertices=np.zeros((4, 3))), "vertices: expected a torch.Tensor"),
    ],
)
def test_bad_inputs_raise_input_error(kwargs, match):
    args = dict(
        vertices=torch.rand(4, 3),
        faces=torch.tensor([[0, 1, 2], [0, 2, 3]]),
        K=torch.eye(3),
        R=torch.eye(3)[None],
        t=torch.tensor([[0, 0, 1.0]]),
        image_size=(8, 8),
    )
    args.update(kwargs)
    with pytest.raises(InputError, match=match):
        rasterize(
            args.pop("vertices"),
            args.pop("faces"),
            args.pop("K"),
            args.pop("R"),
            args.pop("t"),
            args.pop("image_size"),
        )


def test_render_package_imports_neither_ros_nor_training_code():
    """Static check (no subprocess): the renderer is core code, usable without ROS."""
    package = Path(__file__).resolve().parents[2] / "ros_pose_estimation" / "render"
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert not name.startswith(("rclpy", "offline_training")), (path.name, name)
