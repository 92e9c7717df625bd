"""benchmarks/nemo_second_opinions.py: the candidate poses are what they claim (upright, turned,
handle behind, mirrored), the rules count right, and the probe runs on a tiny model."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from benchmarks import nemo_second_opinions as so
from ros_pose_estimation.core.camera import Intrinsics
from ros_pose_estimation.core.estimation import Detection
from ros_pose_estimation.core.metrics import rotation_error_deg
from ros_pose_estimation.core.rotations import axis_angle_to_matrix


def _random_rotation(seed: int) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def test_turned_candidates_stand_on_up_and_turn_about_it():
    up = np.array([0.1, -0.9, -0.3])
    up /= np.linalg.norm(up)
    from ros_pose_estimation.core.standing import stand_upright

    upright = stand_upright(_random_rotation(1), up, 180.0)
    R = axis_angle_to_matrix(upright[:, 0] * math.radians(20)) @ upright  # leaning 20 deg
    assert rotation_error_deg(R, upright, None) == pytest.approx(20.0)
    size = np.array([0.12, 0.09, 0.1])
    out = so.turned_upright(R, size, up, [0.0, 90.0, 180.0], cuboid=False)
    assert len(out) == 3
    for (Rk, sk), turn in zip(out, (0.0, 90.0, 180.0), strict=True):
        np.testing.assert_allclose(Rk[:, 2], up, atol=1e-9)
        np.testing.assert_array_equal(sk, size)
        assert rotation_error_deg(Rk, out[0][0], None) == pytest.approx(turn, abs=1e-6)


def test_a_cuboid_swaps_its_horizontal_extents_at_odd_quarter_turns():
    up = np.array([0.0, 0.0, 1.0])
    size = np.array([0.3, 0.2, 0.1])
    (R0, s0), (R1, s1), (R2, s2) = so.turned_upright(np.eye(3), size, up, [0, 90, 180], True)
    np.testing.assert_array_equal(s0, size)
    np.testing.assert_array_equal(s1, [0.2, 0.3, 0.1])
    np.testing.assert_array_equal(s2, size)
    # the same box in space: its corners' extents along the camera axes agree
    corners = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)])
    ext0 = np.ptp((R0 @ (corners * s0 / 2).T).T, axis=0)
    ext1 = np.ptp((R1 @ (corners * s1 / 2).T).T, axis=0)
    np.testing.assert_allclose(ext0, ext1, atol=1e-12)


def test_handle_behind_points_x_away_from_the_camera_about_the_same_axis():
    R = _random_rotation(3)
    t = np.array([0.1, -0.05, 0.8])
    B = so.handle_behind(R, t)
    np.testing.assert_allclose(B[:, 2], R[:, 2], atol=1e-12)
    ray = t / np.linalg.norm(t)
    flat = ray - R[:, 2] * (R[:, 2] @ ray)
    assert B[:, 0] @ flat / np.linalg.norm(flat) == pytest.approx(1.0, abs=1e-9)
    # seen straight along the axis there is no "behind": unchanged
    R_top = np.array([[1.0, 0, 0], [0, -1.0, 0], [0, 0, -1.0]])
    np.testing.assert_array_equal(so.handle_behind(R_top, np.array([0, 0, 1.0])), R_top)


def test_mirror_pose_is_its_own_inverse_and_projects_to_the_mirrored_pixels():
    R, t = _random_rotation(4), np.array([0.05, 0.02, 0.9])
    Rm, tm = so.mirror_pose(R, t)
    assert np.linalg.det(Rm) == pytest.approx(1.0)
    R2, t2 = so.mirror_pose(Rm, tm)
    np.testing.assert_allclose(R2, R, atol=1e-12)
    np.testing.assert_allclose(t2, t, atol=1e-12)
    intr = Intrinsics(500.0, 500.0, 300.5, 240.0, 640, 480)
    _, _, flipped = so.mirror_inputs(np.zeros((480, 640, 3), np.uint8), [], intr)
    X = np.random.default_rng(5).normal(scale=0.05, size=(20, 3))

    def project(K, R_, t_, pts):
        p = (R_ @ pts.T).T + t_
        return (K @ (p / p[:, 2:]).T).T[:, :2]

    uv = project(intr.K, R, t, X)
    uv_m = project(flipped.K, Rm, tm, X * np.array([1.0, -1.0, 1.0]))  # the point's mirror
    np.testing.assert_allclose(uv_m[:, 0], 639 - uv[:, 0], atol=1e-9)
    np.testing.assert_allclose(uv_m[:, 1], uv[:, 1], atol=1e-9)


def test_mirror_inputs_flip_the_image_boxes_and_masks():
    rgb = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    mask = np.zeros((4, 6), bool)
    mask[1:3, 0:2] = True
    intr = Intrinsics(10.0, 10.0, 2.0, 2.0, 6, 4)
    img, dets, flipped = so.mirror_inputs(rgb, [Detection("mug", [0, 1, 1, 2], mask)], intr)
    np.testing.assert_array_equal(img, rgb[:, ::-1])
    np.testing.assert_array_equal(dets[0].box_xyxy, [4, 1, 5, 2])
    np.testing.assert_array_equal(dets[0].mask, mask[:, ::-1])
    assert flipped.cx == 3.0 and flipped.cy == 2.0
    back, dets2, intr2 = so.mirror_inputs(img, dets, flipped)
    np.testing.assert_array_equal(back, rgb)
    np.testing.assert_array_equal(dets2[0].box_xyxy, [0, 1, 1, 2])
    assert intr2 == intr


def test_jittered_box_scales_about_the_centre_then_moves_by_the_box_size():
    box = np.array([10.0, 20.0, 50.0, 40.0])  # 40 x 20 px, centre (30, 30)
    np.testing.assert_allclose(so.jittered_box(box, 1.0, 0.0, 0.0), box)
    np.testing.assert_allclose(so.jittered_box(box, 1.1, 0.0, 0.0), [8.0, 19.0, 52.0, 41.0])
    np.testing.assert_allclose(so.jittered_box(box, 1.0, 0.25, -0.5), [20.0, 10.0, 60.0, 30.0])


def test_box_overlap_of_a_box_seen_face_on_and_turned_a_quarter():
    intr = Intrinsics(500.0, 500.0, 320.0, 240.0, 640, 480)
    t, size = np.array([0.0, 0.0, 2.0]), np.array([0.4, 0.1, 0.2])
    # seen along its y: the image box is x by z, 100 x 50 px at 2 m
    R = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])
    near = 500.0 / 1.95  # px per m on the face nearest the camera
    det = [320 - 0.2 * near, 240 - 0.1 * near, 320 + 0.2 * near, 240 + 0.1 * near]
    assert so.box_overlap(R, t, size, det, intr) == pytest.approx(1.0)
    # the longer edge on the other horizontal axis: a narrower, deeper box in the image
    turned = so.box_overlap(R @ so.QUARTER, t, size, det, intr)
    assert turned < 0.5
    np.testing.assert_allclose(so.QUARTER @ [1.0, 0, 0], [0, 1.0, 0])
    assert so.box_overlap(R, np.array([0.0, 0.0, -2.0]), size, det, intr) == 0.0


def _row(error, loss, turn_errors, turn_losses, **extra):
    row = {"category": "box", "error_deg": error, "loss": loss, "turn_errors_deg": turn_errors,
           "turn_losses": turn_losses, "behind_error_deg": error, "behind_loss_gap": 1.0,
           "mirror_error_deg": error, "mirror_loss": loss + 1.0, "mirror_gap_deg": 0.0,
           "mirror_mean_error_deg": None}  # fmt: skip
    row.update(extra)
    return row


def test_summary_replaces_by_loss_and_margin_and_the_oracle_by_error():
    rows = [
        _row(80.0, 0.95, [5.0, 80.0], [0.94, 0.96]),  # a lower-loss candidate fixes it
        _row(4.0, 0.90, [88.0, 4.0], [0.897, 0.91]),  # one misleads, by 0.003
        _row(60.0, 0.90, [3.0, 60.0], [0.99, 0.99]),  # the right one scores worse
    ]
    s = so.summarize(rows, margins=(0.0, 0.005))
    assert s["estimate"]["acc_pi_6"] == pytest.approx(1 / 3)
    assert s["turns, margin 0"]["replaced"] == 2
    assert s["turns, margin 0"]["acc_pi_6"] == pytest.approx(1 / 3)  # one fixed, one broken
    assert s["turns, margin 0.005"]["replaced"] == 1
    assert s["turns, margin 0.005"]["acc_pi_6"] == pytest.approx(2 / 3)
    assert s["turns, oracle"]["acc_pi_6"] == 1.0
    assert "behind, margin 0" not in s  # mugs only
    assert s["mirror, lower loss"]["replaced"] == 0
    assert "jitter, mean if close" not in s and "box agreement, oracle" not in s


def test_summary_of_the_jitter_mean_and_the_box_agreement():
    rows = [
        _row(80.0, 0.9, [80.0], [0.9], jitter_mean_error_deg=70.0, jitter_kept=3,
             agree_error_deg=5.0, agree_iou=0.9, estimate_iou=0.8),  # the box fixes it
        _row(4.0, 0.9, [4.0], [0.9], jitter_mean_error_deg=3.0, jitter_kept=1,
             agree_error_deg=85.0, agree_iou=0.81, estimate_iou=0.8),  # misleads by 0.01
        _row(50.0, 0.9, [50.0], [0.9], jitter_mean_error_deg=20.0, jitter_kept=7,
             agree_error_deg=2.0, agree_iou=0.5, estimate_iou=0.8),  # right, but worse box
    ]  # fmt: skip
    s = so.summarize(rows, margins=(0.0,))
    assert s["jitter, mean if close"]["acc_pi_6"] == pytest.approx(2 / 3)
    assert s["jitter, mean if close"]["replaced"] == 2
    assert s["box agreement, margin 0"]["replaced"] == 2
    assert s["box agreement, margin 0"]["acc_pi_6"] == pytest.approx(1 / 3)
    assert s["box agreement, margin 0.02"]["replaced"] == 1
    assert s["box agreement, margin 0.02"]["acc_pi_6"] == pytest.approx(2 / 3)
    assert s["box agreement, oracle"]["acc_pi_6"] == 1.0


def _tiny_model(tmp_path_factory, category):
    from offline_training.synthetic.dataset import DatasetConfig, generate_dataset
    from ros_pose_estimation.nemo.checkpoint import save_checkpoint
    from ros_pose_estimation.nemo.model import NemoConfig, NemoModel

    root = tmp_path_factory.mktemp(f"second_{category}")
    generate_dataset(DatasetConfig([category], root / "data", images=2, width=96, height=72,
                                   instances=1), progress=False)  # fmt: skip
    torch.manual_seed(0)
    model = NemoModel(NemoConfig(category, backbone="tiny", dim=16, crop_size=64,
                                 n_vertices=200, n_clutter=64))  # fmt: skip
    return root, save_checkpoint(root / f"{category}.pt", model)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return _tiny_model(tmp_path_factory, "mug")


@pytest.mark.parametrize("gravity", [False, True])
def test_probe_runs_every_rule_on_a_tiny_model(tiny, gravity, capsys):
    root, path = tiny
    out = root / f"second_{gravity}.json"
    argv = ["--data", str(root / "data"), "--split", "train", "--checkpoint", str(path),
            "--max-objects", "2",
            "--turns", "0", "180", "--json", str(out)] + (["--gravity"] if gravity else [])
    assert so.main(argv) == 0
    printed = capsys.readouterr().out
    assert "device:" in printed and "mirror, lower loss" in printed
    result = json.loads(out.read_text())
    assert result["gravity"] is gravity
    rows = result["objects"]
    assert 1 <= len(rows) <= 2
    assert all(len(r["turn_losses"]) == 2 for r in rows)
    assert {"estimate", "turns, oracle", "behind, margin 0", "mirror alone"} <= set(
        result["summary"])
    for figures in result["summary"].values():
        assert 0.0 <= figures["acc_pi_6"] <= 1.0


def test_probe_judges_a_box_by_its_detection_box(tmp_path_factory, capsys):
    root, path = _tiny_model(tmp_path_factory, "box")
    out = root / "second_box.json"
    assert so.main(["--data", str(root / "data"), "--split", "train", "--checkpoint",
                    str(path), "--max-objects", "2", "--turns", "0", "--json", str(out)]) == 0
    assert "box agreement, margin 0.02" in capsys.readouterr().out
    result = json.loads(out.read_text())
    for row in result["objects"]:
        assert 0.0 <= row["agree_iou"] <= 1.0 and 0.0 <= row["estimate_iou"] <= 1.0
        assert len(row["jitter_errors_deg"]) == len(so.JITTERS)
        assert 1 <= row["jitter_kept"] <= len(so.JITTERS) + 1
    assert "jitter, mean if close" in result["summary"]


def test_probe_exits_2_on_a_missing_checkpoint(tiny, capsys):
    root, _ = tiny
    assert so.main(["--data", str(root / "data"), "--split", "train", "--checkpoint",
                    str(root / "none.pt")]) == 2
    assert "nemo_second_opinions: error" in capsys.readouterr().err
