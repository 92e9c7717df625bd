"""Pose hypotheses: the viewpoint grid, and scoring hundreds of poses without rendering.

Score maps: with the observed unit features ``F [D x h x w]`` of a detection, the vertex
features ``f_v`` and the clutter similarity ``c_p`` (:mod:`.scoring`), the *margin map* of
vertex ``v`` is ``S_v(p) - c_p`` with ``S_v = F^T f_v``: how much better vertex ``v`` explains
pixel ``p`` than the best clutter feature. All ``V`` maps come from one matmul
(``[V x D] @ [D x hw]``); they are stored zero-padded by one cell so that bilinear sampling needs
no bounds checks (:class:`ScoreMaps`).

A pose is scored by projecting the vertices, keeping those whose normal faces the camera (exact
visibility for the convex cuboid / ellipsoid meshes) and averaging their margin maps sampled
bilinearly at their projections (0 outside the map):

    score = mean over facing vertices v of (S_v(uv_v) - c(uv_v))

the vertex-sampled counterpart of the ``"linear"`` render-and-compare loss (clutter competition
included). It costs ``V`` samples per pose, so all hypotheses of the grid take milliseconds
(:func:`score_hypotheses_scoremap`).
"""

from __future__ import annotations

import math

import torch

from ros_pose_estimation.core.errors import InputError, check_shape
from ros_pose_estimation.core.rotations import viewpoint_to_matrix
from ros_pose_estimation.nemo.pose_param import distance_prior, projected_extent, ray_rotation
from ros_pose_estimation.nemo.scoring import Observation


def viewpoint_grid(
    n_azimuth: int, elevations_deg, thetas_deg, device=None, dtype=torch.float32
) -> torch.Tensor:
    """``[N x 3 x 3]`` rotations of an on-axis object seen from every (azimuth, elevation,
    in-plane) combination (``core.rotations.viewpoint_to_matrix``), azimuth-major; azimuths
    ``360 * i / n_azimuth`` deg. ``N = n_azimuth * len(elevations) * len(thetas)``."""
    az = torch.arange(n_azimuth, dtype=torch.float64) * (2 * math.pi / n_azimuth)
    el = torch.deg2rad(torch.as_tensor(elevations_deg, dtype=torch.float64))
    th = torch.deg2rad(torch.as_tensor(thetas_deg, dtype=torch.float64))
    a, e, t = torch.meshgrid(az, el, th, indexing="ij")
    rot = viewpoint_to_matrix(a.reshape(-1), e.reshape(-1), t.reshape(-1))
    return rot.to(device=device, dtype=dtype)


def rotation_angles_deg(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``[... x N x M]`` geodesic angles (deg) between rotations ``a [... x N x 3 x 3]`` and
    ``b [... x M x 3 x 3]``, from ``trace(A^T B)`` (one matmul; ~0.1 deg accurate near 0)."""
    dots = a.flatten(-2) @ b.flatten(-2).transpose(-1, -2)
    return torch.rad2deg(torch.acos((0.5 * (dots - 1.0)).clamp(-1.0, 1.0)))


class HypothesisBank:
    """The viewpoint grid of one neural mesh, with everything that does not depend on the
    image, computed once and reused for every frame.

    Attributes:
        rotations: ``[N x 3 x 3]`` on-axis grid rotations.
        extent: ``[N]`` longer projected side (m) under each rotation of the object the
            detector boxes (``shape_points``, default the mesh vertices),
            :func:`.pose_param.projected_extent`.
        angles: ``[N x N]`` geodesic angles between grid rotations (deg), for diversity.
        subset: ``[V']`` indices of the vertices that score the grid (all when
            ``max_vertices`` is 0 or at least ``V``; else a seeded random subset, sorted).
        rotated: ``[N x V' x 3]`` ``R_n X`` (m); normals: ``[N x V' x 3]`` rotated normals.
    """

    def __init__(
        self,
        mesh,
        n_azimuth: int,
        elevations_deg,
        thetas_deg,
        device=None,
        max_vertices: int = 0,
        shape_points: torch.Tensor | None = None,
    ):
        device = mesh.vertices.device if device is None else torch.device(device)
        self.rotations = viewpoint_grid(n_azimuth, elevations_deg, thetas_deg, device)
        verts = mesh.vertices.to(device=device, dtype=torch.float32)
        normals = mesh.vertex_normals().to(device=device, dtype=torch.float32)
        shape = verts if shape_points is None else shape_points.to(verts)
        self.extent = projected_extent(shape, self.rotations)
        self.subset = vertex_subset(len(verts), max_vertices).to(device)
        self.rotated = torch.einsum("nij,vj->nvi", self.rotations, verts[self.subset])
        self.normals = torch.einsum("nij,vj->nvi", self.rotations, normals[self.subset])
        self.angles = rotation_angles_deg(self.rotations, self.rotations)

    def __len__(self) -> int:
        return int(self.rotations.shape[0])


def vertex_subset(n_vertices: int, max_vertices: int) -> torch.Tensor:
    """``[V']`` sorted int64 indices of a fixed (seed 0), evenly random subset of
    ``max_vertices`` of ``n_vertices`` vertices; all of them when ``max_vertices`` is 0 or at
    least ``n_vertices``."""
    if 0 < max_vertices < n_vertices:
        gen = torch.Generator().manual_seed(0)
        return torch.randperm(n_vertices, generator=gen)[:max_vertices].sort().values
    return torch.arange(n_vertices)


class ScoreMaps:
    """Margin maps ``S_v - c`` of ``B`` detections (see the module docstring).

    Args:
        obs: the detections' observations (features and clutter similarity).
        vertex_features: ``[V x D]`` unit vertex features.

    Attributes:
        similarity: ``[B x V x hw]`` ``F_p . f_v`` of every vertex and feature-map pixel
            (also what :class:`.gauss_newton.GaussNewtonRenderCompare` needs).
        padded: ``[B x V x (h + 2) x (w + 2)]`` maps with a zero border.
        quads: ``[B * V * (h + 1) * (w + 1) x 4]`` the four corners of every cell of the padded
            maps (top-left, top-right, bottom-left, bottom-right), so that a bilinear sample
            is one gather.
    """

    def __init__(self, obs: Observation, vertex_features: torch.Tensor):
        b, d, h, w = obs.features.shape
        n_vertices = check_shape("vertex_features", vertex_features, ("V", d))["V"]
        feats = obs.features.flatten(2)  # [B x D x hw]
        self.similarity = vertex_features.to(feats) @ feats
        margin = self.similarity - obs.clutter.reshape(b, 1, h * w)
        p = torch.nn.functional.pad(margin.view(b, n_vertices, h, w), (1, 1, 1, 1))
        self.padded = p
        corners = (p[..., :-1, :-1], p[..., :-1, 1:], p[..., 1:, :-1], p[..., 1:, 1:])
        self.quads = torch.stack(corners, -1).reshape(-1, 4)
        self.size = (h, w)
        self.n_vertices = n_vertices
        cells = (h + 1) * (w + 1)
        self._rows = torch.arange(b * n_vertices, device=p.device).view(b, n_vertices) * cells

    def rows(self, det: torch.Tensor, vertices: torch.Tensor | None = None) -> torch.Tensor:
        """Offsets into :attr:`quads` of the maps of detections ``det [...]`` and vertices
        ``vertices [V']`` (default all): ``[... x V']`` int64, for :meth:`sample`."""
        rows = self._rows[det]
        return rows if vertices is None else rows[..., vertices]

    def sample(self, rows: torch.Tensor, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Bilinear samples ``[... x V']`` of the maps ``rows`` (:meth:`rows`, broadcast
        against ``u``) at feature-map pixels ``u, v [... x V']`` (integers = cell centres),
        0 outside the map. Differentiable w.r.t. ``u``, ``v``."""
        h, w = self.size
        # padded coordinates in [0, w + 1]: beyond that everything is 0 (clamp keeps it so)
        u = (u + 1.0).clamp(0.0, w + 1.0)
        v = (v + 1.0).clamp(0.0, h + 1.0)
        u0 = torch.floor(u.detach()).clamp_(max=w)
        v0 = torch.floor(v.detach()).clamp_(max=h)
        fu, fv = u - u0, v - v0
        cell = (v0 * (w + 1) + u0).long() + rows
        q = self.quads.index_select(0, cell.reshape(-1)).view(*cell.shape, 4)
        top = torch.lerp(q[..., 0], q[..., 1], fu)
        bottom = torch.lerp(q[..., 2], q[..., 3], fu)
        return torch.lerp(top, bottom, fv)


def _facing_and_uv(cam: torch.Tensor, normals: torch.Tensor, K: torch.Tensor):
    """Camera-frame points and normals ``[... x V x 3]``, ``K [... x 3 x 3]`` -> facing mask
    ``[... x V]`` (float 0/1) and feature-map pixels ``u, v [... x V]``."""
    facing = ((normals * cam).sum(-1) < 0).to(cam.dtype)
    z = cam[..., 2].clamp_min(1e-6)
    u = K[..., 0:1, 0] * cam[..., 0] / z + K[..., 0:1, 2]
    v = K[..., 1:2, 1] * cam[..., 1] / z + K[..., 1:2, 2]
    return facing, u, v


def _mean_over(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (values * mask).sum(-1) / mask.sum(-1).clamp_min(1.0)


def hypothesis_poses(
    bank: HypothesisBank, obs: Observation
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every grid rotation placed on each detection's box centre at its prior distance.

    Hypothesis ``(b, n)`` is ``R = R_ray[b] @ bank.rotations[n]`` (the grid view seen along the
    ray through the box centre, :func:`.pose_param.ray_rotation`) and ``t = d[b, n] * ray_b``
    with ``ray_b = K^-1 [anchor_b, 1]`` and ``d`` from :func:`.pose_param.distance_prior`.

    Returns:
        ``R_ray [B x 3 x 3]``, ``t [B x N x 3]`` (m, feature map's camera), ``d [B x N]`` (m).
    """
    K = obs.K.to(bank.rotations)
    anchor = obs.anchor.to(K)
    r_ray = ray_rotation(K, anchor)
    focal = 0.5 * (K[:, 0, 0] + K[:, 1, 1])
    dist = distance_prior(bank.extent[None], focal[:, None], obs.box_side.to(K)[:, None])
    fx, fy, cx, cy = K[:, 0, 0], K[:, 1, 1], K[:, 0, 2], K[:, 1, 2]
    u, v = anchor[:, 0], anchor[:, 1]
    ray = torch.stack([(u - cx) / fx, (v - cy) / fy, torch.ones_like(fx)], -1)  # [B x 3]
    return r_ray, dist[..., None] * ray[:, None], dist


def score_hypotheses_scoremap(
    bank: HypothesisBank,
    obs: Observation,
    maps: ScoreMaps,
    r_ray: torch.Tensor,
    t: torch.Tensor,
) -> torch.Tensor:
    """``[B x N]`` scores of every grid hypothesis of every detection (higher is better).

    Args:
        bank: the grid (its ``rotated`` vertices and ``normals`` are reused).
        obs: observations of the ``B`` detections.
        maps: their margin maps.
        r_ray: ``[B x 3 x 3]``, t: ``[B x N x 3]`` from :func:`hypothesis_poses`.
    """
    b = check_shape("t", t, ("B", len(bank), 3))["B"]
    check_shape("r_ray", r_ray, (b, 3, 3))
    cam = torch.einsum("bij,nvj->bnvi", r_ray, bank.rotated) + t[:, :, None]  # [B x N x V x 3]
    normals = torch.einsum("bij,nvj->bnvi", r_ray, bank.normals)
    facing, u, v = _facing_and_uv(cam, normals, obs.K.to(cam)[:, None])
    rows = maps.rows(torch.arange(b, device=cam.device), bank.subset)[:, None]  # [B x 1 x V']
    return _mean_over(maps.sample(rows, u, v), facing)


def select_diverse(
    scores: torch.Tensor, angles: torch.Tensor, k: int, min_separation_deg: float
) -> torch.Tensor:
    """``[B x k]`` indices of the best-scoring hypotheses, greedily skipping any within
    ``min_separation_deg`` of one already kept. ``angles`` (deg) is ``[N x N]`` (shared) or
    ``[B x N x N]``. When fewer than ``k`` survive, the best remaining ones fill up."""
    b, n = scores.shape
    if angles.dim() == 2:
        check_shape("angles", angles, (n, n))
        angles = angles.expand(b, n, n)
    check_shape("angles", angles, (b, n, n))
    if k > n:
        raise InputError(f"top_k: expected at most the {n} hypotheses available, got {k}")
    work = scores.clone()
    taken = torch.zeros_like(scores, dtype=torch.bool)
    picks = []
    rows = torch.arange(b, device=scores.device)
    for _ in range(k):
        fresh = torch.isfinite(work).any(1)
        fallback = scores.masked_fill(taken, -math.inf)
        idx = torch.where(fresh, work.argmax(1), fallback.argmax(1))
        picks.append(idx)
        taken[rows, idx] = True
        near = angles[rows, idx] < min_separation_deg  # [B x N]
        work = work.masked_fill(near | taken, -math.inf)
    return torch.stack(picks, 1)
