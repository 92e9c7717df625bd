"""Barycentrics for a kept pixel-to-face assignment against fresh rasterisations."""

import pytest
import torch

from ros_pose_estimation.core.errors import InputError
from ros_pose_estimation.core.rotations import axis_angle_to_matrix
from ros_pose_estimation.render import rasterize, reinterpolate
from ros_pose_estimation.shapes.primitives import icosphere

F64 = torch.float64
H, W = 10, 12


@pytest.fixture(scope="module")
def sphere():
    mesh = icosphere(2, 0.1)
    return torch.tensor(mesh.vertices, dtype=F64), torch.tensor(mesh.faces)


def _K():
    return torch.tensor([[14.0, 0, 5.7], [0, 14.0, 4.6], [0, 0, 1]], dtype=F64)


def _poses():
    rv = torch.tensor([[0.3, -0.5, 0.2], [-1.0, 0.4, 2.0]], dtype=F64)
    t = torch.tensor([[0.011, -0.007, 0.45], [-0.02, 0.01, 0.5]], dtype=F64)
    return rv, t


def test_same_pose_equals_fresh_rasterisation(sphere):
    verts, faces = sphere
    rv, t = _poses()
    R = axis_angle_to_matrix(rv)
    fresh = rasterize(verts, faces, _K(), R, t, (H, W), cull_backfaces=True)
    again = reinterpolate(fresh, verts, faces, _K(), R, t)
    assert fresh.fg_index.numel() > 40
    assert torch.equal(again.pix_to_face, fresh.pix_to_face)
    assert torch.equal(again.fg_vertex, fresh.fg_vertex)
    torch.testing.assert_close(again.fg_bary, fresh.fg_bary, rtol=0, atol=1e-12)
    torch.testing.assert_close(again.depth, fresh.depth, rtol=0, atol=1e-12)


def test_moved_pose_matches_fresh_where_the_face_is_unchanged(sphere):
    """After a small move, pixels whose face did not change have the fresh barycentrics; the
    others extrapolate their old face's plane (some barycentric outside [0, 1])."""
    verts, faces = sphere
    rv, t = _poses()
    old = rasterize(verts, faces, _K(), axis_angle_to_matrix(rv), t, (H, W), cull_backfaces=True)
    R2, t2 = axis_angle_to_matrix(rv + 0.02), t + torch.tensor([0.002, -0.001, 0.004], dtype=F64)
    new = rasterize(verts, faces, _K(), R2, t2, (H, W), cull_backfaces=True)
    kept = reinterpolate(old, verts, faces, _K(), R2, t2)
    same = new.pix_to_face.view(-1)[old.fg_index] == old.pix_to_face.view(-1)[old.fg_index]
    assert 0 < int(same.sum()) < len(same)  # the move changed some faces, not all
    pos = torch.searchsorted(new.fg_index, old.fg_index[same])
    torch.testing.assert_close(kept.fg_bary[same], new.fg_bary[pos], rtol=0, atol=1e-10)
    torch.testing.assert_close(kept.fg_depth[same], new.fg_depth[pos], rtol=0, atol=1e-10)
    changed = kept.fg_bary[~same]
    assert bool(((changed < -1e-9) | (changed > 1 + 1e-9)).any(1).all())


def test_gradcheck_wrt_pose(sphere):
    verts, faces = sphere
    rv, t = _poses()
    frags = rasterize(verts, faces, _K(), axis_angle_to_matrix(rv), t, (H, W))

    def outputs(rvec, trans):
        out = reinterpolate(frags, verts, faces, _K(), axis_angle_to_matrix(rvec), trans)
        return out.fg_bary, out.depth

    args = (rv.clone().requires_grad_(), t.clone().requires_grad_())
    assert torch.autograd.gradcheck(outputs, args, eps=1e-6, atol=1e-6)


def test_bad_inputs(sphere):
    verts, faces = sphere
    rv, t = _poses()
    R = axis_angle_to_matrix(rv)
    frags = rasterize(verts, faces, _K(), R, t, (H, W))
    with pytest.raises(InputError, match="R: expected 2 poses"):
        reinterpolate(frags, verts, faces, _K(), R[:1], t[:1])
    with pytest.raises(InputError, match="vertices: expected the .* vertices that were"):
        reinterpolate(frags, verts[:-1], faces[:10], _K(), R, t)
