"""TrackFilterConfig: every value checked alone and against the others; the filter refuses an
invalid config."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from ros_pose_estimation.core.errors import ConfigError
from ros_pose_estimation.pipeline.track_config import TrackFilterConfig
from ros_pose_estimation.pipeline.tracking import TrackFilter


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"gate_distance_m": 0.0}, "gate_distance_m"),
        ({"max_translation_jump_m": 0.5}, "max_translation_jump_m.*gate"),
        ({"max_rotation_jump_deg": -1.0}, "max_rotation_jump_deg"),
        ({"translation_weight": 0.0}, "translation_weight.*freeze"),
        ({"rotation_weight": 1.5}, "rotation_weight"),
        ({"patience": 0}, "patience.*integer >= 1"),
        ({"patience": 2.5}, "patience"),
        ({"max_age_s": math.inf}, "max_age_s"),
        ({"min_score": 2.0}, r"min_score.*\[0, 1\]"),
        ({"covariance_min_samples": 10, "covariance_window": 5}, "covariance_window"),
        ({"gate_distance_m": float("nan")}, "NaN"),
        ({"translation_weight": "0.5"}, "a number"),
    ],
)
def test_config_validation(changes, match):
    cfg = replace(TrackFilterConfig(), **changes)
    with pytest.raises(ConfigError, match=match):
        cfg.validate()
    with pytest.raises(ConfigError):
        TrackFilter(cfg)


def test_disabled_thresholds_are_valid():
    cfg = TrackFilterConfig(max_translation_jump_m=math.inf, max_rotation_jump_deg=math.inf)
    assert cfg.validate() is cfg
