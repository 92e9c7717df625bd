"""Vertex embeddings of a fresh CSE model discriminate vertices (Eq. 1 is not uniform at the
start of training); checkpoints written before the centring option keep their behaviour."""

import pytest
import torch

from ros_pose_estimation.cse.checkpoint import load_checkpoint, save_checkpoint
from ros_pose_estimation.cse.correspondence import correspondences
from ros_pose_estimation.cse.model import CseConfig, CseModel
from ros_pose_estimation.cse.pointnet import PointNetEncoder


def _embeddings(model: CseModel) -> torch.Tensor:
    with torch.no_grad():
        return model.mesh_encoder(model.template[None] / model.diameter)[0]


def _start_of_eq1(category: str, centre: bool) -> tuple[float, float]:
    """Fresh model: mean logit range of a vertex's embedding against all vertices (tau units),
    and how far each vertex's own embedding, used as a pixel, lands from it under Eq. 2
    relative to the centroid's distance (1: every pixel maps to the centroid)."""
    torch.manual_seed(0)
    model = CseModel(CseConfig(category, backbone="tiny", crop_size=64, centre_embeddings=centre))
    emb = _embeddings(model)
    cos = emb @ emb.T
    spread = float(((cos.max(1).values - cos.min(1).values) / model.config.tau).mean())
    corr = correspondences(emb[None], emb[None], None, model.config.tau)
    q = (corr.w2d3d @ model.template[None])[0]
    own = (q - model.template).norm(dim=1).mean()
    centroid = (model.template - model.template.mean(0)).norm(dim=1).mean()
    return spread, float(own / centroid)


@pytest.mark.parametrize("category", ["mug", "bottle"])
def test_centred_fresh_embeddings_give_a_peaked_softmax(category):
    spread, ratio = _start_of_eq1(category, centre=True)
    assert spread > 5.0 and ratio < 0.7, (spread, ratio)


def test_uncentred_fresh_embeddings_are_degenerate():
    """The defect the option fixes (kept as the default for reproducibility): all vertex
    embeddings nearly equal, Eq. 1 uniform, every pixel mapped to the template centroid."""
    spread, ratio = _start_of_eq1("mug", centre=False)
    assert spread < 1.0 and ratio > 0.9, (spread, ratio)


def test_centring_removes_the_shared_component():
    torch.manual_seed(0)
    pts = torch.rand(2, 50, 3) - 0.5
    on, off = PointNetEncoder(16, 32, centre=True), PointNetEncoder(16, 32, centre=False)
    off.load_state_dict(on.state_dict())
    with torch.no_grad():
        a, b = on(pts), off(pts)
    assert torch.allclose(a.norm(dim=-1), torch.ones(2, 50), atol=1e-5)
    assert float((a @ a.transpose(1, 2)).mean()) < 0.2 < float((b @ b.transpose(1, 2)).mean())


def test_checkpoints_without_the_field_load_uncentred(tmp_path):
    torch.manual_seed(0)
    old = CseModel(CseConfig("mug", backbone="tiny", crop_size=64, centre_embeddings=False))
    path = save_checkpoint(tmp_path / "old.pt", old)
    payload = torch.load(path, weights_only=True)
    del payload["config"]["centre_embeddings"]  # as written before the option existed
    torch.save(payload, path)
    loaded, _ = load_checkpoint(path)
    assert loaded.config.centre_embeddings is False and loaded.mesh_encoder.centre is False
    assert torch.equal(_embeddings(loaded), _embeddings(old.eval()))
    new = CseModel(CseConfig("mug", backbone="tiny", crop_size=64, centre_embeddings=True))
    assert load_checkpoint(save_checkpoint(tmp_path / "new.pt", new))[0].config.centre_embeddings


def test_train_cli_switch_reaches_the_model():
    from offline_training.cse.train import CseTrainConfig
    from offline_training.cse.train_cli import parser

    base = ["--data", "d", "--category", "mug", "--out", "o"]
    for argv, want in ((base, False), (base + ["--centre-embeddings"], True)):
        args = vars(parser().parse_args(argv))
        cfg = CseTrainConfig(data="d", category="mug", out="o",
                             centre_embeddings=args["centre_embeddings"])  # fmt: skip
        assert cfg.model_config().centre_embeddings is want
