"""Differentiable barycentrics for a fixed pixel-to-face assignment (re-use of a rasterisation).

The hard rasteriser (:mod:`.rasterizer`) does two things: it decides which face covers each
pixel centre (z-buffer; piecewise constant in the pose, no gradient) and then computes the
covering face's perspective-correct barycentric coordinates and depth at the pixel centre from
the projected vertices (differentiable). Only the second part carries gradients, and when the
pose changes a little between two evaluations (an optimiser step) the first part hardly
changes: a step that moves the outline by a fraction of a pixel flips few pixels.

:func:`reinterpolate` therefore keeps the assignment of an earlier rasterisation
(``fragments.pix_to_face``) and recomputes only the barycentrics and depth from new projected
vertices. For the pose the fragments were rasterised at it equals :func:`.rasterizer.rasterize`
exactly (same formula, :func:`perspective_barycentrics`, which the rasteriser uses too); at
another pose it is an approximation whose barycentrics may leave ``[0, 1]`` (the face's plane
extrapolated to a pixel it no longer covers) and whose foreground is the old one. Callers
re-rasterise every few steps to bound the staleness
(:mod:`ros_pose_estimation.nemo.gauss_newton`).
"""

from __future__ import annotations

import torch

from ros_pose_estimation.core.errors import InputError, check_shape

from .projection import _project, check_float, check_pose_inputs


def perspective_barycentrics(
    du: torch.Tensor, dv: torch.Tensor, z: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Perspective-correct barycentrics and depth of ``P`` pixel centres in their faces.

    Args:
        du, dv: ``[P x 3]`` image coordinates of each face's three corners relative to the
            pixel centre (px).
        z: ``[P x 3]`` camera depth of the corners (m, > 0).

    Returns:
        ``bary [P x 3]`` (sum to 1; in ``[0, 1]`` when the pixel centre is inside the face)
        and ``depth [P]`` (m), ``1 / sum_i(l_i / z_i)`` with ``l_i`` the screen-space
        barycentrics. Differentiable w.r.t. every input.
    """
    du1, du2, dv1, dv2 = du.roll(-1, 1), du.roll(-2, 1), dv.roll(-1, 1), dv.roll(-2, 1)
    e = du1 * dv2 - du2 * dv1  # [P x 3] edge functions: barycentrics times twice the area
    q = e / z
    s = q.sum(1)
    return q / s[:, None], e.sum(1) / s


def reinterpolate(fragments, vertices, faces, K, R, t):
    """``fragments`` with its pixel-to-face assignment kept and its barycentrics and depth
    recomputed for new poses (see the module docstring).

    Args:
        fragments: :class:`.rasterizer.Fragments` of ``B`` poses (e.g. an earlier
            :func:`.rasterizer.rasterize` of the same mesh).
        vertices: ``[V x 3]`` or ``[B x V x 3]`` model-frame vertices (m), the mesh that was
            rasterised; faces: ``[F x 3]`` int64, the same faces.
        K: ``[(B x) 3 x 3]`` camera (px); R: ``[B x 3 x 3]``, t: ``[B x 3]`` (m) the new poses.

    Returns:
        a new :class:`.rasterizer.Fragments` (same ``pix_to_face``, ``fg_index`` and
        ``fg_vertex``; ``fg_bary``, ``fg_depth`` and ``depth`` differentiable w.r.t. the poses,
        ``K`` and the vertices).
    """
    from .rasterizer import Fragments

    vertices, K, R, t = check_pose_inputs(vertices, K, R, t)
    b, (h, w) = fragments.batch_size, fragments.image_size
    if R.shape[0] != b:
        raise InputError(f"R: expected {b} poses like the fragments, got {R.shape[0]}")
    if vertices.shape[-2] != fragments.num_vertices:
        raise InputError(
            f"vertices: expected the {fragments.num_vertices} vertices that were rasterised, "
            f"got {vertices.shape[-2]}"
        )
    uv, z = _project(vertices, K, R, t)
    bary, depth = barycentrics_at(uv, z, fragments.fg_index, fragments.fg_vertex, (h, w))
    dense = uv.new_zeros(b * h * w).index_put((fragments.fg_index,), depth).view(b, h, w)
    return Fragments(
        fragments.pix_to_face, dense, fragments.fg_index, fragments.fg_vertex, bary, depth,
        fragments.num_vertices,
    )  # fmt: skip


def barycentrics_at(
    uv: torch.Tensor,
    z: torch.Tensor,
    fg_index: torch.Tensor,
    fg_vertex: torch.Tensor,
    image_size: tuple[int, int],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Barycentrics ``[P x 3]`` and depth ``[P]`` of the faces ``fg_vertex [P x 3]`` at the
    pixel centres ``fg_index [P]`` (flat into ``B x H x W``), from projected vertices
    ``uv [B x V x 2]`` (px) and ``z [B x V]`` (m). See :func:`perspective_barycentrics`."""
    uv = check_float("uv", uv)
    check_shape("uv", uv, ("B", "V", 2))
    check_shape("fg_vertex", fg_vertex, (fg_index.shape[0], 3))
    h, w = image_size
    nv = uv.shape[1]
    batch = torch.div(fg_index, h * w, rounding_mode="floor")
    pix = fg_index - batch * (h * w)
    row = torch.div(pix, w, rounding_mode="floor")
    gidx = (batch[:, None] * nv + fg_vertex).view(-1)  # [3P]
    comp = torch.stack([uv[..., 0], uv[..., 1], z], 0).view(3, -1)
    g = comp.index_select(1, gidx).view(3, -1, 3)  # [uvz x P x corner]
    du = g[0] - (pix - row * w).to(uv.dtype)[:, None]  # corners relative to the pixel centre
    dv = g[1] - row.to(uv.dtype)[:, None]
    return perspective_barycentrics(du, dv, g[2])
