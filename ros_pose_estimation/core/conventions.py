"""Every convention of the project, in one place, pinned by ``test/core/test_conventions.py``.

Poses and frames
    * ``R_m2c, t_m2c`` (as in BOP): maps a point from the object's **model** (canonical) frame to
      the **camera** frame, ``x_c = R_m2c @ x_m + t_m2c``. Generally ``T_a_b`` maps frame-b
      coordinates into frame a (``T_camera_model``). Translations in **metres** everywhere
      inside the project.
    * Camera frame = ROS **optical** frame (REP 103/105, same as OpenCV and ``CameraInfo``):
      x right, y down, z forward (out of the lens). Body frames (``camera_link``, robots, object
      canonical frames) are x forward, y left, z up. :data:`R_LINK_FROM_OPTICAL` is the constant
      rotation between them (the usual static ``camera_link -> camera_optical_frame`` TF).
    * Object canonical frames: ``shared/notes/categories.md``, in code
      :mod:`ros_pose_estimation.core.categories` (origin at the bounding-box centre, +z up, +x
      towards the category's front, and each category's symmetry group).

Rotations
    * Quaternions are **(x, y, z, w)**, scalar last, as in ROS ``geometry_msgs/Quaternion``,
      ``scipy.spatial.transform.Rotation.as_quat()`` and ``roma``. pytorch3d, kornia,
      transforms3d and Eigen's constructor are (w, x, y, z): convert at that boundary only.
      Quaternions the project produces have ``w >= 0``.
    * Rotation matrices act on column vectors (``R @ x``); batches are ``[... x 3 x 3]``.
    * 6D rotation representation = the first two **columns** of R (Zhou et al. 2019); pytorch3d
      uses the first two rows.
    * Viewpoint angles (azimuth, elevation, in-plane theta), in radians: see
      :mod:`ros_pose_estimation.core.rotations`.

Pixels and images
    * Integer pixel coordinates are pixel **centres** (OpenCV, ``CameraInfo``): pixel ``(u, v)``
      covers ``[u - 0.5, u + 0.5] x [v - 0.5, v + 0.5]``; the image spans ``[-0.5, W - 0.5]``.
      ``u`` is the column (x, right), ``v`` the row (y, down). Boxes are ``[x0, y0, x1, y1]``
      in these continuous coordinates; detectors that put the image's left edge at 0
      (torchvision, COCO, YOLO) are 0.5 px off: use :func:`edge_box_to_centre_box`.
    * Images are numpy ``[H x W x C]`` (``[H x W]`` for mono and depth); torch images are
      ``[B x C x H x W]`` float.
    * Colour encodings: :data:`COLOR_ENCODINGS`; depth encodings: :data:`DEPTH_ENCODINGS`.
    * Cameras are assumed **rectified** (use ``image_rect*`` topics and ``CameraInfo.P``).

Depth
    * ``16UC1`` (and ``mono16``): uint16 **millimetres**, 0 = invalid.
    * ``32FC1``: float32 **metres**; 0, negative, NaN and +-inf are invalid (REP 118).
    * Inside the project depth is float32 metres with **0 for every invalid pixel**, so
      ``depth > 0`` is the validity mask (:func:`depth_to_metres`).

BOP datasets
    * Model and depth units are **millimetres**; ``cam_R_m2c`` is a row-major 3x3 list,
      ``cam_t_m2c`` in mm, ``cam_K`` row-major; depth PNG * ``depth_scale`` = mm.
      :func:`bop_pose_to_metres` / :func:`pose_to_bop` convert.
"""

from __future__ import annotations

import numpy as np

from .errors import EncodingError, InputError, check_shape

#: Quaternion component order used everywhere in the project.
QUATERNION_ORDER = "xyzw"

#: Continuous coordinate of a pixel's centre relative to its integer index.
PIXEL_CENTRE_OFFSET = 0.0

#: Rotation taking optical-frame coordinates (x right, y down, z forward) to body-frame
#: coordinates (x forward, y left, z up): ``x_link = R_LINK_FROM_OPTICAL @ x_optical``.
R_LINK_FROM_OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
R_OPTICAL_FROM_LINK = R_LINK_FROM_OPTICAL.T.copy()
#: The same rotation as a quaternion (x, y, z, w): the static TF from ``camera_link`` (parent)
#: to ``camera_optical_frame`` (child), i.e. roll -90 deg, yaw -90 deg.
Q_LINK_FROM_OPTICAL = np.array([-0.5, 0.5, -0.5, 0.5])

#: Supported colour encodings -> number of channels.
COLOR_ENCODINGS: dict[str, int] = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}

#: Supported depth encodings -> metres per stored unit.
DEPTH_ENCODINGS: dict[str, float] = {"16UC1": 1e-3, "mono16": 1e-3, "32FC1": 1.0}

#: Largest depth a ``16UC1`` image can hold (m); larger values become invalid (0).
MAX_DEPTH_16UC1_M = 65.535

#: BOP stores lengths in millimetres.
BOP_LENGTH_UNIT_M = 1e-3


def check_depth_encoding(encoding: str) -> str:
    """Return ``encoding`` if it is a supported depth encoding, else raise EncodingError."""
    if encoding not in DEPTH_ENCODINGS:
        raise EncodingError(
            f"unsupported depth encoding {encoding!r}; supported: {', '.join(DEPTH_ENCODINGS)}"
        )
    return encoding


def depth_to_metres(array: np.ndarray, encoding: str) -> np.ndarray:
    """Convert a depth image to the project's depth: float32 metres, 0 where invalid.

    Args:
        array: ``[H x W]`` uint16 (``16UC1``/``mono16``, mm) or float32 (``32FC1``, m).
        encoding: the ``sensor_msgs/Image`` encoding.

    Returns:
        ``[H x W]`` float32 metres; invalid pixels (0, negative, NaN, inf) are 0.
    """
    check_depth_encoding(encoding)
    want = np.uint16 if DEPTH_ENCODINGS[encoding] != 1.0 else np.float32
    check_shape(f"{encoding} depth", array, ("H", "W"), dtype=want)
    metres = array.astype(np.float32) * np.float32(DEPTH_ENCODINGS[encoding])
    invalid = ~np.isfinite(metres) | (metres <= 0)
    metres[invalid] = 0.0
    return metres


def metres_to_depth(array: np.ndarray, encoding: str) -> np.ndarray:
    """Convert depth in metres to a ROS depth image of ``encoding``.

    Args:
        array: ``[H x W]`` float metres; 0, negative, NaN and inf are invalid.
        encoding: ``16UC1``/``mono16`` (rounded to whole mm, invalid and > 65.535 m -> 0) or
            ``32FC1`` (invalid -> NaN, as REP 118 asks).

    Returns:
        ``[H x W]`` uint16 or float32 array.
    """
    check_depth_encoding(encoding)
    check_shape("depth (m)", array, ("H", "W"))
    metres = np.asarray(array, dtype=np.float64)
    invalid = ~np.isfinite(metres) | (metres <= 0)
    if encoding == "32FC1":
        out = metres.astype(np.float32)
        out[invalid] = np.nan
        return out
    mm = np.rint(np.where(invalid, 0.0, metres) / DEPTH_ENCODINGS[encoding])
    mm[mm > np.iinfo(np.uint16).max] = 0
    return mm.astype(np.uint16)


def color_to_rgb8(array: np.ndarray, encoding: str) -> np.ndarray:
    """Convert a colour image of a supported encoding to ``[H x W x 3]`` uint8 RGB."""
    if encoding not in COLOR_ENCODINGS:
        raise EncodingError(
            f"unsupported colour encoding {encoding!r}; supported: {', '.join(COLOR_ENCODINGS)}"
        )
    channels = COLOR_ENCODINGS[encoding]
    if channels == 1:
        check_shape(f"{encoding} image", array, ("H", "W"), dtype=np.uint8)
        return np.repeat(array[:, :, None], 3, axis=2)
    check_shape(f"{encoding} image", array, ("H", "W", channels), dtype=np.uint8)
    rgb = array[:, :, :3]
    if encoding.startswith("bgr"):
        rgb = rgb[:, :, ::-1]
    return np.ascontiguousarray(rgb)


def edge_box_to_centre_box(box_xyxy: np.ndarray) -> np.ndarray:
    """``[... x 4]`` boxes with the image's left/top edge at 0 -> project convention."""
    return np.asarray(box_xyxy, dtype=np.float64) - 0.5


def centre_box_to_edge_box(box_xyxy: np.ndarray) -> np.ndarray:
    """Inverse of :func:`edge_box_to_centre_box`."""
    return np.asarray(box_xyxy, dtype=np.float64) + 0.5


def bop_pose_to_metres(cam_r_m2c, cam_t_m2c) -> tuple[np.ndarray, np.ndarray]:
    """BOP ``cam_R_m2c`` (9 floats, row-major) and ``cam_t_m2c`` (mm) -> ``R [3x3], t [3] (m)``."""
    rot = np.asarray(cam_r_m2c, dtype=np.float64)
    if rot.size != 9:
        raise InputError(f"cam_R_m2c: expected 9 values, got {rot.size}")
    trans = np.asarray(cam_t_m2c, dtype=np.float64).reshape(-1)
    if trans.size != 3:
        raise InputError(f"cam_t_m2c: expected 3 values, got {trans.size}")
    return rot.reshape(3, 3), trans * BOP_LENGTH_UNIT_M


def pose_to_bop(rotation: np.ndarray, translation_m: np.ndarray) -> dict[str, list[float]]:
    """``R [3 x 3]``, ``t [3]`` (m) -> ``{"cam_R_m2c": 9 floats, "cam_t_m2c": 3 floats (mm)}``."""
    check_shape("R", np.asarray(rotation), (3, 3))
    check_shape("t", np.asarray(translation_m), (3,))
    return {
        "cam_R_m2c": [float(v) for v in np.asarray(rotation, dtype=np.float64).reshape(-1)],
        "cam_t_m2c": [float(v) / BOP_LENGTH_UNIT_M for v in np.asarray(translation_m)],
    }
