"""draw_overlay: axes where they project, mesh silhouette, box edges, input left unchanged."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest

from ros_pose_estimation.core.camera import Intrinsics
from ros_pose_estimation.core.errors import ConfigError, InputError, IntrinsicsError
from ros_pose_estimation.core.mesh import TriMesh
from ros_pose_estimation.core.rotations import viewpoint_to_matrix
from ros_pose_estimation.viz.colors import class_color_u8
from ros_pose_estimation.viz.overlay import draw_overlay

INTR = Intrinsics(400.0, 400.0, 159.5, 119.5, 320, 240)


@dataclass
class Pose:
    category: str
    t: np.ndarray
    R: np.ndarray = field(default_factory=lambda: np.eye(3))
    size: np.ndarray = field(default_factory=lambda: np.array([0.2, 0.2, 0.2]))
    score: float = 0.9
    track_id: int = 1


def _cube_mesh(half: float = 0.1) -> TriMesh:
    corners = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)]) * half
    faces = [
        [0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
        [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3],
    ]  # fmt: skip
    return TriMesh(corners, np.array(faces))


def _project(point):
    return INTR.project(np.asarray(point, dtype=np.float64)[None])[0]


def _pixel(image, uv):
    return image[int(round(uv[1])), int(round(uv[0]))].astype(int)


def test_axes_are_drawn_where_they_project_and_input_is_unchanged():
    rgb = np.zeros((240, 320, 3), np.uint8)
    before = rgb.copy()
    rot = viewpoint_to_matrix(0.7, 0.5, 0.2)  # every axis visible, none along the view
    pose = Pose("mug", np.array([0.0, 0.0, 1.0]), R=rot, track_id=7)
    out = draw_overlay(rgb, INTR, [pose])
    np.testing.assert_array_equal(rgb, before)
    assert out is not rgb and out.dtype == np.uint8 and out.shape == rgb.shape
    length = 0.1  # half the largest extent
    for axis, channel in ((0, 0), (1, 1), (2, 2)):  # x red, y green, z blue
        end = pose.t + length * rot[:, axis]
        mid = 0.5 * (_project(pose.t) + _project(end))
        # sample 60-90 % of the way to avoid the shared centre
        for frac in (0.6, 0.75, 0.9):
            uv = _project(pose.t) + frac * (_project(end) - _project(pose.t))
            px = _pixel(out, uv)
            assert px[channel] > 150 and px[channel] >= px.max(), (axis, frac, px)
        assert _pixel(out, mid).any()
    # far from the object the image is untouched
    assert not out[230:, :20].any()


def test_mesh_silhouette_outline_and_label():
    rgb = np.full((240, 320, 3), 40, np.uint8)
    pose = Pose("can", np.array([0.0, 0.0, 1.0]), score=0.5, track_id=3)
    out = draw_overlay(rgb, INTR, [pose], meshes={"can": _cube_mesh()})
    color = np.array(class_color_u8("can"))
    # the cube's front face spans u, v in 159.5 +- 400 * 0.1 / 0.9 (the near face at z = 0.9)
    half = 400 * 0.1 / 0.9
    edge = np.array([159.5 - half, 119.5])  # middle of the left silhouette edge
    near_edge = out[int(edge[1]) - 3 : int(edge[1]) + 4, int(edge[0]) - 2 : int(edge[0]) + 3]
    dist = np.abs(near_edge.astype(int) - color).sum(-1)
    assert dist.min() < 60, dist.min()
    # inside the silhouette, away from axes, nothing is filled
    inside = out[int(119.5 + half / 2), int(159.5 - half / 2)]
    np.testing.assert_array_equal(inside, [40, 40, 40])
    # the label's dark box sits above the outline
    top = int(119.5 - half)
    assert (out[max(top - 20, 0) : top, :] == 0).all(-1).any()


def test_box_edges_without_mesh():
    rgb = np.zeros((240, 320, 3), np.uint8)
    pose = Pose("box", np.array([0.0, 0.0, 1.0]))
    out = draw_overlay(rgb, INTR, [pose])
    corner = _project([0.1, 0.1, 0.9])  # front-face corner of the box
    patch = out[int(corner[1]) - 2 : int(corner[1]) + 3, int(corner[0]) - 2 : int(corner[0]) + 3]
    assert patch.any()


def test_poses_behind_the_camera_are_skipped():
    rgb = np.full((240, 320, 3), 7, np.uint8)
    out = draw_overlay(rgb, INTR, [Pose("mug", np.array([0.0, 0.0, -1.0]))])
    np.testing.assert_array_equal(out, rgb)


def test_bad_inputs():
    rgb = np.zeros((240, 320, 3), np.uint8)
    with pytest.raises(InputError, match="rgb"):
        draw_overlay(rgb.astype(np.float32), INTR, [])
    with pytest.raises(IntrinsicsError, match="expected 240 x 320"):
        draw_overlay(np.zeros((10, 10, 3), np.uint8), INTR, [])
    with pytest.raises(InputError, match=r"pose\.t"):
        draw_overlay(rgb, INTR, [Pose("mug", np.array([0.0, 1.0]))])
    with pytest.raises(ConfigError, match="thickness"):
        draw_overlay(rgb, INTR, [], thickness=0)
