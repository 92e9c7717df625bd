"""The core layer stays free of ROS (and its numpy modules free of torch)."""

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import ros_pose_estimation.core as core

CORE_MODULES = sorted(
    f"ros_pose_estimation.core.{m.name}" for m in pkgutil.iter_modules(core.__path__)
)
# modules that must not even import torch (they are used on the node's hot path and in tools)
NUMPY_ONLY = [
    "ros_pose_estimation.core.errors",
    "ros_pose_estimation.core.conventions",
    "ros_pose_estimation.core.camera",
    "ros_pose_estimation.core.crops",
    "ros_pose_estimation.core.estimation",
    "ros_pose_estimation.core.rotations",
    "ros_pose_estimation.core.iou3d",
    "ros_pose_estimation.core.metrics",
    "ros_pose_estimation.core.rotation_averaging",
    "ros_pose_estimation.core.point_averaging",
    "ros_pose_estimation.core.tf_buffer",
]
REPO = Path(__file__).resolve().parents[2]


def _imported_after(module: str) -> set[str]:
    code = f"import sys, {module}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    return set(out.stdout.split())


def test_core_modules_are_found():
    assert set(NUMPY_ONLY) <= set(CORE_MODULES)


@pytest.mark.parametrize("module", CORE_MODULES)
def test_core_module_does_not_import_rclpy(module):
    loaded = _imported_after(module)
    assert module in loaded
    assert not {m for m in loaded if m == "rclpy" or m.startswith("rclpy.")}


@pytest.mark.parametrize("module", NUMPY_ONLY)
def test_numpy_core_module_does_not_import_torch(module):
    assert "torch" not in _imported_after(module)
