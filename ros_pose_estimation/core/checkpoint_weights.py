"""Building a category model from a checkpoint payload, strictly: the step every model
family's ``load_checkpoint`` shares (:mod:`..nemo.checkpoint`, :mod:`..cse.checkpoint`).

The envelope (format, version, required keys, category) is read and checked by
:mod:`ros_pose_estimation.core.checkpoint_file`; :func:`build_model` then rebuilds the model from
the stored settings and loads every stored state dict into its module, refusing a missing,
unexpected or misshapen weight with a :class:`CheckpointError` that says which.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

import torch

from ros_pose_estimation.core.checkpoint_file import check_category
from ros_pose_estimation.core.errors import CheckpointError, ConfigError

__all__ = ["build_model", "load_weights"]


def load_weights(
    path: str | os.PathLike, module: torch.nn.Module, state: dict, what: str = "weights"
) -> None:
    """``module.load_state_dict(state)`` with every key and shape required.

    Raises:
        CheckpointError: naming ``path`` and ``what`` (e.g. "feature network weights"):
            shapes that do not fit, or missing / unexpected keys (the first five of each).
    """
    try:
        result = module.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatches
        raise CheckpointError(f"{path}: {what} do not fit the config: {exc}") from exc
    if result.missing_keys or result.unexpected_keys:
        raise CheckpointError(
            f"{path}: {what} do not match the config (missing {result.missing_keys[:5]}, "
            f"unexpected {result.unexpected_keys[:5]})"
        )


def build_model(
    path: str | os.PathLike,
    payload: dict,
    category: str | None,
    device: str | torch.device,
    build: Callable[[dict], torch.nn.Module],
    weights: Callable[[torch.nn.Module], Iterable[tuple[torch.nn.Module, dict, str]]],
) -> tuple[torch.nn.Module, dict]:
    """``(model in eval mode on device, meta)`` from a checked checkpoint ``payload``.

    Args:
        path: the checkpoint file (for messages).
        payload: its content (:func:`~ros_pose_estimation.core.checkpoint_file.read_payload`).
        category: when given, the checkpoint must be of this category.
        build: ``payload -> model`` with fresh weights (from ``payload["config"]``); may raise
            ConfigError, TypeError, ValueError or KeyError for an invalid description, or
            CheckpointError itself.
        weights: ``model -> [(module, state dict, what), ...]``: the stored states and the
            modules they load into (:func:`load_weights`).

    Raises:
        CheckpointError: another category, an invalid model description, weights that do not
            fit.
    """
    check_category(path, payload, category)
    try:
        model = build(payload)
    except (ConfigError, TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{path}: invalid model description: {exc}") from exc
    for module, state, what in weights(model):
        load_weights(path, module, state, what)
    model.to(device).eval()
    return model, dict(payload.get("meta", {}))
