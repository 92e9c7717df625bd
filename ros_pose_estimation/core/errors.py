"""The project's exception types and the shape checks that raise them.

Every error the core raises on purpose is a :class:`PoseEstimationError`, so a ROS node can catch
exactly those, log a throttled warning and drop the frame (a bad frame never stops the node),
while programming errors (``TypeError``, ``AttributeError``...) still surface.

Hierarchy::

    PoseEstimationError(Exception)
    +-- InputError(ValueError)            bad input data: shape, dtype, encoding, empty crop...
    |   +-- EncodingError                 unsupported image / depth encoding
    |   +-- MeshFormatError               malformed, truncated or unsupported mesh file
    |   +-- DepthError                    depth missing, all invalid, wrong units
    |   +-- IntrinsicsError               uncalibrated or inconsistent CameraInfo
    +-- ConfigError(ValueError)           invalid parameter or configuration value
    +-- CheckpointError                   missing, corrupt or incompatible checkpoint
    +-- EstimationError                   no pose could be estimated (too few correspondences...)

``InputError`` and ``ConfigError`` also derive from ``ValueError`` so generic callers that expect
``ValueError`` for bad values keep working. Bags that cannot be read or used raise ``BagError``
(an ``InputError``; :mod:`ros_pose_estimation.tools.bag_errors`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


class PoseEstimationError(Exception):
    """Base class of every error the project raises on purpose."""


class InputError(PoseEstimationError, ValueError):
    """An input (array, message field, box, image) is not what the function accepts."""


class EncodingError(InputError):
    """An image or depth encoding is not supported."""


class MeshFormatError(InputError):
    """A mesh file is malformed, truncated, empty or of an unsupported format (a ValueError)."""


class DepthError(InputError):
    """Depth is missing, entirely invalid, or not in the expected units."""


class IntrinsicsError(InputError):
    """Camera intrinsics are missing (uncalibrated camera) or inconsistent with the image."""


class ConfigError(PoseEstimationError, ValueError):
    """A configuration or parameter value is invalid."""


class CheckpointError(PoseEstimationError):
    """A checkpoint is missing, corrupt, or does not match the model it is loaded into."""


class EstimationError(PoseEstimationError):
    """The estimator could not produce a pose for this input (not a bug, a hard frame)."""


#: A dimension in an expected shape: an exact size, a symbolic name bound on first use
#: (``"H"``; the same name must have the same size everywhere), or ``None`` for any size.
Dim = int | str | None


def _dtype_name(dtype: Any) -> str:
    """``'float32'`` for numpy dtypes and torch dtypes alike."""
    return str(dtype).removeprefix("torch.")


def _format_expected(expected: Sequence[Dim], dtype: Any) -> str:
    dims = " x ".join("?" if d is None else str(d) for d in expected)
    text = f"[{dims}]"
    if dtype is not None:
        names = dtype if isinstance(dtype, (tuple, list)) else (dtype,)
        text += " " + " or ".join(_dtype_name(_normalise_dtype(d)) for d in names)
    return text


def _normalise_dtype(dtype: Any) -> Any:
    if isinstance(dtype, (str, type)):
        return np.dtype(dtype)
    return dtype


def check_shape(
    name: str,
    array: Any,
    expected: Sequence[Dim],
    dtype: Any = None,
) -> dict[str, int]:
    """Check the shape (and optionally the dtype) of a numpy array or torch tensor.

    Args:
        name: what the array is, used in the message (``"image"``, ``"depth"``).
        array: anything with ``.shape`` (and ``.dtype`` when ``dtype`` is given).
        expected: one entry per dimension: an int (exact size), a str (symbolic size, bound on
            first use, e.g. ``("H", "W", 3)``), or None (any size). A leading ``"..."`` accepts
            any number of leading (batch) dimensions, e.g. ``("...", 3, 3)``.
        dtype: a dtype (numpy dtype, ``"uint8"``, ``np.float32``, ``torch.float32``) or a tuple of
            accepted dtypes; None skips the check.

    Returns:
        The sizes bound to the symbolic names, e.g. ``{"H": 480, "W": 640}``.

    Raises:
        InputError: ``"image: expected [H x W x 3] uint8, got (480, 640) float32"``.
    """
    shape = getattr(array, "shape", None)
    actual_dtype = getattr(array, "dtype", None)

    def fail() -> InputError:
        got = "no shape" if shape is None else str(tuple(shape))
        if actual_dtype is not None:
            got += f" {_dtype_name(actual_dtype)}"
        return InputError(f"{name}: expected {_format_expected(expected, dtype)}, got {got}")

    if shape is None:
        raise fail()
    shape = tuple(int(s) for s in shape)
    dims = list(expected)
    if dims and dims[0] == "...":
        dims = dims[1:]
        if len(shape) < len(dims):
            raise fail()
        shape = shape[len(shape) - len(dims) :]
    elif len(shape) != len(dims):
        raise fail()
    bound: dict[str, int] = {}
    for size, want in zip(shape, dims, strict=True):
        if want is None:
            continue
        if isinstance(want, str):
            if bound.setdefault(want, size) != size:
                raise fail()
        elif size != want:
            raise fail()
    if dtype is not None:
        accepted = dtype if isinstance(dtype, (tuple, list)) else (dtype,)
        names = {_dtype_name(_normalise_dtype(d)) for d in accepted}
        if actual_dtype is None or _dtype_name(actual_dtype) not in names:
            raise fail()
    return bound


def check_finite(name: str, array: Any) -> None:
    """Raise :class:`InputError` if a numpy array holds NaN or infinite values."""
    values = np.asarray(array)
    if values.dtype.kind in "fc" and not np.all(np.isfinite(values)):
        raise InputError(f"{name}: expected finite values, got NaN or inf")


def dataclass_from_dict(cls: type, data: dict) -> Any:
    """``cls(**data)`` for a dataclass ``cls``; keys that are not its fields raise
    :class:`ConfigError` naming them and the known ones (stored configs, checkpoints)."""
    from dataclasses import fields

    names = {f.name for f in fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ConfigError(
            f"unknown {cls.__name__} fields {sorted(unknown)}; known: {sorted(names)}"
        )
    return cls(**data)
