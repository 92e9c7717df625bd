"""Small generated recordings shared by the bag-extraction tests (made once per session).

2 s at 5 Hz (10 frames), 160 x 120, /tf at 15 Hz: a few hundred kB each, about a second to
render. Ground truth (``ground_truth.json``) is read by the tests only, to check extraction.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("rosbags", reason="rosbags is part of the 'data' extra")

from offline_training.synthetic.recording import RecordingConfig, write_recording


def small_config(**kw) -> RecordingConfig:
    base = dict(
        categories=["mug", "bottle", "box"],
        n_objects=3,
        duration=2.0,
        rate=5.0,
        tf_rate=15.0,
        width=160,
        height=120,
        noise="depth",
        seed=1,
    )
    base.update(kw)
    return RecordingConfig(**base)


@pytest.fixture(scope="session")
def bags(tmp_path_factory) -> dict[str, Path]:
    """``sqlite3`` (16UC1), ``mcap`` (32FC1) with detections; ``no_det`` (mcap, no
    /detections, noise-free depth)."""
    root = tmp_path_factory.mktemp("bags")
    specs = {
        "sqlite3": small_config(storage="sqlite3", depth_encoding="16UC1"),
        "mcap": small_config(storage="mcap", depth_encoding="32FC1"),
        "no_det": small_config(storage="mcap", detections=False, noise="none"),
    }
    out = {}
    for name, cfg in specs.items():
        write_recording(cfg, root / name, progress=False)
        out[name] = root / name
    return out


def copy_bag(bag: Path, target: Path) -> Path:
    shutil.copytree(bag, target)
    return target


def ground_truth(bag: Path) -> dict:
    return json.loads((bag / "ground_truth.json").read_text())


def gt_boxes(gt: dict, frame: int) -> list[np.ndarray]:
    """Visible boxes of every object in ``frame`` (project convention, from BOP x, y, w, h)."""
    return [
        np.array([x - 0.5, y - 0.5, x + w - 0.5, y + h - 0.5], dtype=np.float64)
        for x, y, w, h in gt["frames"][frame]["bbox_visib"]
    ]


@pytest.fixture(scope="session")
def tools() -> SimpleNamespace:
    """The helpers above, for test modules (conftest is not importable under importlib)."""
    return SimpleNamespace(
        small_config=small_config, copy_bag=copy_bag, ground_truth=ground_truth, gt_boxes=gt_boxes
    )
