"""Input checks and pinhole projection shared by the renderer modules (torch, any device).

Conventions (:mod:`ros_pose_estimation.core.conventions`): ``x_cam = R @ x_model + t`` (m);
OpenCV optical camera (x right, y down, z forward); pixel ``(u, v)`` has its centre at the
integer coordinates; depth is the camera z (m).
"""

from __future__ import annotations

import torch

from ros_pose_estimation.core.errors import InputError, check_shape

_FLOATS = (torch.float32, torch.float64)


# ---------------------------------------------------------------------------- input checks
def dtype_name(dtype) -> str:
    """``'float32'`` for ``torch.float32``."""
    return str(dtype).removeprefix("torch.")


def check_float(name: str, x, dtype=None, device=None) -> torch.Tensor:
    """``x`` if it is a float32/float64 tensor (of ``dtype`` and on ``device`` when given)."""
    if not isinstance(x, torch.Tensor):
        raise InputError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    if x.dtype not in _FLOATS:
        raise InputError(f"{name}: expected float32 or float64, got {dtype_name(x.dtype)}")
    if dtype is not None and x.dtype != dtype:
        raise InputError(
            f"{name}: expected {dtype_name(dtype)} like the vertices, got {dtype_name(x.dtype)}"
        )
    if device is not None and x.device != device:
        raise InputError(f"{name}: expected device {device} like the vertices, got {x.device}")
    return x


def check_faces(faces, num_vertices: int, device: torch.device) -> torch.Tensor:
    """``[F x 3]`` integer tensor -> int64 on ``device``; raise InputError if out of range."""
    if not isinstance(faces, torch.Tensor) or faces.dtype.is_floating_point:
        got = dtype_name(faces.dtype) if isinstance(faces, torch.Tensor) else type(faces).__name__
        raise InputError(f"faces: expected an integer torch.Tensor [F x 3], got {got}")
    check_shape("faces", faces, (None, 3))
    faces = faces.to(device=device, dtype=torch.int64)
    if faces.numel() and (int(faces.min()) < 0 or int(faces.max()) >= num_vertices):
        raise InputError(
            f"faces: expected vertex indices in [0, {num_vertices - 1}], "
            f"got [{int(faces.min())}, {int(faces.max())}]"
        )
    return faces


def check_image_size(image_size) -> tuple[int, int]:
    """``(H, W)`` positive ints, else InputError."""
    try:
        h, w = (int(s) for s in image_size)
    except (TypeError, ValueError):
        raise InputError(f"image_size: expected (H, W), got {image_size!r}") from None
    if h <= 0 or w <= 0 or (h, w) != tuple(image_size):
        raise InputError(f"image_size: expected positive integers (H, W), got {image_size!r}")
    return h, w


def check_pose_inputs(vertices, K, R, t) -> tuple[torch.Tensor, ...]:
    """Validate and batch ``vertices [(B x) V x 3]``, ``K [(B x) 3 x 3]``, ``R [(B x) 3 x 3]``,
    ``t [(B x) 3]``; returns them with a leading batch dimension (size 1 or B)."""
    vertices = check_float("vertices", vertices)
    dtype, device = vertices.dtype, vertices.device
    if vertices.dim() == 2:
        vertices = vertices[None]
    check_shape("vertices", vertices, (None, "V", 3))
    K = check_float("K", K, dtype, device)
    R = check_float("R", R, dtype, device)
    t = check_float("t", t, dtype, device)
    R = R[None] if R.dim() == 2 else R
    t = t[None] if t.dim() == 1 else t
    K = K[None] if K.dim() == 2 else K
    b = check_shape("R", R, ("B", 3, 3))["B"]
    check_shape("t", t, (b, 3))
    for name, x in (("vertices", vertices), ("K", K)):
        if x.shape[0] not in (1, b):
            raise InputError(f"{name}: expected batch size 1 or {b} (from R), got {x.shape[0]}")
    check_shape("K", K, (None, 3, 3))
    if not bool((K[:, 2] == K.new_tensor([0.0, 0.0, 1.0])).all()):
        raise InputError(f"K: expected a pinhole camera matrix with last row [0, 0, 1], got {K}")
    return vertices, K, R, t


def check_mesh_inputs(vertices, faces, K, R, t, image_size) -> tuple:
    """A posed mesh's inputs checked at once (:func:`check_pose_inputs`, :func:`check_faces`,
    :func:`check_image_size`): ``(vertices, faces, K, R, t, (H, W))``, batched, faces int64."""
    vertices, K, R, t = check_pose_inputs(vertices, K, R, t)
    faces = check_faces(faces, vertices.shape[1], vertices.device)
    return vertices, faces, K, R, t, check_image_size(image_size)


# ---------------------------------------------------------------------------- projection
def transform_vertices(vertices: torch.Tensor, R: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Model -> camera frame: ``[(B x) V x 3]`` vertices, ``R [B x 3 x 3]``, ``t [B x 3]`` (m)
    -> ``[B x V x 3]`` camera-frame points (m). Differentiable."""
    return torch.matmul(vertices, R.transpose(-1, -2)) + t[:, None, :]


def project_points(points: torch.Tensor, K: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Camera-frame points ``[B x V x 3]`` (m) and ``K [(B x) 3 x 3]`` -> pixel coordinates
    ``[B x V x 2]`` (u, v; pixel centres at integers) and depth z ``[B x V]`` (m).

    Points with z <= 0 get meaningless (possibly infinite) pixel coordinates: test ``z`` first.
    """
    K = K[None] if K.dim() == 2 else K
    z = points[..., 2]
    pix = torch.matmul(points, K[:, :2].transpose(-1, -2))  # [B x V x 2]
    return pix / z[..., None], z


def project_vertices(
    vertices: torch.Tensor, K: torch.Tensor, R: torch.Tensor, t: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``[(B x) V x 3]`` model vertices (m) under poses ``R [B x 3 x 3]``, ``t [B x 3]`` (m)
    and pinhole ``K [(B x) 3 x 3]`` (last row ``0 0 1``) -> pixels ``[B x V x 2]`` and depth
    ``[B x V]`` (m). One batched product with ``[K R | K t]``. Differentiable."""
    vertices, K, R, t = check_pose_inputs(vertices, K, R, t)
    return _project(vertices, K, R, t)


def _project(vertices, K, R, t) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixels ``[B x V x 2]`` and depth ``[B x V]`` through ``P = [K R | K t]``."""
    b = R.shape[0]
    M = torch.matmul(K, R)  # [B x 3 x 3]
    m = torch.matmul(K, t[..., None]).transpose(-1, -2)  # [B x 1 x 3]
    if vertices.shape[0] == 1:  # shared vertices: one [V x 3] @ [3 x 3B] product
        p = torch.matmul(vertices[0], M.transpose(-1, -2).transpose(0, 1).reshape(3, 3 * b))
        p = p.view(-1, b, 3).transpose(0, 1) + m
    else:
        p = torch.baddbmm(m, vertices, M.transpose(-1, -2))
    z = p[..., 2]
    return p[..., :2] / z[..., None], z
