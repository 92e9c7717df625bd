"""Parameters changed while the node runs: ``live`` ones change what the next frame does (each
effect observed here), ``configure`` / ``activate`` ones are refused in the states where they
cannot apply, with the reason.

Frames go straight to the node's worker function with recorders for publishers, as in
``test_pose_node.py``.
"""

from __future__ import annotations

import time

import pytest

from ros_pose_estimation.node.params import PARAMS, fusion_params, group_params, tracking_params

pytestmark = pytest.mark.ros

MODELS = {c: f"models/nemo/{c}.pt" for c in ("mug", "bottle", "camera")}


class Recorder:
    def __init__(self) -> None:
        self.messages: list = []

    def publish(self, msg) -> None:
        self.messages.append(msg)

    def get_subscription_count(self) -> int:
        return 1


@pytest.fixture
def node(rclpy_ctx):
    from rclpy.lifecycle import TransitionCallbackReturn
    from rclpy.parameter import Parameter

    from ros_pose_estimation.node.pose_node import PoseEstimationNode

    values = {"categories": list(MODELS), "autostart": False, "device": "cpu",
              "num_threads": 1, "preset": "fast", "sync_backend": "builtin"}  # fmt: skip
    values.update({f"models.{c}.checkpoint": p for c, p in MODELS.items()})
    node = PoseEstimationNode(parameter_overrides=[Parameter(k, value=v)
                                                   for k, v in values.items()])  # fmt: skip
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    node._pubs = {name: Recorder() for name in node._pubs}
    yield node
    node.destroy_node()


def set_param(node, name, value):
    from rclpy.parameter import Parameter

    (result,) = node.set_parameters([Parameter(name, value=value)])
    return result


def run_frame(node, demo_frames, index=0):
    """Process demo frame ``index``; the Detection3DArray it published."""
    from ros_pose_estimation.node.pose_node import Frame

    image, info, dets, _ = demo_frames[index]
    node._on_camera_info(info)
    before = len(node._pubs["detections"].messages)
    node._process(Frame(image, dets, None, time.monotonic()))
    assert len(node._pubs["detections"].messages) == before + 1
    return node._pubs["detections"].messages[-1]


# ---------------------------------------------------------------------- live: per frame
def test_max_objects_lowered_means_fewer_detections_on_the_next_frame(node, demo_frames):
    assert len(run_frame(node, demo_frames, 0).detections) == 3
    assert set_param(node, "max_objects", 1).successful
    assert len(run_frame(node, demo_frames, 1).detections) == 1
    assert node._stats.skipped.get("over_max_objects") == 2


def test_min_score_raised_hides_estimates_and_republishes_label_info(node, demo_frames):
    assert len(run_frame(node, demo_frames, 0).detections) == 3
    assert set_param(node, "min_score", 1.0).successful
    assert len(run_frame(node, demo_frames, 1).detections) == 0
    assert node._stats.skipped.get("low_score") == 3
    assert node._pubs["label_info"].messages[-1].threshold == 1.0


def test_a_category_min_score_hides_that_category_only(node, demo_frames):
    categories = sorted(d.results[0].hypothesis.class_id
                        for d in run_frame(node, demo_frames, 0).detections)  # fmt: skip
    assert categories == ["bottle", "camera", "mug"]
    assert set_param(node, "models.mug.min_score", 1.0).successful
    shown = [d.results[0].hypothesis.class_id for d in run_frame(node, demo_frames, 1).detections]
    assert sorted(shown) == ["bottle", "camera"]
    assert node._stats.skipped.get("low_score") == 1
    result = set_param(node, "models.mug.min_score", 1.5)
    assert not result.successful and "models.mug.min_score" in result.reason


def test_tracking_change_reconfigures_the_filter_and_keeps_the_tracks(node, demo_frames):
    first = {d.id for d in run_frame(node, demo_frames, 0).detections}
    assert set_param(node, "tracking.translation_weight", 1.0).successful
    assert node.pipeline.tracker.config.translation_weight == 1.0
    assert {d.id for d in run_frame(node, demo_frames, 1).detections} == first


def test_tracking_values_that_do_not_fit_together_are_refused(node):
    # each value is in its own range, but the jump must stay below the gate (0.3 m)
    result = set_param(node, "tracking.max_translation_jump_m", 0.5)
    assert not result.successful and "tracking.max_translation_jump_m" in result.reason
    assert "gate_distance_m" in result.reason
    assert node.pipeline.tracker.config.max_translation_jump_m == 0.15


@pytest.mark.parametrize(
    ("name", "value", "check"),
    [
        ("publish_tf", False, lambda pubs, out: not pubs["tf"].messages),
        ("tf_prefix", "robot1/", lambda pubs, out: all(
            t.child_frame_id.startswith("robot1/") for t in pubs["tf"].messages[-1].transforms)),
        ("debug_image", False, lambda pubs, out: not pubs["debug"].messages),
        ("marker_lifetime", 2.0, lambda pubs, out: all(
            m.lifetime.sec == 2 for m in pubs["markers"].messages[-1].markers[1:])),
        ("marker_mesh", False, lambda pubs, out: all(
            m.type != m.MESH_RESOURCE and m.type != m.TRIANGLE_LIST
            for m in pubs["markers"].messages[-1].markers)),
    ],
)  # fmt: skip
def test_output_parameters_apply_to_the_next_frame(node, demo_frames, name, value, check):
    assert set_param(node, name, value).successful
    for pub in node._pubs.values():
        pub.messages.clear()
    out = run_frame(node, demo_frames, 0)
    assert check(node._pubs, out)


def test_time_jump_reset_threshold_is_read_per_frame(node, demo_frames):
    before = {int(d.id) for d in run_frame(node, demo_frames, 3).detections}
    # frame 0 is ~0.3 s older: out of order with the default 1 s threshold, a jump with 0.1 s
    assert set_param(node, "time_jump_reset", 0.1).successful
    after = {int(d.id) for d in run_frame(node, demo_frames, 0).detections}
    assert node._stats.dropped.get("out_of_order") == 0
    # the jump reset the tracks: the frame's objects start new tracks (ids are never reused)
    assert len(after) == len(before) == 3 and min(after) > max(before)
    assert {t.track_id for t in node.pipeline.tracker.tracks} == after


# ---------------------------------------------------------------------- live: rebuilt parts
def test_stats_window_changes_the_rate_window(node):
    assert set_param(node, "stats_window", 42.0).successful
    assert node._stats.inputs.window_s == node._stats.outputs.window_s == 42.0


def test_sync_parameters_rebuild_the_synchroniser_while_active(node, demo_frames):
    node.trigger_activate()
    try:
        def matched_with_stamp_offset(index: int, offset_ns: int) -> bool:
            image, _, dets, _ = demo_frames[index]
            before = node._stats.synchronised
            stamp = image.header.stamp.sec * 1_000_000_000 + image.header.stamp.nanosec
            node._feed(0, stamp, image)
            node._feed(1, stamp + offset_ns, dets)
            return node._stats.synchronised == before + 1

        node._worker.stop()  # only the matching is observed here
        node._worker = None
        assert matched_with_stamp_offset(0, 30_000_000)  # 30 ms within the default 50 ms slop
        assert matched_with_stamp_offset(1, 30_000_000)  # a newer frame matches the same way
        assert set_param(node, "slop", 0.01).successful
        assert not matched_with_stamp_offset(2, 30_000_000)
        assert matched_with_stamp_offset(3, 5_000_000)
    finally:
        node.trigger_deactivate()


def test_diagnostics_period_recreates_the_timer_while_active(node):
    node.trigger_activate()
    try:
        assert set_param(node, "diagnostics_period", 0.25).successful
        assert node._diag_timer.timer_period_ns == 250_000_000
        assert node._diag_timer in list(node.timers)  # the executor runs it
    finally:
        node.trigger_deactivate()


# ---------------------------------------------------------------------- refused, with reason
def test_activate_parameters_are_refused_while_active_and_accepted_while_inactive(node):
    node.trigger_activate()
    try:
        result = set_param(node, "input_qos", "reliable")
        assert not result.successful and "fixed while the node is active" in result.reason
    finally:
        node.trigger_deactivate()
    assert set_param(node, "input_qos", "reliable").successful


def test_configure_parameters_are_refused_while_configured(node):
    result = set_param(node, "preset", "reference")
    assert not result.successful and "read on configure" in result.reason


def test_a_whole_number_for_a_floating_point_parameter_is_taken(rclpy_ctx, node):
    # rclpy types a parameter by its default: -p tracking.max_age_s:=2, or max_age_s: 2 in a
    # params file, would stop the node with "expecting type 'DOUBLE'"
    from rclpy.lifecycle import TransitionCallbackReturn
    from rclpy.parameter import Parameter

    from ros_pose_estimation.node.pose_node import PoseEstimationNode

    values = {"categories": ["mug"], "autostart": False, "device": "cpu", "num_threads": 1,
              "models.mug.checkpoint": MODELS["mug"], "tracking.max_age_s": 2,
              "marker_lifetime": 1}  # fmt: skip
    started = PoseEstimationNode(parameter_overrides=[Parameter(k, value=v)
                                                      for k, v in values.items()])  # fmt: skip
    try:
        assert started.trigger_configure() == TransitionCallbackReturn.SUCCESS
        max_age = started.pipeline.tracker.config.max_age_s
        assert max_age == 2.0 and isinstance(max_age, float)
    finally:
        started.destroy_node()
    # at run time too, and what is not a number is still refused, with the reason
    assert set_param(node, "tracking.max_age_s", 4).successful
    assert node.pipeline.tracker.config.max_age_s == 4.0
    result = set_param(node, "tracking.max_age_s", "soon")
    assert not result.successful and "expected a number" in result.reason
    result = set_param(node, "marker_lifetime", -1)
    assert not result.successful and "marker_lifetime" in result.reason


def test_a_word_for_a_floating_point_parameter_stops_start_up_with_the_reason(rclpy_ctx):
    from rclpy.parameter import Parameter

    from ros_pose_estimation.core.errors import ConfigError
    from ros_pose_estimation.node.pose_node import PoseEstimationNode

    with pytest.raises(ConfigError, match="tracking.max_age_s: expected a number"):
        PoseEstimationNode(parameter_overrides=[Parameter("tracking.max_age_s", value="soon")])


def test_names_the_node_does_not_have_are_logged_with_what_was_meant():
    from ros_pose_estimation.node.node_params import unknown_overrides

    known = {"preset", "min_score", "tracking.max_age_s", "tracking.max_gap_s",
             "models.mug.checkpoint"}  # fmt: skip
    given = ["preset", "presets", "tracking.max_age", "use_sim_time", "models.mug.checkpoint",
             "models.bowl.checkpoint", "qos_overrides./image.subscription.depth", "frobnicate"]
    unknown = unknown_overrides(given, known, ["mug"])
    assert set(unknown) == {"presets", "tracking.max_age", "models.bowl.checkpoint",
                            "frobnicate"}  # fmt: skip
    assert unknown["presets"] == "did you mean 'preset'?"
    assert "'tracking.max_age_s'" in unknown["tracking.max_age"]
    assert "'bowl' is not in categories ['mug']" in unknown["models.bowl.checkpoint"]
    assert "config/pose.yaml" in unknown["frobnicate"]


def test_a_command_line_value_ros_did_not_apply_is_named_with_the_reason():
    from ros_pose_estimation.node.node_params import command_line_params, dropped_overrides
    from ros_pose_estimation.node.params import find

    argv = ["--ros-args", "-p", "min_score:=0.2", "--params-file", "pose.yaml",
            "-p", "max_objects:=5", "--param", "pose_estimation_node:preset:=fast",
            "-p", "other_node:preset:=reference", "-p", "queue_size:=soon", "--",
            "-p", "slop:=9"]  # fmt: skip
    given = command_line_params(argv, "pose_estimation_node")
    assert given == {"min_score": "0.2", "max_objects": "5", "preset": "fast",
                     "queue_size": "soon"}  # fmt: skip
    params = {n: find(n) for n in ("min_score", "max_objects", "preset", "queue_size")}
    # what the node ended with: the file's min_score (the file came after the -p) and
    # queue_size (rcl dropped the text for an integer); the others applied
    now = {"min_score": 0.0, "max_objects": 5, "preset": "fast", "queue_size": 10}
    dropped = dropped_overrides(argv, "pose_estimation_node", params, now.__getitem__)
    assert set(dropped) == {"min_score", "queue_size"}
    assert "put -p after --params-file" in dropped["min_score"]
    assert "not of the parameter's type (int)" in dropped["queue_size"]
    assert "(queue_size is 10)" in dropped["queue_size"]
    assert dropped_overrides(["--ros-args", "-p", "max_objects:=5.0"], "pose_estimation_node",
                             params, now.__getitem__) == {}  # 5.0 is 5  # fmt: skip


def test_a_node_started_with_a_misspelt_parameter_says_so(rclpy_ctx):
    from rclpy.parameter import Parameter

    from ros_pose_estimation.node.pose_node import PoseEstimationNode

    values = {"categories": ["mug"], "autostart": False, "models.mug.checkpoint": MODELS["mug"],
              "presets": "fast", "models.camera.checkpoint": MODELS["camera"]}  # fmt: skip
    node = PoseEstimationNode(parameter_overrides=[Parameter(k, value=v)
                                                   for k, v in values.items()])  # fmt: skip
    try:
        assert set(node._param_table.unknown) == {"presets", "models.camera.checkpoint"}
    finally:
        node.destroy_node()


#: live parameter -> the test above that observes its effect
LIVE_EFFECTS = {
    "max_objects": test_max_objects_lowered_means_fewer_detections_on_the_next_frame,
    "min_score": test_min_score_raised_hides_estimates_and_republishes_label_info,
    "publish_tf": test_output_parameters_apply_to_the_next_frame,
    "tf_prefix": test_output_parameters_apply_to_the_next_frame,
    "debug_image": test_output_parameters_apply_to_the_next_frame,
    "marker_lifetime": test_output_parameters_apply_to_the_next_frame,
    "marker_mesh": test_output_parameters_apply_to_the_next_frame,
    "time_jump_reset": test_time_jump_reset_threshold_is_read_per_frame,
    "stats_window": test_stats_window_changes_the_rate_window,
    "slop": test_sync_parameters_rebuild_the_synchroniser_while_active,
    "queue_size": test_sync_parameters_rebuild_the_synchroniser_while_active,
    "exact_sync": test_sync_parameters_rebuild_the_synchroniser_while_active,
    "diagnostics_period": test_diagnostics_period_recreates_the_timer_while_active,
    # read per frame by the frame processor; its own tests vary them
    "min_mask_pixels": "test/node/test_pose_node.py::test_mask_input_instead_of_detections",
    "camera_info_timeout": "test/node/test_processing.py (no_camera_info warning)",
    **{p.name: test_tracking_change_reconfigures_the_filter_and_keeps_the_tracks
       for p in tracking_params()},
    # world-frame fusion: read per frame by the frame processor / applied to the running fusion
    "fixed_frame_timeout": "test/node/test_processing.py (fusion lookup with its timeout)",
    **{p.name: "test/node/test_world_fusion_node.py::"
               "test_fusion_settings_change_live_and_the_fused_state_is_kept"
       for p in fusion_params()},
}  # fmt: skip


def test_every_live_parameter_has_an_observed_effect():
    live = {p.name for p in PARAMS + group_params() if p.applies == "live"}
    assert live == set(LIVE_EFFECTS), live ^ set(LIVE_EFFECTS)
