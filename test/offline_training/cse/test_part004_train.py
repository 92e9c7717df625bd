"""Paper 004's terms in the CSE trainer: opt-in, logged, trained, the runtime checkpoint
unchanged (the memory stays in resume.pt), resumable."""

import json

import pytest
import torch

from offline_training.cse import losses as L
from offline_training.cse.train import CseTrainConfig, train
from offline_training.cse.train_cli import main
from ros_pose_estimation.cse.checkpoint import load_checkpoint
from ros_pose_estimation.cse.estimator import CseEstimator
from test.offline_training.test_cse_data import cse_root  # noqa: F401  (fixture)

TINY = {"backbone": "tiny", "crop_size": 64, "n_vertices": 150, "batch_size": 2,
        "views_per_layout": 4, "min_visib_fract": 0.3, "num_workers": 0, "num_threads": 1,
        "progress": False, "log_every": 1, "checkpoint_every": 2}  # fmt: skip
PART004 = {"memory": 0.1, "memory_deform": 0.1, "c2f_coarse": 0.01, "c2f_fine": 0.01}
TERMS = set(PART004)


def _log(out) -> list[dict]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def test_off_by_default():
    assert all(L.DEFAULT_WEIGHTS[k] == 0.0 for k in TERMS)


@pytest.fixture(scope="module")
def run(cse_root, tmp_path_factory):  # noqa: F811
    out = tmp_path_factory.mktemp("part004") / "mug"
    cfg = CseTrainConfig(data=str(cse_root), category="mug", out=str(out), steps=4, lr=1e-3,
                         weights={**L.DEFAULT_WEIGHTS, **PART004}, memory_codes=8,
                         **TINY)  # fmt: skip
    return cfg, out, train(cfg)


def test_terms_are_logged_and_finite(run):
    log = _log(run[1])
    assert len(log) == 4 and TERMS <= set(log[0])
    for record in log:
        assert all(record[k] is not None and record[k] >= 0 for k in TERMS), record
    assert log[0]["c2f_coarse"] > 0 and log[0]["memory"] > 0


def test_runtime_checkpoint_is_unchanged_and_memory_is_resumable(run, cse_root):  # noqa: F811
    cfg, out, final = run
    model, _ = load_checkpoint(final, category="mug")  # strict: no memory keys
    assert not any("memory" in k or "quantizer" in k for k in model.state_dict())
    assert CseEstimator({"mug": model}).categories == ["mug"]
    state = torch.load(out / "resume.pt", weights_only=True)
    assert "quantizer.codes" in state["memory"] and bool(state["memory"]["quantizer.started"])
    more = CseTrainConfig(**{**cfg.__dict__, "steps": 4, "resume": True})
    assert train(more) == final  # nothing left to do: resumes at step 4 with the memory


def test_cli_turns_the_terms_on(cse_root, tmp_path):  # noqa: F811
    out = tmp_path / "cli"
    args = ["--data", str(cse_root), "--category", "mug", "--out", str(out), "--steps", "1",
            "--backbone", "tiny", "--crop-size", "64", "--n-vertices", "150", "--batch-size",
            "2", "--views-per-layout", "4", "--num-workers", "0", "--num-threads", "1",
            "--no-progress", "--log-every", "1", "--memory-codes", "4", "--c2f-pool", "4",
            "--weight", "memory=0.1", "--weight", "c2f_fine=0.01"]  # fmt: skip
    assert main(args) == 0
    record = _log(out)[0]
    assert "memory" in record and "c2f_fine" in record
    saved = json.loads(json.dumps(torch.load(out / "mug.pt", weights_only=True)["meta"]))
    assert saved["train_config"]["memory_codes"] == 4 and saved["train_config"]["c2f_pool"] == 4
