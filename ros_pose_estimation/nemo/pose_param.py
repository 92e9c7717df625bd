"""Pose parametrisation of render-and-compare: residual rotation, log distance, 2D offset.

A hypothesis ``n`` of a detection lives in the detection's crop camera ``K`` (``[3 x 3]``,
crop or feature-map pixels, same optical frame as the full image, so ``R``, ``t`` need no
conversion back). Its free parameters, one row ``x [6]`` per hypothesis, are

* ``x[0:3]`` ``w``: axis-angle residual (rad, camera frame) on top of a fixed base rotation
  ``R0``: ``R = exp(hat(w)) @ R0``. Smooth and unconstrained around the start; Adam's step of
  ``lr`` rad per coordinate matches NeMo's lr on azimuth / elevation / in-plane angle;
* ``x[3]`` ``log d``: log of the distance ``d`` (m) of the object centre along the optical axis
  (``t_z = d``), so a step changes the distance by a relative amount and ``d`` stays positive;
* ``x[4:6]`` ``(du, dv)``: offset of the projected object centre from the anchor ``(u0, v0)``
  (the crop centre, i.e. the detection box centre), in units of ``offset_unit`` pixels, half
  the box's longer side (:attr:`.scoring.Observation.offset_unit`).

A model whose neural mesh is scaled per axis (:attr:`.model.NemoConfig.per_axis_scale`) has
two more columns, ``x [8]``:

* ``x[6:8]``: log of the mesh's proportions y / x and z / x relative to the category mesh's
  (0: the category's own proportions). The geometric mean of the extents stays the category
  mesh's: in one RGB image the overall size and the distance are one unknown, and the mean of
  three extents varies less between instances than any one of them (the distance, and so the
  translation, follows from it). The mesh is drawn with the linear map
  ``R diag(e^-m, e^(x6 - m), e^(x7 - m))``, ``m = (x6 + x7) / 3`` (:func:`stretch_of`); the pose
  is ``R``.

The units are balanced: a unit step of any parameter moves the object's outline in the image
by about its radius ``s / 2`` (rotation by 1 rad: ``~ s / 2``; ``log d`` by 1: scale by ``e``;
offset by 1: ``s / 2``), so one learning rate suits all of them and the result does not depend
on the crop resolution.

Translation: ``t = d * K^-1 [u0 + du * unit, v0 + dv * unit, 1]^T`` (``K^-1 [u, v, 1]`` has
z = 1, so ``t_z = d`` and the centre projects exactly to ``(u0 + du unit, v0 + dv unit)``).

Distance prior (:func:`distance_prior`): under weak perspective (object small against its
distance) a model extent ``e`` (m) at distance ``d`` spans ``f e / d`` pixels. The detector box's
longer side spans ``s`` crop pixels (``s = crop_size / crop_scale`` unless the crop was enlarged
to its minimum size), and the mesh's longer projected side at rotation ``R`` is
``e(R) = max(x-range, y-range)`` of the camera-frame vertices ``R X``. Matching the two gives

    d0(R) = f * e(R) / s

per hypothesis: an object seen end-on gets a smaller ``e(R)`` and is put closer. The mesh is
the category cuboid (template box + margin), so ``d0`` is biased far by about the margin and by
the ratio of the box to the real silhouette; occluded (truncated) boxes bias it far as well.
Refinement corrects it; translation is only as good as the category's typical size anyway.
"""

from __future__ import annotations

import torch

from ros_pose_estimation.core.errors import InputError, check_shape

#: Columns of a parameter row.
ROT, LOG_D, OFFSET = slice(0, 3), 3, slice(4, 6)
N_PARAMS = 6
#: The two log proportions of a per-axis-scaled mesh, after the pose's columns.
SHAPE = slice(6, 8)
N_SHAPE_PARAMS = 8
#: Bound of each log proportion: the mesh's y / x and z / x within 1/3.5..3.5 x the category's.
MAX_LOG_PROPORTION = 1.25


def rodrigues(w: torch.Tensor) -> torch.Tensor:
    """``[N x 3]`` axis * angle (rad) -> ``[N x 3 x 3]``: ``R = cos(a) I + sinc(a) hat(w) +
    (1 - cos a) / a^2 w w^T`` (Taylor series below 1e-4 rad, finite gradients at 0).

    Same as :func:`ros_pose_estimation.core.rotations.axis_angle_to_matrix` in fewer tensor ops
    (it runs at every optimiser step)."""
    a2 = (w * w).sum(-1)
    small = a2 < 1e-8
    a2_safe = torch.where(small, torch.ones_like(a2), a2)
    a = torch.sqrt(a2_safe)
    sinc = torch.where(small, 1.0 - a2 / 6.0, torch.sin(a) / a)
    cosc = torch.where(small, 0.5 - a2 / 24.0, (1.0 - torch.cos(a)) / a2_safe)
    cos = 1.0 - cosc * a2
    x, y, z = w.unbind(-1)
    sx, sy, sz = sinc * x, sinc * y, sinc * z
    outer = cosc[:, None, None] * (w[:, :, None] * w[:, None, :])
    skew = torch.stack([cos, -sz, sy, sz, cos, -sx, -sy, sx, cos], -1).view(-1, 3, 3)
    return skew + outer


def compose_pose(
    x: torch.Tensor,
    base_rotation: torch.Tensor,
    K: torch.Tensor,
    anchor: torch.Tensor,
    offset_unit: torch.Tensor | float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Parameters -> pose (differentiable w.r.t. ``x``).

    Args:
        x: ``[N x 6]`` rows ``(w [3] rad, log d, du, dv)`` (see the module docstring), or
            ``[N x 8]`` with the log proportions (ignored here: :func:`stretch_of`).
        base_rotation: ``[N x 3 x 3]`` ``R0`` model-to-camera.
        K: ``[N x 3 x 3]`` camera of the image the anchor is in (px).
        anchor: ``[N x 2]`` pixel ``(u0, v0)`` where ``du = dv = 0`` puts the object centre.
        offset_unit: ``[N]`` (or one float) pixels per offset unit.

    Returns:
        ``R [N x 3 x 3]`` and ``t [N x 3]`` (m), model to camera.
    """
    n = check_shape("x", x, ("N", "K"))["N"]
    if x.shape[1] not in (N_PARAMS, N_SHAPE_PARAMS):
        raise InputError(f"x: expected {N_PARAMS} or {N_SHAPE_PARAMS} columns, got {x.shape[1]}")
    check_shape("base_rotation", base_rotation, (n, 3, 3))
    check_shape("K", K, (n, 3, 3))
    check_shape("anchor", anchor, (n, 2))
    rot = rodrigues(x[:, ROT]) @ base_rotation
    if isinstance(offset_unit, torch.Tensor):
        offset_unit = offset_unit.to(x)[:, None]
    uv = anchor + offset_unit * x[:, OFFSET]
    fx, fy, cx, cy = K[:, 0, 0], K[:, 1, 1], K[:, 0, 2], K[:, 1, 2]
    ray = torch.stack([(uv[:, 0] - cx) / fx, (uv[:, 1] - cy) / fy, torch.ones_like(fx)], -1)
    return rot, torch.exp(x[:, LOG_D])[:, None] * ray


def stretch_of(x: torch.Tensor) -> torch.Tensor:
    """``[N x 3]`` per-axis factors ``e^(0, x6, x7) / e^m``, ``m = (x6 + x7) / 3``, of the mesh
    for rows ``x [N x 8]`` (proportions y / x ``e^x6`` and z / x ``e^x7``, product 1: the
    extents' geometric mean unchanged); ones for ``[N x 6]`` rows (a mesh of fixed
    proportions). Differentiable."""
    if x.shape[-1] == N_PARAMS:
        return torch.ones(*x.shape[:-1], 3, dtype=x.dtype, device=x.device)
    logs = torch.cat([torch.zeros_like(x[..., :1]), x[..., SHAPE]], -1)
    return torch.exp(logs - logs.mean(-1, keepdim=True))


def initial_params(distance: torch.Tensor, shape: bool = False) -> torch.Tensor:
    """``[N x 6]`` rows for hypotheses at ``R0`` (no residual), on the anchor, at ``distance``
    (``[N]``, m); ``[N x 8]`` with ``shape`` (the category mesh's proportions)."""
    if bool((distance <= 0).any()) or not bool(torch.isfinite(distance).all()):
        raise InputError(f"distance: expected positive finite values, got {distance.tolist()}")
    x = distance.new_zeros(distance.shape[0], N_SHAPE_PARAMS if shape else N_PARAMS)
    x[:, LOG_D] = torch.log(distance)
    return x


def ray_rotation(K: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """``[N x 3 x 3]`` smallest rotation taking the optical axis ``+z`` to the ray through
    pixel ``uv [N x 2]`` of camera ``K [N x 3 x 3]``.

    Viewpoint hypotheses are defined for an object on the optical axis; ``R_ray @ R`` is the
    same view of an object seen off-axis (its appearance along the ray is unchanged).
    """
    fx, fy, cx, cy = K[:, 0, 0], K[:, 1, 1], K[:, 0, 2], K[:, 1, 2]
    ray = torch.stack([(uv[:, 0] - cx) / fx, (uv[:, 1] - cy) / fy, torch.ones_like(fx)], -1)
    ray = ray / torch.linalg.vector_norm(ray, dim=-1, keepdim=True)
    z = torch.zeros_like(ray)
    z[:, 2] = 1.0
    axis = torch.linalg.cross(z, ray, dim=-1)  # |axis| = sin(angle)
    angle = torch.atan2(torch.linalg.vector_norm(axis, dim=-1), ray[:, 2])
    unit = axis / torch.linalg.vector_norm(axis, dim=-1, keepdim=True).clamp_min(1e-12)
    return rodrigues(unit * angle[:, None])


def projected_extent(vertices: torch.Tensor, rotations: torch.Tensor) -> torch.Tensor:
    """``[...]`` longer side (m) of the 2D bounding box of ``vertices [V x 3]`` rotated by
    ``rotations [... x 3 x 3]``, seen along +z under weak perspective: ``max(x-range,
    y-range)`` of ``R X``."""
    cam = torch.einsum("...ij,vj->...vi", rotations, vertices.to(rotations))
    span = cam[..., :2].amax(-2) - cam[..., :2].amin(-2)
    return span.amax(-1)


def distance_prior(extent: torch.Tensor, focal: torch.Tensor, box_side: torch.Tensor):
    """``d0 = focal * extent / box_side`` (m): the distance at which a mesh whose projected
    longer side is ``extent`` (m) spans ``box_side`` pixels in a camera of focal length
    ``focal`` (px). All arguments broadcast; see the module docstring for the derivation."""
    if bool((box_side <= 0).any()):
        raise InputError(f"box_side: expected positive sizes (px), got {box_side.tolist()}")
    return focal * extent / box_side
