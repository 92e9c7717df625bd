"""benchmarks/nemo_margin_probe.py: runs on a tiny model, reports shares, refuses bad input."""

from __future__ import annotations

import json

import pytest
import torch

from benchmarks import nemo_margin_probe
from offline_training.synthetic.dataset import DatasetConfig, generate_dataset
from ros_pose_estimation.nemo.checkpoint import save_checkpoint
from ros_pose_estimation.nemo.model import NemoConfig, NemoModel


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("probe")
    generate_dataset(DatasetConfig(["mug"], root / "data", images=3, width=96, height=72,
                                   instances=1), progress=False)  # fmt: skip
    torch.manual_seed(0)
    model = NemoModel(NemoConfig("mug", backbone="tiny", dim=16, crop_size=64, n_vertices=200,
                                 n_clutter=64))  # fmt: skip
    path = save_checkpoint(root / "mug.pt", model)
    return root, path


def test_probe_reports_a_share_per_angle(setup, capsys):
    root, path = setup
    out = root / "probe.json"
    rc = nemo_margin_probe.main(["--data", str(root / "data"), "--checkpoint", str(path),
                                 "--crops", "4", "--angles", "5", "20", "--draws", "3",
                                 "--json", str(out)])  # fmt: skip
    assert rc == 0
    printed = capsys.readouterr().out
    assert "device:" in printed and "5 deg off" in printed and "20 deg off" in printed
    res = json.loads(out.read_text())["results"][str(path)]
    assert set(res["angles"]) == {"5", "20"}
    for r in res["angles"].values():
        assert 0.0 <= r["better"] <= 1.0
    assert 1 <= res["crops"] <= 4


def test_probe_turns_about_up(setup, capsys):
    root, path = setup
    out = root / "turns.json"
    rc = nemo_margin_probe.main(["--data", str(root / "data"), "--checkpoint", str(path),
                                 "--crops", "3", "--angles", "5", "--draws", "1",
                                 "--turns", "90", "180", "--json", str(out)])  # fmt: skip
    assert rc == 0
    assert "turn    90 deg" in capsys.readouterr().out
    res = json.loads(out.read_text())["results"][str(path)]
    assert set(res["turns"]) == {"90", "180"}
    for r in res["turns"].values():  # a mug has no symmetric turn: every pair counts
        assert r["pairs"] == res["crops"] and 0.0 <= r["better"] <= 1.0
    assert 0.0 <= res["turn_beats_truth"] <= 1.0 and res["turns_refined"] is False
    # refined: the turns and the truth go through the estimator's refinement first
    rc = nemo_margin_probe.main(["--data", str(root / "data"), "--checkpoint", str(path),
                                 "--crops", "3", "--angles", "5", "--draws", "1",
                                 "--turns", "180", "--refine", "--json", str(out)])  # fmt: skip
    assert rc == 0 and "beats the refined truth" in capsys.readouterr().out
    res = json.loads(out.read_text())["results"][str(path)]
    assert res["turns_refined"] is True and 0.0 <= res["turn_beats_refined_truth"] <= 1.0
    assert res["turns"]["180"]["pairs"] <= res["crops"]  # turned back near the truth: dropped


def test_probe_exits_2_on_a_missing_checkpoint(setup, capsys):
    root, _ = setup
    rc = nemo_margin_probe.main(["--data", str(root / "data"), "--checkpoint",
                                 str(root / "missing.pt")])  # fmt: skip
    assert rc == 2
    assert "nemo_margin_probe: error" in capsys.readouterr().err
