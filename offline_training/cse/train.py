"""Train a category's CSE model from unlabeled RGB-D sequences (paper 003), or with labels on.

Per step: ``B`` two-frame items (:class:`~.data.CseSequenceSet`) -> ``2B`` crops through the
model (plus ``B`` rotated copies of the first frames for the auxiliary cycle) -> Eq. 1
correspondences on each crop's object cells -> the losses of :mod:`.losses` weighted by
``weights`` (published where known) -> AdamW (cosine decay; the deformation MLP at
``deform_lr_scale`` x the learning rate, as published). No pose label is read unless
``supervised`` (the upper bound: the same losses plus :func:`~.losses.supervised_loss`).

Cross-instance cycle (``L_inst``, opt-in: ``instance_pairs`` = a DINO ViT backbone file): the
first frame of each item is paired with that of the next item from another sequence; the 2D pairs
come from a frozen DINO ViT (:mod:`.dino`, :mod:`.instance_pairs`), which is neither trained nor
saved in any checkpoint. Off by default: the losses are then exactly those without it.

Outputs in ``out``: ``log.jsonl`` (means of every loss term over ``log_every`` steps),
``last.pt`` + ``resume.pt`` every ``checkpoint_every`` steps and ``<category>.pt`` at the end.
``resume=True`` continues ``resume.pt`` exactly (batches depend on the step only; RNG states
restored). The run folder, resume file and step loop are those of every trainer
(:mod:`offline_training.train_loop`); the losses of a step are :mod:`.train_step`'s.

``device``: ``cpu`` (default) or ``cuda`` (the model and every batch on it; random draws stay on
a CPU generator). Under ``torchrun`` the run is distributed over the processes
(:mod:`offline_training.distributed`): the whole model runs inside ``DistributedDataParallel``,
every rank takes ``batch_size / world`` of each step's items, the step's random draws come from
a generator per (seed, step, rank), the log holds the mean of the ranks' statistics and only
rank 0 writes. One process trains exactly as before.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from offline_training import distributed, train_loop
from offline_training.cse import losses as L
from offline_training.cse.augment import OccluderConfig, PhotometricConfig
from offline_training.cse.data import AsLabelledTracks, CseSequenceSet
from offline_training.cse.shape_memory import build_memory
from offline_training.cse.train_step import StepContext, compute_losses
from offline_training.train_loop import (
    StepBatchSampler,
    StepLoop,
    check_new_run,
    step_loader,
    torch_threads,
)
from ros_pose_estimation.core.errors import ConfigError
from ros_pose_estimation.cse.checkpoint import save_checkpoint
from ros_pose_estimation.cse.model import CseConfig, CseModel

RESUME_FORMAT = "ros_pose_estimation/cse-train-resume"
MODEL_FIELDS = ("backbone", "backbone_stages", "dim", "stride", "fuse_channels", "crop_size",
                "crop_scale", "code_dim", "n_vertices", "tau", "centre_embeddings",
                "per_axis_scale")  # fmt: skip
#: Settings a resumed run must share with the run it continues.
RESUME_KEYS = (*MODEL_FIELDS, "category", "seed", "batch_size", "supervised", "steps")


@dataclass
class CseTrainConfig:
    """Settings of :func:`train` (published: AdamW lr 1e-4 cosine, deformation lr 1e-5,
    batch 64 = 16 videos x 4 frames, 20k steps; defaults here are sized for a CPU)."""

    data: str
    category: str
    out: str
    split: str = "train"
    views_per_layout: int = 8
    steps: int = 600
    batch_size: int = 6  # items = frame pairs (2 crops each)
    lr: float = 3e-4
    weight_decay: float = 1e-4
    deform_lr_scale: float = 0.1
    n_pairs: int = 200
    aux_rotation: bool = True
    supervised: bool = False
    weights: dict = field(default_factory=lambda: dict(L.DEFAULT_WEIGHTS))
    min_visib_fract: float = 0.5
    checkpoint_every: int = 100
    log_every: int = 10
    seed: int = 0
    num_workers: int = 1
    num_threads: int | None = None
    device: str = "cpu"  # cpu or cuda (under torchrun: cuda:LOCAL_RANK)
    backbone: str = "small"
    backbone_stages: int = 4
    backbone_weights: str | None = None
    dim: int = 64
    stride: int = 4
    fuse_channels: int | None = 64
    crop_size: int = 128
    crop_scale: float = 1.2
    code_dim: int = 64
    n_vertices: int = 600
    tau: float = 0.1
    centre_embeddings: bool = False
    #: labels in the template frame stretched per axis and no deformation (CseConfig; needs
    #: ``supervised``: the stretch comes from each instance's true size)
    per_axis_scale: bool = False
    instance_pairs: str | None = None  # DINO backbone file: turns the cross-instance cycle on
    init_checkpoint: str | None = None  # a CSE checkpoint of the category to start from
    instance_grid: int | None = None  # ViT patches per crop side (None: the CSE feature size)
    resume: bool = False
    progress: bool = True
    #: read the pseudo-labels ``pose-train`` wrote into ``scene_gt`` (the depth + TF labeller's
    #: accepted tracks) and add the ``pseudo`` term on those crops
    pseudo_labels: bool = False
    #: perturb the look of every training crop (colour, blur, noise, JPEG: .augment)
    photometric: bool = False
    #: probability of an occluder in front of each training crop's object (colour, depth and
    #: visible mask: .augment.occlude_rgbd); 0: none
    p_occlude: float = 0.0
    #: a labelled BOP set (split ``train``, e.g. the synthetic data of ``init_checkpoint``)
    #: whose tracks replace each item with probability ``replay_fraction``, with their exact
    #: poses through the ``pseudo`` term (needs ``pseudo_labels``): fine-tuning on a few
    #: recorded instances then forgets the category less (:mod:`offline_training.replay`)
    replay_data: str | None = None
    replay_fraction: float = 0.5
    #: the replay set's images per sequence (the data engine's ``--views-per-layout``)
    replay_views_per_layout: int = 8
    # paper 004 (on through the weights memory / memory_deform / c2f_coarse / c2f_fine):
    memory_codes: int = 64  # shape codes K of the part memory
    memory_grid: int = 2  # patches per crop side (N = grid^2 part descriptors)
    memory_dim: int = 32  # code channels C
    memory_beta: float = 0.25  # commitment weight (Eq. 3)
    memory_decay: float | None = 0.99  # codebook moving average (None: trained by Eq. 3)
    c2f_pool: int = 2  # feature cells per region side of the Hungarian labels (Eq. 4)

    def __post_init__(self) -> None:
        names = ("steps", "batch_size", "checkpoint_every", "log_every", "n_pairs")
        train_loop.require_positive(self, names)
        unknown = set(self.weights) - set(L.DEFAULT_WEIGHTS)
        if unknown:
            raise ConfigError(f"unknown loss weights {sorted(unknown)}; known: "
                              f"{sorted(L.DEFAULT_WEIGHTS)}")  # fmt: skip
        if self.instance_grid is not None and self.instance_grid < 1:
            raise ConfigError(f"instance_grid must be >= 1 or None, got {self.instance_grid}")
        if not 0.0 <= self.replay_fraction <= 1.0:
            raise ConfigError(f"replay_fraction must be in [0, 1], got {self.replay_fraction}")
        if not 0.0 <= self.p_occlude <= 1.0:
            raise ConfigError(f"p_occlude must be in [0, 1], got {self.p_occlude}")
        if self.deform_lr_scale < 0:
            raise ConfigError(f"deform_lr_scale must be >= 0, got {self.deform_lr_scale}")
        if self.per_axis_scale and not self.supervised:
            raise ConfigError("per_axis_scale needs supervised: its labels are stretched by "
                              "each instance's true size, which pseudo-labels do not carry")
        if self.replay_data and not self.pseudo_labels:
            raise ConfigError("replay_data needs pseudo_labels (the replayed exact poses go "
                              "through the pseudo term)")  # fmt: skip

    def model_config(self) -> CseConfig:
        return CseConfig(self.category, **{k: getattr(self, k) for k in MODEL_FIELDS})

    def to_dict(self) -> dict:
        return asdict(self)


def make_optimizer(model: CseModel, cfg: CseTrainConfig) -> torch.optim.Optimizer:
    """AdamW; the deformation MLP at ``deform_lr_scale`` x ``lr`` (published 1e-5 vs 1e-4)."""
    deform = list(model.deform.parameters())
    ids = {id(p) for p in deform}
    rest = [p for p in model.parameters() if id(p) not in ids]
    groups = [{"params": rest, "lr": cfg.lr},
              {"params": deform, "lr": cfg.lr * cfg.deform_lr_scale}]  # fmt: skip
    return torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)


def _cosine(optimizer, cfg: CseTrainConfig, step: int) -> None:
    factor = 0.5 * (1.0 + math.cos(math.pi * min(step, cfg.steps) / cfg.steps))
    bases = (1.0, cfg.deform_lr_scale, *[1.0] * (len(optimizer.param_groups) - 2))  # + memory
    for group, base in zip(optimizer.param_groups, bases, strict=True):
        group["lr"] = cfg.lr * base * factor


def _load_resume(path: Path, cfg: CseTrainConfig) -> dict:
    """Read ``resume.pt`` and check its settings :data:`RESUME_KEYS` are those of ``cfg``
    (files written before the ``centre_embeddings`` / ``backbone_stages`` options have them
    off / 4)."""
    return train_loop.load_resume(path, RESUME_FORMAT, "CSE", cfg, RESUME_KEYS,
                                  {"centre_embeddings": False, "backbone_stages": 4,
                                   "per_axis_scale": False})  # fmt: skip


def train(cfg: CseTrainConfig) -> Path:
    """Train (or resume); returns ``OUT/<category>.pt``.

    Raises:
        ConfigError: bad settings, ``out`` holds a run without ``resume``, mismatching resume.
        NoSamplesError: no usable track of the category in the data.
        CheckpointError: ``instance_pairs`` is not a readable DINO ViT backbone file.
    """
    out = Path(cfg.out)
    ctx = distributed.setup(cfg.device, cfg.batch_size)
    try:
        return _prepare_and_run(cfg, out, ctx)
    finally:
        ctx.close()


def _prepare_and_run(cfg: CseTrainConfig, out: Path, ctx: distributed.DistContext) -> Path:
    check_new_run(out, cfg.resume)  # every rank checks before rank 0 writes (a barrier in _run)
    dino = None
    if cfg.instance_pairs:
        from offline_training.cse.dino import load_dino

        dino = load_dino(cfg.instance_pairs)
    config = cfg.model_config()
    dataset = CseSequenceSet(
        cfg.data, config.category, cfg.split, cfg.views_per_layout, cfg.crop_size,
        cfg.crop_scale, cfg.stride, cfg.min_visib_fract, n_pairs=cfg.n_pairs,
        with_labels=cfg.supervised, seed=cfg.seed, pseudo_labels=cfg.pseudo_labels,
        photometric=PhotometricConfig() if cfg.photometric else None,
        occluders=OccluderConfig(p=cfg.p_occlude) if cfg.p_occlude > 0 else None,
    )  # fmt: skip
    if cfg.replay_data:  # labelled source tracks mixed into the batches
        from offline_training.replay import ReplaySet

        source = CseSequenceSet(
            cfg.replay_data, config.category, "train", cfg.replay_views_per_layout,
            cfg.crop_size, cfg.crop_scale, cfg.stride, n_pairs=cfg.n_pairs, with_labels=True,
            seed=cfg.seed, photometric=PhotometricConfig() if cfg.photometric else None,
        )  # fmt: skip
        offset = max(dataset.sequences) + 1
        dataset = ReplaySet(dataset, AsLabelledTracks(source, offset), cfg.replay_fraction,
                            cfg.seed)  # fmt: skip
        if ctx.is_main:
            train_loop.say(dataset.describe("tracks"))
    with torch_threads(cfg.num_threads or torch.get_num_threads()):
        return _run(cfg, config, dataset, out, dino, ctx)


def load_init(model: CseModel, path: str) -> None:
    """Copy the weights, template and embeddings of the CSE checkpoint ``path`` into ``model``
    (strict; only the crop settings and ``per_axis_scale`` may differ,
    :func:`.train_loop.load_init_weights`: one scale or one per axis changes the labels and the
    solver, not the network, so a one-scale model can start a per-axis one). A viewpoint bias
    correction the checkpoint carries is not copied: it was fitted to the old weights (run
    ``calibrate-cse`` on the trained model)."""
    from ros_pose_estimation.cse.checkpoint import load_checkpoint

    init, _ = load_checkpoint(path, model.category)
    train_loop.load_init_weights(model, init, path, ignore={"per_axis_scale"})


def _to(batch: dict, device: torch.device) -> dict:
    """The batch's tensors on ``device`` (the same tensors when they are there already)."""
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v
            for k, v in batch.items()}  # fmt: skip


def _run(cfg: CseTrainConfig, config: CseConfig, dataset: CseSequenceSet, out: Path,
         dino: torch.nn.Module | None = None,
         dctx: distributed.DistContext | None = None) -> Path:  # fmt: skip
    dctx = dctx or distributed.DistContext(device=cfg.device)
    say = train_loop.say if dctx.is_main else (lambda _: None)
    device = torch.device(dctx.device)
    torch.manual_seed(cfg.seed)
    model = CseModel(config, backbone_weights=cfg.backbone_weights)
    resuming = cfg.resume and (out / "resume.pt").exists()
    if cfg.init_checkpoint and not resuming:
        load_init(model, cfg.init_checkpoint)
    model.to(device).train()
    if dino is not None:
        dino.to(device)
    net = model  # what the step calls: the model, or its DDP wrapper (gradients averaged)
    if dctx.enabled:
        ids = [device.index] if device.type == "cuda" else None
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
    optimizer = make_optimizer(model, cfg)
    memory = build_memory(model, cfg)  # paper 004, training-only (None: off)
    if memory is not None:
        if dctx.enabled:  # its codebook and gradients are not synchronised over the ranks
            raise ConfigError("the paper-004 shape memory trains in one process only")
        optimizer.add_param_group({"params": list(memory.parameters()), "lr": cfg.lr})
    gen = torch.Generator().manual_seed(cfg.seed)
    step, seconds_before = 0, 0.0
    resume_path = out / "resume.pt"
    if cfg.resume and resume_path.exists():
        state = _load_resume(resume_path, cfg)
        step, seconds_before = train_loop.restore(state, model, optimizer)
        if memory is not None and "memory" in state:
            memory.load_state_dict(state["memory"])
        torch.set_rng_state(state["torch_rng"])
        gen.set_state(state["generator"])
        if dctx.is_main:
            train_loop.truncate_log(out / "log.jsonl", step)
    dctx.barrier()  # every rank has read the resume file before rank 0 may rewrite it
    out.mkdir(parents=True, exist_ok=True)
    if cfg.supervised:
        mode = "supervised (labels on)"
    elif cfg.pseudo_labels:
        mode = "self-supervised (no ground truth)"
    else:
        mode = "self-supervised (no pose labels)"
    if cfg.init_checkpoint and not resuming:
        mode += f", fine-tuning {cfg.init_checkpoint}"
    if dino is not None:
        mode += f", cross-instance pairs from DINO ViT ({cfg.instance_pairs})"
    if cfg.pseudo_labels:
        mode += ", plus the depth + TF pseudo-labels in the data"
    if cfg.weights.get("gravity", 0.0):
        mode += ", upright prior from the camera poses"
    if dctx.enabled:
        mode += f", {dctx.world} processes on {device.type} (rank 0 logs)"
    say(
        f"{config.category}: {len(dataset)} tracks in {cfg.data}/{cfg.split}, {mode}, "
        f"template {model.n_vertices} vertices, "
        + ("weights from the checkpoint" if cfg.init_checkpoint or resuming
           else model.feature_net.describe_init())  # fmt: skip
    )
    ctx = StepContext(model, dino, net, memory)
    sampler = StepBatchSampler(len(dataset), cfg.batch_size, cfg.steps, cfg.seed, step)
    if dctx.enabled:
        sampler = distributed.RankBatchSampler(sampler, dctx.rank, dctx.world)
    loader = step_loader(dataset, sampler, cfg.num_workers, pin_memory=device.type == "cuda")
    loop = StepLoop(cfg, out, f"train-cse {config.category}", step, seconds_before,
                    main=dctx.is_main)  # fmt: skip

    def meta() -> dict:
        return {"trainer": __name__, "step": loop.step, "supervised": cfg.supervised,
                "seconds": loop.seconds(), "data": cfg.data,
                "train_config": cfg.to_dict()}  # fmt: skip

    def one_step(batch, done: int) -> dict:
        nonlocal gen
        if dctx.enabled:
            gen = distributed.step_generator(cfg.seed, done, dctx.rank)
        _cosine(optimizer, cfg, done)
        loss, stats = compute_losses(model, _to(batch, device), cfg, ctx, gen)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # under DDP: the gradients are averaged over the ranks here
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        return distributed.mean_over_ranks(stats, dctx)

    def save() -> None:
        m = meta()
        save_checkpoint(out / "last.pt", model, m)
        rng = {"torch_rng": torch.get_rng_state(), "generator": gen.get_state()}
        if memory is not None:
            rng["memory"] = train_loop.cpu_state(memory)
        train_loop.save_resume(resume_path, RESUME_FORMAT, loop.step, model, optimizer,
                               cfg.to_dict(), **rng, seconds=float(m["seconds"]))  # fmt: skip

    loop.run(loader, one_step, optimizer, save, lambda s: {"loss": f"{s['loss']:.4f}"})
    distributed.check_in_sync(model, dctx)
    final = out / f"{config.category}.pt"
    if dctx.is_main:
        save_checkpoint(final, model, {**meta(), "processes": dctx.world})
    dctx.barrier()  # the final model exists when any rank returns its path
    say(f"trained {config.category} to step {loop.step} in {loop.seconds():.0f} s -> {final}")
    return final
