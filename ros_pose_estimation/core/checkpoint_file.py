"""The one-file checkpoint envelope shared by every model of the project.

A checkpoint is a plain dict of tensors, strings and numbers (``torch.load(weights_only=True)``
reads it and nothing in it can execute code) with ``format`` (which model family),
``format_version``, ``category``, ``config`` and the family's weights. :func:`write_payload`
writes it atomically; :func:`read_payload` loads and checks the envelope, raising
:class:`CheckpointError` that says what was expected. The families (:mod:`..nemo.checkpoint`,
:mod:`..cse.checkpoint`) add their own keys and strict weight loading on top.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import torch

from ros_pose_estimation.core.errors import CheckpointError


def write_payload(path: str | os.PathLike, payload: dict) -> Path:
    """Save ``payload`` to ``path`` atomically (a temporary file renamed into place)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def read_payload(
    path: str | os.PathLike,
    fmt: str,
    version: int,
    required: Iterable[str],
    kind: str,
    train_hint: str,
) -> dict:
    """Load ``path`` with ``weights_only=True`` and check its envelope.

    Args:
        fmt: expected ``format``; version: newest ``format_version`` this code reads;
        required: keys the payload must have; kind: the family's name for messages ("NeMo");
        train_hint: how to make a checkpoint, for the missing-file message.

    Raises:
        CheckpointError: missing or unreadable file, another format, a newer version, or
            missing keys.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist ({train_hint} or set the model "
                              "path to an existing .pt file)")  # fmt: skip
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt/foreign files
        raise CheckpointError(f"{path} is not a readable torch checkpoint: {exc}") from exc
    if not isinstance(payload, dict) or payload.get("format") != fmt:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"{path} is not a {kind} checkpoint of this project (expected "
                              f"format {fmt!r}, found {found!r})")  # fmt: skip
    found_version = payload.get("format_version")
    if not isinstance(found_version, int) or found_version > version:
        raise CheckpointError(f"{path} has format_version {found_version!r}; this version of "
                              f"ros_pose_estimation reads versions <= {version}")  # fmt: skip
    missing = set(required) - set(payload)
    if missing:
        raise CheckpointError(f"{path} lacks {sorted(missing)}")
    return payload
