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


def _ce_case(category: str):
    """Two cells on a ring of vertices, seen by an identity camera at the true pose."""
    verts = torch.tensor([[[0.05, 0.0, 0.0], [0.0, 0.05, 0.0], [-0.05, 0.0, 0.0],
                           [0.0, -0.05, 0.0]]])  # fmt: skip
    K = torch.tensor([[[100.0, 0.0, 0.0], [0.0, 100.0, 0.0], [0.0, 0.0, 1.0]]])
    R, t = torch.eye(3)[None], torch.tensor([[0.0, 0.0, 1.0]])
    # cells at the projections of vertices 0 and 1, depth 1 m
    xy = torch.tensor([[[5.0, 0.0], [0.0, 5.0]]])
    z = torch.ones(1, 2)
    return verts, K, R, t, xy, z


def _peaked(at: list[int], n: int = 4, sharp: float = 50.0):
    logits = torch.zeros(1, len(at), n)
    for i, v in enumerate(at):
        logits[0, i, v] = sharp
    w = torch.softmax(logits, -1)
    from ros_pose_estimation.cse.correspondence import Correspondence

    return Correspondence(w, w, torch.ones(1, len(at), dtype=torch.bool))


def test_nearest_vertex_ce_is_low_on_the_right_vertex_and_log_v_for_a_flat_guess():
    verts, K, R, t, xy, z = _ce_case("mug")
    right = L.nearest_vertex_ce(_peaked([0, 1]), verts, K, xy, z, R, t, "mug")
    wrong = L.nearest_vertex_ce(_peaked([2, 3]), verts, K, xy, z, R, t, "mug")
    flat = L.nearest_vertex_ce(_peaked([0, 1], sharp=0.0), verts, K, xy, z, R, t, "mug")
    assert float(right) < 1e-6 and float(wrong) > 20.0
    assert math.isclose(float(flat), math.log(4), rel_tol=1e-5)


def test_nearest_vertex_ce_accepts_any_vertex_of_the_ring_for_an_axis_symmetric_category():
    """bottle: a prediction on another vertex at the same radius and height is right."""
    verts, K, R, t, xy, z = _ce_case("bottle")
    turned = L.nearest_vertex_ce(_peaked([2, 3]), verts, K, xy, z, R, t, "bottle")
    assert float(turned) < 1e-6
    assert float(L.nearest_vertex_ce(_peaked([2, 3]), verts, K, xy, z, R, t, "mug")) > 20.0


def test_nearest_vertex_ce_accepts_the_labels_turned_by_a_finite_symmetry_group():
    """box (180 deg about x, y, z): vertices 0, 1 turned half a turn about z are 2, 3; a quarter
    turn (1, 2) is no symmetry of a box and a mug has none."""
    verts, K, R, t, xy, z = _ce_case("box")
    assert float(L.nearest_vertex_ce(_peaked([2, 3]), verts, K, xy, z, R, t, "box")) < 1e-6
    assert float(L.nearest_vertex_ce(_peaked([0, 1]), verts, K, xy, z, R, t, "box")) < 1e-6
    assert float(L.nearest_vertex_ce(_peaked([1, 2]), verts, K, xy, z, R, t, "box")) > 20.0
    assert float(L.nearest_vertex_ce(_peaked([2, 3]), verts, K, xy, z, R, t, "mug")) > 20.0


def test_supervised_loss_takes_the_equivalent_pose_of_a_box_and_not_of_a_mug():
    """A prediction at the label's pose turned half a turn about z, with the correspondences
    turned the same way, is exact for a box; for a mug it is wrong in both terms."""
    verts, K, R_gt, t, xy, z = _ce_case("box")
    half = torch.diag(torch.tensor([-1.0, -1.0, 1.0]))[None]  # 180 deg about z
    args = (verts, half, t, K, xy, z, R_gt, t)
    box = L.supervised_loss(_peaked([2, 3], sharp=80.0), *args, "box", 0.1)
    mug = L.supervised_loss(_peaked([2, 3], sharp=80.0), *args, "mug", 0.1)
    assert float(box) < 1e-6 and float(mug) > 1.0
    truth = L.true_model_points(K, xy, z, R_gt, t)
    q = torch.stack([verts[0, 2], verts[0, 3]])[None]
    turned, g = L.nearest_equivalent_truth(truth, q, torch.ones(1, 2, dtype=torch.bool), "box")
    assert torch.allclose(turned, q, atol=1e-6) and torch.allclose(g, half)
    same, eye = L.nearest_equivalent_truth(truth, q, torch.ones(1, 2, dtype=torch.bool), "mug")
    assert torch.equal(same, truth) and torch.equal(eye, torch.eye(3)[None])


def test_labels_of_a_body_of_revolution_turn_rigidly_about_its_axis():
    """nearest_turned_truth: a prediction that is the truth turned by one angle about z is met
    exactly (any azimuth is right); one whose points keep radius and height but disagree on
    the azimuth (each point turned by its own angle) is not, nor are heights; cells outside
    ``ok`` do not count."""
    from ros_pose_estimation.core.rotations import axis_angle_to_matrix

    gen = torch.Generator().manual_seed(0)
    truth = torch.rand(2, 40, 3, generator=gen) - 0.5
    ok = torch.ones(2, 40, dtype=torch.bool)
    turn = torch.stack([axis_angle_to_matrix(torch.tensor([0.0, 0.0, a])) for a in (0.7, -2.5)])
    rigid = truth @ turn.transpose(1, 2)
    torch.testing.assert_close(L.nearest_turned_truth(truth, rigid, ok), rigid)
    angles = torch.rand(2, 40, generator=gen) * 6.28
    c, s = torch.cos(angles), torch.sin(angles)
    x, y = truth[..., 0], truth[..., 1]
    scrambled = torch.stack([c * x - s * y, s * x + c * y, truth[..., 2]], -1)
    fit = L.nearest_turned_truth(truth, scrambled, ok)
    assert float(((fit - scrambled) ** 2).sum(-1).mean()) > 0.01
    torch.testing.assert_close(fit[..., :2].norm(dim=-1), truth[..., :2].norm(dim=-1))
    torch.testing.assert_close(fit[..., 2], truth[..., 2])
    # the scrambled cells hidden: only the rigid half decides the angle
    mixed = torch.cat([rigid[:, :20], scrambled[:, 20:]], 1)
    half = torch.cat([ok[:, :20], ~ok[:, 20:]], 1)
    torch.testing.assert_close(L.nearest_turned_truth(truth, mixed, half)[:, :20], rigid[:, :20])


def test_gravity_prior_zero_upright_four_upside_down_and_pulls_towards_up():
    from ros_pose_estimation.core.rotations import axis_angle_to_matrix

    up = torch.tensor([[0.0, -0.6, -0.8], [0.0, 0.0, 1.0]])  # the fixed frame's up per camera
    # upright: the model's +z is turned onto ``up`` (any turn about it is allowed)
    z = torch.tensor([0.0, 0.0, 1.0])
    axis = torch.linalg.cross(z.expand(2, 3), up)
    angle = torch.acos((up @ z).clamp(-1, 1))
    R = axis_angle_to_matrix(axis / axis.norm(dim=1, keepdim=True).clamp(min=1e-9)
                             * angle[:, None])  # fmt: skip
    R[1] = torch.eye(3)
    spin = axis_angle_to_matrix(torch.tensor([0.0, 0.0, 1.3]))
    assert L.gravity_prior(R @ spin, up) < 1e-10
    flip = axis_angle_to_matrix(torch.tensor([math.pi, 0.0, 0.0]))
    assert abs(float(L.gravity_prior(R @ flip, up)) - 4.0) < 1e-5
    tilt = axis_angle_to_matrix(torch.tensor([0.3, 0.0, 0.0])).requires_grad_(True)
    loss = L.gravity_prior(tilt[None], torch.tensor([[0.0, 0.0, 1.0]]))
    loss.backward()
    assert loss > 0 and tilt.grad.abs().sum() > 0


def test_stretched_labels_map_the_instance_box_onto_the_template():
    """A per_axis_scale model's labels: the true model point scaled per axis by template /
    instance extents (the instance's corner lands on the template's corner)."""
    K = torch.tensor([[[100.0, 0, 32], [0, 100.0, 32], [0, 0, 1]]])
    R, t = torch.eye(3)[None], torch.tensor([[0.0, 0.0, 1.0]])
    corner = torch.tensor([0.15, -0.05, -0.2])  # of a 0.3 x 0.1 x 0.4 box at 1 m
    cam = corner + t[0]
    xy = (cam[:2] / cam[2] * 100.0 + 32.0)[None, None]
    z = cam[2].reshape(1, 1)
    stretch = torch.tensor([[0.2 / 0.3, 0.12 / 0.1, 0.1 / 0.4]])
    plain = L.true_model_points(K, xy, z, R, t)
    stretched = L.true_model_points(K, xy, z, R, t, stretch)
    assert torch.allclose(plain[0, 0], corner, atol=1e-6)
    assert torch.allclose(stretched[0, 0], torch.tensor([0.1, -0.06, -0.05]), atol=1e-6)
