"""Read a rosbag2 recording back and summarise it: topics, types, counts, rates, TF tree."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from offline_training.ros_types import typestore
from ros_pose_estimation.tools.bag_reader import BagReader


@dataclass
class TopicSummary:
    topic: str
    msgtype: str
    count: int
    first_ns: int
    last_ns: int
    frame_ids: set[str] = field(default_factory=set)

    @property
    def rate_hz(self) -> float:
        span = (self.last_ns - self.first_ns) * 1e-9
        return (self.count - 1) / span if self.count > 1 and span > 0 else 0.0


@dataclass
class BagSummary:
    path: str
    storage: str
    topics: dict[str, TopicSummary]
    tf_edges: set[tuple[str, str]]
    static_tf_edges: set[tuple[str, str]]
    header_matches_bag_time: bool

    def format(self) -> str:
        lines = [f"{self.path} ({self.storage})"]
        for s in sorted(self.topics.values(), key=lambda s: s.topic):
            frames = ",".join(sorted(s.frame_ids)) or "-"
            lines.append(
                f"  {s.topic:36s} {s.msgtype:34s} {s.count:5d} msgs {s.rate_hz:5.1f} Hz [{frames}]"
            )
        edges = sorted(self.static_tf_edges | self.tf_edges)
        lines.append(
            "  TF tree: "
            + ", ".join(
                f"{p} -> {c}{' (static)' if (p, c) in self.static_tf_edges else ''}"
                for p, c in edges
            )
        )
        return "\n".join(lines)


def summarize_bag(path: str | Path) -> BagSummary:
    """Read every message of the bag at ``path`` (a rosbag2 folder or a .mcap / .db3 file).

    Raises:
        BagError: not a bag, or a damaged one (:mod:`ros_pose_estimation.tools.bag_reader`).
    """
    path = Path(path)
    topics: dict[str, TopicSummary] = {}
    edges: set[tuple[str, str]] = set()
    static_edges: set[tuple[str, str]] = set()
    stamps_match = True
    with BagReader(path, typestore=typestore()) as reader:
        storage, types = reader.storage, reader.connections
        for topic, bag_ns, msg in reader.messages(deserialize=True):
            s = topics.get(topic)
            if s is None:
                s = topics[topic] = TopicSummary(topic, types[topic], 0, bag_ns, bag_ns)
            s.count += 1
            s.first_ns = min(s.first_ns, bag_ns)
            s.last_ns = max(s.last_ns, bag_ns)
            if hasattr(msg, "header"):
                s.frame_ids.add(msg.header.frame_id)
                stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
                stamps_match &= stamp == bag_ns
            if s.msgtype == "tf2_msgs/msg/TFMessage":
                target = static_edges if topic.endswith("tf_static") else edges
                for tr in msg.transforms:
                    target.add((tr.header.frame_id, tr.child_frame_id))
    return BagSummary(str(path), storage, topics, edges, static_edges, stamps_match)


def tf_children(summary: BagSummary) -> dict[str, list[str]]:
    """Parent -> children map of the whole TF tree (static and moving edges)."""
    tree: dict[str, list[str]] = defaultdict(list)
    for parent, child in sorted(summary.tf_edges | summary.static_tf_edges):
        tree[parent].append(child)
    return dict(tree)
