"""Mug handle visibility (NOCS protocol): which faces are the handle, when it is seen."""

import cv2
import numpy as np
import pytest
import torch

from offline_training.handle_visibility import (
    MugHandles,
    handle_faces,
    handle_pixels,
    handle_visible,
)
from offline_training.synthetic.bop_reader import BopObject
from ros_pose_estimation.core.mesh import TriMesh
from ros_pose_estimation.core.rotations import look_at
from ros_pose_estimation.render.rasterizer import rasterize
from ros_pose_estimation.shapes import make_instance, make_parts

K = np.array([[300.0, 0.0, 159.5], [0.0, 300.0, 119.5], [0.0, 0.0, 1.0]])
SIZE = (240, 320)


def view_from(direction, distance=0.5):
    """``(R, t)`` model -> camera of a camera at ``distance * direction`` (model frame) looking
    at the origin, +z up."""
    eye = distance * np.asarray(direction, float) / np.linalg.norm(direction)
    R, t = look_at(eye)
    return np.asarray(R), np.asarray(t)


def mask_without_handle(mug, R, t, faces):
    """``[H x W]`` the mug's visible mask when something stands in front of its handle: its
    rasterised silhouette without the handle faces' pixels."""
    f32 = torch.float32
    frag = rasterize(torch.as_tensor(mug.vertices, dtype=f32), torch.as_tensor(mug.faces),
                     torch.as_tensor(K, dtype=f32), torch.as_tensor(R[None], dtype=f32),
                     torch.as_tensor(t[None], dtype=f32), SIZE)  # fmt: skip
    face = frag.pix_to_face[0].numpy()
    mask = face >= 0
    mask[mask] = ~faces[face[mask]]
    return mask


@pytest.mark.parametrize("seed", range(6))
def test_handle_faces_are_the_handle_part(seed):
    rng = np.random.default_rng(seed)
    parts = make_parts("mug", rng)
    mesh = TriMesh.concatenate([parts["body"], parts["handle"]])
    is_handle = np.arange(len(mesh.faces)) >= len(parts["body"].faces)
    found = handle_faces(mesh)
    assert found.any()
    assert not found[~is_handle].any()  # no body face is taken for the handle
    assert found[is_handle].mean() > 0.3  # most of what sticks out is found


def test_a_mesh_without_handle_has_no_handle_faces():
    can = make_instance("can")
    assert not handle_faces(can).any()
    R, t = view_from([1.0, 0.0, 0.3])
    assert handle_visible(can, R, t, K, SIZE) is None


def test_handle_seen_from_its_side_and_hidden_behind_the_body():
    mug = make_instance("mug")
    R, t = view_from([0.2, 1.0, 0.2])  # from the side, handle in profile
    handle, total = handle_pixels(mug, R, t, K, SIZE)
    assert total > 500 and handle > 0.05 * total
    assert handle_visible(mug, R, t, K, SIZE) is True
    R, t = view_from([-1.0, 0.0, 0.0])  # straight from the back: the body hides the handle
    handle, total = handle_pixels(mug, R, t, K, SIZE)
    assert total > 500 and handle == 0
    assert handle_visible(mug, R, t, K, SIZE) is False


def test_an_occluding_object_hides_the_handle_through_the_visible_mask():
    mug = make_instance("mug")
    R, t = view_from([0.2, 1.0, 0.2])
    faces = handle_faces(mug)
    handle, total = handle_pixels(mug, R, t, K, SIZE, faces=faces)
    mask = mask_without_handle(mug, R, t, faces)
    h2, t2 = handle_pixels(mug, R, t, K, SIZE, mask, faces)
    assert h2 == 0 and t2 == total - handle
    assert handle_visible(mug, R, t, K, SIZE, mask) is False


def _Obj(category, obj_id, R, t, mask_visib_path=None):
    return BopObject(obj_id, category, R, t, mask_visib_path=mask_visib_path)


class _Sample:
    K = K
    rgb = np.zeros((*SIZE, 3), np.uint8)


class _Dataset:
    def __init__(self):
        self.loads = 0

    def load_model(self, obj_id):
        self.loads += 1
        if obj_id == 9:
            raise OSError("obj_000009.ply: no such file")
        return make_instance("mug" if obj_id == 1 else "can")


def test_mug_handles_caches_meshes_and_says_why_it_has_no_verdict():
    data = _Dataset()
    handles = MugHandles(data)
    R, t = view_from([0.2, 1.0, 0.2])
    assert handles(_Sample(), _Obj("mug", 1, R, t)) is True
    assert handles(_Sample(), _Obj("mug", 1, *view_from([-1.0, 0.0, 0.0]))) is False
    assert data.loads == 1
    assert handles(_Sample(), _Obj("bottle", 3, R, t)) is None  # not a mug: not loaded
    assert handles(_Sample(), _Obj("mug", 2, R, t)) is None  # a "mug" without a handle
    assert handles(_Sample(), _Obj("mug", 9, R, t)) is None
    assert "no handle" in handles.problems[2] and "no such file" in handles.problems[9]
    assert data.loads == 3


def test_mug_handles_reads_the_visible_mask_a_dataset_did_not_load(tmp_path):
    # a dataset opened with load_masks=False (the benchmarks that time the estimator) still
    # judges the handle with occlusion by other objects: the mask_visib PNG is read on demand
    mug = make_instance("mug")
    data = _Dataset()
    data.load_model = lambda obj_id: mug
    R, t = view_from([0.2, 1.0, 0.2])
    faces = handle_faces(mug)
    mask = mask_without_handle(mug, R, t, faces)
    path = tmp_path / "000000_000000.png"
    cv2.imwrite(str(path), mask.astype(np.uint8) * 255)
    handles = MugHandles(data)
    assert handles(_Sample(), _Obj("mug", 1, R, t)) is True  # no mask stored: body only
    obj = _Obj("mug", 1, R, t, mask_visib_path=path)
    assert obj.mask_visib is None and np.array_equal(obj.visible_mask(), mask)
    assert handles(_Sample(), obj) is False
    missing = _Obj("mug", 1, R, t, mask_visib_path=tmp_path / "none.png")
    assert missing.visible_mask() is None and handles(_Sample(), missing) is True
