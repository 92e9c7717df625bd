"""Metrics on hand-computed cases, symmetric categories included."""

import json
import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from ros_pose_estimation.core.categories import get_category
from ros_pose_estimation.core.errors import InputError
from ros_pose_estimation.core.metrics import (
    PoseRecord,
    average_precision,
    evaluate_records,
    iou_accuracy,
    n_deg_m_cm,
    pose_accuracy,
    record_iou,
    rotation_error_deg,
    translation_error_m,
)

EYE = np.eye(3)


def rot(axis, deg):
    return Rotation.from_euler(axis, deg, degrees=True).as_matrix()


def test_asymmetric_category_is_plain_geodesic():
    assert rotation_error_deg(rot("x", 20), EYE, "camera") == pytest.approx(20)
    assert rotation_error_deg(rot("z", 170), rot("z", -170), None) == pytest.approx(20)
    assert rotation_error_deg(rot("y", 180), EYE, "laptop") == pytest.approx(180)


def test_bottle_ignores_rotation_about_z():
    assert rotation_error_deg(rot("z", 73), EYE, "bottle") == pytest.approx(0, abs=1e-6)
    assert rotation_error_deg(rot("x", 20), EYE, "bottle") == pytest.approx(20)
    tilt_and_spin = rot("z", 50) @ rot("x", 20)
    assert rotation_error_deg(tilt_and_spin, EYE, "bottle") == pytest.approx(20)
    assert rotation_error_deg(rot("y", 180), EYE, "can") == pytest.approx(180)  # upside down
    assert rotation_error_deg(rot("x", 20), rot("z", 40), get_category("bowl")) == pytest.approx(
        20
    )


def test_box_discrete_group():
    for axis in "xyz":
        assert rotation_error_deg(rot(axis, 180), EYE, "box") == pytest.approx(0, abs=1e-6)
    assert rotation_error_deg(rot("z", 90), EYE, "box") == pytest.approx(90)
    assert rotation_error_deg(rot("z", 100), EYE, "box") == pytest.approx(80)
    assert rotation_error_deg(rot("x", 180) @ rot("y", 10), EYE, "box") == pytest.approx(10)


def test_a_square_box_is_scored_with_its_quarter_turns_when_its_size_is_given():
    square, long = np.array([0.3, 0.3, 0.07]), np.array([0.3, 0.2, 0.07])
    assert rotation_error_deg(rot("z", 90), EYE, "box", size=square) == pytest.approx(0, abs=1e-6)
    assert rotation_error_deg(rot("z", 95), EYE, "box", size=square) == pytest.approx(5)
    assert rotation_error_deg(rot("z", 90), EYE, "box", size=long) == pytest.approx(90)
    assert rotation_error_deg(rot("x", 90), EYE, "box", size=square) == pytest.approx(90)
    # evaluate_records passes each record's true size on
    recs = [PoseRecord("box", EYE, np.zeros(3), rot("z", 88), np.zeros(3), size_gt=s,
                       size_pred=s) for s in (square, long)]  # fmt: skip
    rotation = evaluate_records(recs)["per_category"]["box"]["rotation"]
    assert rotation["acc_pi_6"] == pytest.approx(0.5)


def test_mug_counts_every_rotation_unless_handle_hidden():
    assert rotation_error_deg(rot("z", 40), EYE, "mug") == pytest.approx(40)
    assert rotation_error_deg(rot("x", 5), EYE, "mug") == pytest.approx(5)
    assert rotation_error_deg(rot("z", 40), EYE, "mug", handle_visible=False) == pytest.approx(
        0, abs=1e-6
    )


def test_batched_and_failures():
    pred = np.stack([rot("z", 30), rot("x", 10), np.full((3, 3), np.nan)])
    err = rotation_error_deg(pred, np.stack([EYE] * 3), "bottle")
    assert err.shape == (3,)
    np.testing.assert_allclose(err, [0, 10, np.inf], atol=1e-6)
    np.testing.assert_allclose(rotation_error_deg(pred[:2], EYE, "box"), [30, 10])
    with pytest.raises(InputError):
        rotation_error_deg(np.eye(4), EYE)


def test_translation_error():
    assert translation_error_m([0.03, 0.04, 1.0], [0, 0, 1]) == pytest.approx(0.05)
    np.testing.assert_allclose(
        translation_error_m([[0, 0, 1], [np.nan, 0, 0]], [0, 0, 0]), [1.0, np.inf]
    )


def test_pose_accuracy_hand_list():
    out = pose_accuracy([5, 12, 29.9, 30, 45, np.nan])
    assert out["acc_pi_6"] == pytest.approx(3 / 6)  # 30 is not < 30; NaN is a failure
    assert out["acc_pi_18"] == pytest.approx(1 / 6)
    assert out["median_deg"] == pytest.approx((29.9 + 30) / 2)
    assert out["count"] == 6
    assert math.isnan(pose_accuracy([])["acc_pi_6"])


def test_n_deg_m_cm_hand_list():
    out = n_deg_m_cm([4, 4, 8, 12, np.inf], [0.01, 0.04, 0.015, 0.01, 0.0])
    assert out == {"5deg2cm": 1 / 5, "5deg5cm": 2 / 5, "10deg2cm": 2 / 5, "10deg5cm": 3 / 5}
    assert n_deg_m_cm([5], [0.02], [(5, 2)]) == {"5deg2cm": 1.0}  # inclusive
    with pytest.raises(InputError):
        n_deg_m_cm([1, 2], [0.1])


def test_iou_accuracy_hand_list():
    assert iou_accuracy([0.2, 0.25, 0.5, 0.7]) == {"iou25": 0.75, "iou50": 0.5}


def test_average_precision_hand_cases():
    # precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1 -> envelope 1 then 2/3: 0.5 * 1 + 0.5 * 2/3
    assert average_precision([0.9, 0.8, 0.7], [True, False, True], 2) == pytest.approx(5 / 6)
    assert average_precision([0.7, 0.8, 0.9], [True, False, True], 2) == pytest.approx(5 / 6)
    # TP FP TP TP, 3 objects: precision 1, 1/2, 2/3, 3/4; the envelope lifts 2/3 to 3/4
    tp = [True, False, True, True]
    assert average_precision([4, 3, 2, 1], tp, 3) == pytest.approx((1 + 3 / 4 + 3 / 4) / 3)
    assert average_precision([0.9, 0.8], [True, True], 2) == pytest.approx(1.0)
    assert average_precision([0.9, 0.8], [True, True], 4) == pytest.approx(0.5)
    assert average_precision([0.9, 0.8], [False, True], 1) == pytest.approx(0.5)
    assert math.isnan(average_precision([], [], 0))


def test_evaluate_records_layout_and_values():
    size = [0.1, 0.1, 0.2]
    records = [
        # bottle spun about z, 3 cm off: rotation error 0, IoU < 1
        dict(
            category="bottle",
            r_gt=EYE,
            t_gt=[0, 0, 1],
            r_pred=rot("z", 60),
            t_pred=[0.03, 0, 1],
            size_gt=size,
            size_pred=size,
            score=0.9,
        ),
        # bottle lying down (tilted 90 deg), exact position
        dict(
            category="bottle",
            r_gt=EYE,
            t_gt=[0, 0, 1],
            r_pred=rot("x", 90),
            t_pred=[0, 0, 1],
            size_gt=size,
            size_pred=size,
            score=0.8,
        ),
        # missed bottle
        dict(category="bottle", r_gt=EYE, t_gt=[0, 0, 1], size_gt=size),
        PoseRecord(
            "box",
            r_gt=EYE,
            t_gt=np.array([0, 0, 1.0]),
            r_pred=rot("x", 180),
            t_pred=np.array([0, 0, 1.0]),
        ),
    ]
    out = evaluate_records(records)
    json.dumps(out, allow_nan=False)
    bottle = out["per_category"]["bottle"]
    assert (bottle["count"], bottle["detected"], bottle["false_positives"]) == (3, 2, 0)
    assert bottle["rotation"]["acc_pi_6"] == pytest.approx(1 / 3)
    assert bottle["rotation"]["acc_pi_18"] == pytest.approx(1 / 3)
    assert bottle["rotation"]["median_deg"] == pytest.approx(90)  # of 0, 90, inf (missed)
    assert bottle["n_deg_m_cm"]["5deg2cm"] == pytest.approx(0)
    assert bottle["n_deg_m_cm"]["5deg5cm"] == pytest.approx(1 / 3)
    assert bottle["translation_median_cm"] == pytest.approx(3)
    # IoU: 3 cm shift of a 10 cm box -> 7/13; lying down -> 0.1^3 / (3 * 0.1^3) = 1/3;
    # the missed one -> 0
    assert bottle["iou"] == {"iou25": pytest.approx(2 / 3), "iou50": pytest.approx(1 / 3)}
    # AP over score-sorted predictions with 3 objects: TP, FP at IoU 50 -> 1/3; TP, TP -> 2/3
    assert bottle["ap"]["iou50"] == pytest.approx(1 / 3)
    assert bottle["ap"]["iou25"] == pytest.approx(2 / 3)
    assert bottle["ap"]["5deg5cm"] == pytest.approx(1 / 3)
    box = out["per_category"]["box"]
    assert box["rotation"]["median_deg"] == pytest.approx(0, abs=1e-6)
    assert "iou" not in box
    assert out["mean"]["count"] == 4
    assert out["mean"]["rotation"]["acc_pi_6"] == pytest.approx((1 / 3 + 1) / 2)
    assert out["mean"]["iou"]["iou50"] == pytest.approx(1 / 3)  # only bottle has sizes


def test_evaluate_records_rejects_bad_input():
    with pytest.raises(InputError):
        evaluate_records([])
    with pytest.raises(InputError, match="unknown record keys"):
        evaluate_records([dict(category="box", R_gt=EYE)])


def test_false_positives_lower_ap_only():
    out = evaluate_records(
        [
            dict(
                category="camera",
                r_gt=EYE,
                t_gt=[0, 0, 1],
                r_pred=EYE,
                t_pred=[0, 0, 1],
                score=0.5,
            ),
            dict(category="camera", r_pred=EYE, t_pred=[0, 0, 2], score=0.9),  # nothing there
        ]
    )["per_category"]["camera"]
    assert (out["count"], out["detected"], out["false_positives"]) == (1, 1, 1)
    assert out["n_deg_m_cm"]["5deg2cm"] == pytest.approx(1.0)
    # sorted by score: FP then TP -> precision 1/2 at recall 1
    assert out["ap"]["5deg2cm"] == pytest.approx(0.5)


def test_record_iou_of_one_object():
    size = np.array([0.2, 0.1, 0.1])
    eye = np.eye(3)
    hit = PoseRecord("box", eye, np.zeros(3), eye, np.zeros(3), size, size)
    assert record_iou(hit, "box") == pytest.approx(1.0)
    # 5 cm along the 20 cm edge: the overlap is 15 of 25 cm
    off = PoseRecord("box", eye, np.zeros(3), eye, np.array([0.05, 0, 0]), size, size)
    assert record_iou(off, "box") == pytest.approx(0.15 / 0.25)
    missed = PoseRecord("box", eye, np.zeros(3), size_gt=size)
    assert record_iou(missed, "box") == 0.0
    assert math.isnan(record_iou(PoseRecord("box", eye, np.zeros(3), eye, np.zeros(3)), "box"))
    # a mug turned a quarter about its axis: scored with the handle unless it is hidden
    mug = np.array([0.12, 0.09, 0.1])
    turn = Rotation.from_euler("z", 90, degrees=True).as_matrix()
    seen = PoseRecord("mug", eye, np.zeros(3), turn, np.zeros(3), mug, mug)
    hidden = PoseRecord("mug", eye, np.zeros(3), turn, np.zeros(3), mug, mug,
                        handle_visible=False)  # fmt: skip
    assert record_iou(seen, "mug") < 0.9
    assert record_iou(hidden, "mug") == pytest.approx(1.0, abs=1e-3)
