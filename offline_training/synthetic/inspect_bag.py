"""Read a rosbag2 recording back and summarise it: topics, types, counts, rates, TF tree."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from offline_training.ros_types import typestore


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
    """Read every message of the bag at ``path`` (rosbag2 folder, sqlite3 or mcap)."""
    from rosbags.highlevel import AnyReader

    path = Path(path)
    store = typestore()
    topics: dict[str, TopicSummary] = {}
    edges: set[tuple[str, str]] = set()
    static_edges: set[tuple[str, str]] = set()
    stamps_match = True
    storage = _metadata_field(path, "storage_identifier") or "unknown"
    compression = _metadata_field(path, "compression_mode")
    if compression:
        storage += f", {compression.lower()} compression"
    with AnyReader([path], default_typestore=store) as reader:
        for conn, bag_ns, raw in reader.messages():
            msg = reader.deserialize(raw, conn.msgtype)
            s = topics.get(conn.topic)
            if s is None:
                s = topics[conn.topic] = TopicSummary(conn.topic, conn.msgtype, 0, bag_ns, bag_ns)
            s.count += 1
            s.first_ns = min(s.first_ns, bag_ns)
            s.last_ns = max(s.last_ns, bag_ns)
            if hasattr(msg, "header"):
                s.frame_ids.add(msg.header.frame_id)
                stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
                stamps_match &= stamp == bag_ns
            if conn.msgtype == "tf2_msgs/msg/TFMessage":
                target = static_edges if conn.topic.endswith("tf_static") else edges
                for tr in msg.transforms:
                    target.add((tr.header.frame_id, tr.child_frame_id))
    return BagSummary(str(path), storage, topics, edges, static_edges, stamps_match)


def _metadata_field(path: Path, key: str) -> str:
    """A scalar field of the bag's metadata.yaml ('' when absent)."""
    meta = path / "metadata.yaml"
    if not meta.is_file():
        return ""
    for line in meta.read_text().splitlines():
        name, _, value = line.strip().partition(":")
        if name == key:
            return value.strip().strip("'\"")
    return ""


def tf_children(summary: BagSummary) -> dict[str, list[str]]:
    """Parent -> children map of the whole TF tree (static and moving edges)."""
    tree: dict[str, list[str]] = defaultdict(list)
    for parent, child in sorted(summary.tf_edges | summary.static_tf_edges):
        tree[parent].append(child)
    return dict(tree)
