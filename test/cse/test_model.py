"""CseModel: output shapes, config round trip, initial state, gradients."""

import pytest
import torch

from ros_pose_estimation.core.errors import ConfigError, InputError
from ros_pose_estimation.cse.model import CseConfig, CseModel


def _K(b, size=64, f=100.0):
    K = torch.tensor([[f, 0.0, (size - 1) / 2], [0.0, f, (size - 1) / 2], [0.0, 0.0, 1.0]])
    return K.expand(b, 3, 3).clone()


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return CseModel(CseConfig("mug", backbone="tiny", crop_size=64, n_vertices=200))


def test_output_shapes(model):
    out = model(torch.rand(2, 3, 64, 64), _K(2))
    v = model.n_vertices
    assert abs(v - 200) <= 20
    assert out.features.shape == (2, 64, 16, 16)
    assert torch.allclose(out.features.norm(dim=1), torch.ones(2, 16, 16), atol=1e-5)
    assert out.R.shape == (2, 3, 3) and out.t.shape == (2, 3)
    eye = torch.eye(3).expand(2, 3, 3)
    assert torch.allclose(out.R @ out.R.transpose(1, 2), eye, atol=1e-5)
    assert out.code.shape == (2, 64)
    assert out.vertices.shape == out.offsets.shape == (2, v, 3)
    assert out.embeddings.shape == (2, v, 64)
    assert torch.allclose(out.embeddings.norm(dim=-1), torch.ones(2, v), atol=1e-5)


def test_initial_state_is_the_template_at_the_reference_distance(model):
    out = model(torch.rand(1, 3, 64, 64), _K(1))
    assert torch.allclose(out.vertices[0], model.template, atol=1e-4)  # tiny initial offsets
    z_ref = 100.0 * float(model.diameter) * model.config.crop_scale / 64
    assert torch.allclose(out.t[0], torch.tensor([0.0, 0.0, z_ref]), atol=1e-6)


def test_gradients_reach_every_head(model):
    model.zero_grad()
    out = model(torch.rand(2, 3, 64, 64), _K(2))
    loss = out.features.sum() + out.R.sum() + out.t.sum() + out.vertices.sum()
    (loss + out.embeddings.sum()).backward()
    for name in ("pose_head", "trans_head", "code_head", "deform", "mesh_encoder", "feature_net"):
        grads = [p.grad for p in getattr(model, name).parameters() if p.grad is not None]
        assert grads and any(g.abs().sum() > 0 for g in grads), name


def test_config_round_trip_and_validation():
    cfg = CseConfig("Mug", backbone="tiny")
    assert cfg.category == "mug"
    assert CseConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="unknown CseConfig fields"):
        CseConfig.from_dict({**cfg.to_dict(), "colour": 1})
    with pytest.raises(ConfigError, match="multiple of 32"):
        CseConfig("mug", crop_size=100)


def test_bad_input_raises_input_error(model):
    with pytest.raises(InputError):
        model(torch.rand(2, 3, 64, 48), _K(2))
    with pytest.raises(InputError):
        model(torch.rand(2, 3, 64, 64), _K(3))


def test_efficientnet_truncated_at_stage_3_keeps_stride_4_features_and_round_trips(tmp_path):
    """backbone_stages 3: the stride-32 blocks are not built (a quarter of Lite0's weights);
    the features keep stride 4, the pose heads read the stride-16 stage, checkpoints reload."""
    from ros_pose_estimation.cse.checkpoint import load_checkpoint, save_checkpoint

    cfg = CseConfig("mug", backbone="efficientnet_lite0", backbone_stages=3, fuse_channels=32,
                    crop_size=64)  # fmt: skip
    short = CseModel(cfg)
    full = CseModel(CseConfig("mug", backbone="efficientnet_lite0", fuse_channels=32,
                              crop_size=64))  # fmt: skip
    count = lambda m: sum(p.numel() for p in m.feature_net.parameters())  # noqa: E731
    assert count(short) < 0.5 * count(full)
    assert short.feature_net.backbone.stage_channels[-1] == 112
    out = short(torch.rand(2, 3, 64, 64), torch.eye(3).expand(2, 3, 3) * 80)
    assert out.features.shape == (2, cfg.dim, 16, 16)
    path = save_checkpoint(tmp_path / "mug.pt", short)
    again = load_checkpoint(path)[0]
    assert again.config.backbone_stages == 3
