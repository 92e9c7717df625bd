"""A tiny generated mug dataset (160 x 120) and an untrained tiny NeMo checkpoint beside it:
what the NeMo evaluation and calibration tool tests run on."""

from __future__ import annotations

from pathlib import Path

import torch

from offline_training.synthetic.cli import dataset_main
from ros_pose_estimation.nemo.checkpoint import save_checkpoint
from ros_pose_estimation.nemo.model import NemoConfig, NemoModel


def tiny_mug_set(root: Path, *, instances: int, images: int, objects: int, seed: int,
                 split: str, meta: dict | None = None) -> tuple[Path, Path]:
    """Writes ``root/data`` (``split``) and ``root/mug.pt``; returns ``(root, checkpoint)``."""
    rc = dataset_main([
        "--category", "mug", "--instances", str(instances), "--images", str(images),
        "--out", str(root / "data"), "--seed", str(seed), "--split", split, "--width", "160",
        "--height", "120", "--objects-per-image", str(objects), "--no-progress", "--no-noise",
        "--no-shadows",
    ])  # fmt: skip
    assert rc == 0
    torch.manual_seed(0)
    cfg = NemoConfig("mug", backbone="tiny", dim=16, crop_size=64, n_vertices=200)
    return root, save_checkpoint(root / "mug.pt", NemoModel(cfg), meta=meta)
