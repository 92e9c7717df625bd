"""Per-category batching and per-stage timing of one estimator call (core.batching)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pytest
import torch

from ros_pose_estimation.core.batching import FrameTimer, group_by_category, place_estimates
from ros_pose_estimation.core.errors import ConfigError


@dataclass
class _Det:
    category: str


@dataclass
class _Est:
    category: str
    timings: dict = field(default_factory=dict)
    batch: int = 1


def test_groups_keep_first_seen_category_order_and_increasing_indices():
    groups = group_by_category(["mug", "bottle", "mug", "laptop", "bottle", "mug"])
    assert list(groups.items()) == [("mug", [0, 2, 5]), ("bottle", [1, 4]), ("laptop", [3])]
    assert group_by_category([]) == {}


def test_estimates_go_back_to_their_detections_places_in_the_callers_spelling():
    dets = [_Det("Mug"), _Det("bottle"), _Det("MUG")]
    results: list = [None] * 3
    for name, ids in group_by_category(["mug", "bottle", "mug"]).items():
        place_estimates(results, ids, [_Est(name) for _ in ids], dets)
    assert [r.category for r in results] == ["Mug", "bottle", "MUG"]


def test_a_failed_detection_stays_none_and_a_length_mismatch_is_refused():
    results: list = [None] * 2
    place_estimates(results, [0, 1], [None, _Est("mug")], [_Det("mug"), _Det("Mug")])
    assert results[0] is None and results[1].category == "Mug"
    with pytest.raises(ValueError):
        place_estimates([None] * 2, [0, 1], [_Est("mug")], [_Det("mug"), _Det("mug")])


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
