"""Reading a backbone's ImageNet weights from a local file, the same way for every backbone.

:func:`read_state` loads the file (``weights_only=True``, :func:`~ros_pose_estimation.core.
checkpoint_file.load_tensors`: pickled objects are refused as unsafe), :func:`check_keys`
compares it with the model's state dict key by key and shape by shape, and
:func:`mark_loaded` loads it strictly and records where the weights came from. Every message
ends with ``hint``: which file the backbone expects and where to get it. :func:`random_init` is the
initialisation without a file.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

import torch
from torch import nn

from ros_pose_estimation.core.checkpoint_file import load_tensors
from ros_pose_estimation.core.errors import CheckpointError

logger = logging.getLogger(__name__)


def random_init(model: nn.Module) -> None:
    """torchvision's initialisation: Kaiming-normal (fan-out) convolutions, batch norms with
    weight 1 and bias 0 (what a backbone starts from without weights)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def read_state(path: str, hint: str) -> object:
    """The object stored in ``path`` (CheckpointError naming ``hint`` when the file is missing,
    unreadable or unsafe)."""
    if not os.path.isfile(path):
        raise CheckpointError(f"backbone weights not found: {path}; {hint}")
    return load_tensors(path, f"backbone weights; {hint}")


def check_keys(
    own: Mapping[str, torch.Tensor],
    state: Mapping[str, torch.Tensor],
    path: str,
    arch: str,
    hint: str,
) -> None:
    """CheckpointError unless ``state`` has exactly ``own``'s keys with the same shapes (the
    message lists the first missing / unexpected keys and shape mismatches)."""
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        parts = []
        for label, keys in (("missing", missing), ("unexpected", unexpected)):
            if keys:
                parts.append(f"{len(keys)} {label} keys (first: {', '.join(keys[:5])})")
        for k in wrong[:5]:
            parts.append(f"{k}: {tuple(state[k].shape)} vs model {tuple(own[k].shape)}")
        raise CheckpointError(f"{path} does not fit {arch}: {'; '.join(parts)}; {hint}")


def mark_loaded(model: nn.Module, state: Mapping[str, torch.Tensor], path: str,
                strict: bool = True) -> None:
    """Load ``state`` into ``model`` and set its ``init_description`` (logged at INFO)."""
    model.load_state_dict(state, strict=strict)
    model.init_description = f"pretrained weights from {path}"
    logger.info("%s: loaded %s", model.arch, model.init_description)
