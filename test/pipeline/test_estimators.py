"""The model table: ModelSpec checks, checkpoint lookup (working directory, installed share
directory, source checkout) and load_estimators' errors, which say what to fix."""

from __future__ import annotations

import pytest

from ros_pose_estimation.core.errors import CheckpointError, ConfigError
from ros_pose_estimation.nemo.estimator import NemoEstimator
from ros_pose_estimation.pipeline.estimators import ModelSpec, load_estimators, resolve_path


def test_load_estimators_errors_say_what_to_fix(tmp_path):
    with pytest.raises(ConfigError, match="no category models"):
        load_estimators([])
    with pytest.raises(CheckpointError, match="no file at"):
        load_estimators([ModelSpec("mug", str(tmp_path / "missing.pt"))])
    with pytest.raises(ConfigError, match="method"):
        load_estimators([ModelSpec("mug", "x.pt", method="magic")])
    with pytest.raises(ConfigError, match="unknown category"):
        load_estimators([ModelSpec("teapot", "x.pt")])
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError):
        load_estimators([ModelSpec("mug", str(corrupt))])


def test_relative_paths_resolve_without_a_ros_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("AMENT_PREFIX_PATH", raising=False)  # ament_index raises OSError then
    monkeypatch.chdir(tmp_path)
    found = resolve_path("models/nemo/mug.pt")  # from the source checkout
    assert found is not None and found.endswith("models/nemo/mug.pt")
    assert resolve_path("models/nemo/no_such.pt") is None


def test_bundled_model_loads_and_wrong_category_is_refused():
    mug = resolve_path("models/nemo/mug.pt")
    assert mug is not None
    estimators = load_estimators([ModelSpec("mug", "models/nemo/mug.pt")])
    assert isinstance(estimators["mug"], NemoEstimator)  # the estimator itself, no wrapper
    assert estimators["mug"].categories == ["mug"] and estimators["mug"].name == "nemo"
    with pytest.raises(CheckpointError, match="holds a 'mug' model"):
        load_estimators([ModelSpec("bottle", mug)])
