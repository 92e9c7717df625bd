"""One rclpy publisher per played bag topic (:class:`~.bag_player.BagPlayer`'s set-up).

* :func:`select_topics`: the bag topics to play, checked against the bag and the options.
* :func:`resolve_message_type`: the rclpy message class of a bag's type name
  (``sensor_msgs/msg/Image`` -> ``sensor_msgs.msg.Image``).
* :func:`create_output`: the publisher of one topic (RELIABLE, TRANSIENT_LOCAL where the
  recording or ``transient_local`` says so, the output name after remapping), or the reason it
  cannot be published: connections that disagree on the type, a type that cannot be imported,
  or a recorded type hash that differs from the installed definition.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from ros_pose_estimation.core.errors import ConfigError
from ros_pose_estimation.tools.bag_reader import BagReader
from ros_pose_estimation.tools.playback import PlayOptions

#: Most messages kept for late joiners on a TRANSIENT_LOCAL topic.
MAX_LATCHED = 100


@dataclass
class Output:
    """A played topic: its bag name, output name (after remapping), type and publisher."""

    bag_topic: str
    topic: str
    msgtype: str
    publisher: Any


def select_topics(source: BagReader, opts: PlayOptions) -> list[str]:
    """The bag topics to play (``opts.topics``, default all, sorted); ConfigError when a named
    topic is not in the bag, the bag is empty or the start offset lies past its end."""
    topics = source.topics
    available = ", ".join(sorted(topics)) or "none"
    unknown = [t for t in (*opts.topics, *opts.remap) if t not in topics]
    if unknown:
        raise ConfigError(f"topics {unknown} are not in the bag; it has: {available}")
    if source.message_count == 0:
        raise ConfigError(f"{source.path} holds no messages")
    start, _ = opts.window_ns(source.start_ns)
    if start > source.end_ns:
        raise ConfigError(
            f"start offset {opts.start_offset} s is past the bag's end "
            f"({source.duration_s:.3f} s after its first message)"
        )
    return list(opts.topics) if opts.topics else sorted(topics)


def resolve_message_type(msgtype: str) -> type:
    """``'sensor_msgs/msg/Image'`` -> the rclpy message class; LookupError saying why not."""
    parts = msgtype.split("/")
    if len(parts) == 2:  # 'pkg/Name' (ROS 1 style)
        parts = [parts[0], "msg", parts[1]]
    if len(parts) != 3 or not all(parts):
        raise LookupError(f"type name {msgtype!r} is not of the form pkg/msg/Name")
    package, kind, name = parts
    try:
        module = importlib.import_module(f"{package}.{kind}")
    except (ImportError, OSError) as exc:  # OSError: a typesupport library is missing
        raise LookupError(f"cannot import {package}.{kind} ({exc})") from exc
    cls = getattr(module, name, None)
    if not isinstance(cls, type):
        raise LookupError(f"{package}.{kind} has no message {name}")
    return cls


def create_output(node: Node, source: BagReader, name: str, opts: PlayOptions) -> Output | str:
    """The publisher of bag topic ``name`` on ``node``, or why it cannot be published (str)."""
    topic = source.topics[name]
    if len(topic.msgtypes) != 1:
        return f"connections disagree on the type: {topic.msgtypes}"
    msgtype = topic.msgtypes[0]
    try:
        cls = resolve_message_type(msgtype)
    except LookupError as exc:
        return f"{msgtype}: {exc}"
    transient = topic.transient_local or name in opts.transient_local
    depth = opts.depth
    if transient:  # keep every latched message for late joiners, up to MAX_LATCHED
        depth = max(depth, min(topic.count, MAX_LATCHED))
    durability = DurabilityPolicy.TRANSIENT_LOCAL if transient else DurabilityPolicy.VOLATILE
    qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth,
                     reliability=ReliabilityPolicy.RELIABLE, durability=durability)  # fmt: skip
    publisher = node.create_publisher(cls, opts.remap.get(name, name), qos)
    installed = _installed_type_hash(node, publisher.topic_name)
    if opts.check_type_hash and topic.type_hash and installed != topic.type_hash:
        node.destroy_publisher(publisher)
        return (
            f"{msgtype}: recorded type hash {topic.type_hash} differs from the installed "
            f"definition's {installed or '(unknown)'}; its bytes would not decode"
        )
    return Output(name, publisher.topic_name, msgtype, publisher)


def _installed_type_hash(node: Node, topic: str) -> str:
    """The type hash of ``node``'s own publisher on ``topic`` ("" when not reported)."""
    name, namespace = node.get_name(), node.get_namespace()
    for info in node.get_publishers_info_by_topic(topic):
        if info.node_name == name and info.node_namespace == namespace:
            return str(info.topic_type_hash)
    return ""
