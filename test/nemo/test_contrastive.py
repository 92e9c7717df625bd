"""Contrastive vertex / background loss (paper 000 Eq. 6), feature sampling, neighbour masks."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ros_pose_estimation.core.errors import InputError
from ros_pose_estimation.models.feature_net import FeatureNet
from ros_pose_estimation.nemo.contrastive import (
    contrastive_loss,
    downsample_mask,
    image_to_feature_uv,
    neighbour_mask,
    pixel_neighbour_exclusion,
    sample_background_features,
    sample_vertex_features,
)
from ros_pose_estimation.nemo.neural_mesh import NeuralMesh, geodesic_mesh

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _unit(*shape: int, seed: int = 0) -> torch.Tensor:
    return F.normalize(torch.randn(*shape, generator=torch.Generator().manual_seed(seed)), dim=-1)


def test_loss_is_lower_for_matching_features_than_permuted():
    vertex_feats, clutter = _unit(20, 16), _unit(30, 16, seed=1)
    ids = torch.arange(20)
    matched, _ = contrastive_loss(vertex_feats, ids, vertex_feats, clutter)
    permuted, stats = contrastive_loss(
        vertex_feats[torch.roll(ids, 1)], ids, vertex_feats, clutter
    )
    assert matched < permuted
    assert stats["accuracy"] == 0.0
    assert contrastive_loss(vertex_feats, ids, vertex_feats, clutter)[1]["accuracy"] == 1.0


def test_neighbour_exclusion_hand_case():
    vertices = torch.tensor([[0.0, 0.0, 0.0], [0.05, 0.0, 0.0], [1.0, 0.0, 0.0]])
    near = neighbour_mask(vertices, radius=0.1)
    assert near.tolist() == [[True, True, False], [True, True, False], [False, False, True]]
    theta = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    clutter = torch.tensor([[0.6, 0.8]])
    f = torch.tensor([[0.8, 0.6]])
    t = 0.5
    logit = (f @ torch.cat([theta, clutter]).T / t)[0]  # [v0, v1, v2, clutter]
    loss, _ = contrastive_loss(
        f, torch.tensor([0]), theta, clutter, neighbours=near, temperature=t
    )
    # vertex 1 is a neighbour of the positive 0: left out of the denominator, 0 stays in
    expected = -(logit[0] - torch.logsumexp(logit[[0, 2, 3]], 0))
    torch.testing.assert_close(loss, expected)
    full, _ = contrastive_loss(f, torch.tensor([0]), theta, clutter, temperature=t)
    torch.testing.assert_close(full, -(logit[0] - torch.logsumexp(logit, 0)))
    assert loss < full
    # the same through a per-observation exclusion
    exclude = torch.tensor([[True, True, False]])  # the positive itself is never excluded
    same, _ = contrastive_loss(
        f, torch.tensor([0]), theta, clutter, exclude=exclude, temperature=t
    )
    torch.testing.assert_close(same, expected)


def test_pixel_neighbour_exclusion():
    uv = torch.tensor([[[10.0, 10.0], [30.0, 10.0], [100.0, 10.0], [float("nan"), 0.0]]])
    exclude = pixel_neighbour_exclusion(uv, torch.tensor([0, 2]), torch.tensor([0, 0]), 48.0)
    assert exclude.tolist() == [[True, True, False, False], [False, False, True, False]]


def test_sampling_is_bilinear_in_feature_pixel_coordinates():
    h, w = 4, 6
    v, u = torch.meshgrid(torch.arange(h.__float__()), torch.arange(w.__float__()), indexing="ij")
    ramp = torch.stack([u, v])[None].repeat(2, 1, 1, 1)  # channel 0 = u, channel 1 = v
    uv = torch.tensor([[[0.0, 0.0], [2.25, 1.5], [5.0, 3.0], [6.0, 1.0]], [[1.0, 1.0]] * 4])
    visible = torch.tensor([[True, True, True, True], [False, False, True, False]])
    feats, vids, bids = sample_vertex_features(ramp, uv, visible, normalize=False)
    assert vids.tolist() == [0, 1, 2, 2] and bids.tolist() == [0, 0, 0, 1]  # u=6 is outside
    torch.testing.assert_close(feats, uv[bids, vids])
    # image pixel centre 3.5 = centre of the first 8-pixel cell = feature pixel 0
    assert image_to_feature_uv(torch.tensor(3.5), 8).item() == 0.0
    assert image_to_feature_uv(torch.tensor(-0.5), 8).item() == -0.5


def test_gradient_flows_to_the_feature_map():
    fmap = torch.randn(1, 8, 5, 5, requires_grad=True)
    uv = torch.tensor([[[1.5, 2.0], [3.0, 3.0], [0.2, 4.0]]])
    feats, vids, _ = sample_vertex_features(fmap, uv, torch.ones(1, 3, dtype=torch.bool))
    loss, _ = contrastive_loss(feats, vids, _unit(3, 8), _unit(4, 8, seed=2))
    loss.backward()
    assert fmap.grad is not None
    assert fmap.grad[0, :, 2, 1].abs().sum() > 0 and fmap.grad[0, :, 2, 2].abs().sum() > 0
    assert fmap.grad[0, :, 0, 4].abs().sum() == 0  # no vertex projects there


def test_background_sampling_avoids_the_object():
    fmap = torch.arange(2 * 16.0).view(2, 1, 4, 4).repeat(1, 3, 1, 1)
    mask = torch.ones(2, 4, 4, dtype=torch.bool)
    mask[0, 0, :] = False  # image 0: 4 background pixels (values 0..3)
    mask[1, :, 2:] = False  # image 1: 8 background pixels
    gen = torch.Generator().manual_seed(0)
    bg = sample_background_features(fmap, mask, n=5, generator=gen)
    assert bg.shape == (4 + 5, 3)
    values = bg[:, 0]
    assert set(values[:4].tolist()) == {0.0, 1.0, 2.0, 3.0}
    assert all(v in {18.0, 19.0, 22.0, 23.0, 26.0, 27.0, 30.0, 31.0} for v in values[4:].tolist())
    assert len(set(values[4:].tolist())) == 5  # without replacement
    again = sample_background_features(fmap, mask, 5, torch.Generator().manual_seed(0))
    assert torch.equal(bg, again)
    with pytest.raises(InputError, match="object_mask"):
        sample_background_features(fmap, mask[:, :3], 5)


def test_downsample_mask_marks_cells_touching_the_object():
    mask = torch.zeros(1, 16, 16, dtype=torch.bool)
    mask[0, 7, 9] = True
    small = downsample_mask(mask, 8)
    assert small.tolist() == [[[False, True], [False, False]]]


def test_background_term_pushes_bg_features_to_clutter():
    vertex_feats, clutter = _unit(10, 8), _unit(6, 8, seed=3)
    ids = torch.arange(10)
    like_clutter, stats = contrastive_loss(
        vertex_feats, ids, vertex_feats, clutter, bg_feats=clutter
    )
    like_vertex, _ = contrastive_loss(
        vertex_feats, ids, vertex_feats, clutter, bg_feats=vertex_feats
    )
    assert like_clutter < like_vertex
    assert stats["n_bg"] == 6.0 and stats["loss_bg"] > 0
    with pytest.raises(InputError, match="clutter"):
        contrastive_loss(vertex_feats, ids, vertex_feats, clutter[:0], bg_feats=clutter)


def test_no_observations_gives_a_zero_loss_with_a_graph():
    feats = torch.zeros(0, 8, requires_grad=True)
    loss, stats = contrastive_loss(
        feats, torch.zeros(0, dtype=torch.long), _unit(3, 8), _unit(2, 8)
    )
    assert loss.item() == 0.0 and loss.requires_grad
    assert math.isnan(stats["accuracy"])


def test_shape_errors_name_the_argument():
    with pytest.raises(InputError, match="vertex_feats"):
        contrastive_loss(_unit(4, 8), torch.arange(4), _unit(3, 7), _unit(2, 8))
    with pytest.raises(InputError, match="neighbours"):
        contrastive_loss(_unit(4, 8), torch.arange(4), _unit(4, 8), _unit(2, 8), torch.ones(3, 3))


def _synthetic_batch(colours: torch.Tensor, gen: torch.Generator, batch: int = 4):
    """64 x 64 images: vertex k paints one random 8 x 8 cell in its own colour."""
    n_vertices, cells = len(colours), 8
    images = 0.1 * torch.rand(batch, 3, 64, 64, generator=gen)
    uv = torch.zeros(batch, n_vertices, 2)
    mask = torch.zeros(batch, cells, cells, dtype=torch.bool)
    for b in range(batch):
        where = torch.randperm(cells * cells, generator=gen)[:n_vertices]
        rows, cols = where // cells, where % cells
        for k in range(n_vertices):
            r, c = int(rows[k]), int(cols[k])
            images[b, :, 8 * r : 8 * r + 8, 8 * c : 8 * c + 8] = colours[k, :, None, None]
        uv[b, :, 0], uv[b, :, 1] = cols.float(), rows.float()
        mask[b, rows, cols] = True
    return images, uv, mask


def test_tiny_training_loop_reduces_the_loss():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    mesh = NeuralMesh(geodesic_mesh(0), dim=16, n_clutter=40)
    colours = torch.rand(mesh.n_vertices, 3, generator=gen) * 0.7 + 0.3
    net = FeatureNet("tiny", dim=16)
    optim = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        images, uv, mask = _synthetic_batch(colours, gen)
        fmap = net(images)
        feats, vids, _ = sample_vertex_features(
            fmap, uv, torch.ones(uv.shape[:2], dtype=torch.bool)
        )
        bg = sample_background_features(fmap, mask, n=5, generator=gen)
        loss, _ = contrastive_loss(feats, vids, mesh.features, mesh.clutter, bg_feats=bg)
        optim.zero_grad()
        loss.backward()
        optim.step()
        mesh.update_vertex_features(feats.detach(), vids, momentum=0.9)
        mesh.update_clutter(bg.detach())
        losses.append(loss.item())
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < 0.7 * first, losses
