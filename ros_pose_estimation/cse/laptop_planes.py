"""A laptop's rotation from the planes of its base and screen in the depth image (RGB-D).

The laptop's frame is its base's (``categories.md``: z up from the base, y along the hinge, x
from the hinge towards the front edge), and both slabs are flat. Whatever the network's
correspondences say, the depth pixels fix most of the rotation by themselves: the base's
normal is z, and where the screen is seen too, the hinge, the line where the two planes meet,
is y. :func:`laptop_slabs` takes the object's depth pixels (``[N x 3]`` camera frame, m) and
the solved pose:

1. RANSAC (:func:`.planes.fit_plane`) finds the largest plane (at least ``MIN_SHARE`` of the
   pixels within ``threshold``), then the largest plane of the rest (at least
   ``MIN_SHARE_SECOND``); each is refitted to its inliers by least squares.
2. The base is the plane whose pixels lie lower along the surface's normal (``up``, where the
   surface the laptop stands on is known), else along the solved z. A base within
   ``SURFACE_Z_DEG`` of the surface lies on it: z is the surface's normal (gravity's up, or
   the plane fitted over the ring around the detection), where the base's few pixels, far
   away, carry centimetres of depth noise that tilt their plane. Otherwise z is the base's
   normal, turned to agree with the solved z, and refused beyond ``MAX_TILT_DEG`` of it.
3. With a screen plane at least ``MIN_FOLD_DEG`` away from the base's, its pixels a mean
   ``MIN_SCREEN_RISE`` above the base's (a second "plane" through a far base's noisy pixels
   is none): y along their line
   (turned to agree with the solved y), x = y x z, and x turned by 180 deg about z when the base's
   pixels lie behind the screen's along it ("two planes").
4. With the base alone (on the surface, or within ``MAX_TILT_ONE_DEG`` of the solved z): x is
   the solved x laid into the base plane, then snapped to the nearest edge of the base pixels'
   minimum-area rectangle if that is within ``MAX_SNAP_DEG`` ("base on surface", "base").

5. With the surface the laptop stands on (``up``, its normal), a slab too far from the solved z
   is still used: a plane within ``BASE_UP_DEG`` of the surface is the base (z its normal,
   then as in 4: "base on surface"); otherwise the largest plane, at least
   ``SCREEN_MIN_UP_DEG`` from the surface, is the screen alone (seen from behind, or the base
   at a grazing angle): z is the surface's normal, y the horizontal line of the screen (the
   hinge's direction), x = y x z turned to agree with the solved x ("screen on surface").

Otherwise (too few pixels, no plane, a plane too far from the solved z) the rotation is
returned unchanged. With both slabs seen, :func:`laptop_box` also measures the box from the
slabs' pixels (:func:`laptop_slabs` returns those within the threshold of the two planes: a
pixel off both, the depth's noise or a mask that spills onto the table and the background,
would stretch it): in the new frame their extents along x and y, and along z from
``BASE_THICKNESS`` below the base's top (its 5th percentile) to the screen's highest pixel;
the box centre is their middle. With the screen alone seen on the surface (from behind, the
base hidden), :func:`laptop_screen_box` measures the box from the screen: its lean from its
plane, its top and width from its pixels, its length from the hinge (``BASE_THICKNESS`` over
the surface) to the top, and the base as deep as the screen is long
(``SCREEN_DEPTH_RATIO``); its front is turned first where the rest of the laptop's pixels lie
behind the screen (:func:`front_from_rest`: the base, unfound as a plane, is still there).
Pure numpy and OpenCV; ``test/cse/test_laptop_planes.py`` pins it on synthetic slabs.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from ros_pose_estimation.core.errors import check_shape

from .pixels import plane_heights
from .planes import fit_plane

__all__ = [
    "BASE_THICKNESS",
    "SCREEN_DEPTH_RATIO",
    "front_from_rest",
    "laptop_box",
    "laptop_screen_box",
    "laptop_slabs",
    "screen_plane",
]

#: The larger plane's and the second plane's least share of the
#: pixels; the least angle between base and screen (deg); the most the base's normal may
#: differ from the solved z with a screen seen, and without (deg); the largest snap (deg) to
#: the base's rectangle. Chosen on the laptop validation sets (BENCHMARKS "The laptop's slabs").
MIN_SHARE = 0.15
MIN_SHARE_SECOND = 0.05
MIN_FOLD_DEG = 25.0
MAX_TILT_DEG = 70.0
MAX_TILT_ONE_DEG = 20.0
MAX_SNAP_DEG = 40.0
MIN_POINTS = 30
#: With the surface known: a plane within this angle (deg) of its normal is the base; the screen
#: alone must lie at least this far (deg) from it (screens open 70-140 deg: their normals lie
#: 40-90 deg from the surface's).
BASE_UP_DEG = 12.0
SCREEN_MIN_UP_DEG = 40.0
#: With the surface known: a base plane within this angle (deg) of its normal lies on it, and
#: z is then the surface's normal. The surface is fitted over the ring around the detection;
#: the base's own pixels are fewer, and beyond ~3.5 m their depth noise (cm) tilts its plane
#: by 5-20 deg. Chosen on the laptop validation sets (BENCHMARKS "A far laptop").
SURFACE_Z_DEG = 25.0
#: The least mean height (m) of the second plane's pixels above the base's for it to be the
#: screen: far away, a second "plane" through the base's noisy pixels is none.
MIN_SCREEN_RISE = 0.03
#: The base slab's thickness below its top surface (m): the data engine draws 1.2-2.4 cm.
BASE_THICKNESS = 0.018
#: The most a screen seen alone may lean from upright (deg) for :func:`laptop_screen_box`.
SCREEN_MAX_LEAN_DEG = 60.0
#: :func:`front_from_rest`: the laptop's pixels off the screen's plane by more than
#: ``FRONT_MARGIN`` (m) and ``FRONT_NOISE`` times the depth noise (the robust spread of the
#: pixels' distances to the plane: 2-3 cm at 4 m) count; they turn the front when at least
#: ``FRONT_MIN_POINTS`` lie behind the screen and more than ``FRONT_RATIO`` times as many as
#: in front.
FRONT_MARGIN = 0.03
FRONT_NOISE = 3.0
FRONT_MIN_POINTS = 20
FRONT_RATIO = 3.0
#: :func:`laptop_box` takes the surface as the bottom when the laptop's z is within this angle
#: (deg) of its normal: with gravity, z is gravity's up, a fraction of a degree off the fitted
#: surface (BENCHMARKS "Standing on the table", the laptop's bottom).
BOTTOM_DEG = 3.0


def _angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    return math.degrees(math.acos(float(np.clip(a @ b, -1.0, 1.0))))


def _base_frame(R: np.ndarray, z: np.ndarray, base: np.ndarray) -> np.ndarray:
    """``[3 x 3]`` the frame with up axis ``z`` (the base's normal): the solved x (``R``'s)
    laid into the base's plane, snapped to the nearest edge of the base pixels' (``[N x 3]``)
    minimum-area rectangle within ``MAX_SNAP_DEG``. Where the solved x lies nearer the normal
    than the plane (a solve tipped onto its front or back edge), the solved y laid into the
    plane gives it instead (x = y x z)."""
    if abs(float(R[:, 0] @ z)) > math.sqrt(0.5):
        x = np.cross(R[:, 1] - (R[:, 1] @ z) * z, z)
    else:
        x = R[:, 0] - (R[:, 0] @ z) * z
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    uv = np.stack([(base - base.mean(0)) @ x, (base - base.mean(0)) @ y], axis=1)
    edge = math.radians(cv2.minAreaRect(uv.astype(np.float32))[2])
    snap = min((edge + k * math.pi / 2 for k in range(4)),
               key=lambda a: abs(math.remainder(a, 2 * math.pi)))  # fmt: skip
    snap = math.remainder(snap, 2 * math.pi)
    if abs(math.degrees(snap)) <= MAX_SNAP_DEG:
        x = math.cos(snap) * x + math.sin(snap) * y
        x /= np.linalg.norm(x)
        y = np.cross(z, x)
    return np.stack([x, y, z], axis=1)


def _on_surface(R: np.ndarray, planes: list, up: np.ndarray | None) -> tuple[np.ndarray, str]:
    """Step 5 of the module docstring for ``planes`` (``(normal, pixels)``, the largest first)
    too far from the solved z: ``(R', how)``, or ``(R, "tilted")``."""
    if up is None:
        return R, "tilted"
    up = np.asarray(up, dtype=np.float64) / np.linalg.norm(up)
    folded = [min(_angle_deg(n, up), _angle_deg(-n, up)) for n, _ in planes]
    k = int(np.argmin(folded))
    if folded[k] <= BASE_UP_DEG:
        z = planes[k][0] if planes[k][0] @ up >= 0 else -planes[k][0]
        return _base_frame(R, z, planes[k][1]), "base on surface"
    if folded[0] < SCREEN_MIN_UP_DEG:
        return R, "tilted"
    y = np.cross(up, planes[0][0])
    y /= np.linalg.norm(y)
    x = np.cross(y, up)
    if x @ R[:, 0] < 0:
        x, y = -x, -y
    return np.stack([x, y, up], axis=1), "screen on surface"


def laptop_slabs(points: np.ndarray, R: np.ndarray, t: np.ndarray, threshold: float = 0.006,
                 seed: int = 0, up: np.ndarray | None = None,
                 ) -> tuple[np.ndarray, str, np.ndarray]:  # fmt: skip
    """The laptop's rotation from its slabs (see the module docstring), and the slabs' pixels.

    Args:
        points: ``[N x 3]`` the laptop's depth pixels, camera frame (m).
        R: ``[3 x 3]`` the solved rotation model -> camera; t: ``[3]`` its box centre (m).
        threshold: plane inlier distance (m).
        seed: RANSAC seed (deterministic results).
        up: ``[3]`` the normal of the surface the laptop stands on (camera frame, pointing to
            the camera's side), or None: step 5.

    Returns:
        ``(R', how, slabs)``: the new rotation and ``"two planes"``, ``"base"``, ``"base on
        surface"``, ``"screen on surface"`` or why it is unchanged (``"few points"``, ``"no
        plane"``, ``"tilted"``); ``slabs`` ``[M x 3]`` the pixels within ``threshold`` of the
        planes found (none: ``[0 x 3]``), what :func:`laptop_box` measures: a pixel off both
        slabs (depth noise, a mask that spills onto the table or the background) would
        stretch the box.
    """
    pts = np.asarray(points, dtype=np.float64)
    check_shape("points", pts, ("N", 3))
    R = np.asarray(R, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    if len(pts) < MIN_POINTS:
        return R, "few points", np.zeros((0, 3))
    rng = np.random.default_rng(seed)
    first = fit_plane(pts, threshold, rng)
    if first is None or first[2].mean() < MIN_SHARE:
        return R, "no plane", np.zeros((0, 3))
    planes = [(first[0], pts[first[2]])]
    rest = pts[~first[2]]
    second = fit_plane(rest, threshold, rng) if len(rest) >= MIN_POINTS else None
    if second is not None and second[2].sum() >= MIN_SHARE_SECOND * len(pts):
        planes.append((second[0], rest[second[2]]))
    by_size = list(planes)
    slabs = np.concatenate([p for _, p in planes])
    surface = None if up is None else np.asarray(up, dtype=np.float64) / np.linalg.norm(up)
    lift = R[:, 2] if surface is None else surface  # base: the lowest along it
    planes.sort(key=lambda plane: float(((plane[1] - t) @ lift).mean()))
    z, base = planes[0]
    z = z if z @ lift >= 0 else -z
    on_surface = surface is not None and _angle_deg(z, surface) <= SURFACE_Z_DEG
    tilt = 0.0
    if on_surface:  # the surface's normal over the base's few noisy pixels
        z = surface
    else:
        tilt = _angle_deg(z, R[:, 2])
        if tilt > MAX_TILT_DEG:
            return (*_on_surface(R, by_size, up), slabs)
    if len(planes) == 2:
        screen_normal, screen = planes[1]
        fold = math.degrees(math.acos(float(np.clip(abs(z @ screen_normal), 0.0, 1.0))))
        rise = float(((screen - base.mean(0)) @ z).mean())
        if fold >= MIN_FOLD_DEG and rise >= MIN_SCREEN_RISE:
            y = np.cross(z, screen_normal)
            y /= np.linalg.norm(y)
            y = y if y @ R[:, 1] >= 0 else -y
            x = np.cross(y, z)
            if (base.mean(0) - screen.mean(0)) @ x < 0:  # the base lies in front of the hinge
                x, y = -x, -y
            return np.stack([x, y, z], axis=1), "two planes", slabs
    if on_surface:
        return _base_frame(R, z, base), "base on surface", slabs
    if tilt > MAX_TILT_ONE_DEG:
        return (*_on_surface(R, by_size, up), slabs)
    return _base_frame(R, z, base), "base", slabs


def screen_plane(slabs: np.ndarray, threshold: float = 0.006, seed: int = 0):
    """The screen's plane among ``laptop_slabs``' slabs ``[M x 3]`` (camera frame, m) when only
    the screen was found: their largest plane (:func:`.planes.fit_plane`, inlier distance
    ``threshold`` m, RANSAC ``seed``), or None (fewer than ``MIN_POINTS`` pixels, no plane).
    Fitted once for :func:`front_from_rest` and :func:`laptop_screen_box`."""
    pts = np.asarray(slabs, dtype=np.float64)
    if len(pts) < MIN_POINTS:
        return None
    return fit_plane(pts, threshold, np.random.default_rng(seed))


def front_from_rest(points: np.ndarray, screen: np.ndarray, R: np.ndarray,
                    threshold: float = 0.006, seed: int = 0,
                    plane=None) -> tuple[np.ndarray, bool]:  # fmt: skip
    """``(R', turned)``: a laptop whose screen alone was found (:func:`laptop_slabs`'s ``"screen
    on surface"``, its x the solved one) turned 180 deg about z when its other pixels lie
    behind the screen. A base whose depth no plane was found in (far away its pixels lie
    within the table's noise, or are too few) still shows in the object's mask, and it lies in
    front of the screen; seen from behind, the base is hidden and nothing lies behind either.

    Args:
        points: ``[N x 3]`` the laptop's depth pixels (its mask's; camera frame, m).
        screen: ``[M x 3]`` ``laptop_slabs``'s slabs; the screen is their largest plane
            (RANSAC, inlier distance ``threshold`` m, ``seed``), as in
            :func:`laptop_screen_box`.
        R: ``[3 x 3]`` that outcome's frame (z the surface's normal, x towards the front).
        plane: :func:`screen_plane` of ``screen``, when already fitted.
    """
    pts = np.asarray(points, dtype=np.float64)
    R = np.asarray(R, dtype=np.float64)
    if plane is None:
        plane = screen_plane(screen, threshold, seed)
    if plane is None or len(pts) == 0:
        return R, False
    normal = plane[0] if plane[0] @ R[:, 0] >= 0 else -plane[0]  # towards the solved front
    side = (pts - plane[1]) @ normal
    noise = 1.4826 * float(np.median(np.abs(side - np.median(side))))
    margin = max(FRONT_MARGIN, FRONT_NOISE * noise)
    front = int(np.count_nonzero(side > margin))
    behind = int(np.count_nonzero(side < -margin))
    if behind >= FRONT_MIN_POINTS and behind > FRONT_RATIO * front:
        return R @ np.diag([-1.0, -1.0, 1.0]), True
    return R, False


def laptop_box(points: np.ndarray, R: np.ndarray, t: np.ndarray,
               base_thickness: float = BASE_THICKNESS,
               support: tuple[np.ndarray, float] | None = None,
               ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """``(box centre [3], extents [3])`` (m) of a laptop measured from its slabs' depth pixels
    ``points [N x 3]`` (camera frame; :func:`laptop_slabs`'s) in the frame ``R`` (a "two
    planes" rotation of :func:`laptop_slabs`) about the solved centre ``t``: x and y from the
    pixels' extents,
    z from ``base_thickness`` below the base's top (the 5th percentile of the pixels' heights)
    to the highest pixel (the screen's top). With the surface the laptop stands on,
    ``support = (unit normal [3], offset)`` (a point's height ``p . normal + offset``) and
    ``R``'s z within ``BOTTOM_DEG`` of its normal, the bottom is that surface instead (no
    thickness to assume)."""
    pts = np.asarray(points, dtype=np.float64)
    check_shape("points", pts, ("N", 3))
    R = np.asarray(R, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    q = (pts - t) @ R
    bottom = float(np.percentile(q[:, 2], 5)) - base_thickness
    if support is not None and float(R[:, 2] @ support[0]) > math.cos(math.radians(BOTTOM_DEG)):
        bottom = -float(plane_heights(t, support))  # the surface, along z from t
    lo = np.array([q[:, 0].min(), q[:, 1].min(), bottom])
    hi = q.max(axis=0)
    return t + R @ (0.5 * (lo + hi)), hi - lo


#: A laptop's screen (lid) is about as long as its base is deep: the lid covers the base
#: (the data engine draws 0.9-1.0; real laptops are alike).
SCREEN_DEPTH_RATIO = 0.95


def laptop_screen_box(points: np.ndarray, R: np.ndarray, t: np.ndarray,
                      support: tuple[np.ndarray, float], threshold: float = 0.006, seed: int = 0,
                      base_thickness: float = BASE_THICKNESS, plane=None,
                      ) -> tuple[np.ndarray, np.ndarray] | None:  # fmt: skip
    """``(box centre [3], extents [3])`` (m) of a laptop seen by its screen alone (from
    behind: :func:`laptop_slabs`'s ``"screen on surface"``), or None when no screen plane is
    found in ``points [N x 3]`` (camera frame).

    ``R`` is that outcome's frame (z the surface's normal, y along the hinge, x towards the
    front) and ``support`` the surface, ``(unit normal [3], offset)`` with a point's height
    ``p . normal + offset``. The base is hidden, but the screen fixes it: the screen's plane
    gives its lean, its pixels its top over the surface and its width; the hinge lies at
    ``base_thickness`` over the surface, so the screen's length is the rise from there to its
    top over the cosine of its lean, and the base is that length over
    ``SCREEN_DEPTH_RATIO`` deep, forward of the hinge. The box reaches from the screen's top
    leaning back (if it does) to the base's front edge, and from the surface to the top.
    ``plane``: :func:`screen_plane` of ``points``, when already fitted."""
    pts = np.asarray(points, dtype=np.float64)
    check_shape("points", pts, ("N", 3))
    R = np.asarray(R, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    if plane is None:
        plane = screen_plane(pts, threshold, seed)
    if plane is None:
        return None
    screen = pts[plane[2]]
    n = R.T @ plane[0]  # the screen's normal in the laptop's frame
    rise_dir = np.array([0.0, 0.0, 1.0]) - n[2] * n  # up along the screen, across the hinge
    norm = float(np.linalg.norm(rise_dir))
    if norm < 1e-6:
        return None
    rise_dir /= norm
    if rise_dir[2] < math.cos(math.radians(SCREEN_MAX_LEAN_DEG)):  # too flat to be a screen
        return None
    q = (screen - t) @ R
    heights = plane_heights(screen, support)
    floor = -float(plane_heights(t, support))  # the surface, along z from t
    top = float(heights.max())
    length = (top - base_thickness) / rise_dir[2]
    if length <= 0:
        return None
    hinge_x = float(np.median(q[:, 0] - (heights - base_thickness) * rise_dir[0] / rise_dir[2]))
    depth = length / SCREEN_DEPTH_RATIO
    back = hinge_x + min(length * rise_dir[0], 0.0)  # the screen's top, if it leans back
    lo = np.array([back, q[:, 1].min(), floor])
    hi = np.array([hinge_x + depth, q[:, 1].max(), floor + top])
    return t + R @ (0.5 * (lo + hi)), hi - lo
