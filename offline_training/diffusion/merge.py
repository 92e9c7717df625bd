"""Merging per-instance neural meshes into one category mesh (paper 000 Eqs. 8-12).

Two instance meshes ``i`` (merged) and ``j`` (the anchor) are geodesic spheres of the same
radius in their own, unknown instance frames. For a rotation ``R`` (frame ``i`` -> frame ``j``)
the features of ``i`` are carried to the anchor's vertices by inverse-distance weights over the
``k`` rotated vertices of ``i`` nearest to each anchor vertex (Eqs. 8-9; the paper's sum of
``theta_k / D`` is normalised here so that the weights add up to one, and the result is
L2-normalised like every vertex feature):

    theta~_m(R) = normalize( sum_n w_mn theta_n ),  w_mn ∝ 1 / |V_m - R V_n|  (k nearest n)

The feature distance of the pair is the mean over the anchor's vertices of
``|theta_m - theta~_m(R)|`` (Eq. 10 minimises its sum); ``R*`` is found by an exhaustive search
over a near-uniform set of rotations (the paper does not say how it searches; scored with the
nearest vertex through a latitude/longitude table) refined by local perturbations of shrinking
size with the exact interpolation. The pair merges when the distance at ``R*`` is below
``threshold`` (Eq. 11, published 0.8), and then the anchor's features become the mean of its own
and every merged mesh's carried features (Eq. 11 is the two-mesh case, ``1/2 (theta_m +
theta~_m)``; with ``n`` merged meshes each gets the weight ``1 / (n + 1)``, not the ``2^-k`` a
repeated Eq. 11 would give the first ones).

An image of instance ``i`` labelled ``R_n`` (frame ``i`` -> camera) is then an image of the
anchor with ``R'_n = R_n R*^T`` (Eq. 12, written for this module's direction of ``R*``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from ros_pose_estimation.core.errors import ConfigError, check_shape
from ros_pose_estimation.core.rotations import axis_angle_to_matrix, random_rotations

__all__ = [
    "MergeResult",
    "carried_features",
    "feature_distance",
    "merge_meshes",
    "relabel",
    "search_rotation",
]


def carried_features(
    anchor_vertices: torch.Tensor, vertices: torch.Tensor, features: torch.Tensor,
    rotations: torch.Tensor, k: int = 4,
) -> torch.Tensor:  # fmt: skip
    """``[N x V x D]`` unit features of a mesh (``vertices [W x 3]``, ``features [W x D]``)
    rotated by each of ``rotations [N x 3 x 3]`` and read at ``anchor_vertices [V x 3]``."""
    check_shape("anchor_vertices", anchor_vertices, ("V", 3))
    w = check_shape("vertices", vertices, ("W", 3))["W"]
    check_shape("features", features, (w, "D"))
    check_shape("rotations", rotations, ("N", 3, 3))
    k = min(int(k), w)
    moved = vertices[None] @ rotations.transpose(1, 2)  # [N x W x 3]
    dist = torch.cdist(
        anchor_vertices[None].expand(len(rotations), -1, -1),
        moved,
        compute_mode="donot_use_mm_for_euclid_dist",
    )  # [N x V x W], exact at 0
    near, idx = dist.topk(k, dim=2, largest=False)
    weights = 1.0 / near.clamp_min(1e-9)
    weights = weights / weights.sum(2, keepdim=True)
    picked = features[idx]  # [N x V x k x D]
    return F.normalize((weights[..., None] * picked).sum(2), dim=-1)


def feature_distance(
    anchor_vertices: torch.Tensor, anchor_features: torch.Tensor, vertices: torch.Tensor,
    features: torch.Tensor, rotations: torch.Tensor, k: int = 4,
) -> torch.Tensor:  # fmt: skip
    """``[N]`` mean over the anchor's vertices of ``|theta_m - theta~_m(R)|`` per rotation."""
    carried = carried_features(anchor_vertices, vertices, features, rotations, k)
    return torch.linalg.vector_norm(carried - anchor_features[None], dim=-1).mean(1)


def _perturb(center: torch.Tensor, n: int, angle_rad: float, gen: np.random.Generator):
    axes = gen.normal(size=(n, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    rotvec = axes * gen.uniform(0.0, angle_rad, size=(n, 1))
    delta = torch.as_tensor(axis_angle_to_matrix(rotvec), dtype=center.dtype)
    return delta @ center


class SphereLookup:
    """Nearest vertex of a mesh centred at the origin for any direction, from a latitude /
    longitude table (``rows x 2 rows`` cells): the coarse search's O(1) nearest neighbour."""

    def __init__(self, vertices: torch.Tensor, rows: int = 96) -> None:
        self.rows = rows
        lat = (torch.arange(rows) + 0.5) / rows * torch.pi - torch.pi / 2
        lon = (torch.arange(2 * rows) + 0.5) / (2 * rows) * 2 * torch.pi - torch.pi
        la, lo = torch.meshgrid(lat, lon, indexing="ij")
        dirs = torch.stack([la.cos() * lo.cos(), la.cos() * lo.sin(), la.sin()], -1)
        unit = F.normalize(vertices.float(), dim=1)
        self.table = (dirs.reshape(-1, 3) @ unit.T).argmax(1)  # [rows * 2 rows]

    def __call__(self, points: torch.Tensor) -> torch.Tensor:
        """``[... x 3]`` points -> ``[...]`` int64 index of the nearest vertex direction."""
        p = F.normalize(points, dim=-1)
        lat = torch.asin(p[..., 2].clamp(-1.0, 1.0))
        lon = torch.atan2(p[..., 1], p[..., 0])
        r = ((lat + torch.pi / 2) / torch.pi * self.rows).long().clamp(0, self.rows - 1)
        c = ((lon + torch.pi) / (2 * torch.pi) * 2 * self.rows).long() % (2 * self.rows)
        return self.table[r * 2 * self.rows + c]


def search_rotation(
    anchor_vertices: torch.Tensor, anchor_features: torch.Tensor, vertices: torch.Tensor,
    features: torch.Tensor, n_coarse: int = 8192, refine: tuple[float, ...] = (10.0, 4.0, 1.5),
    n_refine: int = 128, k: int = 4, batch: int = 64, top: int = 8, seed: int = 0,
) -> tuple[np.ndarray, float]:  # fmt: skip
    """``(R* [3 x 3], distance)``: the rotation (frame of ``vertices`` -> anchor frame) of
    least :func:`feature_distance`. Coarse: ``n_coarse`` near-uniform rotations scored with the
    nearest vertex only (:class:`SphereLookup`; the meshes must be centred spheres); the
    ``top`` best are re-scored exactly, then ``n_refine`` perturbations within each angle of
    ``refine`` (deg) around the best so far."""
    gen = np.random.default_rng(seed)
    av, af = anchor_vertices.float(), F.normalize(anchor_features.float(), dim=1)
    v, f = vertices.float(), F.normalize(features.float(), dim=1)
    lookup = SphereLookup(v)

    def coarse(rots: torch.Tensor) -> torch.Tensor:  # anchor vertex m reads R^T V_m
        idx = lookup(av[None] @ rots)  # [N x V]: (R^T v)^T = v^T R
        return torch.linalg.vector_norm(f[idx] - af[None], dim=-1).mean(1)

    def exact(rots: torch.Tensor) -> torch.Tensor:
        return torch.cat([feature_distance(av, af, v, f, rots[s : s + batch], k)
                          for s in range(0, len(rots), batch)])  # fmt: skip

    cand = torch.as_tensor(random_rotations(n_coarse, gen), dtype=torch.float32)
    cand = torch.cat([torch.eye(3)[None], cand])
    with torch.no_grad():
        s = torch.cat([coarse(cand[i : i + 1024]) for i in range(0, len(cand), 1024)])
        cand = cand[s.topk(min(top, len(s)), largest=False).indices]
        s = exact(cand)
        best, best_s = cand[int(s.argmin())], float(s.min())
        for angle in refine:
            local = _perturb(best, n_refine, np.deg2rad(angle), gen)
            s = exact(local)
            if float(s.min()) < best_s:
                best, best_s = local[int(s.argmin())], float(s.min())
    return best.double().numpy(), best_s


@dataclass
class MergeResult:
    """What :func:`merge_meshes` found: the anchor's index, its merged ``features [V x D]``, and
    per other mesh index its ``R*`` (``[3 x 3]``, its frame -> anchor frame), feature distance
    and whether it merged."""

    anchor: int
    features: torch.Tensor
    rotations: dict[int, np.ndarray] = field(default_factory=dict)
    distances: dict[int, float] = field(default_factory=dict)
    merged: list[int] = field(default_factory=list)


def merge_meshes(
    vertices: torch.Tensor, features: list[torch.Tensor], anchor: int, threshold: float = 0.8,
    log=None, known: dict[int, tuple[np.ndarray, float]] | None = None, **search,
) -> MergeResult:  # fmt: skip
    """Merge every mesh of ``features`` (``[V x D]`` each, on the shared sphere ``vertices
    [V x 3]``) into ``features[anchor]`` (see the module doc). ``search``: keyword arguments of
    :func:`search_rotation`; ``known``: ``(R*, distance)`` per mesh index already searched (a
    previous run's, e.g. with another threshold), not searched again; ``log``: called with one
    line per mesh."""
    if not 0 <= anchor < len(features):
        raise ConfigError(f"anchor must be in 0..{len(features) - 1}, got {anchor}")
    anchor_feats = F.normalize(features[anchor].float(), dim=1)
    total = anchor_feats.clone()
    result = MergeResult(anchor=anchor, features=anchor_feats)
    for i, feats in enumerate(features):
        if i == anchor:
            continue
        if known and i in known:
            R, dist = np.asarray(known[i][0], dtype=np.float64), float(known[i][1])
        else:
            R, dist = search_rotation(vertices, anchor_feats, vertices, feats, **search)
        result.rotations[i], result.distances[i] = R, dist
        if dist < threshold:
            result.merged.append(i)
            rot = torch.as_tensor(R, dtype=torch.float32)[None]
            total += carried_features(vertices.float(), vertices.float(),
                                      F.normalize(feats.float(), dim=1), rot)[0]  # fmt: skip
        if log is not None:
            log(f"mesh {i} -> anchor {anchor}: distance {dist:.3f} "
                f"({'merged' if dist < threshold else 'kept apart'})")  # fmt: skip
    result.features = F.normalize(total / (1 + len(result.merged)), dim=1)
    return result


def relabel(R_view: np.ndarray, R_star: np.ndarray) -> np.ndarray:
    """Eq. 12: ``R_view`` (instance frame -> camera) of a merged instance's image as a label of
    the anchor: ``R_view @ R_star^T``."""
    return np.asarray(R_view, dtype=np.float64) @ np.asarray(R_star, dtype=np.float64).T
