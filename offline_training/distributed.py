"""Multi-process training (PyTorch DDP under ``torchrun``), one process per GPU / CPU slot, shared
by the trainers (:mod:`offline_training.nemo.train`, :mod:`offline_training.cse.train`)::

    torchrun --nproc_per_node 2 -m offline_training.nemo.train_cli --data D --category mug ...
    torchrun --nproc_per_node 2 -m offline_training.cse.train_cli --data D --category mug ...

How a single-process trainer is distributed, keeping its determinism and exact resume:

* **process group**: ``torchrun`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``; the backend is
  ``nccl`` for CUDA devices (each rank takes ``cuda:LOCAL_RANK``) and ``gloo`` on CPU.
* **data**: step ``s``'s global batch is still
  :meth:`~offline_training.train_loop.StepBatchSampler.batch` ``(s)`` (a function of ``s``
  alone); rank ``r`` takes its keys ``r::world`` (:class:`RankBatchSampler`), so the
  global batch does not depend on the number of processes and ``batch_size`` must divide by it.
  (This replaces ``DistributedSampler``, whose epoch-based order would break exact resume.)
* **gradients**: the trained modules run inside ``DistributedDataParallel``: gradients are
  averaged over ranks and every rank takes the same optimizer step. BatchNorm statistics are per
  rank (DDP broadcasts rank 0's running buffers), as with plain DDP. State that is not learnt by
  gradients must be updated from every rank's data (:func:`all_gather_rows`).
* **randomness**: a rank draws from a generator reseeded per (seed, step, rank)
  (:func:`step_generator`), so a resumed run needs no saved generator state.
* **outputs**: only rank 0 writes the log, checkpoints and the resume file; at the end
  :func:`check_in_sync` verifies that every rank holds the same weights.

A multi-process run is not bit-identical to a single-process one of the same global batch: each
rank's loss is a mean over its own share and the gradients are the mean of those.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ros_pose_estimation.core.errors import ConfigError


@dataclass
class DistContext:
    """Where this process stands: ``rank``, ``world`` size, ``device`` and whether this module
    initialised the process group (then :meth:`close` destroys it)."""

    rank: int = 0
    world: int = 1
    device: str = "cpu"
    owns_group: bool = False

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def close(self) -> None:
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()


def is_main_process() -> bool:
    """Whether this process is rank 0 of ``torchrun`` (or runs alone), without joining the
    process group: for work after training that one process does."""
    return int(os.environ.get("RANK", "0")) == 0


def setup(device: str, batch_size: int) -> DistContext:
    """The context from ``torchrun``'s environment (a single process without it).

    Raises:
        ConfigError: ``batch_size`` is not divisible by the number of processes.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext(device=device)
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if batch_size % world:
        raise ConfigError(f"batch_size {batch_size} must be divisible by the {world} "
                          "processes (each rank takes batch_size / world items of each step's "
                          "batch)")  # fmt: skip
    cuda = device.startswith("cuda")
    if cuda:
        device = f"cuda:{local}"
        torch.cuda.set_device(local)
    owns = not dist.is_initialized()
    if owns:
        dist.init_process_group("nccl" if cuda else "gloo", rank=rank, world_size=world)
    return DistContext(rank, world, device, owns)


class RankBatchSampler(torch.utils.data.Sampler):
    """This rank's share ``keys[rank::world]`` of every batch of a :class:`StepBatchSampler`."""

    def __init__(self, sampler, rank: int, world: int) -> None:
        self.sampler, self.rank, self.world = sampler, rank, world

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self):
        for batch in self.sampler:
            yield batch[self.rank :: self.world]


def all_gather_rows(x: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Concatenate ``[N_r x ...]`` tensors of every rank in rank order (``N_r`` may differ)."""
    if not ctx.enabled:
        return x
    n = torch.tensor([x.shape[0]], device=x.device, dtype=torch.int64)
    sizes = [torch.zeros_like(n) for _ in range(ctx.world)]
    dist.all_gather(sizes, n)
    sizes = [int(s) for s in sizes]
    most = max(sizes)
    padded = torch.zeros((most, *x.shape[1:]), dtype=x.dtype, device=x.device)
    padded[: x.shape[0]] = x
    parts = [torch.zeros_like(padded) for _ in range(ctx.world)]
    dist.all_gather(parts, padded)
    return torch.cat([p[:s] for p, s in zip(parts, sizes, strict=True)])


def mean_over_ranks(stats: dict[str, float], ctx: DistContext) -> dict[str, float]:
    """The mean over ranks of every float statistic of a step (every rank must report the same
    keys); what rank 0 logs is then the whole step's, not its own share's."""
    if not ctx.enabled:
        return stats
    keys = sorted(stats)
    values = torch.tensor([float(stats[k]) for k in keys], dtype=torch.float64,
                          device=ctx.device)  # fmt: skip
    dist.all_reduce(values)
    return dict(zip(keys, (values / ctx.world).tolist(), strict=True))


def step_generator(seed: int, step: int, rank: int) -> torch.Generator:
    """A CPU generator for ``step`` on ``rank`` (distributed runs; resume needs no saved state)."""
    return torch.Generator().manual_seed((seed * 1_000_003 + step) * 1009 + rank)


def check_in_sync(model: torch.nn.Module, ctx: DistContext) -> None:
    """Raise ``RuntimeError`` when the ranks' weights or buffers differ (a bug: every rank
    must apply the same updates). Compares one float64 checksum per tensor across ranks.
    BatchNorm running statistics are left out: DDP broadcasts rank 0's at each forward, so
    after the last step they differ by design (checkpoints hold rank 0's)."""
    if not ctx.enabled:
        return
    state = {k: v for k, v in model.state_dict().items()
             if v.is_floating_point() and ".running_" not in k}  # fmt: skip
    sums = torch.stack([v.detach().double().sum() for v in state.values()])
    parts = [torch.zeros_like(sums) for _ in range(ctx.world)]
    dist.all_gather(parts, sums)
    for rank, other in enumerate(parts[1:], start=1):
        if not torch.equal(parts[0], other):
            bad = [n for n, a, b in zip(state, parts[0], other, strict=True) if a != b]
            raise RuntimeError(f"rank {rank} diverged from rank 0 in {bad[:5]}")
