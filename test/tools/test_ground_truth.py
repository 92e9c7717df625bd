"""The demo bag's ground truth scores an estimate: rotation, centre distance and box IoU."""

from pathlib import Path

import numpy as np

from ros_pose_estimation.tools.ground_truth import GroundTruth

DEMO_BAG = Path(__file__).resolve().parents[2] / "data" / "demo" / "demo_bag"


def test_the_true_pose_and_size_score_zero_error_and_iou_one():
    truth = GroundTruth(DEMO_BAG)
    stamp = truth.stamps[0]
    for index, (category, R, t, _) in enumerate(truth.poses_in_camera(stamp)):
        size = truth.objects[index][2]
        match = truth.match(stamp, category, R, t, size)
        assert match.index == index and match.rotation_error_deg < 1e-6
        assert match.translation_error_m < 1e-9 and abs(match.iou - 1.0) < 1e-6
        half = truth.match(stamp, category, R, t, size * np.array([1.0, 1.0, 0.5]))
        assert abs(half.iou - 0.5) < 0.02  # half the box, inside the true one
        assert truth.match(stamp, category, R, t).iou is None  # no size: no IoU


def test_an_estimate_is_matched_to_the_nearest_object_of_its_category():
    truth = GroundTruth(DEMO_BAG)
    stamp = truth.stamps[0]
    category, R, t, _ = truth.poses_in_camera(stamp)[1]
    match = truth.match(stamp, category, R, t + np.array([0.03, 0.0, 0.04]))
    assert match.index == 1 and abs(match.translation_error_m - 0.05) < 1e-9
    assert truth.match(stamp, "laptop", R, t) is None
