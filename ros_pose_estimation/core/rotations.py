"""Rotation parametrisations and rigid transforms, for numpy arrays and torch tensors alike.

Every function except :func:`random_rotations` takes numpy arrays (or lists) *or* torch tensors
and returns the same kind (torch: differentiable, any device/dtype). Batches are leading
dimensions: rotations ``[... x 3 x 3]``, quaternions ``[... x 4]`` **(x, y, z, w)**, axis-angle
``[... x 3]`` (axis * angle, radians), 6D ``[... x 6]`` (first two **columns** of R, Zhou et al.
2019). torch is never imported by this module unless a tensor is passed in.

Viewpoint (NeMo-style) convention, all angles in radians. The camera sits on a sphere around the
object, in the object's canonical frame (x front, y left, z up):

* camera centre ``C = distance * (cos(el) cos(az), cos(el) sin(az), sin(el))``: azimuth 0 looks
  at the object's front (+x), azimuth grows counter-clockwise seen from above (towards +y),
  elevation > 0 is above the object looking down;
* the camera looks at the origin with the object's +z up in the image: camera axes (OpenCV
  optical frame) in model coordinates are ``forward f = -C / |C|``,
  ``right r = (-sin az, cos az, 0)``, ``down d = f x r`` (defined at el = +-90 deg too);
* in-plane rotation ``theta`` about the optical axis: ``R_m2c = R_z(theta) @ [r; d; f]``, so
  positive theta turns the object's image from +u towards +v (clockwise as displayed);
* ``t_m2c = (0, 0, distance)``: the object's origin is on the optical axis.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import InputError, check_shape

Array = Any  # numpy.ndarray or torch.Tensor


# ---------------------------------------------------------------- numpy / torch dispatch
def _is_torch(x) -> bool:
    return type(x).__module__.split(".")[0] == "torch"


def _xp(x):
    if _is_torch(x):
        import torch

        return torch
    return np


def _as(x, like=None) -> Array:
    """Numpy float64 array, or a tensor (matching ``like`` when it is one)."""
    if _is_torch(x):
        return x
    if like is not None and _is_torch(like):
        return _xp(like).as_tensor(np.asarray(x), dtype=like.dtype, device=like.device)
    return np.asarray(x, dtype=np.float64)


def _stack(xs, axis: int) -> Array:
    if _is_torch(xs[0]):
        return _xp(xs[0]).stack(list(xs), dim=axis)
    return np.stack(xs, axis=axis)


def _cat(xs, axis: int) -> Array:
    if _is_torch(xs[0]):
        return _xp(xs[0]).cat(list(xs), dim=axis)
    return np.concatenate(xs, axis=axis)


def _norm(x, keepdims: bool = False) -> Array:
    if _is_torch(x):
        return _xp(x).linalg.vector_norm(x, dim=-1, keepdim=keepdims)
    return np.linalg.norm(x, axis=-1, keepdims=keepdims)


def _cross(a, b) -> Array:
    if _is_torch(a):
        return _xp(a).linalg.cross(a, b, dim=-1)
    return np.cross(a, b, axis=-1)


def _broadcast(*xs):
    if _is_torch(xs[0]):
        return _xp(xs[0]).broadcast_tensors(*xs)
    return np.broadcast_arrays(*xs)


def _eye(like) -> Array:
    if _is_torch(like):
        return _xp(like).eye(3, dtype=like.dtype, device=like.device)
    return np.eye(3)


def _transpose(mat) -> Array:
    return mat.swapaxes(-1, -2)


# ---------------------------------------------------------------- elementary rotations
def hat(v: Array) -> Array:
    """``[... x 3]`` vectors -> ``[... x 3 x 3]`` skew matrices with ``hat(v) @ x = v x x``."""
    v = _as(v)
    check_shape("v", v, ("...", 3))
    x, y, z = v[..., 0], v[..., 1], v[..., 2]
    o = _xp(v).zeros_like(x)
    return _stack([_stack([o, -z, y], -1), _stack([z, o, -x], -1), _stack([-y, x, o], -1)], -2)


def axis_rotation(axis: str, angle: Array) -> Array:
    """Rotation by ``angle`` (radians, any shape ``[...]``) about ``"x"``, ``"y"`` or ``"z"``."""
    if axis not in ("x", "y", "z"):
        raise InputError(f"axis: expected 'x', 'y' or 'z', got {axis!r}")
    a = _as(angle)
    c, s, o, i = _xp(a).cos(a), _xp(a).sin(a), _xp(a).zeros_like(a), _xp(a).ones_like(a)
    rows = {
        "x": [[i, o, o], [o, c, -s], [o, s, c]],
        "y": [[c, o, s], [o, i, o], [-s, o, c]],
        "z": [[c, -s, o], [s, c, o], [o, o, i]],
    }[axis]
    return _stack([_stack(r, -1) for r in rows], -2)


def axis_angle_to_matrix(rotvec: Array) -> Array:
    """``[... x 3]`` axis * angle (radians) -> ``[... x 3 x 3]`` (Rodrigues, smooth at 0)."""
    v = _as(rotvec)
    check_shape("rotvec", v, ("...", 3))
    xp = _xp(v)
    theta2 = (v * v).sum(-1)
    small = theta2 < 1e-8
    theta = xp.sqrt(xp.where(small, xp.ones_like(theta2), theta2))
    a = xp.where(small, 1.0 - theta2 / 6.0, xp.sin(theta) / theta)
    b = xp.where(small, 0.5 - theta2 / 24.0, (1.0 - xp.cos(theta)) / theta**2)
    k = hat(v)
    return _eye(v) + a[..., None, None] * k + b[..., None, None] * (k @ k)


def matrix_to_axis_angle(matrix: Array) -> Array:
    """``[... x 3 x 3]`` -> ``[... x 3]`` axis * angle, angle in ``[0, pi]``."""
    q = matrix_to_quat(matrix)
    xp = _xp(q)
    vec, w = q[..., :3], q[..., 3]
    s = _norm(vec)
    small = s < 1e-6
    s_safe = xp.where(small, xp.ones_like(s), s)
    factor = xp.where(small, 2.0 / w, 2.0 * xp.arctan2(s, w) / s_safe)  # w ~ 1 when s ~ 0
    return vec * factor[..., None]


# ---------------------------------------------------------------- quaternions (x, y, z, w)
def quat_to_matrix(quat: Array) -> Array:
    """``[... x 4]`` quaternions (x, y, z, w), normalised here -> ``[... x 3 x 3]``."""
    q = _as(quat)
    check_shape("quat (x, y, z, w)", q, ("...", 4))
    q = q / _norm(q, keepdims=True)
    x, y, z, w = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    rows = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ]
    return _stack([_stack(r, -1) for r in rows], -2)


def matrix_to_quat(matrix: Array) -> Array:
    """``[... x 3 x 3]`` rotations -> ``[... x 4]`` unit quaternions (x, y, z, w) with w >= 0.

    Numerically robust for every rotation (the best-conditioned of four formulas is chosen).
    """
    m = _as(matrix)
    check_shape("R", m, ("...", 3, 3))
    xp = _xp(m)
    m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    m20, m21, m22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    four = _stack(
        [1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22, 1 + m00 + m11 + m22], -1
    )  # 4x^2, 4y^2, 4z^2, 4w^2
    q_abs = xp.sqrt(xp.clip(four, 0.0, None))  # 2|x|, 2|y|, 2|z|, 2|w|
    cands = _stack(
        [  # each row is (x, y, z, w) * 4 * (its own large component)
            _stack([q_abs[..., 0] ** 2, m10 + m01, m02 + m20, m21 - m12], -1),
            _stack([m10 + m01, q_abs[..., 1] ** 2, m12 + m21, m02 - m20], -1),
            _stack([m02 + m20, m12 + m21, q_abs[..., 2] ** 2, m10 - m01], -1),
            _stack([m21 - m12, m02 - m20, m10 - m01, q_abs[..., 3] ** 2], -1),
        ],
        -2,
    )
    cands = cands / (2.0 * xp.clip(q_abs, 0.1, None))[..., None]
    best = q_abs.argmax(-1)
    index = xp.arange(4) if xp is np else xp.arange(4, device=m.device)
    onehot = xp.where(best[..., None] == index, xp.ones_like(q_abs), xp.zeros_like(q_abs))
    q = (cands * onehot[..., None]).sum(-2)
    q = q / _norm(q, keepdims=True)
    return q * xp.where(q[..., 3:] < 0, -xp.ones_like(q[..., 3:]), xp.ones_like(q[..., 3:]))


# ---------------------------------------------------------------- continuous 6D (Zhou et al.)
def rot6d_to_matrix(rot6d: Array) -> Array:
    """``[... x 6]`` (two 3-vectors = first two columns, any scale) -> ``[... x 3 x 3]``.

    Gram-Schmidt: ``b1 = a1 / |a1|``, ``b2 = normalise(a2 - (b1 . a2) b1)``, ``b3 = b1 x b2``.
    """
    x = _as(rot6d)
    check_shape("rot6d", x, ("...", 6))
    a1, a2 = x[..., :3], x[..., 3:]
    b1 = a1 / _norm(a1, keepdims=True)
    b2 = a2 - (b1 * a2).sum(-1)[..., None] * b1
    b2 = b2 / _norm(b2, keepdims=True)
    return _stack([b1, b2, _cross(b1, b2)], -1)


def matrix_to_rot6d(matrix: Array) -> Array:
    """``[... x 3 x 3]`` -> ``[... x 6]``: first column then second column."""
    m = _as(matrix)
    check_shape("R", m, ("...", 3, 3))
    return _cat([m[..., :, 0], m[..., :, 1]], -1)


# ---------------------------------------------------------------- distances
def geodesic_angle(r1: Array, r2: Array) -> Array:
    """Angle (radians, ``[...]``) of ``R1^T R2`` = ``||logm(R1^T R2)||_F / sqrt(2)``.

    Computed as ``atan2(|vee(M - M^T)| / 2, (tr M - 1) / 2)``: accurate near 0 and pi, never NaN.
    """
    a, b = _as(r1), _as(r2, like=r1)
    a = _as(a, like=b)
    check_shape("R1", a, ("...", 3, 3))
    check_shape("R2", b, ("...", 3, 3))
    m = _transpose(a) @ b
    xp = _xp(m)
    cos = (m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2] - 1.0) / 2.0
    vee = _stack(
        [m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]], -1
    )
    return xp.arctan2(_norm(vee) / 2.0, cos)


def orthonormalize(matrix: Array) -> Array:
    """Nearest rotation (Frobenius) to each ``[... x 3 x 3]`` matrix, via SVD, det = +1."""
    m = _as(matrix)
    check_shape("matrix", m, ("...", 3, 3))
    xp = _xp(m)
    u, _, vh = xp.linalg.svd(m)
    det = xp.linalg.det(u @ vh)
    fix = _stack([xp.ones_like(det), xp.ones_like(det), det], -1)
    return (u * fix[..., None, :]) @ vh


def random_rotations(n: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
    """``[n x 3 x 3]`` rotations drawn uniformly (Haar measure) from SO(3)."""
    gen = np.random.default_rng(rng)
    q = gen.standard_normal((n, 4))
    return quat_to_matrix(q)


# ---------------------------------------------------------------- viewpoints and look-at
def camera_position(azimuth: Array, elevation: Array, distance: Array) -> Array:
    """``[... x 3]`` camera centre in the model frame (see the module docstring)."""
    az = _as(azimuth)
    az, el, dist = _broadcast(az, _as(elevation, like=az), _as(distance, like=az))
    xp = _xp(az)
    return _stack(
        [dist * xp.cos(el) * xp.cos(az), dist * xp.cos(el) * xp.sin(az), dist * xp.sin(el)], -1
    )


def viewpoint_to_matrix(azimuth: Array, elevation: Array, theta: Array) -> Array:
    """Azimuth, elevation, in-plane angle (radians, ``[...]``) -> ``R_m2c [... x 3 x 3]``."""
    az = _as(azimuth)
    az, el, th = _broadcast(az, _as(elevation, like=az), _as(theta, like=az))
    xp = _xp(az)
    ca, sa, ce, se, ct, st = xp.cos(az), xp.sin(az), xp.cos(el), xp.sin(el), xp.cos(th), xp.sin(th)
    right = _stack([-sa, ca, xp.zeros_like(az)], -1)
    down = _stack([se * ca, se * sa, -ce], -1)
    forward = _stack([-ce * ca, -ce * sa, -se], -1)
    ct, st = ct[..., None], st[..., None]
    return _stack([ct * right - st * down, st * right + ct * down, forward], -2)


def matrix_to_viewpoint(matrix: Array) -> tuple[Array, Array, Array]:
    """``R_m2c [... x 3 x 3]`` -> (azimuth, elevation, theta) in radians.

    Azimuth in ``(-pi, pi]``, elevation in ``[-pi/2, pi/2]``, theta in ``(-pi, pi]``. At
    elevation +-90 deg azimuth and theta are not unique; the returned pair reproduces R.
    """
    m = _as(matrix)
    check_shape("R_m2c", m, ("...", 3, 3))
    xp = _xp(m)
    f = m[..., 2, :]
    elevation = xp.arctan2(-f[..., 2], xp.sqrt(f[..., 0] ** 2 + f[..., 1] ** 2))
    azimuth = xp.arctan2(-f[..., 1], -f[..., 0])
    right = _stack([-xp.sin(azimuth), xp.cos(azimuth), xp.zeros_like(azimuth)], -1)
    theta = xp.arctan2((m[..., 1, :] * right).sum(-1), (m[..., 0, :] * right).sum(-1))
    return azimuth, elevation, theta


def viewpoint_to_pose(azimuth, elevation, theta, distance) -> tuple[Array, Array]:
    """Viewpoint + distance (m) -> ``(R_m2c [... x 3 x 3], t_m2c [... x 3])``."""
    rot = viewpoint_to_matrix(azimuth, elevation, theta)
    dist = _as(distance, like=rot)
    zero = _xp(rot).zeros_like(rot[..., 0, 0] * dist)
    return rot, _stack([zero, zero, zero + dist], -1)


def look_at(eye: Array, target: Array = (0.0, 0.0, 0.0), up: Array = (0.0, 0.0, 1.0)):
    """Pose of an OpenCV-optical camera at ``eye`` looking at ``target`` (model frame, m).

    ``up`` (model frame) appears as image-up (-v). Returns ``(R_m2c [... x 3 x 3],
    t_m2c [... x 3])``. Raises InputError when ``eye == target`` or the view is along ``up``.
    """
    e = _as(eye)
    tgt, u = _as(target, like=e), _as(up, like=e)
    check_shape("eye", e, ("...", 3))
    forward = tgt - e
    right = _cross(forward, u + _xp(forward).zeros_like(forward))
    f_len, r_len = _norm(forward, keepdims=True), _norm(right, keepdims=True)
    if bool((f_len <= 1e-12).any()) or bool((r_len <= 1e-9 * f_len).any()):
        raise InputError("look_at: eye equals target or the viewing direction is parallel to up")
    forward, right = forward / f_len, right / r_len
    rot = _stack([right, _cross(forward, right), forward], -2)
    return rot, -(rot @ e[..., None])[..., 0]


# ---------------------------------------------------------------- homogeneous transforms
def make_transform(rotation: Array, translation: Array) -> Array:
    """``R [... x 3 x 3]``, ``t [... x 3]`` -> ``T [... x 4 x 4]`` (x' = R x + t)."""
    r = _as(rotation)
    t = _as(translation, like=r)
    check_shape("R", r, ("...", 3, 3))
    check_shape("t", t, ("...", 3))
    top = _cat([r, t[..., None] + _xp(r).zeros_like(r[..., :1])], -1)
    bottom = _xp(r).zeros_like(top[..., :1, :])
    bottom[..., 0, 3] = 1.0
    return _cat([top, bottom], -2)


def invert_transform(transform: Array) -> Array:
    """Inverse of rigid ``[... x 4 x 4]`` transforms (``R^T``, ``-R^T t``)."""
    m = _as(transform)
    check_shape("T", m, ("...", 4, 4))
    rt = _transpose(m[..., :3, :3])
    return make_transform(rt, -(rt @ m[..., :3, 3:])[..., 0])


def transform_points(transform: Array, points: Array) -> Array:
    """Apply ``[4 x 4]`` (or ``[... x 4 x 4]`` matching the batch) to ``[... x N x 3]`` points."""
    m = _as(transform)
    p = _as(points, like=m)
    check_shape("T", m, ("...", 4, 4))
    check_shape("points", p, ("...", 3))
    return p @ _transpose(m[..., :3, :3]) + m[..., None, :3, 3]
