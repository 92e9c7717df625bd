"""demo --bag with a user's recording: topics found by type or named, RGB and RGB-D, the node's
command line, and the report without ground truth."""

from __future__ import annotations

import argparse

import pytest

from ros_pose_estimation.core.errors import InputError
from ros_pose_estimation.tools.demo import build_parser, needs_tf, node_command
from ros_pose_estimation.tools.demo_report import format_report
from ros_pose_estimation.tools.demo_topics import (
    CAMERA_INFO,
    COMPRESSED,
    DETECTIONS,
    IMAGE,
    DemoTopics,
    choose_topics,
)

DEMO = {
    "/camera/color/image_raw": IMAGE, "/camera/color/camera_info": CAMERA_INFO,
    "/camera/aligned_depth/image_raw": IMAGE, "/camera/aligned_depth/camera_info": CAMERA_INFO,
    "/detections": DETECTIONS, "/tf": "tf2_msgs/msg/TFMessage",
}  # fmt: skip
USER = {  # a RealSense-like recording with a detector of its own
    "/rs/color/image_rect_raw/compressed": COMPRESSED, "/rs/color/camera_info": CAMERA_INFO,
    "/rs/depth/image_rect_raw": IMAGE, "/rs/depth/camera_info": CAMERA_INFO,
    "/yolo/detections_2d": DETECTIONS, "/rs/infra1/image_rect_raw": IMAGE,
}  # fmt: skip
NONE = dict.fromkeys(("image", "camera_info", "detections", "depth"))


def test_the_bundled_bag_keeps_its_topics():
    topics = choose_topics(DEMO, NONE)
    assert topics == DemoTopics("/camera/color/image_raw", "/camera/color/camera_info",
                                "/detections")  # fmt: skip
    rgbd = choose_topics(DEMO, NONE, rgbd=True)
    assert rgbd.depth == "/camera/aligned_depth/image_raw" and len(rgbd.played()) == 4


def test_a_users_recording_is_found_by_type():
    topics = choose_topics(USER, NONE, rgbd=True)
    assert topics == DemoTopics("/rs/color/image_rect_raw/compressed", "/rs/color/camera_info",
                                "/yolo/detections_2d", "/rs/depth/image_rect_raw", True)


def test_named_topics_win_and_wrong_names_or_types_say_what_to_do():
    two_cameras = {**USER, "/left/image_raw": IMAGE}
    with pytest.raises(InputError, match="several image topics .* choose one with --image-topic"):
        choose_topics(two_cameras, NONE)
    topics = choose_topics(two_cameras, {**NONE, "image": "left/image_raw",
                                         "camera_info": "/rs/color/camera_info"})
    assert topics.image == "/left/image_raw" and not topics.compressed
    with pytest.raises(InputError, match="--detections-topic /dets: not a topic of the bag"):
        choose_topics(USER, {**NONE, "detections": "/dets"})
    with pytest.raises(InputError, match="carries sensor_msgs/msg/CameraInfo, not a image"):
        choose_topics(USER, {**NONE, "image": "/rs/color/camera_info"})
    with pytest.raises(InputError, match="no detections topic; name it with --detections-topic"):
        choose_topics({k: v for k, v in USER.items() if v != DETECTIONS}, NONE)
    with pytest.raises(InputError, match="--depth-topic needs --mode rgbd"):
        choose_topics(USER, {**NONE, "depth": "/rs/depth/image_rect_raw"})


def _args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["--bag", "/tmp/x", *argv])


def test_node_command_remaps_the_chosen_topics():
    args = _args("--mode", "rgbd", "--image-topic", "/a", "-p", "preset:=fast")
    assert (args.image_topic, args.depth_topic, args.mode) == ("/a", None, "rgbd")
    cmd = node_command(args, choose_topics(USER, NONE, rgbd=True))
    text = " ".join(cmd)
    assert "-p mode:=rgbd" in text and "-p use_compressed:=true" in text
    assert "-r image/compressed:=/rs/color/image_rect_raw/compressed" in text
    assert "-r depth:=/rs/depth/image_rect_raw" in text
    assert "-r detections:=/yolo/detections_2d" in text and cmd[-2:] == ["-p", "preset:=fast"]
    assert text.split("--params-file ")[1].split()[0].endswith("config/pose_rgbd.yaml")
    rgb = " ".join(node_command(_args(), choose_topics(DEMO, NONE)))
    assert "-r image:=/camera/color/image_raw" in rgb and "depth:=" not in rgb
    assert rgb.split("--params-file ")[1].split()[0].endswith("config/pose.yaml")


def test_report_without_ground_truth_counts_poses_and_says_where_frames_went():
    result = {
        "frames_out": 78, "frames_in_bag": 80, "frames_with_poses": 77, "poses": 150,
        "output_rate_hz": 2.4, "tf_transforms": 150, "marker_arrays": 78, "scored": False,
        "per_category": {}, "files": [],
        "node_diagnostics": {"frames_received": "80", "frames_synchronised": "79",
                             "frames_published": "78", "dropped_frames_total": "1",
                             "dropped_frames_stale": "1", "dropped_frames_error": "0"},
    }  # fmt: skip
    text = format_report(result)
    assert "78 of 80 bag images got results" in text and "77 with poses (150 poses)" in text
    assert "80 images received, 79 synchronised with detections, 78 published; dropped: " \
        "stale 1" in text  # fmt: skip
    assert "poses not scored" in text and "median rot" not in text


@pytest.mark.parametrize(
    ("params", "expected"),
    [([], False), (["fixed_frame:=world"], True), (["up_frame:=base_link"], True),
     (["fixed_frame:=", "up_frame:="], False), (["fixed_frame_timeout:=1.0"], False),
     (["upright:=false", "up_frame:=odom"], True)],
)  # fmt: skip
def test_the_bags_tf_is_played_for_fusion_or_gravity(params, expected):
    assert needs_tf(params) is expected


def test_gravity_comes_from_the_root_of_the_bags_tf_tree_unless_told_otherwise():
    from pathlib import Path

    from ros_pose_estimation.tools.bag_reader import BagReader
    from ros_pose_estimation.tools.demo import gravity_frame, tf_root

    bag = Path(__file__).resolve().parents[2] / "data" / "demo" / "demo_bag"
    parse = build_parser().parse_args
    with BagReader(bag) as source:
        assert tf_root(source) == "world"  # world -> base_link -> ... -> camera optical frame
        assert gravity_frame(parse([]), source)[0] == "world"
        assert gravity_frame(parse(["--up-frame", "none"]), source)[0] is None
        assert gravity_frame(parse(["--up-frame", "odom"]), source)[0] == "odom"
        for given in (["-p", "fixed_frame:=world"], ["-p", "up_frame:=base_link"],
                      ["-p", "up_frame:="]):  # fmt: skip
            frame, why = gravity_frame(parse(given), source)
            assert frame is None and why == "as set by -p"

    class NoTf:
        topics = {"/camera/color/image_raw": None}

    frame, why = gravity_frame(parse([]), NoTf())
    assert frame is None and "no /tf" in why


@pytest.mark.parametrize("argv,said", [
    (["--rate", "-1"], "--rate must be a number > 0"),
    (["--rate", "nan"], "--rate must be a number > 0"),
    (["--startup-timeout", "0"], "--startup-timeout must be a number > 0"),
    (["-p", "nonsense"], "expected NAME:=VALUE"),
])  # fmt: skip
def test_arguments_the_node_cannot_use_are_refused_before_it_starts(argv, said, tmp_path):
    from ros_pose_estimation.tools.demo import argument_problem

    args = build_parser().parse_args([*argv, "--out", str(tmp_path / "o")])
    assert said in argument_problem(args)
    good = build_parser().parse_args(["-p", "preset:=fast", "--out", str(tmp_path / "o")])
    assert argument_problem(good) is None
    (tmp_path / "afile").write_text("x")
    blocked = build_parser().parse_args(["--out", str(tmp_path / "afile" / "o")])
    assert "cannot make the output folder" in argument_problem(blocked)
