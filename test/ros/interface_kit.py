"""Shared by the interface tests (``test_interfaces.py``, ``test_interfaces_ros.py``):
upstream's type hashes, the vision_msgs names, the values of the test detections, a
Detection2DArray built with rosbags, and a recursive equality check for rosbags messages.

The expected RIHS01 type hashes below are upstream's, read from rosidl output generated from
the real packages and stored in public repositories: vision_msgs 4.x from a colcon build tree
(``build/vision_msgs/rosidl_generator_type_description/*.json`` and ``*__description.c``), and
tf2_msgs/TFMessage from two independent generated ``*__description.c`` files that embed it.
No public record of ``vision_msgs/msg/BoundingBox3DArray``'s hash was found, so that one type
is only checked for consistency (rosbags and rosidl agree) rather than against upstream.
"""

from __future__ import annotations

import dataclasses

import numpy as np

# Upstream RIHS01 digests (the part after 'RIHS01_'), by message name.
_VISION_MSGS_DIGESTS = {
    "BoundingBox2D": "008eacbb0cf8f26e83795547bed013eec3675485ef386ec056d80eaaf1c1ce2f",
    "BoundingBox2DArray": "2464e82838009386d371b523211c21c91d74d313fcdd6788223c531d621cf691",
    "BoundingBox3D": "bbb73a65c163d7f9bb29009c7bde9f7faa576bd2d23299c4511d19230dab4698",
    "Classification": "f74db28d0eaef3afb78f48bf2161cd709a1383a0309d3454383b25be11345143",
    "Detection2D": "0d12b69df5c593b3455b7346fac8205437a7d4bcb09b9e0e0b2dde787ded38ea",
    "Detection2DArray": "214274120007f4a683866481336b70310268cfa107aebe9d594a6acf75bda968",
    "Detection3D": "ddd703be132ab0b69d33121f1bb034132bfbb3b0ac5f9fb1516005ba1c8a265b",
    "Detection3DArray": "793f5eab9595ac1c0da07873cc859db42eae51f0ee76056db8562515d830e018",
    "LabelInfo": "3d37df4015cdf660cc851c51897f2acd957e1ca6205ba0a99aebffb9406b0783",
    "ObjectHypothesis": "51da43cec11c01957a64d1e05a24acd18aae7745ec30b74348ad5f6d634f7f90",
    "ObjectHypothesisWithPose": "41c12344c0396c48b81df12467c192d99b2a0eb1463c5c37194e4223251c80bc",
    "Point2D": "eab0e83f44ab4de92ceaf76dd7d0e7638f2bdd1d16ffbe16c7a136c48e407247",
    "Pose2D": "b0b5d1d7b4c20dd4fcde3ed1d4b289a919290572007d67a97043814db25d3648",
    "VisionClass": "1e4a11f0fed50b5623cb8ff26ca0e37952a48a9c074d16f804b44e9164c2037a",
    "VisionInfo": "95d3116a17484ad91c9a2686e1d54890bbfc3ff6c6a2de137738c4950d45d284",
}
_TF2_MSGS_DIGESTS = {
    "TFMessage": "e369d0f05a23ae52508854b66f6aa0437f3449d652e8cbf22d5abe85d020f087",
}
UPSTREAM_RIHS01 = {
    f"{package}/msg/{name}": f"RIHS01_{digest}"
    for package, digests in (
        ("vision_msgs", _VISION_MSGS_DIGESTS),
        ("tf2_msgs", _TF2_MSGS_DIGESTS),
    )
    for name, digest in digests.items()
}

VISION_MSGS = [
    "BoundingBox2D", "BoundingBox2DArray", "BoundingBox3D", "BoundingBox3DArray",
    "Classification", "Detection2D", "Detection2DArray", "Detection3D", "Detection3DArray",
    "LabelInfo", "ObjectHypothesis", "ObjectHypothesisWithPose", "Point2D", "Pose2D",
    "VisionClass", "VisionInfo",
]  # fmt: skip

# Values shared by the publisher process and the checks.
STAMP = (1_700_000_000, 123_456_789)
TF_CHILD, TF_PARENT, TF_XYZ = "camera_link", "world", (1.5, -0.25, 0.75)
DET_FRAME, DET_CLASS, DET_SCORE, DET_ID = "camera_optical", "mug", 0.875, "track-7"
DET_CENTER, DET_SIZE, DET_POSE_Z = (320.5, 240.25, 0.125), (64.0, 48.0), 0.6
COVARIANCE = [0.01 * i for i in range(36)]


def _rosbags_detection2d_array(store):
    t = store.types
    header = t["std_msgs/msg/Header"](
        stamp=t["builtin_interfaces/msg/Time"](sec=STAMP[0], nanosec=STAMP[1]),
        frame_id=DET_FRAME,
    )
    hypothesis = t["vision_msgs/msg/ObjectHypothesisWithPose"](
        hypothesis=t["vision_msgs/msg/ObjectHypothesis"](class_id=DET_CLASS, score=DET_SCORE),
        pose=t["geometry_msgs/msg/PoseWithCovariance"](
            pose=t["geometry_msgs/msg/Pose"](
                position=t["geometry_msgs/msg/Point"](x=0.0, y=0.0, z=DET_POSE_Z),
                orientation=t["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.0, w=1.0),
            ),
            covariance=np.array(COVARIANCE, dtype=np.float64),
        ),
    )
    bbox = t["vision_msgs/msg/BoundingBox2D"](
        center=t["vision_msgs/msg/Pose2D"](
            position=t["vision_msgs/msg/Point2D"](x=DET_CENTER[0], y=DET_CENTER[1]),
            theta=DET_CENTER[2],
        ),
        size_x=DET_SIZE[0],
        size_y=DET_SIZE[1],
    )
    detection = t["vision_msgs/msg/Detection2D"](
        header=header, results=[hypothesis], bbox=bbox, id=DET_ID
    )
    return t["vision_msgs/msg/Detection2DArray"](header=header, detections=[detection])


def _assert_same(a, b, path="msg"):
    """Recursive equality for rosbags messages (dataclasses, lists, numpy arrays)."""
    if dataclasses.is_dataclass(a):
        assert type(a).__name__ == type(b).__name__, path
        for field in dataclasses.fields(a):
            _assert_same(getattr(a, field.name), getattr(b, field.name), f"{path}.{field.name}")
    elif isinstance(a, np.ndarray | list | tuple):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same(x, y, f"{path}[{i}]")
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"
