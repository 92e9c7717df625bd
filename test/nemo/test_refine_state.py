"""The per-row bookkeeping shared by the Adam and Levenberg-Marquardt refinements."""

from __future__ import annotations

import math

import pytest
import torch

from ros_pose_estimation.core.errors import InputError
from ros_pose_estimation.nemo.pose_param import compose_pose
from ros_pose_estimation.nemo.presets import StoppingRules
from ros_pose_estimation.nemo.refine_state import RowBatch, RowProgress
from ros_pose_estimation.nemo.scoring import Observation


def _obs(b: int) -> Observation:
    K = torch.tensor([[40.0, 0, 7.5], [0, 40.0, 7.5], [0, 0, 1.0]]).repeat(b, 1, 1)
    obs = Observation(torch.zeros(b, 4, 16, 16), torch.zeros(b, 16, 16), K,
                      torch.full((b, 2), 7.5), torch.full((b,), 10.0))  # fmt: skip
    obs.log_d_range = torch.tensor([[-1.0, 0.0]]).repeat(b, 1)
    return obs


def _batch(b=2, k=3) -> RowBatch:
    x0 = torch.randn(b, k, 6, generator=torch.Generator().manual_seed(0))
    return RowBatch(_obs(b), x0, torch.eye(3).repeat(b, k, 1, 1), max_offset=0.5)


def test_row_batch_owner_bounds_pose_and_errors():
    batch = _batch()
    assert batch.n == 6 and batch.owner.tolist() == [0, 0, 0, 1, 1, 1]
    clamped = batch.clamp(torch.full((6, 6), 9.0), torch.arange(6))
    assert torch.all(clamped[:, 4:] == 0.5) and torch.all(clamped[:, 3] == 0.0)
    assert torch.all(clamped[:, :3] == 9.0)
    rows = torch.tensor([4, 1])
    R, t = batch.pose(batch.x0[rows].double(), rows)
    obs = _obs(2)
    R_want, t_want = compose_pose(batch.x0[rows], torch.eye(3).repeat(2, 1, 1), obs.K[[1, 0]],
                                  obs.anchor[[1, 0]], obs.offset_unit[[1, 0]])  # fmt: skip
    assert R.dtype == torch.float64
    torch.testing.assert_close(R.float(), R_want)
    torch.testing.assert_close(t.float(), t_want)
    with pytest.raises(InputError, match="x0: expected 2 detections"):
        RowBatch(_obs(2), torch.zeros(3, 1, 6), torch.eye(3).repeat(3, 1, 1, 1))
    with pytest.raises(InputError, match="base_rotation"):
        RowBatch(_obs(2), torch.zeros(2, 1, 6), torch.eye(3).repeat(2, 2, 1, 1))


def test_progress_keeps_the_best():
    batch = _batch(1, 2)
    track = RowProgress(batch, StoppingRules(steps=5, tol=0.01, prune_after=0))
    rows = torch.arange(2)
    x = torch.ones(2, 6)
    better = track.record(0, rows, torch.tensor([0.5, 0.6]), torch.tensor([0.9, 0.8]), x)
    assert better.tolist() == [True, True] and track.calm.tolist() == [0, 0]
    better = track.record(2, rows, torch.tensor([0.495, 0.7]), torch.ones(2), 3 * x)
    assert better.tolist() == [True, False]
    assert track.calm.tolist() == [1, 1]  # 0.005 is below tol: no real improvement
    assert torch.equal(track.best_x[0], 3 * x[0]) and torch.equal(track.best_x[1], x[1])
    assert track.history[2].tolist() == pytest.approx([0.495, 0.7])
    assert math.isnan(float(track.history[1, 0])) and math.isnan(float(track.history[3, 0]))


def test_progress_stops_settled_rows_and_prunes_behind_ones():
    batch = _batch(1, 3)
    schedule = StoppingRules(steps=10, tol=0.0, patience=1, min_steps=2, prune_after=1,
                             prune_margin=0.05)  # fmt: skip
    track = RowProgress(batch, schedule)
    rows = torch.arange(3)
    track.record(0, rows, torch.tensor([0.2, 0.22, 0.4]), torch.zeros(3), batch.x0)
    rows = track.advance(0, rows)
    assert rows.tolist() == [0, 1]  # the third is more than 0.05 behind: pruned after 1 step
    track.record(1, rows, torch.tensor([0.2, 0.1]), torch.zeros(2), batch.x0[rows])
    rows = track.advance(1, rows)
    assert rows.tolist() == [1]  # the first did not improve after 2 steps: settled
    res = track.result()
    assert res.steps.tolist() == [[2, 2, 1]] and res.converged.tolist() == [[True, False, False]]
    assert res.loss[0].tolist() == pytest.approx([0.2, 0.1, 0.4]) and res.best.tolist() == [1]
