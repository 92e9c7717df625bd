"""calibrate-cse on a tiny generated RGB-D dataset: writes a checkpoint carrying the rotation
and centre correction, reuses its cache only for the same inputs, and fails with a message
that says what to fix."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from offline_training.cse.calibrate import main
from ros_pose_estimation.cse.checkpoint import load_checkpoint, save_checkpoint
from ros_pose_estimation.cse.model import CseConfig, CseModel
from test.offline_training.tiny_nemo import tiny_mug_set

LOOSE = ["--min-visib", "0.0", "--max-error", "180", "--max-centre-error", "100"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root, _ = tiny_mug_set(tmp_path_factory.mktemp("cse_cal"), instances=2, images=8, objects=4,
                           seed=5, split="val")  # fmt: skip
    torch.manual_seed(0)
    model = CseModel(CseConfig("mug", backbone="tiny", crop_size=64, n_vertices=150))
    return root, save_checkpoint(root / "cse_mug.pt", model, {"steps": 2})


def test_writes_a_calibrated_checkpoint(data, capsys):
    root, ckpt = data
    out, report = root / "cal.pt", root / "cal.json"
    rc = main(["--checkpoint", str(ckpt), "--data", str(root / "data"), "--out", str(out),
               "--json", str(report), *LOOSE])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    text = capsys.readouterr().out
    model, meta = load_checkpoint(out)
    info = json.loads(report.read_text())
    # rotation and centre kept, and the size part when its fit kept it
    assert text.count("<- kept") == 2 + info["size"]["kept"]
    assert "cm raw" in text and "cpu" in text and "median relative size error" in text
    correction = model.view_correction
    assert correction is not None and correction.translations is not None
    assert meta["steps"] == 2 and meta["view_correction"]["pairs"] == info["pairs"] >= 20
    assert correction.translation_sigma == pytest.approx(info["translation"]["sigma_rad"])
    assert info["detections"] == "mask"
    before, _ = load_checkpoint(ckpt)  # the same weights
    for a, b in zip(before.state_dict().values(), model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert np.isfinite(list(info["translation"]["cv_median_cm"].values())).all()
    size = info["size"]  # fitted from the instances' true extents
    assert len(size["gain"]) == 3 and size["median_before_pct"] > 0
    assert (correction.size_gain is not None) == size["kept"]


def test_estimates_cache_is_reused_only_for_the_same_inputs(data, tmp_path, capsys):
    root, ckpt = data
    cache = tmp_path / "est.npz"
    args = ["--checkpoint", str(ckpt), "--data", str(root / "data"), *LOOSE,
            "--estimates", str(cache)]  # fmt: skip
    assert main(args + ["--out", str(tmp_path / "a.pt")]) == 0 and cache.is_file()
    first = load_checkpoint(tmp_path / "a.pt")[0].view_correction
    assert main(args + ["--out", str(tmp_path / "b.pt")]) == 0  # from the cache
    second = load_checkpoint(tmp_path / "b.pt")[0].view_correction
    np.testing.assert_array_equal(first.translations, second.translations)
    capsys.readouterr()
    assert main(args + ["--out", str(tmp_path / "c.pt"), "--box-only"]) == 2
    assert "holds the estimates of" in capsys.readouterr().err


def test_errors_say_what_to_fix(data, tmp_path, capsys):
    root, ckpt = data
    rc = main(["--checkpoint", str(ckpt), "--data", str(tmp_path / "none"),
               "--out", str(tmp_path / "x.pt")])  # fmt: skip
    assert rc == 2 and "calibrate-cse: error" in capsys.readouterr().err
    rc = main(["--checkpoint", str(root / "mug.pt"), "--data", str(root / "data"),
               "--out", str(tmp_path / "x.pt")])  # a NeMo checkpoint  # fmt: skip
    assert rc == 2 and "not a CSE checkpoint" in capsys.readouterr().err
    rc = main(["--checkpoint", str(ckpt), "--data", str(root / "data"), "--out",
               str(tmp_path / "x.pt"), "--min-visib", "0.0", "--max-error", "0.001"])  # fmt: skip
    assert rc == 1 and "need >= 20" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()


def test_a_fit_that_corrects_nothing_is_not_stored(data, tmp_path, monkeypatch, capsys):
    import dataclasses

    from ros_pose_estimation.core import view_correction

    real = view_correction.fit_view_correction

    def fit_nothing(*args, **kwargs):
        fit = real(*args, **kwargs)
        info = dict(fit.info, kept="none", translation=dict(fit.info["translation"], kept="none"),
                    size=dict(fit.info["size"], kept=False))  # fmt: skip
        return dataclasses.replace(fit, translations=None, translation_sigma=None, rotate=False,
                                   size_gain=None, info=info)  # fmt: skip

    monkeypatch.setattr(view_correction, "fit_view_correction", fit_nothing)
    root, ckpt = data
    out = tmp_path / "none.pt"
    assert main(["--checkpoint", str(ckpt), "--data", str(root / "data"), "--out", str(out),
                 *LOOSE]) == 0  # fmt: skip
    text = capsys.readouterr().out
    assert "rotation is left alone" in text and "translation is left alone" in text
    assert "the size is left alone" in text
    assert "written without a correction" in text
    model, meta = load_checkpoint(out)
    assert model.view_correction is None and meta["view_correction"]["stored"] is False
