"""vision_msgs / tf2_msgs definitions without ROS: every upstream message is defined, the
definitions parse to upstream's RIHS01 type hashes (see interface_kit.py for where those come
from), tf2_msgs equals the definitions shipped with rosbags, and rosbags CDR round trips.

Generated packages, rclpy and real DDS traffic are tested in test_interfaces_ros.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from ros_pose_estimation.interfaces import interface_names, msg_definition
from test.ros.interface_kit import (
    UPSTREAM_RIHS01,
    VISION_MSGS,
    _assert_same,
    _rosbags_detection2d_array,
)


def test_all_upstream_vision_msgs_are_defined():
    assert interface_names("vision_msgs") == VISION_MSGS
    assert interface_names("tf2_msgs") == ["TF2Error", "TFMessage"]
    assert "geometry_msgs/TransformStamped[] transforms" in msg_definition("tf2_msgs", "TFMessage")
    with pytest.raises(KeyError):
        msg_definition("vision_msgs", "Detection2DList")


def test_definitions_parse_and_match_upstream_hashes(store):
    for name in VISION_MSGS:
        assert f"vision_msgs/msg/{name}" in store.fielddefs
    for typename, expected in UPSTREAM_RIHS01.items():
        assert store.hash_rihs01(typename) == expected, typename


def test_tf2_msgs_match_the_definitions_shipped_with_rosbags(store):
    """rosbags' stores carry upstream's tf2_msgs: ours must parse to the same definitions."""
    from rosbags.typesys import get_types_from_msg

    for name in interface_names("tf2_msgs"):
        typename = f"tf2_msgs/msg/{name}"
        ours = get_types_from_msg(msg_definition("tf2_msgs", name), typename)[typename]
        assert tuple(ours) == tuple(store.fielddefs[typename]), typename


def _rosbags_detection3d_array(store):
    t = store.types
    header = t["std_msgs/msg/Header"](
        stamp=t["builtin_interfaces/msg/Time"](sec=5, nanosec=6), frame_id="base_link"
    )

    def pose(x, y, z):
        quarter_turn = t["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.6, w=0.8)
        return t["geometry_msgs/msg/Pose"](
            position=t["geometry_msgs/msg/Point"](x=x, y=y, z=z), orientation=quarter_turn
        )

    detections = []
    for i in range(3):
        hypotheses = [
            t["vision_msgs/msg/ObjectHypothesisWithPose"](
                hypothesis=t["vision_msgs/msg/ObjectHypothesis"](class_id=cls, score=score),
                pose=t["geometry_msgs/msg/PoseWithCovariance"](
                    pose=pose(i, 2.0 * i, 0.5), covariance=np.eye(6).ravel() * (i + 1)
                ),
            )
            for cls, score in (("bottle", 0.5 + 0.1 * i), ("can", 0.25))
        ]
        bbox = t["vision_msgs/msg/BoundingBox3D"](
            center=pose(i, 2.0 * i, 0.5),
            size=t["geometry_msgs/msg/Vector3"](x=0.1, y=0.2, z=0.3 + i),
        )
        detections.append(
            t["vision_msgs/msg/Detection3D"](
                header=header, results=hypotheses, bbox=bbox, id=f"obj-{i}"
            )
        )
    return t["vision_msgs/msg/Detection3DArray"](header=header, detections=detections)


@pytest.mark.parametrize(
    ("typename", "build"),
    [
        ("vision_msgs/msg/Detection2DArray", _rosbags_detection2d_array),
        ("vision_msgs/msg/Detection3DArray", _rosbags_detection3d_array),
    ],
)
def test_cdr_round_trip(store, typename, build):
    msg = build(store)
    raw = bytes(store.serialize_cdr(msg, typename))
    assert raw[:4] == b"\x00\x01\x00\x00"  # CDR little-endian encapsulation header
    _assert_same(msg, store.deserialize_cdr(raw, typename))
