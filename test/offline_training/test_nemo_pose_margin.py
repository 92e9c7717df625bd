"""Pose-margin loss: perturbations, the feature camera, and that the truth wins on oracle maps."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from offline_training.cse.losses import feature_K as feature_intrinsics
from offline_training.nemo.pose_margin import (
    crop_observation,
    instance_stretch,
    perturb_rotations,
    pose_margin_loss,
    refine_turns,
    symmetry_axis,
    turn_negatives,
    turn_render_matrices,
)
from offline_training.nemo.train import train
from offline_training.nemo.train_config import TrainConfig
from offline_training.synthetic.dataset import DatasetConfig, generate_dataset
from ros_pose_estimation.core.camera import Intrinsics
from ros_pose_estimation.core.errors import ConfigError
from ros_pose_estimation.core.rotations import geodesic_angle, viewpoint_to_matrix
from ros_pose_estimation.nemo.model import NemoConfig, NemoModel
from ros_pose_estimation.nemo.scoring import oracle_features

STRIDE, CROP = 8, 128


@pytest.fixture(scope="module")
def model() -> NemoModel:
    torch.manual_seed(0)
    return NemoModel(
        NemoConfig("mug", backbone="tiny", dim=16, crop_size=CROP, n_vertices=200, n_clutter=64)
    )


def _crop_camera(b: int) -> torch.Tensor:
    K = torch.tensor([[320.0, 0.0, 63.5], [0.0, 320.0, 63.5], [0.0, 0.0, 1.0]])
    return K.expand(b, 3, 3).clone()


def _poses(b: int) -> tuple[torch.Tensor, torch.Tensor]:
    views = [viewpoint_to_matrix(0.3 + 0.9 * i, 0.35, 0.05 * i) for i in range(b)]
    R = torch.as_tensor(np.stack(views), dtype=torch.float32)
    return R, torch.tensor([[0.0, 0.0, 0.6]]).repeat(b, 1)


def test_feature_intrinsics_are_the_crop_camera_scaled_by_the_stride():
    K = _crop_camera(1)
    expected = Intrinsics.from_K(K[0].numpy(), CROP, CROP).scaled(1.0 / STRIDE).K
    np.testing.assert_allclose(feature_intrinsics(K, STRIDE)[0].numpy(), expected, atol=1e-6)


def test_symmetry_axis_and_crop_observation():
    assert symmetry_axis("mug") is None
    assert torch.allclose(symmetry_axis("bottle"), torch.tensor([0.0, 0.0, 1.0]))
    fmap = torch.nn.functional.normalize(torch.randn(2, 8, 16, 16), dim=1)
    obs = crop_observation(fmap, _crop_camera(2), STRIDE, torch.zeros(0, 8))
    assert obs.size == (16, 16) and obs.box_side.tolist() == [16.0, 16.0]
    assert obs.anchor[0].tolist() == [7.5, 7.5]


def test_perturbations_have_the_drawn_angles_within_the_range():
    R, _ = _poses(5)
    gen = torch.Generator().manual_seed(0)
    R_pert, angle = perturb_rotations(R, 7, 2.0, 30.0, gen)
    assert R_pert.shape == (35, 3, 3) and angle.shape == (35,)
    got = geodesic_angle(R.repeat_interleave(7, 0), R_pert)
    np.testing.assert_allclose(got.numpy(), angle.numpy(), atol=1e-4)
    deg = np.degrees(angle.numpy())
    assert deg.min() >= 2.0 - 1e-4 and deg.max() <= 30.0 + 1e-4
    assert np.median(deg) < 10.0  # log-uniform: the median is sqrt(2 * 30) ~ 7.7 deg
    with pytest.raises(ConfigError):
        perturb_rotations(R, 2, 10.0, 5.0, gen)


def test_no_perturbation_turns_about_a_continuous_symmetry_axis():
    R, _ = _poses(4)
    axis = symmetry_axis("bottle")
    gen = torch.Generator().manual_seed(1)
    R_pert, angle = perturb_rotations(R, 6, 5.0, 20.0, gen, symmetry_axis=axis)
    Rn = R.repeat_interleave(6, 0)
    delta = R_pert @ Rn.transpose(1, 2)  # exp(a k^) in the camera frame
    # the rotation's axis k is orthogonal to the symmetry axis seen in the camera frame
    k = torch.stack([delta[:, 2, 1] - delta[:, 1, 2], delta[:, 0, 2] - delta[:, 2, 0],
                     delta[:, 1, 0] - delta[:, 0, 1]], -1)  # fmt: skip
    s = (Rn @ axis[:, None])[..., 0]
    cos = (torch.nn.functional.normalize(k, dim=-1) * s).sum(-1)
    assert cos.abs().max() < 1e-4
    assert (angle > math.radians(5.0) - 1e-6).all()


def test_the_truth_wins_on_its_own_oracle_features_and_loses_on_another_poses(model):
    R, t = _poses(4)
    K = _crop_camera(4)
    gen = torch.Generator().manual_seed(0)
    feats = oracle_features(model.mesh, R, t, feature_intrinsics(K, STRIDE), (16, 16))
    loss, stats = pose_margin_loss(model.mesh, feats, K, R, t, STRIDE, "mug", gen,
                                   n_poses=8, min_deg=5.0, max_deg=30.0)  # fmt: skip
    assert stats["margin_win"] == 1.0
    assert loss.item() < 0.5 * math.log(2.0)
    # the features of a pose 25 deg away: the label no longer wins every pair
    R_off = torch.as_tensor(np.stack([viewpoint_to_matrix(0.3 + 0.9 * i + math.radians(25),
                                                          0.35, 0.05 * i) for i in range(4)]),
                            dtype=torch.float32)  # fmt: skip
    wrong = oracle_features(model.mesh, R_off, t, feature_intrinsics(K, STRIDE), (16, 16))
    gen = torch.Generator().manual_seed(0)
    worse, worse_stats = pose_margin_loss(model.mesh, wrong, K, R, t, STRIDE, "mug", gen,
                                          n_poses=8, min_deg=5.0, max_deg=30.0)  # fmt: skip
    assert worse_stats["margin_win"] < 0.9
    assert worse.item() > loss.item()


def test_turns_about_up_leave_out_the_instances_symmetries():
    R, _ = _poses(3)
    turns = (90.0, 180.0, 270.0)
    long_box = torch.tensor([[0.3, 0.1, 0.1]]).repeat(3, 1)
    turned, angle, valid = turn_negatives(R, turns, "box", long_box)
    assert turned.shape == (9, 3, 3) and angle.tolist() == [90.0, 180.0, 270.0] * 3
    # turned about the model's +z: the up axis stays, x goes to y
    up = torch.tensor([0.0, 0.0, 1.0])
    assert torch.allclose(turned[0] @ up, R[0] @ up, atol=1e-6)
    assert torch.allclose(turned[0] @ torch.tensor([1.0, 0.0, 0.0]), R[0][:, 1], atol=1e-6)
    # the box's half turn is a symmetry; its quarter turns are wrong poses
    assert valid.tolist() == [True, False, True] * 3
    square = torch.tensor([[0.3, 0.299, 0.1]]).repeat(3, 1)  # within 1 %: quarter turns too
    assert not turn_negatives(R, turns, "box", square)[2].any()
    assert turn_negatives(R, turns, "mug", None)[2].all()
    assert not turn_negatives(R, turns, "bottle", None)[2].any()


def test_a_quarter_turn_of_a_stretched_box_keeps_its_extents_in_the_camera():
    torch.manual_seed(0)
    box = NemoModel(NemoConfig("box", backbone="tiny", dim=16, crop_size=CROP, n_vertices=200,
                               n_clutter=64, per_axis_scale=True))  # fmt: skip
    R, _ = _poses(2)
    size = torch.tensor([[0.30, 0.12, 0.08], [0.20, 0.15, 0.10]])
    M, valid = turn_render_matrices(box.mesh, R, (90.0, 180.0), "box", size, 0.05)
    assert valid.tolist() == [True, False, True, False]
    verts = box.mesh.vertices
    for b in range(2):
        truth = verts @ (R[b] * instance_stretch(box.mesh, size[b:b + 1], 0.05)).T
        quarter, half = verts @ M[2 * b].T, verts @ M[2 * b + 1].T
        for other in (quarter, half):  # the same cuboid in the camera, another vertex order
            assert torch.allclose(other.amax(0), truth.amax(0), atol=1e-5)
            assert torch.allclose(other.amin(0), truth.amin(0), atol=1e-5)
        assert not torch.allclose(quarter, truth, atol=1e-3)
    # without the per-axis fit the turn is only the rotation
    plain, _ = turn_render_matrices(box.mesh, R, (90.0,), "box", size)
    assert torch.allclose(plain, turn_negatives(R, (90.0,), "box", size)[0])
    with pytest.raises(ConfigError, match="sizes"):
        turn_render_matrices(box.mesh, R, (90.0,), "box", None, 0.05)
    # refined, with the proportions free: the half turn stays out, the fit starts from the
    # quarter turn's extents and keeps a cuboid of the instance's proportions nearby
    t = torch.tensor([[0.0, 0.0, 1.2]]).repeat(2, 1)
    K = _crop_camera(2)
    M0 = R * instance_stretch(box.mesh, size, 0.05)[:, None]
    feats = oracle_features(box.mesh, M0, t, feature_intrinsics(K, STRIDE), (16, 16))
    obs = crop_observation(feats, K, STRIDE, box.mesh.clutter)
    M_ref, t_ref, valid_ref = refine_turns(box.mesh, obs, R, t, (90.0, 180.0), "box", size, 0.05)
    assert M_ref.shape == (4, 3, 3) and not valid_ref[1] and not valid_ref[3]
    assert torch.isfinite(M_ref).all() and (t_ref[:, 2] > 0).all()


def test_the_truth_beats_its_turns_on_oracle_features(model):
    R, t = _poses(4)
    K = _crop_camera(4)
    feats = oracle_features(model.mesh, R, t, feature_intrinsics(K, STRIDE), (16, 16))
    loss, stats = pose_margin_loss(model.mesh, feats, K, R, t, STRIDE, "mug",
                                   torch.Generator().manual_seed(0), n_poses=2,
                                   turns_deg=(90.0, 180.0, 270.0))  # fmt: skip
    assert stats["margin_turn_win"] == 1.0 and math.isfinite(loss.item())
    # features of the mug turned half round: its half turn now beats the label
    half = R @ torch.tensor([[-1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]])
    wrong = oracle_features(model.mesh, half, t, feature_intrinsics(K, STRIDE), (16, 16))
    _, stats = pose_margin_loss(model.mesh, wrong, K, R, t, STRIDE, "mug",
                                torch.Generator().manual_seed(0), n_poses=2,
                                turns_deg=(180.0,))  # fmt: skip
    assert stats["margin_turn_win"] == 0.0
    # a bottle has no wrong turn: no turn pair, the random ones still count
    _, stats = pose_margin_loss(model.mesh, feats, K, R, t, STRIDE, "bottle",
                                torch.Generator().manual_seed(0), n_poses=2,
                                turns_deg=(90.0,))  # fmt: skip
    assert math.isnan(stats["margin_turn_win"]) and 0.0 <= stats["margin_win"] <= 1.0


def test_refined_turns_are_wrong_poses_that_fit_better_than_the_plain_turn(model):
    R, t = _poses(4)
    K = _crop_camera(4)
    fk = feature_intrinsics(K, STRIDE)
    feats = oracle_features(model.mesh, R, t, fk, (16, 16))
    obs = crop_observation(feats, K, STRIDE, model.mesh.clutter)
    turns = (90.0, 180.0)
    M, t_ref, valid = refine_turns(model.mesh, obs, R, t, turns, "mug", None)
    assert M.shape == (8, 3, 3) and t_ref.shape == (8, 3) and valid.shape == (8,)
    from ros_pose_estimation.nemo.scoring import render_compare

    owner = torch.arange(4).repeat_interleave(2)
    refined = render_compare(model.mesh, M, t_ref, obs, owner).loss
    plain = render_compare(model.mesh, turn_negatives(R, turns, "mug", None)[0], t[owner], obs,
                           owner).loss  # fmt: skip
    truth = render_compare(model.mesh, R, t, obs, torch.arange(4)).loss
    assert (refined <= plain + 1e-6).all()  # refinement only lowers the loss
    assert (truth[owner][valid] < refined[valid]).all()  # on oracle features the truth wins
    # a refined turn is kept only while it stays a wrong pose (> 30 deg off the truth)
    err = geodesic_angle(M[valid], R[owner][valid])
    assert (torch.as_tensor(err) > math.radians(30)).all()
    # the margin with refined turns trains like the plain one
    loss, stats = pose_margin_loss(model.mesh, feats, K, R, t, STRIDE, "mug",
                                   torch.Generator().manual_seed(0), n_poses=1,
                                   turns_deg=turns, refine_preset="default")  # fmt: skip
    assert valid.any() and math.isfinite(loss.item()) and stats["margin_turn_win"] == 1.0


def test_gradients_reach_the_features_and_not_the_vertex_bank(model):
    R, t = _poses(2)
    K = _crop_camera(2)
    feats = torch.nn.functional.normalize(torch.randn(2, 16, 16, 16), dim=1).requires_grad_()
    loss, _ = pose_margin_loss(model.mesh, feats, K, R, t, STRIDE, "mug",
                               torch.Generator().manual_seed(0))  # fmt: skip
    loss.backward()
    assert feats.grad is not None and feats.grad.abs().sum() > 0
    assert model.mesh.features.grad is None
    with pytest.raises(ConfigError):
        pose_margin_loss(model.mesh, feats, K, R, t, STRIDE, "mug",
                         torch.Generator(), temperature=0.0)  # fmt: skip


def test_settings_are_checked():
    for bad in ({"pose_margin_weight": -1.0}, {"pose_margin_poses": 0},
                {"pose_margin_min_deg": 0.0}, {"pose_margin_min_deg": 40.0},
                {"pose_margin_temperature": 0.0},
                {"pose_margin_weight": 1.0, "pose_margin_turns": (0.0,)},
                {"pose_margin_weight": 1.0, "pose_margin_turns": (360.0,)},
                {"pose_margin_turns": (90.0,)},
                {"pose_margin_weight": 1.0, "pose_margin_refine": True}):  # fmt: skip
        with pytest.raises(ConfigError):
            TrainConfig(data="d", category="mug", out="o", **bad)
    with pytest.raises(ConfigError, match="symmetry of a bottle"):
        TrainConfig(data="d", category="bottle", out="o", pose_margin_weight=1.0,
                    pose_margin_turns=(90.0,))  # fmt: skip
    ok = TrainConfig(data="d", category="box", out="o", pose_margin_weight=1.0,
                     pose_margin_turns=[90, 270])  # fmt: skip
    assert ok.pose_margin_turns == (90.0, 270.0)


@pytest.fixture(scope="module")
def bop_root(tmp_path_factory):
    """4 images (96 x 72) of mugs, 2 instances."""
    root = tmp_path_factory.mktemp("pm_bop")
    generate_dataset(DatasetConfig(["mug"], root, images=4, width=96, height=72, instances=2),
                     progress=False)  # fmt: skip
    return root


def test_training_with_the_margin_logs_it(bop_root, tmp_path):
    cfg = TrainConfig(data=str(bop_root), category="mug", out=str(tmp_path / "pm"), steps=3,
                      backbone="tiny", dim=16, crop_size=64, n_vertices=200, n_clutter=64,
                      batch_size=2, num_workers=0, num_threads=1, progress=False, log_every=1,
                      pose_margin_weight=1.0, pose_margin_poses=2)  # fmt: skip
    train(cfg)
    log = [json.loads(line) for line in (tmp_path / "pm" / "log.jsonl").read_text().splitlines()]
    assert len(log) == 3
    for row in log:
        assert 0.0 < row["margin_loss"] and 0.0 <= row["margin_win"] <= 1.0
        assert math.isfinite(row["loss"])
