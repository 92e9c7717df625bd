"""Looking at objects that stand rolled in the image through a camera turned upright.

The models were trained on views whose image roll stays within about +-18 deg (the data
engine's cameras look at a table with z up); turned further about its optical axis, a camera
shows objects in poses their features never saw and the error grows fast (RGB mug: 8 -> 25
deg at a 35-deg roll; RGB-D camera: 4 -> 26 deg at 60 deg; BENCHMARKS.md). A turn about the
optical axis changes no ray and no depth, so the image (and the depth image) of the camera
turned back is an exact warp of the original (:mod:`.camera_roll`). Both estimators use this
module; each detection's window is warped, the estimator runs there, and the pose comes back
with ``Q^T``.

Two ways to know the turn:

* **Gravity** (:func:`gravity_look`): with the world's up direction in the camera (from /tf),
  each object whose up leans more than ``min_deg`` at its viewing ray is estimated once, in
  the view of the camera turned so that the world's up points up in the image (objects
  standing on a surface share it). Exact for every category; it costs only the warp (and the
  batching of those objects).
* **A first look** (:func:`second_look`): for each first estimate whose object's up axis leans
  more than ``min_deg`` in the image (:func:`image_lean_deg`: up to the category's symmetry,
  so an upside-down box, the same box, does not count as leaning), the camera is
  turned so that the estimate stands upright and the object estimated again, up to ``looks``
  times (each turning by what the previous look says); ``keep`` chooses between the looks (the
  lowest solver loss, or always the last). Only as good as the first look's reading of the
  roll: the models, trained upright, pull their estimates towards upright.

In the turned view the detection box is that of the warped mask when the detection has one,
else the upright rectangle whose turned image fills the original box
(:func:`.camera_roll.upright_box`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from .camera import Intrinsics
from .camera_roll import RolledView, roll_matrix, rolled_view, upright_box
from .categories import get_category
from .errors import InputError
from .estimation import Detection, PoseEstimate
from .so3 import frame_with_z
from .view_correction import image_roll

__all__ = ["SETTLE_DEG", "UPRIGHT_KEEP", "gravity_look", "gravity_turn", "image_lean_deg",
           "second_look", "upright_equivalent", "upright_turn", "upright_view"]  # fmt: skip

#: a look whose turn differs from the previous one by less than this (deg) ends the looks
SETTLE_DEG = 2.0

#: which look :func:`second_look` keeps: the lowest solver loss, or always the last
UPRIGHT_KEEP = ("lower_loss", "second")

#: ``estimate(image, detections, intrinsics, depth)``: the estimator's own call on one view;
#: :func:`gravity_look` also passes ``up=`` (the world's up in that view's camera, ``[3]``)
EstimateFn = Callable[..., list[PoseEstimate | None]]


def upright_equivalent(R: np.ndarray, t: np.ndarray, category: str | None) -> np.ndarray:
    """Of ``R`` and its symmetric equivalents (``category``'s discrete group; None: ``R``
    alone), the one whose up axis leans least in the image: an upside-down box is the same
    box, not a camera turned by 180 deg."""
    if category is None:
        return np.asarray(R, dtype=np.float64)
    group = get_category(category).discrete
    candidates = [np.asarray(R, dtype=np.float64) @ g for g in group]
    return min(candidates, key=lambda c: abs(float(image_roll(c, t))))


def image_lean_deg(R: np.ndarray, t: np.ndarray, category: str | None = None) -> float:
    """How far (deg) the object of pose ``R``, ``t`` leans in the image, up to its symmetry."""
    return abs(math.degrees(float(image_roll(upright_equivalent(R, t, category), t))))


def upright_turn(R: np.ndarray, t: np.ndarray, category: str | None = None) -> float:
    """The camera turn (rad, :func:`.camera_roll.roll_matrix`) after which the object of pose
    ``R``, ``t`` (of ``category``: its least-leaning symmetric equivalent) stands upright in
    the image (its image roll ~0)."""
    R = upright_equivalent(R, t, category)
    roll = float(image_roll(R, t))
    candidates = (roll, -roll)
    residual = [abs(float(image_roll(roll_matrix(a) @ R, roll_matrix(a) @ t))) for a in candidates]
    return candidates[int(np.argmin(residual))]


def gravity_turn(up: np.ndarray, intrinsics: Intrinsics, box_xyxy) -> float:
    """The camera turn (rad) after which the world's ``up`` (``[3]``, camera frame) points up
    in the image at the centre of ``box_xyxy``."""
    x0, y0, x1, y1 = np.asarray(box_xyxy, dtype=np.float64)
    ray = np.array([((x0 + x1) / 2 - intrinsics.cx) / intrinsics.fx,
                    ((y0 + y1) / 2 - intrinsics.cy) / intrinsics.fy, 1.0])  # fmt: skip
    return upright_turn(frame_with_z(up), ray)


def upright_view(
    rgb: np.ndarray,
    intrinsics: Intrinsics,
    det: Detection,
    angle: float,
    depth: np.ndarray | None = None,
) -> tuple[RolledView, Detection, np.ndarray | None]:
    """``(view, detection, depth)``: the window around ``det`` seen by the camera turned by
    ``angle`` (rad), the detection in it and the depth warped with it (nearest neighbour:
    depths are never blended; None without one)."""
    x0, y0, x1, y1 = np.asarray(det.box_xyxy, dtype=np.float64)
    centre = np.array([(x0 + x1) / 2.0, (y0 + y1) / 2.0])
    side = int(math.ceil(1.6 * math.hypot(x1 - x0, y1 - y0))) + 2
    view = rolled_view(rgb, intrinsics, angle, centre, side)
    mask = box = None
    if det.mask is not None:
        mask = rolled_view(det.mask, intrinsics, angle, centre, side, nearest=True).image
        ys, xs = np.nonzero(mask)
        if len(xs):
            box = np.array([xs.min() - 0.5, ys.min() - 0.5, xs.max() + 0.5, ys.max() + 0.5])
    if box is None:
        c = view.points(centre)[0]
        w, h = x1 - x0, y1 - y0
        box = upright_box([c[0] - w / 2, c[1] - h / 2, c[0] + w / 2, c[1] + h / 2], angle)
    warped_depth = None
    if depth is not None:
        warped_depth = rolled_view(depth, intrinsics, angle, centre, side, nearest=True).image
    return view, Detection(det.category, box, mask), warped_depth


def _look(rgb, depth, intrinsics, det, angle, estimate: EstimateFn, up=None):
    """One estimate of ``det`` through the camera turned by ``angle``, in the original camera;
    None when the estimator has none. ``up`` (``[3]``, original camera; None: not passed) is
    handed to ``estimate`` turned into the view's camera."""
    view, upright, view_depth = upright_view(rgb, intrinsics, det, angle, depth)
    extra = {} if up is None else {"up": view.Q @ up}
    (again,) = estimate(view.image, [upright], view.intrinsics, view_depth, **extra)
    if again is None:
        return None
    R, t = view.pose_back(again.R, again.t)
    return replace(again, R=R, t=t)


def _add_timings(total: dict, est: PoseEstimate | None) -> None:
    if est is not None:
        for k, v in est.timings.items():
            total[k] = total.get(k, 0.0) + v


def gravity_look(
    rgb: np.ndarray,
    detections: Sequence[Detection],
    intrinsics: Intrinsics,
    up: np.ndarray,
    estimate: EstimateFn,
    min_deg: float,
    depth: np.ndarray | None = None,
) -> list[PoseEstimate | None]:
    """One look per detection: the ones whose world up leans less than ``min_deg`` in one
    batched call on ``rgb``, each other one in the view of the camera turned upright by
    ``up`` (``[3]``, the world's up in the camera frame; module docstring). Each call of
    ``estimate`` is given ``up=``, the world's up in its own camera.

    Raises:
        InputError: ``up`` not a finite non-zero ``[3]`` vector.
    """
    up = np.asarray(up, dtype=np.float64).reshape(-1)
    if up.shape != (3,) or not np.isfinite(up).all() or np.linalg.norm(up) < 1e-9:
        raise InputError(f"up: expected a finite non-zero [3] vector, got {up.tolist()}")
    turns = [gravity_turn(up, intrinsics, det.box_xyxy) for det in detections]
    plain = [i for i, a in enumerate(turns) if abs(math.degrees(a)) < min_deg]
    out: list = [None] * len(detections)
    if plain:
        estimates = estimate(rgb, [detections[i] for i in plain], intrinsics, depth, up=up)
        for i, est in zip(plain, estimates, strict=True):
            out[i] = est
    for i in sorted(set(range(len(detections))) - set(plain)):
        out[i] = _look(rgb, depth, intrinsics, detections[i], turns[i], estimate, up)
    return out


def second_look(
    rgb: np.ndarray,
    detections: Sequence[Detection],
    intrinsics: Intrinsics,
    first: list[PoseEstimate | None],
    estimate: EstimateFn,
    min_deg: float,
    keep: str,
    looks: int = 2,
    depth: np.ndarray | None = None,
) -> list[PoseEstimate | None]:
    """``first`` with each estimate rolled more than ``min_deg`` replaced by its upright look
    when ``keep`` says so (module docstring). Up to ``looks`` upright looks per object: each
    turns the camera by what the previous look says, until the turn changes by less than
    :data:`SETTLE_DEG`. The kept estimate's timings add every look's."""
    out = list(first)
    for i, (det, est) in enumerate(zip(detections, first, strict=True)):
        if est is None or image_lean_deg(est.R, est.t, det.category) < min_deg:
            continue
        best, angle, timings, current = est, None, dict(est.timings), est
        for _ in range(looks):
            turn = upright_turn(current.R, current.t, det.category)
            if angle is not None and abs(math.degrees(turn - angle)) < SETTLE_DEG:
                break
            angle = turn
            again = _look(rgb, depth, intrinsics, det, angle, estimate)
            _add_timings(timings, again)
            if again is None:
                break
            current = replace(again, batch=est.batch)
            if keep == "second" or current.loss < best.loss:
                best = current
        out[i] = replace(best, timings=timings)
    return out
