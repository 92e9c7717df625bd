"""TF consensus and the combined path in the shared adaptation loop, on tiny sequences: tracks
follow the views-per-layout rule; the consensus of noisy per-frame estimates with an outlier
per track is carried into every frame (also the outlier's) and beats the per-frame estimates;
a disagreeing track is rejected and the combined path fills it from CC3D's top-k; a target
without camera poses, or without --views-per-layout, is refused with what to fix."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from offline_training.adapt.cc3d import CC3DPath
from offline_training.adapt.cli import main
from offline_training.adapt.combined import CombinedPath
from offline_training.adapt.loop import load_report
from offline_training.adapt.pseudo_labels import PseudoLabel
from offline_training.adapt.tf_consensus import (
    TFConsensusPath,
    camera_poses,
    consensus_pseudo_labels,
    tracks_of,
)
from offline_training.bags.tf_consensus import ConsensusConfig
from offline_training.synthetic.bop_reader import BopDataset
from offline_training.synthetic.dataset import DatasetConfig, generate_dataset
from ros_pose_estimation.core.errors import InputError
from ros_pose_estimation.core.metrics import rotation_error_deg

VIEWS = 6
CONFIG = ConsensusConfig(min_inliers=3, score_temperature=0.0)  # scores here are random


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    """Two layouts of 6 views each (mug, 96x72, camera poses in scene_camera.json)."""
    root = tmp_path_factory.mktemp("tfc") / "target"
    generate_dataset(DatasetConfig(["mug"], root, images=2 * VIEWS, seed=5, width=96, height=72,
                                   instances=2, views_per_layout=VIEWS, objects_per_image=(1, 2),
                                   fill=(0.6, 0.9)), progress=False)  # fmt: skip
    return root


def _estimates(root, noise_deg=8.0, bad_track=None, seed=0) -> list[PseudoLabel]:
    """Per-frame 'estimates': the truth turned by ``noise_deg`` about a random axis, one view
    per track flipped 180 deg (an outlier); every view of ``bad_track`` random."""
    rng = np.random.default_rng(seed)
    ds = BopDataset(root, "train", load_masks=False)
    out = []
    for pos in range(len(ds)):
        s = ds[pos]
        for k, obj in enumerate(s.objects):
            if obj.visib_fract < 0.3:
                continue
            axis = rng.normal(size=3)
            turn = Rotation.from_rotvec(np.deg2rad(noise_deg) * axis / np.linalg.norm(axis))
            R = turn.as_matrix() @ obj.R
            if pos % VIEWS == 2:  # the outlier view of every track
                R = R @ Rotation.from_euler("z", 180, degrees=True).as_matrix()
            if bad_track is not None and (pos // VIEWS, k) == bad_track:
                R = Rotation.random(random_state=int(rng.integers(1 << 30))).as_matrix()
            t = obj.t + rng.normal(scale=0.005, size=3)
            err = float(rotation_error_deg(R, obj.R, "mug"))
            out.append(PseudoLabel(s.scene_id, s.im_id, k, obj.obj_id, "mug", R, t,
                                   float(rng.uniform(0.5, 0.9)), err))  # fmt: skip
    return out


def _poses(root) -> dict:
    return camera_poses(BopDataset(root, "train", load_masks=False))


def _truth(root) -> dict:
    ds = BopDataset(root, "train", load_masks=False)
    return {(s.scene_id, s.im_id, k): o.R for s in (ds[i] for i in range(len(ds)))
            for k, o in enumerate(s.objects)}  # fmt: skip


def test_tracks_follow_the_views_per_layout_rule(target):
    poses = _poses(target)
    assert len(poses) == 2 * VIEWS
    labels = _estimates(target)
    tracks = tracks_of(labels, list(poses), VIEWS)
    assert {seq for seq, _ in tracks} == {0, 1}
    for (seq, k), idx in tracks.items():
        ims = sorted(labels[i].im_id for i in idx)
        assert all(im // VIEWS == seq for im in ims) and {labels[i].gt_index for i in idx} == {k}
    # read without decoding images: the same as the decoded samples say
    truth, quick = _truth(target), BopDataset(target, "train", load_masks=False).gt_rotations()
    assert quick.keys() == truth.keys()
    for key, R in truth.items():
        np.testing.assert_allclose(quick[key], R, atol=1e-12)
    # the camera poses are where the data engine put the camera: the true object pose is the
    # same in the world from every view of a layout
    ds = BopDataset(target, "train", load_masks=False)
    world = [poses[(s.scene_id, s.im_id)][:3, :3] @ s.objects[0].R
             for s in (ds[i] for i in range(VIEWS))]  # fmt: skip
    np.testing.assert_allclose(world, np.broadcast_to(world[0], (VIEWS, 3, 3)), atol=1e-5)


def test_consensus_labels_beat_the_per_frame_estimates(target):
    labels = _estimates(target)
    kept, per_frame, tracks = consensus_pseudo_labels(labels, _poses(target), VIEWS,
                                                      _truth(target), CONFIG)  # fmt: skip
    assert tracks and all(t["accepted"] for t in tracks)
    assert len(kept) == len(per_frame) == len(labels)
    before = np.array([lb.rot_err_deg for lb in per_frame])
    after = np.array([lb.rot_err_deg for lb in kept])
    assert np.median(after) < 0.6 * np.median(before)
    outliers = before > 90  # the flipped views got the consensus too
    assert outliers.any() and after[outliers].max() < 10.0
    # the labels of one track are one pose in the world
    poses = _poses(target)
    first = [lb for lb in kept if lb.gt_index == 0 and lb.im_id < VIEWS]
    world = [poses[(lb.scene_id, lb.im_id)][:3, :3] @ lb.R for lb in first]
    np.testing.assert_allclose(world, np.broadcast_to(world[0], (len(world), 3, 3)), atol=1e-9)


def test_rejected_track_gives_no_label_and_combined_fills_it_from_cc3d(target, tmp_path,
                                                                       monkeypatch):
    labels = _estimates(target, bad_track=(1, 0))
    monkeypatch.setattr(CC3DPath, "estimate", lambda self, ckpt, round_dir: labels)
    path = TFConsensusPath(str(target), views_per_layout=VIEWS, config=CONFIG)
    got = path.label(tmp_path / "ckpt.pt", tmp_path)
    stats = got.stats
    assert stats["tracks_accepted"] == stats["tracks"] - 1
    n_bad = sum(1 for lb in labels if lb.im_id >= VIEWS and lb.gt_index == 0)
    assert stats["kept"] == len(labels) - n_bad and stats["estimated"] == len(labels)
    assert stats["accuracy_kept"]["median_deg"] < stats["accuracy_kept_per_frame"]["median_deg"]
    assert len(BopDataset(got.data, "train")) == stats["kept"]
    summary = json.loads((tmp_path / "consensus.json").read_text())
    assert [t["reason"] != "" for t in summary].count(True) == 1
    (tmp_path / "c").mkdir()  # the loop makes every round's folder
    combined = CombinedPath(path, top_k=2).label(tmp_path / "ckpt.pt", tmp_path / "c")
    assert combined.stats["kept_consensus"] == stats["kept"]
    assert combined.stats["kept_cc3d"] == min(2, n_bad)
    assert combined.stats["kept"] == stats["kept"] + combined.stats["kept_cc3d"]


def test_target_without_camera_poses_is_refused(target, tmp_path):
    import shutil

    copy = tmp_path / "nopose"
    shutil.copytree(target, copy)
    cam_file = copy / "train" / "000000" / "scene_camera.json"
    cams = json.loads(cam_file.read_text())
    for cam in cams.values():
        cam.pop("cam_R_w2c")
    cam_file.write_text(json.dumps(cams))
    with pytest.raises(InputError, match="no camera pose.*views-per-layout"):
        camera_poses(BopDataset(copy, "train", load_masks=False))


def test_adapt_nemo_tf_consensus_needs_views_per_layout(make_adapt_roots, capsys):
    target, heldout, ckpt = make_adapt_roots("tfc_cli", target_images=2)
    args = ["--method", "tf-consensus", "--checkpoint", str(ckpt), "--target", str(target),
            "--heldout", str(heldout), "--out", "unused"]  # fmt: skip
    assert main(args) == 2
    assert "needs --views-per-layout" in capsys.readouterr().err


def test_adapt_nemo_combined_end_to_end(target, make_adapt_roots, tmp_path):
    _, heldout, ckpt = make_adapt_roots("tfc_e2e", target_images=2)
    args = ["--method", "combined", "--checkpoint", str(ckpt), "--target", str(target),
            "--heldout", str(heldout), "--out", str(tmp_path / "run"), "--views-per-layout",
            str(VIEWS), "--top-k", "3", "--steps", "2", "--batch-size", "2", "--preset", "fast",
            "--eval-max-objects", "2", "--rounds", "1"]  # fmt: skip
    assert main(args) == 0
    report = load_report(tmp_path / "run" / "report.json")
    (r1,) = report["rounds"]
    lab = r1["labels"]
    assert report["method"] == "combined" and report["settings"]["views_per_layout"] == VIEWS
    assert lab["kept"] == lab["kept_consensus"] + lab["kept_cc3d"] and lab["kept"] >= 1
    assert "accuracy_kept_per_frame" in lab and r1["heldout"]["count"] == 2
