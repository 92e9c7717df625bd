"""Output messages: Detection3DArray, TFMessage, MarkerArray built from tracked poses."""

from __future__ import annotations

import numpy as np
import pytest

from ros_pose_estimation.core.errors import ConfigError, InputError
from ros_pose_estimation.core.rotations import axis_rotation, quat_to_matrix
from ros_pose_estimation.pipeline.tracks import NO_TRACK, TrackedPose
from ros_pose_estimation.shapes import template_mesh

pytestmark = pytest.mark.ros
pytest.importorskip("vision_msgs.msg", reason="vision_msgs (generated interfaces) not importable")
pytest.importorskip("tf2_msgs.msg", reason="tf2_msgs (generated interfaces) not importable")
pytest.importorskip("visualization_msgs.msg", reason="visualization_msgs not importable")

from std_msgs.msg import Header  # noqa: E402

from ros_pose_estimation.conversions import (  # noqa: E402
    detection3d_array,
    marker_array,
    object_frame_id,
    tf_message,
)


def _header() -> Header:
    header = Header(frame_id="camera_color_optical_frame")
    header.stamp.sec, header.stamp.nanosec = 1700000000, 123456789
    return header


def _pose(category="mug", track_id=4, score=0.75, covariance=None, **kw) -> TrackedPose:
    rot = kw.pop("R", axis_rotation("x", 0.3))
    t = kw.pop("t", np.array([0.1, -0.2, 0.9]))
    size = kw.pop("size", np.array([0.11, 0.08, 0.096]))
    return TrackedPose(category, track_id, rot, t, size, score, covariance, 0, False, None, **kw)


def _quat_matrix(q) -> np.ndarray:
    return quat_to_matrix([q.x, q.y, q.z, q.w])


def test_detection3d_array_fields():
    cov = np.diag([1e-4, 2e-4, 3e-4, 0.01, 0.02, 0.03])
    cov[0, 1] = cov[1, 0] = 5e-5
    poses = [_pose(covariance=cov), _pose("bottle", 9, 0.4), _pose(track_id=NO_TRACK)]
    header = _header()
    msg = detection3d_array(header, poses)
    assert msg.header == header and len(msg.detections) == 3
    det = msg.detections[0]
    assert det.header == header and det.id == "4"
    assert len(det.results) == 1
    hyp = det.results[0]
    assert hyp.hypothesis.class_id == "mug" and hyp.hypothesis.score == 0.75
    p = hyp.pose.pose
    np.testing.assert_allclose([p.position.x, p.position.y, p.position.z], [0.1, -0.2, 0.9])
    np.testing.assert_allclose(_quat_matrix(p.orientation), axis_rotation("x", 0.3), atol=1e-12)
    q = p.orientation
    np.testing.assert_allclose([q.x, q.w], [np.sin(0.15), np.cos(0.15)])  # x, y, z, w order
    np.testing.assert_array_equal(np.asarray(hyp.pose.covariance).reshape(6, 6), cov)
    assert hyp.pose.covariance[1] == 5e-5  # row-major: [0, 1]
    assert det.bbox.center == p
    s = det.bbox.size
    np.testing.assert_allclose([s.x, s.y, s.z], [0.11, 0.08, 0.096])
    assert msg.detections[1].id == "9" and msg.detections[1].results[0].hypothesis.class_id == (
        "bottle"
    )
    assert not np.any(msg.detections[1].results[0].pose.covariance)  # unknown: zeros
    assert msg.detections[2].id == ""  # no track


def test_detection3d_array_rejects_bad_input():
    with pytest.raises(InputError, match="empty frame_id"):
        detection3d_array(Header(), [_pose()])
    with pytest.raises(InputError, match=r"covariance: expected \[6 x 6\]"):
        detection3d_array(_header(), [_pose(covariance=np.eye(3))])


def test_tf_message_child_names_stamps_and_transforms():
    header = _header()
    poses = [_pose(), _pose("bottle", 12), _pose(track_id=NO_TRACK)]
    msg = tf_message(header, poses, prefix="obj/")
    from tf2_msgs.msg import TFMessage

    assert isinstance(msg, TFMessage) and len(msg.transforms) == 2  # untracked: no frame
    first, second = msg.transforms
    assert first.header.frame_id == "camera_color_optical_frame"
    assert first.header.stamp == header.stamp
    assert first.child_frame_id == "obj/mug_4" and second.child_frame_id == "obj/bottle_12"
    tr = first.transform.translation
    np.testing.assert_allclose([tr.x, tr.y, tr.z], [0.1, -0.2, 0.9])
    np.testing.assert_allclose(_quat_matrix(first.transform.rotation), axis_rotation("x", 0.3))
    assert object_frame_id("", "can", 3) == "can_3"
    assert tf_message(header, [], prefix="").transforms == []


def test_tf_names_follow_tracks_not_order():
    header = _header()
    a, b = _pose("mug", 1), _pose("mug", 2)
    names1 = [t.child_frame_id for t in tf_message(header, [a, b]).transforms]
    names2 = [t.child_frame_id for t in tf_message(header, [b, a]).transforms]
    assert names1 == ["mug_1", "mug_2"] and names2 == ["mug_2", "mug_1"]


@pytest.mark.parametrize(("prefix", "match"), [("/obj", "start with '/'"), ("a b", "whitespace")])
def test_tf_bad_prefix(prefix, match):
    with pytest.raises(ConfigError, match=match):
        tf_message(_header(), [_pose()], prefix=prefix)


def test_marker_array_layout():
    from visualization_msgs.msg import Marker

    header = _header()
    mesh = template_mesh("mug")
    size = np.array([0.22, 0.16, 0.192])  # twice the template
    poses = [
        _pose("mug", 4, 0.9, size=size),
        _pose("bottle", 9, 0.1),
        _pose("mug", NO_TRACK),
    ]
    msg = marker_array(header, poses, lifetime_s=0.5, meshes={"mug": mesh}, max_triangles=300)
    markers = msg.markers
    assert markers[0].action == Marker.DELETEALL and markers[0].ns == ""
    assert len(markers) == 1 + 2 * 2  # untracked pose not drawn
    mug, mug_label, bottle, bottle_label = markers[1:]
    assert all(m.header == header for m in markers)
    assert (mug.ns, mug.id, mug.type, mug.action) == ("mug", 4, Marker.TRIANGLE_LIST, Marker.ADD)
    assert (mug_label.ns, mug_label.id, mug_label.type) == (
        "mug_label",
        4,
        Marker.TEXT_VIEW_FACING,
    )
    assert mug_label.text == "mug #4 0.90" and bottle_label.text == "bottle #9 0.10"
    assert (bottle.ns, bottle.id, bottle.type) == ("bottle", 9, Marker.CUBE)
    s = bottle.scale
    np.testing.assert_allclose([s.x, s.y, s.z], [0.11, 0.08, 0.096])
    # mesh: a unit-size triangle list within budget (model frame), scaled by RViz to the size
    pts = np.array([[p.x, p.y, p.z] for p in mug.points])
    assert len(pts) % 3 == 0 and 0 < len(pts) // 3 <= 300
    np.testing.assert_allclose(pts.max(0) - pts.min(0), 1.0, rtol=0.15)
    np.testing.assert_allclose(0.5 * (pts.max(0) + pts.min(0)), 0.0, atol=0.05)
    np.testing.assert_allclose([mug.scale.x, mug.scale.y, mug.scale.z], size)
    drawn = (pts.max(0) - pts.min(0)) * size  # what RViz draws: points * scale
    np.testing.assert_allclose(drawn, size, rtol=0.15)
    np.testing.assert_allclose(_quat_matrix(mug.pose.orientation), axis_rotation("x", 0.3))
    # opacity from score, colour per class, lifetime
    assert mug.color.a > bottle.color.a
    assert (mug.color.r, mug.color.g, mug.color.b) != (
        bottle.color.r,
        bottle.color.g,
        bottle.color.b,
    )
    assert (mug.lifetime.sec, mug.lifetime.nanosec) == (0, 500_000_000)
    assert (mug_label.lifetime.sec, mug_label.lifetime.nanosec) == (0, 500_000_000)
    # label above the object in the image (optical -y)
    assert mug_label.pose.position.y < mug.pose.position.y


def test_marker_array_empty_and_bad_arguments():
    msg = marker_array(_header(), [], lifetime_s=0.0)
    assert len(msg.markers) == 1 and msg.markers[0].action == 3
    with pytest.raises(InputError, match="duration"):
        marker_array(_header(), [_pose()], lifetime_s=-1.0)
    with pytest.raises(ConfigError, match="max_triangles"):
        marker_array(_header(), [_pose()], lifetime_s=1.0, meshes={"mug": template_mesh("mug")},
                     max_triangles=0)  # fmt: skip
    with pytest.raises(InputError, match="empty frame_id"):
        marker_array(Header(), [], lifetime_s=1.0)


def test_malformed_pose_names_it():
    bad = _pose(t=np.array([0.0, 1.0]))
    with pytest.raises(InputError, match=r"poses\[1\]\.t: expected \[3\]"):
        detection3d_array(_header(), [_pose(), bad])
    with pytest.raises(InputError, match=r"poses\[0\]\.t"):
        tf_message(_header(), [bad])
