"""The exception hierarchy and the shape checks."""

import numpy as np
import pytest
import torch

from ros_pose_estimation.core.errors import (
    CheckpointError,
    ConfigError,
    DepthError,
    EncodingError,
    InputError,
    IntrinsicsError,
    PoseEstimationError,
    check_finite,
    check_shape,
)


def test_hierarchy():
    for err in (InputError, EncodingError, DepthError, IntrinsicsError):
        assert issubclass(err, InputError)
        assert issubclass(err, ValueError)
        assert issubclass(err, PoseEstimationError)
    assert issubclass(ConfigError, ValueError)
    assert issubclass(CheckpointError, PoseEstimationError)
    assert not issubclass(CheckpointError, ValueError)


def test_message_says_expected_and_actual():
    with pytest.raises(InputError) as info:
        check_shape("image", np.zeros((480, 640), np.float32), ("H", "W", 3), dtype=np.uint8)
    assert str(info.value) == "image: expected [H x W x 3] uint8, got (480, 640) float32"


def test_symbolic_dims_bind_and_must_agree():
    assert check_shape("x", np.zeros((4, 5, 3)), ("H", "W", 3)) == {"H": 4, "W": 5}
    with pytest.raises(InputError):
        check_shape("pair", np.zeros((4, 5)), ("N", "N"))
    assert check_shape("sq", np.zeros((4, 4)), ("N", "N")) == {"N": 4}


def test_ellipsis_accepts_batches_and_none_any_size():
    check_shape("R", np.zeros((2, 7, 3, 3)), ("...", 3, 3))
    check_shape("R", np.zeros((3, 3)), ("...", 3, 3))
    check_shape("p", np.zeros((9, 3)), (None, 3))
    with pytest.raises(InputError):
        check_shape("R", np.zeros((2, 3, 4)), ("...", 3, 3))
    with pytest.raises(InputError):
        check_shape("R", np.zeros((3,)), ("...", 3, 3))
    with pytest.raises(InputError):
        check_shape("p", [1, 2, 3], (None, 3))  # a list has no shape


def test_dtype_check_numpy_and_torch():
    check_shape("d", np.zeros((2, 2), np.uint16), (2, 2), dtype=(np.uint16, "float32"))
    check_shape("t", torch.zeros(2, 3), (2, 3), dtype=torch.float32)
    check_shape("t", torch.zeros(2, 3), (2, 3), dtype="float32")
    with pytest.raises(InputError, match="float64"):
        check_shape("t", torch.zeros(2, 3, dtype=torch.float64), (2, 3), dtype=torch.float32)


def test_check_finite():
    check_finite("ok", np.ones(3))
    with pytest.raises(InputError, match="NaN"):
        check_finite("bad", np.array([1.0, np.nan]))
