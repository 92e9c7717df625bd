"""Train a category's NeMo model (feature net + neural mesh) on BOP-format labelled crops.

Per step (paper 000 Eqs. 4-7, CoKe; settings ``shared/notes/methods.md``): crops ->
L2-normalised features ``[B x D x S/8 x S/8]``; mesh vertices projected with each crop's K, R,
t; a vertex is visible when it faces the camera (exact for the convex cuboid / ellipsoid but for
silhouette vertices), projects inside the crop and onto the object's visible mask (dilated by
``mask_margin_px``; this drops vertices occluded by other objects); features sampled at the
visible vertices and ``bg_samples`` per image outside the object -> contrastive loss against the
vertex features and the clutter queue (3D neighbour exclusion) -> Adam step -> momentum update
of the vertex features with the sampled features -> background features into the clutter queue.

Outputs in ``cfg.out``: ``log.jsonl`` (one JSON record per ``log_every`` steps: means over those
steps), ``last.pt`` (model, :func:`save_checkpoint`) and ``resume.pt`` (model, optimizer, step,
RNG states; ``torch.load(weights_only=True)``) every ``checkpoint_every`` steps, and the final
``<category>.pt``. With ``resume=True`` a run continues from ``resume.pt`` exactly: batches
depend only on the step (:class:`~.data.StepBatchSampler`) and every RNG state is restored.
``init_checkpoint`` starts from a trained model of the same settings (fine-tuning). Under
``torchrun`` the run is distributed over the processes (:mod:`.distributed`). The run folder,
resume file and step loop are those of every trainer (:mod:`offline_training.train_loop`).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from offline_training import train_loop
from offline_training.nemo import distributed
from offline_training.nemo.augment import AugmentConfig
from offline_training.nemo.data import NemoTrainingSet, StepBatchSampler
from offline_training.train_loop import StepLoop, check_new_run, step_loader, torch_threads
from ros_pose_estimation.core.errors import ConfigError
from ros_pose_estimation.nemo.checkpoint import save_checkpoint
from ros_pose_estimation.nemo.contrastive import (
    contrastive_loss,
    downsample_mask,
    image_to_feature_uv,
    sample_background_features,
    sample_vertex_features,
)
from ros_pose_estimation.nemo.model import NemoConfig, NemoModel
from ros_pose_estimation.nemo.neural_mesh import NeuralMesh

RESUME_FORMAT = "ros_pose_estimation/nemo-train-resume"
LR_SCHEDULES = ("constant", "cosine")
MODEL_FIELDS = ("backbone", "dim", "fuse_channels", "crop_size", "crop_scale", "mesh_kind",
                "n_vertices", "geodesic_level", "mesh_margin", "n_clutter",
                "backbone_stages")  # fmt: skip


@dataclass
class TrainConfig:
    """Settings of :func:`train` (defaults: methods.md where published, CPU-sized otherwise).

    Model fields (:data:`MODEL_FIELDS`) go to :class:`NemoConfig`. ``num_threads`` None uses
    every core this process may run on. ``mask_margin_px`` dilates the visible mask (crop px)
    so vertices just outside the silhouette still count. ``max_points`` caps the vertex
    observations entering the loss per step (a random subset; None = all; the momentum update of
    the vertex features always uses all of them). ``bg_samples`` background features per
    image; ``neighbour_fraction`` of the mesh scale is the 3D neighbour exclusion radius.
    ``init_checkpoint``: a NeMo checkpoint of the same category and model settings to start
    from (feature net and neural mesh; fine-tuning), None = a fresh model.

    ``lr_schedule``: ``constant`` or ``cosine`` (from ``lr`` at step 0 down to
    ``min_lr_fraction * lr`` at the last step; a function of the step only, so resuming keeps
    it).

    Fine-tuning a pretrained backbone: ``backbone_lr_scale`` multiplies the learning rate of
    the backbone's parameters (the fusion layers and head keep ``lr``; 0 freezes the backbone);
    ``freeze_backbone_bn`` keeps the backbone's batch-norm statistics and affine parameters at
    their ImageNet values (eval mode, no gradient), which suits small CPU batches;
    ``frozen_stages`` k in 0..4 freezes the backbone's stem and first k stages entirely
    (weights, batch norms in eval mode): they keep their generic ImageNet filters and, with no
    gradient to compute below them, a CPU step of EfficientNet-Lite0 costs about half
    (``benchmarks/bench_train_step.py``).
    ``snapshot_every`` > 0 (a multiple of ``checkpoint_every``) also keeps ``OUT/step_<N>.pt``
    every that many steps (learning curves).
    """

    data: str
    category: str
    out: str
    split: str = "train"
    steps: int = 3000
    batch_size: int = 16
    lr: float = 1e-4
    weight_decay: float = 1e-4
    momentum: float = 0.9
    temperature: float = 0.07
    neighbour_fraction: float = 0.1
    bg_samples: int = 5
    bg_weight: float = 1.0
    mask_margin_px: int = 4
    max_points: int | None = None
    min_visib_fract: float = 0.3
    checkpoint_every: int = 500
    log_every: int = 10
    seed: int = 0
    device: str = "cpu"
    num_workers: int = 1
    num_threads: int | None = None
    backbone: str = "resnet18"
    backbone_weights: str | None = None
    crop_size: int = 128
    crop_scale: float = 1.2
    dim: int = 128
    fuse_channels: int | None = None
    backbone_stages: int = 4
    mesh_kind: str = "cuboid"
    n_vertices: int = 1000
    geodesic_level: int = 3
    mesh_margin: float = 0.05
    n_clutter: int = 2560
    augment: AugmentConfig | None = field(default_factory=AugmentConfig)
    resume: bool = False
    progress: bool = True
    init_checkpoint: str | None = None
    lr_schedule: str = "constant"
    min_lr_fraction: float = 0.05
    backbone_lr_scale: float = 1.0
    freeze_backbone_bn: bool = False
    frozen_stages: int = 0
    snapshot_every: int = 0

    def __post_init__(self) -> None:
        train_loop.require_positive(self, ("steps", "batch_size", "checkpoint_every", "log_every"))
        if self.num_workers < 0 or self.bg_samples < 0 or self.mask_margin_px < 0:
            raise ConfigError("num_workers, bg_samples and mask_margin_px must be >= 0")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ConfigError(f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, "
                              f"got {self.lr_schedule!r}")  # fmt: skip
        if not 0.0 <= self.min_lr_fraction <= 1.0:
            raise ConfigError(f"min_lr_fraction must be in [0, 1], got {self.min_lr_fraction}")
        if not 0 <= self.frozen_stages <= 4:
            raise ConfigError(f"frozen_stages must be in 0..4, got {self.frozen_stages}")
        if self.backbone_lr_scale < 0 or self.snapshot_every < 0:
            raise ConfigError("backbone_lr_scale and snapshot_every must be >= 0")
        if self.snapshot_every % self.checkpoint_every:
            raise ConfigError(f"snapshot_every ({self.snapshot_every}) must be a multiple of "
                              f"checkpoint_every ({self.checkpoint_every})")

    def nemo_config(self) -> NemoConfig:
        return NemoConfig(self.category, **{k: getattr(self, k) for k in MODEL_FIELDS})

    def to_dict(self) -> dict:
        return asdict(self)


def visible_vertices(
    mesh: NeuralMesh, R: torch.Tensor, t: torch.Tensor, K: torch.Tensor, mask: torch.Tensor,
    margin_px: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Projections ``uv [B x V x 2]`` (crop px) and visibility ``[B x V]`` bool of the vertices.

    Visible = faces the camera, projects inside the ``[B x S x S]`` crop and onto ``mask``
    dilated by ``margin_px`` (nearest pixel).
    """
    uv, _ = mesh.project(R, t, K)
    visible = mesh.facing_camera(R, t)
    if margin_px > 0:
        k = 2 * margin_px + 1
        mask = F.max_pool2d(mask[:, None].float(), k, 1, margin_px)[:, 0] > 0
    b, h, w = mask.shape
    pix = torch.nan_to_num(uv, nan=-1.0).round().long()
    inside = (pix[..., 0] >= 0) & (pix[..., 0] < w) & (pix[..., 1] >= 0) & (pix[..., 1] < h)
    flat = pix[..., 1].clamp(0, h - 1) * w + pix[..., 0].clamp(0, w - 1)
    on_mask = torch.gather(mask.reshape(b, -1), 1, flat)
    return uv, visible & inside & on_mask & torch.isfinite(uv).all(-1)


def train_step(model, optimizer, batch, cfg: TrainConfig, neighbours, generator,
               net=None, ctx: distributed.DistContext | None = None) -> dict:  # fmt: skip
    """One optimisation step on ``batch`` (see module doc); returns float stats.

    ``net``: the feature net to call (its ``DistributedDataParallel`` wrapper in a distributed
    run; default ``model.feature_net``); ``ctx``: the distributed context (mesh updates from
    every rank's features)."""
    device = next(model.parameters()).device
    image = batch["image"].to(device, non_blocking=True)
    K, R, t = (batch[k].to(device) for k in ("K", "R", "t"))
    mask = batch["mask_visib"].to(device)
    stride = model.config.stride
    fmap = (net or model.feature_net)(image)
    uv, visible = visible_vertices(model.mesh, R, t, K, mask, cfg.mask_margin_px)
    feats, vertex_ids, _ = sample_vertex_features(fmap, image_to_feature_uv(uv, stride), visible)
    bg = sample_background_features(fmap, downsample_mask(mask, stride), cfg.bg_samples,
                                    generator)  # fmt: skip
    sub_feats, sub_ids = feats, vertex_ids
    if cfg.max_points and len(feats) > cfg.max_points:  # random subset for the loss only
        keep = torch.randperm(len(feats), generator=generator)[: cfg.max_points].to(device)
        sub_feats, sub_ids = feats[keep], vertex_ids[keep]
    loss, stats = contrastive_loss(
        sub_feats, sub_ids, model.mesh.features, model.mesh.clutter, neighbours,
        temperature=cfg.temperature, bg_feats=bg if len(bg) else None, bg_weight=cfg.bg_weight,
    )  # fmt: skip
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    feats, vertex_ids, bg = feats.detach(), vertex_ids, bg.detach()
    if ctx is not None and ctx.enabled:  # every rank applies the same, global update
        feats, bg = distributed.all_gather_rows(feats, ctx), distributed.all_gather_rows(bg, ctx)
        vertex_ids = distributed.all_gather_rows(vertex_ids, ctx)
    model.mesh.update_vertex_features(feats, vertex_ids, momentum=cfg.momentum)
    model.mesh.update_clutter(bg)  # after the loss (the queue is its negatives)
    stats["loss"] = float(loss.detach())
    return stats


def make_optimizer(model: NemoModel, cfg: TrainConfig) -> torch.optim.Optimizer:
    """Adam on the feature net (vertex features follow by momentum, not by gradients).

    Two parameter groups: the backbone at ``lr * backbone_lr_scale``, the fusion layers and head
    at ``lr``; parameters without gradients (frozen) are left out. The fused kernel is ~9x
    faster than the default on a CPU (0.04 vs 0.37 s per step for resnet18 on 2 cores); older
    torch builds without it fall back to the default.
    """
    net = model.feature_net
    backbone = {id(p) for p in net.backbone.parameters()}
    trainable = [p for p in net.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in trainable if id(p) in backbone],
         "lr": cfg.lr * cfg.backbone_lr_scale},
        {"params": [p for p in trainable if id(p) not in backbone], "lr": cfg.lr},
    ]  # fmt: skip
    groups = [{**g, "base_lr": g["lr"]} for g in groups if g["params"] and g["lr"] > 0]
    try:
        return torch.optim.Adam(groups, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)


def lr_factor(cfg: TrainConfig, step: int) -> float:
    """Multiplier of every group's base learning rate at ``step`` (0-based) under
    ``cfg.lr_schedule``."""
    if cfg.lr_schedule == "constant" or cfg.steps <= 1:
        return 1.0
    progress = min(max(step / (cfg.steps - 1), 0.0), 1.0)
    lo = cfg.min_lr_fraction
    return lo + (1.0 - lo) * 0.5 * (1.0 + float(np.cos(np.pi * progress)))


def set_learning_rate(optimizer: torch.optim.Optimizer, cfg: TrainConfig, step: int) -> None:
    """Set each parameter group's ``lr`` to its ``base_lr`` x :func:`lr_factor`."""
    factor = lr_factor(cfg, step)
    for group in optimizer.param_groups:
        group["lr"] = group["base_lr"] * factor


def freeze_backbone_parts(model: NemoModel, cfg: TrainConfig) -> None:
    """Apply ``backbone_lr_scale == 0`` (no gradient to the backbone), ``frozen_stages`` (no
    gradient and eval-mode batch norms in the stem and the first stages) and
    ``freeze_backbone_bn`` (every backbone batch norm in eval mode without gradients); call
    after every ``model.train()`` and before :func:`make_optimizer`."""
    backbone = model.feature_net.backbone
    if cfg.backbone_lr_scale == 0:
        backbone.requires_grad_(False)
    for module in backbone.early_modules(cfg.frozen_stages):
        module.requires_grad_(False)
        module.eval()
    if cfg.freeze_backbone_bn:
        for m in backbone.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.eval()
                m.requires_grad_(False)


def _rng_state(generator: torch.Generator) -> dict:
    # the trainer draws from explicit generators only; the global ones are saved in case a
    # library uses them (numpy's as tensors: weights_only loading takes no ndarrays)
    name, keys, pos, has_gauss, gauss = np.random.get_state()  # noqa: NPY002
    return {
        "torch": torch.get_rng_state(),
        "background": generator.get_state(),
        "numpy": {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)),
                  "pos": int(pos), "has_gauss": int(has_gauss), "gauss": float(gauss)},
    }  # fmt: skip


def _set_rng_state(state: dict, generator: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    generator.set_state(state["background"])
    n = state["numpy"]
    keys = n["keys"].numpy().astype(np.uint32)
    np.random.set_state((n["name"], keys, n["pos"], n["has_gauss"], n["gauss"]))  # noqa: NPY002


def save_resume(path: Path, model, optimizer, step: int, generator, cfg, extra: dict) -> None:
    """Write the full training state atomically (loadable with ``weights_only=True``)."""
    train_loop.save_resume(path, RESUME_FORMAT, step, model, optimizer, cfg.to_dict(),
                           rng=_rng_state(generator), **extra)  # fmt: skip


def load_resume(path: Path, cfg: TrainConfig) -> dict:
    """Read ``resume.pt`` and check it was made with the same model settings as ``cfg``."""
    keys = (*MODEL_FIELDS, "category", "seed", "batch_size")
    older = {"backbone_stages": 4}  # settings that resume files written before them lack
    return train_loop.load_resume(path, RESUME_FORMAT, "NeMo", cfg, keys, older)


def _say(message: str) -> None:
    from tqdm import tqdm

    tqdm.write(message)


def train(cfg: TrainConfig) -> Path:
    """Train (or resume) a model as configured; returns the path of ``OUT/<category>.pt``.

    Raises:
        ConfigError: bad settings, ``out`` holds a run and ``resume`` is False, or the resume
            file was made with other model settings.
        NoSamplesError: the dataset has no usable object of the category.
    """
    out = Path(cfg.out)
    ctx = distributed.setup(cfg.device, cfg.batch_size)
    check_new_run(out, cfg.resume)
    config = cfg.nemo_config()  # validates the model settings before reading any data
    dataset = NemoTrainingSet(
        cfg.data, config.category, cfg.split, cfg.crop_size, cfg.crop_scale,
        cfg.min_visib_fract, augment=cfg.augment, seed=cfg.seed,
    )  # fmt: skip
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        with torch_threads(cfg.num_threads or cores or 1):
            return _run(cfg, config, dataset, out, ctx)
    finally:
        ctx.close()


# settings of the crop fed to the network, not of its weights: a model may be fine-tuned at
# another crop size or margin than the checkpoint it starts from
INPUT_ONLY_SETTINGS = frozenset({"crop_size", "crop_scale"})


def _load_init(model: NemoModel, cfg: TrainConfig) -> None:
    """Copy the weights and neural mesh of ``cfg.init_checkpoint`` into ``model`` (strict);
    the crop settings (:data:`INPUT_ONLY_SETTINGS`) may differ, the others may not."""
    from ros_pose_estimation.nemo.checkpoint import load_checkpoint

    init, _ = load_checkpoint(cfg.init_checkpoint, cfg.category)
    ours, theirs = model.config.to_dict(), init.config.to_dict()
    diff = {
        k: (theirs.get(k), v)
        for k, v in ours.items()
        if theirs.get(k) != v and k not in INPUT_ONLY_SETTINGS
    }
    if diff:
        raise ConfigError(
            f"--init-checkpoint {cfg.init_checkpoint} has other model settings "
            f"(checkpoint, now): {diff}; train with the checkpoint's settings"
        )
    model.load_state_dict(init.state_dict())  # strict


def _run(cfg: TrainConfig, config: NemoConfig, dataset: NemoTrainingSet, out: Path,
         ctx: distributed.DistContext) -> Path:  # fmt: skip
    torch.manual_seed(cfg.seed)
    model = NemoModel(config, cfg.backbone_weights, seed=cfg.seed)
    init = model.feature_net.describe_init()
    if cfg.init_checkpoint:
        _load_init(model, cfg)
        init = f"fine-tuning {cfg.init_checkpoint}"
    elif not model.feature_net.pretrained:
        init += " -> RANDOM INIT (give backbone_weights / --backbone-weights for ImageNet init)"
    say = _say if ctx.is_main else (lambda _: None)
    say(f"{config.category}: {len(dataset)} training objects in {cfg.data}/{cfg.split}; {init}"
        + (f"; {ctx.world} processes (rank 0 logs)" if ctx.enabled else ""))  # fmt: skip
    device = torch.device(ctx.device)
    model.to(device).train()
    freeze_backbone_parts(model, cfg)
    net = model.feature_net
    if ctx.enabled:
        ids = [device.index] if device.type == "cuda" else None
        net = torch.nn.parallel.DistributedDataParallel(net, device_ids=ids)
    optimizer = make_optimizer(model, cfg)
    generator = torch.Generator().manual_seed(cfg.seed)  # background sampling (CPU: portable)
    step, seconds_before, resume_path = 0, 0.0, out / "resume.pt"
    if cfg.resume and resume_path.exists():
        state = load_resume(resume_path, cfg)
        step, seconds_before = train_loop.restore(state, model, optimizer)
        _set_rng_state(state["rng"], generator)
        if ctx.is_main:
            train_loop.truncate_log(out / "log.jsonl", step)
        say(f"resuming {resume_path} at step {step}")
    elif cfg.resume:
        say(f"nothing to resume in {out}: starting a new run")
    ctx.barrier()  # every rank has read the resume file before rank 0 may rewrite it
    out.mkdir(parents=True, exist_ok=True)
    neighbours = model.mesh.neighbour_mask(cfg.neighbour_fraction).to(device)
    sampler = StepBatchSampler(len(dataset), cfg.batch_size, cfg.steps, cfg.seed, step)
    if ctx.enabled:
        sampler = distributed.RankBatchSampler(sampler, ctx.rank, ctx.world)
    loader = step_loader(dataset, sampler, cfg.num_workers, pin_memory=device.type == "cuda")
    loop = StepLoop(cfg, out, f"train {config.category}", step, seconds_before, unit="step",
                    main=ctx.is_main)  # fmt: skip

    def meta() -> dict:
        return {"trainer": __name__, "step": loop.step, "images_seen": loop.step * cfg.batch_size,
                "seconds": loop.seconds(), "data": str(cfg.data), "split": cfg.split,
                "backbone_init": model.feature_net.describe_init(), "train_config": cfg.to_dict(),
                **{k: v for k, v in loop.last.items() if k in ("loss", "accuracy")}}  # fmt: skip

    def one_step(batch, done: int) -> dict:
        nonlocal generator
        if ctx.enabled:
            generator = distributed.step_generator(cfg.seed, done, ctx.rank)
        set_learning_rate(optimizer, cfg, done)
        return train_step(model, optimizer, batch, cfg, neighbours, generator, net, ctx)

    def save() -> None:
        m = meta()
        save_checkpoint(out / "last.pt", model, m)
        if cfg.snapshot_every and loop.step % cfg.snapshot_every == 0:
            save_checkpoint(out / f"step_{loop.step}.pt", model, m)
        save_resume(resume_path, model, optimizer, loop.step, generator, cfg,
                    {"seconds": m["seconds"]})  # fmt: skip

    loop.run(loader, one_step, optimizer, save,
             lambda s: {"loss": f"{s['loss']:.3f}", "acc": f"{s['accuracy']:.2f}"})  # fmt: skip
    distributed.check_in_sync(model, ctx)
    final = out / f"{config.category}.pt"
    if ctx.is_main:
        save_checkpoint(final, model, {**meta(), "processes": ctx.world})
    ctx.barrier()
    wall, step, last = loop.wall(), loop.step, loop.last
    done = step - loop.start
    rate = done / wall if wall > 0 else 0.0
    fmt = lambda v: "n/a" if v is None else f"{v:.4f}"  # noqa: E731
    say(f"trained {config.category}: steps {loop.start}->{step} ({done} this run, {rate:.2f} "
         f"steps/s, data wait {loop.data_wait:.1f} s), images seen {step * cfg.batch_size}, wall "
         f"{wall:.1f} s, final loss {fmt(last.get('loss'))}, accuracy "
         f"{fmt(last.get('accuracy'))} -> {final}")  # fmt: skip
    return final
