"""calibrate-nemo on a tiny generated dataset: writes a checkpoint carrying the correction,
and fails with a message that says what to fix."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from offline_training.nemo.calibrate import main
from ros_pose_estimation.nemo.checkpoint import load_checkpoint
from test.offline_training.tiny_nemo import tiny_mug_set


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tiny_mug_set(tmp_path_factory.mktemp("nemo_cal"), instances=2, images=6, objects=4,
                        seed=4, split="val", meta={"steps": 3})  # fmt: skip


def test_writes_a_calibrated_checkpoint(data, capsys):
    root, ckpt = data
    out, report = root / "cal.pt", root / "cal.json"
    rc = main([
        "--checkpoint", str(ckpt), "--data", str(root / "data"), "--out", str(out),
        "--min-visib", "0.0", "--max-error", "180", "--json", str(report), "--preset", "fast",
    ])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    text = capsys.readouterr().out
    assert "<- kept" in text and "cpu" in text
    model, meta = load_checkpoint(out)
    info = json.loads(report.read_text())
    assert model.view_correction is not None
    assert meta["steps"] == 3 and meta["view_correction"]["pairs"] == info["pairs"] >= 20
    assert model.view_correction.sigma == pytest.approx(info["sigma_rad"])
    before, _ = load_checkpoint(ckpt)  # the same weights
    for a, b in zip(before.state_dict().values(), model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert np.isfinite(list(info["cv_median_deg"].values())).all()


def test_estimates_cache_is_reused_only_for_the_same_inputs(data, tmp_path, capsys):
    root, ckpt = data
    cache = tmp_path / "est.npz"
    args = ["--checkpoint", str(ckpt), "--data", str(root / "data"), "--min-visib", "0.0",
            "--max-error", "180", "--preset", "fast", "--estimates", str(cache)]  # fmt: skip
    assert main(args + ["--out", str(tmp_path / "a.pt")]) == 0 and cache.is_file()
    first = load_checkpoint(tmp_path / "a.pt")[0].view_correction
    assert main(args + ["--out", str(tmp_path / "b.pt")]) == 0  # from the cache
    second = load_checkpoint(tmp_path / "b.pt")[0].view_correction
    np.testing.assert_array_equal(first.residuals, second.residuals)
    capsys.readouterr()
    other = [a if a != "fast" else "default" for a in args]
    assert main(other + ["--out", str(tmp_path / "c.pt")]) == 2
    assert "holds the estimates of" in capsys.readouterr().err


def test_errors_say_what_to_fix(data, tmp_path, capsys):
    root, ckpt = data
    rc = main(["--checkpoint", str(ckpt), "--data", str(tmp_path / "none"),
               "--out", str(tmp_path / "x.pt")])  # fmt: skip
    assert rc == 2 and "calibrate-nemo: error" in capsys.readouterr().err
    rc = main(["--checkpoint", str(tmp_path / "missing.pt"), "--data", str(root / "data"),
               "--out", str(tmp_path / "x.pt")])  # fmt: skip
    assert rc == 2 and "does not exist" in capsys.readouterr().err
    rc = main(["--checkpoint", str(ckpt), "--data", str(root / "data"), "--out",
               str(tmp_path / "x.pt"), "--min-visib", "0.0", "--max-error", "0.001",
               "--preset", "fast"])  # fmt: skip
    assert rc == 1 and "need >= 20" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()


def test_an_image_missing_mid_run_is_named_and_nothing_is_written(data, tmp_path, capsys):
    root, ckpt = data
    copy = tmp_path / "data"
    shutil.copytree(root / "data", copy)
    sorted(copy.glob("val/000000/rgb/000000.*"))[0].unlink()
    rc = main(["--checkpoint", str(ckpt), "--data", str(copy), "--out", str(tmp_path / "x.pt"),
               "--min-visib", "0.0", "--preset", "fast"])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and "calibrate-nemo: error: image 0 of scene 000000" in err
    assert "is missing: restore it" in err and not (tmp_path / "x.pt").exists()


@pytest.mark.parametrize("content", ["text", "npy", "foreign", "truncated"])
def test_an_estimates_file_that_is_not_ours_is_refused_without_unpickling(tmp_path, content):
    """A text file would make numpy suggest allow_pickle; a .npy, another .npz or a cut-off
    file are refused the same way: named, with what to do, exit code 2."""
    import numpy as np

    from offline_training.calibration import CalibrationError, cached_estimates

    path = tmp_path / "estimates.npz"
    if content == "text":
        path.write_text("not an archive")
    elif content == "npy":
        with path.open("wb") as f:
            np.save(f, np.zeros(3))
    elif content == "foreign":
        np.savez(path, other=np.zeros(3))
    else:
        np.savez(path, source="x", a=np.zeros(1000))
        path.write_bytes(path.read_bytes()[:100])

    def collect():
        raise AssertionError("a refused file must not be recomputed over")

    with pytest.raises(CalibrationError, match="not an estimates file written by this tool") as e:
        cached_estimates(path, "x", collect)
    assert e.value.code == 2 and "allow_pickle" not in str(e.value)
