"""Read what is left of a damaged rosbag2 file that ``rosbags`` refuses to open.

A recording cut short (robot powered off, disk full) has no MCAP summary/footer, or an SQLite
file whose header counts pages that are not there. ``rosbags`` rejects both at open;
:class:`~.bag_reader.BagReader` with ``salvage=True`` then falls back to :class:`SalvagedBag`,
which streams the messages stored before the damage and then raises
:class:`~.bag_errors.CorruptBagError` naming the file, where reading stopped and how many
messages could be read (of how many ``metadata.yaml`` lists, when it is there):

* MCAP: records are parsed one by one (schemas, channels, messages, zstd/lz4 chunks) until a
  record runs past the end of the file or cannot be decoded.
* SQLite3: a temporary copy, cut to whole pages, gets its page count fixed in the header; the
  ``messages`` table is then read in row order until SQLite reports the damaged page.

Message-compressed bags (``compression_mode: message``, or a file whose first message is a
zstd frame) are decompressed per message.
Whole-file compressed bags (``.mcap.zstd``) cannot be salvaged this way: decompress first.
Only the standard library is needed (plus zstd / lz4 for compressed data, imported lazily).
"""

from __future__ import annotations

import shutil
import sqlite3
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ros_pose_estimation.tools.bag_errors import CorruptBagError

MCAP_MAGIC = b"\x89MCAP0\r\n"
#: First bytes of a zstd frame: a message of a message-compressed bag (CDR starts 00 0x).
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


@dataclass(frozen=True)
class RawConnection:
    """A topic as a damaged file records it."""

    topic: str
    msgtype: str
    msgdef: str  # message definition text ('' when the file has none)
    msgdef_format: str = "ros2msg"  # 'ros2msg' or 'ros2idl' ('' when there is no definition)


def decompressor(kind: str):
    """``bytes -> bytes`` undoing ``kind`` (``''`` / ``'none'``, ``'zstd'``, ``'lz4'``)."""
    if kind in ("", "none"):
        return bytes
    if kind == "zstd":
        try:
            from compression import zstd  # Python >= 3.14
        except ImportError:
            from backports import zstd  # what rosbags depends on before 3.14
        return lambda data: zstd.decompress(bytes(data))
    if kind == "lz4":
        from lz4.frame import decompress

        return lambda data: decompress(bytes(data))
    raise ValueError(f"unsupported compression {kind!r}")


class _Cursor:
    """Little-endian reads from a bytes buffer that raise EOFError past its end."""

    def __init__(self, data: bytes | memoryview, offset: int = 0) -> None:
        self.data, self.pos = memoryview(data), offset

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise EOFError(
                f"record needs {n} bytes at offset {self.pos}, the data has {len(self.data)}"
            )
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u16(self) -> int:
        return struct.unpack("<H", self.take(2))[0]

    def u32(self) -> int:
        return struct.unpack("<I", self.take(4))[0]

    def u64(self) -> int:
        return struct.unpack("<Q", self.take(8))[0]

    def string(self) -> str:
        return bytes(self.take(self.u32())).decode()

    def at_end(self) -> bool:
        return self.pos >= len(self.data)


def _stream_decompress(kind: str, payload: memoryview) -> bytes:
    """Decompress as much of a truncated chunk as its bytes allow."""
    if kind in ("", "none"):
        return bytes(payload)
    if kind == "zstd":
        try:
            from compression import zstd
        except ImportError:
            from backports import zstd
        return zstd.ZstdDecompressor().decompress(bytes(payload))
    if kind == "lz4":
        from lz4.frame import LZ4FrameDecompressor

        return LZ4FrameDecompressor().decompress(bytes(payload))
    raise ValueError(f"unsupported compression {kind!r}")


def salvage_mcap(
    path: Path, connections: dict[int, RawConnection], message_compression: str = ""
) -> Iterator[tuple[RawConnection, int, bytes]]:
    """Yield ``(connection, log_time_ns, cdr_bytes)`` of an MCAP file until it breaks.

    ``connections`` is filled (channel id -> connection) as channel records are read. A chunk
    cut by the end of the file is decompressed as far as its bytes go.

    Raises:
        CorruptBagError: after the last readable message (always, for a damaged file; a file
            that turns out complete ends normally).
    """
    data = path.read_bytes()
    if data[:8] != MCAP_MAGIC:
        raise CorruptBagError(path, "not an MCAP file (bad magic)")
    schemas: dict[int, tuple[str, str, str]] = {}  # id -> (name, encoding, definition)
    unpack = decompressor(message_compression)
    top = _Cursor(data, 8)
    stack = [top]
    cut = ""  # why the file ends early, once a truncated chunk was opened
    try:
        while stack:
            cur = stack[-1]
            if cur.at_end():
                stack.pop()
                if not stack or cut:
                    raise EOFError(cut or "the file ends without an MCAP footer")
                continue
            op = cur.take(1)[0]
            length = cur.u64()
            if op == 0x06 and cur is top and cur.pos + length > len(cur.data):
                left = len(cur.data) - cur.pos
                cut = f"the chunk at byte {cur.pos - 9} is cut after {left} of {length} bytes"
                rec = _Cursor(cur.take(len(cur.data) - cur.pos))
            else:
                rec = _Cursor(cur.take(length))
            if op == 0x02:  # footer: the file is complete
                return
            if op == 0x03:
                sid = rec.u16()
                name, encoding = rec.string(), rec.string()
                schemas[sid] = (name, encoding, bytes(rec.take(rec.u32())).decode())
            elif op == 0x04:
                cid, sid = rec.u16(), rec.u16()
                topic = rec.string()
                name, encoding, text = schemas.get(sid, ("", "", ""))
                connections[cid] = RawConnection(topic, name, text, encoding if text else "")
            elif op == 0x05:
                cid, _seq, log_time, _pub = rec.u16(), rec.u32(), rec.u64(), rec.u64()
                if cid in connections:
                    yield connections[cid], log_time, unpack(rec.take(len(rec.data) - rec.pos))
            elif op == 0x06:
                rec.u64(), rec.u64(), rec.u64(), rec.u32()  # times, size, crc
                kind = rec.string()
                size = rec.u64()
                if cut:
                    payload = rec.data[rec.pos :]
                    stack.append(_Cursor(_stream_decompress(kind, payload)))
                else:
                    stack.append(_Cursor(decompressor(kind)(rec.take(size))))
    except (EOFError, ValueError, UnicodeDecodeError, struct.error) as exc:
        raise CorruptBagError(path, f"MCAP records end at byte {top.pos}: {exc}") from None


def salvage_sqlite3(
    path: Path, message_compression: str = ""
) -> Iterator[tuple[RawConnection, int, bytes]]:
    """Yield ``(connection, bag_time_ns, cdr_bytes)`` of a rosbag2 SQLite file until it breaks.

    Raises:
        CorruptBagError: after the last readable row of a damaged file.
    """
    unpack = decompressor(message_compression)
    with tempfile.TemporaryDirectory(prefix="salvage_") as tmp:
        copy = Path(tmp) / path.name
        shutil.copyfile(path, copy)
        with open(copy, "r+b") as f:
            header = f.read(100)
            if len(header) < 100 or not header.startswith(b"SQLite format 3\x00"):
                raise CorruptBagError(path, "not an SQLite database (bad header)")
            page = struct.unpack(">H", header[16:18])[0]
            page = 65536 if page == 1 else page
            pages = copy.stat().st_size // page
            f.truncate(pages * page)
            f.seek(28)
            f.write(struct.pack(">I", pages))
        rows = 0
        try:
            db = sqlite3.connect(f"file:{copy}?mode=ro", uri=True)
            try:
                defs = _sqlite_definitions(db)
                topics = {
                    tid: RawConnection(name, msgtype, *defs.get(msgtype, ("", "")))
                    for tid, name, msgtype in db.execute("SELECT id, name, type FROM topics")
                }
                for tid, stamp, blob in db.execute(
                    "SELECT topic_id, timestamp, data FROM messages"
                ):
                    rows += 1
                    if tid in topics:
                        yield topics[tid], int(stamp), unpack(blob)
            finally:
                db.close()
        except (sqlite3.DatabaseError, ValueError) as exc:
            raise CorruptBagError(path, f"SQLite rows end after row {rows}: {exc}") from None
        raise CorruptBagError(path, f"SQLite file needed repair; all {rows} rows were read")


def _sqlite_definitions(db: sqlite3.Connection) -> dict[str, tuple[str, str]]:
    """msgtype -> (definition, encoding) from a v8+ bag's ``message_definitions`` table."""
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if "message_definitions" not in tables:
        return {}
    rows = db.execute(
        "SELECT topic_type, encoding, encoded_message_definition FROM message_definitions"
    )
    return {t: (d, enc) for t, enc, d in rows if enc in ("ros2msg", "ros2idl") and d}


class SalvagedBag:
    """A damaged ``.mcap`` / ``.db3`` file, scanned once when opened for its topics and damage.

    Args:
        path: the file.
        message_compression: ``'zstd'`` for a ``compression_mode: message`` bag, else ``''``
            (found from the first message when the file comes without metadata.yaml).
        listed: messages the bag's ``metadata.yaml`` lists (``None`` without one), to say in
            :attr:`damage` how many were lost.

    Attributes:
        topics: topic -> its first :class:`RawConnection` (MCAP: every channel record read).
        counts: topic -> messages readable before the damage.
        start_ns, end_ns: first and last readable log time (ns; 0 when nothing is readable).
        damage: the :class:`CorruptBagError` where reading stops, saying how many messages
            were read; ``None`` when the file turned out complete.
        compression: ``'zstd'`` when messages are compressed one by one, else ``''``.
    """

    def __init__(self, path: Path, message_compression: str = "", listed: int | None = None):
        self.path, self._fmt = Path(path), message_compression
        channels: dict[int, RawConnection] = {}
        self.topics: dict[str, RawConnection] = {}
        self.counts: dict[str, int] = {}
        self.start_ns = self.end_ns = 0
        self.damage: CorruptBagError | None = None
        self._ordered, last, zipped = True, None, False
        try:
            for conn, ns, raw in self._stream(channels):
                zipped |= last is None and bytes(raw[:4]) == ZSTD_MAGIC
                self.topics.setdefault(conn.topic, conn)
                self.counts[conn.topic] = self.counts.get(conn.topic, 0) + 1
                self.start_ns = ns if last is None else min(self.start_ns, ns)
                self.end_ns = max(self.end_ns, ns)
                self._ordered &= last is None or ns >= last
                last = ns
        except CorruptBagError as exc:
            read = sum(self.counts.values())
            of = f" of the {listed} metadata.yaml lists" if listed else ""
            reason = f"{exc.reason}; {read} message(s) before the damage could be read{of}"
            self.damage = CorruptBagError(exc.path, reason)
        for conn in channels.values():
            self.topics.setdefault(conn.topic, conn)
            self.counts.setdefault(conn.topic, 0)
        self.compression = self._fmt = self._fmt or ("zstd" if zipped else "")

    def _stream(self, channels: dict[int, RawConnection] | None = None):
        if self.path.suffix == ".mcap":
            return salvage_mcap(self.path, {} if channels is None else channels, self._fmt)
        return salvage_sqlite3(self.path, self._fmt)

    def messages(
        self, topics: set[str] | None, start_ns: int | None = None, end_ns: int | None = None
    ) -> Iterator[tuple[RawConnection, int, bytes]]:
        """``(connection, log_time_ns, cdr_bytes)`` of ``topics`` (None: all) with
        ``start_ns <= t <= end_ns``, in log-time order (a file whose order differs has the
        selection sorted in memory).

        Raises:
            CorruptBagError: :attr:`damage`, after the last readable message.
        """
        held: list[tuple[RawConnection, int, bytes]] = []
        lo = -1 if start_ns is None else start_ns
        hi = 1 << 64 if end_ns is None else end_ns
        try:
            for conn, ns, raw in self._stream():
                if topics is not None and conn.topic not in topics:
                    continue
                if not lo <= ns <= hi:
                    continue
                if self._ordered:
                    yield conn, ns, raw
                else:
                    held.append((conn, ns, raw))
        except CorruptBagError as exc:
            stopped = self.damage or exc  # the scan's error says how much was read
        else:
            stopped = None
        yield from sorted(held, key=lambda item: item[1])
        if stopped is not None:
            raise stopped


def bag_metadata(path: Path) -> dict:
    """The ``rosbag2_bagfile_information`` of a bag folder's ``metadata.yaml`` ({} without one).

    Raises:
        CorruptBagError: ``metadata.yaml`` is not valid YAML.
    """
    meta = Path(path) / "metadata.yaml"
    if not meta.is_file():
        return {}
    import yaml

    try:
        info = yaml.safe_load(meta.read_text()) or {}
    except yaml.YAMLError as exc:
        raise CorruptBagError(meta, f"metadata.yaml is not valid YAML: {exc}") from None
    info = info.get("rosbag2_bagfile_information", {}) if isinstance(info, dict) else {}
    return info if isinstance(info, dict) else {}
