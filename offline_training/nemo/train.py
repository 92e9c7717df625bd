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
depend only on the step (:class:`~offline_training.train_loop.StepBatchSampler`) and every RNG
state is restored.
``init_checkpoint`` starts from a trained model of the same settings (fine-tuning). Under
``torchrun`` the run is distributed over the processes (:mod:`offline_training.distributed`):
the feature net runs inside ``DistributedDataParallel``; the momentum update of the vertex
features and the clutter queue are driven by the sampled features of *all* ranks (gathered in
rank order), so every rank applies the same update and the meshes stay identical without a
broadcast; background sampling draws from a generator reseeded per (seed, step, rank). The run
folder, resume file and step loop are those of every trainer (:mod:`offline_training.train_loop`).
The settings are :class:`~.train_config.TrainConfig`; one step and the optimizer are
:mod:`.train_step`'s.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from offline_training import distributed, train_loop
from offline_training.nemo.data import NemoTrainingSet
from offline_training.nemo.domain import MixedTrainingSet
from offline_training.nemo.train_config import MODEL_FIELDS, TrainConfig
from offline_training.nemo.train_step import (
    freeze_backbone_parts,
    make_optimizer,
    set_learning_rate,
    train_step,
)
from offline_training.train_loop import (
    StepBatchSampler,
    StepLoop,
    check_new_run,
    step_loader,
    torch_threads,
)
from ros_pose_estimation.core.errors import ConfigError
from ros_pose_estimation.nemo.checkpoint import save_checkpoint
from ros_pose_estimation.nemo.model import NemoConfig, NemoModel

RESUME_FORMAT = "ros_pose_estimation/nemo-train-resume"


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
    # settings that resume files written before them lack
    older = {"backbone_stages": 4, "stride": 8}
    return train_loop.load_resume(path, RESUME_FORMAT, "NeMo", cfg, keys, older)


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
        canonical_symmetry=cfg.canonical_symmetry,
    )  # fmt: skip
    if cfg.replay_data:  # labelled source items mixed into the batches (.replay)
        from offline_training.replay import ReplaySet

        source = NemoTrainingSet(
            cfg.replay_data, config.category, "train", cfg.crop_size, cfg.crop_scale,
            cfg.min_visib_fract, augment=cfg.augment, seed=cfg.seed,
            canonical_symmetry=cfg.canonical_symmetry,
        )  # fmt: skip
        dataset = ReplaySet(dataset, source, cfg.replay_fraction, cfg.seed)
        if ctx.is_main:
            train_loop.say(dataset.describe())
    if cfg.mix_data:  # enhanced twins (paper 001; .domain)
        dataset = MixedTrainingSet(dataset, cfg.mix_data, cfg.mix_fraction, cfg.domain_weight > 0)
        if ctx.is_main:
            train_loop.say(dataset.describe())
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        with torch_threads(cfg.num_threads or cores or 1):
            return _run(cfg, config, dataset, out, ctx)
    finally:
        ctx.close()


def _refuse_views_data(cfg: TrainConfig) -> None:
    """Refuses a posed-views dataset (:mod:`offline_training.diffusion.views_dataset`) for a
    neural mesh fitted to each instance (``per_axis_scale``, asked for or kept from the init
    checkpoint): its models_info gives every instance the instance sphere's cube, in a frame
    that is not the category's, so the fit would stretch the mesh to a cube."""
    from offline_training.diffusion.views_dataset import INSTANCES_FILE

    for root in (cfg.data, cfg.replay_data):
        if root and (Path(root) / INSTANCES_FILE).exists():
            raise ConfigError(
                f"{root} is a posed-views dataset (it has {INSTANCES_FILE}): its instances' "
                "sizes are the instance sphere's cube in each instance's own frame, not their "
                "extents, so a neural mesh fitted to each instance (per_axis_scale, asked for or "
                "kept from --init-checkpoint) would be stretched to a cube; train it without "
                "--per-axis-scale, from a checkpoint trained without it")


#: NeMo model settings of the neural mesh only (``init_feature_net_only`` may change them)
MESH_SETTINGS = frozenset({"mesh_kind", "n_vertices", "geodesic_level", "mesh_margin",
                           "n_clutter"})  # fmt: skip


def _load_init(model: NemoModel, cfg: TrainConfig) -> str:
    """Copy the weights and neural mesh of ``cfg.init_checkpoint`` into ``model`` (strict; only
    the crop settings may differ, :func:`.train_loop.load_init_weights`, and the stride may be
    finer than the checkpoint's, :meth:`FeatureNet.load_coarser`); returns the lineage:
    the checkpoint's own ``backbone_init`` (where its backbone came from), then the checkpoint.
    A view correction the checkpoint carries is left behind: it was fitted to the weights
    training is about to change."""
    from ros_pose_estimation.nemo.checkpoint import load_checkpoint

    init, meta = load_checkpoint(cfg.init_checkpoint, cfg.category)
    if init.config.stride > model.config.stride:  # a finer map from a coarser model's weights
        ignore = {"stride", "per_axis_scale"} | (MESH_SETTINGS if cfg.init_feature_net_only
                                                 else set())  # fmt: skip
        train_loop.check_init_settings(model.config, init.config, cfg.init_checkpoint, ignore)
        model.feature_net.load_coarser(init.feature_net)
        if not cfg.init_feature_net_only:
            model.mesh.load_state_dict(init.mesh.state_dict())
    elif cfg.init_feature_net_only:  # a new neural mesh on the checkpoint's features
        train_loop.load_init_weights(model.feature_net, init.feature_net, cfg.init_checkpoint,
                                     ignore=MESH_SETTINGS, ours=model.config,
                                     theirs=init.config)  # fmt: skip
    else:
        # per_axis_scale only changes where the mesh is placed, not what it holds
        train_loop.load_init_weights(model, init, cfg.init_checkpoint,
                                     ignore={"per_axis_scale"})  # fmt: skip
    lineage = f"{meta.get('backbone_init', 'unknown')}; fine-tuning {cfg.init_checkpoint}"
    if init.config.per_axis_scale and not model.config.per_axis_scale:
        # its vertex features describe places on each instance's own cuboid: keep it that way
        model.config.per_axis_scale = True
        lineage += " (per_axis_scale kept from it)"
    if init.view_correction is not None:  # fitted to the old weights: stale after training
        lineage += " (its view correction is not carried over: fit one with calibrate-nemo)"
    return lineage


def _symmetric_mesh(model: NemoModel, neighbours: torch.Tensor, tie: bool
                    ) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """The orbits ``[K x V]`` of the mesh's vertices under the category's symmetries and the
    negatives to leave out ``[V x V]``; with ``tie`` the vertex features are averaged over each
    orbit first (a resumed run's are tied already)."""
    from offline_training.nemo import symmetric_vertices as sym

    rotations = sym.symmetry_rotations(model.config.category)
    if len(rotations) < 2:
        raise ConfigError(
            f"--symmetric-vertices: category {model.config.category!r} has no rotational "
            "symmetry (categories.md); train without it"
        )
    orbits = sym.vertex_orbits(model.mesh.vertices, rotations)
    if tie:
        with torch.no_grad():
            model.mesh.features.copy_(sym.tie_features(model.mesh.features, orbits))
    return orbits, sym.symmetric_neighbours(neighbours, orbits)


def _run(cfg: TrainConfig, config: NemoConfig, dataset: NemoTrainingSet, out: Path,
         ctx: distributed.DistContext) -> Path:  # fmt: skip
    torch.manual_seed(cfg.seed)
    model = NemoModel(config, cfg.backbone_weights, seed=cfg.seed)
    init = model.feature_net.describe_init()
    if cfg.init_checkpoint:
        # the lineage stays readable: "<the start's own backbone_init>; fine-tuning <path>"
        init = _load_init(model, cfg)
    elif not model.feature_net.pretrained:
        init += " -> RANDOM INIT (give backbone_weights / --backbone-weights for ImageNet init)"
    if model.config.per_axis_scale:  # asked for, or kept from the init checkpoint
        _refuse_views_data(cfg)
    say = train_loop.say if ctx.is_main else (lambda _: None)
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
    orbits = None
    if cfg.symmetric_vertices:  # one feature per symmetry orbit (.symmetric_vertices)
        orbits, neighbours = _symmetric_mesh(model, neighbours, tie=step == 0)
        say(f"symmetric vertices: {len(orbits)} rotations tie the neural mesh's features")
    sampler = StepBatchSampler(len(dataset), cfg.batch_size, cfg.steps, cfg.seed, step)
    if ctx.enabled:
        sampler = distributed.RankBatchSampler(sampler, ctx.rank, ctx.world)
    loader = step_loader(dataset, sampler, cfg.num_workers, pin_memory=device.type == "cuda")
    loop = StepLoop(cfg, out, f"train {config.category}", step, seconds_before, unit="step",
                    main=ctx.is_main)  # fmt: skip

    def meta() -> dict:
        return {"trainer": __name__, "step": loop.step, "images_seen": loop.step * cfg.batch_size,
                "seconds": loop.seconds(), "data": str(cfg.data), "split": cfg.split,
                "backbone_init": init, "train_config": cfg.to_dict(),
                **{k: v for k, v in loop.last.items() if k in ("loss", "accuracy")}}  # fmt: skip

    def one_step(batch, done: int) -> dict:
        nonlocal generator
        if ctx.enabled:
            generator = distributed.step_generator(cfg.seed, done, ctx.rank)
        set_learning_rate(optimizer, cfg, done)
        return train_step(model, optimizer, batch, cfg, neighbours, generator, net, ctx,
                          orbits=orbits)  # fmt: skip

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
