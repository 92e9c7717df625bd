"""Per-stage timing of one estimator call (core.batching); the grouping per category is
tested with the estimator contract (test/core/test_estimation.py)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pytest
import torch

from ros_pose_estimation.core.batching import FrameTimer
from ros_pose_estimation.core.errors import ConfigError


@dataclass
class _Est:
    category: str
    timings: dict = field(default_factory=dict)
    batch: int = 1


def test_stamp_writes_milliseconds_and_batch_on_every_estimate():
    timer = FrameTimer(("crop", "solve", "total"), torch.device("cpu"))
    timer.seconds["crop"] += 0.002
    time.sleep(0.01)
    estimates = [_Est("mug"), None, _Est("mug")]
    assert timer.stamp(estimates) is estimates
    first, _, last = estimates
    assert set(first.timings) == {"crop", "solve", "total"}
    assert first.timings["crop"] == pytest.approx(2.0)
    assert first.timings["solve"] == 0.0
    assert first.timings["total"] >= 10.0
    assert first.timings == last.timings and first.timings is not last.timings
    assert first.batch == last.batch == 3


def test_stages_without_total_are_refused():
    with pytest.raises(ConfigError, match=r"stages: expected 'total' among them, got \['crop'\]"):
        FrameTimer(("crop",), torch.device("cpu"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_timer_waits_for_cuda_work():
    device = torch.device("cuda")
    timer = FrameTimer(("total",), device)
    a = torch.randn(2048, 2048, device=device)
    for _ in range(20):
        a = a @ a / 2048
    (est,) = timer.stamp([_Est("mug")])
    assert est.timings["total"] > 0 and est.batch == 1
