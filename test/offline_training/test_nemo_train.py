"""NeMo trainer: the loss falls, checkpoints load, resume is exact, CLI errors exit 2."""

import json
import re

import numpy as np
import pytest
import torch

import offline_training.nemo.train as train_mod
from offline_training.nemo.pose_margin import instance_stretch
from offline_training.nemo.train import train
from offline_training.nemo.train_cli import main
from offline_training.nemo.train_config import TrainConfig
from offline_training.nemo.train_step import (
    lr_factor,
    make_optimizer,
    visible_vertices,
)
from offline_training.synthetic.dataset import DatasetConfig, generate_dataset
from ros_pose_estimation.core.errors import ConfigError
from ros_pose_estimation.core.mesh import TriMesh
from ros_pose_estimation.core.rotations import axis_rotation
from ros_pose_estimation.core.view_correction import ViewCorrection
from ros_pose_estimation.nemo.checkpoint import load_checkpoint, save_checkpoint
from ros_pose_estimation.nemo.model import NemoModel
from ros_pose_estimation.nemo.neural_mesh import NeuralMesh, cuboid_mesh

TINY = {"backbone": "tiny", "dim": 16, "crop_size": 64, "n_vertices": 200, "n_clutter": 64,
        "batch_size": 4, "num_workers": 0, "num_threads": 1, "progress": False}  # fmt: skip
TINY_CLI = "--backbone tiny --dim 16 --crop-size 64 --n-vertices 200 --batch-size 2 \
--num-workers 0 --num-threads 1 --no-progress".split()


@pytest.fixture(scope="session")
def bop_root(tmp_path_factory):
    """6 images (96 x 72) of mugs and bottles, 2 instances each (shared by the NeMo tests)."""
    root = tmp_path_factory.getbasetemp() / "nemo_bop"
    if not (root / "train").exists():
        cfg = DatasetConfig(["mug", "bottle"], root, images=6, width=96, height=72, instances=2)
        generate_dataset(cfg, progress=False)
    return root


def _cfg(root, out, **kw) -> TrainConfig:
    return TrainConfig(data=str(root), category="mug", out=str(out), **{**TINY, **kw})


def _log(out) -> list[dict]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def trained(bop_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "mug"
    path = train(_cfg(bop_root, out, steps=30, lr=1e-3, log_every=1, checkpoint_every=10))
    return out, path


def test_loss_falls_on_a_tiny_model(trained):
    log = _log(trained[0])
    assert [r["step"] for r in log] == list(range(1, 31))
    assert {"loss", "loss_fg", "loss_bg", "accuracy", "lr", "seconds"} <= set(log[0])
    first = sum(r["loss"] for r in log[:5]) / 5
    last = sum(r["loss"] for r in log[-5:]) / 5
    assert last < 0.7 * first, (first, last)
    assert sum(r["accuracy"] for r in log[-5:]) > sum(r["accuracy"] for r in log[:5])


def test_checkpoints_load(trained, bop_root):
    out, path = trained
    assert path == out / "mug.pt" and (out / "last.pt").exists()
    model, meta = load_checkpoint(path, "mug")
    assert meta["step"] == 30 and meta["images_seen"] == 120 and meta["train_config"]["seed"] == 0
    assert model.config.dim == 16 and model.mesh.n_vertices == len(model.mesh.features)
    state = torch.load(out / "resume.pt", weights_only=True)
    assert state["step"] == 30 and "optimizer" in state and "numpy" in state["rng"]
    with pytest.raises(ConfigError, match="already holds"):
        train(_cfg(bop_root, out, steps=31))
    with pytest.raises(ConfigError, match="dim"):
        train(_cfg(bop_root, out, steps=31, dim=8, resume=True))


def test_fine_tuning_starts_from_the_checkpoint_and_records_its_lineage(trained, bop_root,
                                                                        tmp_path):
    _, start = trained
    first, first_meta = load_checkpoint(start, "mug")
    path = train(_cfg(bop_root, tmp_path / "ft", steps=1, init_checkpoint=str(start), lr=1e-12))
    tuned, meta = load_checkpoint(path, "mug")
    for name, value in first.feature_net.state_dict().items():  # lr ~0: the start's weights
        if value.is_floating_point() and "running" not in name:
            torch.testing.assert_close(tuned.feature_net.state_dict()[name], value)
    assert meta["backbone_init"] == f"{first_meta['backbone_init']}; fine-tuning {start}"


def test_a_finer_stride_fine_tunes_from_a_stride_8_checkpoint(trained, bop_root, tmp_path):
    _, start = trained
    first, _ = load_checkpoint(start, "mug")
    path = train(_cfg(bop_root, tmp_path / "s4", steps=1, init_checkpoint=str(start), lr=1e-12,
                      stride=4))  # fmt: skip
    tuned, _ = load_checkpoint(path, "mug")
    assert tuned.config.stride == 4 and first.config.stride == 8
    torch.testing.assert_close(tuned.mesh.vertices, first.mesh.vertices)
    torch.testing.assert_close(tuned.feature_net.head.weight, first.feature_net.head.weight)
    with pytest.raises(ConfigError, match="stride"):  # never coarser than the checkpoint
        train(_cfg(bop_root, tmp_path / "s16", steps=1, init_checkpoint=str(path), stride=8))


def test_fine_tuning_leaves_the_start_models_view_correction_behind(trained, bop_root,
                                                                     tmp_path):
    _, start = trained
    model, meta = load_checkpoint(start, "mug")
    views = np.eye(3)
    model.view_correction = ViewCorrection("mug", views, 0.01 * views, 0.2)
    calibrated = save_checkpoint(tmp_path / "calibrated.pt", model, meta)
    path = train(_cfg(bop_root, tmp_path / "ft", steps=1, init_checkpoint=str(calibrated)))
    tuned, tuned_meta = load_checkpoint(path, "mug")
    assert tuned.view_correction is None  # fitted to weights that training changed
    assert "view correction is not carried over" in tuned_meta["backbone_init"]


def test_resume_reproduces_the_uninterrupted_run(bop_root, tmp_path, monkeypatch, capsys):
    kw = {"steps": 6, "log_every": 1, "checkpoint_every": 3, "seed": 5}
    whole = train(_cfg(bop_root, tmp_path / "a", **kw))

    calls, step = {"n": 0}, train_mod.train_step

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:  # dies during step 5: resume.pt holds step 3, the log step 4
            raise KeyboardInterrupt
        return step(*args, **kwargs)

    monkeypatch.setattr(train_mod, "train_step", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(_cfg(bop_root, tmp_path / "b", **kw))
    monkeypatch.setattr(train_mod, "train_step", step)
    assert [r["step"] for r in _log(tmp_path / "b")] == [1, 2, 3, 4]
    resumed = train(_cfg(bop_root, tmp_path / "b", resume=True, **kw))
    assert "resuming" in capsys.readouterr().out
    a, b = _log(tmp_path / "a"), _log(tmp_path / "b")
    assert [r["step"] for r in b] == list(range(1, 7))
    for ra, rb in zip(a, b, strict=True):
        assert (ra["loss"], ra["accuracy"], ra["loss_bg"]) == (rb["loss"], rb["accuracy"],
                                                                rb["loss_bg"])  # fmt: skip
    sa, sb = torch.load(whole, weights_only=True), torch.load(resumed, weights_only=True)
    for part in ("feature_net", "neural_mesh"):
        for k, v in sa[part].items():
            assert torch.equal(v, sb[part][k]), k


def test_visibility_needs_facing_inside_and_on_mask():
    mesh = NeuralMesh(cuboid_mesh([0.1, 0.1, 0.1], 100), dim=4, n_clutter=0)
    K = torch.tensor([[[64.0, 0, 31.5], [0, 64.0, 31.5], [0, 0, 1]]])
    R, t = axis_rotation("y", torch.tensor([0.3])).float(), torch.tensor([[0.0, 0.0, 0.5]])
    full = torch.ones(1, 64, 64, dtype=torch.bool)
    uv, vis = visible_vertices(mesh, R, t, K, full)
    assert torch.equal(vis, mesh.facing_camera(R, t)) and 0 < vis.sum() < mesh.n_vertices
    left = full.clone()
    left[:, :, 32:] = False  # right half occluded
    _, vis_left = visible_vertices(mesh, R, t, K, left)
    assert torch.equal(vis_left, vis & (uv[..., 0] < 31.5))
    _, vis_margin = visible_vertices(mesh, R, t, K, left, margin_px=4)
    assert torch.equal(vis_margin, vis & (uv[..., 0] < 35.5))
    _, none = visible_vertices(mesh, R, t, K, torch.zeros_like(full))
    assert not none.any()


def test_a_stretched_mesh_projects_like_the_instance_and_faces_the_camera_like_it():
    mesh = NeuralMesh(cuboid_mesh([0.2, 0.1, 0.1], 200), dim=4, n_clutter=0)
    size = torch.tensor([[0.1, 0.05, 0.15]])  # another instance: flat in y, tall in z
    stretch = instance_stretch(mesh, size, margin=0.05)
    scaled = (mesh.vertices * stretch).numpy()
    np.testing.assert_allclose(scaled.max(0) - scaled.min(0), size[0] * 1.05, rtol=1e-5)
    own = NeuralMesh(TriMesh(scaled, mesh.faces.numpy()), dim=4, n_clutter=0)
    K = torch.tensor([[[64.0, 0, 31.5], [0, 64.0, 31.5], [0, 0, 1]]])
    R, t = axis_rotation("y", torch.tensor([0.7])).float(), torch.tensor([[0.0, 0.0, 0.5]])
    uv, _ = mesh.project(R, t, K, stretch)
    torch.testing.assert_close(uv, own.project(R, t, K)[0])
    assert torch.equal(mesh.facing_camera(R, t, stretch), own.facing_camera(R, t))
    _, vis = visible_vertices(mesh, R, t, K, torch.ones(1, 64, 64, dtype=torch.bool),
                              stretch=stretch)  # fmt: skip
    assert torch.equal(vis, own.facing_camera(R, t))
    with pytest.raises(ConfigError, match="convex"):
        visible_vertices(mesh, R, t, K, torch.ones(1, 64, 64, dtype=torch.bool), occlusion=True,
                         stretch=stretch)  # fmt: skip


def test_per_axis_scale_trains_and_is_kept_in_the_checkpoint(trained, bop_root, tmp_path):
    _, start = trained
    path = train(_cfg(bop_root, tmp_path / "pax", steps=3, per_axis_scale=True,
                      init_checkpoint=str(start)))  # fmt: skip
    model, meta = load_checkpoint(path, "mug")
    assert model.config.per_axis_scale and meta["train_config"]["per_axis_scale"]
    # fine-tuning it (pose-train, adaptation) keeps the mesh fitted to each instance
    again = train(_cfg(bop_root, tmp_path / "again", steps=1, init_checkpoint=str(path)))
    model, meta = load_checkpoint(again, "mug")
    assert model.config.per_axis_scale and "per_axis_scale kept" in meta["backbone_init"]
    # the pose margin renders each crop's instance (its turns too)
    margin = train(_cfg(bop_root, tmp_path / "margin", steps=2, per_axis_scale=True,
                        pose_margin_weight=1.0, pose_margin_poses=1,
                        pose_margin_turns=(90.0, 180.0)))  # fmt: skip
    rows = [json.loads(r) for r in (margin.parent / "log.jsonl").read_text().splitlines()]
    assert rows and all(0.0 <= r["margin_turn_win"] <= 1.0 for r in rows)


def test_per_axis_scale_refuses_a_posed_views_dataset(trained, bop_root, tmp_path):
    """A posed-views dataset (diffusion.views_dataset) sizes every instance as a cube in its own
    frame: fitting the mesh to it would stretch the cuboid to a cube, so it is refused, whether
    per_axis_scale is asked for or kept from the init checkpoint; a plain training takes it."""
    import shutil

    from offline_training.diffusion.views_dataset import INSTANCES_FILE

    views = tmp_path / "views"
    shutil.copytree(bop_root, views)
    (views / INSTANCES_FILE).write_text("{}")
    _, start = trained
    with pytest.raises(ConfigError, match="posed-views dataset"):
        train(_cfg(views, tmp_path / "a", steps=1, per_axis_scale=True))
    pax = train(_cfg(bop_root, tmp_path / "pax", steps=1, per_axis_scale=True))
    with pytest.raises(ConfigError, match="kept from --init-checkpoint"):
        train(_cfg(views, tmp_path / "b", steps=1, init_checkpoint=str(pax)))
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    train(_cfg(views, tmp_path / "c", steps=1, init_checkpoint=str(start)))


def test_occlusion_hides_what_the_template_hides_behind_itself():
    """A non-convex (template) mesh: the depth test drops vertices that face the camera but lie
    behind the mug itself (the handle seen from the far side, the inner wall), never adds any."""
    mesh = NeuralMesh.for_category("mug", kind="template", dim=4, n_clutter=0, n_vertices=400)
    K = torch.tensor([[[128.0, 0, 63.5], [0, 128.0, 63.5], [0, 0, 1]]])
    # camera looking along model +x (the handle points away from it), slightly from above
    c, s = 0.98, (1 - 0.98**2) ** 0.5  # rows: the camera's x, y, z axes in the model frame
    R = torch.tensor([[[0.0, -1.0, 0.0], [-s, 0.0, -c], [c, 0.0, -s]]])
    t = torch.tensor([[0.0, 0.0, 0.5]])
    full = torch.ones(1, 128, 128, dtype=torch.bool)
    _, facing = visible_vertices(mesh, R, t, K, full)
    _, seen = visible_vertices(mesh, R, t, K, full, occlusion=True)
    assert not (seen & ~facing).any()
    assert 0 < seen.sum() < facing.sum()
    handle = mesh.vertices[:, 0] > 0.045  # beyond the body: the handle, behind the mug here
    assert (facing[0] & handle).any() and not (seen[0] & handle).any()


def test_a_new_neural_mesh_on_the_checkpoints_feature_net(trained, bop_root, tmp_path):
    """init_feature_net_only: the feature net comes from the checkpoint (lr ~0: unchanged), the
    neural mesh is new (another kind); without the flag the mesh settings must match; feature
    net settings must match either way."""
    _, start = trained
    first, _ = load_checkpoint(start, "mug")
    path = train(_cfg(bop_root, tmp_path / "tmpl", steps=1, init_checkpoint=str(start),
                      init_feature_net_only=True, mesh_kind="template", lr=1e-12))  # fmt: skip
    tuned, _ = load_checkpoint(path, "mug")
    assert tuned.config.mesh_kind == "template" and first.config.mesh_kind == "cuboid"
    for name, value in first.feature_net.state_dict().items():
        if value.is_floating_point() and "running" not in name:
            torch.testing.assert_close(tuned.feature_net.state_dict()[name], value)
    with pytest.raises(ConfigError, match="mesh_kind"):
        train(_cfg(bop_root, tmp_path / "a", steps=1, init_checkpoint=str(start),
                   mesh_kind="template"))  # fmt: skip
    with pytest.raises(ConfigError, match="dim"):
        train(_cfg(bop_root, tmp_path / "b", steps=1, init_checkpoint=str(start),
                   init_feature_net_only=True, dim=8))  # fmt: skip


def test_cli_trains_and_reports_errors_with_exit_code_2(bop_root, tmp_path, capsys):
    args = ["--data", str(bop_root), "--steps", "2", *TINY_CLI]
    fresh = [*args, "--out", str(tmp_path / "fresh")]
    assert main([*args, "--out", str(tmp_path / "cli"), "--category", "mug"]) == 0
    assert (tmp_path / "cli/mug.pt").exists() and "trained mug" in capsys.readouterr().out
    cases = {
        "unknown category 'teapot'; registered: ": [*fresh, "--category", "teapot"],
        "does not exist": ["--data", str(tmp_path / "nope"), "--category", "mug", "--out", "x"],
        "no split 'val'": [*fresh, "--category", "mug", "--split", "val"],
        "the split has bottle: \\d+, mug: \\d+": [*fresh, "--category", "laptop"],
        "already holds a training run": [*args, "--out", f"{tmp_path}/cli", "--category", "mug"],
        "neighbour_fraction must be in \\[0, 1\\)": [*fresh, "--category", "mug",
                                                   "--neighbour-fraction", "-0.1"],
        "max_rotation_deg in \\[0, 90\\]": [*fresh, "--category", "mug", "--max-rotation",
                                             "120"],
        "give one or the other": [*fresh, "--category", "mug", "--no-augment",
                                  "--p-rotate", "0.5"],
        "p_occlude must be in \\[0, 1\\]": [*fresh, "--category", "mug", "--p-occlude", "2"],
    }
    for message, argv in cases.items():
        assert main(argv) == 2, message
        err = capsys.readouterr().err
        assert err.startswith("train-nemo: error: ")
        assert re.search(message, err), err


def test_cosine_schedule_and_backbone_groups_and_snapshots(bop_root, tmp_path):
    cfg = _cfg(bop_root, tmp_path / "cos", steps=8, lr=1e-3, lr_schedule="cosine",
               min_lr_fraction=0.1, backbone_lr_scale=0.25, log_every=1, checkpoint_every=2,
               snapshot_every=4)  # fmt: skip
    assert lr_factor(cfg, 0) == 1.0
    assert lr_factor(cfg, 7) == pytest.approx(0.1)
    assert 0.1 < lr_factor(cfg, 4) < 1.0
    train(cfg)
    lrs = [r["lr"] for r in _log(tmp_path / "cos")]  # the first group: the backbone's
    assert lrs[0] == pytest.approx(0.25e-3) and lrs[-1] == pytest.approx(0.25e-4)
    assert all(a > b for a, b in zip(lrs, lrs[1:], strict=False))
    assert sorted(p.name for p in (tmp_path / "cos").glob("step_*.pt")) == ["step_4.pt",
                                                                           "step_8.pt"]
    model = NemoModel(cfg.nemo_config())
    groups = make_optimizer(model, cfg).param_groups
    backbone = {id(p) for p in model.feature_net.backbone.parameters()}
    assert all(id(p) in backbone for p in groups[0]["params"])
    assert not any(id(p) in backbone for p in groups[1]["params"])
    assert [g["lr"] for g in groups] == pytest.approx([0.25e-3, 1e-3])


def test_frozen_backbone_and_frozen_batch_norm_keep_imagenet_values(bop_root, tmp_path):
    cfg = _cfg(bop_root, tmp_path / "frozen", steps=3, lr=1e-2, freeze_backbone_bn=True)
    out = train(cfg)
    torch.manual_seed(cfg.seed)
    fresh = NemoModel(cfg.nemo_config(), seed=cfg.seed).feature_net.backbone
    trained = load_checkpoint(out, "mug")[0].feature_net.backbone
    bn = "bn1.running_mean"
    assert torch.equal(trained.state_dict()[bn], fresh.state_dict()[bn])  # statistics kept
    assert torch.equal(trained.bn1.weight, fresh.bn1.weight)  # affine kept
    assert not torch.equal(trained.conv1.weight, fresh.conv1.weight)  # convs still learn
    cfg = _cfg(bop_root, tmp_path / "stem", steps=3, lr=1e-2, frozen_stages=1)
    trained = load_checkpoint(train(cfg), "mug")[0].feature_net.backbone
    for name in ("conv1.weight", "bn1.running_var", "layer1.0.conv1.weight"):
        assert torch.equal(trained.state_dict()[name], fresh.state_dict()[name]), name
    assert not torch.equal(trained.layer2[0].conv1.weight, fresh.layer2[0].conv1.weight)
    cfg = _cfg(bop_root, tmp_path / "no_backbone", steps=3, lr=1e-2, backbone_lr_scale=0.0)
    trained = load_checkpoint(train(cfg), "mug")[0].feature_net
    assert torch.equal(trained.backbone.conv1.weight, fresh.conv1.weight)
    with pytest.raises(ConfigError, match="multiple of checkpoint_every"):
        _cfg(bop_root, tmp_path / "x", snapshot_every=3, checkpoint_every=2)
    with pytest.raises(ConfigError, match="frozen_stages must be in 0..4"):
        _cfg(bop_root, tmp_path / "x", frozen_stages=5)
    with pytest.raises(ConfigError, match="lr_schedule must be one of constant, cosine"):
        _cfg(bop_root, tmp_path / "x", lr_schedule="step")


def test_replay_data_trains_and_is_checked_by_the_cli(bop_root, tmp_path, capsys):
    """--replay-data: a source set mixed into the batches (here the same tiny set: the run
    goes through the replay path end to end); a folder without split train is refused."""
    args = ["--data", str(bop_root), "--steps", "2", "--category", "mug", *TINY_CLI]
    assert main([*args, "--out", str(tmp_path / "r"), "--replay-data", str(bop_root),
                 "--replay-fraction", "0.5"]) == 0  # fmt: skip
    assert "replay: 50 % of the items" in capsys.readouterr().out
    assert (tmp_path / "r" / "mug.pt").exists()
    assert main([*args, "--out", str(tmp_path / "s"), "--replay-data", str(tmp_path)]) == 2
    assert "--replay-data" in capsys.readouterr().err


def test_calibrate_data_runs_calibrate_nemo_after_training(bop_root, tmp_path, capsys,
                                                           monkeypatch):
    """--calibrate-data: the trained model is calibrated in place (here the calibration
    itself is replaced by a recorder: a 2-step model has no bias worth fitting); a missing
    split is refused before training; a failed calibration says the model was trained."""
    from offline_training.nemo import calibrate as calibrate_mod

    calls = []

    def fake(path, data, split):
        calls.append((path, data, split))
        return {"category": "mug", "pairs": 20, "objects": 24, "max_error_deg": 30.0,
                "median_before_deg": 9.0, "cv_median_deg": {"0.1": 8.0}, "kept": "0.1",
                "estimate_seconds": 1.0}  # fmt: skip

    monkeypatch.setattr(calibrate_mod, "calibrate", fake)
    args = ["--data", str(bop_root), "--steps", "1", "--category", "mug", *TINY_CLI]
    assert main([*args, "--out", str(tmp_path / "c"), "--calibrate-data", str(bop_root),
                 "--calibrate-split", "train"]) == 0  # fmt: skip
    assert calls == [(tmp_path / "c" / "mug.pt", str(bop_root), "train")]
    assert "<- kept" in capsys.readouterr().out
    assert main([*args, "--out", str(tmp_path / "d"), "--calibrate-data", str(bop_root)]) == 2
    assert "has no split 'val'" in capsys.readouterr().err and not (tmp_path / "d").exists()

    def failing(path, data, split):
        raise calibrate_mod.CalibrationError("need >= 20", 1)

    monkeypatch.setattr(calibrate_mod, "calibrate", failing)
    assert main([*args, "--out", str(tmp_path / "e"), "--calibrate-data", str(bop_root),
                 "--calibrate-split", "train"]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "trained" in err and "calibration failed: need >= 20" in err
    assert (tmp_path / "e" / "mug.pt").exists()


def test_rotation_augmentation_options_reach_the_training_config(monkeypatch, tmp_path):
    from offline_training.nemo import train_cli

    seen = {}
    monkeypatch.setattr("offline_training.nemo.train.train",
                        lambda cfg: seen.setdefault("cfg", cfg) and tmp_path / "x.pt")
    data = tmp_path / "data"
    (data / "train").mkdir(parents=True)
    train_cli.main(["--data", str(data), "--category", "mug", "--out", str(tmp_path / "o"),
                    "--max-rotation", "60", "--p-rotate", "0.7", "--p-occlude", "0.5",
                    "--p-degrade", "0.25", "--canonical-symmetry", "--symmetric-vertices",
                    *TINY_CLI])  # fmt: skip
    assert seen["cfg"].canonical_symmetry is True and seen["cfg"].symmetric_vertices is True
    aug = seen["cfg"].augment
    assert aug.max_rotation_deg == 60.0 and aug.p_rotate == 0.7 and aug.p_color == 0.8
    assert aug.p_occlude == 0.5 and aug.p_degrade == 0.25


def test_pose_margin_turns_reach_the_config_and_a_bad_one_exits_2(monkeypatch, tmp_path, capsys):
    from offline_training.nemo import train_cli

    seen = {}
    monkeypatch.setattr("offline_training.nemo.train.train",
                        lambda cfg: seen.setdefault("cfg", cfg) and tmp_path / "x.pt")
    data = tmp_path / "data"
    (data / "train").mkdir(parents=True)
    args = ["--data", str(data), "--out", str(tmp_path / "o"), *TINY_CLI]
    train_cli.main([*args, "--category", "box", "--pose-margin-weight", "1",
                    "--pose-margin-turns", "90", "270"])  # fmt: skip
    assert seen["cfg"].pose_margin_turns == (90.0, 270.0)
    assert train_cli.main([*args, "--category", "can", "--pose-margin-weight", "1",
                           "--pose-margin-turns", "90"]) == 2  # fmt: skip
    assert "symmetry of a can" in capsys.readouterr().err


def test_symmetric_vertices_train_a_mesh_whose_equivalent_vertices_share_one_feature(
        bop_root, tmp_path):  # fmt: skip
    from offline_training.nemo.symmetric_vertices import symmetry_rotations, vertex_orbits

    out = tmp_path / "bottle"
    path = train(TrainConfig(data=str(bop_root), category="bottle", out=str(out),
                             **{**TINY, "steps": 6, "lr": 1e-3, "log_every": 1},
                             symmetric_vertices=True))  # fmt: skip
    model, _ = load_checkpoint(path, "bottle")
    mesh = model.mesh
    orbits = vertex_orbits(mesh.vertices, symmetry_rotations("bottle"))
    assert not torch.equal(orbits[1], orbits[0])
    torch.testing.assert_close(mesh.features[orbits[1]], mesh.features, atol=1e-6, rtol=0)
    # the same run without the flag leaves the half-turned vertices apart
    plain = train(TrainConfig(data=str(bop_root), category="bottle", out=str(tmp_path / "p"),
                              **{**TINY, "steps": 6, "lr": 1e-3}))  # fmt: skip
    feats = load_checkpoint(plain, "bottle")[0].mesh.features
    assert (feats[orbits[1]] - feats).abs().max() > 1e-2


def test_symmetric_vertices_refuse_an_asymmetric_category(bop_root, tmp_path):
    with pytest.raises(ConfigError, match="no rotational symmetry"):
        train(_cfg(bop_root, tmp_path / "m", steps=2, symmetric_vertices=True))
