"""Paper 004's part-level shape memory: Eq. 1 nearest codes, straight-through gradients, the
moving-average codebook, masked patch descriptors, the partial Chamfer distance (Eq. 2)."""

import pytest
import torch

from offline_training.cse.shape_memory import (
    PartShapeMemory,
    VectorQuantizer,
    partial_chamfer,
)
from ros_pose_estimation.core.errors import ConfigError


def _fixed(codes: torch.Tensor) -> VectorQuantizer:
    vq = VectorQuantizer(codes.shape[0], codes.shape[1], beta=0.25, decay=None)
    with torch.no_grad():
        vq.codes.copy_(codes)
    return vq


def test_quantisation_picks_the_nearest_code():
    codes = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    z = torch.tensor([[[0.9, 0.2], [0.1, 0.8], [0.6, 0.7], [-0.2, 0.1]]])
    q = _fixed(codes)(z)
    assert q.index.tolist() == [[1, 2, 3, 0]]
    assert torch.equal(q.codes.detach(), codes[q.index])
    brute = torch.cdist(z[0], codes).argmin(1)
    assert torch.equal(q.index[0], brute)
    err = ((z - codes[q.index]) ** 2).sum(-1).mean()
    assert q.codebook.item() == pytest.approx(err.item())
    assert q.commitment.item() == pytest.approx(0.25 * err.item())


def test_straight_through_gradient_reaches_the_descriptors_and_codebook_term_the_codes():
    codes = torch.randn(8, 4, generator=torch.Generator().manual_seed(0))
    vq = _fixed(codes)
    z = torch.randn(2, 3, 4, requires_grad=True)
    w = torch.randn(2, 3, 4)
    q = vq(z)
    (q.codes * w).sum().backward()
    assert torch.allclose(z.grad, w)  # identity through the quantiser
    assert vq.codes.grad is None
    z.grad = None
    q = vq(z)
    (q.codebook + q.commitment).backward()
    e = codes[q.index]
    assert torch.allclose(z.grad, 0.25 * 2 * (z - e).detach() / 6, atol=1e-6)
    assert vq.codes.grad is not None and vq.codes.grad.abs().sum() > 0


def test_moving_average_codebook_converges_to_the_cluster_means():
    torch.manual_seed(0)
    centres = torch.tensor([[3.0, 0.0], [-3.0, 0.0], [0.0, 3.0]])
    vq = VectorQuantizer(3, 2, decay=0.8)
    for _ in range(60):
        z = centres[torch.randint(0, 3, (64,))] + 0.1 * torch.randn(64, 2)
        vq(z[None])
    got = sorted(vq.codes.tolist())
    assert torch.allclose(torch.tensor(got), torch.tensor(sorted(centres.tolist())), atol=0.15)
    vq.eval()
    before = vq.codes.clone()
    vq(torch.full((1, 5, 2), 10.0))
    assert torch.equal(vq.codes, before)  # no update outside training


def test_memory_starts_at_the_template_and_pools_object_cells_only():
    torch.manual_seed(0)
    template = torch.randn(20, 3) * 0.05
    mem = PartShapeMemory(feature_dim=6, n_vertices=20, grid=2, dim=4, n_codes=5)
    feats = torch.randn(2, 6, 8, 8)
    cells = torch.zeros(2, 8, 8)
    cells[:, :4, :4] = 1.0  # object in the top-left patch only
    shape = mem(feats, cells, template, torch.tensor(0.1))
    assert shape.vertices.shape == (2, 20, 3) and shape.quantised.index.shape == (2, 4)
    assert torch.allclose(shape.vertices, template.expand(2, -1, -1))
    desc = mem.descriptors(feats, cells)
    top_left = mem.project(feats[:, :, :4, :4].mean((2, 3)))
    for k in range(4):  # empty patches take the object mean: all equal top-left here
        assert torch.allclose(desc[:, k], top_left, atol=1e-5)
    changed = feats.clone()
    changed[:, :, 4:, 4:] += 5.0  # background cells do not move any descriptor
    assert torch.allclose(mem.descriptors(changed, cells), desc, atol=1e-5)


def test_decoder_gradient_flows_and_offsets_stay_bounded():
    torch.manual_seed(0)
    mem = PartShapeMemory(feature_dim=6, n_vertices=10, grid=1, dim=4, n_codes=3,
                          max_offset=0.2, decay=None)  # fmt: skip
    with torch.no_grad():
        mem.decoder[-1].weight.normal_(0, 10.0)
    feats = torch.randn(1, 6, 4, 4, requires_grad=True)
    shape = mem(feats, torch.ones(1, 4, 4), torch.zeros(10, 3), torch.tensor(0.5))
    assert shape.vertices.abs().max() <= 0.2 * 0.5 + 1e-6
    shape.vertices.sum().backward()
    assert feats.grad is not None and feats.grad.abs().sum() > 0  # straight-through to the image


def test_partial_chamfer_is_zero_on_the_observed_surface_and_grows_off_it():
    torch.manual_seed(0)
    verts = torch.randn(1, 30, 3)
    visible = torch.zeros(1, 30, dtype=torch.bool)
    visible[:, :12] = True
    points = verts[:, :12].clone()
    ok = torch.ones(1, 12, dtype=torch.bool)
    d = torch.tensor(2.0)
    assert partial_chamfer(verts, points, ok, visible, d).item() == pytest.approx(0.0, abs=1e-6)
    assert partial_chamfer(verts, points + 0.1, ok, visible, d) > 0.002
    hidden_only = ~visible  # vertices behind: unobserved, they must not be pulled
    assert partial_chamfer(verts, points, ok, visible | hidden_only, d) > 0.01
    bad = points.clone()
    bad[:, 0] += 100.0
    ok_bad = ok.clone()
    ok_bad[:, 0] = False  # an invalid point is ignored
    assert partial_chamfer(verts, bad, ok_bad, visible[:, :30] & False, d).item() == (
        pytest.approx(0.0, abs=1e-6)
    )


def test_bad_settings_raise():
    with pytest.raises(ConfigError):
        VectorQuantizer(0, 4)
    with pytest.raises(ConfigError):
        VectorQuantizer(4, 4, decay=1.0)
    with pytest.raises(ConfigError):
        PartShapeMemory(6, 10, grid=0)
