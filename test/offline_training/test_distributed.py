"""The trainers' shared DDP helpers (:mod:`offline_training.distributed`): two CPU processes (gloo)
under torchrun. :func:`torchrun` is also what the trainers' DDP tests start their runs with."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from offline_training import distributed
from offline_training.train_loop import StepBatchSampler
from ros_pose_estimation.core.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(args: list[str], processes: int = 2) -> subprocess.CompletedProcess:
    """``torchrun --nproc_per_node processes ARGS`` from the repository root (one thread each)."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes),
           "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), *args]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


COLLECTIVES = """
import sys, torch
from offline_training import distributed
ctx = distributed.setup("cpu", 2)
rows = torch.full((ctx.rank + 1, 3), float(ctx.rank))  # rank 0: 1 row, rank 1: 2 rows
stats = distributed.mean_over_ranks({"loss": float(ctx.rank), "b": 2.0 + 4 * ctx.rank}, ctx)
torch.manual_seed(0)
net = torch.nn.Linear(2, 1)
with torch.no_grad():
    net.bias.fill_(float(ctx.rank))  # rank 1 diverged
try:
    distributed.check_in_sync(net, ctx)
    diverged = ""
except RuntimeError as e:
    diverged = str(e)
torch.save({"rows": distributed.all_gather_rows(rows, ctx), "stats": stats,
            "diverged": diverged}, f"{sys.argv[1]}/rank{ctx.rank}.pt")
ctx.close()
"""


def test_collectives_over_two_cpu_processes(tmp_path):
    script = tmp_path / "collectives.py"
    script.write_text(COLLECTIVES)
    proc = torchrun([str(script), str(tmp_path)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    for rank in (0, 1):
        got = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        # uneven parts concatenated in rank order
        assert got["rows"].tolist() == [[0.0] * 3, [1.0] * 3, [1.0] * 3]
        assert got["stats"] == {"loss": 0.5, "b": 4.0}
        assert "rank 1 diverged from rank 0 in ['bias']" in got["diverged"]


def test_rank_sampler_splits_every_global_batch():
    base = StepBatchSampler(10, 4, steps=3, seed=1)
    parts = [list(distributed.RankBatchSampler(base, r, 2)) for r in (0, 1)]
    for step, batch in enumerate(base):
        assert sorted(parts[0][step] + parts[1][step]) == sorted(batch)
        assert not set(parts[0][step]) & set(parts[1][step])


def test_batch_must_divide_by_the_processes(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "3")
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(ConfigError, match="batch_size 4 must be divisible by the 3 processes"):
        distributed.setup("cpu", 4)


def test_one_process_is_a_plain_run(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    ctx = distributed.setup("cuda", 3)  # no process group, any batch size, the device as given
    assert (ctx.rank, ctx.world, ctx.device, ctx.enabled, ctx.is_main) == (0, 1, "cuda", False,
                                                                           True)  # fmt: skip
    stats = {"loss": 1.5}
    assert distributed.mean_over_ranks(stats, ctx) is stats
    x = torch.ones(2, 3)
    assert distributed.all_gather_rows(x, ctx) is x
    distributed.check_in_sync(torch.nn.Linear(2, 1), ctx)  # nothing to compare
    ctx.barrier()
    ctx.close()


def test_step_generators_differ_per_step_and_rank_and_repeat():
    def draw(seed, step, rank):
        return torch.rand(4, generator=distributed.step_generator(seed, step, rank))

    assert torch.equal(draw(0, 5, 1), draw(0, 5, 1))  # a resumed run draws the same
    others = [draw(0, 5, 0), draw(0, 6, 1), draw(1, 5, 1)]
    assert not any(torch.equal(draw(0, 5, 1), o) for o in others)
