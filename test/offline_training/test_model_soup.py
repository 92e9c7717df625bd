"""average-models: the weight average of models of one lineage, refused across lineages."""

import copy

import numpy as np
import pytest
import torch

from offline_training.model_soup import main, soup, soup_weights
from ros_pose_estimation.core.errors import CheckpointError, ConfigError
from ros_pose_estimation.core.view_correction import ViewCorrection
from ros_pose_estimation.cse import checkpoint as cse_ckpt
from ros_pose_estimation.cse.model import CseConfig, CseModel
from ros_pose_estimation.nemo import checkpoint as nemo_ckpt
from ros_pose_estimation.nemo.model import NemoConfig, NemoModel


def _nemo_pair(tmp_path):
    """A tiny NeMo model and a 'fine-tuned' copy (every weight and vertex feature moved)."""
    torch.manual_seed(0)
    a = NemoModel(NemoConfig("mug", backbone="tiny", dim=16, crop_size=64, n_vertices=200))
    b = copy.deepcopy(a)
    with torch.no_grad():
        for p in b.feature_net.parameters():
            p.add_(0.1 * torch.randn_like(p))
        for buf in b.feature_net.buffers():
            if buf.is_floating_point():
                buf.mul_(1.5)
            else:
                buf.add_(7)  # batch-norm step counters
        b.mesh.features.copy_(torch.nn.functional.normalize(
            b.mesh.features + 0.5 * torch.randn_like(b.mesh.features), dim=1))  # fmt: skip
        b.mesh.clutter.copy_(torch.nn.functional.normalize(torch.randn_like(b.mesh.clutter),
                                                           dim=1))  # fmt: skip
    views = np.array([[0.0, 0.3, 0.0], [1.0, 0.5, 0.0]], dtype=np.float32)
    b.view_correction = ViewCorrection("mug", views, np.zeros_like(views), 0.1)
    pa = nemo_ckpt.save_checkpoint(tmp_path / "a.pt", a, {"step": 1000})
    pb = nemo_ckpt.save_checkpoint(tmp_path / "b.pt", b, {"step": 2000})
    return a, b, pa, pb


def test_nemo_soup_averages_weights_and_unit_features(tmp_path):
    a, b, pa, pb = _nemo_pair(tmp_path)
    out = soup([pa, pb], tmp_path / "soup.pt", weights=[3, 1])
    model, meta = nemo_ckpt.load_checkpoint(out, category="mug")  # strict: all keys, shapes
    sa, sb, ss = (m.feature_net.state_dict() for m in (a, b, model))
    for key, value in ss.items():
        if key.endswith("num_batches_tracked"):
            assert value == sb[key]  # the larger counter
        else:
            torch.testing.assert_close(value, 0.75 * sa[key] + 0.25 * sb[key])
    expect = torch.nn.functional.normalize(0.75 * a.mesh.features + 0.25 * b.mesh.features, dim=1)
    torch.testing.assert_close(model.mesh.features, expect)
    norms = model.mesh.features.norm(dim=1)
    torch.testing.assert_close(norms, torch.ones_like(norms))
    # the clutter bank: interleaved, its size kept
    torch.testing.assert_close(model.mesh.clutter[0::2], a.mesh.clutter[0::2])
    torch.testing.assert_close(model.mesh.clutter[1::2], b.mesh.clutter[1::2])
    torch.testing.assert_close(model.mesh.vertices, a.mesh.vertices)
    # no view correction: it is not the average's; the lineage is recorded
    assert model.view_correction is None
    assert "view_correction" not in torch.load(out, weights_only=True)
    assert meta["soup_of"] == [str(pa), str(pb)] and meta["soup_weights"] == [0.75, 0.25]
    assert meta["step"] == 2000


def test_soup_of_one_weighted_model_is_that_model(tmp_path):
    a, _, pa, pb = _nemo_pair(tmp_path)
    model, _ = nemo_ckpt.load_checkpoint(soup([pa, pb], tmp_path / "s.pt", [1, 0]))
    x = torch.rand(2, 3, 64, 64)
    a.eval()
    with torch.no_grad():
        torch.testing.assert_close(model.feature_net(x), a.feature_net(x))
    torch.testing.assert_close(model.mesh.features, a.mesh.features)


def test_cse_soup_averages_the_model(tmp_path):
    torch.manual_seed(0)
    a = CseModel(CseConfig("mug", backbone="tiny", crop_size=64))
    b = copy.deepcopy(a)
    with torch.no_grad():
        for p in b.parameters():
            p.add_(0.1 * torch.randn_like(p))
    pa = cse_ckpt.save_checkpoint(tmp_path / "a.pt", a, {"step": 1})
    pb = cse_ckpt.save_checkpoint(tmp_path / "b.pt", b, {"step": 2})
    model, _ = cse_ckpt.load_checkpoint(soup([pa, pb], tmp_path / "s.pt"), category="mug")
    for (name, p), pa_, pb_ in zip(
        model.named_parameters(), a.parameters(), b.parameters(), strict=True
    ):
        torch.testing.assert_close(p, 0.5 * (pa_ + pb_), msg=name)


def test_models_of_other_lineages_are_refused(tmp_path, capsys):
    _, _, pa, pb = _nemo_pair(tmp_path)
    other = NemoModel(NemoConfig("mug", backbone="tiny", dim=16, crop_size=64, n_vertices=300))
    po = nemo_ckpt.save_checkpoint(tmp_path / "other.pt", other)
    with pytest.raises(CheckpointError, match="config differs"):
        soup([pa, po], tmp_path / "s.pt")
    bottle = NemoModel(NemoConfig("bottle", backbone="tiny", dim=16, crop_size=64,
                                  n_vertices=200))  # fmt: skip
    pbottle = nemo_ckpt.save_checkpoint(tmp_path / "bottle.pt", bottle)
    assert main([str(pa), str(pbottle), "--out", str(tmp_path / "s.pt")]) == 2
    assert "category differs" in capsys.readouterr().err
    cse_model = CseModel(CseConfig("mug", backbone="tiny", crop_size=64))
    cse = cse_ckpt.save_checkpoint(tmp_path / "cse.pt", cse_model)
    assert main([str(pa), str(cse), "--out", str(tmp_path / "s.pt")]) == 2
    assert "family differs" in capsys.readouterr().err
    # the same architecture on another mesh: the geometry must match
    payload = torch.load(pb, weights_only=True)
    payload["neural_mesh"]["vertices"] = payload["neural_mesh"]["vertices"] * 1.1
    torch.save(payload, tmp_path / "moved.pt")
    with pytest.raises(CheckpointError, match="vertices differs"):
        soup([pa, tmp_path / "moved.pt"], tmp_path / "s.pt")
    assert not (tmp_path / "s.pt").exists()


def test_bad_arguments_exit_2_with_the_reason(tmp_path, capsys):
    _, _, pa, pb = _nemo_pair(tmp_path)
    assert main([str(pa), "--out", str(tmp_path / "s.pt")]) == 2
    assert "two or more models" in capsys.readouterr().err
    assert main([str(pa), str(pb), "--out", str(tmp_path / "s.pt"), "--weights", "1"]) == 2
    assert "1 values for 2 models" in capsys.readouterr().err
    assert main([str(pa), str(tmp_path / "missing.pt"), "--out", str(tmp_path / "s.pt")]) == 2
    assert "missing.pt" in capsys.readouterr().err
    with pytest.raises(ConfigError):
        soup_weights(2, [0, 0])
    assert soup_weights(3, None) == [1 / 3] * 3
    assert main([str(pa), str(pb), "--out", str(tmp_path / "s.pt")]) == 0
    assert "calibrate-nemo" in capsys.readouterr().out
