"""Paper 004's coarse-to-fine pseudo-labels: one-to-one Hungarian matching (Eqs. 5-6), the
region and pooled pixel similarities (Eqs. 4, 8) and the cross-entropy they supervise."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment

from offline_training.cse.hungarian_labels import (
    c2f_losses,
    one_to_one_labels,
    pooled_pixel_similarity,
    pseudo_label_ce,
    region_similarity,
)
from ros_pose_estimation.core.errors import ConfigError


def test_labels_recover_a_known_permutation_one_to_one():
    g = torch.Generator().manual_seed(0)
    v, r = 40, 25
    emb = F.normalize(torch.randn(v, 16, generator=g), dim=-1)
    perm = torch.randperm(v, generator=g)[:r]
    regions = F.normalize(emb[perm] + 0.2 * torch.randn(r, 16, generator=g), dim=-1)
    labels = one_to_one_labels((regions @ emb.t())[None], torch.ones(1, r, dtype=torch.bool))
    assert torch.equal(labels[0], perm)
    assert len(set(labels[0].tolist())) == r


def test_one_to_one_resolves_a_many_to_one_argmax():
    s = torch.tensor([[[0.9, 0.1, 0.0], [0.8, 0.7, 0.0]]])  # both rows' argmax is vertex 0
    assert s.argmax(-1).tolist() == [[0, 0]]
    assert one_to_one_labels(s, torch.ones(1, 2, dtype=torch.bool)).tolist() == [[0, 1]]


def test_rectangular_assignment_equals_the_papers_virtual_rows():
    rng = np.random.default_rng(1)
    s = rng.uniform(-1, 1, (7, 12)).astype(np.float32)
    padded = np.vstack([1.0 - s, np.full((5, 12), 0.5, dtype=np.float32)])  # N - hw rows
    rows, cols = linear_sum_assignment(padded)
    virtual = dict(zip(rows.tolist(), cols.tolist(), strict=True))
    labels = one_to_one_labels(torch.as_tensor(s)[None], torch.ones(1, 7, dtype=torch.bool))
    assert labels[0].tolist() == [virtual[i] for i in range(7)]


def test_regions_off_the_object_or_beyond_the_vertices_get_no_label():
    s = torch.rand(1, 5, 3, generator=torch.Generator().manual_seed(0))
    ok = torch.tensor([[True, False, True, True, True]])
    labels = one_to_one_labels(s, ok)[0]
    assert labels[1] == -1
    assert (labels >= 0).sum() == 3 and len(set(labels[labels >= 0].tolist())) == 3
    none = one_to_one_labels(s, torch.zeros(1, 5, dtype=torch.bool))
    assert (none == -1).all()


def test_cross_entropy_is_zero_for_the_right_labels_and_ignores_unlabelled():
    eye = torch.eye(4)[None] * 2 - 1  # cosine 1 on the right vertex, -1 elsewhere
    right = torch.tensor([[0, 1, 2, 3]])
    assert pseudo_label_ce(eye, right, tau=0.01).item() == pytest.approx(0.0, abs=1e-6)
    wrong = torch.tensor([[1, 0, 3, 2]])
    assert pseudo_label_ce(eye, wrong, tau=0.1).item() > 10
    partly = torch.tensor([[0, -1, 2, -1]])
    assert pseudo_label_ce(eye, partly, tau=0.01).item() == pytest.approx(0.0, abs=1e-6)
    empty = pseudo_label_ce(eye, torch.full((1, 4), -1), tau=0.1)
    assert empty.item() == 0.0 and torch.isfinite(empty)


def test_region_and_pooled_pixel_similarities():
    torch.manual_seed(0)
    feats = F.normalize(torch.randn(2, 8, 4, 4), dim=1)
    emb = F.normalize(torch.randn(2, 6, 8), dim=-1)
    frac = torch.zeros(2, 4, 4)
    frac[:, :2, :2] = 1.0  # region 0 object, the others background
    frac[:, 2, 2] = 0.6  # region 3: one object cell of four
    s_c, ok = region_similarity(feats, frac, emb, pool=2)
    assert s_c.shape == (2, 4, 6) and ok.tolist() == [[True, False, False, False]] * 2
    mean0 = F.normalize(feats[:, :, :2, :2].mean((2, 3)), dim=-1)
    assert torch.allclose(s_c[:, 0], torch.einsum("bd,bvd->bv", mean0, emb), atol=1e-5)
    s_fc = pooled_pixel_similarity(feats, frac, emb, pool=2)
    cells = torch.einsum("bdhw,bvd->bvhw", feats, emb)
    assert torch.allclose(s_fc[:, 0], cells[:, :, :2, :2].amax((2, 3)), atol=1e-6)
    assert torch.allclose(s_fc[:, 3], cells[:, :, 2, 2], atol=1e-6)  # object cell only
    assert torch.all(s_fc[:, 1] == -1.0)
    with pytest.raises(ConfigError):
        region_similarity(feats, frac, emb, pool=3)


def _scene(seed: int = 0):
    """An 8x8 grid of unit features, 2x2 regions, region ``k`` showing vertex ``truth[k]`` (20
    vertices: 4 never seen); regions 0, 2, 4, 6 are pulled towards the next region's vertex (a
    many-to-one argmax), every cell is noisy."""
    g = torch.Generator().manual_seed(seed)
    v, d = 20, 16
    emb = F.normalize(torch.randn(1, v, d, generator=g), dim=-1)
    truth = torch.randperm(v, generator=g)[:16]
    regions = emb[0, truth].clone()
    for k in (0, 2, 4, 6):
        regions[k] = 0.6 * emb[0, truth[k]] + 0.8 * emb[0, truth[k + 1]]
    cells = regions.reshape(4, 4, d).repeat_interleave(2, 0).repeat_interleave(2, 1)
    feats = cells.permute(2, 0, 1)[None] + 0.05 * torch.randn(1, d, 8, 8, generator=g)
    return F.normalize(feats, dim=1), emb, truth


def _accuracy(similarity: torch.Tensor, truth: torch.Tensor) -> float:
    return float((similarity[0].argmax(-1) == truth).float().mean())


def test_coarse_to_fine_training_improves_a_perturbed_match():
    feats, emb, truth = _scene()
    frac = torch.ones(1, 8, 8)
    s_c, ok = region_similarity(feats, frac, emb, 2)
    before = _accuracy(s_c, truth)
    labelled = float((one_to_one_labels(s_c, ok)[0] == truth).float().mean())
    assert labelled > before  # one-to-one labels undo collisions of the argmax
    x = feats.clone().requires_grad_(True)
    opt = torch.optim.SGD([x], lr=0.5)
    for _ in range(30):
        terms = c2f_losses(F.normalize(x, dim=1), frac, emb, pool=2, tau=0.1)
        opt.zero_grad()
        (terms["c2f_coarse"] + terms["c2f_fine"]).backward()
        opt.step()
    after = _accuracy(region_similarity(F.normalize(x, dim=1), frac, emb, 2)[0], truth)
    assert after > before and after >= labelled, (before, labelled, after)
