"""Tracked poses -> ``visualization_msgs/MarkerArray`` for RViz (the node's ``~/markers``).

The array is, in order:

1. one ``DELETEALL`` marker (empty ``ns``: every namespace), so objects no longer seen vanish
   with the next frame even when ``lifetime`` is 0 (forever);
2. per tracked pose, in the pose's order:

   * the object, ``ns = <category>``, ``id = track_id``: a ``TRIANGLE_LIST`` of the category
     mesh (decimated to at most ``max_triangles`` by :func:`ros_pose_estimation.core.decimate
     .decimate`) at the object pose. Its points are the mesh divided by its extents (a
     unit-size object, cached per mesh) and ``scale`` is the estimated ``size``: RViz 2
     scales a triangle list's scene node by ``scale`` (rviz_default_plugins
     ``TriangleListMarker``), so the drawn extents are ``size`` and the point list is built
     once per mesh, not per frame. A ``CUBE`` of ``size`` when no mesh is given for the
     category. Colour per category (:mod:`ros_pose_estimation.viz.colors`), alpha
     ``min_alpha + (1 - min_alpha) * score``;
   * the label, ``ns = <category>_label``, ``id = track_id``: ``TEXT_VIEW_FACING``
     ``"<category> #<id> <score:.2f>"``, white, ``text_height_m`` high, placed above the object
     in the image (the optical frame's -y) by half the size's diagonal plus one text height.

Every marker has the image's header and ``lifetime = lifetime_s``. Poses without a track
(``track_id < 1``) are not drawn (no stable id).
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ros_pose_estimation.conversions.poses import duration_msg, pose_from_Rt, require_frame_id
from ros_pose_estimation.core.decimate import decimate
from ros_pose_estimation.core.errors import ConfigError, check_finite, check_shape
from ros_pose_estimation.core.mesh import TriMesh
from ros_pose_estimation.viz.colors import class_color

#: id(mesh), max_triangles -> (weak reference to the mesh, ``[3F x 3]`` corners of the
#: decimated mesh's triangles divided by the mesh's extents (a unit-size object), the same
#: corners as ``geometry_msgs/Point`` messages).
_UNIT_TRIANGLES: dict[tuple[int, int], tuple[weakref.ref, np.ndarray, list]] = {}


def _unit_entry(mesh: TriMesh, max_triangles: int) -> tuple[weakref.ref, np.ndarray, list]:
    key = (id(mesh), int(max_triangles))
    hit = _UNIT_TRIANGLES.get(key)
    if hit is not None and hit[0]() is mesh:
        return hit
    small = decimate(mesh, max_triangles)
    extents = np.where(mesh.extents > 0, mesh.extents, 1.0)
    corners = (small.vertices[small.faces].reshape(-1, 3) - mesh.center) / extents
    if len(_UNIT_TRIANGLES) > 64:
        _UNIT_TRIANGLES.clear()
    entry = (weakref.ref(mesh), corners, None)
    _UNIT_TRIANGLES[key] = entry
    return entry


def unit_triangles(mesh: TriMesh, max_triangles: int) -> np.ndarray:
    """``[3F x 3]`` triangle corners of ``mesh`` decimated to ``max_triangles``, centred on its
    bounding box and divided by its extents (an axis of zero extent is left unscaled).
    Cached per mesh object."""
    return _unit_entry(mesh, max_triangles)[1]


def _unit_points(mesh: TriMesh, max_triangles: int) -> list:
    """:func:`unit_triangles` as ``geometry_msgs/Point`` messages (built once per mesh)."""
    from geometry_msgs.msg import Point

    ref, corners, points = _unit_entry(mesh, max_triangles)
    if points is None:
        points = [_point(Point, *xyz) for xyz in corners.tolist()]
        _UNIT_TRIANGLES[(id(mesh), int(max_triangles))] = (ref, corners, points)
    return points


def _point(point_cls, x: float, y: float, z: float):
    point = point_cls()  # attribute-wise: about 2x faster than keyword construction
    point.x, point.y, point.z = x, y, z
    return point


def _color(rgb, alpha: float):
    from std_msgs.msg import ColorRGBA

    return ColorRGBA(r=float(rgb[0]), g=float(rgb[1]), b=float(rgb[2]), a=float(alpha))


def marker_array(
    header,
    poses: Sequence[Any],
    *,
    lifetime_s: float,
    meshes: Mapping[str, TriMesh] | None = None,
    max_triangles: int = 300,
    text_height_m: float = 0.03,
    min_alpha: float = 0.25,
):
    """Markers of one image's tracked poses (layout: module docstring).

    Args:
        header: the source image's ``std_msgs/Header``.
        poses: :class:`~ros_pose_estimation.pipeline.tracks.TrackedPose` (or alike).
        lifetime_s: marker lifetime (s, >= 0; 0 = until deleted, here by the next DELETEALL).
        meshes: category -> template mesh (canonical frame, m); None or a missing category:
            a cube of the estimated size.
        max_triangles: triangle budget per object mesh (>= 1).
        text_height_m: height of the label's capital letters (m, > 0).
        min_alpha: opacity of a score-0 object, in [0, 1].

    Raises:
        InputError: empty ``header.frame_id``; wrong shapes / non-finite poses; bad lifetime.
        ConfigError: ``max_triangles``, ``text_height_m`` or ``min_alpha`` out of range.
    """
    from visualization_msgs.msg import Marker, MarkerArray

    require_frame_id(header, "~/markers")
    if not (math.isfinite(text_height_m) and text_height_m > 0):
        raise ConfigError(f"text_height_m: expected a height > 0 (m), got {text_height_m}")
    if not 0.0 <= min_alpha <= 1.0:
        raise ConfigError(f"min_alpha: expected a value in [0, 1], got {min_alpha}")
    lifetime = duration_msg(lifetime_s)
    meshes = meshes or {}

    clear = Marker(header=header, action=Marker.DELETEALL)
    markers = [clear]
    for pose in poses:
        if int(pose.track_id) < 1:
            continue
        size = np.asarray(pose.size, dtype=np.float64)
        check_shape("size", size, (3,))
        check_finite("size", size)
        obj_pose = pose_from_Rt(pose.R, pose.t)
        score = float(np.clip(pose.score, 0.0, 1.0))
        obj = Marker(header=header, ns=str(pose.category), id=int(pose.track_id))
        obj.action, obj.pose, obj.lifetime = Marker.ADD, obj_pose, lifetime
        obj.color = _color(class_color(str(pose.category)), min_alpha + (1 - min_alpha) * score)
        mesh = meshes.get(str(pose.category))
        obj.scale.x, obj.scale.y, obj.scale.z = (max(float(v), 1e-4) for v in size)
        if mesh is None:
            obj.type = Marker.CUBE
        else:
            obj.type = Marker.TRIANGLE_LIST
            obj.points = list(_unit_points(mesh, max_triangles))  # shared Point objects
        label = Marker(header=header, ns=f"{pose.category}_label", id=int(pose.track_id))
        label.type, label.action, label.lifetime = Marker.TEXT_VIEW_FACING, Marker.ADD, lifetime
        label.text = f"{pose.category} #{int(pose.track_id)} {float(pose.score):.2f}"
        label.pose.position.x = obj_pose.position.x
        label.pose.position.y = obj_pose.position.y - (0.5 * np.linalg.norm(size) + text_height_m)
        label.pose.position.z = obj_pose.position.z
        label.pose.orientation.w = 1.0
        label.scale.z = float(text_height_m)
        label.color = _color((1.0, 1.0, 1.0), 1.0)
        markers += [obj, label]
    return MarkerArray(markers=markers)
