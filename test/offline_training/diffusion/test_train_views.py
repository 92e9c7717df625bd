"""Paper 000's training on a views dataset, end to end with a tiny encoder: the CLIs, the
stages, the category frame of the exported checkpoint, and the multi-mesh step."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from offline_training.diffusion.generate_views_cli import main as generate_views
from offline_training.diffusion.instance_training import multi_mesh_step
from offline_training.diffusion.train_views import ViewsTrainConfig, instance_meshes
from offline_training.diffusion.train_views_cli import main as train_views
from offline_training.diffusion.train_views_stages import Relabelled
from offline_training.diffusion.views_dataset import instance_radius, read_instances
from offline_training.nemo.data import NemoTrainingSet
from offline_training.nemo.train_step import make_optimizer
from ros_pose_estimation.nemo.checkpoint import load_checkpoint
from ros_pose_estimation.nemo.model import NemoModel

TINY = ["--backbone", "tiny", "--backbone-weights", "none", "--backbone-stages", "4",
        "--frozen-stages", "0", "--fuse-channels", "16", "--dim", "16", "--crop-size", "32",
        "--geodesic-level", "1", "--batch-size", "4", "--num-threads", "1",
        "--num-workers", "0", "--log-every", "2", "--no-progress"]  # fmt: skip


@pytest.fixture(scope="module")
def views(tmp_path_factory):
    out = tmp_path_factory.mktemp("views") / "mug"
    code = generate_views(["--category", "mug", "--instances", "3", "--views", "4",
                           "--out", str(out), "--no-progress"])  # fmt: skip
    assert code == 0
    return out


def test_pipeline_writes_checkpoints_in_the_category_frame(views, tmp_path):
    out = tmp_path / "run"
    args = ["--data", str(views), "--out", str(out), "--steps", "4", "--merge-steps", "2",
            "--anchor", "1", *TINY]  # fmt: skip
    assert train_views(args) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["anchor"] == 1 and report["instances"] == 3
    assert set(report["distances"]) == {"0", "2"}
    assert set(report["merge_error_deg"]) == {"0", "2"}  # synthetic inputs: R* is checked
    truth = np.asarray(read_instances(views)["instances"][1]["R_frame_true"])
    for name in ("mug.pt", "mug_unmerged.pt"):
        model, meta = load_checkpoint(out / name, "mug")
        assert meta["anchor"] == 1
        sphere = instance_meshes("mug", 1, 1, 16, 0)[0].vertices.double().numpy()
        verts = model.mesh.vertices.double().numpy()
        # canonical vertices = R_frame^T instance vertices: rotating back gives the sphere
        assert np.allclose(verts @ truth.T, sphere, atol=1e-5)
        assert np.allclose(np.linalg.norm(verts, axis=1), instance_radius("mug"), atol=1e-5)
    first = (out / "stage1.pt").stat().st_mtime_ns
    before = json.loads((out / "merge.json").read_text())
    # stage 1 and the alignments are reused; another threshold merges everything
    assert train_views([*args, "--merge-threshold", "5", "--fresh-encoder"]) == 0
    assert (out / "stage1.pt").stat().st_mtime_ns == first
    after = json.loads((out / "merge.json").read_text())
    assert after["rotations"] == before["rotations"] and sorted(after["merged"]) == [0, 2]


def test_bad_inputs_exit_2_with_a_message(views, tmp_path, capsys):
    assert train_views(["--data", str(tmp_path), "--out", str(tmp_path / "r"), *TINY]) == 2
    assert "generate-views" in capsys.readouterr().err
    args = ["--data", str(views), "--out", str(tmp_path / "r"), "--steps", "1",
            "--merge-steps", "0", "--frame", str(tmp_path / "missing.json"), *TINY]  # fmt: skip
    assert train_views(args) == 2
    assert "missing.json" in capsys.readouterr().err
    assert generate_views(["--category", "mug", "--source", "images", str(tmp_path),
                           "--out", str(tmp_path / "v")]) == 2  # fmt: skip
    assert "NAME_mask.png" in capsys.readouterr().err
    assert generate_views(["--category", "mug", "--source", "synthetic", "--generator",
                           "zero123", "--out", str(tmp_path / "v")]) == 2  # fmt: skip
    assert "--weights" in capsys.readouterr().err


def test_relabelled_items_are_in_the_anchor_frame(views):
    base = NemoTrainingSet(views, "mug", crop_size=32)
    R_star = torch.as_tensor(np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]))
    sub = Relabelled(base, {2: np.eye(3), 3: R_star.numpy()})
    assert len(sub) == 8  # instances 2 and 3, four views each
    for i in range(len(sub)):
        item, raw = sub[i], base[sub.keep[i]]
        expected = raw["R"] if int(raw["obj_id"]) == 2 else raw["R"] @ R_star.float().T
        assert torch.allclose(item["R"], expected)


def test_multi_mesh_step_learns_and_touches_only_the_batch_meshes(views):
    cfg = ViewsTrainConfig(data=str(views), out="", backbone="tiny", backbone_weights=None,
                           backbone_stages=4, frozen_stages=0, fuse_channels=16, dim=16,
                           crop_size=32, geodesic_level=1).stage("mug", 12, None)  # fmt: skip
    torch.manual_seed(0)
    model = NemoModel(cfg.nemo_config()).train()
    meshes = instance_meshes("mug", 3, 1, 16, 0)
    ds = NemoTrainingSet(views, "mug", crop_size=32)
    batch = {k: torch.stack([ds[i][k] for i in (0, 1, 4, 5)])
             for k in ("image", "K", "R", "t", "mask_visib", "obj_id")}  # fmt: skip
    index = batch["obj_id"] - 1
    assert sorted(set(index.tolist())) == [0, 1]
    untouched = meshes[2].features.clone()
    optimizer = make_optimizer(model, cfg)
    gen = torch.Generator().manual_seed(0)
    losses = [multi_mesh_step(model, meshes, index, optimizer, batch, cfg,
                              meshes[0].neighbour_mask(0.1), gen)["loss_fg"]
              for _ in range(12)]  # fmt: skip
    assert np.mean(losses[-3:]) < 0.85 * np.mean(losses[:3])
    assert torch.equal(meshes[2].features, untouched)
