"""The one-file checkpoint envelope shared by every model of the project.

A checkpoint is a plain dict of tensors, strings and numbers (``torch.load(weights_only=True)``
reads it and nothing in it can execute code) with ``format`` (which model family),
``format_version``, ``category``, ``config``, the family's weights and ``meta``.
:func:`write_model` builds it from a model and writes it atomically (:func:`write_payload`);
:func:`read_payload` loads and checks the envelope and :func:`check_category` the category,
raising :class:`CheckpointError` that says what was expected. The families
(:mod:`..nemo.checkpoint`, :mod:`..cse.checkpoint`) choose their weight keys and load the weights
strictly on top.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch

from ros_pose_estimation.core.errors import CheckpointError
from ros_pose_estimation.core.view_correction import ViewCorrection

#: What a refused pickle payload means, for every loader's message.
UNSAFE_FILE = (
    "is not a safe checkpoint: it holds pickled Python objects besides tensors, which could run "
    "code when loaded, so this project refuses it. Use a checkpoint written by this project's "
    "tools, or re-save the weights from a source you trust as a plain state dict of tensors"
)


def load_tensors(path: str | os.PathLike, what: str) -> object:
    """``torch.load(path, weights_only=True)`` on the CPU with the project's messages.

    Args:
        what: what the file should be, for the message (e.g. "a NeMo checkpoint").

    Raises:
        CheckpointError: a file with pickled Python objects (refused by the weights-only
            unpickler: :data:`UNSAFE_FILE`, never a suggestion to disable the check), or a
            corrupt / foreign file (torch's reason, shortened to its first line).
    """
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt/foreign files
        text = str(exc)
        match = re.search(r"Unsupported global: GLOBAL (\S+)", text)
        if match:  # a pickled Python object: refused, whatever torch suggests
            raise CheckpointError(
                f"{path} {UNSAFE_FILE} (found {match.group(1)}; expected {what})"
            ) from None
        match = re.search(r"WeightsUnpickler error:\s*([^\n]+)", text)
        if match:  # bytes that are no pickle stream at all
            reason = f"not a torch file ({match.group(1).strip()})"
        else:
            reason = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
        raise CheckpointError(f"{path} is not a readable torch file (expected {what}): "
                              f"{reason}") from None  # fmt: skip


def write_payload(path: str | os.PathLike, payload: dict) -> Path:
    """Save ``payload`` to ``path`` atomically (a temporary file renamed into place).

    Raises:
        OSError: ``path`` cannot be written (a directory, a folder without write permission,
            a full disk...); the message names the path, and no temporary file is left.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"cannot write {path}: it is a directory (name a .pt file)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise NotADirectoryError(f"cannot write {path}: {path.parent} or a folder above it is "
                                 "a file") from None  # fmt: skip
    except OSError as exc:
        raise OSError(f"cannot write {path}: cannot make its folder ({exc.strerror or exc})"
                      ) from None  # fmt: skip
    if not os.access(path.parent, os.W_OK):
        raise PermissionError(f"cannot write {path}: its folder {path.parent} is not writable")
    tmp = path.with_name(path.name + ".tmp")
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    except (OSError, RuntimeError) as exc:  # torch's writer reports OS errors as RuntimeError
        tmp.unlink(missing_ok=True)
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        reason = reason.split("strerror:")[-1].strip()  # torch's: "[enforce fail ...] strerror: X"
        raise OSError(f"cannot write {path}: {reason}") from None
    return path


def cpu_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """``module``'s state dict, detached and on the CPU (what a checkpoint stores)."""
    return {k: v.detach().cpu() for k, v in module.state_dict().items()}


def write_model(
    path: str | os.PathLike,
    fmt: str,
    version: int,
    model: torch.nn.Module,
    parts: Mapping[str, torch.nn.Module],
    meta: dict | None = None,
    extra: Mapping[str, object] | None = None,
) -> Path:
    """Write ``model``'s checkpoint to ``path`` atomically.

    The payload: ``format`` = ``fmt``, ``format_version`` = ``version``, the model's
    ``category`` and ``config.to_dict()``, the :func:`cpu_state` of each module of ``parts``
    under its key (e.g. ``{"model": model}``), ``meta`` (free-form, JSON-like), and the
    optional entries of ``extra`` (tensors, strings, numbers, containers of them) under theirs.
    """
    payload = {
        "format": fmt,
        "format_version": version,
        "category": model.category,
        "config": model.config.to_dict(),
        **{key: cpu_state(module) for key, module in parts.items()},
        "meta": dict(meta or {}),
        **dict(extra or {}),
    }
    return write_payload(path, payload)


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
    payload = load_tensors(path, f"a {kind} checkpoint of this project")
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


def check_category(path: str | os.PathLike, payload: dict, category: str | None) -> None:
    """CheckpointError when ``category`` is given and the checkpoint is of another one."""
    if category is not None and payload["category"] != category:
        raise CheckpointError(
            f"{path} is a model of category {payload['category']!r}, but category "
            f"{category!r} was asked for"
        )


def correction_entry(correction: ViewCorrection | None) -> dict:
    """The checkpoint entry of a model's :class:`ViewCorrection`: ``{"view_correction": {...}}``
    with its arrays as float32 tensors; ``{}`` without one (for ``write_model``'s ``extra``)."""
    if correction is None:
        return {}
    state = correction.state()
    return {"view_correction": {
        key: torch.as_tensor(value, dtype=torch.float32) if hasattr(value, "shape") else value
        for key, value in state.items()
    }}  # fmt: skip


def read_correction(path: str | os.PathLike, payload: dict) -> ViewCorrection | None:
    """The payload's ``view_correction`` (None when it has none).

    Raises:
        CheckpointError: malformed, or fitted for another category than the payload's.
    """
    entry = payload.get("view_correction")
    if entry is None:
        return None
    if not isinstance(entry, Mapping):
        raise CheckpointError(f"{path}: view_correction is not a dict")
    state = {key: value.double().numpy() if isinstance(value, torch.Tensor) else value
             for key, value in entry.items()}  # fmt: skip
    correction = ViewCorrection.from_state(state, str(path))
    if correction.category != payload["category"]:
        raise CheckpointError(f"{path}: view_correction is for {correction.category!r}, the "
                              f"model for {payload['category']!r}")  # fmt: skip
    return correction
