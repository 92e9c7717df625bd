"""CSE loss pieces: zero where they must be, positive where they must not."""

import math

import torch

from offline_training.cse import losses as L
from ros_pose_estimation.cse.correspondence import cell_centres, correspondences
from ros_pose_estimation.cse.template import category_template


def _hard(perm, d=32):
    """Exact correspondences: pixel j sees vertex perm[j] (orthogonal codes, tiny tau)."""
    codes = torch.eye(d)[: len(perm)]
    return correspondences(codes[perm][None], codes[None], None, tau=0.005)


def test_transfer_cycle_is_zero_for_consistent_correspondences():
    xy = cell_centres(4, 4, 4)  # 16 pixels
    src = _hard(torch.arange(16))
    perm = torch.randperm(16, generator=torch.Generator().manual_seed(0))
    tgt = _hard(perm)  # target pixel j sees vertex perm[j]
    cells = torch.arange(16)[None]
    # source cell c sees vertex c, which the target shows at pixel perm^-1[c]
    inv = torch.argsort(perm)
    uv = xy[inv][None]
    valid = torch.ones(1, 16, dtype=torch.bool)
    assert L.transfer_cycle(src, tgt, cells, uv, valid, xy, 16) < 1e-6
    wrong = L.transfer_cycle(src, tgt, cells, xy[None], valid, xy, 16)
    assert wrong > 0.1


def test_rotate_points_matches_rotate_crops():
    img = torch.zeros(1, 3, 32, 32)
    img[0, :, 5, 20] = 1.0  # pixel (u=20, v=5)
    angle = torch.tensor([math.pi / 2])
    rot, _, _ = L.rotate_crops(img, torch.zeros(1, 32, 32, dtype=torch.bool),
                               torch.zeros(1, 32, 32), angle)  # fmt: skip
    v, u = divmod(int(rot[0, 0].argmax()), 32)
    moved = L.rotate_points(torch.tensor([[[20.0, 5.0]]]), angle, 32)[0, 0]
    assert abs(moved[0] - u) < 1e-4 and abs(moved[1] - v) < 1e-4


def test_regularisers():
    mesh = category_template("bottle", 300)
    verts = torch.as_tensor(mesh.vertices, dtype=torch.float32)[None]
    faces = torch.as_tensor(mesh.faces)
    from ros_pose_estimation.render import mesh_edges

    edges = mesh_edges(faces)[0]
    zero = torch.zeros_like(verts)
    assert L.deformation_loss(zero, 0.25) == 0
    assert L.laplacian_loss(zero + 0.01, edges, 0.25) < 1e-10  # a translation is smooth
    bumpy = zero.clone()
    bumpy[0, ::7, 0] = 0.02
    assert L.laplacian_loss(bumpy, edges, 0.25) > 1e-4
    sym = L.symmetry_transforms("bottle")
    assert L.symmetry_loss(verts, sym, 0.25) < 1e-3  # a body of revolution
    squashed = verts * torch.tensor([1.0, 0.5, 1.0])
    assert L.symmetry_loss(squashed, sym, 0.25) > 3 * L.symmetry_loss(verts, sym, 0.25)
