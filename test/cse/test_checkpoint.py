"""One-file CSE checkpoints: exact round trip, strict loading, user templates."""

import numpy as np
import pytest
import torch

from ros_pose_estimation.core.errors import CheckpointError
from ros_pose_estimation.core.mesh import TriMesh
from ros_pose_estimation.cse.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from ros_pose_estimation.cse.model import CseConfig, CseModel
from ros_pose_estimation.shapes.primitives import icosphere


def _model(template=None):
    torch.manual_seed(0)
    return CseModel(CseConfig("bottle", backbone="tiny", crop_size=64), template=template)


def test_round_trip_gives_identical_outputs(tmp_path):
    model = _model().eval()
    path = save_checkpoint(tmp_path / "b.pt", model, {"steps": 3})
    loaded, meta = load_checkpoint(path, category="bottle")
    assert meta == {"steps": 3} and loaded.config == model.config
    x = torch.rand(1, 3, 64, 64)
    K = torch.tensor([[[80.0, 0, 31.5], [0, 80.0, 31.5], [0, 0, 1]]])
    with torch.no_grad():
        a, b = model(x, K), loaded(x, K)
    assert torch.equal(a.features, b.features) and torch.equal(a.embeddings, b.embeddings)
    assert torch.equal(a.R, b.R) and torch.equal(a.t, b.t)


def test_user_template_travels_with_the_weights(tmp_path):
    ico = icosphere(2, 0.05)
    model = _model(TriMesh(ico.vertices, ico.faces))
    loaded, _ = load_checkpoint(save_checkpoint(tmp_path / "u.pt", model))
    np.testing.assert_allclose(loaded.template.numpy(), ico.vertices, atol=1e-7)
    assert torch.equal(loaded.faces, model.faces)


def test_strict_loading(tmp_path):
    path = save_checkpoint(tmp_path / "b.pt", _model())
    with pytest.raises(CheckpointError, match="category 'mug' was asked"):
        load_checkpoint(path, category="mug")
    payload = torch.load(path, weights_only=True)
    for change, match in (
        ({"format": "ros_pose_estimation/nemo"}, "not a CSE checkpoint"),
        ({"format_version": 99}, "format_version 99"),
    ):
        torch.save({**payload, **change}, tmp_path / "x.pt")
        with pytest.raises(CheckpointError, match=match):
            read_checkpoint(tmp_path / "x.pt")
    state = dict(payload["model"])
    state.pop("pose_head.0.weight")
    torch.save({**payload, "model": state}, tmp_path / "y.pt")
    with pytest.raises(CheckpointError, match="missing"):
        load_checkpoint(tmp_path / "y.pt")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")


def test_a_view_correction_travels_with_the_weights(tmp_path):
    from ros_pose_estimation.core.view_correction import ViewCorrection

    model = _model()
    assert load_checkpoint(save_checkpoint(tmp_path / "a.pt", model))[0].view_correction is None
    views = np.concatenate([np.eye(3), -np.eye(3)])
    model.view_correction = ViewCorrection("bottle", views, 0.01 * views, 0.3,
                                           {"pairs": 6}, translations=0.02 * views,
                                           translation_sigma=0.5)  # fmt: skip
    loaded, _ = load_checkpoint(save_checkpoint(tmp_path / "b.pt", model))
    back = loaded.view_correction
    assert back.info == {"pairs": 6} and back.translation_sigma == 0.5
    np.testing.assert_allclose(back.translations, 0.02 * views, atol=1e-7)
    payload = read_checkpoint(tmp_path / "b.pt")
    payload["view_correction"]["category"] = "mug"
    torch.save(payload, tmp_path / "c.pt")
    with pytest.raises(CheckpointError, match="view_correction is for 'mug'"):
        load_checkpoint(tmp_path / "c.pt")
