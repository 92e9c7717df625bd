"""Self-supervised losses of the CSE model (paper 003 Eqs. 3-6 and appendix A.2) + the labelled
upper bound's extra terms.

Units: 2D positions are crop pixels divided by ``S / 2`` (crop side ``S``: a crop spans 2),
3D positions and depths are divided by the template diameter, so the published weights
(``shared/notes/methods.md``) act on unit-free quantities. Everything works at the feature
resolution (``n = S / stride`` cells per side); a cell is on the object when at least half its
pixels are on the mask.

* :func:`reconstruction`: Eq. 3, mask (soft silhouette of the deformed template at the
  predicted pose vs the mask), depth (rendered vs observed, where both exist) and colour
  (texture transferred to the vertices through ``W3d2d``, rendered back).
* :func:`cycle_2d3d` / :func:`cycle_3d2d`: Eq. 4, ``pi(phi(p)) ~ p`` over object cells and
  ``pi^-1(psi(x)) ~ x`` over vertices visible at the predicted pose (``pi^-1`` back-projects
  with the observed depth, the RGB-D form).
* :func:`transfer_cycle`: Eqs. 5-6, a source cell's distribution over vertices moved to the
  target mesh (same template: one-to-one) and to the target's pixels; its mean must land on the
  2D pair (cross-time pairs from depth + camera motion, cross-instance pairs from DINO
  descriptors (:mod:`.instance_pairs`), or the rotated-copy pairs).
* regularisers: :func:`deformation_loss` (smooth L1), :func:`laplacian_loss` (uniform Laplacian
  of the offsets), :func:`symmetry_loss` (Chamfer to the category's symmetric copy).
* :func:`supervised_loss`: labels on: every object cell's 3D point must be its true model
  coordinate (about the axis only, for rotation-symmetric categories) and the pose heads must
  predict the true pose; :func:`nearest_vertex_ce`: each cell's distribution over vertices must
  put its mass on the vertex nearest its true point. The first alone regresses the *mean* of
  the distribution (phi = W2d3d @ vertices), which a broad distribution centred inside the
  mesh also satisfies: correspondences then shrink towards the centre and blur the handle.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ros_pose_estimation.core.categories import get_category
from ros_pose_estimation.core.rotations import axis_angle_to_matrix
from ros_pose_estimation.cse.correspondence import Correspondence, map_3d_to_2d
from ros_pose_estimation.render import interpolate, project_points, rasterize, soft_silhouette
from ros_pose_estimation.render.visibility import vertex_visibility

#: Published weights (paper 003 Table 7) and this project's for the unpublished ones.
DEFAULT_WEIGHTS = {
    "texture": 0.05,
    "mask": 0.15,
    "depth": 0.1,
    "cycle_2d3d": 0.02,
    "cycle_3d2d": 0.02,
    "time": 0.05,
    "inst": 0.05,  # cross-instance cycle, only with DINO pairs (CseTrainConfig.instance_pairs)
    "aux": 0.05,
    "deform": 0.1,  # not published
    "laplacian": 0.1,  # not published
    "symmetry": 0.05,  # not published
    "supervised": 1.0,  # labelled upper bound only
    # labelled: cross-entropy of each cell's vertex distribution with the vertex nearest its
    # true point (off by default; the regression above alone is met by a broad distribution)
    "supervised_ce": 0.0,
    # pose-train's depth + TF pseudo-labels (the supervised terms on the labelled tracks only;
    # computed only when the data carries pseudo-labels)
    "pseudo": 1.0,
    # upright prior from /tf: the pose heads' model +z vs the fixed frame's up (off by default;
    # pose-train --method cse turns it on)
    "gravity": 0.0,
    # paper 004, opt-in (off by default, see BENCHMARKS.md): part-level shape memory (Eq. 3,
    # .shape_memory) and the CSE deformation pulled to its shape; one-to-one Hungarian
    # pseudo-labels, region (Eq. 7) and pixel (Eq. 8) level (.hungarian_labels)
    "memory": 0.0,
    "memory_deform": 0.0,
    "c2f_coarse": 0.0,
    "c2f_fine": 0.0,
}


def feature_K(K: torch.Tensor, stride: int) -> torch.Tensor:
    """Crop intrinsics ``[B x 3 x 3]`` -> those of its ``stride``-times smaller feature grid."""
    Kf = K.clone()
    Kf[:, :2, :2] = K[:, :2, :2] / stride
    Kf[:, :2, 2] = (K[:, :2, 2] + 0.5) / stride - 0.5
    return Kf


def cell_observations(mask: torch.Tensor, depth: torch.Tensor, image: torch.Tensor, stride: int):
    """``[B x S x S]`` mask, depth (m) and ``[B x 3 x S x S]`` image -> per cell ``[B x n x n]``
    mask fraction, mean valid masked depth (0: none) and ``[B x 3 x n x n]`` mean colour."""
    m = mask.float()[:, None]
    frac = F.avg_pool2d(m, stride)[:, 0]
    good = m * (depth[:, None] > 0)
    count = F.avg_pool2d(good, stride)[:, 0]
    zsum = F.avg_pool2d(good * depth[:, None], stride)[:, 0]
    cell_depth = torch.where(count > 0, zsum / count.clamp(min=1e-9), torch.zeros_like(zsum))
    return frac, cell_depth, F.avg_pool2d(image, stride)


def _norm2d(x: torch.Tensor, size: int) -> torch.Tensor:
    return x / (size / 2.0)


def _masked_mean(values: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return (values * weight).sum() / weight.sum().clamp(min=1.0)


def cycle_2d3d(corr, vertices, R, t, K, xy, size) -> torch.Tensor:
    """Eq. 4 left: ``||pi(phi(p)) - p||^2`` over object cells (crop px normalised by ``S/2``)."""
    q = corr.w2d3d @ vertices  # [B x P x 3] model frame
    uv, z = project_points(q @ R.transpose(1, 2) + t[:, None], K)
    ok = corr.mask & (z > 1e-3)
    err = (_norm2d(uv - xy, size) ** 2).sum(-1)
    return _masked_mean(torch.where(ok, err, torch.zeros_like(err)), ok.float())


def cycle_3d2d(corr, vertices, R, t, K, xy, cell_depth, visible, stride, diameter):
    """Eq. 4 right, RGB-D form: vertex -> its 2D point ``psi(x)`` -> back-projected with the
    observed depth of that cell -> model frame; ``||. - x||^2 / diameter^2`` over vertices
    visible at the predicted pose whose 2D point has depth."""
    b, n = cell_depth.shape[0], cell_depth.shape[-1]
    p = map_3d_to_2d(corr, xy)  # [B x V x 2] crop px
    cell = ((p.detach() + 0.5) / stride - 0.5).round().long().clamp(0, n - 1)
    flat = cell[..., 1] * n + cell[..., 0]
    z = torch.gather(cell_depth.reshape(b, -1), 1, flat)  # [B x V]
    ok = visible & (z > 0)
    rays = torch.stack(
        [(p[..., 0] - K[:, None, 0, 2]) / K[:, None, 0, 0],
         (p[..., 1] - K[:, None, 1, 2]) / K[:, None, 1, 1], torch.ones_like(z)], -1,
    )  # fmt: skip
    cam = rays * z[..., None]
    model_pts = (cam - t[:, None]) @ R  # R^T (x - t)
    err = ((model_pts - vertices) ** 2).sum(-1) / diameter**2
    return _masked_mean(torch.where(ok, err, torch.zeros_like(err)), ok.float())


def reconstruction(
    faces, vertices, R, t, Kf, frac, cell_depth, colours, px_colours, corr, diameter, edges
):
    """Eq. 3 terms ``{"mask", "depth", "texture"}`` at the feature resolution; ``colours``
    ``[B x 3 x n x n]`` per cell, ``px_colours`` ``[B x P x 3]`` those of ``corr``'s pixels."""
    n = frac.shape[-1]
    frag = rasterize(vertices, faces, Kf, R, t, (n, n))
    sil = soft_silhouette(vertices, faces, Kf, R, t, (n, n), fragments=frag, edges=edges)
    mask_loss = ((sil - frac) ** 2).mean()
    both = frag.mask & (cell_depth > 0) & (frac >= 0.5)
    derr = ((frag.depth - cell_depth) / diameter) ** 2
    depth_loss = _masked_mean(torch.where(both, derr, torch.zeros_like(derr)), both.float())
    tex = corr.w3d2d.transpose(1, 2) @ px_colours  # [B x V x 3] texture transfer
    rendered = interpolate(frag, tex)  # [B x 3 x n x n]
    cerr = ((rendered - colours) ** 2).sum(1)
    seen = frag.mask & (frac >= 0.5)
    tex_loss = _masked_mean(torch.where(seen, cerr, torch.zeros_like(cerr)), seen.float())
    return {"mask": mask_loss, "depth": depth_loss, "texture": tex_loss}


def transfer_cycle(
    src: Correspondence, tgt: Correspondence, cells, uv_tgt, valid, xy, size
) -> torch.Tensor:
    """Eqs. 5-6 for ``k`` pairs per crop: source cells ``cells [B x k]`` (int64) whose true
    location in the target is ``uv_tgt [B x k x 2]`` (crop px); ``valid [B x k]`` bool."""
    p_tgt = map_3d_to_2d(tgt, xy)  # [B x V x 2] each target vertex's 2D point
    rows = torch.gather(src.w2d3d, 1, cells[..., None].expand(-1, -1, src.w2d3d.shape[2]))
    forward = rows @ p_tgt  # [B x k x 2]
    err = (_norm2d(forward - uv_tgt, size) ** 2).sum(-1)
    return _masked_mean(torch.where(valid, err, torch.zeros_like(err)), valid.float())


def rotate_crops(images, masks, depth, angles):
    """Rotate crops about their centre by ``angles [B]`` (rad; image-plane, counter-clockwise in
    the displayed image). Returns the rotated images (bilinear), masks and depth (nearest)."""
    c, s = torch.cos(angles), torch.sin(angles)
    # affine_grid maps output -> input coordinates: the inverse rotation moves content by +a
    theta = torch.stack([torch.stack([c, s, torch.zeros_like(c)], -1),
                         torch.stack([-s, c, torch.zeros_like(c)], -1)], 1)  # fmt: skip
    grid = F.affine_grid(theta, images.shape, align_corners=False)
    img = F.grid_sample(images, grid, align_corners=False)
    aux = torch.stack([masks.float(), depth], 1)
    aux = F.grid_sample(aux, grid, mode="nearest", align_corners=False)
    return img, aux[:, 0] > 0.5, aux[:, 1]


def rotate_points(xy: torch.Tensor, angles: torch.Tensor, size: int) -> torch.Tensor:
    """Crop px ``[B x k x 2]`` -> where :func:`rotate_crops` moves them."""
    centre = (size - 1) / 2.0
    c, s = torch.cos(angles)[:, None], torch.sin(angles)[:, None]
    x, y = xy[..., 0] - centre, xy[..., 1] - centre
    return torch.stack([c * x - s * y, s * x + c * y], -1) + centre


def deformation_loss(offsets: torch.Tensor, diameter) -> torch.Tensor:
    return F.smooth_l1_loss(offsets / diameter, torch.zeros_like(offsets), beta=0.05)


def laplacian_loss(offsets: torch.Tensor, edges: torch.Tensor, diameter) -> torch.Tensor:
    """Uniform Laplacian of the offsets: each vertex's offset minus its neighbours' mean."""
    b, v, _ = offsets.shape
    i, j = edges[:, 0], edges[:, 1]
    total = torch.zeros_like(offsets)
    total.index_add_(1, i, offsets[:, j]).index_add_(1, j, offsets[:, i])
    deg = torch.zeros(v, device=offsets.device).index_add_(
        0, torch.cat([i, j]), torch.ones(2 * len(i), device=offsets.device)
    )
    lap = offsets - total / deg.clamp(min=1)[None, :, None]
    return ((lap / diameter) ** 2).sum(-1).mean()


def symmetry_transforms(category: str) -> list[torch.Tensor]:
    """Proper/improper ``[3 x 3]`` maps of the category onto itself used by the symmetry loss:
    rotations by 90/180 deg about a continuous axis, the xz mirror (y -> -y) for mug, laptop
    and camera, the discrete group otherwise."""
    cat = get_category(category)
    if len(cat.continuous_axes):
        a = torch.as_tensor(cat.continuous_axes[0], dtype=torch.float64)
        return [axis_angle_to_matrix(a * ang).float() for ang in (math.pi / 2, math.pi)]
    if cat.name in ("mug", "laptop", "camera"):
        return [torch.diag(torch.tensor([1.0, -1.0, 1.0]))]
    return [torch.as_tensor(g, dtype=torch.float32) for g in cat.discrete[1:]]


def symmetry_loss(vertices: torch.Tensor, transforms, diameter) -> torch.Tensor:
    """Symmetric Chamfer distance between the deformed mesh and its transformed copies."""
    if not transforms:
        return vertices.new_zeros(())
    total = vertices.new_zeros(())
    for T in transforms:
        moved = vertices @ T.to(vertices).t()
        d = torch.cdist(vertices, moved) / diameter
        total = total + (d.min(2).values ** 2).mean() + (d.min(1).values ** 2).mean()
    return total / len(transforms)


def supervised_loss(corr, vertices, R, t, K, xy, z, R_gt, t_gt, category, diameter,
                    stretch=None):
    """Labels on: cell 3D points vs true model coordinates + pose heads (rotation: the symmetry
    axis only when symmetric). The labels are first moved to the equivalent pose nearest the
    prediction, so every equivalent pose is right: for a continuous symmetry axis (bottle, bowl,
    can) turned about it by one angle per crop (:func:`nearest_turned_truth`: the crop's
    points must agree with each other on the azimuth, which a per-point radius + height
    target leaves free and the rigid solve needs), for a finite group (``box``) by the group
    element (:func:`nearest_equivalent_truth`). ``xy [B x P x 2]`` (crop px) and ``z [B x P]``
    (m, 0 = none) are the observed cells of ``corr``. ``stretch [B x 3]``: template extents /
    instance extents per axis, for a ``per_axis_scale`` model (labels in the stretched template
    frame, :mod:`ros_pose_estimation.cse.axis_scale`); None: metric labels."""
    truth = true_model_points(K, xy, z, R_gt, t_gt, stretch)  # [B x P x 3] model coordinates
    q = corr.w2d3d @ vertices
    ok = corr.mask & (z > 0)
    cat = get_category(category)
    if len(cat.continuous_axes):
        truth = nearest_turned_truth(truth, q.detach(), ok)
        rot = ((R[..., 2] - R_gt[..., 2]) ** 2).sum(-1).mean()
    else:
        truth, g = nearest_equivalent_truth(truth, q.detach(), ok, category)
        rot = ((R - R_gt @ g) ** 2).sum((-1, -2)).mean()
    err = ((q - truth) ** 2).sum(-1) / diameter**2
    corr_loss = _masked_mean(torch.where(ok, err, torch.zeros_like(err)), ok.float())
    trans = (((t - t_gt) / diameter) ** 2).sum(-1).mean()
    return corr_loss + 0.1 * (rot + trans)


def nearest_turned_truth(truth, q, ok):
    """The labels of a category symmetric about model +z, turned about z by the one angle per
    item that brings them nearest the prediction (weighted 2D Procrustes on x, y).

    Args:
        truth: ``[B x P x 3]`` true model coordinates; q: ``[B x P x 3]`` predicted ones (no
            gradient needed); ok: ``[B x P]`` bool, cells that count.

    Returns:
        ``[B x P x 3]``: ``Rz(theta_b) truth`` with ``theta_b`` minimising the squared distance
        to ``q`` over the ``ok`` cells of item ``b`` (heights unchanged).
    """
    w = ok.to(truth.dtype)
    x, y = truth[..., 0], truth[..., 1]
    sin = (w * (x * q[..., 1] - y * q[..., 0])).sum(-1)
    cos = (w * (x * q[..., 0] + y * q[..., 1])).sum(-1)
    theta = torch.atan2(sin, cos)[:, None]  # [B x 1]
    c, s = torch.cos(theta), torch.sin(theta)
    return torch.stack([c * x - s * y, s * x + c * y, truth[..., 2]], -1)


def nearest_equivalent_truth(truth, q, ok, category):
    """Resolve a finite symmetry group's ambiguity of the labels.

    Args:
        truth: ``[B x P x 3]`` true model coordinates of the cells (from the labelled pose).
        q: ``[B x P x 3]`` predicted model coordinates (no gradient needed).
        ok: ``[B x P]`` bool, cells that count.
        category: category name; its ``discrete`` group ``[K x 3 x 3]`` (model frame) holds
            the rotations ``g`` with ``R g`` equivalent to ``R``.

    Returns:
        ``(truth', g)``: per item the labels as seen from the equivalent pose ``R_gt g`` (model
        points ``g^T p``) whose mean squared distance to ``q`` over the ``ok`` cells is the
        smallest, ``[B x P x 3]``, and that ``g``, ``[B x 3 x 3]`` (the identity for a category
        without a finite group).
    """
    group = torch.as_tensor(get_category(category).discrete, dtype=truth.dtype,
                            device=truth.device)  # fmt: skip
    b = truth.shape[0]
    if len(group) <= 1:
        return truth, torch.eye(3, dtype=truth.dtype, device=truth.device).expand(b, 3, 3)
    turned = truth[:, None] @ group  # [B x K x P x 3]: row p^T g = (g^T p)^T
    d = ((turned - q[:, None]) ** 2).sum(-1)  # [B x K x P]
    w = ok[:, None].to(d.dtype)
    score = (d * w).sum(-1) / w.sum(-1).clamp(min=1.0)  # [B x K]
    k = score.argmin(1)
    idx = torch.arange(b, device=truth.device)
    return turned[idx, k], group[k]


def gravity_prior(R: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    """Upright prior: the model's +z (up in the category's resting pose, ``categories.md``)
    turned into each camera by the pose heads, ``R [B x 3 x 3]`` (model -> camera), against the
    fixed frame's up in that camera, ``up [B x 3]`` (unit; from /tf): mean squared distance,
    0 for an upright object, 4 upside down."""
    return ((R[..., 2] - up) ** 2).sum(-1).mean()


def true_model_points(K, xy, z, R_gt, t_gt, stretch=None) -> torch.Tensor:
    """``[B x P x 3]`` model-frame points of cells at crop px ``xy [B x P x 2]`` with depth
    ``z [B x P]`` (m) seen by a camera ``K [B x 3 x 3]`` at the true pose ``R_gt, t_gt``;
    multiplied per axis by ``stretch [B x 3]`` when given (the model origin is the box centre,
    so this maps the instance's box onto the template's)."""
    rays = torch.stack(
        [(xy[..., 0] - K[:, None, 0, 2]) / K[:, None, 0, 0],
         (xy[..., 1] - K[:, None, 1, 2]) / K[:, None, 1, 1], torch.ones_like(z)], -1,
    )  # fmt: skip
    points = (rays * z[..., None] - t_gt[:, None]) @ R_gt
    return points if stretch is None else points * stretch[:, None]


def nearest_vertex_ce(corr, vertices, K, xy, z, R_gt, t_gt, category,
                      stretch=None) -> torch.Tensor:
    """Cross-entropy ``-log W2d3d[p, v*(p)]`` over labelled object cells, ``v*`` = the vertex
    (of the deformed mesh ``vertices [B x V x 3]``, no gradient through the choice) nearest the
    cell's true model point; for a category with a continuous symmetry axis (z) the true point
    is first turned about the axis to the azimuth of the predicted point, so every equivalent
    vertex ring is right; for a finite group the equivalent labels nearest the prediction are
    used (:func:`nearest_equivalent_truth`). ``stretch``: as :func:`supervised_loss`."""
    truth = true_model_points(K, xy, z, R_gt, t_gt, stretch)
    ok = corr.mask & (z > 0)
    q = (corr.w2d3d @ vertices).detach()
    if len(get_category(category).continuous_axes):
        turn = torch.atan2(q[..., 1], q[..., 0]) - torch.atan2(truth[..., 1], truth[..., 0])
        c, s = torch.cos(turn), torch.sin(turn)
        x, y = truth[..., 0], truth[..., 1]
        truth = torch.stack([c * x - s * y, s * x + c * y, truth[..., 2]], -1)
    else:  # a finite group: the equivalent labels nearest the prediction
        truth, _ = nearest_equivalent_truth(truth, q, ok, category)
    target = torch.cdist(truth, vertices.detach()).argmin(-1)  # [B x P]
    p = torch.gather(corr.w2d3d, 2, target[..., None])[..., 0]
    nll = -torch.log(p.clamp(min=1e-12))
    return _masked_mean(torch.where(ok, nll, torch.zeros_like(nll)), ok.float())


@torch.no_grad()
def visible_vertices(vertices, faces, Kf, R, t, n) -> torch.Tensor:
    """``[B x V]`` vertices visible at the predicted poses (depth test at feature resolution)."""
    return vertex_visibility(vertices.detach(), faces, Kf, R.detach(), t.detach(), (n, n))
