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
    perturb_rotations,
    pose_margin_loss,
    symmetry_axis,
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
                {"pose_margin_temperature": 0.0}):  # fmt: skip
        with pytest.raises(ConfigError):
            TrainConfig(data="d", category="mug", out="o", **bad)


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
