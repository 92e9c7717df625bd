"""The project's one reader of rosbag2 recordings (sqlite3 or MCAP), built on ``rosbags``.

Used by ``play-bag``, ``scale-bag``, the demo, extraction (``pose-train``), the bag summary
(:func:`offline_training.synthetic.inspect_bag.summarize_bag`), benchmarks and tests.

Accepted paths, everywhere: a rosbag2 folder with ``metadata.yaml`` (zstd file- or
message-compressed is fine), a folder without ``metadata.yaml`` holding ``.mcap`` / ``.db3``
files (read together), or a single ``.mcap`` / ``.db3`` file. :class:`BagReader` gives the
topics and time span, and the messages of chosen topics within a time range, in log-time order:
as the CDR bytes stored in the bag (what a ROS 2 publisher sends) or deserialised into
``rosbags`` dataclasses (the bag's own message definitions, then the given typestore).

Every way a bag can be unusable raises :class:`BagError` (:mod:`.bag_errors`) saying what to do.
Damage -- when opening, while reading, or messages missing against the bag's index -- is a
:class:`CorruptBagError`. With ``salvage=True`` a file that ``rosbags`` cannot open is read up to
the damage instead (:mod:`.bag_salvage`); the error then comes after the readable messages.

``rosbags`` is a data/training dependency (the ``[data]`` extra): it is imported only when a
bag is opened, so importing this module (and the node's runtime) never needs it.
"""

from __future__ import annotations

import heapq
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ros_pose_estimation.tools.bag_errors import (
    BAG_FILES,
    BagError,
    CorruptBagError,
    RosbagsMissingError,
    bag_files,
)
from ros_pose_estimation.tools.bag_salvage import (
    ZSTD_MAGIC,
    SalvagedBag,
    bag_metadata,
    decompressor,
)

__all__ = ["BAG_FILES", "BagError", "BagReader", "BagTopic", "CorruptBagError"]
__all__ += ["RosbagsMissingError", "bag_files", "messages_by_stamp"]


@dataclass(frozen=True)
class BagTopic:
    """One topic of a bag. ``msgtypes`` has one entry unless connections disagree."""

    name: str
    msgtypes: tuple[str, ...]
    count: int  # messages the bag's index lists (salvaged: readable before the damage)
    type_hash: str  # 'RIHS01_<hex>' as recorded; '' when the bag predates type hashes
    transient_local: bool  # recorded offered QoS was TRANSIENT_LOCAL
    msgdef: str = ""  # message definition text recorded in the bag ('' when none)


def _rosbag2():
    try:
        from rosbags import rosbag2
    except ImportError as exc:
        raise RosbagsMissingError(
            f"reading bags needs the 'rosbags' package ({exc}): pip install rosbags "
            "(or pip install 'ros_pose_estimation[data]')"
        ) from exc
    return rosbag2


def _storage_id(files: list[Path]) -> str:
    return "mcap" if any(".mcap" in f.suffixes for f in files) else "sqlite3"


def _sniff_compression(readers: list):
    """zstd ``decompress`` when the first message is a zstd frame (a storage file of a
    ``compression_mode: message`` bag, read without its metadata.yaml), else None."""
    for reader in readers:
        for _, _, raw in reader.messages():
            return decompressor("zstd") if bytes(raw[:4]) == ZSTD_MAGIC else None
    return None


class BagReader:
    """An open bag: topics, time span, and its messages (use as a context manager, or
    :meth:`close`).

    Args:
        path: see the module docstring for the accepted forms.
        typestore: ``rosbags`` typestore for types the bag holds no definitions of, when
            deserialising (default: rosbags' newest ROS 2 store; extraction passes
            :func:`offline_training.ros_types.typestore`, which adds vision_msgs).
        salvage: read a damaged single file up to the damage instead of raising at open.

    Attributes:
        path, files: the bag and its storage files. storage: e.g. ``'mcap, message
            compression'``, ``'sqlite3 (salvaged)'``. topics: name -> :class:`BagTopic`.
        start_ns, end_ns: first and last message's log time (ns; 0 when empty).
        message_count: messages in the bag (salvaged: readable ones).
        salvaged: the bag is read by the salvage reader. damage: its :class:`CorruptBagError`
            (``None`` unless salvaged and damaged).

    Raises:
        BagError: unusable path (see :func:`bag_files`); CorruptBagError: damaged (without
        ``salvage``, or damage that cannot be salvaged). RosbagsMissingError.
    """

    def __init__(self, path: str | Path, *, typestore: Any = None, salvage: bool = False):
        self.path = Path(path)
        self.files = bag_files(self.path)
        rosbag2 = _rosbag2()
        self._default_store, self._store = typestore, None
        self._readers: list = []
        self._salvaged = None
        self.damage: CorruptBagError | None = None
        has_meta = (self.path / "metadata.yaml").is_file()
        self._unzip = None  # zstd decompression of messages, when rosbags does not know of it
        try:
            for target in [self.path] if has_meta or self.path.is_file() else self.files:
                reader = rosbag2.Reader(target)
                reader.open()
                self._readers.append(reader)
            if not has_meta:  # message compression is only written in metadata.yaml
                self._unzip = _sniff_compression(self._readers)
        except Exception as exc:  # rosbags' ReaderError, EOFError, zstd errors, OSError...
            self.close()
            reason = f"cannot open it: {type(exc).__name__}: {exc}"
            if not salvage:
                raise self._corrupt(reason) from exc
            self._open_salvaged(reason)
            return
        except BaseException:  # Ctrl-C while a file-compressed bag is unpacked
            self.close()
            raise
        mode = self._readers[0].compression_mode or ("message" if self._unzip else None)
        self.storage = _storage_id(self.files) + (f", {mode} compression" if mode else "")
        conns = [c for r in self._readers for c in r.connections]
        self.topics: dict[str, BagTopic] = {}
        for name in sorted({c.topic for c in conns}):
            mine = [c for c in conns if c.topic == name]
            qos = [q for c in mine for q in getattr(c.ext, "offered_qos_profiles", ())]
            self.topics[name] = BagTopic(
                name=name,
                msgtypes=tuple(sorted({c.msgtype for c in mine})),
                count=sum(c.msgcount for c in mine),
                type_hash=next((c.digest for c in mine if c.digest.startswith("RIHS")), ""),
                transient_local=any(q.durability.name == "TRANSIENT_LOCAL" for q in qos),
                msgdef=next((c.msgdef.data for c in mine if c.msgdef.data), ""),
            )
        counted = [r for r in self._readers if r.message_count]
        self.message_count: int = sum(r.message_count for r in counted)
        self.start_ns: int = min((r.start_time for r in counted), default=0)
        self.end_ns: int = max((r.end_time - 1 for r in counted), default=0)  # last message

    def _open_salvaged(self, reason: str) -> None:
        meta = bag_metadata(self.path)
        mode = str(meta.get("compression_mode", "") or "").lower()
        fmt = str(meta.get("compression_format", "") or "") if mode == "message" else ""
        if len(self.files) != 1 or self.files[0].suffix not in BAG_FILES or mode == "file":
            only = "only one .db3 or .mcap file, not file-compressed, can be salvaged"
            raise self._corrupt(f"{reason}; {only}")
        bag = self._salvaged = SalvagedBag(self.files[0], fmt, meta.get("message_count"))
        self.damage = bag.damage
        mode = ", message compression" if bag.compression else ""
        self.storage = f"{_storage_id(self.files)}{mode} (salvaged)"
        self.topics = {
            name: BagTopic(name, (c.msgtype,), bag.counts[name], "", False, c.msgdef)
            for name, c in sorted(bag.topics.items())
        }
        self.message_count = sum(bag.counts.values())
        self.start_ns, self.end_ns = bag.start_ns, bag.end_ns

    @property
    def salvaged(self) -> bool:
        return self._salvaged is not None

    @property
    def connections(self) -> dict[str, str]:
        """Topic -> message type (``pkg/msg/Name``; the first when connections disagree)."""
        return {name: t.msgtypes[0] for name, t in self.topics.items() if t.msgtypes}

    @property
    def duration_s(self) -> float:
        """Seconds from the first to the last message."""
        return (self.end_ns - self.start_ns) / 1e9

    def _corrupt(self, reason: str) -> CorruptBagError:
        """Damage of the bag's one storage file, or of the whole bag when it has several."""
        return CorruptBagError(self.files[0] if len(self.files) == 1 else self.path, reason)

    # ------------------------------------------------------------------ messages

    def messages(
        self,
        topics: Iterable[str] | None = None,
        start_ns: int | None = None,
        end_ns: int | None = None,
        *,
        deserialize: bool = False,
    ) -> Iterator[tuple[str, int, Any]]:
        """``(topic, log_time_ns, message)`` with ``start_ns <= log_time_ns <= end_ns``, in
        log-time order; ``message`` is the CDR ``bytes`` or, with ``deserialize``, a
        ``rosbags`` dataclass. ``topics`` None reads every topic; names not in the bag are
        ignored.

        Raises:
            BagError: with ``deserialize``, a chosen topic's type is defined nowhere.
            CorruptBagError: reading failed (after the messages before it), a message does not
                deserialise, or a read of the whole bag found fewer messages on a topic than
                its index lists; for a salvaged bag always at the end (:attr:`damage`).
        """
        wanted = set(self.topics) if topics is None else set(topics) & set(self.topics)
        if deserialize:
            from rosbags.serde import SerdeError

            store = self.typestore
            for name in sorted(wanted):
                if self.connections[name] not in store.fielddefs:
                    raise BagError(self._undefined(name))
            damage = (SerdeError, struct.error, IndexError, ValueError, UnicodeDecodeError)
        if self._salvaged is not None:
            stream = (
                (c.topic, c.msgtype, ns, raw)
                for c, ns, raw in self._salvaged.messages(wanted, start_ns, end_ns)
            )
        else:
            stream = self._read(wanted, start_ns, end_ns)
        for topic, msgtype, ns, raw in stream:
            if not deserialize:
                yield topic, ns, raw
                continue
            try:
                msg = store.deserialize_cdr(raw, msgtype)
            except damage as exc:
                why = f"{type(exc).__name__}: {exc}"
                raise self._corrupt(f"a {msgtype} message on {topic} at {ns} ns does not "
                                    f"deserialise ({why})") from None  # fmt: skip
            yield topic, ns, msg

    def _read(self, wanted: set[str], start_ns: int | None, end_ns: int | None):
        stop = None if end_ns is None else end_ns + 1  # rosbags' stop is exclusive
        streams = []
        for reader in self._readers:
            conns = [c for c in reader.connections if c.topic in wanted]
            if conns:  # rosbags reads every connection when given none
                streams.append(reader.messages(conns, start=start_ns, stop=stop))
        if not streams:
            return
        merged = streams[0] if len(streams) == 1 else heapq.merge(*streams, key=lambda m: m[1])
        counts = dict.fromkeys(wanted, 0)
        while True:
            try:
                conn, ns, raw = next(merged)
            except StopIteration:
                break
            except Exception as exc:  # only the bag reader runs inside this try
                why = f"{type(exc).__name__}: {exc}"
                read = sum(counts.values())
                raise self._corrupt(f"reading stopped after {read} messages: {why}") from exc
            counts[conn.topic] += 1
            raw = bytes(raw)
            if self._unzip is not None and raw[:4] == ZSTD_MAGIC:
                raw = self._unzip(raw)
            yield conn.topic, conn.msgtype, ns, raw
        whole = (start_ns is None or start_ns <= self.start_ns) and (
            end_ns is None or end_ns >= self.end_ns
        )
        listed = {t: self.topics[t].count for t in counts}
        short = [f"{t}: {n} of {listed[t]}" for t, n in sorted(counts.items()) if n < listed[t]]
        if whole and short:  # rosbags stops quietly at some kinds of damage
            raise self._corrupt(f"messages missing ({', '.join(short)})")

    # ------------------------------------------------------------------ types

    @property
    def typestore(self):
        """The ``rosbags`` typestore that deserialises this bag's messages (built on first use:
        the bag's own message definitions over the constructor's ``typestore``)."""
        if self._store is None:
            from ros_pose_estimation.tools.bag_types import bag_typestore

            if self._salvaged is not None:
                conns = self._salvaged.topics.values()
                defs = [(c.msgtype, c.msgdef_format, c.msgdef) for c in conns]
            else:
                conns = [c for r in self._readers for c in r.connections]
                defs = [(c.msgtype, c.msgdef.format.name, c.msgdef.data) for c in conns]
            self._store = bag_typestore(self.path, defs, self._default_store)
        return self._store

    def can_deserialize(self, msgtype: str) -> bool:
        """Whether messages of ``msgtype`` can be deserialised (the bag or typestore define it)."""
        return msgtype in self.typestore.fielddefs

    def _undefined(self, topic: str) -> str:
        return (
            f"{self.path}: topic {topic} has type {self.connections[topic]}, which neither the "
            "bag's message definitions nor the typestore define; read it raw or pass a "
            "typestore that has it"
        )

    # ------------------------------------------------------------------ lifetime

    def close(self) -> None:
        for reader in self._readers:
            if reader.is_open:
                reader.close()

    def __enter__(self) -> BagReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def messages_by_stamp(path: str | Path, types: dict[str, tuple[str, type]]) -> dict[int, dict]:
    """Read ``types`` (bag topic -> (key, rclpy message class)) of a bag and group the
    deserialised messages by header stamp: ``{stamp_ns: {key: msg}}`` (needs rclpy; for
    tests, benchmarks and tools that feed recorded frames to the node)."""
    from rclpy.serialization import deserialize_message

    by_stamp: dict[int, dict] = {}
    with BagReader(path) as bag:
        for topic, _, raw in bag.messages(list(types)):
            key, cls = types[topic]
            msg = deserialize_message(raw, cls)
            stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
            by_stamp.setdefault(stamp, {})[key] = msg
    return by_stamp
