"""The NeMo trainer's DDP path on CPU: two processes (gloo) under torchrun, a tiny model (the
shared helpers: test_distributed.py)."""

from __future__ import annotations

import json

import pytest
import torch
import torch.distributed as dist

from offline_training.synthetic.dataset import DatasetConfig, generate_dataset
from ros_pose_estimation.nemo.checkpoint import load_checkpoint
from test.offline_training.test_distributed import torchrun

TINY_CLI = ("--backbone tiny --dim 16 --crop-size 64 --n-vertices 200 --batch-size 4 "
            "--num-workers 0 --num-threads 1 --no-progress").split()  # fmt: skip


@pytest.mark.skipif(not dist.is_gloo_available(), reason="torch built without gloo")
def test_torchrun_two_cpu_processes_train_in_sync(tmp_path):
    data = tmp_path / "bop"
    generate_dataset(DatasetConfig(["mug"], data, images=4, width=96, height=72, instances=2),
                     progress=False)  # fmt: skip
    out = tmp_path / "run"
    proc = torchrun(["-m", "offline_training.nemo.train_cli", "--data", str(data), "--category",
                     "mug", "--out", str(out), "--steps", "3", "--log-every", "1",
                     *TINY_CLI])  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    # rank 0 alone logs and saves; check_in_sync (end of training) found the ranks identical
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3]
    assert proc.stdout.count("trained mug") == 1
    model, meta = load_checkpoint(out / "mug.pt", "mug")
    assert meta["processes"] == 2 and meta["step"] == 3 and meta["images_seen"] == 12
    state = torch.load(out / "resume.pt", weights_only=True)
    assert state["step"] == 3
