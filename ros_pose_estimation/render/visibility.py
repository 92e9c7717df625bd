"""Vertex visibility by a rendered depth test (paper 000, Eq. 4), for neural mesh training.

A vertex is visible under a pose when it projects inside the image, lies beyond ``z_near``,
and its camera depth agrees with the rendered surface at one of the pixel centres around its
projection (or at the nearest one) within a tolerance. Eq. 4
compares the vertex-to-camera distance with the rendered depth; here both sides are the camera
z coordinate (what the rasteriser renders), which is the same test without mixing the two.

Reference depth (``depth_test``):

* ``"plane"`` (default): the depth of the plane of the face covering the vertex's nearest pixel,
  evaluated on the vertex's own ray. A vertex on that face (or on any face coplanar with it) gets
  its exact depth back, so the tolerance only has to absorb curvature, not the slope of the
  surface across half a pixel (large at 32 x 32 feature maps).
* ``"pixel"``: the rendered depth at the nearest pixel centre (what the paper's code does); the
  tolerance must then cover the depth change across half a pixel on slanted surfaces.
"""

from __future__ import annotations

import torch

from ros_pose_estimation.core.errors import InputError

from .projection import check_mesh_inputs, transform_vertices
from .rasterizer import Fragments, rasterize_projected


def vertex_normals(points: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Area-weighted vertex normals ``[B x V x 3]`` (not normalised) of ``[B x V x 3]`` points
    and CCW ``[F x 3]`` faces: the sum of the adjacent faces' cross products."""
    v0, v1, v2 = (points[:, faces[:, k]] for k in range(3))
    n = torch.linalg.cross(v1 - v0, v2 - v0, dim=-1)  # [B x F x 3]
    out = torch.zeros_like(points)
    for k in range(3):
        out.index_add_(1, faces[:, k], n)
    return out


@torch.no_grad()
def vertex_visibility(
    vertices: torch.Tensor, faces: torch.Tensor, K: torch.Tensor, R: torch.Tensor,
    t: torch.Tensor, image_size: tuple[int, int], *,
    fragments: Fragments | None = None,
    tolerance: float | None = None,
    rel_tolerance: float = 0.02,
    depth_test: str = "plane",
    pixels: str = "bilinear",
    backface_test: bool = False,
    cull_backfaces: bool = False, z_near: float = 1e-3,
) -> torch.Tensor:  # fmt: skip
    """``[B x V]`` bool: is each vertex visible under each pose?

    Args:
        vertices: ``[V x 3]`` or ``[B x V x 3]`` model vertices (m).
        faces: ``[F x 3]`` integer vertex indices.
        K, R, t: camera ``[(B x) 3 x 3]`` (px), poses ``[B x 3 x 3]`` and ``[B x 3]`` (m).
        image_size: ``(H, W)``.
        fragments: the rasterisation of these poses, if already computed (else rasterised here
            with ``cull_backfaces`` and ``z_near``).
        tolerance: depth tolerance (m); None: ``rel_tolerance`` times the diagonal of the
            vertices' bounding box (per pose for batched vertices).
        depth_test: ``"plane"`` or ``"pixel"`` (see the module docstring).
        pixels: ``"bilinear"``: visible if the test passes at any of the 4 pixel centres around
            the projection (vertices on the silhouette count as visible); ``"nearest"``: at the
            nearest pixel centre only (a silhouette vertex is then visible only when its
            nearest pixel is covered).
        backface_test: also require the vertex normal to face the camera.
        cull_backfaces, z_near: as in :func:`rasterize`.
    """
    if depth_test not in ("plane", "pixel"):
        raise InputError(f"depth_test: expected 'plane' or 'pixel', got {depth_test!r}")
    if pixels not in ("bilinear", "nearest"):
        raise InputError(f"pixels: expected 'bilinear' or 'nearest', got {pixels!r}")
    vertices, faces, K, R, t, (h, w) = check_mesh_inputs(vertices, faces, K, R, t, image_size)
    cam = transform_vertices(vertices, R, t)  # [B x V x 3]
    b, nv = cam.shape[:2]
    z = cam[..., 2]
    Kb = K.expand(b, 3, 3)
    uv = torch.matmul(cam, Kb[:, :2].transpose(-1, -2)) / z[..., None]
    if fragments is None:
        fragments = rasterize_projected(
            uv, z, faces, (h, w), cull_backfaces=cull_backfaces, z_near=z_near
        )
    if fragments.pix_to_face.shape != (b, h, w):
        raise InputError(
            f"fragments: expected [{b} x {h} x {w}] (poses x image), "
            f"got {tuple(fragments.pix_to_face.shape)}"
        )
    u, v = uv[..., 0], uv[..., 1]
    inside = (z > z_near) & (u >= -0.5) & (u <= w - 0.5) & (v >= -0.5) & (v <= h - 0.5)
    if tolerance is None:
        extent = vertices.amax(1) - vertices.amin(1)  # [(B or 1) x 3]
        tol = rel_tolerance * torch.linalg.vector_norm(extent, dim=-1, keepdim=True)
    else:
        tol = torch.as_tensor(float(tolerance), dtype=cam.dtype, device=cam.device)
    if pixels == "nearest":
        candidates = [(torch.round(u), torch.round(v))]
    else:  # the (up to) 4 pixel centres around the projection
        u0, v0 = torch.floor(u), torch.floor(v)
        candidates = [(u0 + du, v0 + dv) for dv in (0, 1) for du in (0, 1)]
    planes = _face_planes(cam, faces) if depth_test == "plane" else None
    visible = torch.zeros_like(inside)
    for col, row in candidates:
        ok = inside & (col >= 0) & (col <= w - 1) & (row >= 0) & (row <= h - 1)
        ref, face = _reference_depth(cam, fragments, col, row, planes)
        visible |= ok & (face >= 0) & ((z - ref).abs() <= tol)
    ok = visible
    if backface_test:
        ok &= (vertex_normals(cam, faces) * cam).sum(-1) < 0
    return ok


def _face_planes(cam: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """``[5 x B * F]`` face planes of camera-frame points ``cam`` ``[B x V x 3]``: the normal
    ``n`` (3 rows, twice the area long), ``n . v0`` and ``|n|``."""
    b, nv = cam.shape[:2]
    f = faces.shape[0]
    comp = cam.permute(2, 0, 1).reshape(3 * b, nv)
    g = comp.index_select(1, faces.t().reshape(-1)).view(3, b, 3, f)  # [xyz, B, corner, F]
    (x0, x1, x2), (y0, y1, y2), (z0, z1, z2) = (g[k].unbind(1) for k in range(3))
    ax, ay, az, bx, by, bz = x1 - x0, y1 - y0, z1 - z0, x2 - x0, y2 - y0, z2 - z0
    nx, ny, nz = ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx
    d = nx * x0 + ny * y0 + nz * z0
    norm = torch.sqrt(nx * nx + ny * ny + nz * nz)
    return torch.stack([nx, ny, nz, d, norm]).view(5, b * f)


def _reference_depth(cam, fragments, col, row, planes):
    """Rendered depth ``[B x V]`` for each vertex at pixel ``(col, row)`` (float, clamped into
    the image here) and the face drawn there (-1: background). With ``planes`` (from
    :func:`_face_planes`), the depth of that face's plane on the vertex's own ray."""
    b, nv = cam.shape[:2]
    h, w = fragments.image_size
    batch = torch.arange(b, device=cam.device)[:, None]
    idx = batch * (h * w) + (row.clamp(0, h - 1) * w + col.clamp(0, w - 1)).long()  # [B x V]
    idx = idx.view(-1)
    face = fragments.pix_to_face.reshape(-1).index_select(0, idx).view(b, nv)
    ref = fragments.depth.detach().reshape(-1).index_select(0, idx).view(b, nv)
    if planes is None:
        return ref, face
    num_faces = planes.shape[1] // b
    p = planes.index_select(1, (batch * num_faces + face.clamp(min=0)).view(-1)).view(5, b, nv)
    denom = p[0] * cam[..., 0] / cam[..., 2] + p[1] * cam[..., 1] / cam[..., 2] + p[2]
    steep = denom.abs() <= 1e-6 * p[4]  # n . ray, ray = vertex / its z; ~0: face seen edge-on
    plane = p[3] / torch.where(steep, 1.0, denom)
    return torch.where(steep, ref, plane), face
