"""CPU ray-casting renderer for synthetic scenes (Open3D ``RaycastingScene``, Embree inside).

Conventions (pinned by ``test/offline_training/test_render.py``):

* camera: OpenCV optical frame (x right, y down, z forward), pose given as ``T_world_cam``;
* pixels: pixel ``(u, v)`` (column, row) has its centre at the integer coordinates ``(u, v)``,
  so its ray is ``K^-1 [u, v, 1]^T`` (the convention of OpenCV, ROS ``CameraInfo`` and BOP);
* depth: the z coordinate in the camera frame (not the ray length), float32 metres,
  0 where a pixel has no return;
* instance image: index into ``scene.objects``, -1 for the table and the background;
* 2D boxes: BOP ``(x, y, w, h)`` with ``w = x_max - x_min`` (bop_toolkit ``calc_2d_bbox``),
  ``[-1, -1, -1, -1]`` for an object with no visible pixel. ``bbox_obj`` covers the whole
  silhouette, also the part outside the image (so ``x`` may be negative).

Rays are cast in the camera frame with direction ``K^-1 [u, v, 1]``: Open3D measures the hit
distance in units of the direction's length, so the hit "distance" *is* the depth z.
Shading is Lambertian with directional lights, ambient light and ray-cast shadows, plus a
Blinn-Phong highlight on objects that carry a :class:`.gloss.Gloss` (:mod:`.gloss`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import open3d as o3d

from .backgrounds import BackgroundSpec, make_background
from .gloss import highlight
from .scene import Scene
from .sensor_noise import SensorNoise, apply_depth_noise, apply_rgb_noise
from .textures import surface_color

_NO_HIT = np.iinfo(np.uint32).max  # Open3D's INVALID_ID


@dataclass
class RenderResult:
    """One rendered RGB-D frame with its ground truth (N = number of scene objects).

    Attributes:
        rgb: ``[H x W x 3]`` uint8.
        depth: ``[H x W]`` float32 depth z (m), 0 = no return (noisy when noise was applied).
        depth_clean: ``[H x W]`` float32 noise-free depth (m).
        instance: ``[H x W]`` int32 object index, -1 for table/background.
        mask_full: ``[N x H x W]`` bool silhouettes of each object rendered alone (in-image part).
        T_cam_obj: ``[N x 4 x 4]`` object poses in the camera frame (m).
        K: ``[3 x 3]`` camera matrix.
        px_count_all: ``[N]`` silhouette pixels, including the part outside the image.
        px_count_visib: ``[N]`` visible pixels (``instance == i``).
        px_count_valid: ``[N]`` in-image silhouette pixels with a depth return.
        visib_fract: ``[N]`` ``px_count_visib / px_count_all`` (0 if the object is not imaged).
        bbox_obj: ``[N x 4]`` int BOP box of the whole silhouette.
        bbox_visib: ``[N x 4]`` int BOP box of the visible pixels.
    """

    rgb: np.ndarray
    depth: np.ndarray
    depth_clean: np.ndarray
    instance: np.ndarray
    mask_full: np.ndarray
    T_cam_obj: np.ndarray
    K: np.ndarray
    px_count_all: np.ndarray
    px_count_visib: np.ndarray
    px_count_valid: np.ndarray
    visib_fract: np.ndarray
    bbox_obj: np.ndarray
    bbox_visib: np.ndarray


def camera_matrix(intrinsics) -> tuple[np.ndarray, int, int]:
    """``(K [3 x 3], width, height)`` from an object with ``fx, fy, cx, cy, width, height``."""
    i = intrinsics
    K = np.array([[i.fx, 0.0, i.cx], [0.0, i.fy, i.cy], [0.0, 0.0, 1.0]])
    return K, int(i.width), int(i.height)


def pixel_rays(K: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``[..., 6]`` float32 camera-frame rays (origin 0, direction ``K^-1 [u, v, 1]``)."""
    dx = (u - K[0, 2]) / K[0, 0]
    dy = (v - K[1, 2]) / K[1, 1]
    zero = np.zeros_like(dx)
    return np.stack([zero, zero, zero, dx, dy, np.ones_like(dx)], axis=-1).astype(np.float32)


def bop_bbox(us: np.ndarray, vs: np.ndarray) -> np.ndarray:
    """BOP ``[x, y, w, h]`` (``w = max - min``) of pixel coordinates; -1s when empty."""
    if len(us) == 0:
        return np.full(4, -1, dtype=np.int64)
    return np.array([us.min(), vs.min(), us.max() - us.min(), vs.max() - vs.min()], np.int64)


def _mul(points: np.ndarray, M: np.ndarray) -> np.ndarray:
    """``points [N x 3] @ M [3 x 3]`` without BLAS: multithreaded BLAS on tall-skinny products
    is ~1 ms when idle but can take 100x longer on a busy machine (thread oversubscription)."""
    return np.einsum("ij,jk->ik", points, M)


def _raycaster(meshes: list) -> o3d.t.geometry.RaycastingScene:
    rc = o3d.t.geometry.RaycastingScene()
    for m in meshes:
        rc.add_triangles(m.vertices.astype(np.float32), m.faces.astype(np.uint32))
    return rc


def _background(bg, width: int, height: int) -> np.ndarray:
    if bg is None:
        return np.zeros((height, width, 3), np.uint8)
    if isinstance(bg, BackgroundSpec):
        return make_background(bg, width, height)
    img = np.asarray(bg, dtype=np.uint8)
    if img.shape[:2] != (height, width):
        img = cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)
    return img


def _silhouette(mesh_cam, K: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates ``(u [M], v [M])`` hit by ``mesh_cam`` alone, searched in the image
    padded by one image size on every side (BOP counts truncated silhouette pixels too)."""
    lo_u, hi_u, lo_v, hi_v = -width, 2 * width - 1, -height, 2 * height - 1
    p = mesh_cam.vertices
    if (p[:, 2] > 1e-6).all():  # all in front: the projected vertices bound the silhouette
        uv = p[:, :2] / p[:, 2:] * K[[0, 1], [0, 1]] + K[:2, 2]
        lo_u = max(lo_u, int(np.floor(uv[:, 0].min())))
        lo_v = max(lo_v, int(np.floor(uv[:, 1].min())))
        hi_u = min(hi_u, int(np.ceil(uv[:, 0].max())))
        hi_v = min(hi_v, int(np.ceil(uv[:, 1].max())))
    if hi_u < lo_u or hi_v < lo_v:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    v, u = np.mgrid[lo_v : hi_v + 1, lo_u : hi_u + 1]
    hit = np.isfinite(_raycaster([mesh_cam]).cast_rays(pixel_rays(K, u, v))["t_hit"].numpy())
    return u[hit], v[hit]


def _shade(scene: Scene, rc, poses, T_world_cam, pts, nrm, gid, shadows: bool) -> np.ndarray:
    """Colour ``[M x 3]`` (0-1, before clipping) of hit points ``pts`` ``[M x 3]`` (camera frame,
    m) with camera-facing unit normals ``nrm`` ``[M x 3]`` on geometries ``gid`` ``[M]``:
    Lambertian, plus the highlight of glossy objects."""
    n_obj = len(scene.objects)
    glossy = [(i, o.gloss) for i, o in enumerate(scene.objects) if o.gloss is not None]
    shine = np.zeros((len(pts), 3), np.float32)
    if glossy:
        view = -pts / np.maximum(np.linalg.norm(pts, axis=1, keepdims=True), 1e-12)
    albedo = np.zeros((len(pts), 3), np.float32)
    for i, o in enumerate(scene.objects):  # textures live in the canonical object frame
        sel = gid == i
        R, tr = poses[i][:3, :3], poses[i][:3, 3]
        albedo[sel] = surface_color(o.texture, _mul(pts[sel] - tr, R), _mul(nrm[sel], R))
    if scene.table is not None:  # ... and the table's in the world frame
        sel = gid == n_obj
        R, tr = T_world_cam[:3, :3], T_world_cam[:3, 3]
        world_pts, world_nrm = _mul(pts[sel], R.T) + tr, _mul(nrm[sel], R.T)
        albedo[sel] = surface_color(scene.table.texture, world_pts, world_nrm)
    light = np.full((len(pts), 3), float(scene.ambient), dtype=np.float32)
    sources = [(lt, True) for lt in scene.lights]
    sources += [(lt, False) for lt in scene.reflected] if glossy else []
    for lt, diffuse in sources:
        d = T_world_cam[:3, :3].T @ np.asarray(lt.direction, dtype=np.float64)
        lam = np.clip(np.einsum("ij,j->i", nrm, d), 0.0, None).astype(np.float32)
        lit = np.flatnonzero(lam > 0)  # only surfaces facing the light can be shadowed
        if shadows and len(lit):
            p, n = pts[lit], nrm[lit]
            orig = p + n * (2e-4 + 2e-4 * p[:, 2:])  # offset against self-shadowing
            srays = np.concatenate([orig, np.broadcast_to(d, orig.shape)], 1).astype(np.float32)
            lam[lit[rc.test_occlusions(o3d.core.Tensor(srays)).numpy()]] = 0.0
        if diffuse:
            light += (lt.intensity * lam)[:, None] * np.asarray(lt.color, dtype=np.float32)
        for i, gloss in glossy:
            sel = np.flatnonzero((gid == i) & (lam > 0))  # lit and not in shadow
            spec = gloss.strength * lt.intensity * highlight(nrm[sel], view[sel], d,
                                                             gloss.shininess)  # fmt: skip
            shine[sel] += spec[:, None].astype(np.float32) * np.asarray(lt.color, np.float32)
    return albedo * light + shine


def _object_gt(meshes, instance, depth, K, width: int, height: int) -> dict:
    """Per-object masks, pixel counts and BOP boxes (see :class:`RenderResult`)."""
    n_obj = int(len(meshes))
    mask_full = np.zeros((n_obj, height, width), dtype=bool)
    counts = np.zeros((3, n_obj), np.int64)  # all, visib, valid
    bbox_obj = np.full((n_obj, 4), -1, np.int64)
    bbox_visib = np.full((n_obj, 4), -1, np.int64)
    for i, mesh in enumerate(meshes):
        su, sv = _silhouette(mesh, K, width, height)
        inside = (su >= 0) & (su < width) & (sv >= 0) & (sv < height)
        mask_full[i, sv[inside], su[inside]] = True
        vv, vu = np.nonzero(instance == i)
        counts[:, i] = len(su), len(vu), np.count_nonzero(mask_full[i] & (depth > 0))
        if len(vu):  # as bop_toolkit: no boxes for an object without visible pixels
            bbox_obj[i], bbox_visib[i] = bop_bbox(su, sv), bop_bbox(vu, vv)
    return dict(
        mask_full=mask_full, px_count_all=counts[0], px_count_visib=counts[1],
        px_count_valid=counts[2], bbox_obj=bbox_obj, bbox_visib=bbox_visib,
        visib_fract=np.where(counts[0] > 0, counts[1] / np.maximum(counts[0], 1), 0.0),
    )  # fmt: skip


def render(
    scene: Scene,
    T_world_cam: np.ndarray,
    intrinsics,
    noise: SensorNoise | None = None,
    rng: np.random.Generator | None = None,
    shadows: bool = True,
) -> RenderResult:
    """Render ``scene`` seen from ``T_world_cam`` ``[4 x 4]`` with pinhole ``intrinsics``.

    Args:
        scene: the scene.
        T_world_cam: camera pose (optical frame) in the world (m).
        intrinsics: any object with ``fx, fy, cx, cy`` (px) and ``width, height`` (px), e.g.
            ``ros_pose_estimation.core.camera.Intrinsics``.
        noise: sensor noise model, or None for clean images (ground truth is never noisy,
            except ``px_count_valid``, which counts returns in the noisy depth).
        rng: generator for the noise (a fresh unseeded one when None).
        shadows: cast shadow rays towards each light.
    """
    K, width, height = camera_matrix(intrinsics)
    T_world_cam = np.asarray(T_world_cam, dtype=np.float64)
    T_cam_world = np.linalg.inv(T_world_cam)
    poses = np.array([T_cam_world @ o.T_world_obj for o in scene.objects]).reshape(-1, 4, 4)
    meshes = [o.mesh.transformed(T) for o, T in zip(scene.objects, poses, strict=True)]
    table = [] if scene.table is None else [scene.table.mesh().transformed(T_cam_world)]
    rc = _raycaster(meshes + table)
    v, u = np.mgrid[0:height, 0:width]
    rays = pixel_rays(K, u, v)
    hits = rc.cast_rays(rays)
    t = hits["t_hit"].numpy()
    gid = hits["geometry_ids"].numpy()
    hit = np.isfinite(t) & (gid != _NO_HIT)
    depth = np.where(hit, t, 0.0).astype(np.float32)  # |direction_z| = 1, so t is z
    instance = np.where(hit & (gid < len(meshes)), gid.astype(np.int64), -1).astype(np.int32)

    dirs = rays[hit][:, 3:].astype(np.float64)
    pts = dirs * depth[hit][:, None].astype(np.float64)
    nrm = hits["primitive_normals"].numpy()[hit].astype(np.float64)
    facing = np.einsum("ij,ij->i", nrm, dirs)
    nrm[facing > 0] *= -1.0  # back faces (open meshes: mug, bowl insides) shade as front faces
    rgb = _background(scene.background, width, height).copy()
    color = _shade(scene, rc, poses, T_world_cam, pts, nrm, gid[hit], shadows)
    rgb[hit] = np.clip(color * 255.0 + 0.5, 0, 255).astype(np.uint8)

    clean = depth
    if noise is not None:
        rng = rng if rng is not None else np.random.default_rng()
        cos_inc = np.zeros((height, width))
        cos_inc[hit] = np.abs(facing) / np.linalg.norm(dirs, axis=1)
        depth = apply_depth_noise(clean, cos_inc, noise, rng)
        rgb = apply_rgb_noise(rgb, noise, rng)
    gt = _object_gt(meshes, instance, depth, K, width, height)
    return RenderResult(
        rgb=rgb, depth=depth, depth_clean=clean, instance=instance, T_cam_obj=poses, K=K, **gt
    )
