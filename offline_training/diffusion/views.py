"""Relative views of one object image (paper 000 Sec. 3.1, Eqs. 2-3).

The *instance frame* of an input image is the frame of its centred camera (OpenCV optical axes:
x right, y down, z forward) moved to the object's centre: the object's unknown canonical pose
``P_y`` is taken as the identity (paper 000). A relative view ``(azimuth, elevation)`` moves
the camera on the sphere around the object centre, at the same distance, still looking at the
centre, with no roll (LookAt, Eq. 2):

* positive azimuth moves the camera to its right (towards +x), about the input camera's up
  axis (-y);
* positive elevation moves it up (towards -y), over the object.

The view's rotation, instance frame -> view camera, is ``R_m = R_x(el) @ R_y(az)``
(:func:`relative_rotation`), and its translation ``(0, 0, d)`` with ``d`` the input camera's
distance to the object centre: ``P_m = P_y dP_m`` (Eq. 3) with ``P_y = I``.

Zero-1-to-3 conditions on ``[d_polar (rad), sin d_az, cos d_az, d_radius]`` with the polar
angle measured from the up axis, so ``d_polar = -d_elevation`` (:func:`zero123_pose_vector`);
Stable-Zero123 replaces the 4th entry by the input view's absolute polar angle.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ros_pose_estimation.core.errors import ConfigError

__all__ = [
    "RelativeView",
    "relative_rotation",
    "view_grid",
    "zero123_pose_vector",
]


@dataclass(frozen=True)
class RelativeView:
    """A view relative to the input image: degrees, and a radius change (generator units;
    0 keeps the input's distance, the only value the pipeline of paper 000 uses)."""

    azimuth_deg: float
    elevation_deg: float
    radius: float = 0.0

    def __post_init__(self) -> None:
        if not -90.0 <= self.elevation_deg <= 90.0:
            raise ConfigError(f"elevation must be within [-90, 90] deg, got {self.elevation_deg}")

    @property
    def rotation(self) -> np.ndarray:
        """``[3 x 3]`` instance frame -> view camera (:func:`relative_rotation`)."""
        return relative_rotation(self.azimuth_deg, self.elevation_deg)


def relative_rotation(azimuth_deg: float, elevation_deg: float) -> np.ndarray:
    """``R_x(el) @ R_y(az)``: rotation ``[3 x 3]`` from the instance frame to the camera that
    moved by ``azimuth_deg`` to its right and ``elevation_deg`` up around the object (see the
    module doc). ``(0, 0)`` is the identity."""
    az, el = np.deg2rad(float(azimuth_deg)), np.deg2rad(float(elevation_deg))
    ca, sa, ce, se = np.cos(az), np.sin(az), np.cos(el), np.sin(el)
    r_y = np.array([[ca, 0.0, sa], [0.0, 1.0, 0.0], [-sa, 0.0, ca]])
    r_x = np.array([[1.0, 0.0, 0.0], [0.0, ce, -se], [0.0, se, ce]])
    return r_x @ r_y


def view_grid(
    azimuth: tuple[float, float] = (-90.0, 90.0),
    elevation: tuple[float, float] = (-90.0, 90.0),
    step_deg: float = 15.0,
    n: int | None = 20,
    seed: int = 0,
) -> list[RelativeView]:
    """Views on the published grid (every ``step_deg`` within the ranges, both ends included),
    ``n`` of them drawn without replacement (all when None or ``n`` >= the grid), the input view
    ``(0, 0)`` always first when it is on the grid. Published (paper 000): 15 deg within
    [-90, 90] for both angles, 20 views per object."""
    if step_deg <= 0:
        raise ConfigError(f"step must be > 0 deg, got {step_deg}")
    for name, (lo, hi) in (("azimuth", azimuth), ("elevation", elevation)):
        if lo > hi:
            raise ConfigError(f"{name} range must be lo <= hi, got {lo}..{hi}")
    azs = _steps(*azimuth, step_deg)
    els = _steps(*elevation, step_deg)
    grid = [RelativeView(float(a), float(e)) for e in els for a in azs]
    origin = [v for v in grid if v.azimuth_deg == 0.0 and v.elevation_deg == 0.0]
    rest = [v for v in grid if v not in origin]
    if n is not None and n < len(grid):
        if n < 1:
            raise ConfigError(f"need at least one view, got n = {n}")
        rng = np.random.default_rng(seed)
        picked = rng.choice(len(rest), size=n - len(origin), replace=False)
        rest = [rest[i] for i in sorted(picked)]
    return origin + rest


def _steps(lo: float, hi: float, step: float) -> Iterable[float]:
    count = int(np.floor((hi - lo) / step + 1e-9)) + 1
    return [lo + i * step for i in range(count)]


def zero123_pose_vector(
    view: RelativeView, input_elevation_deg: float | None = None
) -> np.ndarray:
    """``[4]`` float32 conditioning of Zero-1-to-3: ``[d_polar (rad), sin d_az, cos d_az,
    d_radius]`` with ``d_polar = -d_elevation``; with ``input_elevation_deg`` (Stable-Zero123)
    the 4th entry is the input view's absolute polar angle ``deg2rad(90 - elevation)``."""
    d_az = np.deg2rad(view.azimuth_deg)
    fourth = view.radius if input_elevation_deg is None else np.deg2rad(90.0 - input_elevation_deg)
    return np.array(
        [-np.deg2rad(view.elevation_deg), np.sin(d_az), np.cos(d_az), fourth], dtype=np.float32
    )
