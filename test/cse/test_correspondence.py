"""Eq. 1-2 normalisation and mappings, Eq. 7 cycle confidence."""

import pytest
import torch
import torch.nn.functional as F

from ros_pose_estimation.core.errors import InputError
from ros_pose_estimation.cse.correspondence import (
    cell_centres,
    correspondences,
    cycle_2d,
    cycle_confidence,
    map_2d_to_3d,
    map_3d_to_2d,
    masked_points,
)


def _random(b=2, p=12, v=9, d=8, seed=0):
    gen = torch.Generator().manual_seed(seed)
    pix = F.normalize(torch.randn(b, p, d, generator=gen), dim=-1)
    emb = F.normalize(torch.randn(b, v, d, generator=gen), dim=-1)
    return pix, emb


def test_softmax_directions_and_mask():
    pix, emb = _random()
    mask = torch.ones(2, 12, dtype=torch.bool)
    mask[0, :5] = False
    corr = correspondences(pix, emb, mask, tau=0.1)
    assert torch.allclose(corr.w2d3d.sum(2), torch.ones(2, 12))  # pixel -> distribution over V
    assert torch.allclose(corr.w3d2d.sum(1), torch.ones(2, 9))  # vertex -> distribution over P
    assert torch.all(corr.w3d2d[0, :5] == 0)  # masked pixels take no part in 3D -> 2D
    logits = pix @ emb.transpose(1, 2) / 0.1
    assert torch.allclose(corr.w2d3d, torch.softmax(logits, 2))


def test_exact_bijection_maps_and_cycles_back_with_confidence_one():
    d = 16
    codes = torch.eye(d)[:10]  # 10 vertices with orthogonal embeddings
    perm = torch.randperm(10, generator=torch.Generator().manual_seed(1))
    pix = codes[perm][None]  # pixel j sees vertex perm[j]
    verts = torch.randn(1, 10, 3)
    xy = torch.rand(10, 2) * 30
    corr = correspondences(pix, codes[None], None, tau=0.01)  # tau -> 0: hard assignment
    assert torch.allclose(map_2d_to_3d(corr, verts)[0], verts[0, perm], atol=1e-4)
    assert torch.allclose(map_3d_to_2d(corr, xy)[0, perm], xy, atol=1e-3)
    assert torch.allclose(cycle_2d(corr, xy)[0], xy, atol=1e-3)
    conf = cycle_confidence(corr, xy, cell=4.0)
    assert torch.allclose(conf, torch.ones(1, 10), atol=1e-4)


def test_inconsistent_pixels_get_low_confidence():
    codes = torch.eye(8)[:4]
    pix = torch.stack([codes[0], codes[1], codes[2], codes[2]])[None]  # pixels 2, 3 share a vertex
    xy = torch.tensor([[0.0, 0.0], [40.0, 0.0], [0.0, 40.0], [40.0, 40.0]])
    corr = correspondences(pix, codes[None], None, tau=0.01)
    conf = cycle_confidence(corr, xy, cell=4.0, sigma_cells=1.5)[0]
    assert conf[0] > 0.99 and conf[1] > 0.99
    assert conf[2] < 0.01 and conf[3] < 0.01  # both map back to their midpoint, 20 px away


def test_cell_centres_follow_the_pixel_centre_convention():
    xy = cell_centres(2, 3, 4)
    assert xy.shape == (6, 2)
    assert xy[0].tolist() == [1.5, 1.5] and xy[5].tolist() == [9.5, 5.5]


def test_empty_mask_is_an_input_error():
    pix, emb = _random()
    with pytest.raises(InputError, match="no object pixel"):
        correspondences(pix, emb, torch.zeros(2, 12, dtype=torch.bool), 0.1)


def test_masked_points_equal_the_full_correspondences_at_the_masked_pixels():
    gen = torch.Generator().manual_seed(3)
    b, n, v, d = 2, 6, 40, 8
    pixels = F.normalize(torch.randn(b, n * n, d, generator=gen), dim=-1)
    emb = F.normalize(torch.randn(b, v, d, generator=gen), dim=-1)
    verts = torch.randn(b, v, 3, generator=gen)
    mask = torch.rand(b, n * n, generator=gen) < 0.4
    xy = cell_centres(n, n, 4)
    corr = correspondences(pixels, emb, mask, 0.1)
    full_points = map_2d_to_3d(corr, verts)
    full_conf = cycle_confidence(corr, xy, 4.0, 1.5)
    points, conf = masked_points(pixels, emb, verts, mask, 0.1, xy, 4.0, 1.5)
    assert torch.allclose(points[mask], full_points[mask], atol=1e-5)
    assert torch.allclose(conf, full_conf, atol=1e-5)  # 0 outside the mask in both
    assert not points[~mask].any()
    with pytest.raises(InputError, match="no object pixel"):
        masked_points(pixels, emb, verts, torch.zeros_like(mask), 0.1, xy, 4.0)
