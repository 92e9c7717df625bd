"""Read what is left of a truncated rosbag2 file that ``rosbags`` refuses to open.

A recording cut short (robot powered off, disk full) has no MCAP summary/footer, or an SQLite
file whose header counts pages that are not there. ``rosbags`` rejects both at open. These
readers stream the messages stored before the damage, in file order, and then raise
:class:`~.errors.CorruptBagError` naming the file and the byte offset or row where reading
stopped:

* MCAP: records are parsed one by one (schemas, channels, messages, zstd/lz4 chunks) until a
  record runs past the end of the file or cannot be decoded.
* SQLite3: a temporary copy, cut to whole pages, gets its page count fixed in the header; the
  ``messages`` table is then read in row order until SQLite reports the damaged page.

Message-compressed bags (``compression_mode: message``) are decompressed per message.
Whole-file compressed bags (``.mcap.zstd``) cannot be salvaged this way: decompress first.
"""

from __future__ import annotations

import shutil
import sqlite3
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from offline_training.bags.errors import CorruptBagError

MCAP_MAGIC = b"\x89MCAP0\r\n"


@dataclass(frozen=True)
class RawConnection:
    topic: str
    msgtype: str
    msgdef: str  # ros2msg definition text ('' when the file has none)


def _decompressor(kind: str):
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
    schemas: dict[int, tuple[str, str]] = {}
    unpack = _decompressor(message_compression)
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
                schemas[sid] = (rec.string(), bytes(rec.take(rec.u32())).decode())
            elif op == 0x04:
                cid, sid = rec.u16(), rec.u16()
                topic = rec.string()
                name, text = schemas.get(sid, ("", ""))
                connections[cid] = RawConnection(topic, name, text)
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
                    stack.append(_Cursor(_decompressor(kind)(rec.take(size))))
    except (EOFError, ValueError, UnicodeDecodeError, struct.error) as exc:
        raise CorruptBagError(path, f"MCAP records end at byte {top.pos}: {exc}") from None


def salvage_sqlite3(
    path: Path, message_compression: str = ""
) -> Iterator[tuple[RawConnection, int, bytes]]:
    """Yield ``(connection, bag_time_ns, cdr_bytes)`` of a rosbag2 SQLite file until it breaks.

    Raises:
        CorruptBagError: after the last readable row of a damaged file.
    """
    unpack = _decompressor(message_compression)
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
                    tid: RawConnection(name, msgtype, defs.get(msgtype, ""))
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


def _sqlite_definitions(db: sqlite3.Connection) -> dict[str, str]:
    """msgtype -> ros2msg definition from a v8+ bag's ``message_definitions`` table."""
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if "message_definitions" not in tables:
        return {}
    rows = db.execute(
        "SELECT topic_type, encoding, encoded_message_definition FROM message_definitions"
    )
    return {t: d for t, enc, d in rows if enc == "ros2msg"}
