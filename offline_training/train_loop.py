"""The run bookkeeping the trainers share (:mod:`.nemo.train`, :mod:`.cse.train`).

A run folder ``out`` holds ``log.jsonl`` (one JSON record per ``log_every`` steps: ``step``,
the means of the step statistics since the previous record, ``lr`` and ``seconds``),
``last.pt`` (the model) and ``resume.pt`` (model, optimizer, step, RNG states, settings) every
``checkpoint_every`` steps and at the last step, and the trainer's final ``<category>.pt``.
``resume.pt`` is a plain dict (``torch.load(weights_only=True)``) written atomically; a resumed
run restores it, drops the log records written after it and continues the run's clock.

What stays in each trainer: its settings, model, optimizer, step, RNG states (which generators,
under which keys) and its log lines. The batches come from a step-indexed sampler
(:class:`StepBatchSampler`), so a resumed run sees the batches it would have seen.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from offline_training.workers import worker_context
from ros_pose_estimation.core.checkpoint_file import cpu_state, load_tensors, write_payload
from ros_pose_estimation.core.errors import CheckpointError, ConfigError

RESUME_VERSION = 1


class LoopSettings(Protocol):
    """The settings :class:`StepLoop` reads from a trainer's config."""

    steps: int
    log_every: int
    checkpoint_every: int
    progress: bool


class Window(Protocol):
    """Accumulates the step statistics between two log records."""

    def add(self, stats: dict) -> None: ...

    def means(self) -> dict: ...


def say(message: str) -> None:
    """Print a trainer's message without breaking its progress bar."""
    from tqdm import tqdm

    tqdm.write(message)


def require_positive(cfg: object, names: Iterable[str]) -> None:
    """ConfigError naming the first setting of ``names`` whose value in ``cfg`` is below 1."""
    for name in names:
        if getattr(cfg, name) < 1:
            raise ConfigError(f"{name} must be >= 1, got {getattr(cfg, name)}")


def check_new_run(out: Path, resume: bool) -> None:
    """ConfigError when ``out`` already holds a run (``resume.pt`` or ``log.jsonl``) and
    ``resume`` is off: a new run never overwrites an old one."""
    if not resume and ((out / "resume.pt").exists() or (out / "log.jsonl").exists()):
        raise ConfigError(f"{out} already holds a training run; resume it (--resume) or "
                          "choose another output folder")  # fmt: skip


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """``torch.set_num_threads(n)`` inside the block; the previous count again after it."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def worker_init(_: int) -> None:
    """Data-loader workers run one thread each: the main process computes, workers only
    decode and warp."""
    import cv2

    torch.set_num_threads(1)
    cv2.setNumThreads(1)


class StepBatchSampler(torch.utils.data.Sampler):
    """Batches of keys ``(index, draw)`` for steps ``start_step .. steps - 1``.

    Samples are drawn epoch by epoch without replacement (epoch ``e`` is the permutation of
    ``default_rng([seed, e])``); ``draw`` is the global sample number, so every sample of the
    run gets its own augmentation and batch ``s`` depends on ``s`` only (resume is exact).
    """

    def __init__(self, n: int, batch_size: int, steps: int, seed: int = 0, start_step: int = 0):
        if n < 1 or batch_size < 1:
            raise ConfigError(f"need n >= 1 and batch_size >= 1, got {n}, {batch_size}")
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.steps, self.start_step = steps, start_step
        self._perms: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return max(0, self.steps - self.start_step)

    def _index(self, draw: int) -> int:
        epoch, pos = divmod(draw, self.n)
        if epoch not in self._perms:
            self._perms = {epoch: np.random.default_rng([self.seed, epoch]).permutation(self.n)}
        return int(self._perms[epoch][pos])

    def batch(self, step: int) -> list[tuple[int, int]]:
        draws = range(step * self.batch_size, (step + 1) * self.batch_size)
        return [(self._index(d), d) for d in draws]

    def __iter__(self):
        for step in range(self.start_step, self.steps):
            yield self.batch(step)


def step_loader(
    dataset: torch.utils.data.Dataset,
    batch_sampler: Iterable[Sequence[int]],
    num_workers: int,
    pin_memory: bool = False,
) -> torch.utils.data.DataLoader:
    """The trainers' DataLoader: batches from ``batch_sampler``, ``num_workers`` processes
    (:func:`worker_init`; started as :func:`~.workers.worker_context` says)."""
    return torch.utils.data.DataLoader(
        dataset, batch_sampler=batch_sampler, num_workers=num_workers, pin_memory=pin_memory,
        worker_init_fn=worker_init, multiprocessing_context=worker_context(num_workers),
    )  # fmt: skip


def save_resume(
    path: Path,
    fmt: str,
    step: int,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    config: dict,
    **state: object,
) -> None:
    """Write ``resume.pt`` atomically: ``format`` = ``fmt``, ``format_version``, ``step``, the
    model and optimizer states, ``config`` (the trainer's settings, ``to_dict()``) and the
    trainer's ``state`` (RNG states, ``seconds``, ...) under their keyword names."""
    write_payload(path, {
        "format": fmt, "format_version": RESUME_VERSION, "step": int(step),
        "model": cpu_state(model), "optimizer": optimizer.state_dict(), "config": config,
        **state,
    })  # fmt: skip


def load_resume(
    path: Path,
    fmt: str,
    kind: str,
    cfg: object,
    keys: Iterable[str],
    saved_defaults: dict | None = None,
) -> dict:
    """Read ``resume.pt`` and check it was made with the same settings ``keys`` as ``cfg``.

    Args:
        fmt: the trainer's resume ``format``; kind: its name in messages ("NeMo").
        saved_defaults: values of settings that older resume files do not store.

    Raises:
        CheckpointError: unreadable file or another format.
        ConfigError: one of ``keys`` differs (the message lists each: saved, now).
    """
    state = load_tensors(path, f"a {kind} trainer resume file")
    if not isinstance(state, dict) or state.get("format") != fmt:
        raise CheckpointError(f"{path} is not a {kind} trainer resume file")
    old = {**(saved_defaults or {}), **state["config"]}
    diff = {k: (old.get(k), getattr(cfg, k)) for k in keys if old.get(k) != getattr(cfg, k)}
    if diff:
        raise ConfigError(f"cannot resume {path}: settings differ (saved, now): {diff}")
    return state


def restore(state: dict, model: torch.nn.Module, optimizer: torch.optim.Optimizer):
    """Load the model (strict) and optimizer states of a resume ``state``; returns
    ``(step, seconds)`` of the run so far. The trainer restores its RNG states itself."""
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    return int(state["step"]), float(state.get("seconds", 0.0))


def truncate_log(path: Path, step: int) -> None:
    """Drop records written after ``step`` (an interrupted run may have logged past it)."""
    if path.exists():
        lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
        path.write_text("".join(ln + "\n" for ln in lines if json.loads(ln)["step"] <= step))


class MeanWindow:
    """Means of every statistic the steps reported since the last log record; NaN / inf values
    are skipped (e.g. an accuracy of a step without a sample), a statistic with no finite value
    in the window is logged as None."""

    def __init__(self) -> None:
        self.values: dict[str, list[float]] = {}

    def add(self, stats: dict) -> None:
        for k, v in stats.items():
            kept = self.values.setdefault(k, [])
            if math.isfinite(v):
                kept.append(v)

    def means(self) -> dict:
        return {k: (sum(v) / len(v) if v else None) for k, v in self.values.items()}


class StepLoop:
    """The step loop of a run: per batch the trainer's step, the progress bar, a ``log.jsonl``
    record every ``log_every`` steps and the trainer's ``save()`` every ``checkpoint_every``
    steps and at the last one.

    Args:
        cfg: the trainer's settings (:class:`LoopSettings`).
        out: the run folder (``log.jsonl`` is appended to).
        desc, unit: progress-bar label and unit.
        step, seconds_before: steps done and seconds spent before (a resumed run).
        window: makes an empty :class:`Window` (default :class:`MeanWindow`).
        main: this process logs and saves (False on the other ranks of a distributed run).

    Attributes read by the trainer: ``step`` (steps done, this session and before), ``start``
    (the step this session began at), ``last`` (the means of the latest log record) and
    ``data_wait`` (seconds this session waited for batches).
    """

    def __init__(
        self,
        cfg: LoopSettings,
        out: Path,
        desc: str,
        step: int = 0,
        seconds_before: float = 0.0,
        *,
        unit: str = "it",
        window: Callable[[], Window] = MeanWindow,
        main: bool = True,
    ) -> None:
        from tqdm import tqdm

        self.cfg, self.out, self.window, self.main = cfg, Path(out), window, main
        self.step = self.start = step
        self.seconds_before = seconds_before
        self.last: dict = {}
        self.data_wait = 0.0
        self.bar = tqdm(total=cfg.steps, initial=step, desc=desc, unit=unit,
                        disable=not (cfg.progress and main), dynamic_ncols=True)  # fmt: skip
        self.t0 = time.perf_counter()

    def wall(self) -> float:
        """Seconds since this session's loop was made."""
        return time.perf_counter() - self.t0

    def seconds(self) -> float:
        """The run's seconds: those before the resume plus this session's."""
        return self.seconds_before + self.wall()

    def _due(self, every: int) -> bool:
        return self.step % every == 0 or self.step == self.cfg.steps

    def run(
        self,
        loader: Iterable,
        train_step: Callable[[object, int], dict],
        optimizer: torch.optim.Optimizer,
        save: Callable[[], None],
        postfix: Callable[[dict], dict],
    ) -> None:
        """Run the steps of ``loader``'s batches: ``train_step(batch, steps done) -> stats``
        (float statistics, ``"loss"`` among them); ``postfix(stats)`` gives the progress bar's
        fields; ``lr`` is logged from ``optimizer``'s first parameter group."""
        window, wait_start = self.window(), self.t0
        with open(self.out / "log.jsonl" if self.main else os.devnull, "a") as log:
            for batch in loader:
                self.data_wait += time.perf_counter() - wait_start
                stats = train_step(batch, self.step)
                self.step += 1
                window.add(stats)
                self.bar.update(1)
                self.bar.set_postfix(**postfix(stats))
                if self._due(self.cfg.log_every):
                    self.last = window.means()
                    lr = optimizer.param_groups[0]["lr"]
                    record = {"step": self.step, **self.last, "lr": lr, "seconds": self.seconds()}
                    log.write(json.dumps(record) + "\n")
                    log.flush()
                    window = self.window()
                if self.main and self._due(self.cfg.checkpoint_every):
                    save()
                wait_start = time.perf_counter()
        self.bar.close()


#: Model settings an ``--init-checkpoint`` may differ in: the crop fed to the network and the
#: estimator's settings stored at export (``inference_tau``, ``box_layers``), not the weights (a
#: model may be fine-tuned at another crop size or margin; a fine-tuned model's estimator
#: settings are chosen anew).
INPUT_ONLY_SETTINGS = frozenset({"crop_size", "crop_scale", "inference_tau", "box_layers"})


def load_init_weights(model: torch.nn.Module, init: torch.nn.Module, path, *,
                      ignore=frozenset(), ours=None, theirs=None) -> None:  # fmt: skip
    """Copy ``init`` (the model loaded from the checkpoint ``path``) into ``model`` strictly;
    ConfigError naming the difference when their settings (``.config.to_dict()``, or the
    configs ``ours`` / ``theirs`` when the modules are parts without one) differ in anything
    but :data:`INPUT_ONLY_SETTINGS` and ``ignore``."""
    check_init_settings(ours or model.config, theirs or init.config, path, ignore)
    model.load_state_dict(init.state_dict())


def check_init_settings(ours, theirs, path, ignore=frozenset()) -> None:
    """ConfigError naming the difference when the model configs ``ours`` and ``theirs`` (the
    ``--init-checkpoint`` ``path``'s) differ in anything but :data:`INPUT_ONLY_SETTINGS` and
    ``ignore``."""
    ours, theirs = ours.to_dict(), theirs.to_dict()
    skip = INPUT_ONLY_SETTINGS | frozenset(ignore)
    diff = {k: (theirs.get(k), v) for k, v in ours.items()
            if theirs.get(k) != v and k not in skip}  # fmt: skip
    if diff:
        raise ConfigError(f"--init-checkpoint {path} has other model settings (checkpoint, "
                          f"now): {diff}; train with the checkpoint's settings")  # fmt: skip
