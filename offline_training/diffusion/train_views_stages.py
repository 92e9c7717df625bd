"""The stages of :mod:`.train_views`: the step loop shared by both training stages, the stage-1
file, the relabelled set of stage 2 and the export to NeMo checkpoints."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from offline_training.diffusion.instance_training import multi_mesh_step
from offline_training.diffusion.merge import merge_meshes
from offline_training.nemo.data import NemoTrainingSet
from offline_training.nemo.train_config import TrainConfig
from offline_training.nemo.train_step import (
    freeze_backbone_parts,
    make_optimizer,
    set_learning_rate,
)
from offline_training.train_loop import StepBatchSampler, StepLoop, step_loader, torch_threads
from ros_pose_estimation.core.errors import ConfigError
from ros_pose_estimation.core.mesh import TriMesh
from ros_pose_estimation.nemo.checkpoint import save_checkpoint
from ros_pose_estimation.nemo.model import NemoModel
from ros_pose_estimation.nemo.neural_mesh import NeuralMesh

__all__ = ["Relabelled", "run_pipeline"]


class Relabelled(torch.utils.data.Dataset):
    """The items of ``base`` whose ``obj_id`` is a key of ``rotations`` (``[3 x 3]`` R* per
    instance: its frame -> the anchor's), labelled in the anchor's frame: ``R' = R R*^T``
    (Eq. 12); ``t`` (the sphere centre) does not change."""

    def __init__(self, base: NemoTrainingSet, rotations: dict[int, np.ndarray]) -> None:
        self.base = base
        self.keep = [i for i, e in enumerate(base.entries) if e.obj_id in rotations]
        self.rot = {k: torch.as_tensor(v, dtype=torch.float32) for k, v in rotations.items()}

    def __len__(self) -> int:
        return len(self.keep)

    def __getitem__(self, key):
        index, draw = (key[0], key[1]) if isinstance(key, tuple | list) else (key, 0)
        item = self.base[(self.keep[int(index)], int(draw))]
        item["R"] = item["R"] @ self.rot[int(item["obj_id"])].T
        return item


def _train_stage(model, meshes, dataset, mesh_of, cfg: TrainConfig, out: Path, desc: str):
    out.mkdir(parents=True, exist_ok=True)
    model.train()
    freeze_backbone_parts(model, cfg)
    optimizer = make_optimizer(model, cfg)
    generator = torch.Generator().manual_seed(cfg.seed)
    neighbours = meshes[0].neighbour_mask(cfg.neighbour_fraction)
    sampler = StepBatchSampler(len(dataset), cfg.batch_size, cfg.steps, cfg.seed, 0)
    loader = step_loader(dataset, sampler, cfg.num_workers, pin_memory=False)
    loop = StepLoop(cfg, out, desc, unit="step")

    def one(batch, done: int) -> dict:
        set_learning_rate(optimizer, cfg, done)
        return multi_mesh_step(model, meshes, mesh_of(batch), optimizer, batch, cfg,
                               neighbours, generator)  # fmt: skip

    loop.run(loader, one, optimizer, lambda: None,
             lambda s: {"loss": f"{s['loss']:.3f}", "acc": f"{s['accuracy']:.2f}"})  # fmt: skip
    model.eval()
    return loop.wall()


def _save_stage1(path: Path, model: NemoModel, meshes: list[NeuralMesh], seconds: float):
    torch.save({"config": model.config.to_dict(), "feature_net": model.feature_net.state_dict(),
                "clutter": model.mesh.clutter, "meshes": [m.state_dict() for m in meshes],
                "seconds": seconds}, path)  # fmt: skip


def _load_stage1(path: Path, model: NemoModel, meshes: list[NeuralMesh]) -> float:
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state["config"] != model.config.to_dict() or len(state["meshes"]) != len(meshes):
        raise ConfigError(f"{path} was trained with other settings or instances; remove it or "
                          "choose another --out")  # fmt: skip
    model.feature_net.load_state_dict(state["feature_net"])
    model.mesh.clutter.copy_(state["clutter"])
    for mesh, s in zip(meshes, state["meshes"], strict=True):
        mesh.load_state_dict(s)
    return float(state["seconds"])


def _export(model: NemoModel, sphere: NeuralMesh, features, R_frame, path: Path, meta: dict):
    """NeMo checkpoint: ``model``'s encoder, the sphere rotated into the canonical frame
    (``v_canonical = R_frame^T v_instance``) carrying ``features``, ``model``'s clutter."""
    verts = sphere.vertices.double().numpy() @ np.asarray(R_frame)
    mesh = NeuralMesh(TriMesh(verts, sphere.faces.numpy()), dim=sphere.dim,
                      n_clutter=model.mesh.clutter.shape[0])  # fmt: skip
    mesh.features.copy_(features)
    mesh.clutter.copy_(model.mesh.clutter)
    final = NemoModel(model.config)
    final.feature_net.load_state_dict(model.feature_net.state_dict())
    final.mesh = mesh
    return save_checkpoint(path, final, meta)


def _previous_merge(path: Path, anchor: int) -> dict[int, tuple[np.ndarray, float]]:
    """``(R*, distance)`` per mesh from an earlier ``merge.json`` of the same stage 1 and
    anchor (the search depends on nothing else), so another threshold re-merges in seconds."""
    if not path.exists():
        return {}
    old = json.loads(path.read_text())
    if old.get("anchor") != anchor:
        return {}
    return {int(i): (np.asarray(R), float(old["distances"][i]))
            for i, R in old["rotations"].items()}  # fmt: skip


def run_pipeline(cfg, index: dict, dataset: NemoTrainingSet, out: Path) -> Path:
    """Stages 1-4 of :mod:`.train_views` (see there)."""
    from offline_training.diffusion import train_views as tv

    category, n = index["category"], len(index["instances"])
    stage1 = cfg.stage(category, cfg.steps, out / "stage1")
    torch.manual_seed(cfg.seed)
    model = NemoModel(stage1.nemo_config(), cfg.backbone_weights, seed=cfg.seed)
    meshes = tv.instance_meshes(category, n, cfg.geodesic_level, cfg.dim, cfg.seed)
    train_set = NemoTrainingSet(cfg.data, category, "train", cfg.crop_size,
                                augment=stage1.augment, seed=cfg.seed)  # fmt: skip
    report: dict = {"category": category, "instances": n, "generator": index["generator"],
                    "views_per_instance": len(index["instances"][0]["views"])}  # fmt: skip
    threads = cfg.num_threads or torch.get_num_threads()
    with torch_threads(threads):
        path1 = out / "stage1.pt"
        if path1.exists():
            report["stage1_seconds"] = _load_stage1(path1, model, meshes)
        else:
            seconds = _train_stage(model, meshes, train_set, lambda b: b["obj_id"] - 1, stage1,
                                   out / "stage1", f"instances ({n} meshes)")  # fmt: skip
            _save_stage1(path1, model, meshes, seconds)
            report["stage1_seconds"] = seconds
        anchor = cfg.anchor
        if anchor is None:
            anchor = int(np.random.default_rng(cfg.seed).integers(n))
        R_frame = tv.category_frame(cfg, index, anchor)
        meta = {"trainer": "train-views", "data": cfg.data, "anchor": anchor}
        _export(model, meshes[anchor], meshes[anchor].features, R_frame,
                out / f"{category}_unmerged.pt", {**meta, "stage": "unmerged"})  # fmt: skip
        t0 = time.perf_counter()
        known = _previous_merge(out / "merge.json", anchor)
        merged = merge_meshes(meshes[anchor].vertices, [m.features for m in meshes], anchor,
                              cfg.merge_threshold, log=print, known=known,
                              seed=cfg.seed)  # fmt: skip
        errors = tv.merge_errors(index, merged, category)
        report.update({
            "anchor": anchor, "merge_threshold": cfg.merge_threshold, "merged": merged.merged,
            "merge_seconds": time.perf_counter() - t0, "distances": merged.distances,
            "merge_error_deg": errors,
            "median_merge_error_deg_merged": float(np.median([errors[i] for i in merged.merged]))
            if errors and merged.merged else None,
        })  # fmt: skip
        (out / "merge.json").write_text(json.dumps(
            {**report, "rotations": {i: r.tolist() for i, r in merged.rotations.items()}},
            indent=1))  # fmt: skip
        anchor_mesh = meshes[anchor]
        anchor_mesh.features.copy_(merged.features)
        rotations = {anchor + 1: np.eye(3)}
        rotations.update({i + 1: merged.rotations[i] for i in merged.merged})
        stage2 = cfg.stage(category, cfg.merge_steps, out / "stage2")
        if cfg.fresh_encoder:  # stage 1's encoder learned every instance's own frame
            fresh = NemoModel(stage2.nemo_config(), cfg.backbone_weights, seed=cfg.seed)
            model.feature_net.load_state_dict(fresh.feature_net.state_dict())
        seconds2 = 0.0
        if cfg.merge_steps > 0:
            seconds2 = _train_stage(
                model, [anchor_mesh], Relabelled(train_set, rotations),
                lambda b: torch.zeros(len(b["obj_id"]), dtype=torch.int64), stage2,
                out / "stage2", f"category ({len(rotations)} instances)",
            )  # fmt: skip
        report["stage2_seconds"] = seconds2
        final = _export(model, anchor_mesh, anchor_mesh.features, R_frame,
                        out / f"{category}.pt", {**meta, "stage": "merged"})  # fmt: skip
    report["final"] = str(final)
    (out / "report.json").write_text(json.dumps(report, indent=1, default=str))
    return final
