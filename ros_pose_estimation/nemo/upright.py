"""A second look at objects that stand rolled in the image, through a camera turned upright.

The RGB models were trained on views whose image roll stays within about +-18 deg (the data
engine's cameras look at a table with z up); turned further about its optical axis, a camera
shows them in poses their features never saw and the error grows fast (mug: 10 -> 19 deg at a
20-deg roll, BENCHMARKS.md). A turn about the optical axis changes no ray, so the image of
the camera turned back is an exact affine warp (:mod:`ros_pose_estimation.core.camera_roll`).

For each first estimate whose object's up axis leans more than ``upright_min_deg`` in the
image (:func:`ros_pose_estimation.core.view_correction.image_roll`): the camera is turned
about its optical axis so that the estimate stands upright; the object's window is warped into
that view (its detection box: the box of the upright rectangle whose turned image fills the
original box, :func:`~ros_pose_estimation.core.camera_roll.upright_box`; its mask warped);
the estimator runs again there and the pose is turned back. ``upright_keep`` chooses between
the two looks (the lower render-and-compare loss, or always the upright one). It costs a second
estimate for the rolled objects only.

With the world's up direction in the camera (gravity from /tf: :func:`gravity_look`) the turn
needs no first look: each object whose up leans more than ``min_deg`` at its viewing ray is
estimated once, in the view of the camera turned so that the world's up points up in the
image (objects standing on a surface share it). That is exact for every category and costs
nothing but the warp.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from ros_pose_estimation.core.camera import Intrinsics
from ros_pose_estimation.core.camera_roll import roll_matrix, rolled_view, upright_box
from ros_pose_estimation.core.errors import InputError
from ros_pose_estimation.core.estimation import Detection, PoseEstimate
from ros_pose_estimation.core.so3 import frame_with_z
from ros_pose_estimation.core.view_correction import image_roll

__all__ = ["gravity_look", "gravity_turn", "upright_turn", "upright_view", "second_look"]

#: a look whose turn differs from the previous one by less than this (deg) ends the looks
SETTLE_DEG = 2.0


def upright_turn(R: np.ndarray, t: np.ndarray) -> float:
    """The camera turn (rad, :func:`~ros_pose_estimation.core.camera_roll.roll_matrix`) after
    which the object of pose ``R``, ``t`` stands upright in the image (its image roll ~0)."""
    roll = float(image_roll(R, t))
    candidates = (roll, -roll)
    residual = [abs(float(image_roll(roll_matrix(a) @ R, roll_matrix(a) @ t))) for a in candidates]
    return candidates[int(np.argmin(residual))]


def upright_view(rgb: np.ndarray, intrinsics: Intrinsics, det: Detection, angle: float):
    """``(view, detection)``: the window around ``det`` seen by the camera turned by ``angle``
    and the detection in it."""
    x0, y0, x1, y1 = np.asarray(det.box_xyxy, dtype=np.float64)
    centre = np.array([(x0 + x1) / 2.0, (y0 + y1) / 2.0])
    side = int(math.ceil(1.6 * math.hypot(x1 - x0, y1 - y0))) + 2
    view = rolled_view(rgb, intrinsics, angle, centre, side)
    c = view.points(centre)[0]
    w, h = x1 - x0, y1 - y0
    box = upright_box([c[0] - w / 2, c[1] - h / 2, c[0] + w / 2, c[1] + h / 2], angle)
    mask = None
    if det.mask is not None:
        mask = rolled_view(det.mask, intrinsics, angle, centre, side, nearest=True).image
    return view, Detection(det.category, box, mask)


def second_look(
    rgb: np.ndarray,
    detections: Sequence[Detection],
    intrinsics: Intrinsics,
    first: list[PoseEstimate],
    estimate: Callable[[np.ndarray, list[Detection], Intrinsics], list[PoseEstimate]],
    min_deg: float,
    keep: str,
    looks: int = 2,
) -> list[PoseEstimate]:
    """``first`` with each estimate rolled more than ``min_deg`` replaced by its upright look
    when ``keep`` says so (module docstring); ``estimate(image, detections, intrinsics)`` is
    the estimator's own call (one detection per call here). Up to ``looks`` upright looks per
    object: each turns the camera by what the previous look says, until the turn changes by
    less than :data:`SETTLE_DEG`. The replaced estimate's timings add every look's."""
    out = list(first)
    for i, (det, est) in enumerate(zip(detections, first, strict=True)):
        if est is None or abs(math.degrees(float(image_roll(est.R, est.t)))) < min_deg:
            continue
        best, angle, timings = est, None, dict(est.timings)
        current = est
        for _ in range(looks):
            turn = upright_turn(current.R, current.t)
            if angle is not None and abs(math.degrees(turn - angle)) < SETTLE_DEG:
                break
            angle = turn
            view, upright = upright_view(rgb, intrinsics, det, angle)
            (again,) = estimate(view.image, [upright], view.intrinsics)
            for k, v in again.timings.items():
                timings[k] = timings.get(k, 0.0) + v
            R, t = view.pose_back(again.R, again.t)
            current = replace(again, R=R, t=t, batch=est.batch)
            if keep == "second" or current.loss < best.loss:
                best = current
        out[i] = replace(best, timings=timings)
    return out


def gravity_turn(up: np.ndarray, intrinsics: Intrinsics, box_xyxy) -> float:
    """The camera turn (rad) after which the world's ``up`` (``[3]``, camera frame) points up
    in the image at the centre of ``box_xyxy``."""
    x0, y0, x1, y1 = np.asarray(box_xyxy, dtype=np.float64)
    ray = np.array([((x0 + x1) / 2 - intrinsics.cx) / intrinsics.fx,
                    ((y0 + y1) / 2 - intrinsics.cy) / intrinsics.fy, 1.0])  # fmt: skip
    return upright_turn(frame_with_z(up), ray)


def gravity_look(
    rgb: np.ndarray,
    detections: Sequence[Detection],
    intrinsics: Intrinsics,
    up: np.ndarray,
    estimate: Callable[[np.ndarray, list[Detection], Intrinsics], list[PoseEstimate]],
    min_deg: float,
) -> list[PoseEstimate]:
    """One look per detection: the ones whose world up leans less than ``min_deg`` in one
    batched call on ``rgb``, each other one in the view of the camera turned upright by
    ``up`` (``[3]``, the world's up in the camera frame; module docstring).

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
        for i, est in zip(plain, estimate(rgb, [detections[i] for i in plain], intrinsics),
                          strict=True):  # fmt: skip
            out[i] = est
    for i, angle in enumerate(turns):
        if out[i] is not None or i in plain:
            continue
        view, upright = upright_view(rgb, intrinsics, detections[i], angle)
        (again,) = estimate(view.image, [upright], view.intrinsics)
        R, t = view.pose_back(again.R, again.t)
        out[i] = replace(again, R=R, t=t)
    return out
