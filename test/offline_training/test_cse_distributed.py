"""The CSE trainer's device setting and DDP path: two CPU processes (gloo) under torchrun train a
tiny model in sync, only rank 0 writes, and an interrupted run resumes exactly."""

from __future__ import annotations

import json

import pytest
import torch
import torch.distributed as dist

from offline_training.cse.train import CseTrainConfig, train
from offline_training.cse.train_cli import main
from ros_pose_estimation.core.errors import ConfigError
from ros_pose_estimation.cse.checkpoint import load_checkpoint
from test.offline_training.test_cse_data import cse_root  # noqa: F401  (fixture)
from test.offline_training.test_cse_train import TINY, TINY_CLI
from test.offline_training.test_distributed import torchrun

#: Under torchrun: the same 3-step run whole and interrupted after step 2 (checkpoint_every 2)
#: then resumed; every checkpoint / resume write is recorded with the rank that made it, and
#: each rank's final weights are saved beside.
SCRIPT = """
import json, sys, torch, torch.distributed as dist
import offline_training.cse.train as T
from offline_training import distributed, train_loop
from offline_training.cse.train import CseTrainConfig, train

data, root = sys.argv[1], sys.argv[2]
tiny = json.loads(sys.argv[3])
dist.init_process_group("gloo")  # the script's group: train() uses it and leaves it open
rank = dist.get_rank()

def spy(write):
    def wrapped(path, *args, **kwargs):
        with open(f"{root}/writes_rank{rank}.txt", "a") as f:
            f.write(f"{path}\\n")
        return write(path, *args, **kwargs)
    return wrapped

T.save_checkpoint = spy(T.save_checkpoint)
train_loop.save_resume = spy(train_loop.save_resume)
in_sync = distributed.check_in_sync

def keep_state(model, ctx):
    torch.save(model.state_dict(), f"{root}/state_rank{rank}.pt")
    in_sync(model, ctx)

distributed.check_in_sync = keep_state

class Stop(Exception):
    pass

def run(out, stop_at=None, resume=False):
    step, calls = T.compute_losses, []
    def interrupted(model, batch, cfg, ctx, gen):
        calls.append(1)
        if len(calls) > stop_at:
            raise Stop  # both ranks stop at the same step, before any collective
        return step(model, batch, cfg, ctx, gen)
    T.compute_losses = interrupted if stop_at else step
    try:
        return train(CseTrainConfig(data=data, category="bottle", out=out, steps=3, log_every=1,
                                    checkpoint_every=2, resume=resume, **tiny))
    except Stop:
        return None
    finally:
        T.compute_losses = step
        dist.barrier()  # rank 0 has written resume.pt before any rank reads it

run(f"{root}/whole")
run(f"{root}/resumed", stop_at=2)
run(f"{root}/resumed", resume=True)
dist.destroy_process_group()
"""


def _log(out) -> list[dict]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def _weights(state: dict) -> dict:
    """Everything but the BatchNorm statistics (per rank under DDP; rank 0's are saved)."""
    return {k: v for k, v in state.items() if "running_" not in k and "num_batches" not in k}


@pytest.mark.skipif(not dist.is_gloo_available(), reason="torch built without gloo")
def test_two_cpu_processes_train_in_sync_and_resume_exactly(cse_root, tmp_path):  # noqa: F811
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    tiny = {**TINY, "batch_size": 4}  # 2 frame pairs per rank and step
    proc = torchrun([str(script), str(cse_root), str(tmp_path), json.dumps(tiny)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    # only rank 0 writes: the log once per step, checkpoints and resume files
    assert not (tmp_path / "writes_rank1.txt").exists()
    writes = (tmp_path / "writes_rank0.txt").read_text().split()
    assert writes.count(str(whole / "bottle.pt")) == 1
    assert writes.count(str(whole / "resume.pt")) == 2  # steps 2 and 3
    assert [r["step"] for r in _log(whole)] == [1, 2, 3]
    assert proc.stdout.count("trained bottle") == 2  # rank 0's line of the two finished runs
    # the ranks ended with the same weights (and check_in_sync, run at the end, agreed)
    ranks = [_weights(torch.load(tmp_path / f"state_rank{r}.pt", weights_only=True))
             for r in (0, 1)]  # fmt: skip
    assert all(torch.equal(ranks[0][k], ranks[1][k]) for k in ranks[0])
    # interrupted after step 2 and resumed: the same model and log as the uninterrupted run
    model, meta = load_checkpoint(whole / "bottle.pt", "bottle")
    again, meta_again = load_checkpoint(resumed / "bottle.pt", "bottle")
    assert meta["processes"] == 2 and meta["step"] == 3 and meta["train_config"]["device"] == "cpu"
    a, b = model.state_dict(), again.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])]
    assert [r["loss"] for r in _log(resumed)] == [r["loss"] for r in _log(whole)]


def test_batch_not_divisible_by_the_processes_is_refused(cse_root, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    out = tmp_path / "run"
    cfg = CseTrainConfig(data=str(cse_root), category="bottle", out=str(out), steps=1,
                         **{**TINY, "batch_size": 3})  # fmt: skip
    with pytest.raises(ConfigError, match="batch_size 3 must be divisible by the 2 processes"):
        train(cfg)
    assert not out.exists() and not dist.is_initialized()


def test_cli_refuses_cuda_without_a_gpu(cse_root, tmp_path, capsys, monkeypatch):  # noqa: F811
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    args = ["--data", str(cse_root), "--category", "bottle", "--out", str(tmp_path / "a"),
            "--steps", "1", "--device", "cuda", *TINY_CLI]  # fmt: skip
    assert main(args) == 2
    assert "CUDA is not available" in capsys.readouterr().err


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_training_matches_the_cpu_start(cse_root, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)  # float32 convolutions
    losses = {}
    for device in ("cpu", "cuda"):
        out = tmp_path / device
        cfg = CseTrainConfig(data=str(cse_root), category="bottle", out=str(out), steps=2,
                             log_every=1, device=device, **TINY)  # fmt: skip
        model, meta = load_checkpoint(train(cfg), "bottle")
        assert meta["train_config"]["device"] == device
        losses[device] = [r["loss"] for r in _log(out)]
    # the same data, initial weights and random draws (CPU generator): the same first loss but
    # for float rounding (and a rasterised pixel that may flip between faces)
    assert losses["cuda"][0] == pytest.approx(losses["cpu"][0], rel=5e-3)
    assert all(torch.isfinite(torch.tensor(losses["cuda"])))
