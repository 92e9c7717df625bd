"""2D pairs between crops of two different instances, for the cross-instance cycle (paper 003
Sec. 3.3, ``L_inst``): mutual nearest neighbours ("best buddies", Goodwin et al. 2022) of
DINO patch descriptors (:mod:`.dino`) on the object, the ``k`` most similar kept.

Two resolutions meet here. The ViT sees each ``S x S`` crop resized to ``g * P`` px, so its
patch ``(r, c)`` covers crop px ``[c, c + 1) * S / g`` (x) and likewise in y; its centre is
``((c + 0.5) S / g - 0.5, (r + 0.5) S / g - 0.5)`` (pixel centres at integers). The CSE
model's cells are ``stride`` px (``n = S / stride`` per side, centres ``(j + 0.5) stride -
0.5``). A pair becomes: the source cell of ``A`` that holds the patch centre, and the target
point in ``B`` = ``B``'s patch centre moved by the same offset as the source cell centre from
``A``'s patch centre (exact for a locally translated patch; zero offset when ``g == n``, the
trainer's default, where patches and cells coincide).

Output in the form :func:`~.losses.transfer_cycle` needs: ``cells [B x k]`` (row-major cell
index of ``A`` at the CSE resolution), ``uv [B x k x 2]`` (crop px of ``B``), ``valid [B x k]``
(padding is False).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from ros_pose_estimation.core.errors import InputError, check_shape


class InstancePairs(NamedTuple):
    cells: torch.Tensor  # [B x k] int64, row-major CSE cell of the source crop
    uv: torch.Tensor  # [B x k x 2] float, crop px of the target crop
    valid: torch.Tensor  # [B x k] bool
    score: torch.Tensor  # [B x k] cosine similarity of the pair (-inf where not valid)


def patch_masks(mask: torch.Tensor, grid: int) -> torch.Tensor:
    """``[B x S x S]`` bool crop masks -> ``[B x grid x grid]``: patches at least half object."""
    check_shape("mask", mask, ("B", "S", "S"))
    frac = F.adaptive_avg_pool2d(mask.float()[:, None], grid)[:, 0]
    return frac >= 0.5


def mutual_nearest(
    desc_a: torch.Tensor,
    desc_b: torch.Tensor,
    valid_a: torch.Tensor,
    valid_b: torch.Tensor,
    k: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Best buddies between unit descriptors ``[B x N x D]`` / ``[B x M x D]`` restricted to
    ``valid_a [B x N]`` / ``valid_b [B x M]``: ``i`` and ``j`` pair when ``j`` is ``i``'s most
    similar valid patch of ``b`` and ``i`` is ``j``'s of ``a``. The ``k`` most similar pairs,
    best first: ``ia [B x k]``, ``ib [B x k]`` (patch indices), ``score [B x k]`` (cosine,
    -inf for padding) and ``ok [B x k]``."""
    dims = check_shape("desc_a", desc_a, ("B", "N", "D"))
    b, n = dims["B"], dims["N"]
    check_shape("desc_b", desc_b, (b, None, desc_a.shape[2]))
    check_shape("valid_a", valid_a, (b, n), torch.bool)
    check_shape("valid_b", valid_b, (b, desc_b.shape[1]), torch.bool)
    if k < 1:
        raise InputError(f"k: expected >= 1 pairs, got {k}")
    sim = desc_a @ desc_b.transpose(1, 2)  # [B x N x M]
    both = valid_a[:, :, None] & valid_b[:, None, :]
    sim = sim.masked_fill(~both, float("-inf"))
    best_ab, ab = sim.max(2)  # [B x N]
    ba = sim.argmax(1)  # [B x M]
    rows = torch.arange(n, device=sim.device)[None]
    mutual = (torch.gather(ba, 1, ab) == rows) & torch.isfinite(best_ab)
    score = best_ab.masked_fill(~mutual, float("-inf"))
    top = torch.topk(score, min(k, n), dim=1)
    ia, score = top.indices, top.values
    ib = torch.gather(ab, 1, ia)
    if n < k:  # fewer patches than pairs asked: pad
        pad = k - n
        ia, ib = F.pad(ia, (0, pad)), F.pad(ib, (0, pad))
        score = F.pad(score, (0, pad), value=float("-inf"))
    return ia, ib, score, torch.isfinite(score)


def patches_to_crop(
    ia: torch.Tensor, ib: torch.Tensor, grid: int, crop_size: int, stride: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Patch indices (row-major in a ``grid x grid`` ViT grid) -> ``cells [B x k]`` (source
    cell of ``A`` holding the patch centre, row-major at ``n = crop_size / stride``) and
    ``uv [B x k x 2]`` (crop px of ``B``: its patch centre + the cell-centre offset)."""
    if crop_size % stride:
        raise InputError(f"crop_size {crop_size} is not a multiple of stride {stride}")
    n = crop_size // stride
    ra, ca = ia // grid, ia % grid
    # cell holding the patch centre: floor((c + 0.5) * n / grid), in integers
    cell_r, cell_c = ((2 * ra + 1) * n) // (2 * grid), ((2 * ca + 1) * n) // (2 * grid)
    cells = cell_r * n + cell_c

    def patch_centre(r, c):
        return torch.stack([c, r], -1).float().add(0.5).mul(crop_size / grid).sub(0.5)

    cell_centre = torch.stack([cell_c, cell_r], -1).float().add(0.5).mul(stride).sub(0.5)
    uv = patch_centre(ib // grid, ib % grid) + (cell_centre - patch_centre(ra, ca))
    return cells, uv


def instance_pairs(
    desc_a: torch.Tensor,
    mask_a: torch.Tensor,
    desc_b: torch.Tensor,
    mask_b: torch.Tensor,
    k: int,
    crop_size: int,
    stride: int,
) -> InstancePairs:
    """Pairs from crop ``A`` to crop ``B`` (see the module doc).

    Args:
        desc_a, desc_b: ``[B x g x g x D]`` unit descriptors (:meth:`.dino.DinoViT.descriptors`).
        mask_a, mask_b: ``[B x g x g]`` bool object patches (:func:`patch_masks`).
        k: pairs per crop pair (published 200). crop_size, stride: the CSE model's.
    """
    g = check_shape("desc_a", desc_a, ("B", "g", "g", "D"))["g"]
    check_shape("desc_b", desc_b, tuple(desc_a.shape))
    check_shape("mask_a", mask_a, desc_a.shape[:3], torch.bool)
    check_shape("mask_b", mask_b, desc_a.shape[:3], torch.bool)
    ia, ib, score, ok = mutual_nearest(
        desc_a.flatten(1, 2), desc_b.flatten(1, 2), mask_a.flatten(1), mask_b.flatten(1), k
    )
    cells, uv = patches_to_crop(ia, ib, g, crop_size, stride)
    return InstancePairs(cells, uv, ok, score)


def partner_index(sequence: torch.Tensor) -> torch.Tensor:
    """For each of ``B`` batch items, the next item (cyclically) from a *different* sequence:
    ``[B]`` int64, -1 where every other item shares its sequence (``sequence [B]`` ids)."""
    check_shape("sequence", sequence, ("B",))
    b = sequence.shape[0]
    dev = sequence.device
    if b < 2:
        return torch.full((b,), -1, dtype=torch.long, device=dev)
    cand = (torch.arange(b, device=dev)[:, None] + torch.arange(1, b, device=dev)[None]) % b
    other = sequence[cand] != sequence[:, None]
    first = torch.gather(cand, 1, other.int().argmax(1, keepdim=True))[:, 0]
    return torch.where(other.any(1), first, torch.full_like(first, -1))
