"""``pose-train --method cse``: a generated RGB-D bag -> label-free sequences -> a CSE model."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("rosbags", reason="rosbags is part of the 'data' extra")

import offline_training.bags.ground_truth as ground_truth
import offline_training.bags.pseudo_labels as pseudo_labels
from offline_training.bags.cache import list_recordings
from offline_training.bags.export_bop import model_masks, scaled_template
from offline_training.bags.export_cse import depth_mask, plan_sequences, support_plane
from offline_training.pose_train import main
from offline_training.synthetic.recording import RecordingConfig, write_recording
from ros_pose_estimation.core.errors import ConfigError, InputError
from ros_pose_estimation.core.estimation import Detection
from ros_pose_estimation.cse.estimator import CseEstimator, CseInferenceConfig

TINY = ("--method cse --backbone tiny --crop-size 64 --n-vertices 150 --batch-size 2 "
        "--num-workers 0 --num-threads 1 --no-progress --views-per-sequence 5").split()


@pytest.fixture(scope="module")
def bag(tmp_path_factory):
    """2 mugs, 2 s at 5 Hz (10 frames, 160 x 120) with depth noise."""
    root = tmp_path_factory.mktemp("pose_train_cse")
    cfg = RecordingConfig(categories=["mug"], n_objects=2, duration=2.0, rate=5.0, tf_rate=15.0,
                          width=160, height=120, noise="depth", seed=4)  # fmt: skip
    write_recording(cfg, root / "bag", progress=False)
    return root / "bag"


def _args(bag, out, cache, *extra):
    return [str(bag), "--category", "mug", "--out", str(out), "--cache", str(cache), "--steps",
            "3", *TINY, *extra]  # fmt: skip


def _refuse(*_, **__):
    raise AssertionError("--method cse must not read poses (ground truth or pseudo-labels)")


def test_unlabeled_bag_to_a_cse_model_without_pose_labels(bag, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(ground_truth, "ground_truth_labels", _refuse)
    monkeypatch.setattr(pseudo_labels, "label_recording", _refuse)
    out, cache = tmp_path / "run", tmp_path / "cache"
    assert main(_args(bag, out, cache, "--labels", "none")) == 0
    assert "self-supervised CSE (RGB-D, no pose labels)" in capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    export = report["export"]
    assert export["views_per_sequence"] == 5 and export["sequences"] == 2
    assert export["images"] == 10 and export["objects"] > 10  # 2 mugs, most frames both seen
    assert [s[1] for s in export["scenes"]] == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]
    # the exported dataset holds no object pose: scene_gt has obj_id only
    split = out / "data" / "train"
    scenes = sorted(p for p in split.iterdir() if p.is_dir())
    assert len(scenes) == 2
    for scene in scenes:
        gt = json.loads((scene / "scene_gt.json").read_text())
        assert len(gt) == 5
        assert all(set(o) == {"obj_id"} for objs in gt.values() for o in objs), gt
        assert "m2c" not in (scene / "scene_gt.json").read_text()
        cams = json.loads((scene / "scene_camera.json").read_text())
        assert all({"cam_R_w2c", "cam_t_w2c", "depth_scale"} <= set(c) for c in cams.values())
        assert len(list((scene / "depth").glob("*.png"))) == 5
        assert list((scene / "mask_visib").glob("*.png"))
    # the node's estimator loads the model and runs on a frame of the recording
    frame = list_recordings(cache)[0].frame(4)
    # 3 steps train no confident cells: take every cell, so the whole solve path runs
    # a few steps of training: take every cell and keep poses that miss their boxes (loads and
    # runs in the node's estimator is what is checked here, not accuracy)
    loose = CseInferenceConfig(min_confidence=0.0, min_box_cover=0.0)
    est = CseEstimator.from_checkpoints([out / "mug.pt"], loose)
    assert est.categories == ["mug"]
    dets = [Detection("mug", o.box_xyxy) for o in frame.objects]
    poses = est.estimate(frame.rgb, dets, frame.intrinsics, frame.depth, errors="none")
    assert len(poses) == len(dets) >= 1
    assert any(p is not None and p.R.shape == (3, 3) for p in poses), poses


def test_depth_masks_match_the_visible_objects(bag, tmp_path):
    """Label-free masks vs the visible masks of the ground-truth poses (evaluation only)."""
    assert main(_args(bag, tmp_path / "run", tmp_path / "cache", "--steps", "1")) == 0
    rec = list_recordings(tmp_path / "cache")[0]
    truth = {lb.track_id: lb for lb in ground_truth.ground_truth_labels(rec, ["mug"])}
    ious = []
    for frame in rec.frames():
        plane = support_plane(frame.depth, frame.intrinsics, [o.box_xyxy for o in frame.objects])
        assert plane is not None
        for o in frame.objects:
            mask = depth_mask(frame.depth, frame.intrinsics, o.box_xyxy, plane)
            lb = truth[o.track_id]
            T = np.linalg.inv(frame.T_fixed_cam) @ lb.pose()
            _, visible = model_masks(scaled_template("mug", lb.extents), T, frame.intrinsics,
                                     frame.depth)  # fmt: skip
            ious.append(np.sum(mask & visible) / np.sum(mask | visible))
    # measured: median 0.69, min 0.60 (the noisy depth misses pixels at the silhouette)
    assert len(ious) == 20 and np.median(ious) > 0.6 and min(ious) > 0.45, ious


def test_plan_sequences_chunks_each_recording():
    views, scenes = plan_sequences([list(range(12)), [0, 2, 4, 6, 8, 10]], 5)
    assert views == 5
    assert [s[1] for s in scenes] == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [7, 8, 9, 10, 11],
                                      [0, 2, 4, 6, 8], [2, 4, 6, 8, 10]]  # fmt: skip
    assert [s[0] for s in scenes] == [0, 0, 0, 1, 1]
    assert plan_sequences([list(range(12)), [3, 4, 5], [7]], 8)[0] == 3  # the shortest usable
    with pytest.raises(InputError, match="2 frames"):
        plan_sequences([[1], []], 5)
    with pytest.raises(ConfigError, match=">= 2"):
        plan_sequences([list(range(5))], 1)


def test_cse_refuses_nemo_only_options(bag, tmp_path, capsys):
    assert main(_args(bag, tmp_path / "a", tmp_path / "cache", "--supervised")) == 2
    assert "--supervised: NeMo-only" in capsys.readouterr().err
    # no track of the category in the recording: nothing to train on
    assert main(_args(bag, tmp_path / "b", tmp_path / "cache", "--category", "bottle")) == 1
    assert "track of the category" in capsys.readouterr().err


def test_cse_starts_from_an_init_checkpoint_with_its_settings(bag, tmp_path, capsys):
    """--init-checkpoint with --method cse: the synthetic model's settings are used (here the
    first run's; its n_vertices 150 wins over a different --n-vertices) and training starts
    from its weights, recorded in the report."""
    first = tmp_path / "first"
    assert main(_args(bag, first, tmp_path / "cache", "--steps", "1")) == 0
    out = tmp_path / "adapted"
    argv = _args(bag, out, tmp_path / "cache", "--steps", "1", "--init-checkpoint",
                 str(first / "mug.pt"), "--n-vertices", "300")  # fmt: skip
    assert main(argv) == 0
    assert f"fine-tuning {first / 'mug.pt'}" in capsys.readouterr().out
    from ros_pose_estimation.cse.checkpoint import load_checkpoint

    model, meta = load_checkpoint(out / "mug.pt")
    assert model.n_vertices == load_checkpoint(first / "mug.pt")[0].n_vertices
    assert meta["train_config"]["init_checkpoint"] == str(first / "mug.pt")


def test_pseudo_labels_gravity_and_eval_bag(bag, tmp_path, capsys):
    """Default --labels depth: the labeller's accepted tracks reach the exported sequences as
    poses close to the truth, the trainer reads them (pseudo term) with the upright prior on,
    and --eval-bag scores the model with the node's RGB-D estimator; report.json has it all."""
    out, cache = tmp_path / "run", tmp_path / "cache"
    assert main(_args(bag, out, cache, "--eval-bag", str(bag), "--eval-every-nth", "5",
                      "--gravity-weight", "0.5")) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "pseudo-label error vs ground truth" in printed and "tracks labelled" in printed
    report = json.loads((out / "report.json").read_text())
    assert "pseudo-labels" in report["mode"]
    accepted = [lb for lb in report["labels"] if lb["accepted"]]
    assert accepted, report["labels"]
    assert report["export"]["pseudo_labelled"] > 0
    # measured on this 10-frame bag: 1.2 and 16.9 deg (few views of the second mug)
    quality = [r for r in report["label_error_vs_ground_truth"] if r["accepted"]]
    assert quality and min(r["rot_err_deg"] for r in quality) < 5.0, quality
    # scene_gt holds each accepted label carried into the frame's camera, nothing else
    rec = list_recordings(cache)[0]
    fitted = {lb["track_id"]: np.asarray(lb["T_fixed_obj"]) for lb in accepted}
    tracks = sorted(t.track_id for t in rec.tracks if t.category == "mug")
    from ros_pose_estimation.core.conventions import bop_pose_to_metres

    n = 0
    for scene_id, (_, positions) in enumerate(report["export"]["scenes"]):
        gt = json.loads((out / "data" / "train" / f"{scene_id:06d}" / "scene_gt.json").read_text())
        for p in positions:
            T_cam_fixed = np.linalg.inv(rec.frame(p).T_fixed_cam)
            for k, obj in enumerate(gt[str(p)]):
                assert ("cam_R_m2c" in obj) == (tracks[k] in fitted and "pseudo_label" in obj)
                if "cam_R_m2c" not in obj:
                    continue
                R, t = bop_pose_to_metres(obj["cam_R_m2c"], obj["cam_t_m2c"])
                T = T_cam_fixed @ fitted[tracks[k]]
                np.testing.assert_allclose(R, T[:3, :3], atol=1e-6)
                np.testing.assert_allclose(t, T[:3, 3], atol=1e-6)
                n += 1
    assert n == report["export"]["pseudo_labelled"]
    log = [json.loads(line) for line in (out / "train" / "log.jsonl").read_text().splitlines()]
    assert "pseudo" in log[-1] and "gravity" in log[-1]
    ev = report["evaluation"]
    assert ev["objects"] == 4 and ev["frames"] == 2  # frames 0 and 5, two mugs each
    assert "per_category" in ev["metrics"] and len(ev["rows"]) == 4


def test_cse_label_options_are_checked(bag, tmp_path, capsys):
    assert main(_args(bag, tmp_path / "a", tmp_path / "cache", "--gravity-weight", "-1")) == 2
    assert "--gravity-weight" in capsys.readouterr().err
    argv = [str(bag), "--category", "mug", "--out", str(tmp_path / "b"), "--labels", "none"]
    assert main(argv) == 2
    assert "--labels none is for --method cse" in capsys.readouterr().err


def test_evaluate_bag_cli(bag, tmp_path, capsys):
    """``python -m offline_training.bags.evaluate_bag``: the node's estimator on a recording with
    ground truth, JSON out; a missing checkpoint is a usage error (2), a recording without
    ground truth a runtime one (1)."""
    import shutil

    from offline_training.bags.evaluate_bag import main as evaluate_main

    run = tmp_path / "run"
    assert main(_args(bag, run, tmp_path / "cache", "--steps", "1", "--labels", "none")) == 0
    capsys.readouterr()
    out = tmp_path / "eval.json"
    argv = [str(bag), "--checkpoint", str(run / "mug.pt"), "--every-nth", "5", "--cache",
            str(tmp_path / "cache"), "--json", str(out)]  # fmt: skip
    assert evaluate_main(argv) == 0
    assert "4 objects in 2 frames" in capsys.readouterr().out
    result = json.loads(out.read_text())
    assert result["objects"] == 4 and result["metrics"]["per_category"]["mug"]["count"] == 4
    assert evaluate_main([*argv[:2], str(tmp_path / "none.pt")]) == 2
    assert "none.pt" in capsys.readouterr().err
    # inference overrides reach the estimator; a bad one is a usage error naming it
    from offline_training.bags.evaluate_bag import make_estimator

    tuned = make_estimator("cse", [str(run / "mug.pt")], settings=["icp_steps=0"])
    default = make_estimator("cse", [str(run / "mug.pt")])
    assert tuned.config.icp_steps == 0 != default.config.icp_steps
    assert evaluate_main([*argv, "--set", "icp_steps=0"]) == 0
    assert json.loads(out.read_text())["args"]["set"] == ["icp_steps=0"]
    capsys.readouterr()
    assert evaluate_main([*argv, "--set", "icp_stpes=0"]) == 2
    assert "icp_stpes" in capsys.readouterr().err
    # the RGB estimator through the same loop (the common estimate(..., errors=) contract)
    import torch

    from ros_pose_estimation.nemo.checkpoint import save_checkpoint
    from ros_pose_estimation.nemo.model import NemoConfig, NemoModel

    torch.manual_seed(0)
    nemo = save_checkpoint(tmp_path / "nemo_mug.pt", NemoModel(
        NemoConfig("mug", backbone="tiny", dim=16, crop_size=64, n_vertices=200)))
    assert evaluate_main([str(bag), "--checkpoint", str(nemo), "--method", "nemo", "--preset",
                          "fast", "--every-nth", "5", "--cache", str(tmp_path / "cache"),
                          "--json", str(out)]) == 0  # fmt: skip
    assert "4 objects in 2 frames, 4 solved" in capsys.readouterr().out
    assert json.loads(out.read_text())["metrics"]["per_category"]["mug"]["count"] == 4
    bare = tmp_path / "bare"
    shutil.copytree(bag, bare)
    (bare / "ground_truth.json").unlink()
    assert evaluate_main([str(bare), "--checkpoint", str(run / "mug.pt"), "--cache",
                          str(tmp_path / "cache2")]) == 1  # fmt: skip
    assert "ground truth" in capsys.readouterr().err


@pytest.mark.parametrize("labels", ["depth", "none"])
def test_cse_replays_labelled_synthetic_tracks(bag, tmp_path, capsys, labels):
    """--replay-data with --method cse: labelled synthetic tracks are mixed into the batches
    (printed, recorded in run.json) and reach the loss through the pseudo term, with or
    without the bag's own pseudo-labels; --photometric perturbs the crops of both sets."""
    from offline_training.synthetic.dataset import DatasetConfig, generate_dataset

    source = tmp_path / "source"
    generate_dataset(DatasetConfig(["mug"], source, images=4, seed=1, width=96, height=72,
                                   instances=2, views_per_layout=2), progress=False)  # fmt: skip
    out = tmp_path / "run"
    assert main(_args(bag, out, tmp_path / "cache", "--labels", labels, "--replay-data",
                      str(source), "--replay-fraction", "0.5", "--replay-views-per-layout", "2",
                      "--photometric")) == 0  # fmt: skip
    assert "replay: 50 % of the items from" in capsys.readouterr().out
    saved = json.loads((out / "run.json").read_text())
    assert saved["replay_data"] == str(source) and saved["photometric"] is True
    from ros_pose_estimation.cse.checkpoint import load_checkpoint

    train_cfg = load_checkpoint(out / "mug.pt")[1]["train_config"]
    assert train_cfg["replay_data"] == str(source) and train_cfg["pseudo_labels"] is True
    assert train_cfg["photometric"] is True
    log = [json.loads(line) for line in (out / "train" / "log.jsonl").read_text().splitlines()]
    assert any(row.get("pseudo", 0.0) > 0 for row in log), log


def test_evaluate_bag_gives_gravity_from_the_recordings_tf(bag, tmp_path):
    """``evaluate_recordings(..., gravity=True)``: each frame's call gets the fixed frame's +z in
    the camera (what the node's up_frame gives); without it, no ``up``."""
    import numpy as np

    from offline_training.bags.evaluate_bag import evaluate_recordings
    from offline_training.pose_train_stages import extract
    from ros_pose_estimation.core.estimation import PoseEstimate

    recs = [r for r, _ in extract([str(bag)], tmp_path / "cache", False, "rgb")]

    class Recorder:
        categories = ("mug",)

        def __init__(self):
            self.ups = []

        def estimate(self, rgb, dets, intrinsics, errors="raise", up=None):
            self.ups.append(up)
            return [PoseEstimate(d.category, np.eye(3), np.array([0.0, 0.0, 1.0]), 0.5,
                                 np.ones(3)) for d in dets]  # fmt: skip

    plain, grav = Recorder(), Recorder()
    result = evaluate_recordings(plain, recs, ["mug"], every_nth=5)
    row = next(r for r in result["rows"] if r["solved"])  # each object's pose, size and IoU
    assert row["t_pred"] == [0.0, 0.0, 1.0] and len(row["t_gt"]) == 3
    assert row["size_pred"] == [1.0, 1.0, 1.0] and 0.0 <= row["iou"] <= 1.0
    evaluate_recordings(grav, recs, ["mug"], every_nth=5, gravity=True)
    assert plain.ups and all(up is None for up in plain.ups)
    frames = [f for f in recs[0].frames(images=False)][::5]
    expected = [f.T_fixed_cam[:3, :3].T @ np.array([0.0, 0.0, 1.0]) for f in frames
                if f.T_fixed_cam is not None]  # fmt: skip
    assert len(grav.ups) == len(plain.ups)
    np.testing.assert_allclose(grav.ups[0], expected[0])
    for up in grav.ups:
        np.testing.assert_allclose(np.linalg.norm(up), 1.0)
