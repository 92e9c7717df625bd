"""input_qos: the reliability an input subscribes with, per mode and publishers' offers."""

from __future__ import annotations

import pytest

from ros_pose_estimation.node.input_qos import (
    BEST_EFFORT,
    INPUT_QOS,
    RELIABLE,
    incompatible,
    wanted_reliability,
)
from ros_pose_estimation.node.params import find


def test_auto_is_reliable_unless_a_publisher_offers_only_best_effort():
    assert wanted_reliability("auto", []) == RELIABLE  # no publisher yet: bag players, drivers
    assert wanted_reliability("auto", [RELIABLE, RELIABLE]) == RELIABLE
    assert wanted_reliability("auto", [RELIABLE, BEST_EFFORT]) == BEST_EFFORT


def test_fixed_modes_ignore_the_publishers():
    for offered in ([], [BEST_EFFORT], [RELIABLE]):
        assert wanted_reliability("reliable", offered) == RELIABLE
        assert wanted_reliability("sensor_data", offered) == BEST_EFFORT
        assert wanted_reliability("system_default", offered) is None  # the RMW decides
    with pytest.raises(ValueError, match="input_qos: expected one of auto"):
        wanted_reliability("best_effort", [])


def test_only_a_reliable_subscription_can_miss_publishers():
    assert incompatible(RELIABLE, [BEST_EFFORT, RELIABLE, BEST_EFFORT]) == 2
    assert incompatible(BEST_EFFORT, [BEST_EFFORT, RELIABLE]) == 0
    assert incompatible(None, [BEST_EFFORT]) == 0


def test_the_parameter_offers_exactly_the_modes_and_defaults_to_auto():
    param = find("input_qos")
    assert param.choices == INPUT_QOS and param.default == "auto"
    assert param.applies == "activate"  # the subscriptions are made from it


@pytest.mark.ros
def test_profiles():
    pytest.importorskip("rclpy", reason="rclpy not importable")
    from rclpy.qos import ReliabilityPolicy, qos_profile_system_default

    from ros_pose_estimation.node.input_qos import DEPTH, profile

    assert profile(RELIABLE).reliability == ReliabilityPolicy.RELIABLE
    assert profile(BEST_EFFORT).reliability == ReliabilityPolicy.BEST_EFFORT
    assert profile(RELIABLE).depth == DEPTH
    assert profile(None) == qos_profile_system_default
