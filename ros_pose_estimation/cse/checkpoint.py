"""One-file checkpoints of :class:`~ros_pose_estimation.cse.model.CseModel`.

Layout (plain dict of tensors, strings and numbers: ``torch.load(weights_only=True)`` reads it)::

    {
      "format": "ros_pose_estimation/cse",
      "format_version": 1,
      "category": "mug",
      "config": {...CseConfig fields...},
      "model": {state dict, incl. the template's "template" [V x 3], "faces" [F x 3]},
      "meta": {free-form training information},
      "view_correction": {...},  # optional: calibrate-cse's fit (core.view_correction)
    }

The template mesh travels inside the state dict, so a model trained on a user's template is
rebuilt with it. Loading is strict (format, version, category, every key and shape).
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
from ros_pose_estimation.core.mesh import TriMesh

from .model import CseConfig, CseModel

FORMAT = "ros_pose_estimation/cse"
FORMAT_VERSION = 1


def save_checkpoint(path: str | os.PathLike, model: CseModel, meta: dict | None = None) -> Path:
    """Write ``model`` to ``path`` atomically (temporary file renamed into place), with its
    ``view_correction`` when it has one."""
    return write_model(path, FORMAT, FORMAT_VERSION, model, {"model": model}, meta,
                       correction_entry(model.view_correction))  # fmt: skip


def read_checkpoint(path: str | os.PathLike) -> dict:
    """Load and validate the raw payload (``weights_only=True``) without building a model."""
    payload = read_payload(path, FORMAT, FORMAT_VERSION, ("category", "config", "model"), "CSE",
                           "train one with train-cse or pose-train --method cse")  # fmt: skip
    for key in ("template", "faces"):
        if not torch.is_tensor(payload["model"].get(key)):
            raise CheckpointError(f"{path}: the model state has no {key!r} tensor")
    return payload


def load_checkpoint(
    path: str | os.PathLike, category: str | None = None, device: str | torch.device = "cpu"
) -> tuple[CseModel, dict]:
    """Build the model stored at ``path``: ``(model in eval mode, meta)``.

    Args:
        category: when given, the checkpoint must be of this category.

    Raises:
        CheckpointError: see the module docstring.
    """
    payload = read_checkpoint(path)

    def build(payload: dict) -> CseModel:
        state = payload["model"]
        stored = dict(payload["config"])
        stored.setdefault("centre_embeddings", False)  # written before the field existed
        config = CseConfig.from_dict(stored)
        template = TriMesh(state["template"].double().numpy(), state["faces"].numpy())
        model = CseModel(config, template=template)
        model.view_correction = read_correction(path, payload)
        return model

    def weights(model: CseModel) -> list:
        return [(model, payload["model"], "weights")]

    return build_model(path, payload, category, device, build, weights)
