"""The errors of reading rosbag2 recordings, and the path checks that raise them.

Hierarchy (under the project's ``PoseEstimationError``, :mod:`ros_pose_estimation.core.errors`)::

    InputError
    +-- BagError                  the bag cannot be used as asked: missing, not a rosbag2
        |                         recording, a ROS 1 bag, missing or ambiguous topics, message
        |                         types nobody defines, no depth for rgbd...
        +-- CorruptBagError       a bag file is truncated or damaged; carries ``path`` (the
                                  file), ``reason`` (where reading stopped, what was read) and
                                  ``report`` (what a caller kept of the readable part)
    RosbagsMissingError(ImportError)  the ``rosbags`` package is not installed

Every message names the bag (or file) and says what was expected or what to change.
:func:`bag_files` checks a path and lists its storage files. This module imports nothing outside
the standard library and the core, so catching these errors costs no ``rosbags`` import.
"""

from __future__ import annotations

from pathlib import Path

from ros_pose_estimation.core.errors import InputError, PoseEstimationError

__all__ = ["BAG_FILES", "BagError", "CorruptBagError", "RosbagsMissingError", "bag_files"]

#: Suffixes of the storage files ``rosbags`` reads.
BAG_FILES = (".mcap", ".db3")
_ACCEPTED = "pass a rosbag2 folder or a .mcap / .db3 file"

#: Appended to a damage report that nobody kept anything of.
ADVICE = (
    "was the recorder stopped cleanly? Re-record or re-copy it; `ros2 bag reindex` can rebuild "
    "a lost index, and extraction (pose-train) reads what is left of a cut-off file"
)


class BagError(InputError):
    """A bag is missing, not a rosbag2 recording, or cannot be used as asked."""


class CorruptBagError(BagError):
    """A bag file is truncated or damaged.

    Attributes:
        path: the damaged file (a storage file inside the bag folder, or the folder).
        reason: what broke and where (byte offset, row, message count), and how much was read.
        report: what the caller made of the messages before the damage (extraction attaches
            its ``ExtractionReport``); ``None`` when the error comes straight from the reader.
        kept: what of the readable part was kept, in words (replaces the generic advice).
    """

    def __init__(
        self, path: str | Path, reason: str, report: object | None = None, kept: str = ""
    ) -> None:
        self.path = Path(path)
        self.reason = reason
        self.report = report
        self.kept = kept
        super().__init__(self._text())

    def _text(self) -> str:
        text = f"{self.path}: damaged or truncated bag file ({self.reason})"
        return f"{text}; {self.kept or ADVICE}"

    def with_report(self, report: object, kept: str) -> CorruptBagError:
        """The same damage with ``report`` attached and ``kept`` saying what was kept."""
        return CorruptBagError(self.path, self.reason, report, kept)


class RosbagsMissingError(PoseEstimationError, ImportError):
    """The ``rosbags`` package that reads bags is not installed."""


def bag_files(path: str | Path) -> list[Path]:
    """The storage files (``.mcap``, ``.db3``, ``.zstd``) of the bag at ``path``, sorted.

    Raises:
        BagError: ``path`` is missing, a ROS 1 bag, not a bag, or a folder without bag files.
    """
    path = Path(path)
    if not path.exists():
        raise BagError(f"{path}: no such file or folder; {_ACCEPTED}")
    if path.is_file():
        if path.suffix == ".bag":
            raise BagError(
                f"{path}: a ROS 1 bag; convert it to rosbag2 first, e.g. "
                f"rosbags-convert --src {path} --dst {path.with_suffix('')}"
            )
        if path.suffix == ".zstd":
            raise BagError(
                f"{path}: a file-compressed bag file; pass its folder (with metadata.yaml) or "
                f"decompress it first: zstd -d {path}"
            )
        if path.suffix not in BAG_FILES:
            kind = path.suffix or "suffix-less"
            raise BagError(f"{path}: not a bag (got a {kind} file); {_ACCEPTED}")
        return [path]
    has_meta = (path / "metadata.yaml").is_file()
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in (*BAG_FILES, ".zstd"))
    if not files:
        if has_meta:
            why = "metadata.yaml but no .db3 / .mcap file: the recording's data is missing"
            raise BagError(f"{path}: {why}; copy the whole bag folder")
        inner = sorted(p.name for p in path.iterdir() if (p / "metadata.yaml").is_file())
        hint = f"; it holds the bag folder(s) {', '.join(inner)}: pass one" if inner else ""
        why = "not a rosbag2 folder (no metadata.yaml, no .mcap / .db3 file inside)"
        raise BagError(f"{path}: {why}{hint}")
    if not has_meta and any(p.suffix == ".zstd" for p in files):
        why = "file-compressed (.zstd) bag files but no metadata.yaml"
        raise BagError(f"{path}: {why}; restore metadata.yaml, or decompress them (zstd -d)")
    return files
