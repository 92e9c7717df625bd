"""The trainers' shared run bookkeeping: run folder checks, resume files, log and step loop."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch

from offline_training.train_loop import (
    MeanWindow,
    StepLoop,
    check_new_run,
    load_resume,
    require_positive,
    restore,
    save_resume,
    step_loader,
    torch_threads,
    truncate_log,
    worker_init,
)
from ros_pose_estimation.core.errors import CheckpointError, ConfigError

FMT = "test/resume"


class _Cfg(SimpleNamespace):
    """A trainer config: the loop's settings and two model settings (``seed``, ``dim``)."""

    def __init__(self, **changes) -> None:
        loop = {"steps": 5, "log_every": 2, "checkpoint_every": 3, "progress": False}
        super().__init__(**{**loop, "seed": 0, "dim": 4, **changes})

    def to_dict(self) -> dict:
        return dict(vars(self))


def _log(out) -> list[dict]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def test_settings_below_one_and_an_occupied_run_folder_are_refused(tmp_path):
    require_positive(_Cfg(), ("steps", "log_every"))
    with pytest.raises(ConfigError, match="log_every must be >= 1, got 0"):
        require_positive(_Cfg(log_every=0), ("steps", "log_every"))
    check_new_run(tmp_path / "new", resume=False)
    (tmp_path / "log.jsonl").write_text("")
    check_new_run(tmp_path, resume=True)
    with pytest.raises(ConfigError, match="already holds a training run; resume it"):
        check_new_run(tmp_path, resume=False)


def test_thread_count_is_restored_even_after_an_error():
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError), torch_threads(1):
        assert torch.get_num_threads() == 1
        raise RuntimeError
    assert torch.get_num_threads() == before


def test_workers_run_one_thread_and_the_loader_follows_the_sampler():
    before = torch.get_num_threads()
    try:
        worker_init(0)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    data = torch.arange(10.0)
    batches = [b.tolist() for b in step_loader(data, [[3, 1], [0]], num_workers=0)]
    assert batches == [[3.0, 1.0], [0.0]]


def _model_and_optimizer(seed: int):
    torch.manual_seed(seed)
    model = torch.nn.Linear(4, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    model(torch.ones(1, 4)).sum().backward()
    optimizer.step()  # the optimizer now has state (moments) to save
    return model, optimizer


def test_resume_round_trip_restores_model_optimizer_and_clock(tmp_path):
    model, optimizer = _model_and_optimizer(0)
    path = tmp_path / "resume.pt"
    save_resume(path, FMT, 7, model, optimizer, _Cfg().to_dict(), rng={"x": 1}, seconds=2.5)
    state = load_resume(path, FMT, "Test", _Cfg(), ("seed", "dim"))
    assert state["format_version"] == 1 and state["rng"] == {"x": 1}
    fresh, fresh_opt = _model_and_optimizer(1)
    assert restore(state, fresh, fresh_opt) == (7, 2.5)
    assert torch.equal(fresh.weight, model.weight)
    moments = fresh_opt.state_dict()["state"][0]["exp_avg"]
    assert torch.equal(moments, optimizer.state_dict()["state"][0]["exp_avg"])


def test_resume_refuses_other_settings_formats_and_garbage(tmp_path):
    model, optimizer = _model_and_optimizer(0)
    path = tmp_path / "resume.pt"
    old = {k: v for k, v in _Cfg().to_dict().items() if k != "dim"}  # written before "dim"
    save_resume(path, FMT, 1, model, optimizer, old)
    assert load_resume(path, FMT, "Test", _Cfg(), ("seed", "dim"), {"dim": 4})["step"] == 1
    with pytest.raises(ConfigError, match=r"settings differ \(saved, now\): \{'dim': \(4, 8\)\}"):
        load_resume(path, FMT, "Test", _Cfg(dim=8), ("seed", "dim"), {"dim": 4})
    with pytest.raises(CheckpointError, match="is not a Other trainer resume file"):
        load_resume(path, "other/resume", "Other", _Cfg(), ())
    (tmp_path / "bad.pt").write_bytes(b"not torch")
    with pytest.raises(CheckpointError, match="not a readable torch file .expected a Test"):
        load_resume(tmp_path / "bad.pt", FMT, "Test", _Cfg(), ())


def test_truncate_log_drops_records_after_the_step(tmp_path):
    log = tmp_path / "log.jsonl"
    truncate_log(log, 3)  # no log yet: nothing to do
    assert not log.exists()
    log.write_text("".join(json.dumps({"step": s}) + "\n" for s in (1, 2, 3, 4)) + "\n")
    truncate_log(log, 2)
    assert _log(tmp_path) == [{"step": 1}, {"step": 2}]


def test_mean_window_averages_every_statistic():
    window = MeanWindow()
    window.add({"loss": 1.0, "a": 2.0})
    window.add({"loss": 3.0})
    assert window.means() == {"loss": 2.0, "a": 2.0}


def _run(loop: StepLoop, batches, optimizer):
    seen, saves = [], []

    def train_step(batch, done):
        seen.append((batch, done))
        return {"loss": float(batch)}

    loop.run(batches, train_step, optimizer, lambda: saves.append(loop.step),
             lambda s: {"loss": f"{s['loss']:.1f}"})  # fmt: skip
    return seen, saves


def test_loop_logs_means_and_saves_on_schedule(tmp_path):
    _, optimizer = _model_and_optimizer(0)
    loop = StepLoop(_Cfg(), tmp_path, "test")
    seen, saves = _run(loop, [1, 2, 3, 4, 5], optimizer)
    assert seen == [(1, 0), (2, 1), (3, 2), (4, 3), (5, 4)]
    assert saves == [3, 5] and loop.step == 5 and loop.start == 0
    log = _log(tmp_path)
    assert [(r["step"], r["loss"]) for r in log] == [(2, 1.5), (4, 3.5), (5, 5.0)]
    assert all(r["lr"] == 0.1 and r["seconds"] >= 0 for r in log)
    assert loop.last == {"loss": 5.0} and loop.data_wait >= 0


def test_resumed_loop_continues_steps_and_clock(tmp_path):
    _, optimizer = _model_and_optimizer(0)
    loop = StepLoop(_Cfg(), tmp_path, "test", step=3, seconds_before=100.0)
    seen, saves = _run(loop, [4, 5], optimizer)
    assert [done for _, done in seen] == [3, 4] and saves == [5]
    assert [r["step"] for r in _log(tmp_path)] == [4, 5]
    assert all(r["seconds"] >= 100.0 for r in _log(tmp_path)) and loop.seconds() >= 100.0
    assert loop.start == 3 and loop.wall() < 100.0


def test_other_ranks_neither_log_nor_save(tmp_path):
    _, optimizer = _model_and_optimizer(0)
    loop = StepLoop(_Cfg(), tmp_path, "test", main=False)
    seen, saves = _run(loop, [1, 2, 3, 4, 5], optimizer)
    assert len(seen) == 5 and saves == [] and not (tmp_path / "log.jsonl").exists()
    assert loop.last == {"loss": 5.0}  # the means are still kept (the final report uses them)


def test_init_weights_may_differ_in_the_crop_only():
    """An init checkpoint's weights load into a model with another crop size (input, not
    weights); any other setting that differs is refused, naming it."""
    import pytest as _pytest

    from offline_training.train_loop import load_init_weights
    from ros_pose_estimation.core.errors import ConfigError
    from ros_pose_estimation.cse.model import CseConfig, CseModel

    torch.manual_seed(0)
    init = CseModel(CseConfig("mug", backbone="tiny", crop_size=64, n_vertices=150))
    bigger_crop = CseModel(CseConfig("mug", backbone="tiny", crop_size=96, n_vertices=150))
    load_init_weights(bigger_crop, init, "init.pt")
    for a, b in zip(init.state_dict().values(), bigger_crop.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    other = CseModel(CseConfig("mug", backbone="tiny", crop_size=64, n_vertices=150, dim=32))
    with _pytest.raises(ConfigError, match="other model settings.*'dim'"):
        load_init_weights(other, init, "init.pt")
