"""Camera placement for synthetic scenes: look-at poses on a hemisphere around a target.

Every pose returned here is ``T_world_cam`` ``[4 x 4]``: it maps points from the camera frame to
the world frame. The camera frame is the OpenCV optical frame (x right, y down, z forward, as
in ROS ``*_optical_frame``). The world is z-up; azimuth is measured in the world xy plane from
+x towards +y, elevation from the xy plane upwards (both in degrees).
"""

from __future__ import annotations

import numpy as np


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray = (0.0, 0.0, 1.0)) -> np.ndarray:
    """``T_world_cam`` ``[4 x 4]`` of an optical camera at ``eye`` looking at ``target`` (m).

    The image's "up" (-y of the camera) is as close to the world ``up`` as possible; when the
    view direction is parallel to ``up`` the world +y is used instead (no roll ambiguity).
    """
    eye = np.asarray(eye, dtype=np.float64)
    forward = np.asarray(target, dtype=np.float64) - eye
    norm = np.linalg.norm(forward)
    if norm < 1e-12:
        raise ValueError("look_at: eye and target coincide")
    z = forward / norm
    up = np.asarray(up, dtype=np.float64)
    x = np.cross(z, up)
    if np.linalg.norm(x) < 1e-9:  # looking straight along up: pick another reference
        x = np.cross(z, (0.0, 1.0, 0.0))
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    T = np.eye(4)
    T[:3, :3] = np.stack([x, y, z], axis=1)
    T[:3, 3] = eye
    return T


def camera_on_sphere(
    azimuth_deg: float,
    elevation_deg: float,
    distance: float,
    target: np.ndarray = (0.0, 0.0, 0.0),
    roll_deg: float = 0.0,
) -> np.ndarray:
    """``T_world_cam`` of a camera ``distance`` m from ``target`` at the given azimuth and
    elevation (deg), looking at the target, rolled by ``roll_deg`` about its optical axis."""
    az, el = np.deg2rad(azimuth_deg), np.deg2rad(elevation_deg)
    offset = distance * np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
    T = look_at(np.asarray(target, dtype=np.float64) + offset, target)
    if roll_deg:
        c, s = np.cos(np.deg2rad(roll_deg)), np.sin(np.deg2rad(roll_deg))
        T[:3, :3] = T[:3, :3] @ np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    return T


def fit_distance(
    radius: float, fx: float, fy: float, width: int, height: int, fill: float
) -> float:
    """Distance (m) at which a sphere of ``radius`` (m) spans ``fill`` of the shorter image side.

    Uses the small-angle pinhole approximation ``2 r f / d = fill * side``.
    """
    side_f = min(width / fx, height / fy)  # shorter side in normalised image units
    return 2.0 * radius / (fill * side_f)


def sample_camera_pose(
    rng: np.random.Generator,
    target: np.ndarray = (0.0, 0.0, 0.0),
    azimuth_deg: tuple[float, float] = (0.0, 360.0),
    elevation_deg: tuple[float, float] = (10.0, 80.0),
    distance: tuple[float, float] = (0.4, 1.0),
    roll_deg: tuple[float, float] = (-10.0, 10.0),
    target_jitter: float = 0.0,
) -> np.ndarray:
    """Random ``T_world_cam`` on the hemisphere above ``target``.

    Args:
        rng: random generator.
        target: ``[3]`` point the camera looks at (m, world).
        azimuth_deg, elevation_deg, roll_deg: uniform ranges (deg).
        distance: uniform range of the eye-target distance (m).
        target_jitter: std-dev (m) of a Gaussian offset of the look-at point, so the scene is not
            always centred in the image.
    """
    tgt = np.asarray(target, dtype=np.float64) + rng.normal(scale=target_jitter, size=3)
    return camera_on_sphere(
        rng.uniform(*azimuth_deg),
        rng.uniform(*elevation_deg),
        rng.uniform(*distance),
        tgt,
        rng.uniform(*roll_deg),
    )
