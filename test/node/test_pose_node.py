"""pose_estimation_node in-process, the frame path: outputs, every kind of bad input, and the
other input kinds (RGB-D depth, segmentation masks, compressed images, a CSE model).

The node is built in the test process; frames go straight to its worker function and its
publishers are replaced by recorders, so each case checks exactly what would be published (the
DDS round trip is covered by ``test/ros/test_pose_node_dds.py``). Frames come from the bundled
demo bag, estimated with the bundled mug / bottle / camera models. Configure failures,
parameters, the synchroniser, the worker and input QoS are in ``test_pose_node_lifecycle.py``.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from test.node.pose_node_kit import Recorder, frame, make_node

pytestmark = pytest.mark.ros


def test_frame_in_poses_tf_markers_debug_out(node, demo_frames):
    image, info, dets, _ = demo_frames[0]
    node._on_camera_info(info)
    node._process(frame(image, dets))
    (out,) = node._pubs["detections"].messages
    assert out.header == image.header  # stamp and optical frame of the image
    assert out.header.frame_id == "camera_color_optical_frame"
    assert len(out.detections) == len(dets.detections) == 3
    classes = sorted(d.results[0].hypothesis.class_id for d in out.detections)
    assert classes == ["bottle", "camera", "mug"]
    for det in out.detections:
        q = det.results[0].pose.pose.orientation
        assert math.isclose(q.x**2 + q.y**2 + q.z**2 + q.w**2, 1.0, rel_tol=1e-6)
        assert 0.0 <= det.results[0].hypothesis.score <= 1.0
        assert det.bbox.size.x > 0 and det.id
    (tf,) = node._pubs["tf"].messages
    assert {t.child_frame_id for t in tf.transforms} == {
        f"{d.results[0].hypothesis.class_id}_{d.id}" for d in out.detections}
    assert all(t.header.stamp == image.header.stamp for t in tf.transforms)
    assert all(t.header.frame_id == image.header.frame_id for t in tf.transforms)
    (markers,) = node._pubs["markers"].messages
    assert markers.markers[0].action == markers.markers[0].DELETEALL
    (debug,) = node._pubs["debug"].messages
    assert (debug.width, debug.height, debug.encoding) == (image.width, image.height, "rgb8")
    assert node.processed == 0  # direct call, not through the worker


def test_label_info_lists_the_categories(node):
    info = node._label_info(node._specs)  # published once at configure, transient local
    assert sorted(c.class_name for c in info.class_map) == ["bottle", "camera", "mug"]
    assert len({c.class_id for c in info.class_map}) == 3 and info.threshold == 0.0


def test_track_ids_are_stable_across_frames(node, demo_frames):
    ids = []
    for image, info, dets, _ in demo_frames[:3]:
        node._on_camera_info(info)
        node._process(frame(image, dets))
        out = node._pubs["detections"].messages[-1]
        ids.append({d.results[0].hypothesis.class_id: d.id for d in out.detections})
    assert ids[0] == ids[1] == ids[2]


def test_no_subscribers_means_no_markers_or_debug_image(node, demo_frames):
    image, info, dets, _ = demo_frames[0]
    node._pubs["markers"].subscribers = node._pubs["debug"].subscribers = 0
    node._on_camera_info(info)
    node._process(frame(image, dets))
    assert not node._pubs["markers"].messages and not node._pubs["debug"].messages
    assert node._pubs["detections"].messages


def test_missing_camera_info_waits_then_works(node, demo_frames):
    image, info, dets, _ = demo_frames[0]
    node._process(frame(image, dets))
    assert not node._pubs["detections"].messages
    assert node._stats.dropped.get("no_camera_info") == 1
    node._on_camera_info(info)
    node._process(frame(demo_frames[1][0], demo_frames[1][2]))
    assert len(node._pubs["detections"].messages) == 1


def test_unsupported_encoding_is_dropped_and_next_frame_works(node, demo_frames):
    image, info, dets, _ = demo_frames[0]
    node._on_camera_info(info)
    bad = copy.deepcopy(image)
    bad.encoding = "yuv422_yuy2_weird"
    node._process(frame(bad, dets))
    depth_as_colour = copy.deepcopy(demo_frames[0][3])
    node._process(frame(depth_as_colour, dets))
    assert node._stats.dropped.get("bad_image") == 2
    node._process(frame(demo_frames[1][0], demo_frames[1][2]))
    assert len(node._pubs["detections"].messages) == 1


def test_bad_camera_info_is_its_own_class_not_an_error(node, demo_frames):
    """Image size not the camera_info's, an all-zero K, a NaN in K: dropped as
    bad_camera_info (not as an unexpected error), and frames flow again with a good one."""
    image, info, dets, _ = demo_frames[0]
    small = copy.deepcopy(info)
    small.width, small.height = info.width // 2, info.height // 2
    zero = copy.deepcopy(info)
    zero.k = [0.0] * 9
    zero.p = [0.0] * 12
    nan = copy.deepcopy(info)
    nan.k[0] = float("nan")
    for bad in (small, zero, nan):
        node._on_camera_info(bad)
        node._process(frame(image, dets))
    dropped = node._stats.dropped
    assert dropped.get("bad_camera_info") == 3 and dropped.get("error") == 0
    assert dropped.get("size_mismatch") == 0 and not node._pubs["detections"].messages
    node._on_camera_info(info)
    node._process(frame(image, dets))
    assert len(node._pubs["detections"].messages) == 1


def test_empty_detection_array_publishes_empty_outputs(node, demo_frames):
    image, info, dets, _ = demo_frames[0]
    node._on_camera_info(info)
    empty = copy.deepcopy(dets)
    empty.detections = []
    node._process(frame(image, empty))
    (out,) = node._pubs["detections"].messages
    assert out.detections == [] and out.header == image.header
    (markers,) = node._pubs["markers"].messages
    assert [m.action for m in markers.markers] == [markers.markers[0].DELETEALL]


def test_boxes_outside_zero_area_and_unknown_classes_are_skipped_and_counted(node, demo_frames):
    image, info, dets, _ = demo_frames[0]
    node._on_camera_info(info)
    msg = copy.deepcopy(dets)
    outside, zero, unknown, partly = (copy.deepcopy(msg.detections[0]) for _ in range(4))
    outside.bbox.center.position.x = -500.0
    zero.bbox.size_x = 0.0
    unknown.results[0].hypothesis.class_id = "teapot"
    partly.bbox.center.position.x = 2.0  # half outside the left border: clipped, estimated
    msg.detections = [outside, zero, unknown, partly]
    node._process(frame(image, msg))
    (out,) = node._pubs["detections"].messages
    assert len(out.detections) == 1
    skipped = node._stats.skipped.as_dict()
    assert skipped["outside_image"] == 1 and skipped["empty_box"] == 1
    assert skipped["unknown_class"] == 1


def test_out_of_order_and_time_jump(node, demo_frames):
    node._on_camera_info(demo_frames[0][1])
    node._process(frame(demo_frames[5][0], demo_frames[5][2]))
    before = {int(d.id) for d in node._pubs["detections"].messages[-1].detections}
    assert len(before) == 3 and {t.track_id for t in node.pipeline.tracker.tracks} == before
    node._process(frame(demo_frames[4][0], demo_frames[4][2]))  # 0.1 s older: dropped
    assert node._stats.dropped.get("out_of_order") == 1
    assert len(node._pubs["detections"].messages) == 1
    old = copy.deepcopy(demo_frames[0][0])
    old.header.stamp.sec -= 100  # bag restarted: tracks reset, frame processed
    old_dets = copy.deepcopy(demo_frames[0][2])
    old_dets.header.stamp = old.header.stamp
    node._process(frame(old, old_dets))
    assert len(node._pubs["detections"].messages) == 2
    # the old tracks are gone: every object starts a new track (ids are never reused); without
    # the reset the filter would have returned the older frame's poses untracked (id "")
    after = {int(d.id) for d in node._pubs["detections"].messages[-1].detections}
    assert len(after) == 3 and min(after) > max(before)
    assert {t.track_id for t in node.pipeline.tracker.tracks} == after


def test_rgbd_mode_with_bad_depth(rclpy_ctx, demo_frames):
    from rclpy.lifecycle import TransitionCallbackReturn

    node = make_node(rclpy_ctx, mode="rgbd")
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    node._pubs = {name: Recorder() for name in node._pubs}
    image, info, dets, depth = demo_frames[0]
    node._on_camera_info(info)
    wrong = copy.deepcopy(depth)
    wrong.encoding = "rgb8"
    node._process(frame(image, dets, wrong))
    cropped = copy.deepcopy(depth)
    cropped.width, cropped.step = depth.width // 2, depth.step // 2
    cropped.data = np.frombuffer(bytes(depth.data), np.uint8).reshape(depth.height, -1)[
        :, : cropped.step].tobytes()
    node._process(frame(image, dets, cropped))
    dropped = node._stats.dropped
    assert dropped.get("bad_depth") == 1 and dropped.get("size_mismatch") == 1
    zero = copy.deepcopy(depth)
    zero.data = bytes(len(depth.data))  # all-zero depth: nemo models do not need it
    node._process(frame(image, dets, zero))
    assert len(node._pubs["detections"].messages) == 1
    node.destroy_node()



def test_mask_input_instead_of_detections(rclpy_ctx, demo_frames):
    from rclpy.lifecycle import TransitionCallbackReturn

    from ros_pose_estimation.conversions import numpy_to_image

    node = make_node(rclpy_ctx, mask_input=True, mask_category="mug")
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    node._pubs = {name: Recorder() for name in node._pubs}
    image, info, dets, _ = demo_frames[0]
    node._on_camera_info(info)
    mug = next(d for d in dets.detections if d.results[0].hypothesis.class_id == "mug")
    cx, cy, w, h = (mug.bbox.center.position.x, mug.bbox.center.position.y, mug.bbox.size_x,
                    mug.bbox.size_y)  # fmt: skip
    labels = np.zeros((image.height, image.width), np.uint8)
    labels[int(cy - h / 2 + 0.5): int(cy + h / 2 + 0.5), int(cx - w / 2 + 0.5):
           int(cx + w / 2 + 0.5)] = 3  # fmt: skip
    labels[0:2, 0:2] = 7  # 4 pixels: below min_mask_pixels
    mask = numpy_to_image(labels, "mono8", image.header)
    node._process(frame(image, mask))
    (out,) = node._pubs["detections"].messages
    assert [d.results[0].hypothesis.class_id for d in out.detections] == ["mug"]
    assert node._stats.skipped.get("small_mask") == 1
    wrong = copy.deepcopy(mask)
    wrong.encoding = "rgb8"
    node._process(frame(demo_frames[1][0], wrong))
    assert node._stats.dropped.get("bad_mask") == 1
    node.destroy_node()
    bad = make_node(rclpy_ctx, mask_input=True, mask_category="can")
    assert bad.trigger_configure() == TransitionCallbackReturn.FAILURE
    bad.destroy_node()


def test_compressed_image_input(rclpy_ctx, demo_frames):
    import cv2
    from rclpy.lifecycle import TransitionCallbackReturn
    from sensor_msgs.msg import CompressedImage

    from ros_pose_estimation.conversions import rgb_from_image

    node = make_node(rclpy_ctx, use_compressed=True)
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    node._pubs = {name: Recorder() for name in node._pubs}
    image, info, dets, _ = demo_frames[0]
    node._on_camera_info(info)
    ok, png = cv2.imencode(".png", cv2.cvtColor(rgb_from_image(image), cv2.COLOR_RGB2BGR))
    assert ok
    msg = CompressedImage(header=image.header, format="png", data=png.tobytes())
    node._process(frame(msg, dets))
    (out,) = node._pubs["detections"].messages
    assert len(out.detections) == 3 and out.header == image.header
    broken = CompressedImage(header=demo_frames[1][0].header, format="png", data=b"not a png")
    node._process(frame(broken, demo_frames[1][2]))
    assert node._stats.dropped.get("bad_image") == 1
    node.destroy_node()



def test_rgbd_mode_with_a_cse_model(rclpy_ctx, demo_frames):
    """mode rgbd: the bottle through the bundled RGB-D (CSE) model, which needs the depth image,
    the mug and camera through their NeMo models, in one frame; the bottle's pose comes with
    its metric size; zero depth only costs the CSE detection (skipped as no_depth), not the
    frame; an RGB node refuses a CSE model."""
    from rclpy.lifecycle import TransitionCallbackReturn

    path = "models/cse/bottle.pt"
    node = make_node(rclpy_ctx, mode="rgbd", **{"models.bottle.checkpoint": path,
                                                "models.bottle.method": "cse"})  # fmt: skip
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    assert node.pipeline.needs_depth
    node._pubs = {name: Recorder() for name in node._pubs}
    image, info, dets, depth = demo_frames[0]
    node._on_camera_info(info)
    node._process(frame(image, dets, depth))
    (out,) = node._pubs["detections"].messages
    by_class = {d.results[0].hypothesis.class_id: d for d in out.detections}
    assert sorted(by_class) == ["bottle", "camera", "mug"]
    size = by_class["bottle"].bbox.size
    assert 0.1 < max(size.x, size.y, size.z) < 0.4  # a bottle's height, metres
    assert sum(node._stats.skipped.as_dict().values()) == 0
    zero = copy.deepcopy(demo_frames[1][3])
    zero.data = bytes(len(zero.data))
    node._process(frame(demo_frames[1][0], demo_frames[1][2], zero))
    out = node._pubs["detections"].messages[-1]
    assert sorted(d.results[0].hypothesis.class_id for d in out.detections) == ["camera", "mug"]
    assert node._stats.skipped.get("no_depth") == 1
    node.destroy_node()
    rgb_only = make_node(rclpy_ctx, **{"models.bottle.checkpoint": path,
                                       "models.bottle.method": "cse"})  # fmt: skip
    assert rgb_only.trigger_configure() == TransitionCallbackReturn.FAILURE  # needs mode rgbd
    rgb_only.destroy_node()

