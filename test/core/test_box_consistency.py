"""projected_box and box_iou: a solved 3D box against its 2D detection."""

import numpy as np
import pytest

from ros_pose_estimation.core.box_consistency import box_coverage, box_iou, projected_box
from ros_pose_estimation.core.camera import Intrinsics
from ros_pose_estimation.core.rotations import axis_rotation

K = Intrinsics(fx=300.0, fy=300.0, cx=159.5, cy=119.5, width=320, height=240)


def test_a_box_facing_the_camera_projects_to_its_front_and_back_faces():
    size = np.array([0.2, 0.1, 0.3])  # x across, y down, z away
    box = projected_box(np.eye(3), np.array([0.0, 0.0, 1.0]), size, K)
    near = 1.0 - 0.15  # the nearer face is the larger one in the image
    np.testing.assert_allclose(box, [159.5 - 300 * 0.1 / near, 119.5 - 300 * 0.05 / near,
                                     159.5 + 300 * 0.1 / near, 119.5 + 300 * 0.05 / near])


def test_clipped_to_the_image_and_none_behind_or_outside():
    box = projected_box(np.eye(3), np.array([0.5, 0.0, 1.0]), np.full(3, 0.2), K)
    assert box[2] == K.width and box[0] > 159.5
    assert projected_box(np.eye(3), np.array([0.0, 0.0, 0.05]), np.full(3, 0.2), K) is None
    assert projected_box(np.eye(3), np.array([5.0, 0.0, 1.0]), np.full(3, 0.2), K) is None
    turned = projected_box(axis_rotation("y", 0.7), np.array([0.0, 0.0, 1.0]), np.full(3, 0.2), K)
    assert turned is not None and turned[2] - turned[0] > 300 * 0.2 / 1.1  # wider seen corner-on


@pytest.mark.parametrize("a,b,iou", [
    ([0, 0, 10, 10], [0, 0, 10, 10], 1.0),
    ([0, 0, 10, 10], [5, 0, 15, 10], 50 / 150),
    ([0, 0, 10, 10], [20, 20, 30, 30], 0.0),
    ([0, 0, 10, 10], [2, 2, 4, 4], 4 / 100),
    ([0, 0, 0, 10], [0, 0, 0, 10], 0.0),
])  # fmt: skip
def test_box_iou(a, b, iou):
    assert box_iou(np.array(a, float), np.array(b, float)) == pytest.approx(iou)
    assert box_iou(np.array(b, float), np.array(a, float)) == pytest.approx(iou)


def test_box_coverage_is_the_share_of_the_detection_covered():
    whole = np.array([0.0, 0.0, 10.0, 20.0])  # an occluded object's whole projected box
    visible = np.array([0.0, 10.0, 10.0, 20.0])  # its detection: the lower, visible half
    assert box_coverage(whole, visible) == 1.0 and box_iou(whole, visible) == 0.5
    assert box_coverage(visible, whole) == 0.5
    assert box_coverage(whole, np.array([20.0, 0.0, 30.0, 10.0])) == 0.0
    assert box_coverage(whole, np.array([5.0, 5.0, 5.0, 9.0])) == 0.0  # an empty detection
