"""Topic auto-detection and overrides (pure: topic -> type maps, no bag needed)."""

import pytest

from offline_training.bags.topics import select_topics
from ros_pose_estimation.tools.bag_errors import BagError

IMAGE = "sensor_msgs/msg/Image"
INFO = "sensor_msgs/msg/CameraInfo"
DET2D = "vision_msgs/msg/Detection2DArray"
TF = "tf2_msgs/msg/TFMessage"

REALSENSE = {
    "/camera/color/image_raw": IMAGE,
    "/camera/color/camera_info": INFO,
    "/camera/aligned_depth_to_color/image_raw": IMAGE,
    "/camera/aligned_depth_to_color/camera_info": INFO,
    "/camera/depth/image_rect_raw": IMAGE,
    "/camera/depth/camera_info": INFO,
    "/yolo/detections": DET2D,
    "/ground_truth/detections": DET2D,
    "/tf": TF,
    "/tf_static": TF,
    "/rosout": "rcl_interfaces/msg/Log",
}


def test_realsense_layout_is_detected_and_ground_truth_never_picked():
    sel = select_topics(REALSENSE)
    assert sel.rgb == "/camera/color/image_raw"
    assert sel.camera_info == "/camera/color/camera_info"
    assert sel.depth == "/camera/aligned_depth_to_color/image_raw"
    assert sel.detections == "/yolo/detections"
    assert (sel.tf, sel.tf_static) == ("/tf", "/tf_static")
    assert "/ground_truth/detections" in sel.ignored
    assert sel.ignored["/rosout"] == "rcl_interfaces/msg/Log"


def test_overrides_choose_and_drop_roles():
    sel = select_topics(REALSENSE, {"depth": "/camera/depth/image_rect_raw", "detections": ""})
    assert sel.depth == "/camera/depth/image_rect_raw"
    assert sel.detections is None
    assert "/yolo/detections" in sel.ignored


def test_ambiguous_images_ask_for_an_override():
    topics = {"/left/image": IMAGE, "/right/image": IMAGE, "/left/camera_info": INFO}
    with pytest.raises(BagError, match=r"/left/image, /right/image.*rgb=<topic>"):
        select_topics(topics, modality="rgb")
    assert select_topics(topics, {"rgb": "/right/image"}, modality="rgb").rgb == "/right/image"


def test_missing_depth_for_rgbd_says_what_to_do():
    topics = {"/cam/color/image_raw": IMAGE, "/cam/color/camera_info": INFO}
    with pytest.raises(BagError, match="no depth topic.*modality 'rgb'"):
        select_topics(topics)
    sel = select_topics(topics, modality="rgb")
    assert sel.depth is None and sel.tf is None


def test_missing_camera_info_and_image_are_errors():
    with pytest.raises(BagError, match="no camera_info topic"):
        select_topics({"/cam/color/image_raw": IMAGE}, modality="rgb")
    with pytest.raises(BagError, match="no rgb topic.*Its topics: /tf"):
        select_topics({"/tf": TF})


def test_bad_overrides_are_rejected_with_the_reason():
    with pytest.raises(BagError, match="not a topic of the bag"):
        select_topics(REALSENSE, {"rgb": "/nope"})
    with pytest.raises(BagError, match="has type sensor_msgs/msg/CameraInfo"):
        select_topics(REALSENSE, {"rgb": "/camera/color/camera_info"})
    with pytest.raises(BagError, match="unknown topic role"):
        select_topics(REALSENSE, {"colour": "/camera/color/image_raw"})
    with pytest.raises(BagError, match="modality"):
        select_topics(REALSENSE, modality="depth")
