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
    }

Loading is strict: unknown formats, newer versions, another category than the one asked for,
and missing or unexpected weights raise :class:`CheckpointError` saying what was expected.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ros_pose_estimation.core.checkpoint_file import check_category, read_payload, write_model
from ros_pose_estimation.core.errors import CheckpointError, ConfigError
from ros_pose_estimation.nemo.model import NemoConfig, NemoModel
from ros_pose_estimation.nemo.neural_mesh import NeuralMesh

FORMAT = "ros_pose_estimation/nemo"
FORMAT_VERSION = 1


def save_checkpoint(path: str | os.PathLike, model: NemoModel, meta: dict | None = None) -> Path:
    """Write ``model`` to ``path`` atomically (a temporary file renamed into place)."""
    parts = {"feature_net": model.feature_net, "neural_mesh": model.mesh}
    return write_model(path, FORMAT, FORMAT_VERSION, model, parts, meta)


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
    """
    payload = read_checkpoint(path)
    check_category(path, payload, category)
    try:
        config = NemoConfig.from_dict(dict(payload["config"]))
        model = NemoModel(config)
        mesh = NeuralMesh.from_state_dict(payload["neural_mesh"])
    except (ConfigError, TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{path}: invalid model description: {exc}") from exc
    if mesh.dim != config.dim:
        raise CheckpointError(
            f"{path}: neural mesh features have {mesh.dim} channels but the "
            f"config says dim={config.dim}"
        )
    model.mesh = mesh
    try:
        result = model.feature_net.load_state_dict(payload["feature_net"], strict=False)
    except RuntimeError as exc:  # shape mismatches
        raise CheckpointError(f"{path}: feature network weights do not fit: {exc}") from exc
    if result.missing_keys or result.unexpected_keys:
        raise CheckpointError(
            f"{path}: feature network weights do not match its config "
            f"(missing {result.missing_keys[:5]}, unexpected {result.unexpected_keys[:5]})"
        )
    model.to(device).eval()
    return model, dict(payload.get("meta", {}))
