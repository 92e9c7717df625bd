"""CC3D on tiny data: the pseudo-label BOP export (poses = estimates, boxes and masks of the
target), the domain term on pseudo-labelled crops (Eq. 4; zero when the features equal the
vertex bank), and ``adapt-nemo`` end to end with resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch.utils.data import default_collate

from offline_training.adapt.bop_export import write_pseudo_bop
from offline_training.adapt.cli import main
from offline_training.adapt.loop import load_report
from offline_training.adapt.pseudo_labels import PseudoLabel
from offline_training.nemo.data import NemoTrainingSet
from offline_training.nemo.domain import domain_consistency_loss
from offline_training.nemo.train_config import TrainConfig
from offline_training.nemo.train_step import make_optimizer, train_step
from offline_training.synthetic.bop_reader import BopDataset
from ros_pose_estimation.core.errors import ConfigError
from ros_pose_estimation.nemo.model import NemoModel


@pytest.fixture(scope="module")
def roots(make_adapt_roots):
    """A target training part (4 images), a held-out part (3 images) and a tiny mug model."""
    return make_adapt_roots("adapt", target_images=4)


def _rotation(deg: float) -> np.ndarray:
    a = np.deg2rad(deg)
    return np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])


def test_export_writes_estimates_with_the_targets_boxes_and_masks(roots, tmp_path):
    target = BopDataset(roots[0], "train")
    picks = [(s, k) for s in (target[0], target[1]) for k in range(len(s.objects))][:3]
    labels = [PseudoLabel(s.scene_id, s.im_id, k, s.objects[k].obj_id, "mug", _rotation(10 * n),
                          np.array([0.01, 0.02, 0.5 + n]), 0.9 - 0.1 * n, 5.0)
              for n, (s, k) in enumerate(picks)]  # fmt: skip
    out = write_pseudo_bop(roots[0], "train", labels, tmp_path / "pl")
    pseudo = BopDataset(out, "train")
    assert len(pseudo) == len(labels)
    for n, (lb, (src, k)) in enumerate(zip(labels, picks, strict=True)):
        got = pseudo[n]
        assert len(got.objects) == 1
        obj, ref = got.objects[0], src.objects[k]
        np.testing.assert_allclose(obj.R, lb.R, atol=1e-9)  # the estimate, not the truth
        np.testing.assert_allclose(obj.t, lb.t, atol=1e-9)
        assert obj.bbox_visib == ref.bbox_visib and obj.obj_id == ref.obj_id
        np.testing.assert_array_equal(obj.mask_visib, ref.mask_visib)
        np.testing.assert_array_equal(got.rgb, src.rgb)
        np.testing.assert_allclose(got.K, src.K)
    meta = json.loads((out / "pseudo_labels.json").read_text())["labels"]
    assert [m["im_id"] for m in meta] == [lb.im_id for lb in labels]
    assert meta[0]["score"] == pytest.approx(0.9) and "R" not in meta[0]
    crops = NemoTrainingSet(out, "mug", crop_size=64, min_visib_fract=0.0)
    assert len(crops) == len(labels)  # train-nemo reads it unchanged


def test_domain_term_is_zero_at_the_bank_and_trains_on_pseudo_labels(roots, tmp_path, tiny_nemo):
    bank = torch.nn.functional.normalize(torch.randn(5, 8), dim=1)
    fmap = torch.zeros(2, 8, 4, 4)
    uv = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [2.0, 1.0], [3.0, 3.0], [0.0, 2.0]]])
    uv = uv.repeat(2, 1, 1)
    for b in range(2):
        for v, (x, y) in enumerate(uv[b].long().tolist()):
            fmap[b, :, y, x] = bank[v]
    visible, has = torch.ones(2, 5, dtype=torch.bool), torch.ones(2, dtype=torch.bool)
    loss, n = domain_consistency_loss(fmap, uv, visible, has, bank)
    assert n == 10 and float(loss) == pytest.approx(0.0, abs=1e-10)
    loss, _ = domain_consistency_loss(fmap, uv, visible, has, bank.roll(1, 0))
    assert float(loss) > 0.1
    # train_step with domain_self: the term is computed on the crops themselves
    with pytest.raises(ConfigError, match="needs mix_data"):
        TrainConfig(data=str(roots[0]), category="mug", out="x", domain_weight=1.0, **tiny_nemo)
    with pytest.raises(ConfigError, match="exclude each other"):
        TrainConfig(data=str(roots[0]), category="mug", out="x", domain_self=True,
                    mix_data="y", **tiny_nemo)  # fmt: skip
    stats = {}
    for weight in (0.0, 1.0):
        cfg = TrainConfig(data=str(roots[0]), category="mug", out=str(tmp_path),
                          domain_weight=weight, domain_self=True, **tiny_nemo)  # fmt: skip
        torch.manual_seed(0)
        model = NemoModel(cfg.nemo_config(), seed=0).train()
        data = NemoTrainingSet(roots[0], "mug", crop_size=64)
        batch = default_collate([data[0], data[1]])
        neighbours = model.mesh.neighbour_mask(cfg.neighbour_fraction)
        stats[weight] = train_step(model, make_optimizer(model, cfg), batch, cfg, neighbours,
                                   torch.Generator().manual_seed(0))  # fmt: skip
    assert "loss_domain" not in stats[0.0]
    assert stats[1.0]["n_domain"] > 0 and stats[1.0]["loss_domain"] > 0
    assert stats[1.0]["loss"] == pytest.approx(stats[0.0]["loss"] + stats[1.0]["loss_domain"],
                                               rel=1e-4)  # fmt: skip


def test_adapt_nemo_end_to_end_and_resume(roots, tmp_path, capsys):
    target, heldout, ckpt = roots
    args = ["--method", "cc3d", "--checkpoint", str(ckpt), "--target", str(target),
            "--heldout", str(heldout), "--out", str(tmp_path / "run"), "--top-k", "2",
            "--steps", "2", "--batch-size", "2", "--preset", "fast",
            "--eval-max-objects", "2", "--domain-weight", "0.5"]  # fmt: skip
    assert main([*args, "--rounds", "1"]) == 0
    report = load_report(tmp_path / "run" / "report.json")
    (r1,) = report["rounds"]
    assert r1["labels"]["kept"] == 2 and r1["labels"]["estimated"] >= 2
    assert r1["labels"]["accuracy_kept"]["count"] == 2  # synthetic target: ground truth exists
    assert report["before"]["heldout"]["count"] == 2 and r1["heldout"]["count"] == 2
    assert (tmp_path / "run" / "round_01" / "train" / "mug.pt").exists()
    stamp = (tmp_path / "run" / "round_01" / "train" / "mug.pt").stat().st_mtime_ns
    assert main([*args, "--rounds", "2"]) == 0  # round 1 is not redone
    report = load_report(tmp_path / "run" / "report.json")
    assert [r["round"] for r in report["rounds"]] == [1, 2] and report["rounds"][0] == r1
    assert (tmp_path / "run" / "round_01" / "train" / "mug.pt").stat().st_mtime_ns == stamp
    assert report["rounds"][1]["start_checkpoint"] == r1["checkpoint"]
    assert "round 2: kept 2" in capsys.readouterr().out
    assert main([*args[:-2], "--domain-weight", "0.7", "--rounds", "2"]) == 2  # other settings
