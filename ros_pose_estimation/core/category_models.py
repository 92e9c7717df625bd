"""Per-category model tables shared by the estimators (:mod:`..nemo.estimator`,
:mod:`..cse.estimator`): one model per category, keyed by the canonical category name.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence

import torch

from ros_pose_estimation.core.categories import get_category
from ros_pose_estimation.core.errors import ConfigError


def models_by_category(
    models: Mapping[str, torch.nn.Module], device: torch.device, owner: str
) -> dict[str, torch.nn.Module]:
    """``{canonical category: model}``, each model moved to ``device`` in eval mode.

    Raises:
        ConfigError: no model (``owner`` names the estimator in the message), or a key that
            names another category than its model's ``category``.
    """
    if not models:
        raise ConfigError(f"{owner} needs at least one category model")
    table = {}
    for name, model in models.items():
        key = get_category(name).name
        if key != model.category:
            raise ConfigError(f"model under key {name!r} is of category {model.category!r}")
        table[key] = model.to(device).eval()
    return table


def load_by_category(
    paths: Sequence[str | os.PathLike],
    load_checkpoint: Callable,
    device: str | torch.device,
) -> dict[str, torch.nn.Module]:
    """``{category: model}`` from one checkpoint per category (``load_checkpoint(path,
    device=...) -> (model, meta)``); two checkpoints of one category raise ConfigError."""
    models: dict[str, torch.nn.Module] = {}
    for path in paths:
        model, _ = load_checkpoint(path, device=device)
        if model.category in models:
            raise ConfigError(f"two checkpoints of category {model.category!r} ({path})")
        models[model.category] = model
    return models
