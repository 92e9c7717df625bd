"""NVSM few-shot adaptation on tiny data: anchor files (seeded, nested picks; poses from the
ground truth or the file), and ``adapt-nemo --method nvsm`` end to end: the round's set holds
the anchors with their true poses plus the matches above the threshold, round 2 matches from
round 1's labels too, the report has the nvsm rounds, resume, other settings refused."""

from __future__ import annotations

import json

import numpy as np
import pytest

from offline_training.adapt.anchors import (
    Anchor,
    pick_anchors,
    read_anchors,
    resolve_anchors,
    write_anchors,
)
from offline_training.adapt.cli import main
from offline_training.adapt.loop import load_report
from offline_training.synthetic.bop_reader import BopDataset
from ros_pose_estimation.core.errors import ConfigError, InputError


@pytest.fixture(scope="module")
def roots(make_adapt_roots):
    """A target training part (6 images), a held-out part (3 images) and a tiny mug model."""
    return make_adapt_roots("nvsm", target_images=6)


def test_anchor_picks_are_seeded_nested_and_round_trip(roots, tmp_path):
    data = BopDataset(roots[0], "train", load_masks=False)
    three, four = pick_anchors(data, 3, seed=1), pick_anchors(data, 4, seed=1)
    assert three == pick_anchors(data, 3, seed=1) and set(three) <= set(four)
    assert len({(a.scene_id, a.im_id) for a in four}) == 4  # one per image
    assert pick_anchors(data, 3, seed=2) != three or len(data) == 3
    with pytest.raises(InputError, match="only"):
        pick_anchors(data, 50)
    path = write_anchors(tmp_path / "a.json", three, "t", "train", 1)
    assert read_anchors(path) == three
    raw = json.loads(path.read_text())
    raw["anchors"].append(raw["anchors"][0])
    path.write_text(json.dumps(raw))
    with pytest.raises(ConfigError, match="twice"):
        read_anchors(path)
    path.write_text(json.dumps({"format": "x"}))
    with pytest.raises(ConfigError, match="not an anchor file"):
        read_anchors(path)


def test_anchor_poses_come_from_the_file_or_the_ground_truth():
    R = tuple(np.eye(3).ravel())
    given = Anchor(0, 1, 0, R, (0.0, 0.0, 0.5))
    gt = {(0, 2, 1): (np.eye(3) * -1, np.array([0.1, 0.0, 1.0]))}
    poses = resolve_anchors([given, Anchor(0, 2, 1)], gt)
    np.testing.assert_allclose(poses[(0, 1, 0)][1], [0, 0, 0.5])
    np.testing.assert_allclose(poses[(0, 2, 1)][0], -np.eye(3))
    with pytest.raises(InputError, match="not a labelled object"):
        resolve_anchors([Anchor(0, 3, 0)], gt)


def test_adapt_nemo_nvsm_end_to_end_and_resume(roots, tmp_path, capsys):
    target, heldout, ckpt = roots
    anchors = pick_anchors(BopDataset(target, "train", load_masks=False), 2, seed=0)
    anchor_file = write_anchors(tmp_path / "anchors.json", anchors)
    args = ["--method", "nvsm", "--anchors", str(anchor_file), "--checkpoint", str(ckpt),
            "--target", str(target), "--heldout", str(heldout), "--steps", "2",
            "--batch-size", "2", "--preset", "fast", "--eval-max-objects", "2",
            "--radius", "20"]  # fmt: skip
    # nothing reaches the threshold: the round trains on the anchors alone, with their truth
    assert main([*args, "--out", str(tmp_path / "high"), "--threshold", "1.5", "--rounds",
                 "1"]) == 0  # fmt: skip
    (r,) = load_report(tmp_path / "high" / "report.json")["rounds"]
    assert r["labels"]["kept"] == 0 and r["labels"]["anchors"] == 2
    assert r["labels"]["estimated"] > 0 and r["labels"]["accuracy_estimated"]["count"] > 0
    truth = BopDataset(target, "train", load_masks=False)
    by_key = {(s.scene_id, s.im_id): s for s in truth}
    data = BopDataset(r["labels"]["data"], "train", load_masks=False)
    assert len(data) == 2
    for n, a in enumerate(anchors):
        np.testing.assert_allclose(data[n].objects[0].R, by_key[(a.scene_id, a.im_id)]
                                   .objects[a.gt_index].R, atol=1e-6)  # fmt: skip
    # a low threshold keeps matches; round 2 matches from the anchors and round 1's labels
    out = tmp_path / "run"
    run = [*args, "--out", str(out), "--threshold", "-1", "--top-k", "3"]
    assert main([*run, "--rounds", "1"]) == 0
    report = load_report(out / "report.json")
    assert report["method"] == "nvsm" and report["settings"]["anchors"] == str(anchor_file)
    (r1,) = report["rounds"]
    assert r1["labels"]["kept"] == 3 and r1["labels"]["sources"] == 2
    assert r1["labels"]["expansions"] == [{"sources": 2, "kept": 3}]
    assert "expansions" not in report["settings"]  # only when set
    assert r1["labels"]["accuracy_kept"]["count"] == 3
    assert len(BopDataset(r1["labels"]["data"], "train", load_masks=False)) == 5
    stamp = (out / "round_01" / "matches.json").stat().st_mtime_ns
    assert main([*run, "--rounds", "2"]) == 0  # round 1 is not redone
    report = load_report(out / "report.json")
    assert [x["round"] for x in report["rounds"]] == [1, 2] and report["rounds"][0] == r1
    assert (out / "round_01" / "matches.json").stat().st_mtime_ns == stamp
    r2 = report["rounds"][1]
    assert r2["start_checkpoint"] == r1["checkpoint"]
    assert r2["labels"]["sources"] == 2 + 3  # expanding: round 1's labels are sources now
    assert "round 2: kept 3" in capsys.readouterr().out
    assert main([*run[:-2], "--top-k", "4", "--rounds", "2"]) == 2  # other settings
    # several matching passes in one round: each from the anchors and the last pass's labels
    assert main([*args, "--out", str(tmp_path / "x2"), "--threshold", "-1", "--top-k", "3",
                 "--expansions", "2", "--rounds", "1"]) == 0  # fmt: skip
    report = load_report(tmp_path / "x2" / "report.json")
    assert report["settings"]["expansions"] == 2
    passes = [{"sources": 2, "kept": 3}, {"sources": 5, "kept": 3}]
    assert report["rounds"][0]["labels"]["expansions"] == passes
    no_anchors = [a for a in args if a not in ("--anchors", str(anchor_file))]
    assert main([*no_anchors, "--out", str(tmp_path / "x")]) == 2


def test_freeze_bn_reaches_the_trainer_and_the_settings_only_when_set(roots, tmp_path):
    from offline_training.adapt.cli import parser, settings
    from offline_training.adapt.finetune import FineTune

    _, _, ckpt = roots
    assert FineTune(freeze_backbone_bn=True).config(ckpt, roots[0], tmp_path).freeze_backbone_bn
    assert not FineTune().config(ckpt, roots[0], tmp_path).freeze_backbone_bn
    base = ["--checkpoint", "c", "--target", "t", "--heldout", "h", "--out", "o"]
    assert "freeze_bn" not in settings(parser().parse_args(base))  # old reports still resume
    assert settings(parser().parse_args([*base, "--freeze-bn"]))["freeze_bn"] is True
