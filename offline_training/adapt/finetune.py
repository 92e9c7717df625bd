"""One adaptation round's M-step and measurement: fine-tune a NeMo checkpoint on a labelled BOP
set with ``train-nemo``'s machinery, and score a checkpoint on the held-out target part.

:class:`FineTune` holds the training settings every path shares (the model's own settings come
from the checkpoint being fine-tuned, so any bundled or adapted model can be the start).
:func:`heldout_accuracy` is ``evaluate-nemo`` on ``max_objects`` objects of the held-out part.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from offline_training.nemo.train_config import MODEL_FIELDS, TrainConfig

__all__ = ["FineTune", "heldout_accuracy"]

#: the held-out metrics kept in the report (``offline_training.nemo.evaluate`` keys)
HELDOUT_KEYS = ("count", "acc_pi_6", "acc_pi_18", "median_rot_deg", "median_trans_cm",
                "mean_score")  # fmt: skip


@dataclass
class FineTune:
    """Training settings of a round (``train-nemo``'s, :class:`TrainConfig`).

    Defaults follow the bundled models' recipe (``scripts/nemo_pretrained_experiment.sh``) at a
    fine-tuning learning rate: Adam 1e-4 constant, backbone at half the rate, stem and first
    stage frozen, 1024 vertex observations per step. ``domain_weight`` is alpha of paper 001
    Eq. 5 (unpublished; 0 = contrastive loss only); with ``domain_self`` the term is computed on
    the training crops themselves (pseudo-labelled target images have no twin,
    :mod:`offline_training.nemo.domain`). ``freeze_backbone_bn`` keeps the backbone's
    batch-norm statistics (:class:`TrainConfig`), which a small label set would re-estimate.
    ``replay_data``: labelled source data (e.g. the start model's synthetic training set) of
    which ``replay_fraction`` of the items are drawn (:mod:`offline_training.replay`).
    """

    steps: int = 200
    batch_size: int = 16
    lr: float = 1e-4
    backbone_lr_scale: float = 0.5
    frozen_stages: int = 1
    max_points: int | None = 1024
    domain_weight: float = 0.0
    domain_self: bool = True
    freeze_backbone_bn: bool = False
    replay_data: str | None = None
    replay_fraction: float = 0.5
    seed: int = 0
    num_threads: int | None = 1
    num_workers: int = 1
    checkpoint_every: int = 50
    device: str = "cpu"
    progress: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    def config(self, checkpoint: str | Path, data: str | Path, out: str | Path,
               split: str = "train") -> TrainConfig:  # fmt: skip
        """The :class:`TrainConfig` that fine-tunes ``checkpoint`` on ``data/split`` into
        ``out`` (resumable: ``resume=True``)."""
        from ros_pose_estimation.nemo.checkpoint import read_checkpoint

        model = dict(read_checkpoint(checkpoint)["config"])
        fields = {k: model[k] for k in MODEL_FIELDS if k in model}
        domain = self.domain_weight > 0
        return TrainConfig(
            data=str(data), category=str(model["category"]), out=str(out), split=split,
            steps=self.steps, batch_size=self.batch_size, lr=self.lr,
            backbone_lr_scale=self.backbone_lr_scale, frozen_stages=self.frozen_stages,
            max_points=self.max_points, checkpoint_every=self.checkpoint_every,
            log_every=min(10, self.steps), seed=self.seed, device=self.device,
            num_workers=self.num_workers, num_threads=self.num_threads, resume=True,
            progress=self.progress, init_checkpoint=str(checkpoint),
            domain_weight=self.domain_weight, domain_self=self.domain_self and domain,
            freeze_backbone_bn=self.freeze_backbone_bn, replay_data=self.replay_data,
            replay_fraction=self.replay_fraction, **fields,
        )  # fmt: skip

    def run(self, checkpoint: str | Path, data: str | Path, out: str | Path,
            split: str = "train") -> Path:  # fmt: skip
        """Fine-tune (or resume fine-tuning); returns ``out/<category>.pt``."""
        from offline_training.nemo.train import train

        return train(self.config(checkpoint, data, out, split))


def heldout_accuracy(checkpoint: str | Path, root: str | Path, split: str = "test",
                     preset: str = "default", max_objects: int | None = 100,
                     min_visib: float = 0.3, device: str = "cpu") -> dict:  # fmt: skip
    """Acc@pi/6, Acc@pi/18, median rotation error (deg), median translation error (cm) and mean
    confidence of ``checkpoint`` on the first ``max_objects`` objects of ``root/split``
    (:data:`HELDOUT_KEYS`; the same objects for every checkpoint).

    Raises:
        InputError: nothing of the checkpoint's category to evaluate.
    """
    from offline_training.nemo.evaluate import evaluate, summarize
    from offline_training.synthetic.bop_reader import BopDataset
    from ros_pose_estimation.core.errors import InputError
    from ros_pose_estimation.nemo.estimator import NemoEstimator
    from ros_pose_estimation.nemo.presets import InferenceConfig

    estimator = NemoEstimator.from_checkpoints([checkpoint], InferenceConfig.named(preset), device)
    results = evaluate(BopDataset(root, split, load_masks=False), {preset: estimator},
                       min_visib, max_objects)  # fmt: skip
    if not results:
        raise InputError(f"no object of {estimator.categories} to evaluate in {root}/{split}")
    metrics = summarize(results)[preset]["all"]
    return {k: metrics[k] for k in HELDOUT_KEYS}
