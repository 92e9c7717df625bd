"""Which topic of a bag plays which role: auto-detection by type and name, with overrides.

Roles and the message types they accept (:data:`ROLE_TYPES`):

==============  ======================================================  =========================
role            types                                                   required
==============  ======================================================  =========================
``rgb``         ``sensor_msgs/msg/Image``, ``sensor_msgs/msg/CompressedImage``  always
``camera_info`` ``sensor_msgs/msg/CameraInfo``                          always
``depth``       ``sensor_msgs/msg/Image`` (16UC1 mm / 32FC1 m, aligned)  modality ``rgbd``
``detections``  ``vision_msgs/msg/Detection2DArray``                    no (else depth / box)
``tf``          ``tf2_msgs/msg/TFMessage``                              no (camera motion)
``tf_static``   ``tf2_msgs/msg/TFMessage``                              no
==============  ======================================================  =========================

Auto-detection scores the topics of each role's types by their name (``color``/``rgb`` and
``rect`` for images, ``aligned``/``registered`` for depth, the image's namespace for camera
info) and fails with :class:`~ros_pose_estimation.tools.bag_errors.BagError` when the best
score is shared (ambiguous) or a required role has no candidate; both messages list the
candidates and the override to use.
Topics whose name says ground truth (``ground_truth``, ``groundtruth``, ``gt``) are never
picked automatically: extraction must not see labels.

Overrides map a role to a topic, or to ``""`` to leave the role out (e.g. ``detections=""``
to segment objects from depth although the bag has detections).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from ros_pose_estimation.tools.bag_errors import BagError

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
DETECTIONS = "vision_msgs/msg/Detection2DArray"
TF = "tf2_msgs/msg/TFMessage"

#: role -> message types it accepts.
ROLE_TYPES: dict[str, tuple[str, ...]] = {
    "rgb": (IMAGE, COMPRESSED),
    "camera_info": (CAMERA_INFO,),
    "depth": (IMAGE,),
    "detections": (DETECTIONS,),
    "tf": (TF,),
    "tf_static": (TF,),
}
ROLES = tuple(ROLE_TYPES)
MODALITIES = ("rgbd", "rgb")

_GROUND_TRUTH = re.compile(r"(ground_?truth|(^|[/_])gt($|[/_]))", re.IGNORECASE)
_NOT_COLOUR = ("depth", "disparity", "infra", "/ir", "mask", "segment", "label", "confidence")


@dataclass(frozen=True)
class TopicSelection:
    """The topic of each role (``None`` when the role is not used) and the other topics."""

    rgb: str
    camera_info: str
    depth: str | None = None
    detections: str | None = None
    tf: str | None = None
    tf_static: str | None = None
    ignored: dict[str, str] = field(default_factory=dict)  # topic -> type, not used

    def as_dict(self) -> dict[str, str | None]:
        return {role: getattr(self, role) for role in ROLES}

    def used(self) -> list[str]:
        return [t for t in self.as_dict().values() if t]


def _score(role: str, topic: str, msgtype: str, rgb: str | None) -> float | None:
    """Higher is a better match of ``topic`` for ``role``; None: not a candidate."""
    name = topic.lower()
    if msgtype not in ROLE_TYPES[role] or _GROUND_TRUTH.search(name):
        return None
    if role == "rgb":
        if any(word in name for word in _NOT_COLOUR):
            return None
        return (
            2.0 * any(w in name for w in ("color", "colour", "rgb"))
            + 1.0 * ("rect" in name)
            + 0.5 * (msgtype == IMAGE)
        )
    if role == "depth":
        if "depth" not in name:
            return None
        return 2.0 * any(w in name for w in ("aligned", "registered")) + 1.0 * ("rect" in name)
    if role == "camera_info":
        if rgb is None:
            return 0.0
        common = len(_common_prefix(name, rgb.lower().rsplit("/", 1)[0] + "/"))
        return common - 100.0 * ("depth" in name and "depth" not in rgb.lower())
    if role == "detections":
        return 1.0 * ("detect" in name)
    if role == "tf":
        return 1.0 if name.rstrip("/").endswith("/tf") or name == "tf" else None
    if role == "tf_static":
        return 1.0 if name.rstrip("/").endswith("tf_static") else None
    return None


def _common_prefix(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def _pick(role: str, connections: Mapping[str, str], rgb: str | None) -> str | None:
    scored = [
        (s, topic)
        for topic, msgtype in connections.items()
        if (s := _score(role, topic, msgtype, rgb)) is not None
    ]
    if not scored:
        return None
    best = max(s for s, _ in scored)
    top = sorted(t for s, t in scored if s == best)
    if len(top) > 1:
        raise BagError(
            f"cannot tell which topic is the {role} topic: {', '.join(top)} match equally; "
            f"choose one with the override {role}=<topic>"
        )
    return top[0]


def _check_override(role: str, topic: str, connections: Mapping[str, str]) -> None:
    if topic not in connections:
        raise BagError(
            f"{role} override {topic!r} is not a topic of the bag; its topics: "
            + ", ".join(f"{t} ({m})" for t, m in sorted(connections.items()))
        )
    if connections[topic] not in ROLE_TYPES[role]:
        raise BagError(
            f"{role} override {topic!r} has type {connections[topic]}; a {role} topic must be "
            f"{' or '.join(ROLE_TYPES[role])}"
        )


def _missing(role: str, connections: Mapping[str, str], hint: str) -> BagError:
    types = ROLE_TYPES[role]
    return BagError(
        f"the bag has no {role} topic (type {' or '.join(types)}); {hint}. Its topics: "
        + ", ".join(f"{t} ({m})" for t, m in sorted(connections.items()))
    )


def select_topics(
    connections: Mapping[str, str],
    overrides: Mapping[str, str] | None = None,
    modality: str = "rgbd",
) -> TopicSelection:
    """Choose the topic of every role.

    Args:
        connections: topic -> message type (``sensor_msgs/msg/Image`` style names) of the bag.
        overrides: role -> topic, ``""`` to leave a role out; unknown roles are an error.
        modality: ``"rgbd"`` (depth required) or ``"rgb"`` (depth never used).

    Raises:
        BagError: no (or an ambiguous) rgb / camera_info topic, no depth for ``rgbd``, an
            override naming a missing topic or a topic of the wrong type, an unknown role
            or modality.
    """
    overrides = dict(overrides or {})
    unknown = set(overrides) - set(ROLES)
    if unknown:
        raise BagError(f"unknown topic role(s) {sorted(unknown)}; roles are {', '.join(ROLES)}")
    if modality not in MODALITIES:
        raise BagError(f"modality must be one of {MODALITIES}, got {modality!r}")
    if modality == "rgb" and overrides.get("depth"):
        raise BagError("a depth topic was given with modality 'rgb'; use modality 'rgbd'")
    chosen: dict[str, str | None] = {}
    for role in ROLES:
        if role in overrides:
            topic = overrides[role] or None
            if topic is not None:
                _check_override(role, topic, connections)
        elif role == "depth" and modality == "rgb":
            topic = None
        else:
            topic = _pick(role, connections, chosen.get("rgb"))
        chosen[role] = topic
    if chosen["rgb"] is None:
        raise _missing("rgb", connections, "record the colour image or name it with rgb=<topic>")
    if chosen["camera_info"] is None:
        raise _missing(
            "camera_info", connections, "extraction needs the intrinsics (record CameraInfo)"
        )
    if modality == "rgbd" and chosen["depth"] is None:
        raise _missing(
            "depth",
            connections,
            "modality 'rgbd' needs aligned depth: record it, name it with depth=<topic>, "
            "or extract with modality 'rgb'",
        )
    used = {t for t in chosen.values() if t}
    ignored = {t: m for t, m in connections.items() if t not in used}
    return TopicSelection(**chosen, ignored=ignored)  # type: ignore[arg-type]
