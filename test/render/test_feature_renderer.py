"""Feature maps, similarities, visibility and the soft silhouette: gradients, consistency between
the dense / sparse / similarity paths, and small optimisations that must converge."""

import pytest
import torch

from ros_pose_estimation.core.errors import InputError
from ros_pose_estimation.core.rotations import axis_angle_to_matrix, random_rotations
from ros_pose_estimation.render import (
    FeatureRenderer,
    feature_similarity,
    interpolate,
    interpolate_sparse,
    rasterize,
    render_features,
    soft_silhouette,
    vertex_visibility,
)
from ros_pose_estimation.shapes.primitives import box, icosphere

F64 = torch.float64


def as_tensors(mesh, dtype=F64):
    return torch.tensor(mesh.vertices, dtype=dtype), torch.tensor(mesh.faces)


def camera(h, w, f=1.3, dtype=F64):
    return torch.tensor([[f * w, 0, w / 2 - 0.3], [0, f * w, h / 2 + 0.2], [0, 0, 1]], dtype=dtype)


def test_gradcheck_feature_map_wrt_pose_and_features():
    verts, faces = as_tensors(box([0.2, 0.12, 0.16], max_step=0.05))
    gen = torch.Generator().manual_seed(0)
    feats = torch.randn(len(verts), 2, dtype=F64, generator=gen, requires_grad=True)
    K = camera(12, 16)
    rotvec = torch.tensor([[0.4, -0.6, 0.25]], dtype=F64, requires_grad=True)
    trans = torch.tensor([[0.013, -0.009, 0.55]], dtype=F64, requires_grad=True)

    def frag(rv, tr):
        return rasterize(verts, faces, K, axis_angle_to_matrix(rv), tr, (12, 16))

    base = frag(rotvec, trans).pix_to_face
    for i in range(6):  # no pixel centre changes face within 10x the finite-difference step
        for sign in (-1, 1):
            d = torch.zeros(6, dtype=F64)
            d[i] = sign * 1e-5
            assert torch.equal(frag(rotvec + d[:3], trans + d[3:]).pix_to_face, base)
    assert base.ge(0).sum() > 40

    def features(rv, tr, f):  # [P x D] foreground features (the background is constant 0)
        return interpolate_sparse(frag(rv, tr), f)

    assert torch.autograd.gradcheck(features, (rotvec, trans, feats.detach()), eps=1e-6, atol=1e-6)

    def feature_map(rv, tr, f):  # [B x D x H x W], also w.r.t. the 108 vertex features
        return interpolate(frag(rv, tr), f)

    assert torch.autograd.gradcheck(
        feature_map, (rotvec, trans, feats), eps=1e-6, atol=1e-6, fast_mode=True
    )


def test_dense_sparse_and_similarity_agree():
    verts, faces = as_tensors(icosphere(2, 0.1), torch.float32)
    b, h, w, d = 4, 20, 24, 16
    R = torch.tensor(random_rotations(b, 5), dtype=torch.float32)
    t = torch.tensor([[0.0, 0.0, 0.5]]).repeat(b, 1)
    gen = torch.Generator().manual_seed(1)
    feats = torch.randn(len(verts), d, generator=gen)
    frag = rasterize(verts, faces, camera(h, w, dtype=torch.float32), R, t, (h, w))
    dense = interpolate(frag, feats)
    assert dense.shape == (b, d, h, w)
    assert bool((dense.permute(0, 2, 3, 1)[~frag.mask] == 0).all())
    torch.testing.assert_close(
        interpolate_sparse(frag, feats), dense.permute(0, 2, 3, 1)[frag.mask]
    )
    torch.testing.assert_close(interpolate(frag, feats.expand(b, -1, -1)), dense)
    observed = torch.randn(d, h, w, generator=gen)
    expected = (dense * observed).sum(1)
    for method in ("auto", "gather", "table"):
        torch.testing.assert_close(feature_similarity(frag, feats, observed, method), expected)
    torch.testing.assert_close(
        feature_similarity(frag, feats.expand(b, -1, -1), observed.expand(b, -1, -1, -1)),
        expected,
    )


def test_similarity_methods_have_the_same_gradients():
    verts, faces = as_tensors(icosphere(2, 0.1))
    R = torch.tensor(random_rotations(3, 8), dtype=F64)
    K = camera(16, 16)
    grads = []
    for method in ("gather", "table"):
        gen = torch.Generator().manual_seed(2)
        feats = torch.randn(len(verts), 4, dtype=F64, generator=gen, requires_grad=True)
        observed = torch.randn(4, 16, 16, dtype=F64, generator=gen, requires_grad=True)
        t = torch.tensor([[0.01, 0.0, 0.5]], dtype=F64).repeat(3, 1).requires_grad_(True)
        frag = rasterize(verts, faces, K, R, t, (16, 16))
        feature_similarity(frag, feats, observed, method).square().sum().backward()
        grads.append((feats.grad, observed.grad, t.grad))
    for a, b in zip(*grads, strict=True):
        assert a.abs().sum() > 0
        torch.testing.assert_close(a, b)


def test_gradients_reach_features_vertices_and_pose():
    verts, faces = as_tensors(icosphere(2, 0.1), torch.float32)
    verts.requires_grad_(True)
    feats = torch.randn(len(verts), 8, requires_grad=True)
    R = torch.tensor(random_rotations(2, 6), dtype=torch.float32, requires_grad=True)
    t = torch.tensor([[0.01, 0.0, 0.5], [0.0, -0.01, 0.45]], requires_grad=True)
    out = render_features(verts, faces, feats, camera(24, 24, dtype=torch.float32), R, t, (24, 24))
    (out.features.square().sum() + out.depth.sum()).backward()
    for x in (verts, feats, R, t):
        assert x.grad is not None and bool(torch.isfinite(x.grad).all())
        assert x.grad.abs().sum() > 0
    assert out.mask.dtype == torch.bool and out.mask.shape == (2, 24, 24)


def test_descent_on_translation_recovers_the_target_rendering():
    """Render-and-compare: a few Adam steps on t reduce the feature L2 loss and the t error."""
    verts, faces = as_tensors(icosphere(2, 0.1), torch.float32)
    feats = verts / 0.1  # smooth features: the unit normal direction
    K = camera(24, 24, dtype=torch.float32)
    R = torch.tensor(random_rotations(1, 7), dtype=torch.float32)
    renderer = FeatureRenderer(faces, (24, 24), K, cull_backfaces=True)
    t_true = torch.tensor([[0.0, 0.0, 0.5]])
    target = renderer.render(verts, feats, R, t_true).features.detach()
    t = (t_true + torch.tensor([[0.02, -0.015, 0.04]])).requires_grad_(True)
    opt = torch.optim.Adam([t], lr=3e-3)
    losses = []
    for _ in range(25):
        loss = (renderer.render(verts, feats, R, t).features - target).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0]
    assert (t - t_true).norm() < 0.5 * 0.05


def test_soft_silhouette_descent_moves_the_object_onto_the_target_mask():
    verts, faces = as_tensors(icosphere(2, 0.1), torch.float32)
    K = camera(24, 24, dtype=torch.float32)
    R = torch.eye(3)[None]
    target = rasterize(verts, faces, K, R, torch.tensor([[0.0, 0.0, 0.5]]), (24, 24)).mask
    t = torch.tensor([[0.04, -0.03, 0.5]], requires_grad=True)
    opt = torch.optim.Adam([t], lr=4e-3)
    first = None
    for _ in range(25):
        sil = soft_silhouette(verts, faces, K, R, t, (24, 24), sigma=1.0)
        loss = (sil - target.float()).square().sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    assert loss.item() < 0.3 * first
    assert abs(t[0, 0].item()) < 0.01 and abs(t[0, 1].item()) < 0.01


def test_soft_silhouette_values():
    verts, faces = as_tensors(icosphere(3, 0.1))
    K = camera(40, 40)
    R, t = torch.eye(3, dtype=F64)[None], torch.tensor([[0.0, 0.0, 0.5]], dtype=F64)
    frag = rasterize(verts, faces, K, R, t, (40, 40))
    sil = soft_silhouette(verts, faces, K, R, t, (40, 40), sigma=0.5, fragments=frag)
    cached = FeatureRenderer(faces, (40, 40), K).silhouette(verts, R, t, sigma=0.5)
    torch.testing.assert_close(cached, sil)
    inside, outside = sil[frag.mask], sil[~frag.mask]
    assert bool((inside > 0.5).all()) and bool((outside < 0.5).all())
    # no dips inside a convex silhouette: pixels 3+ px from the rim are (almost) exactly 1
    yy, xx = torch.meshgrid(torch.arange(40.0), torch.arange(40.0), indexing="ij")
    radius = K[0, 0] * 0.1 / (0.5**2 - 0.1**2) ** 0.5  # px, perspective image of a sphere
    r = torch.hypot(xx - K[0, 2], yy - K[1, 2])
    assert bool((sil[0][r < radius - 3] > 0.997).all())
    assert bool((sil[0][r > radius + 3] < 0.003).all())
    # the value follows the distance to the rim: about sigmoid(+-d / sigma)
    ring = (r - radius).abs() < 1.0
    expected = torch.sigmoid((radius - r) / 0.5)[ring]
    assert (sil[0][ring] - expected).abs().max() < 0.15  # polygonal rim vs the circle


def test_gradcheck_soft_silhouette_wrt_translation():
    verts, faces = as_tensors(icosphere(1, 0.1))
    K = camera(12, 12)
    R = axis_angle_to_matrix(torch.tensor([[0.2, 0.1, -0.3]], dtype=F64))
    t = torch.tensor([[0.004, -0.003, 0.5]], dtype=F64, requires_grad=True)

    def sil(tr):
        return soft_silhouette(verts, faces, K, R, tr, (12, 12), sigma=0.8)

    out = sil(t)
    assert ((out > 0.01) & (out < 0.99)).sum() > 10  # many pixels in the soft band
    assert torch.autograd.gradcheck(sil, (t,), eps=1e-6, atol=1e-6)


def test_cube_visibility_near_side_visible_far_side_not():
    verts, faces = as_tensors(box([0.1, 0.1, 0.1], max_step=0.025))
    K = camera(32, 32)
    R = torch.eye(3, dtype=F64)[None]  # faces the camera along the model z axis
    t = torch.tensor([[0.0, 0.0, 0.4]], dtype=F64)
    z = verts[:, 2]
    near, far = z == -0.05, z == 0.05
    for test in ("plane", "pixel"):
        vis = vertex_visibility(verts, faces, K, R, t, (32, 32), depth_test=test)[0]
        assert bool(vis[near].all()), test
        assert not vis[far].any(), test
    renderer = FeatureRenderer(faces, (32, 32), K, cull_backfaces=True)
    expected = vertex_visibility(verts, faces, K, R, t, (32, 32), cull_backfaces=True)
    assert torch.equal(renderer.visibility(verts, R, t), expected)
    # tilted: the side wall turned towards the camera becomes visible, the opposite one does not
    R = axis_angle_to_matrix(torch.tensor([[0.0, 0.5, 0.0]], dtype=F64))
    vis = vertex_visibility(verts, faces, K, R, t, (32, 32), backface_test=True)[0]
    x, y = verts[:, 0], verts[:, 1]
    within = (y.abs() < 0.05) & (z.abs() < 0.05)  # wall interiors, away from shared edges
    walls = [(x == -0.05) & within, (x == 0.05) & within]
    depth = (verts @ R[0].T)[:, 2]
    seen, hidden = sorted(walls, key=lambda wall: depth[wall].mean().item())
    assert bool(vis[seen].all()) and not vis[hidden].any()
    assert not vis[far & (x.abs() < 0.05) & (y.abs() < 0.05)].any()


def test_visibility_of_vertices_outside_the_image():
    verts, faces = as_tensors(icosphere(1, 0.1))
    K = camera(16, 16)
    t = torch.tensor([[0.3, 0.0, 0.5]], dtype=F64)  # mostly off the right edge
    vis = vertex_visibility(verts, faces, K, torch.eye(3, dtype=F64)[None], t, (16, 16))
    u = verts[:, 0] * K[0, 0] / (0.5 + verts[:, 2]) + K[0, 2] + 0.3 * K[0, 0] / (0.5 + verts[:, 2])
    assert not vis[0][u > 15.5].any()


def test_feature_renderer_errors():
    verts, faces = as_tensors(icosphere(1, 0.1), torch.float32)
    renderer = FeatureRenderer(faces, (8, 8))
    R, t = torch.eye(3)[None], torch.tensor([[0.0, 0.0, 0.5]])
    with pytest.raises(InputError, match="K: expected a camera matrix"):
        renderer.rasterize(verts, R, t)
    frag = renderer.rasterize(verts, R, t, K=camera(8, 8, dtype=torch.float32))
    with pytest.raises(InputError, match=r"attributes: expected \[42 x \?\]"):
        interpolate(frag, torch.zeros(5, 3))
    with pytest.raises(InputError, match="expected float32 like the vertices"):
        interpolate(frag, torch.zeros(42, 3, dtype=F64))
    with pytest.raises(InputError, match=r"feature_map: expected \[3 x 8 x 8\]"):
        feature_similarity(frag, torch.zeros(42, 3), torch.zeros(3, 8, 9))
    with pytest.raises(InputError, match="depth_test"):
        vertex_visibility(
            verts, faces, camera(8, 8, dtype=torch.float32), R, t, (8, 8), depth_test="bilinear"
        )


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    verts, faces = as_tensors(icosphere(2, 0.1), torch.float32)
    R = torch.tensor(random_rotations(8, 9), dtype=torch.float32)
    t = torch.tensor([[0.0, 0.0, 0.5]]).repeat(8, 1)
    K = camera(32, 32, dtype=torch.float32)
    feats = torch.randn(len(verts), 16)
    cpu = render_features(verts, faces, feats, K, R, t, (32, 32))
    dev = [x.cuda() for x in (verts, faces, feats, K, R, t)]
    gpu = render_features(*dev, (32, 32))
    assert (gpu.fragments.pix_to_face.cpu() != cpu.fragments.pix_to_face).float().mean() < 1e-3
    torch.testing.assert_close(gpu.depth.cpu(), cpu.depth, atol=1e-4, rtol=0)
    grads = []
    for device in ("cpu", "cuda"):
        t_dev = t.to(device).requires_grad_(True)
        frag = rasterize(
            verts.to(device), faces.to(device), K.to(device), R.to(device), t_dev, (32, 32)
        )
        observed = torch.ones(16, 32, 32, device=device)
        feature_similarity(frag, feats.to(device), observed).sum().backward()
        grads.append(t_dev.grad.cpu())
    torch.testing.assert_close(grads[1], grads[0], atol=1e-3, rtol=1e-3)
