"""pose_estimation_node with world-frame fusion (``fixed_frame``), in-process: the demo bag's
frames and its /tf (fed to the node's TF listener as its subscriptions would), the bundled
models; publishers are recorders. Fused poses come out in the fixed frame with a covariance
that shrinks, TF under the fixed frame, the per-frame poses beside them; a missing transform
publishes the frame unfused; fusion is off by default; the settings change live."""

from __future__ import annotations

import numpy as np
import pytest

from test.node.conftest import DEMO_BAG
from test.node.pose_node_kit import Recorder, frame, make_node

pytestmark = pytest.mark.ros


@pytest.fixture(scope="module")
def demo_tf():
    """The demo bag's ``[(TFMessage, static)]`` (rclpy messages)."""
    from rclpy.serialization import deserialize_message
    from tf2_msgs.msg import TFMessage

    from ros_pose_estimation.tools.bag_reader import BagReader

    with BagReader(DEMO_BAG) as bag:
        return [(deserialize_message(raw, TFMessage), topic == "/tf_static")
                for topic, _, raw in bag.messages(["/tf", "/tf_static"])]  # fmt: skip


@pytest.fixture
def fusing_node(rclpy_ctx, demo_tf):
    """An active node fusing in ``world``, its TF listener fed with the bag's TF."""
    from rclpy.lifecycle import TransitionCallbackReturn

    node = make_node(rclpy_ctx, fixed_frame="world", fixed_frame_timeout=0.0,
                     sync_backend="builtin")  # fmt: skip
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    node._pubs = {name: Recorder() for name in node._pubs}
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
    assert node._camera_pose.backend in ("builtin", "tf2_ros")
    if node._camera_pose.backend == "tf2_ros":
        pytest.skip("tf2_ros installed: the bag's TF would go through a TransformListener")
    for msg, static in demo_tf:
        node._camera_pose.add(msg, static)
    yield node
    node.trigger_deactivate()
    node.destroy_node()


def _pose(det) -> tuple[np.ndarray, np.ndarray]:
    from ros_pose_estimation.core.rotations import quat_to_matrix

    p = det.results[0].pose.pose
    q = p.orientation
    return (np.asarray(quat_to_matrix(np.array([q.x, q.y, q.z, q.w]))),
            np.array([p.position.x, p.position.y, p.position.z]))  # fmt: skip


def test_fused_poses_in_the_fixed_frame_tf_under_it_and_per_frame_beside(fusing_node,
                                                                        demo_frames):  # fmt: skip
    from ros_pose_estimation.tools.ground_truth import GroundTruth

    node, truth = fusing_node, GroundTruth(DEMO_BAG)
    for image, info, dets, _ in demo_frames[:3]:
        node._on_camera_info(info)
        node._process(frame(image, dets))
    fused, per_frame = (
        node._pubs["detections"].messages,
        node._pubs["detections_per_frame"].messages,
    )
    assert len(fused) == len(per_frame) == 3
    last_image = demo_frames[2][0]
    assert (
        fused[-1].header.frame_id == "world" and fused[-1].header.stamp == last_image.header.stamp
    )
    assert per_frame[-1].header == last_image.header  # the camera frame, as without fusion
    ids = {d.id for d in fused[-1].detections}
    assert ids == {d.id for d in per_frame[-1].detections} and len(ids) == 3
    (tf,) = node._pubs["tf"].messages[-1:]
    assert {t.header.frame_id for t in tf.transforms} == {"world"}
    assert {t.child_frame_id for t in tf.transforms} == {
        f"{d.results[0].hypothesis.class_id}_{d.id}" for d in fused[-1].detections
    }
    # the fused poses are the objects' world poses (within the estimator's error)
    objects = {c: T for c, T, _ in truth.objects}
    for det in fused[-1].detections:
        category = det.results[0].hypothesis.class_id
        R, t = _pose(det)
        assert np.linalg.norm(t - objects[category][:3, 3]) < 0.1, category
    # covariance: known from the first frame, shrinking with evidence
    first = {d.id: np.reshape(d.results[0].pose.covariance, (6, 6)) for d in fused[0].detections}
    for det in fused[-1].detections:
        cov = np.reshape(det.results[0].pose.covariance, (6, 6))
        assert np.trace(cov[:3, :3]) < np.trace(first[det.id][:3, :3])
    assert node.stats().latency["fuse"].count == 3  # the fusion's cost in /diagnostics


def test_no_transform_publishes_the_frame_unfused(fusing_node, demo_frames):
    from rclpy.parameter import Parameter

    node = fusing_node
    node.trigger_deactivate()
    node.set_parameters([Parameter("fixed_frame", value="map")])  # not in the bag's TF
    node.trigger_activate()
    image, info, dets, _ = demo_frames[0]
    node._on_camera_info(info)
    node._process(frame(image, dets))
    (out,) = node._pubs["detections"].messages
    (per_frame,) = node._pubs["detections_per_frame"].messages
    assert out.header == image.header == per_frame.header  # camera frame: unfused
    assert not node._pubs["tf"].messages  # an object frame keeps one parent: none published


def test_fusion_is_off_by_default(node, demo_frames):
    image, info, dets, _ = demo_frames[0]
    node._on_camera_info(info)
    node._process(frame(image, dets))
    assert node.get_parameter("fixed_frame").value == ""
    assert node._pubs["detections"].messages[0].header == image.header
    assert not node._pubs["detections_per_frame"].messages
    assert node.pipeline.fusion is None


def test_bad_fixed_frame_is_refused_with_the_reason(node):
    from rclpy.parameter import Parameter

    (result,) = node.set_parameters([Parameter("fixed_frame", value="/world")])
    assert not result.successful and "must not start with '/'" in result.reason


def test_fusion_settings_change_live_and_the_fused_state_is_kept(fusing_node, demo_frames):
    from rclpy.parameter import Parameter

    node = fusing_node
    image, info, dets, _ = demo_frames[0]
    node._on_camera_info(info)
    node._process(frame(image, dets))
    ids = node.pipeline.fusion.track_ids
    (ok,) = node.set_parameters([Parameter("fusion.rotation_gate_deg", value=10.0)])
    assert ok.successful and node.pipeline.fusion.config.rotation_gate_deg == 10.0
    assert node.pipeline.fusion.track_ids == ids
    (bad,) = node.set_parameters([Parameter("fusion.max_samples", value=0)])
    assert not bad.successful and "fusion.max_samples" in bad.reason
