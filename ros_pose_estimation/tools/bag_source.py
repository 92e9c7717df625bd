"""Read the raw CDR messages of a rosbag2 recording (sqlite3 or MCAP) with ``rosbags``.

``rosbags`` is a data/training dependency (the ``[data]`` extra), so it is imported only when a
bag is opened. Nothing is deserialised: messages come out as the bytes stored in the bag, which
are what a ROS 2 publisher sends on the wire.

Accepted paths: a rosbag2 folder (with ``metadata.yaml``; file- or message-compressed with zstd
is fine) or a single ``.mcap`` / ``.db3`` file. Every way a bag can be unusable -- missing,
not a bag, a ROS 1 bag, truncated or corrupt -- raises :class:`BagError` with what was wrong and
what to do, when opening or while reading.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ros_pose_estimation.core.errors import InputError, PoseEstimationError

__all__ = ["BagError", "BagSource", "BagTopic", "RosbagsMissingError"]

_BAG_FILES = (".mcap", ".db3")


class BagError(InputError):
    """A bag is missing, not a rosbag2 recording, or cannot be read (truncated, corrupt)."""


class RosbagsMissingError(PoseEstimationError, ImportError):
    """The ``rosbags`` package that reads bags is not installed."""


@dataclass(frozen=True)
class BagTopic:
    """One topic of a bag. ``msgtypes`` has one entry unless connections disagree."""

    name: str
    msgtypes: tuple[str, ...]
    count: int
    type_hash: str  # 'RIHS01_<hex>' as recorded; '' when the bag predates type hashes
    transient_local: bool  # recorded offered QoS was TRANSIENT_LOCAL


def _rosbag2():
    try:
        from rosbags import rosbag2
    except ImportError as exc:
        raise RosbagsMissingError(
            f"reading bags needs the 'rosbags' package ({exc}): pip install rosbags "
            "(or pip install 'ros_pose_estimation[data]')"
        ) from exc
    return rosbag2


def _check_path(path: Path) -> None:
    """Explain what is wrong with ``path`` before rosbags gives a terser message."""
    if not path.exists():
        raise BagError(
            f"{path}: no such file or folder; pass a rosbag2 folder (with metadata.yaml) "
            "or a .mcap / .db3 file"
        )
    if path.is_dir():
        if (path / "metadata.yaml").is_file():
            return
        inside = sorted(p.name for p in path.iterdir() if p.suffix in _BAG_FILES)
        hint = f"; it holds {', '.join(inside)}: pass that file instead" if inside else ""
        raise BagError(f"{path}: not a rosbag2 folder (no metadata.yaml){hint}")
    if path.suffix == ".bag":
        raise BagError(
            f"{path}: a ROS 1 bag; convert it to rosbag2 first, e.g. "
            f"rosbags-convert --src {path} --dst {path.with_suffix('')}"
        )
    if path.suffix not in _BAG_FILES:
        raise BagError(
            f"{path}: not a bag (expected a rosbag2 folder or a .mcap / .db3 file, "
            f"got a {path.suffix or 'suffix-less'} file)"
        )


def _damaged(path: Path, exc: BaseException, when: str) -> BagError:
    return BagError(
        f"{path}: cannot read the bag {when} ({type(exc).__name__}: {exc}); the file is "
        "probably truncated or corrupt (was the recorder stopped cleanly?). Re-record or "
        "re-copy it; a cut-off recording can sometimes be rescued with `ros2 bag reindex`"
    )


class BagSource:
    """An open bag: its topics and time span, and an iterator over its raw messages.

    Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        _check_path(self.path)
        rosbag2 = _rosbag2()
        try:
            reader = rosbag2.Reader(self.path)
            reader.open()
        except Exception as exc:  # rosbags' ReaderError, EOFError, zstd errors, OSError...
            raise _damaged(self.path, exc, "metadata or index") from exc
        self._reader = reader
        self.start_ns: int = reader.start_time if reader.message_count else 0
        self.end_ns: int = reader.end_time - 1 if reader.message_count else 0  # last message
        self.message_count: int = reader.message_count
        self.storage = self._describe(reader)
        self.topics: dict[str, BagTopic] = {}
        for name, info in reader.topics.items():
            conns = info.connections
            qos = [q for c in conns for q in getattr(c.ext, "offered_qos_profiles", ())]
            self.topics[name] = BagTopic(
                name=name,
                msgtypes=tuple(sorted({c.msgtype for c in conns})),
                count=info.msgcount,
                type_hash=next((c.digest for c in conns if c.digest.startswith("RIHS")), ""),
                transient_local=any(q.durability.name == "TRANSIENT_LOCAL" for q in qos),
            )

    @staticmethod
    def _describe(reader) -> str:
        text = "single file" if not reader.path.is_dir() else "rosbag2 folder"
        if reader.compression_mode:
            text += f", {reader.compression_format} {reader.compression_mode} compression"
        return text

    @property
    def duration_s(self) -> float:
        """Seconds from the first to the last message."""
        return (self.end_ns - self.start_ns) / 1e9

    def messages(
        self,
        topics: Iterable[str] | None = None,
        start_ns: int | None = None,
        stop_ns: int | None = None,
    ) -> Iterator[tuple[str, int, bytes]]:
        """``(topic, bag_ns, cdr_bytes)`` in bag time order, ``start_ns <= t <= stop_ns``.

        ``topics`` None reads every topic. Raises :class:`BagError` if the data is damaged:
        when reading fails, or when a read of the whole bag yields fewer messages on a topic
        than the bag's index lists (rosbags stops quietly at some kinds of damage).
        """
        wanted = None if topics is None else set(topics)
        conns = [c for c in self._reader.connections if wanted is None or c.topic in wanted]
        if not conns:
            return
        stop = None if stop_ns is None else stop_ns + 1  # rosbags' stop is exclusive
        iterator = self._reader.messages(conns, start=start_ns, stop=stop)
        counts = dict.fromkeys((c.topic for c in conns), 0)
        while True:
            try:
                conn, bag_ns, raw = next(iterator)
            except StopIteration:
                break
            except Exception as exc:  # only the bag reader runs inside this try
                raise _damaged(self.path, exc, f"after {sum(counts.values())} messages") from exc
            counts[conn.topic] += 1
            yield conn.topic, bag_ns, bytes(raw)
        whole = (start_ns is None or start_ns <= self.start_ns) and (
            stop_ns is None or stop_ns >= self.end_ns
        )
        short = {
            t: (n, self.topics[t].count) for t, n in counts.items() if n < self.topics[t].count
        }
        if whole and short:
            detail = ", ".join(f"{t}: {n} of {listed}" for t, (n, listed) in sorted(short.items()))
            raise _damaged(self.path, ValueError(f"messages missing ({detail})"), "to its end")

    def close(self) -> None:
        if self._reader is not None and self._reader.is_open:
            self._reader.close()

    def __enter__(self) -> BagSource:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def messages_by_stamp(path: str | Path, types: dict[str, tuple[str, type]]) -> dict[int, dict]:
    """Read ``types`` (bag topic -> (key, rclpy message class)) of a bag and group the
    deserialised messages by header stamp: ``{stamp_ns: {key: msg}}`` (needs rclpy; for
    tests, benchmarks and tools that feed recorded frames to the node)."""
    from rclpy.serialization import deserialize_message

    by_stamp: dict[int, dict] = {}
    with BagSource(path) as bag:
        for topic, _, raw in bag.messages(list(types)):
            key, cls = types[topic]
            msg = deserialize_message(raw, cls)
            stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
            by_stamp.setdefault(stamp, {})[key] = msg
    return by_stamp
