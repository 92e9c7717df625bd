"""The NeMo trainer's DDP path on CPU: two processes (gloo) under torchrun, a tiny model."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from offline_training.nemo import distributed
from offline_training.synthetic.dataset import DatasetConfig, generate_dataset
from offline_training.train_loop import StepBatchSampler
from ros_pose_estimation.core.errors import ConfigError
from ros_pose_estimation.nemo.checkpoint import load_checkpoint

REPO = Path(__file__).resolve().parents[2]
TINY_CLI = ("--backbone tiny --dim 16 --crop-size 64 --n-vertices 200 --batch-size 4 "
            "--num-workers 0 --num-threads 1 --no-progress").split()  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


GATHER = """
import sys, torch, torch.distributed as dist
from offline_training.nemo import distributed
ctx = distributed.setup("cpu", 2)
rows = torch.full((ctx.rank + 1, 3), float(ctx.rank))  # rank 0: 1 row, rank 1: 2 rows
torch.save(distributed.all_gather_rows(rows, ctx), f"{sys.argv[1]}/rank{ctx.rank}.pt")
ctx.close()
"""


def _torchrun(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), *args]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def test_all_gather_rows_concatenates_uneven_parts_in_rank_order(tmp_path):
    script = tmp_path / "gather.py"
    script.write_text(GATHER)
    proc = _torchrun([str(script), str(tmp_path)], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for rank in (0, 1):
        got = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        assert got.tolist() == [[0.0] * 3, [1.0] * 3, [1.0] * 3]


def test_rank_sampler_splits_every_global_batch():
    base = StepBatchSampler(10, 4, steps=3, seed=1)
    parts = [list(distributed.RankBatchSampler(base, r, 2)) for r in (0, 1)]
    for step, batch in enumerate(base):
        assert sorted(parts[0][step] + parts[1][step]) == sorted(batch)
        assert not set(parts[0][step]) & set(parts[1][step])


def test_batch_must_divide_by_the_processes(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "3")
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(ConfigError, match="divisible"):
        distributed.setup("cpu", 4)


@pytest.mark.skipif(not dist.is_gloo_available(), reason="torch built without gloo")
def test_torchrun_two_cpu_processes_train_in_sync(tmp_path):
    data = tmp_path / "bop"
    generate_dataset(DatasetConfig(["mug"], data, images=4, width=96, height=72, instances=2),
                     progress=False)  # fmt: skip
    out = tmp_path / "run"
    proc = _torchrun(["-m", "offline_training.nemo.train_cli", "--data", str(data), "--category",
                      "mug", "--out", str(out), "--steps", "3", "--log-every", "1", *TINY_CLI],
                     tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    # rank 0 alone logs and saves; check_in_sync (end of training) found the ranks identical
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3]
    assert proc.stdout.count("trained mug") == 1
    model, meta = load_checkpoint(out / "mug.pt", "mug")
    assert meta["processes"] == 2 and meta["step"] == 3 and meta["images_seen"] == 12
    state = torch.load(out / "resume.pt", weights_only=True)
    assert state["step"] == 3
