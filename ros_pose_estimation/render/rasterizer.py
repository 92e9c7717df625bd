"""Hard triangle rasteriser in plain torch, differentiable through the barycentric coordinates.

Conventions (:mod:`ros_pose_estimation.core.conventions`): poses map model to camera,
``x_cam = R @ x_model + t`` (m); camera = OpenCV optical frame (x right, y down, z forward);
pixel ``(u, v)`` (column, row) has its centre at the integer coordinates ``(u, v)``. Depth is
the camera z coordinate (m), 0 on the background.

Algorithm (what nvdiffrast / pytorch3d do in CUDA, written with vectorised torch ops; no
``B x F x H x W`` tensor is ever formed):

1. Project the vertices. Faces with a vertex nearer than ``z_near`` are dropped, not clipped
   (objects are in front of the camera); degenerate and (optionally) back faces drop out too.
   Dropped faces carry NaN coordinates or area, so every inside test on them is False.
2. z-buffer (:mod:`.zbuffer`, no autograd): the fragments of every face, by its first box
   pixel densely over all faces, then the other pixels of the larger faces in chunks of
   ``max_fragments``; one ``scatter_reduce(amin)`` over int64 keys
   ``float32 depth bits << 32 | face`` keeps the nearest (ties: the lower face index).
3. For the foreground pixels only, recompute the winning face's perspective-correct barycentric
   coordinates and depth from the (differentiable) projected vertices. Gradients therefore flow
   to ``R``, ``t``, ``K`` and the vertices through the barycentrics; which face covers a pixel
   is piecewise constant (no silhouette gradient: see :mod:`.silhouette` for that).

A pixel centre exactly on an edge is inside (with a relative tolerance of ~1e-5 for float32),
so meshes render without cracks; the z-buffer picks one of the faces sharing the edge.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ros_pose_estimation.core.errors import InputError, check_shape

from .assignment import barycentrics_at
from .projection import _project, check_faces, check_float, check_image_size, check_pose_inputs
from .zbuffer import zbuffer


@dataclass
class Fragments:
    """Result of :func:`rasterize`: the nearest face at every pixel centre.

    Dense (``B`` poses, image ``H x W``):
        pix_to_face: ``[B x H x W]`` int64 index into ``faces``, -1 on the background.
        depth: ``[B x H x W]`` camera z of the surface (m), 0 on the background. Differentiable.

    Sparse foreground (``P`` covered pixels in row-major order), what interpolation uses:
        fg_index: ``[P]`` int64 flat index into ``B * H * W``.
        fg_vertex: ``[P x 3]`` int64 vertex indices of the covering face.
        fg_bary: ``[P x 3]`` perspective-correct barycentric coordinates of the pixel centre
            in that face (sum to 1). Differentiable.
        fg_depth: ``[P]`` depth (m). Differentiable.
        num_vertices: V, the number of (per-pose) mesh vertices.
    """

    pix_to_face: torch.Tensor
    depth: torch.Tensor
    fg_index: torch.Tensor
    fg_vertex: torch.Tensor
    fg_bary: torch.Tensor
    fg_depth: torch.Tensor
    num_vertices: int

    @property
    def mask(self) -> torch.Tensor:
        """``[B x H x W]`` bool, True where a face covers the pixel centre."""
        return self.pix_to_face >= 0

    @property
    def image_size(self) -> tuple[int, int]:
        """``(H, W)``."""
        return int(self.pix_to_face.shape[1]), int(self.pix_to_face.shape[2])

    @property
    def batch_size(self) -> int:
        return int(self.pix_to_face.shape[0])

    @property
    def fg_batch(self) -> torch.Tensor:
        """``[P]`` int64 pose index of each foreground pixel."""
        h, w = self.image_size
        return torch.div(self.fg_index, h * w, rounding_mode="floor")

    @property
    def bary(self) -> torch.Tensor:
        """``[B x H x W x 3]`` dense barycentric coordinates, 0 on the background."""
        b, (h, w) = self.batch_size, self.image_size
        out = self.fg_bary.new_zeros(b * h * w, 3).index_put((self.fg_index,), self.fg_bary)
        return out.view(b, h, w, 3)


# ---------------------------------------------------------------------------- rasterisation
def rasterize(
    vertices: torch.Tensor, faces: torch.Tensor, K: torch.Tensor, R: torch.Tensor,
    t: torch.Tensor, image_size: tuple[int, int], *,
    cull_backfaces: bool = False, z_near: float = 1e-3, max_fragments: int = 1 << 20,
) -> Fragments:  # fmt: skip
    """Rasterise a mesh under a batch of poses.

    Args:
        vertices: ``[V x 3]`` or per-pose ``[B x V x 3]`` model-frame vertices (m), float32/64.
        faces: ``[F x 3]`` integer vertex indices, counter-clockwise seen from outside.
        K: ``[3 x 3]`` or ``[B x 3 x 3]`` camera matrix (px) of the ``H x W`` image.
        R: ``[B x 3 x 3]`` model-to-camera rotations; t: ``[B x 3]`` translations (m).
        image_size: ``(H, W)`` pixels.
        cull_backfaces: drop faces seen from behind (needs consistent CCW winding).
        z_near: faces with any vertex at camera z < ``z_near`` (m) are dropped, not clipped.
        max_fragments: work items (face x pose, or fragments) processed at once; bounds the
            temporary memory to roughly ``150 B * max_fragments``.

    Returns:
        :class:`Fragments` for the ``B`` poses.
    """
    vertices, K, R, t = check_pose_inputs(vertices, K, R, t)
    uv, z = _project(vertices, K, R, t)
    return rasterize_projected(uv, z, faces, image_size, cull_backfaces=cull_backfaces,
                               z_near=z_near, max_fragments=max_fragments)  # fmt: skip


def rasterize_projected(
    uv: torch.Tensor, z: torch.Tensor, faces: torch.Tensor, image_size: tuple[int, int], *,
    cull_backfaces: bool = False, z_near: float = 1e-3, max_fragments: int = 1 << 20,
) -> Fragments:  # fmt: skip
    """:func:`rasterize` for already projected vertices: pixels ``uv [B x V x 2]`` and camera
    depth ``z [B x V]`` (m), e.g. from :func:`project_vertices`. ``faces`` ``[F x 3]`` int64."""
    h, w = check_image_size(image_size)
    uv = check_float("uv", uv)
    z = check_float("z", z, uv.dtype, uv.device)
    check_shape("uv", uv, ("B", "V", 2))
    check_shape("z", z, (uv.shape[0], uv.shape[1]))
    faces = check_faces(faces, uv.shape[1], uv.device)
    if max_fragments < 1:
        raise InputError(f"max_fragments: expected >= 1, got {max_fragments}")
    pix_to_face = zbuffer(uv, z, faces, h, w, cull_backfaces, z_near, max_fragments)
    return _interpolate_winners(uv, z, faces, pix_to_face)


def _interpolate_winners(uv, z, faces, pix_to_face) -> Fragments:
    """Differentiable perspective-correct barycentrics and depth at the foreground pixels."""
    b, h, w = pix_to_face.shape
    flat = pix_to_face.view(-1)
    fg_index = torch.nonzero(flat >= 0).squeeze(1)  # [P]
    fg_vertex = faces.index_select(0, flat.index_select(0, fg_index))  # [P x 3]
    fg_bary, fg_depth = barycentrics_at(uv, z, fg_index, fg_vertex, (h, w))
    depth = uv.new_zeros(b * h * w).index_put((fg_index,), fg_depth).view(b, h, w)
    return Fragments(pix_to_face, depth, fg_index, fg_vertex, fg_bary, fg_depth, uv.shape[1])
