"""The shared adaptation loop: report format, resume (a round in the report is not redone),
settings checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from offline_training.adapt.loop import FORMAT, RoundLabels, load_report, run_adaptation
from ros_pose_estimation.core.errors import ConfigError

HELDOUT = {"count": 3, "acc_pi_6": 0.5, "acc_pi_18": 0.2, "median_rot_deg": 31.0,
           "median_trans_cm": 2.0, "mean_score": 0.4}


class FakePath:
    name = "fake"

    def __init__(self):
        self.calls = []

    def label(self, checkpoint: Path, round_dir: Path) -> RoundLabels:
        self.calls.append(str(checkpoint))
        return RoundLabels(str(round_dir / "data"), "train", {
            "estimated": 10, "kept": 4, "accuracy_estimated": None, "accuracy_kept": None})


def _run(out, rounds, path, trained, evaluated, settings=None):
    def train(ckpt, labels, train_dir):
        trained.append((str(ckpt), labels.data))
        train_dir.mkdir(parents=True, exist_ok=True)
        (train_dir / "mug.pt").write_text("x")
        return train_dir / "mug.pt"

    def evaluate(ckpt):
        evaluated.append(str(ckpt))
        return dict(HELDOUT)

    return run_adaptation(path, out, "start.pt", rounds, train, evaluate, "mug",
                          settings or {"steps": 2}, log=lambda _: None)


def test_report_format_and_resume(tmp_path):
    path, trained, evaluated = FakePath(), [], []
    report = _run(tmp_path, 2, path, trained, evaluated)
    assert report == load_report(tmp_path / "report.json")
    assert report["format"] == FORMAT and report["method"] == "fake"
    assert report["before"]["checkpoint"] == "start.pt" and report["before"]["heldout"] == HELDOUT
    assert [r["round"] for r in report["rounds"]] == [1, 2]
    r1, r2 = report["rounds"]
    assert r1["start_checkpoint"] == "start.pt" and r2["start_checkpoint"] == r1["checkpoint"]
    assert r1["labels"]["kept"] == 4 and r1["labels"]["estimated"] == 10
    assert r1["heldout"] == HELDOUT
    assert set(r1["seconds"]) == {"label", "train", "eval", "total"}
    assert path.calls == ["start.pt", r1["checkpoint"]]  # EM: round 2 labels with round 1's
    assert evaluated == ["start.pt", r1["checkpoint"], r2["checkpoint"]]
    # resumed: nothing redone; asked for a third round: only that one runs
    _run(tmp_path, 2, path, trained, evaluated)
    assert len(path.calls) == 2 and len(trained) == 2 and len(evaluated) == 3
    report = _run(tmp_path, 3, path, trained, evaluated)
    assert [r["round"] for r in report["rounds"]] == [1, 2, 3]
    assert path.calls[-1] == r2["checkpoint"] and len(trained) == 3 and len(evaluated) == 4


def test_other_settings_do_not_resume(tmp_path):
    _run(tmp_path, 1, FakePath(), [], [])
    with pytest.raises(ConfigError, match="another adaptation run"):
        _run(tmp_path, 1, FakePath(), [], [], settings={"steps": 3})
    with pytest.raises(ConfigError, match="rounds must be"):
        _run(tmp_path, 0, FakePath(), [], [])
    (tmp_path / "other.json").write_text(json.dumps({"format": "x"}))
    with pytest.raises(ConfigError, match="not an adaptation report"):
        load_report(tmp_path / "other.json")
