"""Batch-norm statistics re-estimated on recordings (offline_training/bn_adapt.py, AdaBN)."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from offline_training.bn_adapt import main, reestimate_batch_norm
from ros_pose_estimation.core.errors import ConfigError, InputError


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.Conv2d(4, 2, 3), nn.BatchNorm2d(2)).eval()  # fmt: skip


def _target(n: int = 6) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return [0.2 + 0.3 * torch.rand(4, 3, 12, 12, generator=g) for _ in range(n)]  # dim, flat


def test_statistics_become_the_targets_and_nothing_else_changes():
    net = _net()
    weights = {k: v.clone() for k, v in net.state_dict().items()
               if "running" not in k and "num_batches" not in k}
    batches = _target()
    assert reestimate_batch_norm(net, batches) == 24
    with torch.no_grad():
        first = net[0](torch.cat(batches))  # the first batch norm's input over all images
    torch.testing.assert_close(net[1].running_mean, first.mean((0, 2, 3)), atol=1e-5, rtol=0)
    torch.testing.assert_close(net[1].running_var, first.var((0, 2, 3)), rtol=0.02, atol=1e-5)
    assert not net.training and not any(m.training for m in net.modules())
    assert net[1].momentum == 0.1  # restored
    for k, v in net.state_dict().items():
        if k in weights:
            assert torch.equal(v, weights[k]), k


def test_mix_blends_with_the_models_own_statistics():
    full, half = _net(), _net()
    before = half[1].running_mean.clone()  # zeros: a fresh net's
    reestimate_batch_norm(full, _target())
    reestimate_batch_norm(half, _target(), mix=0.5)
    torch.testing.assert_close(half[1].running_mean, 0.5 * full[1].running_mean + 0.5 * before)
    with pytest.raises(ConfigError, match="mix"):
        reestimate_batch_norm(_net(), _target(), mix=0.0)


def test_nothing_to_adapt_on_or_with_is_refused_and_changes_nothing():
    net = _net()
    mean = net[1].running_mean.clone()
    with pytest.raises(InputError, match="no crop"):
        reestimate_batch_norm(net, [torch.rand(1, 3, 12, 12)])  # one image: no spread
    assert torch.equal(net[1].running_mean, mean) and net[1].momentum == 0.1
    with pytest.raises(InputError, match="no batch norm"):
        reestimate_batch_norm(nn.Conv2d(3, 2, 3), _target())


def test_cli_adapts_a_cse_checkpoint_on_a_bag(tmp_path, capsys):
    pytest.importorskip("rosbags", reason="rosbags is part of the 'data' extra")
    from offline_training.synthetic.recording import RecordingConfig, write_recording
    from ros_pose_estimation.cse.checkpoint import load_checkpoint, save_checkpoint
    from ros_pose_estimation.cse.model import CseConfig, CseModel

    cfg = RecordingConfig(categories=["mug"], n_objects=2, duration=1.0, rate=5.0, tf_rate=15.0,
                          width=160, height=120, noise="depth", seed=4)  # fmt: skip
    write_recording(cfg, tmp_path / "bag", progress=False)
    torch.manual_seed(0)
    model = CseModel(CseConfig("mug", backbone="tiny", crop_size=64)).eval()
    save_checkpoint(tmp_path / "mug.pt", model, {"trainer": "test"})
    out = tmp_path / "mug_bn.pt"
    argv = [str(tmp_path / "bag"), "--checkpoint", str(tmp_path / "mug.pt"), "--out", str(out),
            "--cache", str(tmp_path / "cache"), "--batch-size", "4"]  # fmt: skip
    assert main(argv) == 0
    assert "batch norms re-estimated on" in capsys.readouterr().out
    adapted, meta = load_checkpoint(out)
    note = meta["bn_adaptation"]
    assert note["crops"] >= 4 and note["mix"] == 1.0 and meta["trainer"] == "test"
    json.dumps(meta)  # the meta stays plain data
    old, new = model.state_dict(), adapted.state_dict()
    changed = [k for k in old if not torch.equal(old[k], new[k])]
    assert changed and all("running_" in k or "num_batches" in k for k in changed), changed
    # usage errors exit 2, a model without its category in the bag 1
    assert main([*argv[:2], str(tmp_path / "none.pt"), *argv[3:]]) == 2
    assert "none.pt" in capsys.readouterr().err
    bottle = CseModel(CseConfig("bottle", backbone="tiny", crop_size=64)).eval()
    save_checkpoint(tmp_path / "bottle.pt", bottle)
    assert main([argv[0], "--checkpoint", str(tmp_path / "bottle.pt"), "--out",
                 str(tmp_path / "b.pt"), "--cache", str(tmp_path / "cache")]) == 1  # fmt: skip
    assert "no bottle detection with a usable crop" in capsys.readouterr().err
    # the RGB model through the same tool
    from ros_pose_estimation.nemo.checkpoint import load_checkpoint as load_nemo
    from ros_pose_estimation.nemo.checkpoint import save_checkpoint as save_nemo
    from ros_pose_estimation.nemo.model import NemoConfig, NemoModel

    nemo = NemoModel(NemoConfig(category="mug", backbone="tiny", dim=16, crop_size=64,
                                n_vertices=200, n_clutter=64))  # fmt: skip
    save_nemo(tmp_path / "nemo.pt", nemo, {"trainer": "test"})
    assert main([argv[0], "--method", "nemo", "--checkpoint", str(tmp_path / "nemo.pt"),
                 "--out", str(tmp_path / "nemo_bn.pt"), "--cache", str(tmp_path / "cache_rgb"),
                 "--batch-size", "4"]) == 0  # fmt: skip
    assert load_nemo(tmp_path / "nemo_bn.pt")[1]["bn_adaptation"]["crops"] >= 4
    # an RGB model without --method nemo: the refusal says which option it needs
    assert main([argv[0], "--checkpoint", str(tmp_path / "nemo.pt"), "--out",
                 str(tmp_path / "x.pt"), "--cache", str(tmp_path / "cache")]) == 2  # fmt: skip
    assert "it is a NeMo model: add --method nemo" in capsys.readouterr().err
