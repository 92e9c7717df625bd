"""Coarse-to-fine one-to-one correspondence pseudo-labels of paper 004 (CFCO, Eqs. 4-9).

Eq. 1 of paper 003 lets many pixels pick the same vertex (more pixels than vertices; the
hidden side has nowhere to go). Paper 004 supervises the similarities with one-to-one labels:

* Eq. 4: region features ``F2`` (a coarser feature map) against the unit vertex embeddings:
  ``S_c = cos(F2, V)`` ``[R x V]``. Here ``F2`` is the CSE pixel feature map averaged over
  ``pool x pool`` cells and renormalised (the CSE decoder has one output level); a region takes
  part when at least half of it is object.
* Eqs. 5-6: the one-to-one plan ``T_c*`` minimising ``sum T_ij (1 - S_c)_ij`` (Hungarian
  matching, ``scipy.optimize.linear_sum_assignment``). The paper pads the ``R < V`` rows with
  ``V - R`` virtual rows and drops them afterwards; those rows' costs are equal for every
  column, so the rectangular assignment used here gives the same real rows. The ``V - R``
  vertices left over are the ones no region sees (hidden side): they get no label. With
  ``R > V`` the regions left over get none.
* Eq. 7: ``L_c = CE(T_c*, S_c)``: each labelled region's softmax over the vertices (cosine /
  ``tau``, Eq. 1's temperature) must pick its matched vertex.
* Eqs. 8-9: fine labels by index-based upsampling, implemented as the paper states it: the
  pixel similarities ``S_f [n*n x V]`` are max-pooled over each region's object cells to
  ``S_fc [R x V]`` (per vertex, the region's most similar pixel) and ``L_f = CE(T_c*, S_fc)``;
  ``L_c2f = L_c + L_f``.

The labels carry no gradient; they are recomputed from the current model at every step.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment

from ros_pose_estimation.core.errors import ConfigError, check_shape


def region_similarity(features, frac, embeddings, pool: int):
    """Eq. 4: ``S_c [B x R x V]`` (cosine) of the ``R = (n / pool)^2`` regions (row-major) and
    ``ok [B x R]`` bool (regions at least half object). ``features [B x D x n x n]`` unit pixel
    features, ``frac [B x n x n]`` mask fraction per cell, ``embeddings [B x V x D]`` unit."""
    b, d, n = check_shape("features", features, ("B", "D", "n", "n")).values()
    check_shape("frac", frac, (b, n, n))
    check_shape("embeddings", embeddings, (b, "V", d))
    if pool < 1 or n % pool:
        raise ConfigError(f"region pool must divide the feature size {n}, got {pool}")
    regions = F.normalize(F.avg_pool2d(features, pool).flatten(2).transpose(1, 2), dim=-1)
    ok = F.avg_pool2d(frac[:, None].float(), pool).flatten(1) >= 0.5
    return regions @ embeddings.transpose(1, 2), ok


def pooled_pixel_similarity(features, frac, embeddings, pool: int) -> torch.Tensor:
    """Eq. 8's ``S_fc [B x R x V]``: the pixel similarities ``cos(F3, V)`` max-pooled over the
    object cells (mask fraction >= 0.5) of each region (-1, the lowest cosine, where a region
    has no object cell)."""
    b, d, n = check_shape("features", features, ("B", "D", "n", "n")).values()
    check_shape("embeddings", embeddings, (b, "V", d))
    s_f = torch.einsum("bdhw,bvd->bvhw", features, embeddings)  # [B x V x n x n]
    obj = (frac >= 0.5)[:, None]
    s_f = torch.where(obj, s_f, torch.full_like(s_f, -2.0))
    pooled = F.max_pool2d(s_f, pool).flatten(2).transpose(1, 2)  # [B x R x V]
    return pooled.clamp(min=-1.0)


@torch.no_grad()
def one_to_one_labels(similarity: torch.Tensor, ok: torch.Tensor) -> torch.Tensor:
    """Eqs. 5-6: ``[B x R]`` int64 vertex matched to each region (-1: none) by the Hungarian
    assignment on ``1 - similarity [B x R x V]`` over the regions ``ok [B x R]``."""
    b, r, _ = check_shape("similarity", similarity, ("B", "R", "V")).values()
    check_shape("ok", ok, (b, r))
    labels = torch.full((b, r), -1, dtype=torch.long)
    cost = (1.0 - similarity.detach().float()).cpu().numpy()
    keep = ok.cpu().numpy()
    for i in range(b):
        rows = np.flatnonzero(keep[i])
        if rows.size == 0:
            continue
        matched, cols = linear_sum_assignment(cost[i, rows])
        labels[i, torch.as_tensor(rows[matched])] = torch.as_tensor(cols, dtype=torch.long)
    return labels.to(similarity.device)


def pseudo_label_ce(similarity: torch.Tensor, labels: torch.Tensor, tau: float) -> torch.Tensor:
    """Eqs. 7 / 8: mean cross-entropy of ``softmax_V(similarity / tau)`` ``[B x R x V]`` with
    ``labels [B x R]`` over the labelled regions (0 when none is)."""
    keep = labels >= 0
    if not bool(keep.any()):
        return similarity.sum() * 0.0
    return F.cross_entropy(similarity[keep] / tau, labels[keep])


def c2f_losses(features, frac, embeddings, pool: int, tau: float) -> dict:
    """``{"c2f_coarse": L_c, "c2f_fine": L_f}`` (Eqs. 7-9) of a batch; arguments as
    :func:`region_similarity`."""
    s_c, ok = region_similarity(features, frac, embeddings, pool)
    labels = one_to_one_labels(s_c, ok)
    s_fc = pooled_pixel_similarity(features, frac, embeddings, pool)
    return {"c2f_coarse": pseudo_label_ce(s_c, labels, tau),
            "c2f_fine": pseudo_label_ce(s_fc, labels, tau)}  # fmt: skip
