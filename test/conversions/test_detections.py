"""Detection2DArray -> Detection: pixel-centre box round trip, class mapping, skipped boxes."""

from __future__ import annotations

import numpy as np
import pytest

from offline_training.synthetic.messages import detection2d_array
from ros_pose_estimation.conversions.detections import (
    SKIP_REASONS,
    bbox_from_box,
    box_from_bbox,
    detections_from_msg,
)
from ros_pose_estimation.core.errors import InputError

SHAPE = (48, 64, 3)


def test_box_round_trip_pixel_centres():
    """A box over pixels x..x+w-1 becomes [x - 0.5, x + w - 0.5]: the area those pixels cover."""
    msg = detection2d_array([(10, 5, 20, 8)], ["mug"], ["0"], 0, "cam")
    dets, skipped = detections_from_msg(msg, SHAPE)
    assert skipped == dict.fromkeys(SKIP_REASONS, 0)
    assert [d.category for d in dets] == ["mug"]
    np.testing.assert_allclose(dets[0].box_xyxy, [9.5, 4.5, 29.5, 12.5])
    x0, y0, x1, y1 = dets[0].box_xyxy
    # back to whole pixels: first = x0 + 0.5, last = x1 - 0.5
    assert (x0 + 0.5, y0 + 0.5, x1 - 0.5, y1 - 0.5) == (10, 5, 29, 12)
    bbox = msg.detections[0].bbox
    assert bbox_from_box(dets[0].box_xyxy) == (
        bbox.center.position.x,
        bbox.center.position.y,
        bbox.size_x,
        bbox.size_y,
    )
    np.testing.assert_allclose(box_from_bbox(*bbox_from_box([1.0, 2.0, 3.5, 7.0])), [1, 2, 3.5, 7])


def test_class_map_clipping_and_skips():
    boxes = [
        (0, 0, 10, 10),  # kept, mapped
        (5, 5, 4, 4),  # unknown class
        (50, 40, 30, 30),  # clipped to the image
        (100, 100, 5, 5),  # wholly outside
        (3, 3, 0, 5),  # zero width
        (-20, -20, 10, 10),  # wholly outside (top-left)
    ]
    classes = ["cup", "dog", "bottle", "cup", "cup", "cup"]
    msg = detection2d_array(boxes, classes, [str(i) for i in range(6)], 0, "cam")
    dets, skipped = detections_from_msg(msg, SHAPE, {"cup": "mug", "bottle": "bottle"})
    assert [d.category for d in dets] == ["mug", "bottle"]
    np.testing.assert_allclose(dets[1].box_xyxy, [49.5, 39.5, 63.5, 47.5])
    assert skipped == {
        "no_hypothesis": 0,
        "unknown_class": 1,
        "empty_box": 1,
        "outside_image": 2,
    }
    notes: dict[str, str] = {}
    detections_from_msg(msg, SHAPE, {"cup": "mug", "bottle": "bottle"}, notes)
    assert notes == {  # the first detection of each reason, for the node's log
        "unknown_class": "detection 1: class_id 'dog' is not mapped to a category "
        "(models.<category>.class_ids; known: 'bottle', 'cup')",
        "empty_box": "detection 4 (cup): box [2.5, 2.5, 2.5, 7.5] (x0, y0, x1, y1 px) is empty "
        "or not finite",
        "outside_image": "detection 3 (cup): box [99.5, 99.5, 104.5, 104.5] (x0, y0, x1, y1 px) "
        "lies outside the 64x48 image",
    }


def test_highest_score_and_no_hypothesis():
    msg = detection2d_array([(0, 0, 4, 4), (0, 0, 4, 4)], ["a", "b"], ["0", "1"], 0, "cam")
    second = msg.detections[1].results[0]
    msg.detections[0].results.append(second)  # "b" (score 1.0) after "a" (0.3 below)
    msg.detections[0].results[0].hypothesis.score = 0.3
    msg.detections[1].results = []
    dets, skipped = detections_from_msg(msg, SHAPE)
    assert [d.category for d in dets] == ["b"] and skipped["no_hypothesis"] == 1


def test_bad_image_shape():
    msg = detection2d_array([], [], [], 0, "cam")
    with pytest.raises(InputError, match=r"expected \(H, W, ...\)"):
        detections_from_msg(msg, (0, 10))


@pytest.mark.ros
def test_rclpy_detection2d_array():
    try:
        from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose
    except ImportError as exc:
        pytest.skip(f"vision_msgs (rclpy) not importable: {exc}")
    det = Detection2D()
    det.bbox.center.position.x, det.bbox.center.position.y = 10 + (20 - 1) / 2, 5 + (8 - 1) / 2
    det.bbox.size_x, det.bbox.size_y = 20.0, 8.0
    hyp = ObjectHypothesisWithPose()
    hyp.hypothesis.class_id, hyp.hypothesis.score = "mug", 0.9
    det.results = [hyp]
    empty = Detection2D()
    empty.results = [hyp]
    dets, skipped = detections_from_msg(Detection2DArray(detections=[det, empty]), SHAPE)
    np.testing.assert_allclose(dets[0].box_xyxy, [9.5, 4.5, 29.5, 12.5])
    assert dets[0].category == "mug" and skipped["empty_box"] == 1
