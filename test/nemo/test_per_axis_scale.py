"""A neural mesh scaled per axis (``NemoConfig.per_axis_scale``): in training each instance's
mesh is the category mesh stretched to its extents, at inference two proportions are refined
with the pose. Oracle feature maps of a stretched box (``scoring.oracle_features`` drawn with
``R diag(stretch)``) must give back its rotation and its proportions."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from ros_pose_estimation.core.camera import Intrinsics
from ros_pose_estimation.core.crops import detection_crop
from ros_pose_estimation.core.errors import ConfigError, InputError
from ros_pose_estimation.core.estimation import Detection, PoseEstimate
from ros_pose_estimation.core.metrics import rotation_error_deg
from ros_pose_estimation.core.rotations import axis_angle_to_matrix, viewpoint_to_matrix
from ros_pose_estimation.nemo.estimator import NemoEstimator, feature_camera, typical_size
from ros_pose_estimation.nemo.model import NemoConfig, NemoModel
from ros_pose_estimation.nemo.pose_param import (
    MAX_LOG_PROPORTION,
    compose_pose,
    initial_params,
    stretch_of,
)
from ros_pose_estimation.nemo.presets import InferenceConfig
from ros_pose_estimation.nemo.refine_state import RowBatch, with_proportion_prior
from ros_pose_estimation.nemo.scoring import CompareResult, Observation, oracle_features
from test.nemo.test_estimator import OracleNet, smooth_features

INTR = Intrinsics(500.0, 500.0, 319.5, 239.5, 640, 480)
IMAGE = np.zeros((480, 640, 3), np.uint8)
#: instances of other proportions than the box template's (y / x 0.6, z / x 0.5)
STRETCHES = [(1.0, 1.45, 2.2), (1.0, 0.6, 0.5), (1.0, 1.2, 1.6)]


def _model(per_axis: bool) -> NemoModel:
    torch.manual_seed(0)
    cfg = NemoConfig("box", backbone="tiny", dim=16, crop_size=128, n_vertices=300,
                     per_axis_scale=per_axis)  # fmt: skip
    m = NemoModel(cfg)
    m.mesh.features.copy_(smooth_features(m.mesh.vertices, cfg.dim))
    m.feature_net = OracleNet()
    return m


def _scene(model: NemoModel):
    """True rotations and the detections of the stretched boxes; sets the oracle maps."""
    rng = np.random.default_rng(3)
    cfg = model.config
    corners = np.array(np.meshgrid([-1, 1], [-1, 1], [-1, 1])).reshape(3, -1).T
    half = typical_size(model).double().numpy() / 2
    poses, dets, Ks, maps_R, ts = [], [], [], [], []
    for i, s in enumerate(STRETCHES):
        R = viewpoint_to_matrix(rng.uniform(0.3, 1.2), math.radians(rng.uniform(20, 45)), 0.0)
        t = np.array([0.3 * (i - 1), rng.uniform(-0.05, 0.05), rng.uniform(0.9, 1.1)])
        uv = INTR.project((corners * half * np.array(s)) @ R.T + t)
        det = Detection("box", np.concatenate([uv.min(0), uv.max(0)]))
        crop = detection_crop(det.box_xyxy, INTR, cfg.crop_size, cfg.crop_scale)
        poses.append((R, t))
        dets.append(det)
        Ks.append(feature_camera(crop, cfg))
        maps_R.append(R * np.array(s)[None, :])  # R diag(s): the stretched mesh
        ts.append(t)
    as_t = lambda a: torch.tensor(np.stack(a), dtype=torch.float32)  # noqa: E731
    size = (cfg.feature_size, cfg.feature_size)
    model.feature_net.maps = oracle_features(model.mesh, as_t(maps_R), as_t(ts), as_t(Ks), size)
    return poses, dets


def test_stretch_of_and_the_rows_with_proportions():
    x = initial_params(torch.tensor([1.0, 2.0]), shape=True)
    assert x.shape == (2, 8) and torch.all(x[:, 6:] == 0)
    assert initial_params(torch.tensor([1.0])).shape == (1, 6)
    x[0, 6:] = torch.tensor([math.log(2.0), math.log(0.5)])
    torch.testing.assert_close(stretch_of(x), torch.tensor([[1.0, 2.0, 0.5], [1.0, 1.0, 1.0]]))
    # proportions y / x, z / x as given; the extents' geometric mean is the category mesh's
    x[1, 6:] = torch.tensor([0.3, 0.6])
    s = stretch_of(x)[1]
    torch.testing.assert_close(s[1:] / s[0], torch.exp(torch.tensor([0.3, 0.6])))
    torch.testing.assert_close(s.prod(), torch.tensor(1.0))
    torch.testing.assert_close(stretch_of(x[:, :6]), torch.ones(2, 3))
    with pytest.raises(InputError, match="6 or 8"):
        compose_pose(torch.zeros(1, 7), torch.eye(3)[None], torch.eye(3)[None],
                     torch.zeros(1, 2), 1.0)  # fmt: skip


def test_row_batch_draws_the_stretched_mesh_and_bounds_the_proportions():
    obs = Observation(torch.zeros(1, 4, 8, 8), torch.zeros(1, 8, 8),
                      torch.eye(3)[None], torch.zeros(1, 2), torch.ones(1))  # fmt: skip
    x0 = initial_params(torch.tensor([1.0]), shape=True)
    x0[0, 6:] = torch.tensor([0.3, -0.2])
    rows = RowBatch(obs, x0[:, None], torch.eye(3)[None, None])
    R, _ = rows.pose(rows.x0, torch.tensor([0]))
    m = (0.3 - 0.2) / 3
    stretched = torch.diag(torch.tensor([math.exp(-m), math.exp(0.3 - m), math.exp(-0.2 - m)]))
    torch.testing.assert_close(R[0], stretched)
    far = rows.clamp(torch.full((1, 8), 9.0), torch.tensor([0]))
    assert float(far[0, 6]) == float(far[0, 7]) == MAX_LOG_PROPORTION


def test_refined_proportions_give_the_rotation_and_size_of_other_boxes():
    free, fixed = _model(True), _model(False)
    config = InferenceConfig(upright=False, view_correction=False)
    poses, dets = _scene(free)
    out = NemoEstimator({"box": free}, config).estimate(IMAGE, dets, INTR)
    _scene(fixed)
    rigid = NemoEstimator({"box": fixed}, config).estimate(IMAGE, dets, INTR)
    typical = typical_size(free).double().numpy()
    for est, rig, (R, _), s in zip(out, rigid, poses, STRETCHES, strict=True):
        err = float(rotation_error_deg(est.R, R, "box"))
        assert err < 5.0, err
        assert est.size[0] >= est.size[1]  # the box frame: x along the longer horizontal edge
        assert np.allclose(est.R @ est.R.T, np.eye(3), atol=1e-5)
        truth = typical * np.array(s)
        # proportions of the solved box (x and y may have been relabelled)
        assert np.allclose(np.sort(est.size[:2]) / est.size[2], np.sort(truth[:2]) / truth[2],
                           rtol=0.08), (est.size, truth)  # fmt: skip
        assert rig.loss > est.loss  # a mesh of the template's proportions fits them worse
    errs_rigid = [float(rotation_error_deg(e.R, p[0], "box"))
                  for e, p in zip(rigid, poses, strict=True)]  # fmt: skip
    assert min(errs_rigid) > 8.0, errs_rigid  # the template's proportions cannot fit them


def test_per_axis_scale_needs_a_convex_mesh():
    with pytest.raises(ConfigError, match="convex"):
        NemoConfig("box", backbone="tiny", mesh_kind="template", per_axis_scale=True)
    assert dataclasses.asdict(NemoConfig("box", backbone="tiny"))["per_axis_scale"] is False


def test_refine_from_starts_at_the_tracks_proportions_and_size():
    model = _model(True)
    poses, dets = _scene(model)
    config = InferenceConfig(upright=False, view_correction=False)
    estimator = NemoEstimator({"box": model}, config)
    typical = typical_size(model).double().numpy()
    turn = axis_angle_to_matrix(np.radians(8.0) * np.array([0.6, 0.0, 0.8]))
    # a twice as large instance twice as far looks the same: t and size come back scaled
    starts = [PoseEstimate("box", R @ turn, 2.0 * t, 1.0, 2.0 * typical * np.array(s))
              for (R, t), s in zip(poses, STRETCHES, strict=True)]  # fmt: skip
    out, start_losses = estimator.refine_from(IMAGE, dets, INTR, starts)
    for est, (R, t), s, loss in zip(out, poses, STRETCHES, start_losses, strict=True):
        assert float(rotation_error_deg(est.R, R, "box")) < 5.0
        assert np.linalg.norm(est.t - 2.0 * t) < 0.08, (est.t, 2.0 * t)
        truth = 2.0 * typical * np.array(s)
        assert np.allclose(np.sort(est.size[:2]), np.sort(truth[:2]), rtol=0.1), (est.size, truth)
        assert est.loss < loss


def test_proportion_prior_adds_an_exact_quadratic_and_pulls_to_the_category():
    """``w / 2 |a|^2`` on the loss, with its exact gradient and Hessian for Levenberg-Marquardt;
    a strong prior keeps the category's proportions, a weak one leaves the fit as it was."""
    x = torch.tensor([[0.1, 0.0, 0.0, 0.0, 0.0, 0.0, 0.4, -0.3]], requires_grad=True)
    res = CompareResult(torch.tensor([1.0]), torch.tensor([0.5]), torch.tensor([10.0]))
    g0, H0 = torch.zeros(1, 8), torch.zeros(1, 8, 8)
    out, g, H = with_proportion_prior(res, x, 2.0, g0, H0)
    assert float(out.loss.detach()) == pytest.approx(1.0 + 0.25)
    (auto,) = torch.autograd.grad(out.loss.sum(), x)
    torch.testing.assert_close(g, auto.detach())
    torch.testing.assert_close(H[0, 6:, 6:], 2.0 * torch.eye(2))
    assert float(H[0, :6].abs().sum()) == 0.0 and float(g0.abs().sum()) == 0.0  # not in place
    model = _model(True)
    poses, dets = _scene(model)
    base = InferenceConfig(upright=False, view_correction=False)
    size_of = lambda e: np.log(e.size[2] / np.sort(e.size[:2]))  # noqa: E731
    typical = typical_size(model).double().numpy()
    free = NemoEstimator({"box": model}, base).estimate(IMAGE, dets, INTR)
    weak = NemoEstimator({"box": model}, dataclasses.replace(base, proportion_prior=1e-4))
    strong = NemoEstimator({"box": model}, dataclasses.replace(base, proportion_prior=100.0))
    category = size_of(PoseEstimate("box", np.eye(3), np.zeros(3), 1.0, typical))
    for f, w, s in zip(free, weak.estimate(IMAGE, dets, INTR),
                       strong.estimate(IMAGE, dets, INTR), strict=True):  # fmt: skip
        assert np.allclose(size_of(w), size_of(f), atol=0.05)
        assert np.abs(size_of(s) - category).max() < 0.1 < np.abs(size_of(f) - category).max()
    with pytest.raises(ConfigError, match="proportion_prior"):
        NemoEstimator({"box": model}, dataclasses.replace(base, proportion_prior=-1.0)).estimate(
            IMAGE, dets, INTR)
