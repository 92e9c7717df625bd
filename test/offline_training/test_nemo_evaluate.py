"""evaluate-nemo on a tiny generated BOP dataset with an untrained tiny model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from offline_training.nemo.evaluate import (
    ObjectResult,
    bop_box_to_xyxy,
    format_summary,
    main,
    summarize,
)
from offline_training.synthetic.cli import dataset_main
from ros_pose_estimation.nemo.checkpoint import save_checkpoint
from ros_pose_estimation.nemo.model import NemoConfig, NemoModel


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("nemo_eval")
    rc = dataset_main([
        "--category", "mug", "--instances", "1", "--images", "2", "--out", str(root / "data"),
        "--seed", "3", "--split", "test", "--width", "160", "--height", "120",
        "--objects-per-image", "2", "--no-progress", "--no-noise", "--no-shadows",
    ])  # fmt: skip
    assert rc == 0
    torch.manual_seed(0)
    cfg = NemoConfig("mug", backbone="tiny", dim=16, crop_size=64, n_vertices=200)
    ckpt = save_checkpoint(root / "mug.pt", NemoModel(cfg))
    return root, ckpt


def test_cli_reports_accuracy_latency_and_writes_json(data, capsys):
    root, ckpt = data
    out = root / "eval.json"
    rc = main([
        "--data", str(root / "data"), "--checkpoint", str(ckpt), "--preset", "fast",
        "--preset", "default", "--max-objects", "2", "--min-visib", "0.0", "--json", str(out),
        "--quiet",
    ])  # fmt: skip
    assert rc == 0
    text = capsys.readouterr().out
    assert "Acc@pi/6" in text and "device: cpu" in text
    payload = json.loads(out.read_text())
    assert set(payload["summary"]) == {"fast", "default"}
    for preset in ("fast", "default"):
        m = payload["summary"][preset]["mug"]
        assert m["count"] == 2 and m == payload["summary"][preset]["all"]
        assert 0.0 <= m["acc_pi_6"] <= 1.0 and m["latency_ms_median"] > 0
        assert np.isfinite(m["median_rot_deg"]) and np.isfinite(m["median_trans_cm"])
    objects = payload["objects"]
    assert len(objects) == 4
    fast = [(o["im_id"], o["gt_index"]) for o in objects if o["preset"] == "fast"]
    default = [(o["im_id"], o["gt_index"]) for o in objects if o["preset"] == "default"]
    assert fast == default  # the same objects for every preset
    assert payload["presets"]["fast"]["top_k"] == 4


def test_cli_rejects_missing_inputs(data, tmp_path, capsys):
    root, ckpt = data
    assert main(["--data", str(tmp_path), "--checkpoint", str(ckpt), "--quiet"]) == 2
    assert "no split folder" in capsys.readouterr().err
    assert main(["--data", str(root / "data"), "--checkpoint", str(tmp_path / "x.pt")]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["--data", str(root / "data"), "--checkpoint", str(ckpt), "--preset", "slow"])
    assert exc.value.code == 2
    rc = main(["--data", str(root / "data"), "--checkpoint", str(ckpt), "--min-visib", "2",
               "--quiet"])  # fmt: skip
    assert rc == 1 and "no object of mug" in capsys.readouterr().err


def test_box_conversion_and_summary():
    assert bop_box_to_xyxy([10, 20, 5, 8]).tolist() == [9.5, 19.5, 15.5, 28.5]
    rows = [
        ObjectResult("default", "mug", 0, i, 0, 1.0, err, 0.01 * i, 0.5, 10.0 * (i + 1), 20, True)
        for i, err in enumerate([5.0, 20.0, 50.0, 1.0])
    ]
    summary = summarize(rows)
    m = summary["default"]["mug"]
    assert m["acc_pi_6"] == 0.75 and m["acc_pi_18"] == 0.5
    assert m["median_rot_deg"] == 12.5 and m["median_trans_cm"] == pytest.approx(1.5)
    assert m["latency_ms_median"] == 25.0
    assert "default" in format_summary(summary, "cpu")


def test_parse_variants_builds_validated_configs():
    import pytest

    from offline_training.nemo.evaluate import parse_variants
    from ros_pose_estimation.core.errors import ConfigError

    variants = parse_variants(['J={"fine": {"steps": 40, "raster_every": 8}}',
                               'K={"coarse_vertices": 256}'])  # fmt: skip
    assert variants["J"].fine.steps == 40 and variants["J"].fine.raster_every == 8
    assert variants["K"].coarse_vertices == 256
    for bad in ("J", "=1", 'J={"steps": 3', "J=[1]", 'J={"nope": 1}', 'J={"fine": {"steps": -1}}'):
        with pytest.raises(ConfigError):
            parse_variants([bad])
