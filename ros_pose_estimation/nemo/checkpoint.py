"""One-file checkpoints of :class:`~ros_pose_estimation.nemo.model.NemoModel`.

Layout (a plain dict of tensors, strings and numbers, so ``torch.load(weights_only=True)``
reads it and nothing in it can execute code)::

    {
      "format": "ros_pose_estimation/nemo",
      "format_version": 1,
      "category": "mug",
      "config": {...NemoConfig fields...},
      "feature_net": {state dict},
      "neural_mesh": {"vertices", "faces", "features", "clutter", "clutter_ptr"},
      "meta": {free-form JSON-like training information: steps, data, seed, time, ...},
      "view_correction": {"category", "views", "residuals", "sigma", "info",
                          "rolls", "roll_sigma"}   (optional; rolls/roll_sigma optional)
    }

``view_correction`` is present when the model was calibrated (``calibrate-nemo``,
:mod:`ros_pose_estimation.core.view_correction`); checkpoints without it load as before.

Loading is strict: unknown formats, newer versions, another category than the one asked for,
and missing or unexpected weights raise :class:`CheckpointError` saying what was expected.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ros_pose_estimation.core.checkpoint_file import (
    correction_entry,
    read_correction,
    read_payload,
    write_model,
)
from ros_pose_estimation.core.checkpoint_weights import build_model
from ros_pose_estimation.core.errors import CheckpointError
from ros_pose_estimation.nemo.model import NemoConfig, NemoModel
from ros_pose_estimation.nemo.neural_mesh import NeuralMesh

FORMAT = "ros_pose_estimation/nemo"
FORMAT_VERSION = 1


def save_checkpoint(path: str | os.PathLike, model: NemoModel, meta: dict | None = None) -> Path:
    """Write ``model`` to ``path`` atomically (a temporary file renamed into place), with its
    ``view_correction`` when it has one."""
    parts = {"feature_net": model.feature_net, "neural_mesh": model.mesh}
    extra = correction_entry(model.view_correction)
    return write_model(path, FORMAT, FORMAT_VERSION, model, parts, meta, extra)


def read_checkpoint(path: str | os.PathLike) -> dict:
    """Load and validate the raw payload (``weights_only=True``) without building a model."""
    return read_payload(path, FORMAT, FORMAT_VERSION,
                        ("category", "config", "feature_net", "neural_mesh"), "NeMo",
                        "train one with train-nemo or pose-train")  # fmt: skip


def load_checkpoint(
    path: str | os.PathLike,
    category: str | None = None,
    device: str | torch.device = "cpu",
) -> tuple[NemoModel, dict]:
    """Build the model stored at ``path``; returns ``(model in eval mode, meta)``.

    Args:
        path: checkpoint file written by :func:`save_checkpoint`.
        category: when given, the checkpoint must be of this category.
        device: where to put the model.

    Raises:
        CheckpointError: see the module docstring.
    """
    payload = read_checkpoint(path)

    def build(payload: dict) -> NemoModel:
        config = NemoConfig.from_dict(dict(payload["config"]))
        model = NemoModel(config)
        mesh = NeuralMesh.from_state_dict(payload["neural_mesh"])
        if mesh.dim != config.dim:
            raise CheckpointError(
                f"{path}: neural mesh features have {mesh.dim} channels but the "
                f"config says dim={config.dim}"
            )
        model.mesh = mesh
        model.view_correction = read_correction(path, payload)
        return model

    def weights(model: NemoModel) -> list:
        return [(model.feature_net, payload["feature_net"], "feature network weights")]

    return build_model(path, payload, category, device, build, weights)
