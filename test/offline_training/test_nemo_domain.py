"""Plain + enhanced NeMo training (paper 001): twins share crop, pose and mask; the
domain-consistency loss (Eq. 4) is 0 at the vertex features and positive elsewhere, trains the
network, and weight 0 leaves a step exactly as without it."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest
import torch
from torch.utils.data import default_collate

from offline_training.diffusion.controlnet import EnhanceSettings
from offline_training.diffusion.enhance_dataset import enhance_dataset
from offline_training.nemo.augment import AugmentConfig
from offline_training.nemo.data import NemoTrainingSet
from offline_training.nemo.domain import MixedTrainingSet, domain_consistency_loss
from offline_training.nemo.train import train
from offline_training.nemo.train_cli import main
from offline_training.nemo.train_config import TrainConfig
from offline_training.nemo.train_step import make_optimizer, train_step, visible_vertices
from offline_training.synthetic.dataset import DatasetConfig, generate_dataset
from ros_pose_estimation.core.errors import ConfigError
from ros_pose_estimation.nemo.contrastive import image_to_feature_uv, sample_vertex_features
from ros_pose_estimation.nemo.model import NemoModel

TINY = {"backbone": "tiny", "dim": 16, "crop_size": 64, "n_vertices": 200, "n_clutter": 64,
        "batch_size": 4, "num_workers": 0, "num_threads": 1, "progress": False}  # fmt: skip


class Inverter:
    """A stand-in enhancer: the negative image (labels stay valid, every pixel changes)."""

    settings = EnhanceSettings(steps=1)

    def enhance(self, rgbs, prompts, seeds):
        return [255 - rgb for rgb in rgbs]


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    """6 plain images (96 x 72) of mugs and bottles and an enhanced copy of the first 4."""
    base = tmp_path_factory.mktemp("domain")
    plain, enhanced = base / "bop", base / "bop_enhanced"
    generate_dataset(DatasetConfig(["mug", "bottle"], plain, images=6, width=96, height=72,
                                   instances=2), progress=False)  # fmt: skip
    enhance_dataset(plain, enhanced, Inverter(), max_images=4, progress=False)
    return plain, enhanced


def _cfg(roots, out, **kw) -> TrainConfig:
    return TrainConfig(data=str(roots[0]), category="mug", out=str(out), **{**TINY, **kw})


def test_twins_share_crop_pose_and_mask(roots):
    plain = NemoTrainingSet(roots[0], "mug", augment=AugmentConfig(), seed=3, crop_size=64)
    mixed = MixedTrainingSet(plain, roots[1], mix_fraction=0.0, twins=True)
    images = [plain.bop._index[e.pos][1] for e in plain.entries]
    np.testing.assert_array_equal(mixed.has_twin, np.array(images) < 4)  # 4 of 6 enhanced
    assert 0 < mixed.has_twin.sum() < len(plain) and "have an enhanced twin" in mixed.describe()
    for i in range(len(plain)):
        key = (i, 5)
        item, ref = mixed[key], plain[key]
        assert torch.equal(item["image"], ref["image"]) and bool(item["has_twin"]) == (
            mixed.has_twin[i])  # fmt: skip
        if not mixed.has_twin[i]:
            assert not item["twin_image"].any()
            continue
        twin = mixed.enhanced[key]
        for k in ("K", "R", "t", "mask_visib"):
            assert torch.equal(twin[k], ref[k]), k  # same crop, same augmentation draws
        assert torch.equal(item["twin_image"], twin["image"])
        assert not torch.equal(twin["image"], ref["image"])
    bare = NemoTrainingSet(roots[0], "mug", crop_size=64)  # no augmentation: twin = negative
    twin_of = MixedTrainingSet(bare, roots[1], 0.0, twins=True)
    i = int(np.flatnonzero(twin_of.has_twin)[0])
    diff = twin_of[i]["twin_image"] - (1.0 - bare[i]["image"])
    assert float(diff.abs().max()) <= 1.5 / 255  # bilinear crop of the inverted image
    always = MixedTrainingSet(plain, roots[1], mix_fraction=1.0, twins=True)
    assert torch.equal(always[(i, 5)]["image"], mixed.enhanced[(i, 5)]["image"])
    assert torch.equal(always[(i, 5)]["twin_image"], plain[(i, 5)]["image"])
    half = MixedTrainingSet(plain, roots[1], mix_fraction=0.5)
    served = [torch.equal(half[(i, d)]["image"], plain[(i, d)]["image"]) for d in range(12)]
    assert any(served) and not all(served)  # both domains, reproducibly per (index, draw)
    assert served == [torch.equal(half[(i, d)]["image"], plain[(i, d)]["image"])
                      for d in range(12)]  # fmt: skip


def test_a_copy_with_other_labels_is_rejected(roots, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(roots[1], bad)
    gt_path = bad / "train/000000/scene_gt.json"
    gt = json.loads(gt_path.read_text())
    gt["0"][0]["cam_t_m2c"][0] += 10.0
    gt_path.write_text(json.dumps(gt))
    plain = NemoTrainingSet(roots[0], ["mug", "bottle"])
    with pytest.raises(ConfigError, match="scene 0 image 0 differ.*not an enhanced copy"):
        MixedTrainingSet(plain, bad)
    with pytest.raises(ConfigError, match="no split"):
        MixedTrainingSet(plain, tmp_path)


def test_domain_loss_is_zero_at_the_bank_and_positive_elsewhere():
    torch.manual_seed(0)
    fmap = torch.randn(2, 8, 6, 6)
    uv = torch.rand(2, 10, 2) * 5.0
    visible = torch.rand(2, 10) > 0.3
    has_twin = torch.tensor([True, False])
    feats, ids, batch = sample_vertex_features(fmap, uv, visible & has_twin[:, None])
    bank = torch.nn.functional.normalize(torch.randn(10, 8), dim=1)
    loss, n = domain_consistency_loss(fmap, uv, visible, has_twin, bank)
    assert n == len(feats) == int(visible[0].sum()) and set(batch.tolist()) == {0}
    expected = ((feats - bank[ids]) ** 2).sum(1).mean()  # Eq. 4, as a mean
    torch.testing.assert_close(loss, expected)
    assert float(loss) > 0.1
    bank[ids] = feats  # the twin's features are the vertex features: nothing to pull
    zero, _ = domain_consistency_loss(fmap, uv, visible, has_twin, bank)
    assert float(zero) < 1e-10
    none, n = domain_consistency_loss(fmap, uv, visible, torch.tensor([False, False]), bank)
    assert n == 0 and float(none) == 0.0 and none.requires_grad is False


def test_the_gradient_reaches_the_network_and_not_the_bank(roots):
    cfg = _cfg(roots, "unused")
    model = NemoModel(cfg.nemo_config(), seed=0).train()
    plain = NemoTrainingSet(roots[0], "mug", crop_size=64)
    batch = default_collate([MixedTrainingSet(plain, roots[1], 0.0, True)[i] for i in range(4)])
    uv, visible = visible_vertices(model.mesh, batch["R"], batch["t"], batch["K"],
                                   batch["mask_visib"], cfg.mask_margin_px)  # fmt: skip
    twin_fmap = model.feature_net(batch["twin_image"])
    loss, n = domain_consistency_loss(twin_fmap, image_to_feature_uv(uv, 8), visible,
                                      batch["has_twin"], model.mesh.features)  # fmt: skip
    assert n > 0 and float(loss.detach()) > 0
    loss.backward()
    grads = [p.grad for p in model.feature_net.parameters() if p.requires_grad]
    assert sum(float(g.abs().sum()) for g in grads if g is not None) > 0
    assert not model.mesh.features.requires_grad


def _step(cfg, batch):
    torch.manual_seed(cfg.seed)
    model = NemoModel(cfg.nemo_config(), seed=cfg.seed).train()
    opt = make_optimizer(model, cfg)
    stats = train_step(model, opt, batch, cfg, model.mesh.neighbour_mask(0.1),
                       torch.Generator().manual_seed(0))  # fmt: skip
    return model, stats


def test_weight_zero_leaves_the_step_identical(roots, tmp_path):
    plain = NemoTrainingSet(roots[0], "mug", crop_size=64, augment=AugmentConfig(), seed=0)
    keys = [(i % len(plain), i) for i in range(4)]
    batch = default_collate([plain[k] for k in keys])
    twins = MixedTrainingSet(plain, roots[1], mix_fraction=0.0, twins=True)
    with_twins = default_collate([twins[k] for k in keys])
    assert bool(with_twins["has_twin"].any())
    base, stats = _step(_cfg(roots, tmp_path), batch)
    off, stats_off = _step(_cfg(roots, tmp_path, mix_data=str(roots[1])), with_twins)
    on, stats_on = _step(_cfg(roots, tmp_path, mix_data=str(roots[1]), domain_weight=1.0),
                         with_twins)  # fmt: skip
    assert stats_off == stats and "loss_domain" not in stats_off
    for a, b in zip(base.state_dict().values(), off.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert stats_on["loss_domain"] > 0 and stats_on["n_domain"] > 0
    assert stats_on["loss"] == pytest.approx(stats_on["loss_fg"] + stats_on["loss_bg"]
                                             + stats_on["loss_domain"], rel=1e-5)  # fmt: skip
    changed = [
        not torch.equal(a, b)
        for a, b in zip(base.feature_net.parameters(), on.feature_net.parameters(), strict=True)
    ]
    assert any(changed)
    with pytest.raises(ConfigError, match="domain_weight > 0 needs mix_data"):
        _cfg(roots, tmp_path, domain_weight=0.5)
    with pytest.raises(ConfigError, match="mix_fraction in"):
        _cfg(roots, tmp_path, mix_data="x", mix_fraction=1.5)


def test_train_nemo_mixes_and_logs_the_domain_loss(roots, tmp_path, capsys):
    cfg = _cfg(roots, tmp_path / "run", steps=3, log_every=1, mix_data=str(roots[1]),
               mix_fraction=0.5, domain_weight=0.5)  # fmt: skip
    train(cfg)
    log = [json.loads(line) for line in (tmp_path / "run/log.jsonl").read_text().splitlines()]
    assert len(log) == 3 and all(r["loss_domain"] > 0 for r in log)
    assert "have an enhanced twin" in capsys.readouterr().out
    args = ["--data", str(roots[0]), "--category", "mug", "--steps", "2", "--backbone", "tiny",
            "--dim", "16", "--crop-size", "64", "--n-vertices", "200", "--batch-size", "2",
            "--num-workers", "0", "--num-threads", "1", "--no-progress"]  # fmt: skip
    cli = [*args, "--out", str(tmp_path / "cli"), "--mix-data", str(roots[1])]
    assert main([*cli, "--domain-weight", "0.2", "--mix-fraction", "0.3"]) == 0
    capsys.readouterr()
    for extra, message in (
        (["--mix-data", str(tmp_path / "nope")], "--mix-data .*nope has no split 'train'"),
        (["--domain-weight", "0.5"], "domain_weight > 0 needs mix_data"),
    ):
        assert main([*args, "--out", str(tmp_path / "x"), *extra]) == 2
        assert re.search(message, capsys.readouterr().err)
