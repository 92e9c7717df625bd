"""Which topics of a recording the demo plays into the node: given, or found by type.

:func:`choose_topics` takes the bag's topics (name -> type, ``sensor_msgs/msg/Image`` style)
and the topics asked for (role -> name or None). A role asked for must be a topic of the bag
with a type that fits; a role left None takes the bundled demo bag's name when the bag has it,
else the only topic of the bag that fits the role. No fit, or several, is an error that lists
the candidates and the option to choose with. Pure python.

Roles: ``image`` (``Image`` or ``CompressedImage``, not a depth/infrared/mask topic),
``camera_info`` (``CameraInfo``; with several, the one sharing the longest prefix with the
image topic),
``detections`` (``Detection2DArray``), ``depth`` (``Image`` with ``depth`` in its name; only
with ``rgbd``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from ros_pose_estimation.core.errors import InputError

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
DETECTIONS = "vision_msgs/msg/Detection2DArray"

#: The bundled demo bag's topics (data/demo/README.md).
DEFAULTS = {
    "image": "/camera/color/image_raw",
    "camera_info": "/camera/color/camera_info",
    "detections": "/detections",
    "depth": "/camera/aligned_depth/image_raw",
}
OPTIONS = {role: f"--{role.replace('_', '-')}-topic" for role in DEFAULTS}
_NOT_COLOUR = ("depth", "disparity", "infra", "/ir", "mask", "label", "segment")


@dataclass(frozen=True)
class DemoTopics:
    """The chosen topic of each role (``depth`` None in RGB mode); ``compressed``: the image
    topic carries ``CompressedImage``."""

    image: str
    camera_info: str
    detections: str
    depth: str | None = None
    compressed: bool = False

    def played(self) -> tuple[str, ...]:
        return tuple(t for t in (self.image, self.camera_info, self.detections, self.depth) if t)


def _fits(role: str, topic: str, msgtype: str) -> bool:
    name = topic.lower()
    if role == "image":
        return msgtype in (IMAGE, COMPRESSED) and not any(w in name for w in _NOT_COLOUR)
    if role == "depth":
        return msgtype == IMAGE and "depth" in name
    return msgtype == {"camera_info": CAMERA_INFO, "detections": DETECTIONS}[role]


def _listing(topics: Mapping[str, str]) -> str:
    return ", ".join(f"{t} ({m})" for t, m in sorted(topics.items())) or "none"


def _pick(role: str, topics: Mapping[str, str], image: str | None) -> str:
    if DEFAULTS[role] in topics and _fits(role, DEFAULTS[role], topics[DEFAULTS[role]]):
        return DEFAULTS[role]
    fits = sorted(t for t, m in topics.items() if _fits(role, t, m))
    if len(fits) > 1 and role == "camera_info" and image is not None:
        shared = {t: len(os.path.commonprefix([t, image])) for t in fits}
        best = [t for t in fits if shared[t] == max(shared.values())]
        fits = best if len(best) == 1 else fits
    if len(fits) == 1:
        return fits[0]
    if not fits:
        raise InputError(f"the bag has no {role.replace('_', ' ')} topic; name it with "
                         f"{OPTIONS[role]}. Its topics: {_listing(topics)}")  # fmt: skip
    raise InputError(f"the bag has several {role.replace('_', ' ')} topics ({', '.join(fits)}); "
                     f"choose one with {OPTIONS[role]}")  # fmt: skip


def choose_topics(
    topics: Mapping[str, str], asked: Mapping[str, str | None], rgbd: bool = False
) -> DemoTopics:
    """The topics to play (see the module docstring).

    Args:
        topics: the bag's topic -> message type.
        asked: role -> topic name given by the user, or None (find it).
        rgbd: also a depth topic.

    Raises:
        InputError: a topic asked for is not in the bag or has the wrong type; a role has no
            topic that fits, or several.
    """
    roles = ("image", "camera_info", "detections") + (("depth",) if rgbd else ())
    if not rgbd and asked.get("depth"):
        raise InputError(f"{OPTIONS['depth']} needs --mode rgbd")
    chosen: dict[str, str] = {}
    for role in roles:
        topic = asked.get(role)
        if topic:
            topic = topic if topic.startswith("/") else "/" + topic
            if topic not in topics:
                raise InputError(f"{OPTIONS[role]} {topic}: not a topic of the bag. Its topics: "
                                 f"{_listing(topics)}")  # fmt: skip
            if not _fits(role, topic, topics[topic]) and not (
                role in ("image", "depth") and topics[topic] in (IMAGE, COMPRESSED)
            ):  # a user's name is trusted for image-typed topics
                raise InputError(f"{OPTIONS[role]} {topic} carries {topics[topic]}, not a "
                                 f"{role.replace('_', ' ')} type")  # fmt: skip
        else:
            topic = _pick(role, topics, chosen.get("image"))
        chosen[role] = topic
    if rgbd and topics[chosen["depth"]] != IMAGE:
        raise InputError(f"depth topic {chosen['depth']} carries {topics[chosen['depth']]}; the "
                         "node takes sensor_msgs/msg/Image 16UC1 or 32FC1")  # fmt: skip
    return DemoTopics(chosen["image"], chosen["camera_info"], chosen["detections"],
                      chosen.get("depth"), topics[chosen["image"]] == COMPRESSED)  # fmt: skip
