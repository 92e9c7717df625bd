"""evaluate-cse: metric wiring (a perfect estimator scores 1), JSON output, exit codes."""

import json

import numpy as np
import torch

from offline_training.cse.evaluate import evaluate, main
from offline_training.nemo.evaluate import bop_box_to_xyxy
from offline_training.synthetic.bop_reader import BopDataset
from ros_pose_estimation.core.categories import get_category
from ros_pose_estimation.core.metrics import evaluate_records
from ros_pose_estimation.core.rotations import axis_angle_to_matrix
from ros_pose_estimation.cse.checkpoint import save_checkpoint
from ros_pose_estimation.cse.model import CseConfig, CseModel
from ros_pose_estimation.nemo.detection import PoseEstimate
from test.offline_training.test_cse_data import cse_root  # noqa: F401  (fixture)


class PerfectEstimator:
    """Returns the labelled pose (bottles turned about their axis: must not matter)."""

    categories = ["bottle", "mug"]

    def __init__(self, bop):
        self.truth = {}
        for sample in bop:
            for obj in sample.objects:
                box = tuple(bop_box_to_xyxy(obj.info["bbox_visib"]).round(3))
                info = bop.models_info[obj.obj_id]
                size = np.array([info["size_x"], info["size_y"], info["size_z"]]) * 1e-3
                self.truth[box] = (obj.R, obj.t, size, obj.category)

    def estimate(self, rgb, depth, dets, intr, errors="raise"):
        assert depth.dtype == np.uint16  # the default 16UC1 path
        out = []
        for det in dets:
            R, t, size, cat = self.truth[tuple(np.asarray(det.box_xyxy).round(3))]
            if get_category(cat).continuous_axes.size:
                R = R @ axis_angle_to_matrix(np.array([0.0, 0.0, 1.3]))
            out.append(PoseEstimate(cat, R, t, 0.9, size, {"total": 1.0}))
        return out


def test_a_perfect_estimator_scores_one(cse_root):  # noqa: F811
    bop = BopDataset(cse_root, "train")
    records, rows = evaluate(PerfectEstimator(bop), bop, min_visib=0.3)
    assert len(rows) > 0 and all(r["solved"] for r in rows)
    metrics = evaluate_records(records)
    for m in metrics["per_category"].values():
        assert m["iou"]["iou25"] == m["iou"]["iou50"] == 1.0
        assert all(v == 1.0 for v in m["n_deg_m_cm"].values())


def test_cli_writes_json_and_checks_arguments(cse_root, tmp_path, capsys):  # noqa: F811
    torch.manual_seed(0)
    ckpt = save_checkpoint(
        tmp_path / "mug.pt", CseModel(CseConfig("mug", backbone="tiny", crop_size=64))
    )
    out = tmp_path / "eval.json"
    args = ["--data", str(cse_root), "--split", "train", "--checkpoint", str(ckpt),
            "--threads", "1", "--quiet", "--max-objects", "4"]  # fmt: skip
    assert main([*args, "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert set(result) >= {"device", "metrics", "latency", "objects", "inference_config"}
    assert result["latency"]["median_ms"] > 0 and result["latency"]["p90_ms"] > 0
    assert len(result["objects"]) == 4
    mug = result["metrics"]["per_category"]["mug"]
    assert set(mug["n_deg_m_cm"]) == {"5deg2cm", "5deg5cm", "10deg2cm", "10deg5cm"}
    assert set(mug["iou"]) == {"iou25", "iou50"}
    assert "latency per object" in capsys.readouterr().out
    assert main([*args[:4], "--checkpoint", str(tmp_path / "none.pt"), "--quiet"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["--data", str(tmp_path), "--checkpoint", str(ckpt), "--quiet"]) == 2
