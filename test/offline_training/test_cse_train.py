"""CSE trainer: a tiny model's loss falls, checkpoints load into the estimator, CLI errors."""

import json

import numpy as np
import pytest
import torch

from offline_training.cse.train import CseTrainConfig, train
from offline_training.cse.train_cli import main
from ros_pose_estimation.cse.checkpoint import load_checkpoint
from ros_pose_estimation.cse.estimator import CseEstimator
from test.offline_training.test_cse_data import cse_root  # noqa: F401  (fixture)

TINY = {"backbone": "tiny", "crop_size": 64, "n_vertices": 150, "batch_size": 2,
        "views_per_layout": 4, "min_visib_fract": 0.3, "num_workers": 0, "num_threads": 1,
        "progress": False}  # fmt: skip
TINY_CLI = ("--backbone tiny --crop-size 64 --n-vertices 150 --batch-size 2 --views-per-layout 4 "
            "--num-workers 0 --num-threads 1 --no-progress").split()  # fmt: skip


def _log(out) -> list[dict]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def trained(cse_root, tmp_path_factory):  # noqa: F811
    out = tmp_path_factory.mktemp("cse_run") / "bottle"
    cfg = CseTrainConfig(data=str(cse_root), category="bottle", out=str(out), steps=30,
                         lr=2e-3, log_every=1, checkpoint_every=10, **TINY)  # fmt: skip
    return out, train(cfg)


def test_loss_falls_on_a_tiny_model(trained):
    log = _log(trained[0])
    assert [r["step"] for r in log] == list(range(1, 31))
    terms = {"cycle_2d3d", "cycle_3d2d", "mask", "depth", "texture", "time", "aux", "deform",
             "laplacian", "symmetry", "loss", "lr", "seconds"}  # fmt: skip
    assert terms <= set(log[0]) and "supervised" not in log[0]
    first = sum(r["loss"] for r in log[:5]) / 5
    last = sum(r["loss"] for r in log[-5:]) / 5
    assert last < 0.8 * first, (first, last)


def test_checkpoint_loads_into_the_estimator(trained):
    model, meta = load_checkpoint(trained[1], category="bottle")
    assert meta["step"] == 30 and meta["supervised"] is False
    assert CseEstimator({"bottle": model}).categories == ["bottle"]
    assert (trained[0] / "last.pt").exists() and (trained[0] / "resume.pt").exists()


def test_supervised_switch_adds_the_labelled_term(cse_root, tmp_path):  # noqa: F811
    out = tmp_path / "sup"
    assert main(["--data", str(cse_root), "--category", "mug", "--out", str(out), "--steps",
                 "2", "--supervised", "--log-every", "1", *TINY_CLI]) == 0  # fmt: skip
    assert "supervised" in _log(out)[0] and "supervised_ce" not in _log(out)[0]
    out = tmp_path / "sup_ce"
    assert main(["--data", str(cse_root), "--category", "mug", "--out", str(out), "--steps",
                 "2", "--supervised", "--weight", "supervised_ce=0.1", "--log-every", "1",
                 *TINY_CLI]) == 0  # fmt: skip
    assert _log(out)[0]["supervised_ce"] > 0


def test_photometric_switch_reaches_the_training_config(cse_root, tmp_path):  # noqa: F811
    out = tmp_path / "look"
    assert main(["--data", str(cse_root), "--category", "mug", "--out", str(out), "--steps",
                 "2", "--supervised", "--photometric", "--deform-lr-scale", "1.0",
                 "--p-occlude", "0.5", *TINY_CLI]) == 0  # fmt: skip
    _, meta = load_checkpoint(out / "mug.pt", category="mug")
    assert meta["train_config"]["photometric"] is True
    assert meta["train_config"]["p_occlude"] == 0.5
    assert meta["train_config"]["deform_lr_scale"] == 1.0


def test_an_occluder_probability_outside_0_1_is_refused(cse_root, tmp_path, capsys):  # noqa: F811
    assert main(["--data", str(cse_root), "--category", "mug", "--out", str(tmp_path / "o"),
                 "--steps", "2", "--p-occlude", "1.5", *TINY_CLI]) == 2  # fmt: skip
    assert "p_occlude" in capsys.readouterr().err


def test_bad_weights_exit_2_naming_the_item(cse_root, tmp_path, capsys):  # noqa: F811
    base = ["--data", str(cse_root), "--category", "mug", "--steps", "2", *TINY_CLI]
    assert main([*base, "--out", str(tmp_path / "a"), "--weight", "supervised_ce"]) == 2
    assert "TERM=NUMBER" in capsys.readouterr().err
    assert main([*base, "--out", str(tmp_path / "b"), "--weight", "nonsense=1"]) == 2
    assert "unknown loss weights" in capsys.readouterr().err


def test_cli_errors_exit_2(cse_root, trained, tmp_path, capsys):  # noqa: F811
    base = ["--data", str(cse_root), "--steps", "2", *TINY_CLI]
    assert main([*base, "--category", "teapot", "--out", str(tmp_path / "a")]) == 2
    assert "unknown category" in capsys.readouterr().err
    assert main([*base, "--category", "bottle", "--out", str(trained[0])]) == 2
    assert "already holds a training run" in capsys.readouterr().err
    assert main([*base, "--category", "bottle", "--out", str(trained[0]), "--resume"]) == 2
    assert "settings differ" in capsys.readouterr().err
    assert main([*base, "--category", "camera", "--out", str(tmp_path / "c")]) == 2
    assert "no track of camera" in capsys.readouterr().err


def test_init_checkpoint_starts_from_its_weights_and_refuses_other_settings(
    cse_root, trained, tmp_path, capsys  # noqa: F811
):
    from ros_pose_estimation.core.view_correction import ViewCorrection
    from ros_pose_estimation.cse.checkpoint import load_checkpoint as load_cse
    from ros_pose_estimation.cse.checkpoint import save_checkpoint as save_cse

    start = tmp_path / "start.pt"  # a trained bottle model of TINY_CLI's settings, calibrated
    model, meta = load_cse(trained[1])
    views = np.concatenate([np.eye(3), -np.eye(3)])
    model.view_correction = ViewCorrection("bottle", views, 0.01 * views, 0.3)
    save_cse(start, model, meta)
    out = tmp_path / "ft"
    base = ["--data", str(cse_root), "--category", "bottle", "--steps", "1", *TINY_CLI]
    assert main([*base, "--out", str(out), "--init-checkpoint", str(start), "--lr", "0"]) == 0
    assert "fine-tuning" in capsys.readouterr().out
    before, after = load_cse(start)[0], load_cse(out / "bottle.pt")[0]
    assert after.view_correction is None  # fitted to the old weights: not carried over
    after_state = after.state_dict()
    for name, a in before.state_dict().items():
        b = after_state[name]
        if "running" not in name and "num_batches" not in name:  # batch-norm statistics move
            assert torch.equal(a, b), name  # lr 0: the weights are the checkpoint's
    assert main([*base, "--out", str(tmp_path / "x"), "--init-checkpoint", str(start),
                 "--n-vertices", "120"]) == 2  # fmt: skip
    assert "other model settings" in capsys.readouterr().err
    assert main([*base, "--out", str(tmp_path / "y"), "--init-checkpoint", "nope.pt"]) == 2
    assert "does not exist" in capsys.readouterr().err
    # one scale or one per axis changes the labels and the solver, not the network
    axes = tmp_path / "axes"
    assert main([*base, "--out", str(axes), "--init-checkpoint", str(start), "--supervised",
                 "--per-axis-scale"]) == 0  # fmt: skip
    assert load_cse(axes / "bottle.pt")[0].config.per_axis_scale


def test_per_axis_scale_trains_on_stretched_labels_without_the_template_terms(
    cse_root, tmp_path, capsys  # noqa: F811
):
    out = tmp_path / "axes"
    base = ["--data", str(cse_root), "--category", "mug", "--steps", "2", "--log-every", "1",
            *TINY_CLI]  # fmt: skip
    assert main([*base, "--out", str(out), "--supervised", "--per-axis-scale"]) == 0
    row = _log(out)[0]
    assert row["supervised"] > 0 and "time" in row
    assert not {"mask", "depth", "texture", "cycle_2d3d", "deform"} & set(row)
    model, meta = load_checkpoint(out / "mug.pt", category="mug")
    assert model.config.per_axis_scale and meta["train_config"]["per_axis_scale"] is True
    offsets, vertices = model.deformed(torch.randn(2, model.config.code_dim))
    assert not offsets.any() and torch.equal(vertices[1], model.template)
    assert main([*base, "--out", str(tmp_path / "nolabels"), "--per-axis-scale"]) == 2
    assert "needs supervised" in capsys.readouterr().err
