"""3D IoU of oriented boxes: exact, plus the symmetric-category handling of NOCS evaluation.

A box is the object's canonical bounding box placed in the camera frame: ``rotation`` = R_m2c
``[3 x 3]``, ``center`` = t_m2c ``[3]`` (m; category frames have their origin at the box centre)
and ``size`` ``[3]`` = full extents along the model x, y, z axes (m).

:func:`iou_3d` is exact: the intersection of two boxes is a convex polytope whose vertices are
(a) corners of one box inside the other and (b) crossings of one box's edges with the other's
face planes; its volume is that of their convex hull (scipy/Qhull).

:func:`symmetric_iou_3d` follows NOCS (Wang et al. 2019, ``compute_3d_iou_new``): for a category
with continuous symmetry about axis ``a`` the predicted box is rotated about ``a`` (its own model
axis, ``R_pred @ Rot(a, phi)``) and the best IoU is kept, because the prediction's rotation about
that axis is meaningless. NOCS samples 20 angles; here 36 angles in ``[0, 2 pi)`` are scanned and
the best is refined by a bounded 1-D search. For discrete symmetries the maximum over the group
is taken too (a cuboid's IoU is already invariant to 180 deg turns about its axes).

Note: NOCS's published code measures the IoU of the boxes' *camera-axis-aligned* bounds, not of
the oriented boxes. :func:`aabb_iou_3d` reproduces that for comparison with published tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.spatial import ConvexHull, QhullError

from .categories import Category, get_category
from .errors import InputError, check_shape
from .rotations import axis_angle_to_matrix

# corners as signs of the half extents; edges join corners differing in one sign
_SIGNS = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], float)
_EDGES = np.array(
    [
        (i, j)
        for i in range(8)
        for j in range(i + 1, 8)
        if np.count_nonzero(_SIGNS[i] != _SIGNS[j]) == 1
    ]
)


@dataclass(frozen=True, eq=False)
class OrientedBox:
    """Box ``size`` [3] (m, full extents along model axes) posed by ``rotation``, ``center``."""

    rotation: np.ndarray
    center: np.ndarray
    size: np.ndarray

    def __post_init__(self) -> None:
        for name, shape in (("rotation", (3, 3)), ("center", (3,)), ("size", (3,))):
            value = np.asarray(getattr(self, name), dtype=np.float64)
            check_shape(f"box {name}", value, shape)
            if not np.all(np.isfinite(value)):
                raise InputError(f"box {name}: expected finite values, got {value.tolist()}")
            object.__setattr__(self, name, value)
        if np.any(self.size < 0):
            raise InputError(f"box size: expected >= 0, got {self.size.tolist()}")

    @property
    def volume(self) -> float:
        return float(np.prod(self.size))

    def corners(self) -> np.ndarray:
        """``[8 x 3]`` corners in the camera frame (m)."""
        return (_SIGNS * (0.5 * self.size)) @ self.rotation.T + self.center

    def planes(self) -> tuple[np.ndarray, np.ndarray]:
        """Face planes as unit normals ``[6 x 3]`` and offsets ``[6]``: inside is ``n.p <= d``."""
        normals = np.concatenate([self.rotation.T, -self.rotation.T])
        offsets = normals @ self.center + np.tile(0.5 * self.size, 2)
        return normals, offsets

    def contains(self, points: np.ndarray, tol: float = 0.0) -> np.ndarray:
        """``[N]`` bool: which of ``[N x 3]`` points lie inside (within ``tol`` m)."""
        local = (np.asarray(points) - self.center) @ self.rotation
        return np.all(np.abs(local) <= 0.5 * self.size + tol, axis=-1)

    def rotated_about_model_axis(self, axis: np.ndarray, angle: float) -> OrientedBox:
        """The box turned by ``angle`` (rad) about its own model axis through its centre."""
        turn = axis_angle_to_matrix(np.asarray(axis, dtype=np.float64) * angle)
        return OrientedBox(self.rotation @ turn, self.center, self.size)


def _edge_crossings(a: OrientedBox, b: OrientedBox, tol: float) -> np.ndarray:
    """Points where edges of ``a`` cross face planes of ``b`` and lie inside ``b``."""
    corners = a.corners()
    p0, p1 = corners[_EDGES[:, 0]], corners[_EDGES[:, 1]]
    normals, offsets = b.planes()
    denom = (p1 - p0) @ normals.T  # [12 x 6]
    with np.errstate(divide="ignore", invalid="ignore"):
        s = (offsets[None, :] - p0 @ normals.T) / denom
    ok = (np.abs(denom) > 1e-15) & (s >= -1e-12) & (s <= 1 + 1e-12)
    s = np.where(ok, s, 0.0)
    pts = (p0[:, None, :] + s[:, :, None] * (p1 - p0)[:, None, :])[ok]
    return pts[b.contains(pts, tol)]


def intersection_volume(a: OrientedBox, b: OrientedBox) -> float:
    """Exact volume (m^3) of the intersection of two oriented boxes."""
    tol = 1e-9 * max(float(np.max(a.size)), float(np.max(b.size)), 1e-12)
    ca, cb = a.corners(), b.corners()
    pts = np.concatenate(
        [
            ca[b.contains(ca, tol)],
            cb[a.contains(cb, tol)],
            _edge_crossings(a, b, tol),
            _edge_crossings(b, a, tol),
        ]
    )
    if len(pts) < 4:
        return 0.0
    try:
        return float(ConvexHull(pts).volume)
    except QhullError:  # flat (touching) intersection
        return 0.0


def iou_3d(a: OrientedBox, b: OrientedBox) -> float:
    """Exact IoU in ``[0, 1]`` of two oriented boxes (0 when both are empty)."""
    inter = intersection_volume(a, b)
    union = a.volume + b.volume - inter
    return float(inter / union) if union > 0 else 0.0


def aabb_iou_3d(a: OrientedBox, b: OrientedBox) -> float:
    """IoU of the camera-axis-aligned bounds of the two boxes (NOCS's published approximation)."""
    lo_a, hi_a = a.corners().min(0), a.corners().max(0)
    lo_b, hi_b = b.corners().min(0), b.corners().max(0)
    inter = float(np.prod(np.clip(np.minimum(hi_a, hi_b) - np.maximum(lo_a, lo_b), 0, None)))
    union = float(np.prod(hi_a - lo_a) + np.prod(hi_b - lo_b)) - inter
    return inter / union if union > 0 else 0.0


def symmetric_iou_3d(
    pred: OrientedBox,
    gt: OrientedBox,
    category: Category | str | None = None,
    continuous_axes: np.ndarray | None = None,
    n_angles: int = 36,
    refine: bool = True,
) -> float:
    """IoU that ignores the prediction's rotation about the category's symmetry axes.

    Args:
        category: the category (or its name) whose symmetry applies; None = no symmetry.
        continuous_axes: ``[A x 3]`` overrides the category's continuous axes (e.g. a mug whose
            handle is not visible is treated as symmetric about z, as NOCS does).
        n_angles: scan resolution for continuous symmetry; ``refine`` polishes the best angle.

    Only the first continuous axis is used (every registered category has at most one).
    """
    cat = get_category(category) if isinstance(category, str) else category
    axes = np.zeros((0, 3)) if cat is None else cat.continuous_axes
    if continuous_axes is not None:
        axes = np.asarray(continuous_axes, dtype=np.float64).reshape(-1, 3)
    group = np.eye(3)[None] if cat is None else cat.discrete
    best = 0.0
    for sym in group:
        candidate = OrientedBox(pred.rotation @ sym, pred.center, pred.size)
        if len(axes) == 0:
            best = max(best, iou_3d(candidate, gt))
            continue
        axis = axes[0] / np.linalg.norm(axes[0])

        def neg_iou(angle: float, box=candidate, axis=axis) -> float:
            return -iou_3d(box.rotated_about_model_axis(axis, angle), gt)

        step = 2.0 * np.pi / n_angles
        angles = np.arange(n_angles) * step
        scores = np.array([-neg_iou(a) for a in angles])
        k = int(np.argmax(scores))
        best = max(best, float(scores[k]))
        if refine and scores[k] > 0:
            res = minimize_scalar(
                neg_iou,
                bounds=(angles[k] - step, angles[k] + step),
                method="bounded",
                options={"xatol": 1e-4},
            )
            best = max(best, float(-res.fun))
    return best
