"""Unlabeled robot recording -> cached per-frame, per-instance training data.

:func:`extract_bag` runs, for one bag:

1. **cache lookup**: the bag's content hash + the config give the cache directory
   (:mod:`.cache`); a finished extraction there (every chunk file present, of its recorded
   size) is returned without opening the bag; otherwise the valid prefix of chunks is kept.
2. **topics** (:mod:`.topics`) and the **object source**: recorded ``Detection2DArray``,
   boxes given for the first frame (:mod:`.box_tracking`) or depth segmentation
   (:mod:`.segment`).
3. **pass 1**: ``/tf``, ``/tf_static`` into a
   :class:`~ros_pose_estimation.core.tf_buffer.TFBuffer` and every ``CameraInfo`` (small
   messages; interpolation needs TF after each image too).
4. **pass 2**: colour image, depth and detections through
   :class:`~ros_pose_estimation.node.time_sync.ApproximateTimeSync` (header stamps); each
   synchronised set becomes an :class:`~.observations.ExtractedFrame` (RGB, depth in m, the
   intrinsics of the nearest ``CameraInfo``, the camera pose in the fixed frame at the image
   stamp, objects with their 3D position from depth) or is skipped with a reason. Frames are
   written in chunks of ``chunk_frames`` sets; a resumed run skips the sets of the chunks on
   disk.
5. **tracking** (:mod:`.tracking`) over all chunks, then the report (:mod:`.report`).

A damaged bag file stops pass 2 at the damage: what was read is tracked and kept (status
``truncated``) and :class:`~ros_pose_estimation.tools.bag_errors.CorruptBagError` is raised
with the report. Ground truth
in the bag (``/ground_truth/*`` topics, ``ground_truth.json``) is never read; with
``copy_ground_truth`` the json file is copied, unread, into ``evaluation_only/``.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

from offline_training.bags import cache
from offline_training.bags.box_tracking import BoxFollower
from offline_training.bags.config import ExtractionConfig
from offline_training.bags.frame_builder import FrameBuilder
from offline_training.bags.report import ExtractionReport
from offline_training.bags.topics import TopicSelection, select_topics
from offline_training.bags.tracking import InstanceTracker
from offline_training.ros_types import typestore
from ros_pose_estimation.conversions.poses import stamp_to_ns
from ros_pose_estimation.core.tf_buffer import TFBuffer
from ros_pose_estimation.node.time_sync import ApproximateTimeSync
from ros_pose_estimation.tools.bag_reader import BagError, BagReader, CorruptBagError


def _object_source(cfg: ExtractionConfig, topics: TopicSelection, bag: Path) -> str:
    mode = cfg.objects
    if mode == "auto":
        if topics.detections:
            return "detections"
        if cfg.initial_boxes:
            return "first_box"
        if topics.depth:
            return "depth"
        raise BagError(
            f"{bag}: no detections topic, no initial boxes and no depth (modality "
            f"{cfg.modality!r}): nothing to find objects with; give first-frame boxes or "
            "extract with modality 'rgbd' from a bag with depth"
        )
    if mode == "detections" and not topics.detections:
        raise BagError(
            f"{bag}: objects='detections' but the bag has no Detection2DArray topic; use "
            "objects 'depth' or 'first_box', or name the topic with detections=<topic>"
        )
    return mode


def _finished(manifest: dict, directory: Path, gt_source: Path | None) -> ExtractionReport:
    report = ExtractionReport.from_dict(manifest["report"])
    report.reused = True
    if gt_source is not None:
        _copy_ground_truth(gt_source, directory)
    if manifest["status"] == "truncated":
        raise CorruptBagError(manifest["damaged_file"], manifest["damage"], report, _kept(report))
    return report


def _kept(report: ExtractionReport) -> str:
    return (
        f"the {report.frames} frame(s) extracted before the damage are kept in "
        f"{report.cache_dir} (status 'truncated')"
    )


def _copy_ground_truth(bag: Path, directory: Path) -> None:
    source = bag / "ground_truth.json" if bag.is_dir() else None
    if source is not None and source.is_file():
        target = directory / "evaluation_only"
        target.mkdir(exist_ok=True)
        shutil.copyfile(source, target / "ground_truth.json")


def extract_bag(
    bag: str | Path,
    cache_root: str | Path,
    config: ExtractionConfig | None = None,
    copy_ground_truth: bool = False,
    on_chunk: Callable[[dict], None] | None = None,
) -> ExtractionReport:
    """Extract (or reuse, or resume) one recording; see the module docstring.

    Args:
        bag: rosbag2 folder, or a single .mcap / .db3 file (sqlite3 or mcap); a damaged file
            is read up to the damage (:class:`~ros_pose_estimation.tools.bag_reader.BagReader`
            with ``salvage``).
        cache_root: directory holding one sub-directory per extracted recording.
        copy_ground_truth: copy the bag's ``ground_truth.json`` (unread) to
            ``evaluation_only/`` for evaluation.
        on_chunk: called with each chunk's manifest entry after it is on disk.

    Returns:
        The report (``report.cache_dir`` opens with :class:`~.cache.ExtractedRecording`).

    Raises:
        BagError: not a bag, missing or ambiguous topics, no depth for ``rgbd``, unsupported
            types.
        CorruptBagError: a damaged file; the frames before the damage are kept and reported.
        ConfigError: invalid settings.
    """
    start = time.perf_counter()
    cfg = config or ExtractionConfig()
    cfg.validate()
    bag = Path(bag)
    identity = cache.bag_identity(bag)  # BagError for what is not a bag
    key = cache.cache_key(identity, cfg.to_dict())
    directory = cache.recording_dir(Path(cache_root), bag, key)
    manifest = cache.read_manifest(directory)
    gt_source = bag if copy_ground_truth else None
    if (
        manifest is not None
        and manifest.get("status") in cache.FINISHED
        and cache.valid_chunks(directory, manifest) == manifest["chunks"]
        and (directory / "tracks.json").is_file()
    ):
        return _finished(manifest, directory, gt_source)
    directory.mkdir(parents=True, exist_ok=True)
    chunks = cache.valid_chunks(directory, manifest) if manifest else []
    report = ExtractionReport(bag=str(bag), cache_dir=str(directory), modality=cfg.modality)
    with BagReader(bag, typestore=typestore(), salvage=True) as source:
        report.storage = f"rosbag2 {source.storage}"
        try:
            topics = select_topics(source.connections, cfg.topics, cfg.modality)
        except BagError:
            if source.damage is not None:  # the topics were lost with the damaged part
                raise source.damage from None
            raise
        mode = _object_source(cfg, topics, bag)
        if mode != "detections" and topics.detections:
            ignored = {**topics.ignored, topics.detections: source.connections[topics.detections]}
            topics = dataclasses.replace(topics, detections=None, ignored=ignored)
        for topic in topics.used():
            msgtype = source.connections[topic]
            if not source.can_deserialize(msgtype):
                raise BagError(
                    f"{bag}: topic {topic} has type {msgtype}, which neither the bag's message "
                    "definitions nor the project's typestore define; cannot read it"
                )
        report.topics, report.ignored_topics = topics.as_dict(), dict(topics.ignored)
        report.object_source = mode
        manifest = {
            "format": cache.FORMAT,
            "format_version": cache.FORMAT_VERSION,
            "key": key,
            "bag": identity,
            "config": cfg.to_dict(),
            "status": "incomplete",
            "chunks": chunks,
            "topics": topics.as_dict(),
        }
        cache.write_json(directory / "manifest.json", manifest)
        tf, infos, damage = _read_tf_and_info(source, topics, cfg, report)
        follower = BoxFollower(cfg.initial_boxes, cfg.follow) if mode == "first_box" else None
        if follower is not None and chunks:
            follower.load_state(cache.read_chunk_state(directory / chunks[-1]["file"]))
        builder = FrameBuilder(cfg, mode, tf, infos, follower)
        report.resumed_from_frame = chunks[-1]["sync_end"] if chunks else 0
        try:
            _pass2(source, topics, cfg, builder, directory, manifest, report, on_chunk)
        except CorruptBagError as exc:
            damage = damage or exc
    report.camera_frame, report.fixed_frame = builder.camera_frame, builder.fixed_frame
    manifest["fixed_frame"] = builder.fixed_frame
    _track(directory, manifest, cfg, report)
    _summarise(manifest, report)
    report.status = "truncated" if damage else "complete"
    report.seconds = time.perf_counter() - start
    if damage:
        report.error = str(damage)
        manifest.update(damaged_file=str(damage.path), damage=damage.reason)
    manifest.update(status=report.status, report=report.to_dict())
    cache.write_json(directory / "manifest.json", manifest)
    if gt_source is not None:
        _copy_ground_truth(gt_source, directory)
    if damage:
        raise damage.with_report(report, _kept(report))
    return report


def _read_tf_and_info(source: BagReader, topics: TopicSelection, cfg, report):
    """Pass 1: the TF buffer and ``[(stamp_ns, CameraInfo)]`` sorted; damage or None."""
    tf = TFBuffer(cfg.tf_max_extrapolation, cfg.tf_max_gap)
    infos: list[tuple[int, object]] = []
    wanted = [t for t in (topics.tf, topics.tf_static, topics.camera_info) if t]
    damage = None
    try:
        for topic, _, msg in source.messages(wanted, deserialize=True):
            if topic == topics.camera_info:
                infos.append((stamp_to_ns(msg.header.stamp), msg))
            else:
                report.tf_messages += 1
                tf.add_message(msg, static=topic == topics.tf_static)
    except CorruptBagError as exc:
        damage = exc
    report.tf_conflicts = tf.conflicts
    infos.sort(key=lambda item: item[0])
    return tf, infos, damage


def _pass2(source, topics, cfg, builder, directory, manifest, report, on_chunk) -> None:
    inputs = [t for t in (topics.rgb, topics.depth, topics.detections) if t]
    index = {t: i for i, t in enumerate(inputs)}
    sync = ApproximateTimeSync(len(inputs), cfg.queue_size, cfg.slop, cfg.exact)
    received = Counter()
    resume = manifest["chunks"][-1]["sync_end"] if manifest["chunks"] else 0
    pending: list = []
    state = {"next": 0, "begin": resume}

    def flush(end: int) -> None:
        number = len(manifest["chunks"])
        name = f"chunk_{number:05d}.npz"
        size = cache.write_chunk(directory / name, pending, builder.state())
        entry = {
            "file": name,
            "bytes": size,
            "sync_begin": state["begin"],
            "sync_end": end,
            "frames": len(pending),
            "stats": builder.take_stats(),
        }
        manifest["chunks"].append(entry)
        cache.write_json(directory / "manifest.json", manifest)
        pending.clear()
        state["begin"] = end
        if on_chunk is not None:
            on_chunk(entry)

    try:
        for topic, _, msg in source.messages(inputs, deserialize=True):
            received[topic] += 1
            for group in sync.add(index[topic], stamp_to_ns(msg.header.stamp), msg):
                number = state["next"]
                state["next"] += 1
                if number < resume or number % cfg.every_nth:
                    continue
                frame = builder.build(number, group)
                if frame is not None:
                    pending.append(frame)
                if (number + 1) % cfg.chunk_frames == 0:
                    flush(number + 1)
            if cfg.max_frames and state["next"] >= cfg.max_frames:
                break
    except CorruptBagError:
        if pending or state["begin"] < state["next"]:
            flush(state["next"])  # keep what was extracted before the damage
        raise
    finally:
        report.synchronised_sets = state["next"]
        report.unsynchronised = {
            role: received[t] - sync.emitted for role, t in topics.as_dict().items() if t in index
        }
    if pending or state["begin"] < state["next"]:
        flush(state["next"])


def _track(directory: Path, manifest: dict, cfg: ExtractionConfig, report) -> None:
    tracker = InstanceTracker(cfg.tracking)
    ids: dict[str, list[int]] = {}
    for entry in manifest["chunks"]:
        chunk_ids = ids[entry["file"]] = []
        for frame in cache.read_chunk(directory / entry["file"], images=False):
            positions, sizes = [], []
            for obj in frame.objects:
                p, pose = obj.position_cam, frame.T_fixed_cam
                fixed = None if p is None or pose is None else pose[:3, :3] @ p + pose[:3, 3]
                positions.append(fixed)
                side = max(obj.box_xyxy[2] - obj.box_xyxy[0], obj.box_xyxy[3] - obj.box_xyxy[1])
                sizes.append(None if p is None else side * p[2] / frame.intrinsics.fx)
            chunk_ids += tracker.update(
                frame.index,
                [o.category for o in frame.objects],
                [o.box_xyxy for o in frame.objects],
                positions,
                sizes,
                [o.instance for o in frame.objects],
            )
    summaries = tracker.summaries()
    cache.write_json(
        directory / "tracks.json",
        {"track_ids": ids, "tracks": [s.to_dict() for s in summaries]},
    )
    report.count_tracks(summaries)


def _summarise(manifest: dict, report: ExtractionReport) -> None:
    """Add up the per-chunk statistics (this run's and a resumed run's earlier chunks)."""
    for entry in manifest["chunks"]:
        stats = entry["stats"]
        report.frames += entry["frames"]
        report.frames_with_camera_pose += stats["frames_with_camera_pose"]
        report.frames_without_objects += stats["frames_without_objects"]
        report.objects_without_depth += stats["objects_without_depth"]
        for name in ("skipped", "objects_per_category", "objects_skipped"):
            target = getattr(report, name)
            for k, v in stats[name].items():
                target[k] = target.get(k, 0) + v
        for k, v in stats["skip_examples"].items():
            report.skip_examples.setdefault(k, v)
    report.objects = int(np.sum(list(report.objects_per_category.values()), dtype=np.int64))
