"""Per-stage timing of one estimator call, waiting for the device (torch).

Shared by :mod:`..nemo.estimator` and :mod:`..cse.estimator`, which both time their stages over
the whole call and stamp the milliseconds and the batch size on every estimate
(:class:`FrameTimer`). Their grouping of the detections per category is numpy-only, with the
estimator contract (:func:`ros_pose_estimation.core.estimation.group_by_category`,
:func:`~ros_pose_estimation.core.estimation.place_estimates`).

What the stages are, and what each estimator does per group, stays with the estimator.
Pure core: no rclpy.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch

from ros_pose_estimation.core.errors import ConfigError


def sync_device(device: torch.device) -> None:
    """Wait for the queued CUDA work on ``device`` (a no-op elsewhere), so that a
    ``time.perf_counter()`` read after it includes that work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class FrameTimer:
    """Seconds spent in the named ``stages`` of one estimator call, reported in milliseconds.

    Created at the start of the timed part (after waiting for ``device``); the estimator adds
    to :attr:`seconds` as it goes (``timer.seconds["crop"] += ...``); :meth:`stamp` sets
    ``"total"`` (start to now, after waiting for ``device`` again) and writes the timings on the
    estimates.

    Args:
        stages: the timing keys, ``"total"`` among them; all start at 0.
        device: where the estimator's tensors live (CUDA work is waited for at both ends).

    Raises:
        ConfigError: ``stages`` without ``"total"``.
    """

    def __init__(self, stages: Sequence[str], device: torch.device) -> None:
        if "total" not in stages:
            raise ConfigError(f"stages: expected 'total' among them, got {list(stages)}")
        self.device = device
        self.seconds: dict[str, float] = dict.fromkeys(stages, 0.0)
        sync_device(device)
        self.start = time.perf_counter()

    def elapsed(self) -> float:
        """Seconds since the timer started (no device wait)."""
        return time.perf_counter() - self.start

    def stamp(self, estimates: list) -> list:
        """Set ``"total"``, then give every estimate that is not None ``timings`` (a copy of the
        stages in milliseconds, the same for all: the whole call's, not the detection's share)
        and ``batch = len(estimates)`` (the detections of the call). Returns ``estimates``."""
        sync_device(self.device)
        self.seconds["total"] = self.elapsed()
        ms = {key: 1e3 * value for key, value in self.seconds.items()}
        for est in estimates:
            if est is not None:
                est.timings = dict(ms)
                est.batch = len(estimates)
        return estimates
