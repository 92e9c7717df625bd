"""benchmarks/nemo_elevation_bias.py: the elevation convention, both modes on a tiny model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from benchmarks import nemo_elevation_bias as bench
from offline_training.synthetic.dataset import DatasetConfig, generate_dataset
from ros_pose_estimation.nemo.checkpoint import save_checkpoint
from ros_pose_estimation.nemo.model import NemoConfig, NemoModel


def test_elevation_convention():
    """90 deg looking straight down the object's -z, 0 from the side, negative from below."""
    t = np.array([0.0, 0.0, 1.0])  # the object on the optical axis
    down = np.diag([1.0, -1.0, -1.0])  # object z = camera -z: the camera looks down on it
    side = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])  # object z = cam -y
    assert bench.elevation_deg(down, t) == pytest.approx(90.0)
    assert bench.elevation_deg(side, t) == pytest.approx(0.0)
    assert bench.elevation_deg(np.diag([1.0, 1.0, 1.0]), t) == pytest.approx(-90.0)


def test_summary_bands():
    rows = [{"category": "mug", "elevation_deg": e, "elevation_error_deg": d, "rot_err_deg": r}
            for e, d, r in ((10, 4.0, 8.0), (12, 2.0, 6.0), (70, -3.0, 5.0))]  # fmt: skip
    s = bench.summarize(rows)["mug"]
    assert s["all"]["objects"] == 3
    assert s["0..20"] == {"objects": 2, "median_rot_err_deg": 7.0,
                          "mean_elevation_error_deg": 3.0}  # fmt: skip
    assert s["65..90"]["mean_elevation_error_deg"] == -3.0 and "35..50" not in s


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("elevation")
    generate_dataset(DatasetConfig(["mug"], root / "data", images=2, width=96, height=72,
                                   instances=1, split="test"), progress=False)  # fmt: skip
    torch.manual_seed(0)
    model = NemoModel(NemoConfig("mug", backbone="tiny", dim=16, crop_size=64, n_vertices=200,
                                 n_clutter=64))  # fmt: skip
    return root, save_checkpoint(root / "mug.pt", model)


def test_dataset_and_oracle_modes(setup, capsys):
    root, path = setup
    out = root / "elev.json"
    assert bench.main(["--data", str(root / "data"), "--checkpoint", str(path),
                       "--json", str(out)]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "device:" in printed and "mug      elevation     all" in printed
    res = json.loads(out.read_text())
    assert len(res["rows"]) == res["summary"]["mug"]["all"]["objects"] > 0
    # a perfect feature map (here at the map's own resolution) gives the pose back
    assert bench.main(["--oracle", "--checkpoint", str(path), "--supersample", "1",
                       "--per-elevation", "1", "--json", str(out)]) == 0  # fmt: skip
    rows = json.loads(out.read_text())["rows"]
    assert len(rows) == 6 and np.median([r["rot_err_deg"] for r in rows]) < 5.0


def test_bad_arguments(setup, capsys):
    root, path = setup
    assert bench.main(["--checkpoint", str(path)]) == 2  # neither --data nor --oracle
    assert bench.main(["--oracle", "--data", str(root), "--checkpoint", str(path)]) == 2
    assert bench.main(["--data", str(root / "none"), "--checkpoint", str(path)]) == 1
    assert "error" in capsys.readouterr().err
