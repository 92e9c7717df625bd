"""One recording as a stream of deserialised messages: rosbag2 (sqlite3 or mcap).

ROS 1 bags are refused with the conversion command to run (``rosbags-convert``): their
messages have another layout (``CameraInfo.K``, ``Header.seq``) than the conversions expect.

:class:`BagSource` wraps ``rosbags``' ``AnyReader`` (message definitions from the bag, the
project's typestore, with vision_msgs, for bags without them). Damage surfaces as
:class:`~.errors.CorruptBagError` naming the file: at open, a rosbag2 file ``rosbags`` rejects
is read by the salvage readers (:mod:`.salvage`) up to the damage; while reading, a reader or
deserialisation failure ends the stream with the same error, after the messages before it.
"""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Iterable, Iterator
from pathlib import Path

from offline_training.bags.errors import BagError, CorruptBagError
from offline_training.bags.salvage import RawConnection, salvage_mcap, salvage_sqlite3
from offline_training.ros_types import typestore

_NS = 1_000_000_000


def _metadata(bag: Path) -> dict:
    meta = bag / "metadata.yaml"
    if not meta.is_file():
        return {}
    import yaml

    try:
        info = yaml.safe_load(meta.read_text()) or {}
    except yaml.YAMLError as exc:
        raise CorruptBagError(meta, f"metadata.yaml is not valid YAML: {exc}") from None
    return info.get("rosbag2_bagfile_information", {})


def storage_files(bag: Path) -> list[Path]:
    """The files holding a rosbag2 recording's data (``.db3``, ``.mcap``, ``.zstd``)."""
    if bag.is_file():
        return [bag]
    files = [p for p in sorted(bag.iterdir()) if p.suffix in (".db3", ".mcap", ".zstd")]
    if not files:
        raise BagError(f"{bag}: no .db3 or .mcap file inside; expected a rosbag2 folder")
    return files


def header_stamp(msg) -> int:
    """``header.stamp`` of a message in integer nanoseconds."""
    stamp = msg.header.stamp
    return int(stamp.sec) * _NS + int(stamp.nanosec)


class BagSource:
    """A recording opened for reading (use as a context manager).

    Attributes:
        path: the bag folder (rosbag2).
        connections: topic -> message type (``pkg/msg/Name``).
        storage: e.g. ``"rosbag2 mcap"``, ``"rosbag2 sqlite3 (salvaged)"``.
        salvaged: the bag could only be read by the salvage reader (it is damaged).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise BagError(f"{self.path} does not exist; expected a rosbag2 folder")
        if self.path.is_file() and self.path.suffix == ".bag":
            # ROS 1 messages differ in layout (CameraInfo.K, Header.seq): convert them first
            raise BagError(
                f"{self.path} is a ROS 1 bag, which extraction does not read directly; convert "
                f"it to rosbag2 with: rosbags-convert --src {self.path} --dst <new folder>"
            )
        if not self.path.is_dir():
            raise BagError(
                f"{self.path} is a file; expected a rosbag2 folder (metadata.yaml + .db3 or .mcap)"
            )
        self.connections: dict[str, str] = {}
        self.storage = ""
        self.salvaged = False
        self._reader = None
        self._salvage_error: CorruptBagError | None = None
        self._raw: dict[int, RawConnection] = {}

    def __enter__(self) -> BagSource:
        from rosbags.highlevel import AnyReader, AnyReaderError

        meta = _metadata(self.path) if self.path.is_dir() else {}
        files = storage_files(self.path)
        reader = AnyReader([self.path], default_typestore=typestore())
        try:
            reader.open()
        except AnyReaderError as exc:
            self._open_salvage(files, meta, str(exc))
            return self
        self._reader = reader
        topics: dict[str, str] = {}
        for conn in reader.connections:
            topics.setdefault(conn.topic, conn.msgtype)
        self.connections = topics
        kind = meta.get("storage_identifier", "") if reader.is2 else ""
        self.storage = f"rosbag2 {kind}".strip() if reader.is2 else "rosbag1"
        return self

    def _open_salvage(self, files: list[Path], meta: dict, reason: str) -> None:
        mode = str(meta.get("compression_mode", "") or "").lower()
        fmt = str(meta.get("compression_format", "") or "") if mode == "message" else ""
        if len(files) != 1 or files[0].suffix not in (".db3", ".mcap") or mode == "file":
            raise CorruptBagError(
                files[0] if len(files) == 1 else self.path,
                f"{reason}; only a single uncompressed-file .db3 or .mcap can be salvaged",
            )
        self._file, self._fmt = files[0], fmt
        if self._file.suffix == ".mcap":
            # channels are only known while streaming: scan once for them
            scan: dict[int, RawConnection] = {}
            try:
                for _ in salvage_mcap(self._file, scan, fmt):
                    pass
            except CorruptBagError as exc:
                self._salvage_error = exc
            self.connections = {c.topic: c.msgtype for c in scan.values()}
        else:
            found: dict[str, str] = {}
            try:
                for conn, _, _ in salvage_sqlite3(self._file, fmt):
                    found.setdefault(conn.topic, conn.msgtype)
            except CorruptBagError as exc:
                self._salvage_error = exc
            self.connections = found
        self.salvaged = True
        self.storage = f"rosbag2 {self._file.suffix[1:].replace('db3', 'sqlite3')} (salvaged)"

    def __exit__(self, *exc) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    @property
    def damage(self) -> CorruptBagError | None:
        """For a salvaged bag, the error where reading stops (known after opening)."""
        return self._salvage_error

    def can_deserialize(self, msgtype: str) -> bool:
        if self._reader is not None:
            return msgtype in self._reader.typestore.fielddefs or (
                msgtype in typestore().fielddefs
            )
        return msgtype in typestore().fielddefs

    def _damaged_file(self) -> Path:
        files = storage_files(self.path)
        return files[0] if len(files) == 1 else self.path

    def messages(self, topics: Iterable[str]) -> Iterator[tuple[str, int, object]]:
        """Yield ``(topic, bag_time_ns, message)`` of ``topics`` in bag order.

        Raises:
            CorruptBagError: at the first damaged record (after yielding those before it).
        """
        from rosbags.highlevel import AnyReaderError
        from rosbags.rosbag1 import ReaderError as Reader1Error
        from rosbags.rosbag2 import ReaderError as Reader2Error

        damage = (
            AnyReaderError,
            Reader1Error,
            Reader2Error,
            sqlite3.DatabaseError,
            EOFError,
            struct.error,
        )
        wanted = set(topics)
        if self.salvaged:
            yield from self._salvaged_messages(wanted)
            return
        reader = self._reader
        conns = [c for c in reader.connections if c.topic in wanted]
        stream = reader.messages(connections=conns)
        count = 0
        while True:
            try:
                item = next(stream)
            except StopIteration:
                return
            except damage as exc:
                raise CorruptBagError(
                    self._damaged_file(), f"{exc} after {count} messages"
                ) from None
            conn, bag_ns, raw = item
            yield conn.topic, int(bag_ns), self._deserialize(reader.deserialize, raw, conn)
            count += 1

    def _deserialize(self, fn, raw, conn):
        try:
            return fn(raw, conn.msgtype)
        except (struct.error, IndexError, ValueError, UnicodeDecodeError) as exc:
            raise CorruptBagError(
                self._damaged_file(),
                f"a {conn.msgtype} message on {conn.topic} cannot be "
                f"deserialised ({type(exc).__name__}: {exc})",
            ) from None

    def _salvaged_messages(self, wanted: set[str]) -> Iterator[tuple[str, int, object]]:
        store = typestore()
        if self._file.suffix == ".mcap":
            stream = salvage_mcap(self._file, {}, self._fmt)
        else:
            stream = salvage_sqlite3(self._file, self._fmt)
        for conn, bag_ns, raw in stream:
            if conn.topic in wanted:
                yield conn.topic, bag_ns, self._deserialize(store.deserialize_cdr, raw, conn)
