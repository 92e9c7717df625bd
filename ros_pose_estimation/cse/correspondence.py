"""Dense 2D-3D correspondences from pixel and vertex embeddings (paper 003 Eqs. 1, 2 and 7).

With unit pixel features ``u_j`` (``P`` pixels) and unit vertex embeddings ``v_i`` (``V``
vertices), ``s_ji = cos(u_j, v_i) / tau`` and (Eq. 1; the paper's index placement is garbled,
``shared/notes/methods.md`` states the intent):

* ``W2d3d[j, :] = softmax_i(s_j:)``: each pixel's distribution over the vertices;
* ``W3d2d[:, i] = softmax_j(s_:i)``: each vertex's distribution over the (object) pixels.

Eq. 2: ``phi(p_j) = q_j = sum_i W2d3d[j, i] x_i`` (3D point of pixel ``j``) and
``psi(x_i) = p_i = sum_j W3d2d[j, i] X_j`` (2D point of vertex ``i``). Eq. 7 confidence of a
pixel: how well the cycle ``psi(phi(p))`` (the ``W2d3d``-weighted mean of the vertices' 2D
points) returns to ``p``. The paper prints ``exp(||psi(phi(p)) - p||^2)``, which grows with the
error; the intended ``exp(-||psi(phi(p)) - p||^2 / sigma^2)`` is used, with distances in
feature cells, so ``conf > 0.5`` keeps cycle errors below ``0.83 sigma`` cells.

All functions are batched (``B`` crops), differentiable, and take a pixel mask so that only the
object's pixels enter the 3D -> 2D softmax.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ros_pose_estimation.core.errors import InputError, check_shape

#: Default width (feature cells) of the Eq. 7 confidence.
DEFAULT_SIGMA_CELLS = 1.5


def cell_centres(height: int, width: int, stride: int, device=None) -> torch.Tensor:
    """``[h * w x 2]`` crop-pixel coordinates ``(u, v)`` of the feature cells' centres, row-major
    (cell ``(r, c)`` covers crop pixels ``[c s, (c + 1) s)``: centre ``(c + 0.5) s - 0.5``)."""
    v, u = torch.meshgrid(
        torch.arange(height, device=device, dtype=torch.float32),
        torch.arange(width, device=device, dtype=torch.float32),
        indexing="ij",
    )
    return torch.stack([u.reshape(-1), v.reshape(-1)], -1) * stride + (stride - 1) / 2.0


def pixel_embeddings(features: torch.Tensor) -> torch.Tensor:
    """``[B x D x h x w]`` feature map -> ``[B x h*w x D]`` (row-major pixels)."""
    check_shape("features", features, ("B", "D", "H", "W"))
    return features.flatten(2).transpose(1, 2)


@dataclass
class Correspondence:
    """Eq. 1 matrices of ``B`` crops: ``w2d3d`` and ``w3d2d`` ``[B x P x V]``; ``mask`` ``[B x P]``
    bool (pixels that take part; rows of other pixels in ``w3d2d`` are 0)."""

    w2d3d: torch.Tensor
    w3d2d: torch.Tensor
    mask: torch.Tensor


def correspondences(
    pixels: torch.Tensor, embeddings: torch.Tensor, mask: torch.Tensor | None, tau: float
) -> Correspondence:
    """Eq. 1 from unit pixel features ``[B x P x D]``, unit vertex embeddings ``[B x V x D]`` and
    an optional ``[B x P]`` bool pixel mask (None: all pixels).

    Raises:
        InputError: shape mismatches; a crop whose mask selects no pixel.
    """
    b, p, d = check_shape("pixels", pixels, ("B", "P", "D")).values()
    check_shape("embeddings", embeddings, (b, "V", d))
    if mask is None:
        mask = torch.ones(b, p, dtype=torch.bool, device=pixels.device)
    check_shape("mask", mask, (b, p))
    if not bool(mask.any(1).all()):
        raise InputError("correspondences: a crop has no object pixel (empty mask)")
    logits = pixels @ embeddings.transpose(1, 2) / tau  # [B x P x V]
    w2d3d = torch.softmax(logits, dim=2)
    masked = logits.masked_fill(~mask[..., None], float("-inf"))
    w3d2d = torch.softmax(masked, dim=1)
    return Correspondence(w2d3d, w3d2d, mask)


def map_2d_to_3d(corr: Correspondence, vertices: torch.Tensor) -> torch.Tensor:
    """Eq. 2 ``phi``: ``[B x P x 3]`` 3D point of every pixel from ``vertices`` ``[B x V x 3]``."""
    return corr.w2d3d @ vertices


def map_3d_to_2d(corr: Correspondence, pixel_xy: torch.Tensor) -> torch.Tensor:
    """Eq. 2 ``psi``: ``[B x V x 2]`` 2D point of every vertex from ``pixel_xy`` ``[(B x) P x 2]``
    (the pixels' coordinates, e.g. :func:`cell_centres`)."""
    xy = pixel_xy if pixel_xy.dim() == 3 else pixel_xy[None].expand(corr.w3d2d.shape[0], -1, -1)
    return corr.w3d2d.transpose(1, 2) @ xy


def cycle_2d(corr: Correspondence, pixel_xy: torch.Tensor) -> torch.Tensor:
    """``psi(phi(p))`` for every pixel, ``[B x P x 2]``: where a pixel's vertices point back to."""
    return corr.w2d3d @ map_3d_to_2d(corr, pixel_xy)


def cycle_confidence(
    corr: Correspondence,
    pixel_xy: torch.Tensor,
    cell: float,
    sigma_cells: float = DEFAULT_SIGMA_CELLS,
) -> torch.Tensor:
    """Eq. 7 ``[B x P]`` in (0, 1]: ``exp(-(||psi(phi(p)) - p|| / (sigma_cells * cell))^2)``.

    ``pixel_xy`` and ``cell`` (the size of a feature cell) are in the same unit (crop px and
    the stride). Masked-out pixels get 0.
    """
    if sigma_cells <= 0 or cell <= 0:
        raise InputError(f"sigma_cells and cell must be > 0, got {sigma_cells}, {cell}")
    xy = pixel_xy if pixel_xy.dim() == 3 else pixel_xy[None]
    err = torch.linalg.vector_norm(cycle_2d(corr, pixel_xy) - xy, dim=-1) / (sigma_cells * cell)
    return torch.exp(-(err**2)) * corr.mask


@torch.no_grad()
def masked_points(
    pixels: torch.Tensor,
    embeddings: torch.Tensor,
    vertices: torch.Tensor,
    mask: torch.Tensor,
    tau: float,
    pixel_xy: torch.Tensor,
    cell: float,
    sigma_cells: float = DEFAULT_SIGMA_CELLS,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Inference's Eq. 2 points and Eq. 7 confidences, computed for the masked pixels only.

    :func:`correspondences`, :func:`map_2d_to_3d` and :func:`cycle_confidence` run on each
    crop's masked rows alone: the same values at the pixels of ``mask`` (the only ones the solve
    reads) as on the whole map with the mask, since the 2D -> 3D softmax of a pixel is its own
    row and the 3D -> 2D one runs over the masked pixels only. On a crop whose object covers a
    third of it that is a third of the work.

    Args:
        pixels: ``[B x P x D]`` unit pixel features; embeddings: ``[B x V x D]`` unit vertex
            embeddings; vertices: ``[B x V x 3]`` (m); mask: ``[B x P]`` bool, each crop with
            at least one pixel; tau: the softmax temperature; pixel_xy: ``[P x 2]`` or ``[B x P
            x 2]`` pixel coordinates and ``cell`` the size of a feature cell, in one unit;
            sigma_cells: the confidence's width (cells).

    Returns:
        ``points [B x P x 3]`` (m) and ``confidence [B x P]``, zero outside the mask.

    Raises:
        InputError: shape mismatches, a crop with no masked pixel, non-positive widths.
    """
    b, p, d = check_shape("pixels", pixels, ("B", "P", "D")).values()
    v = check_shape("embeddings", embeddings, (b, "V", d))["V"]
    check_shape("vertices", vertices, (b, v, 3))
    check_shape("mask", mask, (b, p))
    if not bool(mask.any(1).all()):
        raise InputError("correspondences: a crop has no object pixel (empty mask)")
    xy_all = pixel_xy if pixel_xy.dim() == 3 else pixel_xy[None].expand(b, -1, -1)
    points = pixels.new_zeros(b, p, 3)
    confidence = pixels.new_zeros(b, p)
    for k in range(b):  # each crop's masked rows: a crop of their own, every row taking part
        rows = mask[k].nonzero().squeeze(1)
        corr = correspondences(pixels[k, rows][None], embeddings[k : k + 1], None, tau)
        points[k, rows] = map_2d_to_3d(corr, vertices[k : k + 1])[0]
        confidence[k, rows] = cycle_confidence(corr, xy_all[k, rows], cell, sigma_cells)[0]
    return points, confidence
