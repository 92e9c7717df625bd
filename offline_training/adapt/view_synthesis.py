"""Neural view synthesis and pose matching (paper 002, NVSM's E-step), pure torch.

Given a posed *source* image (an annotated anchor, or an image labelled in an earlier round) and
an unposed target image, paper 002 scores a pose shift ``dtheta`` by ``S(A, B | dtheta, Gamma)``:

1. *Source features on the mesh* (:func:`source_vertex_features`): the mesh ``Gamma`` (the
   category's neural mesh geometry) is projected at the source pose into the source crop's
   feature map ``[D x h x w]``; every vertex facing the camera inside the map takes the
   (bilinearly sampled, unit) feature there; the others get weight 0.
2. *Synthesis* (:func:`synthesize_views`): that "source-feature mesh" is rasterised at the
   shifted pose ``R' = dR @ R_view`` and its features interpolated; a pixel is valid where
   the interpolated weight is at least 0.5 (it shows a part of the mesh the source saw).
3. *Matching* (:func:`match_views`): the similarity of a synthesized view ``n`` and a target's
   observed unit features ``F_b`` is the mean cosine over the view's valid pixels,
   ``S[n, b] = sum_p T_n(p) . F_b(p) / |valid_n|``; one GEMM for all views and targets.

Placement: views are rendered once in a canonical crop camera (``h x w`` map, focal ``f``
cells), not once per target: an estimator's crop is centred on the detection box and scaled so
its longer side is ``h / crop_scale`` cells, so under weak perspective the object looks the same
in every crop whatever the camera. Each view puts the object on the optical axis at the distance
where its projected shape (``shape_points``, the object the detector boxes) spans the box side
and shifts the principal point so that the shape's 2D box is centred; :func:`place_in_crop`
puts a view's rotation into a target crop with that box (translation from the same prior,
rotation seen along the ray through the object centre, :func:`.pose_param.ray_rotation`).

Pose shifts (:func:`pose_shifts`): the identity and rings of ``n_rings`` angles up to
``radius_deg`` about ``n_axes`` axes spread over the sphere, applied in the camera frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ros_pose_estimation.core.errors import ConfigError, check_shape
from ros_pose_estimation.nemo.pose_param import (
    distance_prior,
    projected_extent,
    ray_rotation,
    rodrigues,
)
from ros_pose_estimation.render.rasterizer import rasterize

__all__ = [
    "Matches",
    "SynthesizedViews",
    "match_to_sources",
    "match_views",
    "place_in_crop",
    "pose_shifts",
    "source_vertex_features",
    "synthesize_views",
    "view_rotation",
]


def pose_shifts(radius_deg: float, n_rings: int = 3, n_axes: int = 24) -> torch.Tensor:
    """``[1 + n_rings * n_axes, 3, 3]`` rotations: the identity, then angles
    ``radius_deg * k / n_rings`` (``k = 1..n_rings``) about ``n_axes`` unit axes of a
    Fibonacci sphere (deterministic, evenly spread). float32."""
    if radius_deg < 0 or n_rings < 1 or n_axes < 1:
        raise ConfigError(f"pose shifts: need radius >= 0, rings >= 1, axes >= 1, got "
                          f"{radius_deg}, {n_rings}, {n_axes}")  # fmt: skip
    i = torch.arange(n_axes, dtype=torch.float64) + 0.5
    z = 1.0 - 2.0 * i / n_axes
    phi = i * math.pi * (3.0 - math.sqrt(5.0))
    r = torch.sqrt(1.0 - z * z)
    axes = torch.stack([r * torch.cos(phi), r * torch.sin(phi), z], -1)
    angles = torch.deg2rad(torch.arange(1, n_rings + 1, dtype=torch.float64) * radius_deg
                           / n_rings)  # fmt: skip
    w = (angles[:, None, None] * axes[None]).reshape(-1, 3)
    w = torch.cat([torch.zeros(1, 3, dtype=torch.float64), w])
    return rodrigues(w).float()


def view_rotation(R: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """``[N x 3 x 3]`` rotation of an object at pose ``R [N x 3 x 3]``, ``t [N x 3]`` (m) as
    seen along its ray: ``R_ray^T R`` with ``R_ray`` taking +z to ``t``'s direction."""
    K = torch.eye(3, dtype=R.dtype, device=R.device).expand(len(R), 3, 3)
    uv = t[:, :2] / t[:, 2:3]
    return ray_rotation(K, uv).transpose(1, 2) @ R


@torch.no_grad()
def source_vertex_features(vertices: torch.Tensor, normals: torch.Tensor,
                           feature_map: torch.Tensor, K: torch.Tensor, R: torch.Tensor,
                           t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Vertex features a posed source image gives the mesh (step 1 of the module doc).

    Args:
        vertices, normals: ``[V x 3]`` mesh vertices (m) and outward unit normals (convex
            mesh: facing the camera = visible).
        feature_map: ``[D x h x w]`` the source crop's unit features.
        K: ``[3 x 3]`` the feature map's camera (cells); R: ``[3 x 3]``, t: ``[3]`` (m) pose.

    Returns:
        ``features [V x D]`` (unit; 0 where unseen) and ``weight [V]`` (1 seen, 0 not).
    """
    d, h, w = check_shape("feature_map", feature_map, ("D", "h", "w")).values()
    cam = vertices @ R.T + t
    facing = ((normals @ R.T) * cam).sum(-1) < 0
    uv = (cam @ K.T)[:, :2] / cam[:, 2:3].clamp_min(1e-6)
    inside = (uv[:, 0] >= 0) & (uv[:, 0] <= w - 1) & (uv[:, 1] >= 0) & (uv[:, 1] <= h - 1)
    seen = facing & inside & (cam[:, 2] > 0)
    grid = torch.stack([2.0 * uv[:, 0] / max(w - 1, 1) - 1.0,
                        2.0 * uv[:, 1] / max(h - 1, 1) - 1.0], -1)  # fmt: skip
    sampled = F.grid_sample(feature_map[None].float(), grid[None, None].float(),
                            align_corners=True)[0, :, 0].T  # fmt: skip
    feats = F.normalize(sampled, dim=1) * seen[:, None]
    return feats, seen.float()


@dataclass
class SynthesizedViews:
    """``N`` synthesized feature maps in the canonical crop camera (module doc).

    Attributes:
        features: ``[N x D x h x w]`` unit features on valid pixels, 0 elsewhere.
        valid: ``[N]`` number of valid pixels; coverage: ``[N]`` valid / rendered pixels.
        rotation: ``[N x 3 x 3]`` view rotations ``R_view`` (on-axis object).
        center: ``[N x 2]`` the object centre's offset from the shape's box centre, in units
            of the box's longer side (for :func:`place_in_crop`).
        extent: ``[N]`` the shape's longer projected side (m) at ``rotation``.
    """

    features: torch.Tensor
    valid: torch.Tensor
    coverage: torch.Tensor
    rotation: torch.Tensor
    center: torch.Tensor
    extent: torch.Tensor


@torch.no_grad()
def synthesize_views(vertices: torch.Tensor, faces: torch.Tensor, source_features: torch.Tensor,
                     source_weight: torch.Tensor, source: torch.Tensor, rotation: torch.Tensor,
                     shape_points: torch.Tensor, size: int, box_side: float,
                     focal: float) -> SynthesizedViews:  # fmt: skip
    """Render source-feature meshes at view rotations (step 2 of the module doc).

    Args:
        vertices: ``[V x 3]`` (m); faces: ``[F x 3]`` (CCW from outside, closed mesh).
        source_features: ``[S x V x D]``, source_weight: ``[S x V]``
            (:func:`source_vertex_features` of ``S`` sources).
        source: ``[N]`` int64 source of each view; rotation: ``[N x 3 x 3]`` its ``R_view``.
        shape_points: ``[P x 3]`` the boxed shape (m); size: map side ``h = w`` (cells);
        box_side: the box's longer side in the map (cells); focal: canonical focal (cells).
    """
    s, v, d = check_shape("source_features", source_features, ("S", "V", "D")).values()
    check_shape("source_weight", source_weight, (s, v))
    n = check_shape("rotation", rotation, ("N", 3, 3))["N"]
    check_shape("source", source, (n,))
    rotation = rotation.float()
    extent = projected_extent(shape_points.float(), rotation)
    dist = distance_prior(extent, torch.tensor(focal), torch.tensor(float(box_side)))
    pts = torch.einsum("nij,pj->npi", rotation, shape_points.float())
    pts[..., 2] += dist[:, None]
    uv = focal * pts[..., :2] / pts[..., 2:3]  # principal point at 0
    box_mid = 0.5 * (uv.amin(1) + uv.amax(1))  # [N x 2]
    K = torch.zeros(n, 3, 3)
    K[:, 0, 0] = K[:, 1, 1] = focal
    K[:, :2, 2] = 0.5 * (size - 1) - box_mid
    K[:, 2, 2] = 1.0
    t = torch.zeros(n, 3)
    t[:, 2] = dist
    frags = rasterize(vertices.float(), faces, K, rotation, t, (size, size), cull_backfaces=True)
    table = torch.cat([source_features.float() * source_weight[..., None].float(),
                       source_weight[..., None].float()], -1).reshape(s * v, d + 1)  # fmt: skip
    idx = (source[frags.fg_batch][:, None] * v + frags.fg_vertex).reshape(-1)
    offsets = torch.arange(0, idx.numel(), 3)
    interp = F.embedding_bag(idx, table, offsets, mode="sum",
                             per_sample_weights=frags.fg_bary.reshape(-1).float())  # fmt: skip
    ok = interp[:, d] >= 0.5
    feats = torch.zeros(n * size * size, d)
    feats[frags.fg_index[ok]] = F.normalize(interp[ok, :d], dim=1)
    valid = torch.bincount(frags.fg_batch[ok], minlength=n).float()
    rendered = torch.bincount(frags.fg_batch, minlength=n).float()
    return SynthesizedViews(
        features=feats.view(n, size, size, d).permute(0, 3, 1, 2).contiguous(),
        valid=valid, coverage=valid / rendered.clamp_min(1.0), rotation=rotation,
        center=-box_mid / float(box_side), extent=extent,
    )  # fmt: skip


@torch.no_grad()
def match_views(views: torch.Tensor, valid: torch.Tensor, observed: torch.Tensor,
                chunk: int = 512) -> torch.Tensor:  # fmt: skip
    """``[N x B]`` similarities ``S[n, b]`` (step 3 of the module doc) of synthesized views
    ``[N x D x h x w]`` (``valid [N]`` pixels each) and observed unit features
    ``[B x D x h x w]``; 0 for a view without a valid pixel."""
    n = views.shape[0]
    check_shape("observed", observed, ("B", *views.shape[1:]))
    check_shape("valid", valid, (n,))
    obs = observed.float().reshape(len(observed), -1).T  # [D h w x B]
    out = torch.empty(n, len(observed))
    for i in range(0, n, chunk):
        out[i : i + chunk] = views[i : i + chunk].reshape(-1, obs.shape[0]).float() @ obs
    return out / valid.clamp_min(1.0)[:, None]


def place_in_crop(rotation: torch.Tensor, center: torch.Tensor, extent: torch.Tensor,
                  K: torch.Tensor, box_center: torch.Tensor,
                  box_side: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """A view's pose in a target crop: ``rotation [N x 3 x 3]``, ``center [N x 2]``,
    ``extent [N]`` (:class:`SynthesizedViews`) into the crops of cameras ``K [N x 3 x 3]``
    (cells) whose boxes have centres ``box_center [N x 2]`` (cells) and longer sides
    ``box_side [N]`` (cells). Returns ``R [N x 3 x 3]``, ``t [N x 3]`` (m)."""
    uv = box_center + center * box_side[:, None]
    focal = 0.5 * (K[:, 0, 0] + K[:, 1, 1])
    dist = distance_prior(extent, focal, box_side)
    fx, fy, cx, cy = K[:, 0, 0], K[:, 1, 1], K[:, 0, 2], K[:, 1, 2]
    ray = torch.stack([(uv[:, 0] - cx) / fx, (uv[:, 1] - cy) / fy, torch.ones_like(fx)], -1)
    return ray_rotation(K, uv) @ rotation, dist[:, None] * ray


@dataclass
class Matches:
    """The best synthesized view of each of ``B`` targets (:func:`match_to_sources`).

    Attributes:
        score: ``[B]`` similarity ``S`` of the best view (-inf: no view could match).
        R: ``[B x 3 x 3]``, t: ``[B x 3]`` (m) its pose in the target crop's camera.
        source: ``[B]`` int64 index (into the sources) of the view's source, -1 if none.
        shift_deg: ``[B]`` angle of the view's pose shift from its source (deg).
    """

    score: torch.Tensor
    R: torch.Tensor
    t: torch.Tensor
    source: torch.Tensor
    shift_deg: torch.Tensor


@torch.no_grad()
def match_to_sources(mesh, shape_points: torch.Tensor, features: torch.Tensor, K: torch.Tensor,
                     box_center: torch.Tensor, box_side: torch.Tensor, sources: torch.Tensor,
                     source_R: torch.Tensor, source_t: torch.Tensor, shifts: torch.Tensor,
                     crop_scale: float, min_coverage: float = 0.6,
                     max_views: int = 2048) -> Matches:  # fmt: skip
    """Match every target crop to the views synthesized from every source (module doc).

    Args:
        mesh: the neural mesh (its geometry only: ``vertices``, ``faces``, normals).
        shape_points: ``[P x 3]`` the boxed shape (m).
        features: ``[B x D x h x w]`` unit features of the ``B`` crops (``h = w``);
            K: ``[B x 3 x 3]`` their feature maps' cameras; box_center: ``[B x 2]``,
            box_side: ``[B]`` their detection boxes (cells).
        sources: ``[S]`` int64 crops (indices into the targets) that are posed, at
            ``source_R [S x 3 x 3]``, ``source_t [S x 3]`` (m); a target never matches views
            of its own crop.
        shifts: ``[M x 3 x 3]`` pose shifts (:func:`pose_shifts`).
        crop_scale: crop side / box side (the canonical box side is ``h / crop_scale``).
        min_coverage: views whose valid pixels are fewer than this fraction of the rendered
            ones are not used (too much of the mesh unseen by the source).
        max_views: views synthesized at once (memory: ``max_views x D x h x w`` floats).
    """
    b, d, h = check_shape("features", features, ("B", "D", "h", "h")).values()
    s = check_shape("sources", sources, ("S",))["S"]
    check_shape("source_R", source_R, (s, 3, 3))
    check_shape("source_t", source_t, (s, 3))
    normals = mesh.vertex_normals().float()
    verts = mesh.vertices.float()
    src_feats = torch.zeros(s, len(verts), d)
    src_w = torch.zeros(s, len(verts))
    for i in range(s):
        j = int(sources[i])
        src_feats[i], src_w[i] = source_vertex_features(
            verts, normals, features[j], K[j], source_R[i].float(), source_t[i].float()
        )
    view_rot = shifts[None].float() @ view_rotation(source_R.float(), source_t.float())[:, None]
    view_rot = view_rot.reshape(-1, 3, 3)  # [S * M], source-major
    view_src = torch.arange(s).repeat_interleave(len(shifts))
    view_shift = torch.arange(len(shifts)).repeat(s)
    angles = torch.rad2deg(torch.acos(((shifts.diagonal(0, 1, 2).sum(-1) - 1) / 2).clamp(-1, 1)))
    best = torch.full((b,), -math.inf)
    best_view = torch.full((b,), -1, dtype=torch.int64)
    keep_rot, keep_center, keep_extent = torch.eye(3).repeat(b, 1, 1), torch.zeros(b, 2), \
        torch.ones(b)  # fmt: skip
    side = h / crop_scale
    focal = 3.0 * h  # canonical crop camera: a narrow field of view (weak perspective)
    for i in range(0, len(view_rot), max_views):
        sl = slice(i, i + max_views)
        views = synthesize_views(verts, mesh.faces, src_feats, src_w, view_src[sl],
                                 view_rot[sl], shape_points, h, side, focal)  # fmt: skip
        sim = match_views(views.features, views.valid, features)
        bad = views.coverage < min_coverage
        sim[bad] = -math.inf
        own = sources[view_src[sl]][:, None] == torch.arange(b)[None]
        sim[own] = -math.inf
        top, arg = sim.max(0)
        better = top > best
        best = torch.where(better, top, best)
        best_view = torch.where(better, arg + i, best_view)
        keep_rot[better] = views.rotation[arg[better]]
        keep_center[better] = views.center[arg[better]]
        keep_extent[better] = views.extent[arg[better]]
    R, t = place_in_crop(keep_rot, keep_center, keep_extent, K.float(), box_center.float(),
                         box_side.float())  # fmt: skip
    found = best_view >= 0
    src = torch.where(found, view_src[best_view.clamp_min(0)], torch.full_like(best_view, -1))
    shift = torch.where(found, angles[view_shift[best_view.clamp_min(0)]], torch.zeros(b))
    return Matches(best, R, t, src, shift)
