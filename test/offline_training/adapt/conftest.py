"""Shared data of the adaptation tests: a tiny NeMo set-up and a target domain (training part,
held-out part, a start model trained for two steps)."""

from __future__ import annotations

import pytest

from offline_training.nemo.train import train
from offline_training.nemo.train_config import TrainConfig
from offline_training.synthetic.dataset import DatasetConfig, generate_dataset

TINY_NEMO = {"backbone": "tiny", "dim": 16, "crop_size": 64, "n_vertices": 200, "n_clutter": 64,
             "batch_size": 2, "num_workers": 0, "num_threads": 1, "progress": False}  # fmt: skip


@pytest.fixture(scope="session")
def tiny_nemo() -> dict:
    """TrainConfig fields of a tiny, fast NeMo model (a fresh copy per use)."""
    return dict(TINY_NEMO)


@pytest.fixture(scope="session")
def make_adapt_roots(tmp_path_factory):
    """``make(name, target_images)`` -> ``(target, heldout, checkpoint)``: a mug target
    training part (96x72, 2 instances, seed 5), a held-out part (3 images, seed 6, split test)
    and a tiny mug model trained 2 steps on the target."""

    def make(name: str, target_images: int):
        base = tmp_path_factory.mktemp(name)
        target, heldout = base / "target", base / "heldout"
        look = {"width": 96, "height": 72, "instances": 2}
        generate_dataset(DatasetConfig(["mug"], target, images=target_images, seed=5, **look),
                         progress=False)  # fmt: skip
        generate_dataset(DatasetConfig(["mug"], heldout, images=3, seed=6, split="test", **look),
                         progress=False)  # fmt: skip
        ckpt = train(TrainConfig(data=str(target), category="mug", out=str(base / "init"),
                                 steps=2, **TINY_NEMO))  # fmt: skip
        return target, heldout, ckpt

    return make
