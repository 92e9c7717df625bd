"""Smooth camera trajectories of a robot recording, with the TF tree kinematics would give.

Three camera set-ups are modelled, each as a chain of frames so that the recorded ``/tf`` looks
like a real robot's:

* ``arm_sweep``: a fixed arm base; the end effector (``tool0``) sweeps the wrist camera along an
  arc around the table, always looking at the scene centre.
  ``world -> base_link`` (static) ``-> tool0`` (moving) ``-> camera_link`` (static)
  ``-> camera_color_optical_frame`` (static).
* ``base_pass``: a mobile base drives past the table on a straight line; the camera is mounted
  on a mast looking sideways at the table.
  ``world -> base_link`` (moving) ``-> camera_link`` (static) ``-> camera_color_optical_frame``.
* ``static``: the arm of ``arm_sweep`` holding the camera still (the same chain; ``tool0``
  still published as moving, constant).

All poses are ``[4 x 4]`` homogeneous transforms ``T_parent_child`` in metres; the camera's
optical frame follows REP 103 (x right, y down, z forward).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from offline_training.synthetic.views import look_at

#: Rotation from a body frame (x forward, y left, z up) to its optical frame (REP 103).
R_BODY_OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])

OPTICAL_FRAME = "camera_color_optical_frame"


@dataclass
class FrameLink:
    """One edge of the TF tree. ``transforms`` is ``[T x 4 x 4]`` (moving) or ``[4 x 4]``."""

    parent: str
    child: str
    transforms: np.ndarray
    static: bool


@dataclass
class Trajectory:
    """A camera motion sampled at ``times``.

    Attributes:
        times: ``[T]`` seconds from the start of the recording.
        links: TF edges from ``world`` down to the optical frame.
        kind: ``"arm_sweep"``, ``"base_pass"`` or ``"static"``.
    """

    times: np.ndarray
    links: list[FrameLink] = field(default_factory=list)
    kind: str = ""

    def camera_poses(self) -> np.ndarray:
        """``[T x 4 x 4]`` pose of the optical frame in ``world`` (``T_world_cam``)."""
        total = np.broadcast_to(np.eye(4), (len(self.times), 4, 4)).copy()
        for link in self.links:
            total = total @ link.transforms
        return total

    def link_at(self, link: FrameLink, t: float) -> np.ndarray:
        """``[4 x 4]`` transform of ``link`` at time ``t`` (s), interpolated between samples.

        Rotations are interpolated with SLERP, translations linearly, so ``/tf`` can be written
        at a different rate from the images.
        """
        if link.static:
            return link.transforms
        return interpolate_transforms(self.times, link.transforms, t)

    def camera_pose_at(self, t: float) -> np.ndarray:
        """``[4 x 4]`` pose of the optical frame in ``world`` at time ``t`` (s)."""
        total = np.eye(4)
        for link in self.links:
            total = total @ self.link_at(link, t)
        return total


def interpolate_transforms(times: np.ndarray, transforms: np.ndarray, t: float) -> np.ndarray:
    """Interpolate ``[T x 4 x 4]`` rigid transforms sampled at ``[T]`` times at time ``t``."""
    t = float(np.clip(t, times[0], times[-1]))
    i = int(np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(times) - 2))
    w = (t - times[i]) / max(times[i + 1] - times[i], 1e-12)
    r0, r1 = transforms[i, :3, :3], transforms[i + 1, :3, :3]
    rel = r0.T @ r1
    angle = np.arccos(np.clip((np.trace(rel) - 1.0) / 2.0, -1.0, 1.0))
    out = np.eye(4)
    if angle < 1e-9:
        out[:3, :3] = r0
    else:
        axis = np.array([rel[2, 1] - rel[1, 2], rel[0, 2] - rel[2, 0], rel[1, 0] - rel[0, 1]])
        axis = axis / (2.0 * np.sin(angle))
        k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
        a = w * angle
        out[:3, :3] = r0 @ (np.eye(3) + np.sin(a) * k + (1 - np.cos(a)) * (k @ k))
    out[:3, 3] = (1 - w) * transforms[i, :3, 3] + w * transforms[i + 1, :3, 3]
    return out


def _transform(rot: np.ndarray, trans: np.ndarray) -> np.ndarray:
    t = np.eye(4)
    t[:3, :3] = rot
    t[:3, 3] = trans
    return t


def _look_at_body(eye: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``[3 x 3]`` rotation of a body frame (x forward) at ``eye`` looking at ``target``.

    The optical camera of :func:`.views.look_at` rotated back into its body frame (REP 103).
    """
    return look_at(eye, target)[:3, :3] @ R_BODY_OPTICAL.T


def _ease(s: np.ndarray) -> np.ndarray:
    """Smooth 0 -> 1 with zero velocity at both ends (cosine ease-in-out)."""
    return 0.5 - 0.5 * np.cos(np.pi * s)


def _times(duration: float, rate: float) -> np.ndarray:
    if duration <= 0 or rate <= 0:
        raise ValueError(f"duration and rate must be positive, got {duration}, {rate}")
    return np.arange(int(round(duration * rate))) / rate


def _camera_mount() -> tuple[FrameLink, FrameLink]:
    """camera_link 5 cm in front of its parent, and the optical frame on it (static)."""
    mount = FrameLink("tool0", "camera_link", _transform(np.eye(3), [0.05, 0.0, 0.0]), True)
    optical = FrameLink(
        "camera_link", OPTICAL_FRAME, _transform(R_BODY_OPTICAL, np.zeros(3)), True
    )
    return mount, optical


def _arm_base(center: np.ndarray, radius: float) -> tuple[np.ndarray, FrameLink]:
    """The arm's base (``[3]`` world position, m, and its static link): 25 cm behind the
    camera's ``radius`` from ``center`` along -x, on the floor."""
    base_pos = np.asarray(center, float) + np.array([-radius - 0.25, 0.0, -center[2]])
    return base_pos, FrameLink("world", "base_link", _transform(np.eye(3), base_pos), True)


def _tool_pose(center: np.ndarray, radius: float, a: float, e: float, target: np.ndarray,
               base_pos: np.ndarray) -> np.ndarray:  # fmt: skip
    """``[4 x 4]`` tool0 in base_link for a wrist camera ``radius`` from ``center`` at azimuth
    ``a`` and elevation ``e`` (rad), looking at ``target``; tool0 sits 5 cm behind the camera
    along the viewing direction."""
    eye_world = np.asarray(center) + radius * np.array(
        [-np.cos(e) * np.cos(a), -np.cos(e) * np.sin(a), np.sin(e)]
    )
    rot = _look_at_body(eye_world, target)
    tool_world = eye_world - rot[:, 0] * 0.05
    return _transform(rot, tool_world - base_pos)


def arm_sweep(
    center: np.ndarray,
    duration: float = 10.0,
    rate: float = 15.0,
    radius: float = 0.6,
    elevation_deg: tuple[float, float] = (35.0, 50.0),
    azimuth_deg: tuple[float, float] = (-60.0, 60.0),
    rng: np.random.Generator | None = None,
) -> Trajectory:
    """Wrist camera sweeping an arc around ``center`` (``[3]`` world point, m).

    The camera moves from ``azimuth_deg[0]`` to ``azimuth_deg[1]`` (about world z, measured from
    -x) with an eased speed profile while its elevation oscillates once between the two bounds;
    a small random look-at jitter makes every recording different.
    """
    rng = np.random.default_rng() if rng is None else rng
    times = _times(duration, rate)
    s = times / max(times[-1], 1e-9)
    az = np.deg2rad(azimuth_deg[0] + (azimuth_deg[1] - azimuth_deg[0]) * _ease(s))
    el_mid, el_amp = np.mean(elevation_deg), 0.5 * np.ptp(elevation_deg)
    el = np.deg2rad(el_mid + el_amp * np.sin(2 * np.pi * s + rng.uniform(0, 2 * np.pi)))
    jitter_phase = rng.uniform(0, 2 * np.pi, size=3)
    base_pos, base = _arm_base(center, radius)
    ee = np.zeros((len(times), 4, 4))
    for i, (a, e) in enumerate(zip(az, el, strict=True)):
        target = np.asarray(center) + 0.02 * np.sin(2 * np.pi * s[i] + jitter_phase)
        ee[i] = _tool_pose(center, radius, a, e, target, base_pos)
    moving = FrameLink("base_link", "tool0", ee, False)
    mount, optical = _camera_mount()
    return Trajectory(times, [base, moving, mount, optical], "arm_sweep")


def base_pass(
    center: np.ndarray,
    duration: float = 10.0,
    rate: float = 15.0,
    distance: float = 0.75,
    length: float = 0.8,
    mast_height: float = 0.85,
    rng: np.random.Generator | None = None,
) -> Trajectory:
    """Mobile base driving along world +x past a table at ``center`` (``[3]`` m).

    The base stays ``distance`` metres to the side (-y) of the table; its camera, on a mast of
    ``mast_height`` metres, is turned 90 deg to the left and tilted down at the table centre.
    The heading wobbles slightly, as odometry of a real base does.
    """
    rng = np.random.default_rng() if rng is None else rng
    times = _times(duration, rate)
    s = _ease(times / max(times[-1], 1e-9))
    center = np.asarray(center, float)
    x = center[0] - length / 2 + length * s
    yaw = np.deg2rad(3.0) * np.sin(2 * np.pi * times / duration + rng.uniform(0, 2 * np.pi))
    base_t = np.zeros((len(times), 4, 4))
    for i in range(len(times)):
        c, si = np.cos(yaw[i]), np.sin(yaw[i])
        rot = np.array([[c, -si, 0.0], [si, c, 0.0], [0.0, 0.0, 1.0]])
        base_t[i] = _transform(rot, [x[i], center[1] - distance, 0.0])
    base = FrameLink("world", "base_link", base_t, False)
    # mast camera: looking left (+y of the base) and down at the table centre height
    tilt = np.arctan2(mast_height - center[2], distance)
    look = _look_at_body(np.zeros(3), np.array([0.0, np.cos(tilt), -np.sin(tilt)]))
    mast = FrameLink("base_link", "camera_link", _transform(look, [0.0, 0.0, mast_height]), True)
    optical = FrameLink(
        "camera_link", OPTICAL_FRAME, _transform(R_BODY_OPTICAL, np.zeros(3)), True
    )
    return Trajectory(times, [base, mast, optical], "base_pass")


def static(
    center: np.ndarray,
    duration: float = 10.0,
    rate: float = 15.0,
    radius: float = 0.6,
    elevation_deg: tuple[float, float] = (35.0, 50.0),
    azimuth_deg: tuple[float, float] = (-60.0, 60.0),
    rng: np.random.Generator | None = None,
) -> Trajectory:
    """An arm holding its wrist camera still: ``arm_sweep``'s chain and distance, one azimuth
    and elevation drawn within its bounds, looking at ``center`` for the whole recording (what
    is left to see is the estimator's frame-to-frame noise)."""
    rng = np.random.default_rng() if rng is None else rng
    times = _times(duration, rate)
    a = np.deg2rad(rng.uniform(*azimuth_deg))
    e = np.deg2rad(rng.uniform(*elevation_deg))
    base_pos, base = _arm_base(center, radius)
    tool = _tool_pose(center, radius, a, e, np.asarray(center, float), base_pos)
    held = FrameLink("base_link", "tool0", np.repeat(tool[None], len(times), axis=0), False)
    mount, optical = _camera_mount()
    return Trajectory(times, [base, held, mount, optical], "static")


TRAJECTORIES = {"arm_sweep": arm_sweep, "base_pass": base_pass, "static": static}
