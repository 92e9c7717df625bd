"""The on-disk dataset of an extracted recording: content-hashed, written in atomic chunks.

Layout of one recording (``<cache root>/<bag name>-<key[:16]>/``)::

    manifest.json         format, version, key, bag identity, config, topics, status,
                          chunk list, report (JSON, rewritten atomically after every chunk)
    chunk_00000.npz ...   frames of ``chunk_frames`` consecutive synchronised sets
    tracks.json           track id of every object (per chunk) and the track summaries
    evaluation_only/      ground_truth.json copied from the bag folder when asked; NEVER
                          read by extraction or training, for evaluation only

The key is a BLAKE2b hash of the bag's content (every storage file and metadata.yaml, read
in full) and of the extraction config, so another bag, a re-recorded bag or another setting
gets another directory, and the same bag + config finds its finished extraction without
opening the bag. Every file is written to ``<name>.tmp`` and renamed into place; the manifest
lists a chunk only once its file is complete, so an interrupted run leaves a consistent
prefix that the next run resumes after (status ``incomplete``).

Chunk arrays (``F`` frames, ``M`` objects, ``Q`` masks; ``np.load(allow_pickle=False)``):
``frame_index [F]``, ``stamp_ns [F]``, ``rgb [F x H x W x 3] uint8``, ``depth [F x H x W]
float32`` (m, rgbd only), ``intrinsics [F x 6]`` (fx, fy, cx, cy, width, height),
``T_fixed_cam [F x 4 x 4]`` (NaN: unknown), ``obj_frame [M]``, ``obj_category [M] str``,
``obj_box [M x 4]``, ``obj_source [M] str``, ``obj_position_cam [M x 3]`` (NaN: no depth),
``obj_mask [M]`` (index into ``masks [Q x H x W] bool``, -1: none), ``obj_instance [M]``
(identity known at extraction, -1: none), and ``state__*`` arrays
(the first-box follower's state after the chunk's last frame).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from offline_training.bags.observations import ExtractedFrame, ObjectObservation
from offline_training.bags.report import ExtractionReport
from offline_training.bags.tracking import TrackSummary
from ros_pose_estimation.core.camera import Intrinsics
from ros_pose_estimation.tools.bag_reader import BagError, bag_files

FORMAT = "ros_pose_estimation/bag_extraction"
FORMAT_VERSION = 1
FINISHED = ("complete", "truncated")


class CacheError(BagError):
    """A cache directory is missing, of another format, or unfinished."""


def atomic_write(path: Path, write: Callable[[io.BufferedWriter], None]) -> int:
    """Write ``path`` through ``write(file)`` into ``<path>.tmp``, then rename; returns bytes."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path.stat().st_size


def write_json(path: Path, data: dict) -> None:
    atomic_write(path, lambda f: f.write(json.dumps(data, indent=1, sort_keys=True).encode()))


def bag_identity(bag: Path) -> dict:
    """Names, sizes and BLAKE2b digests of a bag's files, and one digest over all of them."""
    bag = Path(bag)
    files = bag_files(bag)
    if bag.is_dir() and (bag / "metadata.yaml").is_file():
        files = [bag / "metadata.yaml", *files]
    entries, total = [], hashlib.blake2b(digest_size=32)
    for path in files:
        h = hashlib.blake2b(digest_size=32)
        with open(path, "rb") as f:
            while block := f.read(1 << 22):
                h.update(block)
        entries.append({"name": path.name, "bytes": path.stat().st_size, "blake2b": h.hexdigest()})
        total.update(f"{path.name}:{h.hexdigest()};".encode())
    return {"path": str(bag.resolve()), "files": entries, "digest": total.hexdigest()}


def cache_key(identity: dict, config: dict) -> str:
    text = json.dumps(
        {"format": FORMAT, "version": FORMAT_VERSION, "bag": identity["digest"], "config": config},
        sort_keys=True,
    )
    return hashlib.blake2b(text.encode(), digest_size=32).hexdigest()


def recording_dir(cache_root: Path, bag: Path, key: str) -> Path:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(bag).resolve().name) or "bag"
    return Path(cache_root) / f"{name}-{key[:16]}"


def read_manifest(directory: Path) -> dict | None:
    """The manifest, or None when the directory has none (never written)."""
    path = Path(directory) / "manifest.json"
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise CacheError(f"{path} is not valid JSON ({exc}); delete {directory}") from None
    if manifest.get("format") != FORMAT or manifest.get("format_version", 99) > FORMAT_VERSION:
        raise CacheError(
            f"{path} is format {manifest.get('format')!r} version "
            f"{manifest.get('format_version')!r}; this code reads {FORMAT!r} <= {FORMAT_VERSION}"
        )
    return manifest


def valid_chunks(directory: Path, manifest: dict) -> list[dict]:
    """The manifest's chunks whose files exist with the recorded size (a consistent prefix)."""
    good = []
    for entry in manifest.get("chunks", []):
        path = Path(directory) / entry["file"]
        if not path.is_file() or path.stat().st_size != entry["bytes"]:
            break
        good.append(entry)
    return good


def _nan_or(value, shape) -> np.ndarray:
    return np.full(shape, np.nan) if value is None else np.asarray(value, dtype=np.float64)


def write_chunk(path: Path, frames: list[ExtractedFrame], state: dict[str, np.ndarray]) -> int:
    """Write ``frames`` (and the follower ``state``) as one chunk; returns its size in bytes."""
    objs = [(f.index, o) for f in frames for o in f.objects]
    masks = [o.mask for _, o in objs if o.mask is not None]
    mask_index, q = [], 0
    for _, o in objs:
        mask_index.append(q if o.mask is not None else -1)
        q += o.mask is not None
    shape = frames[0].rgb.shape[:2] if frames else (0, 0)
    arrays = {
        "frame_index": np.array([f.index for f in frames], dtype=np.int64),
        "stamp_ns": np.array([f.stamp_ns for f in frames], dtype=np.int64),
        "rgb": np.stack([f.rgb for f in frames]) if frames else np.zeros((0, 0, 0, 3), np.uint8),
        "intrinsics": np.array(
            [
                [*(f.intrinsics.to_dict()[k] for k in ("fx", "fy", "cx", "cy", "width", "height"))]
                for f in frames
            ],
            dtype=np.float64,
        ).reshape(-1, 6),
        "T_fixed_cam": np.array([_nan_or(f.T_fixed_cam, (4, 4)) for f in frames]).reshape(
            -1, 4, 4
        ),
        "obj_frame": np.array([i for i, _ in objs], dtype=np.int64),
        "obj_category": np.array([o.category for _, o in objs], dtype=str),
        "obj_box": np.array([o.box_xyxy for _, o in objs], dtype=np.float64).reshape(-1, 4),
        "obj_source": np.array([o.source for _, o in objs], dtype=str),
        "obj_position_cam": np.array([_nan_or(o.position_cam, 3) for _, o in objs]).reshape(-1, 3),
        "obj_mask": np.array(mask_index, dtype=np.int64),
        "obj_instance": np.array([o.instance for _, o in objs], dtype=np.int64),
        "masks": np.stack(masks) if masks else np.zeros((0, *shape), dtype=bool),
        **{f"state__{k}": v for k, v in state.items()},
    }
    if frames and frames[0].depth is not None:
        arrays["depth"] = np.stack([f.depth for f in frames]).astype(np.float32)
    return atomic_write(path, lambda f: _savez(f, arrays))


def _savez(file, arrays: dict[str, np.ndarray], level: int = 1) -> None:
    """``np.savez_compressed`` with a fast deflate level (level 1: several times faster on
    noisy images than numpy's default, ~10 % larger); ``np.load`` reads it as usual."""
    with zipfile.ZipFile(file, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
        for name, array in arrays.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)


def read_chunk_state(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k[len("state__") :]: data[k] for k in data.files if k.startswith("state__")}


def read_chunk(path: Path, images: bool = True) -> list[ExtractedFrame]:
    """Frames of one chunk (``images=False``: ``rgb``/``depth``/masks left as None)."""
    with np.load(path, allow_pickle=False) as data:
        rgb = data["rgb"] if images else None
        depth = data["depth"] if images and "depth" in data.files else None
        masks = data["masks"] if images else None
        frames = {}
        for j, index in enumerate(data["frame_index"].tolist()):
            pose = data["T_fixed_cam"][j]
            fx, fy, cx, cy, w, h = data["intrinsics"][j].tolist()
            frames[index] = ExtractedFrame(
                index=index,
                stamp_ns=int(data["stamp_ns"][j]),
                rgb=None if rgb is None else rgb[j],
                depth=None if depth is None else depth[j],
                intrinsics=Intrinsics(fx, fy, cx, cy, int(w), int(h)),
                T_fixed_cam=None if np.isnan(pose).any() else pose,
            )
        for k, index in enumerate(data["obj_frame"].tolist()):
            position = data["obj_position_cam"][k]
            m = int(data["obj_mask"][k])
            frames[index].objects.append(
                ObjectObservation(
                    category=str(data["obj_category"][k]),
                    box_xyxy=data["obj_box"][k],
                    source=str(data["obj_source"][k]),
                    mask=None if masks is None or m < 0 else masks[m],
                    position_cam=None if np.isnan(position).any() else position,
                    instance=int(data["obj_instance"][k]),
                )
            )
    return list(frames.values())


class ExtractedRecording:
    """Read access to one finished extraction (what training consumes).

    Args:
        directory: a recording directory of the cache (``report.cache_dir``).

    Raises:
        CacheError: no manifest, another format, or an unfinished extraction (run the
            extraction again: it resumes).
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        manifest = read_manifest(self.directory)
        if manifest is None:
            raise CacheError(f"{self.directory} holds no extraction (no manifest.json)")
        if manifest.get("status") not in FINISHED:
            raise CacheError(
                f"{self.directory}: extraction is {manifest.get('status')!r}; run the "
                "extraction again to resume it"
            )
        self.manifest = manifest
        self.report = ExtractionReport.from_dict(manifest["report"])
        tracks = json.loads((self.directory / "tracks.json").read_text())
        self._track_ids: dict[str, list[int]] = tracks["track_ids"]
        self.tracks = [TrackSummary(**t) for t in tracks["tracks"]]
        self._chunks = valid_chunks(self.directory, manifest)
        self._cached: tuple[str, list[ExtractedFrame]] | None = None

    @property
    def fixed_frame(self) -> str | None:
        return self.manifest.get("fixed_frame")

    @property
    def ground_truth_path(self) -> Path | None:
        """``evaluation_only/ground_truth.json`` if it was copied (evaluation only)."""
        path = self.directory / "evaluation_only" / "ground_truth.json"
        return path if path.is_file() else None

    def __len__(self) -> int:
        return sum(c["frames"] for c in self._chunks)

    def _load(self, entry: dict, images: bool) -> list[ExtractedFrame]:
        if images and self._cached is not None and self._cached[0] == entry["file"]:
            return self._cached[1]
        frames = read_chunk(self.directory / entry["file"], images=images)
        ids = iter(self._track_ids[entry["file"]])
        for frame in frames:
            for obj in frame.objects:
                obj.track_id = next(ids)
        if images:
            self._cached = (entry["file"], frames)
        return frames

    def frames(self, images: bool = True) -> Iterator[ExtractedFrame]:
        """Every frame in order (``images=False``: metadata, boxes and track ids only)."""
        for entry in self._chunks:
            yield from self._load(entry, images)

    def frame(self, position: int) -> ExtractedFrame:
        """The ``position``-th extracted frame (0 .. len - 1)."""
        if not 0 <= position < len(self):
            raise IndexError(f"frame {position} out of range 0..{len(self) - 1}")
        for entry in self._chunks:
            if position < entry["frames"]:
                return self._load(entry, True)[position]
            position -= entry["frames"]
        raise IndexError(position)


def list_recordings(cache_root: str | Path) -> list[ExtractedRecording]:
    """Every finished extraction under ``cache_root``, sorted by directory name."""
    out = []
    for manifest in sorted(Path(cache_root).glob("*/manifest.json")):
        data = read_manifest(manifest.parent)
        if data is not None and data.get("status") in FINISHED:
            out.append(ExtractedRecording(manifest.parent))
    return out
