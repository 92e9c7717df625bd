"""The adaptation loop every path shares (issue #16 item 6), and its report.

A *path* (CC3D pseudo-labels :mod:`.cc3d`, the supervised upper bound, TF-consensus labels...)
says how a round labels the target's training part; the loop does the rest, EM-style:

    before:  held-out accuracy of the starting checkpoint
    round r: label (E-step: the round's training set from the current checkpoint)
             -> fine-tune the current checkpoint on it (M-step, :class:`.finetune.FineTune`)
             -> held-out accuracy of the new checkpoint; it is the next round's current one

Report (``OUT/report.json``, rewritten atomically after every stage)::

    {"format": "ros_pose_estimation/adapt-report", "version": 1, "method": "cc3d",
     "category": "mug", "settings": {...},
     "before": {"checkpoint": PATH, "heldout": HELDOUT, "seconds": S},
     "rounds": [{"round": 1, "start_checkpoint": PATH, "checkpoint": PATH,
                 "labels": {"data": DIR, "estimated": N, "kept": K,
                            "accuracy_estimated": ACC | null, "accuracy_kept": ACC | null},
                 "heldout": HELDOUT,
                 "seconds": {"label": S, "train": S, "eval": S, "total": S}}, ...]}

``HELDOUT``: :data:`.finetune.HELDOUT_KEYS` (Acc@pi/6, Acc@pi/18, median rotation error in deg,
...); ``ACC``: the labels against the target's ground truth where it exists
(:func:`.pseudo_labels.label_accuracy`), null otherwise. Seconds are wall time.

Resume: started again with the same ``OUT``, method, category and settings, the loop skips the
"before" row and every round already in the report, and an interrupted round continues (the
labelling caches its labels, the trainer resumes from its ``resume.pt``). Other settings raise.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ros_pose_estimation.core.errors import ConfigError

__all__ = ["FORMAT", "AdaptPath", "RoundLabels", "load_report", "run_adaptation"]

FORMAT, VERSION = "ros_pose_estimation/adapt-report", 1


@dataclass
class RoundLabels:
    """What a path's labelling step produced: a BOP training set and counts (report keys)."""

    data: str
    split: str = "train"
    stats: dict = field(default_factory=dict)  # estimated, kept, accuracy_estimated, ...


class AdaptPath(Protocol):
    """How a round labels the target: ``label(checkpoint, round_dir) -> RoundLabels``."""

    name: str

    def label(self, checkpoint: Path, round_dir: Path) -> RoundLabels: ...


def load_report(path: str | Path) -> dict:
    """The report at ``path`` (``FORMAT``); ConfigError when it is something else."""
    report = json.loads(Path(path).read_text())
    if report.get("format") != FORMAT or report.get("version") != VERSION:
        raise ConfigError(f"{path} is not an adaptation report ({FORMAT} v{VERSION})")
    return report


def _save(path: Path, report: dict) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=1))
    os.replace(tmp, path)


def _start(out: Path, method: str, category: str, settings: dict) -> dict:
    path = out / "report.json"
    fresh = {"format": FORMAT, "version": VERSION, "method": method, "category": category,
             "settings": settings, "before": None, "rounds": []}  # fmt: skip
    if not path.exists():
        return fresh
    report = load_report(path)
    old = {k: report.get(k) for k in ("method", "category", "settings")}
    new = {"method": method, "category": category, "settings": settings}
    if json.loads(json.dumps(new)) != old:
        raise ConfigError(f"{path} was written by another adaptation run ({old}); use another "
                          f"--out or the same settings to resume it")  # fmt: skip
    return report


def run_adaptation(path: AdaptPath, out: str | Path, init_checkpoint: str | Path, rounds: int,
                   train: Callable[[Path, RoundLabels, Path], Path],
                   evaluate: Callable[[Path], dict], category: str, settings: dict,
                   log: Callable[[str], None] = print) -> dict:  # fmt: skip
    """Run (or resume) ``rounds`` rounds of ``path`` from ``init_checkpoint`` into ``out``.

    Args:
        path: the labelling step (:class:`AdaptPath`).
        train: ``(checkpoint, labels, train_dir) -> new checkpoint`` (resumable in
            ``train_dir``), e.g. :meth:`.finetune.FineTune.run`.
        evaluate: ``checkpoint -> HELDOUT`` metrics, e.g. :func:`.finetune.heldout_accuracy`.
        category: the category adapted; settings: everything that defines the run (JSON).

    Returns:
        the report (module doc), also in ``out/report.json``.
    """
    if rounds < 1:
        raise ConfigError(f"rounds must be >= 1, got {rounds}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report_path = out / "report.json"
    report = _start(out, path.name, category, settings)
    if report["before"] is None:
        start = time.perf_counter()
        heldout = evaluate(Path(init_checkpoint))
        report["before"] = {"checkpoint": str(init_checkpoint), "heldout": heldout,
                            "seconds": time.perf_counter() - start}  # fmt: skip
        _save(report_path, report)
        log(f"before: held-out {_fmt(heldout)}")
    current = Path(report["rounds"][-1]["checkpoint"] if report["rounds"] else init_checkpoint)
    for r in range(len(report["rounds"]) + 1, rounds + 1):
        round_dir = out / f"round_{r:02d}"
        round_dir.mkdir(exist_ok=True)
        t0 = time.perf_counter()
        labels = path.label(current, round_dir)
        t1 = time.perf_counter()
        log(f"round {r}: labels {labels.stats.get('kept')} kept of "
            f"{labels.stats.get('estimated')} -> training on {labels.data}")  # fmt: skip
        checkpoint = train(current, labels, round_dir / "train")
        t2 = time.perf_counter()
        heldout = evaluate(checkpoint)
        t3 = time.perf_counter()
        report["rounds"].append({
            "round": r, "start_checkpoint": str(current), "checkpoint": str(checkpoint),
            "labels": {"data": labels.data, **labels.stats}, "heldout": heldout,
            "seconds": {"label": t1 - t0, "train": t2 - t1, "eval": t3 - t2, "total": t3 - t0},
        })  # fmt: skip
        _save(report_path, report)
        log(f"round {r}: held-out {_fmt(heldout)} ({t3 - t0:.0f} s)")
        current = checkpoint
    return report


def _fmt(heldout: dict) -> str:
    return (f"Acc@pi/6 {heldout['acc_pi_6']:.3f}, median {heldout['median_rot_deg']:.1f} deg "
            f"({heldout['count']} objects)")  # fmt: skip
