"""Settings of the NeMo trainer (:func:`offline_training.nemo.train.train`): one dataclass,
validated on construction; the model fields among them build the :class:`NemoConfig`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from offline_training import train_loop
from offline_training.nemo.augment import AugmentConfig
from ros_pose_estimation.core.categories import get_category
from ros_pose_estimation.core.errors import ConfigError
from ros_pose_estimation.nemo.model import NemoConfig

__all__ = ["LR_SCHEDULES", "MODEL_FIELDS", "TrainConfig"]

LR_SCHEDULES = ("constant", "cosine")
MODEL_FIELDS = ("backbone", "dim", "fuse_channels", "crop_size", "crop_scale", "mesh_kind",
                "n_vertices", "geodesic_level", "mesh_margin", "n_clutter",
                "backbone_stages", "per_axis_scale", "stride")  # fmt: skip


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
    from (feature net and neural mesh; fine-tuning), None = a fresh model;
    ``init_feature_net_only``: take only its feature net (its settings must match) and start a
    new neural mesh, e.g. of another ``mesh_kind`` or size.

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

    Enhanced data and the domain-consistency loss (paper 001 Eqs. 4-5, :mod:`.domain`):
    ``replay_data``: a labelled source BOP dataset (e.g. the synthetic training data of the
    model being fine-tuned); each item is drawn from it with probability ``replay_fraction``
    (:mod:`offline_training.replay`: fine-tuning on a small target then forgets less).
    ``mix_data`` is an enhanced copy of ``data`` (``enhance-dataset``; None = plain data only);
    an object whose image it holds is served from it with probability ``mix_fraction``;
    ``domain_weight`` alpha > 0 adds ``alpha * L_domain`` on the other domain's twin of each
    such object (0 = off, the default). ``domain_self`` instead applies the term to each
    crop's own features at its label (CC3D on pseudo-labelled target images, which have no
    twin: ``||f~_r - C_r||^2`` with ``f~`` from the crop itself, :mod:`offline_training.adapt`).

    Pose margin (:mod:`.pose_margin`): ``pose_margin_weight`` > 0 adds that times
    ``softplus((L(truth) - L(perturbed)) / pose_margin_temperature)`` over
    ``pose_margin_poses`` rotations per crop, ``pose_margin_min_deg``..``pose_margin_max_deg``
    (log-uniform) off the label: render-and-compare's loss must be lowest at the true pose;
    ``pose_margin_turns`` (deg) adds each crop's turns about the model's up axis by those
    angles, the symmetries of its instance left out (a box's half turn). A per-axis-scaled
    model renders each crop's instance, its quarter turns with the extents kept in the camera.
    ``pose_margin_refine`` refines each turn first (the default preset's refinement): the
    wrong pose a search reaches from it, not the turn of the truth.
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
    stride: int = 8
    mesh_kind: str = "cuboid"
    n_vertices: int = 1000
    geodesic_level: int = 3
    mesh_margin: float = 0.05
    n_clutter: int = 2560
    per_axis_scale: bool = False
    augment: AugmentConfig | None = field(default_factory=AugmentConfig)
    resume: bool = False
    progress: bool = True
    init_checkpoint: str | None = None
    init_feature_net_only: bool = False
    lr_schedule: str = "constant"
    min_lr_fraction: float = 0.05
    backbone_lr_scale: float = 1.0
    freeze_backbone_bn: bool = False
    frozen_stages: int = 0
    snapshot_every: int = 0
    mix_data: str | None = None
    mix_fraction: float = 0.5
    domain_weight: float = 0.0
    domain_self: bool = False
    replay_data: str | None = None
    replay_fraction: float = 0.5
    canonical_symmetry: bool = False
    symmetric_vertices: bool = False
    pose_margin_weight: float = 0.0
    pose_margin_poses: int = 4
    pose_margin_min_deg: float = 2.0
    pose_margin_max_deg: float = 30.0
    pose_margin_temperature: float = 0.005
    pose_margin_turns: tuple[float, ...] = ()
    pose_margin_refine: bool = False

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
        if not 0.0 <= self.mix_fraction <= 1.0 or self.domain_weight < 0:
            raise ConfigError(f"need mix_fraction in [0, 1] and domain_weight >= 0, got "
                              f"{self.mix_fraction}, {self.domain_weight}")  # fmt: skip
        if self.domain_self and self.mix_data:
            raise ConfigError("domain_self and mix_data exclude each other: the domain term "
                              "compares either the crops themselves or their twins")
        if not 0.0 <= self.replay_fraction <= 1.0:
            raise ConfigError(f"replay_fraction must be in [0, 1], got {self.replay_fraction}")
        if not 0.0 <= self.neighbour_fraction < 1.0:
            raise ConfigError(f"neighbour_fraction must be in [0, 1) of the mesh scale, got "
                              f"{self.neighbour_fraction}")  # fmt: skip
        if self.replay_data and self.mix_data:
            raise ConfigError("replay_data and mix_data exclude each other (one mixed set)")
        if self.pose_margin_weight < 0 or self.pose_margin_poses < 1:
            raise ConfigError(f"need pose_margin_weight >= 0 and pose_margin_poses >= 1, got "
                              f"{self.pose_margin_weight}, {self.pose_margin_poses}")  # fmt: skip
        if not 0 < self.pose_margin_min_deg <= self.pose_margin_max_deg:
            raise ConfigError(f"need 0 < pose_margin_min_deg <= pose_margin_max_deg, got "
                              f"{self.pose_margin_min_deg}, {self.pose_margin_max_deg}")
        if self.pose_margin_temperature <= 0:
            raise ConfigError(f"pose_margin_temperature must be > 0, got "
                              f"{self.pose_margin_temperature}")  # fmt: skip
        self.pose_margin_turns = tuple(float(a) for a in self.pose_margin_turns)
        if not all(0.0 < a < 360.0 for a in self.pose_margin_turns):
            raise ConfigError(f"pose_margin_turns: each angle in (0, 360) deg, got "
                              f"{list(self.pose_margin_turns)}")  # fmt: skip
        if self.pose_margin_turns and get_category(self.category).has_continuous_symmetry:
            raise ConfigError(f"pose_margin_turns: every turn about up is a symmetry of a "
                              f"{self.category}, so none is a wrong pose")  # fmt: skip
        if self.pose_margin_refine and not self.pose_margin_turns:
            raise ConfigError("pose_margin_refine refines the pose margin's turns: give "
                              "pose_margin_turns too")  # fmt: skip
        if self.pose_margin_turns and self.pose_margin_weight <= 0:
            raise ConfigError("pose_margin_turns needs pose_margin_weight > 0 (the turns are "
                              "the pose margin's negatives)")  # fmt: skip
        if self.domain_weight > 0 and not (self.mix_data or self.domain_self):
            raise ConfigError("domain_weight > 0 needs mix_data (the enhanced copy whose "
                              "twins the domain-consistency loss compares)")  # fmt: skip

    def nemo_config(self) -> NemoConfig:
        return NemoConfig(self.category, **{k: getattr(self, k) for k in MODEL_FIELDS})

    def to_dict(self) -> dict:
        return asdict(self)
