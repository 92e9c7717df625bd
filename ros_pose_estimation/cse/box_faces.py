"""A box's rotation and extents from its faces in the depth image (RGB-D).

A cuboid shows one to three flat faces, each perpendicular to one of its axes. The depth
pixels give their planes without any network, and the pixels on the faces span the box's
extents. :func:`box_from_faces` takes the object's depth pixels (``[N x 3]`` camera frame, m)
and the solved pose (rotation ``R``, box centre ``t``, extents ``size``):

1. RANSAC (:func:`.planes.fit_plane`) finds up to ``MAX_FACES`` planes, each holding at
   least ``MIN_SHARE`` of the pixels.
2. Each plane's normal goes to the solved axis it is nearest to (within ``MAX_TURN_DEG``; one
   plane per axis, the larger wins), signed as that axis.
3. Two or three faces fix the rotation (the axes in order z, x, y, each made orthogonal to
   those before; the last is their cross product). One face fixes its axis; the solved axes
   are laid into its plane and snapped to the nearest edge of the face pixels' minimum-area
   rectangle (within ``MAX_SNAP_DEG``). With the surface the box stands on known
   (``support``), the new axis nearest its normal, within ``SURFACE_AXIS_DEG``, is laid on
   it by the smallest turn: far away the faces' depth noise tilts their planes, and the
   surface is fitted over the ring around the detection.
4. The extents: along each axis, the spread of the faces' pixels (plane inliers only: a
   mask's stray edge pixels would stretch it) in the new frame where some face spans it (a
   face spans the two axes in its plane). Along the normal of a face seen alone no pixel
   spans the box: there it is the top's height over the surface (the top face), else the
   solved extent; for a side face, given the template's ``proportions``, at least
   ``MIN_DEPTH_SHARE`` of the other horizontal extent times the template's ratio of the two.
   The centre: the middle of the spread, or, along the one face's normal, half that extent
   behind the face. A box standing on the surface (``stand``) with its top among two or
   three faces reaches from the surface to the top face's median height over it (within
   ``TOP_AGREE`` of the spread): the spread of a short side face carries its edge pixels'
   depth noise. Far away that noise (its standard deviation ``noise``, measured by
   :mod:`.depth_noise`) widens the spread itself, by up to ``NOISE_SPREAD`` times it, and the
   check allows for that. With its sides seen alone, a standing box reaches to twice their
   pixels' median height over the surface, where the spread exceeds that by no more than the
   noise can add (a side is seen evenly from the bottom to the top; the median is not moved
   by the noise, the spread is).

The frame's convention (x the longer horizontal edge) is applied afterwards by the estimator.
With no plane, the pose is returned unchanged. Pure numpy and OpenCV;
``test/cse/test_box_faces.py`` pins it on synthetic boxes.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from ros_pose_estimation.core.errors import check_shape
from ros_pose_estimation.core.standing import stand_nearest_axis

from .pixels import plane_heights
from .planes import fit_plane

__all__ = ["box_from_faces"]

#: Faces looked for; a face's least share of the pixels; the most a face's normal may differ
#: from the solved axis it is given to (deg); the largest snap to one face's outline (deg);
#: the least pixels. Share and turn chosen on the box validation sets (BENCHMARKS "The box's
#: faces"): shares 0.05 / 0.08 / 0.12 tie, turns 25 / 35 / 45 / 55 deg: 45 and 55 best.
MAX_FACES = 3
MIN_SHARE = 0.08
MAX_TURN_DEG = 45.0
MAX_SNAP_DEG = 40.0
MIN_POINTS = 30
#: With the top face alone: the most its normal may differ from the support surface's (deg),
#: and the least height above it (m) taken for the box's height.
MAX_TOP_TILT_DEG = 15.0
MIN_HEIGHT = 0.01
#: With a side face alone: the depth behind it is at least this share of what the template's
#: proportions give (a one-face solve shrinks it; 0.4-0.7 tie on the box's calibration and
#: validation sets, BENCHMARKS "The box's depth behind one face"; 0.7 and more override a
#: right solve of a box thinner than the template, as the oracle test shows).
MIN_DEPTH_SHARE = 0.5
#: With the surface known: the faces' axis nearest its normal, within this angle (deg), is
#: laid on it before the extents are measured (step 3). 15 / 25 / 35 deg on the box
#: validation sets: 25 best (BENCHMARKS "A far box").
SURFACE_AXIS_DEG = 25.0
#: With the surface known and the top seen among other faces: the height is the top face's
#: over the surface when within this factor of the faces' spread either way (else the surface
#: found is likely not the one under the box, e.g. a neighbour's top).
TOP_AGREE = 1.6
#: The spread that depth noise adds to the faces' extents, in the noise's standard deviations
#: (``noise``): a far box's spread is widened by it and would refuse its own top.
NOISE_SPREAD = 4.0


def _orthonormal(axes: dict[int, np.ndarray]) -> np.ndarray:
    """``[3 x 3]`` rotation from two or three measured unit axes (columns by index), made
    orthogonal in the order z, x, y; the missing one is the cross product."""
    cols: dict[int, np.ndarray] = {}
    for k in (2, 0, 1):
        if k not in axes or len(cols) == 2:
            continue
        v = axes[k].copy()
        for u in cols.values():
            v -= (v @ u) * u
        cols[k] = v / np.linalg.norm(v)
    (i, a), (j, b) = sorted(cols.items())
    k = 3 - i - j
    c = np.cross(a, b) if (i, j) in ((0, 1), (1, 2)) else np.cross(b, a)  # (0, 2): y = z x x
    cols[k] = c / np.linalg.norm(c)
    return np.stack([cols[0], cols[1], cols[2]], axis=1)


def box_from_faces(points: np.ndarray, R: np.ndarray, t: np.ndarray, size: np.ndarray,
                   threshold: float = 0.006, seed: int = 0,
                   support: tuple[np.ndarray, float] | None = None,
                   proportions: np.ndarray | None = None, stand: bool = True,
                   noise: float = 0.0,
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, bool]:  # fmt: skip
    """``(R', t', size', faces, on_surface)``: the box's pose and extents from its faces (see
    the module docstring); ``faces`` = how many were used (0: unchanged); ``on_surface``:
    whether its height (the extent along the axis nearest the surface's normal) was measured
    from the surface (the top over it) rather than spread or solved.

    Args:
        points: ``[N x 3]`` the box's depth pixels, camera frame (m).
        R: ``[3 x 3]`` model -> camera; t: ``[3]`` box centre (m); size: ``[3]`` extents (m).
        threshold: plane inlier distance (m).
        seed: RANSAC seed (deterministic results).
        support: the surface the box stands on, ``(unit normal [3], offset)`` with a point's
            height ``p . normal + offset`` (:func:`.pixels.support_plane`), or None. With
            ``stand``, the faces' axis nearest its normal is laid on it (step 3; the
            estimator's tabletop prior, ``upright_on_support``). When the only face seen is
            the top (its normal within ``MAX_TOP_TILT_DEG`` of the surface's), the box's
            height is the top's height above the surface.
        proportions: ``[3]`` the category template's extents (m; only their ratios matter),
            or None. When the only face seen is a side (its normal model x or y), the box's
            extent along that normal is the solved one, but at least ``MIN_DEPTH_SHARE`` of
            the other horizontal extent (measured on the face) times the template's ratio of
            the two: a solve whose cells lie on one face has nothing along its normal either,
            and shrinks it (BENCHMARKS "The box's depth behind one face").
        noise: the standard deviation (m) of the depth noise on the box
            (:func:`.depth_noise.depth_noise`; 0: none allowed for), step 4.
    """
    pts = np.asarray(points, dtype=np.float64)
    check_shape("points", pts, ("N", 3))
    R = np.asarray(R, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    size = np.asarray(size, dtype=np.float64)
    if len(pts) < MIN_POINTS:
        return R, t, size, 0, False
    rng = np.random.default_rng(seed)
    faces: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # axis -> (signed normal, pixels)
    rest = pts
    for _ in range(MAX_FACES):
        if len(rest) < MIN_POINTS:
            break
        plane = fit_plane(rest, threshold, rng)
        if plane is None or plane[2].sum() < MIN_SHARE * len(pts):
            break
        normal, _, inliers = plane
        cosines = R.T @ normal
        k = int(np.argmax(np.abs(cosines)))
        if abs(cosines[k]) >= math.cos(math.radians(MAX_TURN_DEG)) and k not in faces:
            faces[k] = (normal * np.sign(cosines[k]), rest[inliers])
        rest = rest[~inliers]
    if not faces:
        return R, t, size, 0, False
    if len(faces) >= 2:
        R_new = _orthonormal({k: n for k, (n, _) in faces.items()})
    else:
        ((k, (normal, face)),) = faces.items()
        i, j = (k + 1) % 3, (k + 2) % 3
        u = R[:, i] - (R[:, i] @ normal) * normal
        u /= np.linalg.norm(u)
        uv = np.stack([(face - face.mean(0)) @ u, (face - face.mean(0)) @ np.cross(normal, u)], 1)
        edge = math.radians(cv2.minAreaRect(uv.astype(np.float32))[2])
        snap = min((math.remainder(edge + q * math.pi / 2, 2 * math.pi) for q in range(4)),
                   key=abs)  # fmt: skip
        if abs(math.degrees(snap)) <= MAX_SNAP_DEG:
            u = math.cos(snap) * u + math.sin(snap) * np.cross(normal, u)
        R_new = np.zeros((3, 3))
        R_new[:, k], R_new[:, i] = normal, u
        R_new[:, j] = np.cross(normal, u)  # (k, i, j) cyclic: axis j = axis k x axis i
    if support is not None and stand:
        R_new = stand_nearest_axis(R_new, support[0], SURFACE_AXIS_DEG)
    on_faces = np.concatenate([face for _, face in faces.values()])  # stray pixels left out
    q = (on_faces - t) @ R_new
    lo, hi = q.min(axis=0), q.max(axis=0)
    centre, extent = 0.5 * (lo + hi), hi - lo
    spanned = [any(a != k for a in faces) for k in range(3)]  # a face in the axis's plane
    on_surface = False
    for k in range(3):
        if not spanned[k]:  # the only face is perpendicular to k: its depth is not seen
            face_q = float(np.median((faces[k][1] - t) @ R_new[:, k]))
            toward = 1.0 if R_new[:, k] @ (-(t + R_new[:, k] * face_q)) > 0 else -1.0
            depth_k = size[k]
            if support is not None and abs(float(R_new[:, k] @ support[0])) >= math.cos(
                    math.radians(MAX_TOP_TILT_DEG)):  # fmt: skip
                height = float(np.median(plane_heights(faces[k][1], support)))
                if height >= MIN_HEIGHT:  # the top over the table
                    depth_k, on_surface = height, True
            elif proportions is not None and k < 2:  # a side: its horizontal edge is seen
                other = 1 - k
                ratio = float(proportions[k]) / max(float(proportions[other]), 1e-9)
                depth_k = max(depth_k, MIN_DEPTH_SHARE * ratio * extent[other])
            centre[k], extent[k] = face_q - toward * 0.5 * depth_k, depth_k
    if support is not None and stand:  # standing on the surface: from it to the top face
        n = np.asarray(support[0], dtype=np.float64)
        cosines = R_new.T @ n
        k = int(np.argmax(np.abs(cosines)))
        upright = abs(cosines[k]) >= math.cos(math.radians(MAX_TOP_TILT_DEG))
        height = None
        if k in faces and spanned[k] and upright:  # the top seen: its height over the surface
            top = float(np.median(plane_heights(faces[k][1], support)))
            spread = max(extent[k] - NOISE_SPREAD * noise, 0.0)  # what the noise did not add
            if top >= MIN_HEIGHT and spread / TOP_AGREE <= top <= extent[k] * TOP_AGREE:
                height = top
        elif upright and spanned[k]:  # sides alone: twice their pixels' middle height
            sides = np.concatenate([face for _, face in faces.values()])
            middle = 2.0 * float(np.median(plane_heights(sides, support)))
            if MIN_HEIGHT <= middle < extent[k] <= middle + NOISE_SPREAD * noise:
                height = middle
        if height is not None:
            rise = 0.5 * height - float(plane_heights(t + R_new @ centre, support))
            centre[k] += np.sign(cosines[k]) * rise
            extent[k], on_surface = height, True
    return R_new, t + R_new @ centre, extent, len(faces), on_surface
