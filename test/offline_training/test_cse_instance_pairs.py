"""Cross-instance 2D pairs: best buddies of DINO descriptors, mapped to CSE cells and crop px."""

import pytest
import torch
import torch.nn.functional as F

from offline_training.cse.instance_pairs import (
    instance_pairs,
    mutual_nearest,
    partner_index,
    patch_masks,
)
from ros_pose_estimation.core.errors import InputError

S, STRIDE = 32, 4  # CSE: n = 8 cells per side


def unit(*shape, seed=0):
    return F.normalize(torch.randn(*shape, generator=torch.Generator().manual_seed(seed)), dim=-1)


def cell_centre(cells, n=S // STRIDE):
    return torch.stack([cells % n, cells // n], -1).float() * STRIDE + (STRIDE - 1) / 2


def test_a_crop_with_itself_pairs_every_object_patch_with_itself():
    g = 8  # == n: one patch per CSE cell
    desc = unit(2, g, g, 32)
    mask = torch.rand(2, g, g, generator=torch.Generator().manual_seed(1)) > 0.4
    p = instance_pairs(desc, mask, desc, mask, 200, S, STRIDE)
    assert p.cells.shape == (2, 200) and p.uv.shape == (2, 200, 2) and p.valid.shape == (2, 200)
    for i in range(2):
        ok = p.valid[i]
        assert ok.sum() == mask[i].sum()  # every object patch, nothing else
        assert ok[: int(ok.sum())].all()  # valid first, padding after
        cells = p.cells[i][ok]
        assert mask[i].flatten()[cells].all() and len(set(cells.tolist())) == len(cells)
        torch.testing.assert_close(p.uv[i][ok], cell_centre(cells))  # identity in crop px
        torch.testing.assert_close(p.score[i][ok], torch.ones(int(ok.sum())))
    few = instance_pairs(desc, mask, desc, mask, 5, S, STRIDE)
    assert few.valid.all() and torch.equal(few.uv, cell_centre(few.cells))


def test_pairs_respect_both_masks():
    g = 8
    desc = unit(1, g, g, 32, seed=2)
    mask_a = torch.ones(1, g, g, dtype=torch.bool)
    mask_b = torch.zeros(1, g, g, dtype=torch.bool)
    mask_b[:, 2:6, 1:5] = True
    p = instance_pairs(desc, mask_a, desc, mask_b, 200, S, STRIDE)
    ok = p.valid[0]
    assert ok.sum() == 16  # the patches inside B's mask pair with themselves
    cells = p.cells[0][ok]
    r, c = cells // g, cells % g
    assert ((r >= 2) & (r < 6) & (c >= 1) & (c < 5)).all()
    empty = instance_pairs(desc, mask_a, desc, torch.zeros_like(mask_b), 10, S, STRIDE)
    assert not empty.valid.any()


@pytest.mark.parametrize("g", [8, 4])  # patches == cells; patches of 2 x 2 cells
def test_a_shift_by_one_patch_maps_each_cell_one_patch_right(g):
    """B shows A moved right by one patch (S / g px): every pair lands one patch to the right
    of its source cell's centre, at the CSE cell that holds A's patch centre."""
    desc_a = unit(1, g, g, 32, seed=3)
    desc_b = unit(1, g, g, 32, seed=4)  # column 0 of B: new content
    desc_b[:, :, 1:] = desc_a[:, :, :-1]
    mask_a = torch.ones(1, g, g, dtype=torch.bool)
    mask_a[:, :, -1] = False  # left the view in B
    mask_b = torch.ones(1, g, g, dtype=torch.bool)
    mask_b[:, :, 0] = False
    p = instance_pairs(desc_a, mask_a, desc_b, mask_b, 200, S, STRIDE)
    ok = p.valid[0]
    assert ok.sum() == g * (g - 1)
    cells = p.cells[0][ok]
    shift = torch.tensor([S / g, 0.0])
    torch.testing.assert_close(p.uv[0][ok] - cell_centre(cells), shift.expand(len(cells), 2))
    n, f = S // STRIDE, S // STRIDE // g  # cells per patch side
    rows, cols = cells // n, cells % n
    assert ((rows % f == f // 2) & (cols % f == f // 2)).all()  # the cell under the centre
    assert len(set(cells.tolist())) == g * (g - 1)


def test_the_most_similar_mutual_pairs_are_kept_best_first():
    n, d = 20, 64
    a = unit(1, n, d, seed=5)
    noise = unit(1, n, d, seed=6)
    noise = F.normalize(noise - (noise * a).sum(-1, keepdim=True) * a, dim=-1)  # orthogonal
    sigma = torch.linspace(0.05, 0.4, n)[torch.randperm(n, generator=torch.Generator())]
    b = F.normalize(a + sigma[None, :, None] * noise, dim=-1)  # sim_i = 1 / sqrt(1 + s_i^2)
    ones = torch.ones(1, n, dtype=torch.bool)
    ia, ib, score, ok = mutual_nearest(a, b, ones, ones, 5)
    assert ok.all() and torch.equal(ia, ib)
    assert torch.equal(ia[0], torch.argsort(sigma)[:5])
    torch.testing.assert_close(score[0], 1 / torch.sqrt(1 + sigma[ia[0]] ** 2))
    ia, _, _, ok = mutual_nearest(a, b, ones, ones, 30)  # more asked than patches: padded
    assert ia.shape == (1, 30) and ok.sum() == n and not ok[0, n:].any()


def test_only_mutual_neighbours_pair():
    a = torch.tensor([[[1.0, 0.0], [0.8, 0.6]]])  # both a's nearest in b is b0 ...
    b = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])  # ... and b1's nearest is a1: only a0-b0
    ones = torch.ones(1, 2, dtype=torch.bool)
    ia, ib, _, ok = mutual_nearest(a, b, ones, ones, 2)
    assert ok.tolist() == [[True, False]] and (ia[0, 0], ib[0, 0]) == (0, 0)


def test_patch_masks_keep_patches_at_least_half_object():
    mask = torch.zeros(1, 8, 8, dtype=torch.bool)
    mask[0, :2, :4] = True  # top-left 4 x 4 patch: half object
    mask[0, 4:5, 4:8] = True  # bottom-right: a quarter
    assert patch_masks(mask, 2).tolist() == [[[True, False], [False, False]]]


def test_partners_come_from_other_sequences():
    assert partner_index(torch.tensor([0, 0, 1, 1, 2])).tolist() == [2, 2, 4, 4, 0]
    assert partner_index(torch.tensor([3, 7])).tolist() == [1, 0]
    assert partner_index(torch.tensor([5, 5])).tolist() == [-1, -1]
    assert partner_index(torch.tensor([5])).tolist() == [-1]


def test_bad_shapes_are_input_errors():
    desc = unit(1, 4, 4, 8)
    mask = torch.ones(1, 4, 4, dtype=torch.bool)
    with pytest.raises(InputError, match="desc_b"):
        instance_pairs(desc, mask, unit(1, 5, 5, 8), mask, 10, S, STRIDE)
    with pytest.raises(InputError, match="mask_a"):
        instance_pairs(desc, mask.float(), desc, mask, 10, S, STRIDE)
    with pytest.raises(InputError, match="stride"):
        instance_pairs(desc, mask, desc, mask, 10, 30, STRIDE)
